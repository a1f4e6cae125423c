/* torchvision / aten antialiased bicubic in float32 (spec §4.4). See vf_video_resize.h.
 *
 * The float semantics follow aten's `_compute_weights_aa` and `aa_filter` term by term: which operations happen
 * in double (products with the double literals 0.5 and a) and which in float (everything stored in scalar_t). */
#define G_LOG_DOMAIN "vf-video"

#include "vf_video_resize.h"

#include <math.h>
#include <string.h>

#include "vf_video_plan.h" /* VF_VIDEO_ERROR */

/* Fused multiply-adds. torch's CPU kernels are compiled per instruction set, and its AVX2 build lets the compiler
 * contract `a · b + c` into FMAs; that is the build a current x86-64 machine runs, and the one the reference
 * tensors match best (on a06: 10 values in 338688 off by one with FMAs, 127 without). The contractions that
 * change results are the ones in the filter's float branch and in the accumulations; both are written as fmaf
 * here. The accumulation loops come in two copies, one compiled for FMA and one with separate multiply and add
 * for CPUs without FMA (where fmaf would be a slow library call); both agree with torch within one level. */
#if defined(__x86_64__) || defined(__i386__)
#define FMA_TARGET __attribute__((target("fma")))
static gboolean
cpu_has_fma(void)
{
  return __builtin_cpu_supports("fma");
}
#else
#define FMA_TARGET
static gboolean
cpu_has_fma(void)
{
  return TRUE; /* fmaf is one instruction on AArch64 and the other targets that matter */
}
#endif

/* aten HelperInterpCubic::aa_filter with a = −0.5: a float argument; the first branch is evaluated in double
 * (a + 2.0 is a double: contraction there changes nothing measurable), the second in float (contracted) until
 * the final product with a. */
static float
cubic_aa(float x)
{
  const double a = -0.5;
  if (x < 0.0f)
    x = -x;
  if (x < 1.0f)
    return (float)(((a + 2.0) * x - (a + 3.0)) * x * x + 1);
  if (x < 2.0f)
    return (float)(fmaf(fmaf(x - 5, x, 8), x, -4) * a);
  return 0.0f;
}

VfAaAxis *
vf_aa_axis_new(uint32_t in_size, uint32_t out_size)
{
  g_assert(in_size > 0 && out_size > 0);
  /* area_pixel_compute_scale<float> without explicit scale factors: (float)in / out in float. */
  const float scale = (float)in_size / (float)out_size;
  const float support = scale >= 1.0f ? (float)(2.0 * scale) : 2.0f;
  const float inv_scale = scale >= 1.0f ? (float)(1.0 / scale) : 1.0f;

  VfAaAxis *axis = g_new0(VfAaAxis, 1);
  axis->in_size = in_size;
  axis->out_size = out_size;
  axis->max_taps = (uint32_t)ceilf(support) * 2 + 1;
  axis->first = g_new(uint32_t, out_size);
  axis->count = g_new(uint32_t, out_size);
  axis->weights = g_new0(float, (size_t)out_size * axis->max_taps);

  for (uint32_t o = 0; o < out_size; o++) {
    const float center = (float)(scale * (o + 0.5));
    int64_t first = (int64_t)((double)(center - support) + 0.5);
    if (first < 0)
      first = 0;
    int64_t last = (int64_t)((double)(center + support) + 0.5);
    if (last > in_size)
      last = in_size;
    int64_t count = last - first;
    g_assert(count >= 1 && count <= axis->max_taps);

    float *w = axis->weights + (size_t)o * axis->max_taps;
    float total = 0.0f;
    for (int64_t k = 0; k < count; k++) {
      /* (j + xmin − center + 0.5) · invscale: int64 → float, float subtraction, then double, then float. */
      float x = (float)(((double)((float)(k + first) - center) + 0.5) * inv_scale);
      w[k] = cubic_aa(x);
      total += w[k];
    }
    if (total != 0.0f)
      for (int64_t k = 0; k < count; k++)
        w[k] /= total;
    axis->first[o] = (uint32_t)first;
    axis->count[o] = (uint32_t)count;
  }
  return axis;
}

void
vf_aa_axis_free(VfAaAxis *axis)
{
  if (!axis)
    return;
  g_free(axis->first);
  g_free(axis->count);
  g_free(axis->weights);
  g_free(axis);
}

struct VfFrameResizer {
  uint32_t in_w, in_h, out_w, out_h;
  gboolean fused;       /* accumulate with FMAs */
  VfAaAxis *horizontal; /* NULL when the width is unchanged */
  VfAaAxis *vertical;   /* NULL when the height is unchanged */
  float *tmp;           /* [in_h, out_w, 3]: the horizontal pass, or the frame as floats */
  float *row;           /* [out_w · 3]: one output row of the vertical pass */
};

VfFrameResizer *
vf_frame_resizer_new(uint32_t in_w, uint32_t in_h, uint32_t out_w, uint32_t out_h, GError **error)
{
  g_assert(in_w > 0 && in_h > 0 && out_w > 0 && out_h > 0);
  g_autoptr(VfFrameResizer) r = g_new0(VfFrameResizer, 1);
  *r = (VfFrameResizer){.in_w = in_w, .in_h = in_h, .out_w = out_w, .out_h = out_h, .fused = cpu_has_fma()};
  if (in_w == out_w && in_h == out_h)
    return g_steal_pointer(&r); /* a copy */
  if (in_w != out_w)
    r->horizontal = vf_aa_axis_new(in_w, out_w);
  if (in_h != out_h)
    r->vertical = vf_aa_axis_new(in_h, out_h);
  r->tmp = g_try_malloc((size_t)in_h * out_w * 3 * sizeof(float));
  r->row = g_try_malloc((size_t)out_w * 3 * sizeof(float));
  if (!r->tmp || !r->row) {
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_NO_MEMORY, "out of memory for resizing %u×%u frames to %u×%u",
                in_w, in_h, out_w, out_h);
    return NULL;
  }
  return g_steal_pointer(&r);
}

void
vf_frame_resizer_free(VfFrameResizer *resizer)
{
  if (!resizer)
    return;
  vf_aa_axis_free(resizer->horizontal);
  vf_aa_axis_free(resizer->vertical);
  g_free(resizer->tmp);
  g_free(resizer->row);
  g_free(resizer);
}

void
vf_frame_resizer_set_fused(VfFrameResizer *resizer, gboolean fused)
{
  resizer->fused = fused;
}

gboolean
vf_frame_resizer_fused(const VfFrameResizer *resizer)
{
  return resizer->fused;
}

/* clamp(0, 255), then torch.round (half to even), then the cast to uint8. */
static inline uint8_t
to_u8(float v)
{
  v = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
  return (uint8_t)nearbyintf(v);
}

/* acc + a·b, fused or not; `fused` is a constant in each copy of the passes below. */
static inline __attribute__((always_inline)) float
mac(float acc, float a, float b, gboolean fused)
{
  return fused ? fmaf(a, b, acc) : acc + a * b;
}

/* tmp row = the horizontal pass of one source row: out[o] = Σ_k src[first + k] · w[k], per channel. */
static inline __attribute__((always_inline)) void
horizontal_row(const VfAaAxis *ax, const uint8_t *src, float *dst, gboolean fused)
{
  for (uint32_t o = 0; o < ax->out_size; o++) {
    const float *w = ax->weights + (size_t)o * ax->max_taps;
    const uint8_t *s = src + (size_t)ax->first[o] * 3;
    float a0 = s[0] * w[0], a1 = s[1] * w[0], a2 = s[2] * w[0];
    for (uint32_t k = 1; k < ax->count[o]; k++) {
      a0 = mac(a0, s[3 * k + 0], w[k], fused);
      a1 = mac(a1, s[3 * k + 1], w[k], fused);
      a2 = mac(a2, s[3 * k + 2], w[k], fused);
    }
    dst[3 * o + 0] = a0;
    dst[3 * o + 1] = a1;
    dst[3 * o + 2] = a2;
  }
}

/* One output row of the vertical pass: whole rows at a time, so the inner loop runs along contiguous memory. */
static inline __attribute__((always_inline)) void
vertical_row(const VfAaAxis *ax, uint32_t o, const float *tmp, size_t row_len, float *acc, uint8_t *dst,
             gboolean fused)
{
  const float *w = ax->weights + (size_t)o * ax->max_taps;
  const float *s = tmp + (size_t)ax->first[o] * row_len;
  for (size_t i = 0; i < row_len; i++)
    acc[i] = s[i] * w[0];
  for (uint32_t k = 1; k < ax->count[o]; k++) {
    const float *sk = s + k * row_len;
    const float wk = w[k];
    for (size_t i = 0; i < row_len; i++)
      acc[i] = mac(acc[i], sk[i], wk, fused);
  }
  for (size_t i = 0; i < row_len; i++)
    dst[i] = to_u8(acc[i]);
}

static inline __attribute__((always_inline)) void
run_passes(VfFrameResizer *r, const uint8_t *src, size_t src_stride, uint8_t *dst, gboolean fused)
{
  const size_t out_row = (size_t)r->out_w * 3;
  for (uint32_t y = 0; y < r->in_h; y++) {
    if (r->horizontal)
      horizontal_row(r->horizontal, src + y * src_stride, r->tmp + y * out_row, fused);
    else
      for (size_t i = 0; i < out_row; i++)
        r->tmp[y * out_row + i] = src[y * src_stride + i];
  }
  if (!r->vertical) {
    for (size_t i = 0; i < (size_t)r->out_h * out_row; i++)
      dst[i] = to_u8(r->tmp[i]);
    return;
  }
  for (uint32_t o = 0; o < r->out_h; o++)
    vertical_row(r->vertical, o, r->tmp, out_row, r->row, dst + o * out_row, fused);
}

FMA_TARGET static void
run_fused(VfFrameResizer *r, const uint8_t *src, size_t src_stride, uint8_t *dst)
{
  run_passes(r, src, src_stride, dst, TRUE);
}

static void
run_unfused(VfFrameResizer *r, const uint8_t *src, size_t src_stride, uint8_t *dst)
{
  run_passes(r, src, src_stride, dst, FALSE);
}

void
vf_frame_resizer_run(VfFrameResizer *r, const uint8_t *src, size_t src_stride, uint8_t *dst)
{
  const size_t out_row = (size_t)r->out_w * 3;
  if (!r->horizontal && !r->vertical) {
    for (uint32_t y = 0; y < r->out_h; y++)
      memcpy(dst + y * out_row, src + y * src_stride, out_row);
    return;
  }
  if (r->fused)
    run_fused(r, src, src_stride, dst);
  else
    run_unfused(r, src, src_stride, dst);
}
