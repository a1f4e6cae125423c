/* torchvision's antialiased bicubic resize of 8-bit frames, as qwen-vl-utils resizes the frames of video files
 * (spec §4.4): `transforms.functional.resize(u8 [T,3,H,W], [h, w], BICUBIC, antialias=True)` →
 * float32 `interpolate(mode="bicubic", antialias=True)` (aten `upsample_bicubic2d_aa`, CPU) → clamp → round.
 *
 * It is Pillow's algorithm (vf_resample.h) in float32 instead of 22-bit fixed point, with no rounding between
 * the passes:
 *
 *     scale   = (float)in / out;  support = 2·scale if scale ≥ 1 else 2;  inv = 1/scale if scale ≥ 1 else 1
 *     center  = (float)(scale · (o + 0.5));  first = max((int64)(center − support + 0.5), 0)
 *     count   = min((int64)(center + support + 0.5), in) − first
 *     w[k]    = cubic_{a=−0.5}((float)(((float)(k + first) − center + 0.5) · inv)),  w[k] /= Σ w  (float32)
 *
 *     src u8 ──horizontal (if the width changes)──► tmp f32 [in_h, out_w, 3]
 *            ──vertical   (if the height changes)──► f32 ──clamp [0, 255], round half to even──► dst u8
 *     each output: acc = src[first]·w[0]; acc = fma(src[first + k], w[k], acc) for k = 1…count−1   (float32)
 *
 * An unchanged size returns the frame as it is. The FMAs are those torch's AVX2 build compiles (see the .c);
 * whatever a particular torch build contracts, a value within ~1e-5 of .5 can round the other way, so results
 * agree with the reference within one level (on the golden clip: 10 values in 338688 differ). */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

/* The float32 weights of one axis; output o reads input samples [first[o], first[o] + count[o]). */
typedef struct {
  uint32_t in_size, out_size;
  uint32_t max_taps; /* row length of `weights`: 2 · ceil(support) + 1 */
  uint32_t *first;   /* [out_size] */
  uint32_t *count;   /* [out_size] */
  float *weights;    /* [out_size, max_taps], zero past count[o] */
} VfAaAxis;

/* Weights for resizing an axis of in_size samples to out_size (both ≥ 1). */
VfAaAxis *vf_aa_axis_new(uint32_t in_size, uint32_t out_size);
void vf_aa_axis_free(VfAaAxis *axis);

/* A resize of in_w × in_h RGB8 frames to out_w × out_h, with its weights and float buffer made once and used
 * for every frame of a video. */
typedef struct VfFrameResizer VfFrameResizer;

/* NULL with VF_VIDEO_ERROR_NO_MEMORY when the buffers cannot be allocated. */
VfFrameResizer *vf_frame_resizer_new(uint32_t in_w, uint32_t in_h, uint32_t out_w, uint32_t out_h, GError **error);
void vf_frame_resizer_free(VfFrameResizer *resizer);

/* dst [out_h, out_w, 3] (rows packed) from src [in_h, in_w, 3] with rows `src_stride` bytes apart. */
void vf_frame_resizer_run(VfFrameResizer *resizer, const uint8_t *src, size_t src_stride, uint8_t *dst);

/* Whether the sums use fused multiply-adds (as torch's AVX2 kernels; the default where the CPU has FMA) or a
 * multiply then an add (torch's baseline kernels). For tests: both agree with the reference within one level. */
void vf_frame_resizer_set_fused(VfFrameResizer *resizer, gboolean fused);
gboolean vf_frame_resizer_fused(const VfFrameResizer *resizer);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfAaAxis, vf_aa_axis_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfFrameResizer, vf_frame_resizer_free)
