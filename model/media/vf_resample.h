/* Pillow's BICUBIC resize of 8-bit RGB images, bit for bit (spec §3.4; Pillow src/libImaging/Resample.c).
 *
 * This is what both qwen-vl-utils (`image.resize((w, h))`) and the transformers image processor
 * (`resample=BICUBIC`) call. Per axis the Keys cubic (a = −0.5) is widened by the downscale factor
 * (antialiasing), evaluated in double, normalised, then rounded to signed 22-bit fixed point:
 *
 *     in  ──horizontal pass (only if the width changes)──►  tmp [rows used, out_w, 3]  (u8)
 *     tmp ──vertical pass   (only if the height changes)──► out [out_h, out_w, 3]       (u8)
 *
 *     acc = 2^21 + Σ_k src[first + k] · W[k]      (int32)
 *     dst = clamp(acc >> 22, 0, 255)
 *
 * The fixed-point weights of one output need not sum to exactly 2^22; they are used as they are.
 *
 * Both passes run as a stream over the input rows (VfResampleStream): each row is resampled horizontally as it
 * arrives into a ring of the last max_taps rows, and each output row is summed as soon as its last input
 * row is in. Memory follows the output width (a few rows of it), not the input's size, so a decoder can hand
 * rows over as it produces them (a 65500×2700 picture is never held whole). Same integer arithmetic as
 * Pillow's two whole-image passes, so the same bytes. */
#pragma once

#include <glib.h>
#include <stdint.h>

#define VF_RESAMPLE_PRECISION_BITS 22

/* The fixed-point weights of one axis. Output index o reads the input samples [first[o], first[o] + count[o])
 * with the weights weights[o · max_taps + k], k < count[o]; the rest of each weights row is zero. */
typedef struct {
  uint32_t in_size, out_size;
  uint32_t max_taps; /* row length of `weights`: 2 · ceil(support) + 1 */
  uint32_t *first;   /* [out_size] */
  uint32_t *count;   /* [out_size] */
  int32_t *weights;  /* [out_size, max_taps], signed Q22 */
} VfResampleAxis;

/* Weights for resizing an axis of `in_size` samples to `out_size` (both ≥ 1). */
VfResampleAxis *vf_resample_axis_new(uint32_t in_size, uint32_t out_size);
void vf_resample_axis_free(VfResampleAxis *axis);

/* dst [out_h, out_w, 3] from src [in_h, in_w, 3] (RGB8, rows packed). When the size is unchanged this is a
 * copy, as in Pillow. Fails only when the temporary image cannot be allocated. */
gboolean vf_resample_bicubic_rgb8(const uint8_t *src, uint32_t in_w, uint32_t in_h, uint8_t *dst, uint32_t out_w,
                                  uint32_t out_h, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfResampleAxis, vf_resample_axis_free)

/* Resizing [in_h, in_w, 3] to dst [out_h, out_w, 3] (the caller's buffer) one input row at a time. */
typedef struct VfResampleStream VfResampleStream;
/* NULL with VF_IMAGE_ERROR_NO_MEMORY when its few rows cannot be allocated. */
VfResampleStream *vf_resample_stream_new(uint32_t in_w, uint32_t in_h, uint8_t *dst, uint32_t out_w, uint32_t out_h,
                                         GError **error);
/* The next input row, [in_w, 3]: rows 0 … in_h − 1 in order. dst is complete after the last. */
void vf_resample_stream_push(VfResampleStream *st, const uint8_t *row);
/* TRUE once all in_h rows went in. */
gboolean vf_resample_stream_done(const VfResampleStream *st);
void vf_resample_stream_free(VfResampleStream *st);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfResampleStream, vf_resample_stream_free)
