/* VfVision: the Qwen2-VL vision tower on Vulkan (spec §7).
 *
 *   pixels [N, 1176] (patch rows in merge-window order, see vf_preprocess.h)
 *   x   = pixels · Wpatchᵀ                                   [N, E]   (Conv3d as a GEMM)
 *   per block (×depth):
 *     qkv = LayerNorm1(x) · Wqkvᵀ + b                        [N, 3E]
 *     q,k ← 2-D RoPE (row, column of each patch)
 *     a   = attention inside each cu_seqlens group (one per image / temporal slice of a video)
 *     x  += a · Wprojᵀ + b
 *     x  += fc2(QuickGELU(fc1(LayerNorm2(x))))
 *   merger: LayerNorm → 4 rows concatenated [N/4, 4E] → GELU(· W0ᵀ + b0) · W2ᵀ + b2   → [N/4, H]
 *
 * Device memory grows linearly with N (row-wise work in chunks; attention is flash style).
 */
#pragma once

#include <gio/gio.h>
#include <glib.h>

#include "vf_config.h"
#include "vf_positions.h"
#include "vf_weights.h"

typedef struct VfVision VfVision;

/* Host copies of intermediates, for checks against references; any pointer may be NULL. */
typedef struct {
  float *patch_embed;  /* [N, E] */
  float *rot_pos_emb;  /* [N, head_dim / 2]: the rotary angles, [row freqs, column freqs] */
  int32_t *cu_seqlens; /* [groups + 1] */
  float *block0_out;   /* [N, E] */
  float *merger_out;   /* [N / 4, H] (what the LLM receives) */
} VfVisionTrace;

/* The scratch is planned once, at the first encode, for `max_patches` patches (the largest item the memory
 * plan allows: vf_memory_plan_vision_patches), or for the first encode's own size when 0; only a larger
 * encode plans it again. */
VfVision *vf_vision_create(VfDevice *dev, const VfConfig *config, const VfWeights *weights, uint32_t max_patches,
                           GError **error);
void vf_vision_free(VfVision *vision);

/* Groups of the attention (cu_seqlens) for these grids: for each grid t groups of h·w patches. */
uint32_t vf_vision_groups(const VfGrid *grids, uint32_t n_grids);

/* Encodes the patch rows of one or more items (images, or videos) given in `grids` order:
 * pixels: host f32 [n_patches, 1176] where n_patches = Σ t·h·w. On success *out is a new device buffer of
 * f32 [n_patches / 4, H] that the caller releases with vf_buffer_release. */
gboolean vf_vision_encode(VfVision *vision, const float *pixels, uint32_t n_patches, const VfGrid *grids,
                          uint32_t n_grids, VfBuffer *out, const VfVisionTrace *trace, GError **error);

/* Blocks done / blocks (vision depth), after the patch embedding (0) and after each block. */
typedef void (*VfVisionProgressFunc)(uint32_t blocks_done, uint32_t blocks, void *user);

typedef struct {
  VfVisionProgressFunc progress; /* may be NULL */
  void *progress_user;
  GCancellable *cancellable;     /* may be NULL; checked between submits (one block each): G_IO_ERROR_CANCELLED */
} VfVisionRun;

/* vf_vision_encode with progress and Stop; run may be NULL. */
gboolean vf_vision_encode_run(VfVision *vision, const float *pixels, uint32_t n_patches, const VfGrid *grids,
                              uint32_t n_grids, VfBuffer *out, const VfVisionTrace *trace, const VfVisionRun *run,
                              GError **error);

/* Rows per chunk of the row-wise passes (GEMMs, norms, activations, attention queries); 0: the default
 * (2048, fewer when the device's binding limit asks for it). Rounded down to whole merged tokens and
 * aligned window starts. Small values let the tests cross chunk and group boundaries with tiny inputs. */
void vf_vision_set_chunk(VfVision *vision, uint32_t rows);

/* Peak device bytes of scratch (the planned buffers and an encode's output, for the bench and the note). */
uint64_t vf_vision_scratch_bytes(const VfVision *vision);

/* Scratch plans made so far: 1 after any number of encodes within the planned size. */
uint32_t vf_vision_plans(const VfVision *vision);
