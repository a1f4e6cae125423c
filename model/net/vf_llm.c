/* The Qwen2 language model as Vulkan graphs: chunked prefill and a replayed decode step. */
#define G_LOG_DOMAIN "vf-llm"

#include "vf_llm.h"

#include <string.h>

#include "vf_rope.h"

#define DEFAULT_CHUNK 512u
#define MAX_CONTEXT 32768u
#define RECORDED_STEPS 4u

/* A slot of the LLM: its buffers live as long as the LLM, whichever conversation holds the slot. */
struct VfLlmSequence {
  VfLlm *llm;
  gboolean in_use;
  VfKvCache *cache;   /* [layers] */
  VfBuffer seq;       /* host uint32 [1]: tokens already in this cache, read by the shaders */
  VfBuffer best;      /* host uint32 [1]: argmax of this sequence's logits */
  uint32_t length;    /* tokens in the cache */
  uint32_t key_begin; /* the masked prefix (left padding), from the sequence's prefill */
};

/* A decode step over one list of sequences, recorded once and replayed. */
typedef struct {
  VfCmd *cmd;
  uint32_t n;
  VfLlmSequence **seqs; /* [n] */
  uint32_t *key_begin;  /* [n]: each sequence's masked prefix when recorded */
  uint64_t used;        /* the step counter when last replayed */
} RecordedStep;

struct VfLlm {
  VfDevice *dev;
  const VfConfig *cfg;
  const VfWeights *w;
  uint32_t context, chunk, length;
  uint32_t qkv_width; /* H + 2K */

  /* Scratch, reused by every pass (f32, row-major): */
  VfBuffer x;      /* [chunk, H]   residual stream */
  VfBuffer xn;     /* [chunk, H]   normalised */
  VfBuffer qkv;    /* [chunk, H + 2K] */
  VfBuffer attn;   /* [chunk, H] */
  VfBuffer gu;     /* [chunk, 2I]  gate | up */
  VfBuffer act;    /* [chunk, I] */
  VfBuffer logits; /* [sequences, vocab] */
  VfBuffer trace_embeds, trace_layer0; /* [chunk, H], only while tracing */

  /* Host-visible parameters, rewritten before each submit: */
  VfBuffer ids;       /* int32 [max(chunk, sequences)] */
  VfBuffer positions; /* int32 [3, rows] stream-major for the current pass */
  VfBuffer argmax_scratch; /* partial results of the device argmax */

  /* M-RoPE tables, f32 [context, head_dim / 2] */
  VfBuffer rope_cos, rope_sin;

  VfLlmSequence *seqs; /* [n_seqs]: the slots, each with its own KV cache */
  uint32_t n_seqs;
  VfDType kv_dtype; /* of every cache: f32 unless VF_KV=f16 */
  uint64_t cache_bytes;

  /* The most recently used decode steps (see recorded_step). */
  RecordedStep recorded[RECORDED_STEPS];
  uint64_t steps;
};

static gboolean
alloc(VfLlm *llm, VfMemoryKind kind, uint64_t bytes, VfBuffer *out, GError **error)
{
  return vf_buffer_alloc(llm->dev, kind, bytes, out, error);
}

static uint32_t
choose_context(VfLlm *llm, const VfLlmOptions *options, uint64_t scratch_bytes)
{
  const VfConfig *c = llm->cfg;
  uint64_t per_token = 2ull * c->layers * c->kv_heads * c->head_dim * vf_dtype_size(llm->kv_dtype) /* K and V */
                       + 2ull * (c->head_dim / 2) * sizeof(float);             /* rope tables */
  uint32_t limit = MIN(MAX_CONTEXT, c->max_positions ? c->max_positions : MAX_CONTEXT);
  if (options && options->context)
    return MIN(options->context, limit);
  const VfDeviceInfo *info = vf_device_get_info(llm->dev);
  uint64_t used = llm->w->device_bytes + scratch_bytes;
  uint64_t free_bytes = info->memory_budget > used ? (info->memory_budget - used) * 9 / 10 : 0;
  uint64_t fit = free_bytes / per_token / llm->n_seqs;
  /* Below 2048 tokens the model is of little use; let the allocation itself say if even that fails. */
  return (uint32_t)MAX(MIN(fit, (uint64_t)limit), MIN(2048u, limit));
}

VfLlm *
vf_llm_create(VfDevice *dev, const VfConfig *config, const VfWeights *weights, const VfLlmOptions *options,
              GError **error)
{
  VfLlm *llm = g_new0(VfLlm, 1);
  llm->dev = dev;
  llm->cfg = config;
  llm->w = weights;
  const VfConfig *c = config;
  uint32_t H = c->hidden, K = c->kv_heads * c->head_dim, I = c->intermediate;
  llm->qkv_width = H + 2 * K;
  llm->chunk = options && options->chunk ? options->chunk : DEFAULT_CHUNK;
  llm->n_seqs = options && options->sequences ? options->sequences : 1;
  llm->seqs = g_new0(VfLlmSequence, llm->n_seqs);

  if (!vf_ops_kv_dtype(&llm->kv_dtype, error))
    goto fail;
  uint64_t C = llm->chunk;
  uint64_t scratch = C * 4 * (3ull * H + llm->qkv_width + 3ull * I) + (uint64_t)c->vocab * 4;
  llm->context = choose_context(llm, options, scratch);

  if (!alloc(llm, VF_MEMORY_DEVICE, C * H * 4, &llm->x, error) ||
      !alloc(llm, VF_MEMORY_DEVICE, C * H * 4, &llm->xn, error) ||
      !alloc(llm, VF_MEMORY_DEVICE, C * llm->qkv_width * 4, &llm->qkv, error) ||
      !alloc(llm, VF_MEMORY_DEVICE, C * H * 4, &llm->attn, error) ||
      !alloc(llm, VF_MEMORY_DEVICE, C * 2 * I * 4, &llm->gu, error) ||
      !alloc(llm, VF_MEMORY_DEVICE, C * I * 4, &llm->act, error) ||
      !alloc(llm, VF_MEMORY_DEVICE, (uint64_t)llm->n_seqs * c->vocab * 4, &llm->logits, error) ||
      !alloc(llm, VF_MEMORY_HOST, MAX(C, llm->n_seqs) * 4, &llm->ids, error) ||
      !alloc(llm, VF_MEMORY_HOST, 3 * MAX(C, llm->n_seqs) * 4, &llm->positions, error) ||
      !alloc(llm, VF_MEMORY_DEVICE, vf_op_argmax_scratch_size(c->vocab), &llm->argmax_scratch, error))
    goto fail;

  /* Rotary tables for every position the cache can hold. */
  {
    g_autoptr(VfRopeTables) t = vf_rope_tables_llm(c->rope_theta, c->head_dim, llm->context, error);
    uint64_t bytes = (uint64_t)llm->context * (c->head_dim / 2) * 4;
    if (!t || !alloc(llm, VF_MEMORY_DEVICE, bytes, &llm->rope_cos, error) ||
        !alloc(llm, VF_MEMORY_DEVICE, bytes, &llm->rope_sin, error) ||
        !vf_buffer_upload(dev, &llm->rope_cos, 0, t->cos, bytes, error) ||
        !vf_buffer_upload(dev, &llm->rope_sin, 0, t->sin, bytes, error))
      goto fail;
  }

  for (uint32_t sq = 0; sq < llm->n_seqs; sq++) {
    VfLlmSequence *q = &llm->seqs[sq];
    q->llm = llm;
    q->cache = g_new0(VfKvCache, c->layers);
    if (!alloc(llm, VF_MEMORY_HOST, 4, &q->seq, error) || !alloc(llm, VF_MEMORY_HOST, 4, &q->best, error))
      goto fail;
    for (uint32_t l = 0; l < c->layers; l++) {
      VfKvCache *kv = &q->cache[l];
      kv->kv_heads = c->kv_heads;
      kv->head_dim = c->head_dim;
      kv->capacity = llm->context;
      kv->dtype = llm->kv_dtype;
      uint64_t bytes = vf_kv_cache_bytes(kv);
      if (!alloc(llm, VF_MEMORY_DEVICE, bytes, &kv->k, error) || !alloc(llm, VF_MEMORY_DEVICE, bytes, &kv->v, error))
        goto fail;
      llm->cache_bytes += 2 * bytes;
    }
  }
  return llm;

fail:
  vf_llm_free(llm);
  return NULL;
}

static void forget_step(RecordedStep *r);

void
vf_llm_free(VfLlm *llm)
{
  if (!llm)
    return;
  for (uint32_t i = 0; i < RECORDED_STEPS; i++)
    forget_step(&llm->recorded[i]);
  VfBuffer *bufs[] = {&llm->x, &llm->xn, &llm->qkv, &llm->attn, &llm->gu, &llm->act, &llm->logits,
                      &llm->trace_embeds, &llm->trace_layer0, &llm->ids, &llm->positions,
                      &llm->argmax_scratch, &llm->rope_cos, &llm->rope_sin};
  for (size_t i = 0; i < G_N_ELEMENTS(bufs); i++)
    if (bufs[i]->buffer)
      vf_buffer_release(llm->dev, bufs[i]);
  for (uint32_t sq = 0; llm->seqs && sq < llm->n_seqs; sq++) {
    VfLlmSequence *q = &llm->seqs[sq];
    g_warn_if_fail(!q->in_use); /* a conversation outlived its model */
    if (q->seq.buffer)
      vf_buffer_release(llm->dev, &q->seq);
    if (q->best.buffer)
      vf_buffer_release(llm->dev, &q->best);
    for (uint32_t l = 0; q->cache && l < llm->cfg->layers; l++) {
      if (q->cache[l].k.buffer)
        vf_buffer_release(llm->dev, &q->cache[l].k);
      if (q->cache[l].v.buffer)
        vf_buffer_release(llm->dev, &q->cache[l].v);
    }
    g_free(q->cache);
  }
  g_free(llm->seqs);
  g_free(llm);
}

uint32_t vf_llm_context(const VfLlm *llm) { return llm->context; }
uint32_t vf_llm_sequences(const VfLlm *llm) { return llm->n_seqs; }
uint64_t vf_llm_cache_bytes(const VfLlm *llm) { return llm->cache_bytes; }

VfLlmSequence *
vf_llm_sequence_new(VfLlm *llm, GError **error)
{
  for (uint32_t i = 0; i < llm->n_seqs; i++) {
    VfLlmSequence *q = &llm->seqs[i];
    if (!q->in_use) {
      q->in_use = TRUE;
      q->length = q->key_begin = 0;
      return q;
    }
  }
  g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_UNSUPPORTED,
              "all %u sequences of the model are in use (it was loaded for %u conversations at once)", llm->n_seqs,
              llm->n_seqs);
  return NULL;
}

void
vf_llm_sequence_free(VfLlmSequence *seq)
{
  if (!seq)
    return;
  g_return_if_fail(seq->in_use);
  seq->in_use = FALSE;
}

uint32_t vf_llm_sequence_length(const VfLlmSequence *seq) { return seq->length; }

void
vf_llm_sequence_truncate(VfLlmSequence *seq, uint32_t length)
{
  if (length < seq->length)
    seq->length = length;
}

static VfBuffer
rows_of(const VfBuffer *b, uint64_t row_bytes, uint64_t first, uint64_t count)
{
  return vf_buffer_slice(b, first * row_bytes, count * row_bytes);
}

/* Records the decoder layers for `rows` tokens whose ids, positions and cache offsets are in the parameter
 * buffers, starting from the embeddings already in x. The rows belong to one sequence (`seqs` holds one) or,
 * for a step of several sequences, row r to seqs[r] (`nseqs` == rows): everything but the cache work is
 * shared by all rows. */
static void
record_layers(VfLlm *llm, VfCmd *cmd, uint32_t rows, VfLlmSequence *const *seqs, uint32_t nseqs,
              const VfBuffer *trace_layer0)
{
  const VfConfig *c = llm->cfg;
  const VfWeights *w = llm->w;
  uint32_t H = c->hidden, K = c->kv_heads * c->head_dim, I = c->intermediate;
  VfBuffer x = rows_of(&llm->x, H * 4, 0, rows);
  VfBuffer xn = rows_of(&llm->xn, H * 4, 0, rows);
  VfBuffer qkv = rows_of(&llm->qkv, llm->qkv_width * 4, 0, rows);
  VfBuffer attn = rows_of(&llm->attn, H * 4, 0, rows);
  VfBuffer gu = rows_of(&llm->gu, 2 * I * 4, 0, rows);
  VfBuffer act = rows_of(&llm->act, I * 4, 0, rows);
  VfBuffer positions = vf_buffer_slice(&llm->positions, 0, 3ull * rows * 4);

  for (uint32_t l = 0; l < c->layers; l++) {
    const VfLlmLayer *L = &w->layers[l];
    vf_op_rmsnorm(cmd, &x, &L->attn_norm, &xn, rows, H, c->rms_eps);
    vf_op_matmul(cmd, &xn, rows, &L->qkv, &L->qkv_bias, NULL, &qkv);
    /* q and k heads sit side by side at the start of each qkv row. */
    vf_op_rope(cmd, &qkv, rows, llm->qkv_width, c->heads + c->kv_heads, c->head_dim, &positions,
               c->mrope_section, &llm->rope_cos, &llm->rope_sin, llm->context);
    for (uint32_t g = 0; g < nseqs; g++) {
      uint32_t first = nseqs == 1 ? 0 : g, count = nseqs == 1 ? rows : 1;
      VfBuffer q = rows_of(&llm->qkv, llm->qkv_width * 4, first, count);
      VfBuffer a = rows_of(&llm->attn, H * 4, first, count);
      VfLlmSequence *sq = seqs[g];
      vf_op_kv_store(cmd, &q, count, llm->qkv_width, H, H + K, &sq->cache[l], &sq->seq);
      vf_op_attention_causal(cmd, &q, count, llm->qkv_width, c->heads, &sq->cache[l], &sq->seq, sq->key_begin,
                             &a);
    }
    vf_op_matmul(cmd, &attn, rows, &L->o, NULL, &x, &x);
    vf_op_rmsnorm(cmd, &x, &L->mlp_norm, &xn, rows, H, c->rms_eps);
    vf_op_matmul(cmd, &xn, rows, &L->gate_up, NULL, NULL, &gu);
    vf_op_silu_mul(cmd, &gu, rows, 2 * I, 0, I, I, &act);
    vf_op_matmul(cmd, &act, rows, &L->down, NULL, &x, &x);
    if (l == 0 && trace_layer0)
      vf_cmd_copy(cmd, &x, trace_layer0, (uint64_t)rows * H * 4);
  }
}

/* Final norm of row `last` (or of all rows, when tracing) and the lm_head on that row. */
static void
record_head(VfLlm *llm, VfCmd *cmd, uint32_t rows, bool all_rows, bool want_logits)
{
  const VfConfig *c = llm->cfg;
  uint32_t H = c->hidden;
  VfBuffer last_x = rows_of(&llm->x, H * 4, rows - 1, 1);
  VfBuffer last_xn = rows_of(&llm->xn, H * 4, all_rows ? rows - 1 : 0, 1);
  if (all_rows) {
    VfBuffer x = rows_of(&llm->x, H * 4, 0, rows), xn = rows_of(&llm->xn, H * 4, 0, rows);
    vf_op_rmsnorm(cmd, &x, &llm->w->final_norm, &xn, rows, H, c->rms_eps);
  } else {
    vf_op_rmsnorm(cmd, &last_x, &llm->w->final_norm, &last_xn, 1, H, c->rms_eps);
  }
  if (want_logits)
    vf_op_matmul(cmd, &last_xn, 1, &llm->w->lm_head, NULL, NULL, &llm->logits);
}

/* One decode step of `nseqs` sequences (row r is seqs[r]): logits [nseqs, vocab] and each row's argmax. */
static void
record_step(VfLlm *llm, VfCmd *cmd, VfLlmSequence *const *seqs, uint32_t nseqs)
{
  const VfConfig *c = llm->cfg;
  uint32_t H = c->hidden;
  VfBuffer x = rows_of(&llm->x, H * 4, 0, nseqs), xn = rows_of(&llm->xn, H * 4, 0, nseqs);
  VfBuffer ids = vf_buffer_slice(&llm->ids, 0, 4ull * nseqs);
  vf_op_embed(cmd, &llm->w->embed, &ids, nseqs, &x);
  record_layers(llm, cmd, nseqs, seqs, nseqs, NULL);
  vf_op_rmsnorm(cmd, &x, &llm->w->final_norm, &xn, nseqs, H, c->rms_eps);
  VfBuffer logits = rows_of(&llm->logits, (uint64_t)c->vocab * 4, 0, nseqs);
  vf_op_matmul(cmd, &xn, nseqs, &llm->w->lm_head, NULL, NULL, &logits);
  for (uint32_t r = 0; r < nseqs; r++) {
    VfBuffer row = rows_of(&llm->logits, (uint64_t)c->vocab * 4, r, 1);
    vf_op_argmax(cmd, &row, c->vocab, &llm->argmax_scratch, &seqs[r]->best);
  }
}

static gboolean
set_seq(VfLlm *llm, VfLlmSequence *q, GError **error)
{
  return vf_buffer_upload(llm->dev, &q->seq, 0, &q->length, 4, error);
}

/* The prefill recorder: embeddings of rows [start, start + rows) of `in` (with their vision splices), the
 * layers into the cache of `q`, and the head when this is the last chunk or the prefill is traced. */
static void
record_prefill_chunk(VfLlm *llm, VfCmd *cmd, VfLlmSequence *q, const VfLlmInput *in, uint32_t start, uint32_t rows,
                     bool tracing, bool want_logits)
{
  uint32_t H = llm->cfg->hidden;
  VfBuffer x = rows_of(&llm->x, H * 4, 0, rows);
  VfBuffer ids = vf_buffer_slice(&llm->ids, 0, rows * 4ull);
  vf_op_embed(cmd, &llm->w->embed, &ids, rows, &x);
  for (uint32_t s = 0; s < in->nsplices; s++) {
    const VfLlmSplice *sp = &in->splices[s];
    uint32_t lo = MAX(sp->row, start), hi = MIN(sp->row + sp->rows, start + rows);
    if (lo >= hi)
      continue;
    VfBuffer src = rows_of(&sp->embeds, H * 4, lo - sp->row, hi - lo);
    VfBuffer dst = rows_of(&llm->x, H * 4, lo - start, hi - lo);
    vf_cmd_copy(cmd, &src, &dst, (uint64_t)(hi - lo) * H * 4);
  }
  if (tracing)
    vf_cmd_copy(cmd, &x, &llm->trace_embeds, (uint64_t)rows * H * 4);
  record_layers(llm, cmd, rows, &q, 1, tracing ? &llm->trace_layer0 : NULL);
  bool last_chunk = start + rows == in->n;
  if (last_chunk || tracing)
    record_head(llm, cmd, rows, tracing, last_chunk && want_logits);
}

gboolean
vf_llm_prefill(VfLlm *llm, VfLlmSequence *q, const VfLlmInput *in, float *logits, const VfLlmTrace *trace,
               GError **error)
{
  g_return_val_if_fail(q->llm == llm && q->in_use, FALSE);
  const VfConfig *c = llm->cfg;
  uint32_t H = c->hidden;
  if (in->n == 0)
    return TRUE;
  if ((uint64_t)q->length + in->n > llm->context) {
    g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_UNSUPPORTED,
                "the prompt needs %u tokens but the context holds %u (%u already used)", q->length + in->n,
                llm->context, q->length);
    return FALSE;
  }
  for (uint32_t s = 0; s < in->nsplices; s++) {
    const VfLlmSplice *sp = &in->splices[s];
    if (sp->row + sp->rows > in->n || sp->embeds.size < (uint64_t)sp->rows * H * 4) {
      g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_MALFORMED,
                  "vision embeddings for rows %u..%u do not fit the prompt of %u tokens", sp->row,
                  sp->row + sp->rows, in->n);
      return FALSE;
    }
  }
  q->key_begin = in->key_begin;
  bool tracing = trace && (trace->inputs_embeds || trace->layer0_out || trace->final_norm_out);
  if (tracing && !llm->trace_embeds.buffer) {
    uint64_t bytes = (uint64_t)llm->chunk * H * 4;
    if (!alloc(llm, VF_MEMORY_DEVICE, bytes, &llm->trace_embeds, error) ||
        !alloc(llm, VF_MEMORY_DEVICE, bytes, &llm->trace_layer0, error))
      return FALSE;
  }

  for (uint32_t start = 0; start < in->n; start += llm->chunk) {
    if (g_cancellable_set_error_if_cancelled(in->cancellable, error))
      return FALSE;
    uint32_t rows = MIN(llm->chunk, in->n - start);
    int32_t pos[3 * DEFAULT_CHUNK];
    int32_t *pos_buf = rows <= DEFAULT_CHUNK ? pos : g_new(int32_t, 3 * (size_t)rows);
    for (int s = 0; s < 3; s++)
      memcpy(pos_buf + s * rows, in->positions + (size_t)s * in->n + start, rows * 4);
    gboolean ok = vf_buffer_upload(llm->dev, &llm->ids, 0, in->ids + start, rows * 4, error) &&
                  vf_buffer_upload(llm->dev, &llm->positions, 0, pos_buf, 3ull * rows * 4, error) &&
                  set_seq(llm, q, error);
    if (pos_buf != pos)
      g_free(pos_buf);
    if (!ok)
      return FALSE;

    /* Each chunk is recorded afresh: its row count and splices differ, and recording is cheap next to the
     * chunk's own work. */
    VfCmd *cmd = vf_cmd_new(llm->dev, error);
    if (!cmd)
      return FALSE;
    record_prefill_chunk(llm, cmd, q, in, start, rows, tracing, logits != NULL);
    ok = vf_cmd_submit(cmd, error);
    vf_cmd_free(cmd);
    if (!ok)
      return FALSE;
    q->length += rows;
    if (in->progress)
      in->progress(start + rows, in->n, in->progress_user);

    if (tracing) {
      uint64_t off = (uint64_t)start * H, bytes = (uint64_t)rows * H * 4;
      if ((trace->inputs_embeds &&
           !vf_buffer_download(llm->dev, &llm->trace_embeds, 0, trace->inputs_embeds + off, bytes, error)) ||
          (trace->layer0_out &&
           !vf_buffer_download(llm->dev, &llm->trace_layer0, 0, trace->layer0_out + off, bytes, error)) ||
          (trace->final_norm_out &&
           !vf_buffer_download(llm->dev, &llm->xn, 0, trace->final_norm_out + off, bytes, error)))
        return FALSE;
    }
  }
  if (logits && !vf_buffer_download(llm->dev, &llm->logits, 0, logits, (uint64_t)c->vocab * 4, error))
    return FALSE;
  return TRUE;
}

static void
forget_step(RecordedStep *r)
{
  g_clear_pointer(&r->cmd, vf_cmd_free);
  g_clear_pointer(&r->seqs, g_free);
  g_clear_pointer(&r->key_begin, g_free);
  r->n = 0;
}

static bool
step_matches(const RecordedStep *r, VfLlmSequence *const *seqs, uint32_t n)
{
  if (!r->cmd || r->n != n)
    return false;
  for (uint32_t i = 0; i < n; i++)
    if (r->seqs[i] != seqs[i] || r->key_begin[i] != seqs[i]->key_begin)
      return false;
  return true;
}

/* The decode recorder's list for a step over `seqs`. A recorded step binds each listed slot's cache, length
 * and argmax buffers and bakes in its masked prefix, so a different list (a request joined or left the batch)
 * or a new prefill's prefix needs another recording: it is made here, explicitly, and kept with the last few
 * (a solo decode and a batch may alternate) in place of the least recently replayed. Recording costs host
 * time only; every replay reads its ids, positions and cache lengths from the parameter buffers. */
static VfCmd *
recorded_step(VfLlm *llm, VfLlmSequence *const *seqs, uint32_t n, GError **error)
{
  RecordedStep *oldest = &llm->recorded[0];
  for (uint32_t i = 0; i < RECORDED_STEPS; i++) {
    RecordedStep *r = &llm->recorded[i];
    if (step_matches(r, seqs, n)) {
      r->used = ++llm->steps;
      return r->cmd;
    }
    if (r->used < oldest->used)
      oldest = r;
  }
  forget_step(oldest);
  oldest->cmd = vf_cmd_new(llm->dev, error);
  if (!oldest->cmd)
    return NULL;
  record_step(llm, oldest->cmd, seqs, n);
  oldest->n = n;
  oldest->seqs = g_memdup2(seqs, n * sizeof *seqs);
  oldest->key_begin = g_new(uint32_t, n);
  for (uint32_t i = 0; i < n; i++)
    oldest->key_begin[i] = seqs[i]->key_begin;
  oldest->used = ++llm->steps;
  return oldest->cmd;
}

gboolean
vf_llm_decode_batch(VfLlm *llm, VfLlmSequence *const *seqs, uint32_t n, const int32_t *ids,
                    const int32_t *positions, float *logits, int32_t *argmax, GError **error)
{
  g_return_val_if_fail(n > 0 && n <= llm->n_seqs, FALSE);
  const VfConfig *c = llm->cfg;
  for (uint32_t r = 0; r < n; r++) {
    g_return_val_if_fail(seqs[r]->llm == llm && seqs[r]->in_use, FALSE);
    for (uint32_t j = 0; j < r; j++)
      g_return_val_if_fail(seqs[j] != seqs[r], FALSE); /* one row per sequence: both would write one slot */
    if (seqs[r]->length + 1 > llm->context) {
      g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_UNSUPPORTED, "the context of %u tokens is full",
                  llm->context);
      return FALSE;
    }
  }
  g_autofree int32_t *pos = g_new(int32_t, 3 * (size_t)n);
  for (uint32_t r = 0; r < n; r++) {
    pos[r] = pos[n + r] = pos[2 * n + r] = positions[r];
    if (!set_seq(llm, seqs[r], error))
      return FALSE;
  }
  if (!vf_buffer_upload(llm->dev, &llm->ids, 0, ids, 4ull * n, error) ||
      !vf_buffer_upload(llm->dev, &llm->positions, 0, pos, 12ull * n, error))
    return FALSE;
  VfCmd *cmd = recorded_step(llm, seqs, n, error);
  if (!cmd || !vf_cmd_submit(cmd, error))
    return FALSE;
  for (uint32_t r = 0; r < n; r++)
    seqs[r]->length++;
  if (logits && !vf_buffer_download(llm->dev, &llm->logits, 0, logits, (uint64_t)n * c->vocab * 4, error))
    return FALSE;
  for (uint32_t r = 0; argmax && r < n; r++) {
    uint32_t best = 0;
    if (!vf_buffer_download(llm->dev, &seqs[r]->best, 0, &best, 4, error))
      return FALSE;
    argmax[r] = (int32_t)best;
  }
  return TRUE;
}

gboolean
vf_llm_decode(VfLlm *llm, VfLlmSequence *seq, int32_t id, int32_t position, float *logits, int32_t *argmax,
              GError **error)
{
  return vf_llm_decode_batch(llm, &seq, 1, &id, &position, logits, argmax, error);
}
