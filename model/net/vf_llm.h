/* VfLlm: the Qwen2 language model of Qwen2-VL as Vulkan graphs, with its KV cache.
 *
 *   prefill: new tokens in chunks of up to `chunk` rows, appended to the cache
 *   decode:  one token, replaying a command list recorded once; between steps
 *            the host rewrites only the token id, its 3 positions and the cache length
 *
 * Per layer (spec §8.1), x: f32 [rows, H] residual stream:
 *   xn  = RMSNorm(x)                      qkv = xn · Wqkvᵀ + b    [rows, H + 2K]
 *   q,k ← M-RoPE (3 position streams)     cache ← k, v
 *   a   = attention(q, cache) (causal, GQA)
 *   x  += a · Woᵀ
 *   xn  = RMSNorm(x)                      gu  = xn · Wgate_upᵀ     [rows, 2I]
 *   x  += (silu(gu[:, :I]) · gu[:, I:]) · Wdownᵀ
 * then RMSNorm and lm_head on the last row.
 */
#pragma once

#include <gio/gio.h>
#include <glib.h>
#include <stdint.h>

#include "vf_config.h"
#include "vf_weights.h"

typedef struct VfLlm VfLlm;

typedef struct {
  uint32_t context;       /* KV-cache capacity in tokens; 0: as much as the memory budget allows, ≤ 32768 */
  uint32_t chunk;         /* prefill rows per pass; 0: default */
  uint32_t sequences;     /* independent conversations, each with a KV cache of `context` tokens; 0: 1 */
} VfLlmOptions;

/* Rows [row, row + rows) of the input take their embeddings from `embeds` (device, f32 [rows, H])
 * instead of the token table: the vision tower's output for an image or video. */
typedef struct {
  uint32_t row;
  uint32_t rows;
  VfBuffer embeds;
} VfLlmSplice;

typedef struct {
  const int32_t *ids;       /* [n] token ids */
  const int32_t *positions; /* [3, n] M-RoPE positions (t, h, w), stream-major */
  uint32_t n;
  const VfLlmSplice *splices;
  uint32_t nsplices;
  uint32_t key_begin;       /* cache tokens before this index are masked (left padding); usually 0 */
  VfProgressFunc progress;  /* optional: rows done / n after each chunk */
  void *progress_user;
  GCancellable *cancellable; /* optional: checked between chunks (G_IO_ERROR_CANCELLED) */
} VfLlmInput;

/* Host copies of intermediate tensors for checking against references; any pointer may be NULL.
 * Each array is [n, H] for the n rows of the prefill. */
typedef struct {
  float *inputs_embeds;
  float *layer0_out;
  float *final_norm_out;
} VfLlmTrace;

VfLlm *vf_llm_create(VfDevice *dev, const VfConfig *config, const VfWeights *weights, const VfLlmOptions *options,
                     GError **error);
void vf_llm_free(VfLlm *llm);

uint32_t vf_llm_context(const VfLlm *llm);   /* KV capacity of each sequence, tokens */
uint32_t vf_llm_sequences(const VfLlm *llm); /* sequences the LLM was created with (VfLlmOptions.sequences) */
uint64_t vf_llm_cache_bytes(const VfLlm *llm);

/* One conversation's KV cache: a slot among the LLM's `sequences`, empty when taken. Prefill, decode, length
 * and truncate act on the sequence they are given; the others are untouched. */
typedef struct VfLlmSequence VfLlmSequence;

/* Takes a free slot (a clear error when all `sequences` are in use). */
VfLlmSequence *vf_llm_sequence_new(VfLlm *llm, GError **error);
/* Gives the slot back; the LLM must still be alive. */
void vf_llm_sequence_free(VfLlmSequence *seq);
uint32_t vf_llm_sequence_length(const VfLlmSequence *seq); /* tokens in the cache */
/* Forgets cache tokens from `length` on (e.g. to re-prefill after a mismatch). */
void vf_llm_sequence_truncate(VfLlmSequence *seq, uint32_t length);

/* Appends `input` to the cache of `seq`. logits: NULL or [vocab] f32 of the last row. */
gboolean vf_llm_prefill(VfLlm *llm, VfLlmSequence *seq, const VfLlmInput *input, float *logits,
                        const VfLlmTrace *trace, GError **error);

/* Appends one token to `seq` at M-RoPE position `position` (same on all 3 streams). Fills logits [vocab] when
 * non-NULL, and *argmax (the lowest index of the largest logit, computed on the device) when non-NULL. */
gboolean vf_llm_decode(VfLlm *llm, VfLlmSequence *seq, int32_t id, int32_t position, float *logits,
                       int32_t *argmax, GError **error);

/* One step of `n` distinct sequences at once, any subset of the live ones: the weights are read once for
 * all of them (continuous batching, batch OCR). Row r is seqs[r]: ids, positions [n]; logits NULL or
 * [n, vocab]; argmax NULL or [n]. Sequences not listed are untouched (their caches do not grow). */
gboolean vf_llm_decode_batch(VfLlm *llm, VfLlmSequence *const *seqs, uint32_t n, const int32_t *ids,
                             const int32_t *positions, float *logits, int32_t *argmax, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfLlmSequence, vf_llm_sequence_free)
