/* Pillow BICUBIC resampling in fixed point (spec §3.4). */
#define G_LOG_DOMAIN "vf-resample"

#include "vf_resample.h"

#include <math.h>
#include <string.h>

#include "vf_image.h"

/* Keys cubic convolution kernel with a = −0.5, support 2. */
static double
bicubic_kernel(double x)
{
  const double a = -0.5;
  if (x < 0.0)
    x = -x;
  if (x < 1.0)
    return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0)
    return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

VfResampleAxis *
vf_resample_axis_new(uint32_t in_size, uint32_t out_size)
{
  g_assert(in_size > 0 && out_size > 0);
  /* Pillow passes the box edges as floats: scale = (double)(float)in_size / out_size, exact below 2^24. */
  double scale = (double)(float)in_size / out_size;
  double filterscale = scale < 1.0 ? 1.0 : scale;
  double support = 2.0 * filterscale;

  VfResampleAxis *axis = g_new0(VfResampleAxis, 1);
  axis->in_size = in_size;
  axis->out_size = out_size;
  axis->max_taps = (uint32_t)ceil(support) * 2 + 1;
  axis->first = g_new(uint32_t, out_size);
  axis->count = g_new(uint32_t, out_size);
  axis->weights = g_new0(int32_t, (size_t)out_size * axis->max_taps);
  double *w = g_new(double, axis->max_taps);

  for (uint32_t o = 0; o < out_size; o++) {
    double center = (o + 0.5) * scale;
    double inv_filterscale = 1.0 / filterscale; /* Pillow multiplies by the reciprocal */
    /* (int) truncates toward zero, as Pillow's "round the value" casts do. */
    int xmin = (int)(center - support + 0.5);
    if (xmin < 0)
      xmin = 0;
    int xmax = (int)(center + support + 0.5);
    if (xmax > (int)in_size)
      xmax = (int)in_size;
    int n = xmax - xmin;
    g_assert(n >= 1 && (uint32_t)n <= axis->max_taps);

    double sum = 0.0;
    for (int k = 0; k < n; k++) {
      w[k] = bicubic_kernel((k + xmin - center + 0.5) * inv_filterscale);
      sum += w[k];
    }
    int32_t *row = axis->weights + (size_t)o * axis->max_taps;
    for (int k = 0; k < n; k++) {
      double v = sum != 0.0 ? w[k] / sum : w[k];
      double q = v * (1 << VF_RESAMPLE_PRECISION_BITS);
      row[k] = v < 0 ? (int32_t)(q - 0.5) : (int32_t)(q + 0.5);
    }
    axis->first[o] = (uint32_t)xmin;
    axis->count[o] = (uint32_t)n;
  }
  g_free(w);
  return axis;
}

void
vf_resample_axis_free(VfResampleAxis *axis)
{
  if (!axis)
    return;
  g_free(axis->first);
  g_free(axis->count);
  g_free(axis->weights);
  g_free(axis);
}

/* clamp(acc >> 22, 0, 255); >> on a negative int is an arithmetic (floor) shift with GCC and Clang, as in
 * Pillow's clip8 table lookup. */
static inline uint8_t
clip8(int32_t acc)
{
  int32_t v = acc >> VF_RESAMPLE_PRECISION_BITS;
  return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* dst [rows, out_w, 3] from src rows [row0, row0 + rows) of [.., in_w, 3]. The axis fields are copied to
 * locals: stores through uint8_t pointers may alias anything, which would force reloads in the inner loop. */
static void
resample_horizontal(const VfResampleAxis *ax, const uint8_t *restrict src, uint32_t in_w, uint32_t row0,
                    uint32_t rows, uint8_t *restrict dst)
{
  const int32_t half = 1 << (VF_RESAMPLE_PRECISION_BITS - 1);
  const uint32_t out_w = ax->out_size, taps = ax->max_taps;
  const uint32_t *restrict first = ax->first, *restrict count = ax->count;
  const int32_t *restrict weights = ax->weights;
  for (uint32_t y = 0; y < rows; y++) {
    const uint8_t *in = src + (size_t)(row0 + y) * in_w * 3;
    uint8_t *out = dst + (size_t)y * out_w * 3;
    for (uint32_t o = 0; o < out_w; o++) {
      const int32_t *k = weights + (size_t)o * taps;
      const uint8_t *p = in + (size_t)first[o] * 3;
      int32_t r = half, g = half, b = half;
      for (uint32_t i = 0, n = count[o]; i < n; i++) {
        r += p[3 * i + 0] * k[i];
        g += p[3 * i + 1] * k[i];
        b += p[3 * i + 2] * k[i];
      }
      out[3 * o + 0] = clip8(r);
      out[3 * o + 1] = clip8(g);
      out[3 * o + 2] = clip8(b);
    }
  }
}

/* One output row of the vertical pass: dst [width, 3] from the rows first[o] … first[o] + count[o] − 1, which
 * lie in `ring` (row r at slot r % ring_rows, each [width, 3]). Integer sums, so the order of the terms does
 * not matter. */
static void
vertical_row(const VfResampleAxis *ax, uint32_t o, const uint8_t *restrict ring, uint32_t ring_rows, uint32_t width,
             int32_t *restrict acc, uint8_t *restrict dst)
{
  const int32_t half = 1 << (VF_RESAMPLE_PRECISION_BITS - 1);
  const size_t n = (size_t)width * 3;
  const int32_t *k = ax->weights + (size_t)o * ax->max_taps;
  const uint32_t first = ax->first[o], count = ax->count[o];
  for (size_t x = 0; x < n; x++)
    acc[x] = half;
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t *restrict in = ring + (size_t)((first + i) % ring_rows) * n;
    const int32_t w = k[i];
    /* Fixed-length blocks so that -O2's cautious vectoriser widens them too. */
    size_t x = 0;
    for (; x + 16 <= n; x += 16)
      for (size_t j = 0; j < 16; j++)
        acc[x + j] += in[x + j] * w;
    for (; x < n; x++)
      acc[x] += in[x] * w;
  }
  for (size_t x = 0; x < n; x++)
    dst[x] = clip8(acc[x]);
}

struct VfResampleStream {
  uint32_t in_w, in_h, out_w, out_h;
  uint8_t *dst;          /* [out_h, out_w, 3], the caller's */
  VfResampleAxis *hax;   /* NULL when the width stays */
  VfResampleAxis *vax;   /* NULL when the height stays */
  uint8_t *ring;         /* [ring_rows, out_w, 3]: the latest input rows after the horizontal pass */
  uint32_t ring_rows;
  int32_t *acc;          /* [out_w · 3] */
  uint32_t next_in;      /* input rows pushed */
  uint32_t next_out;     /* output rows written */
};

VfResampleStream *
vf_resample_stream_new(uint32_t in_w, uint32_t in_h, uint8_t *dst, uint32_t out_w, uint32_t out_h, GError **error)
{
  g_assert(in_w > 0 && in_h > 0 && out_w > 0 && out_h > 0);
  VfResampleStream *st = g_new0(VfResampleStream, 1);
  *st = (VfResampleStream){.in_w = in_w, .in_h = in_h, .out_w = out_w, .out_h = out_h, .dst = dst};
  if (out_w != in_w)
    st->hax = vf_resample_axis_new(in_w, out_w);
  if (out_h != in_h) {
    st->vax = vf_resample_axis_new(in_h, out_h);
    /* An output row reads at most max_taps consecutive input rows, the last of them the one just pushed. */
    st->ring_rows = st->vax->max_taps;
    st->ring = g_try_malloc((size_t)st->ring_rows * out_w * 3);
    st->acc = g_try_new(int32_t, (size_t)out_w * 3);
    if (!st->ring || !st->acc) {
      g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_NO_MEMORY, "out of memory resizing %u×%u to %u×%u", in_w,
                  in_h, out_w, out_h);
      vf_resample_stream_free(st);
      return NULL;
    }
  }
  return st;
}

void
vf_resample_stream_push(VfResampleStream *st, const uint8_t *row)
{
  g_assert(st->next_in < st->in_h);
  uint32_t y = st->next_in++;
  if (!st->vax) {
    /* Pillow skips the vertical pass: input row y is output row y. */
    uint8_t *out = st->dst + (size_t)y * st->out_w * 3;
    if (st->hax)
      resample_horizontal(st->hax, row, st->in_w, 0, 1, out);
    else
      memcpy(out, row, (size_t)st->in_w * 3);
    return;
  }
  const VfResampleAxis *v = st->vax;
  /* Rows before the first one any output reads, or after the last, are not needed. */
  if (y < v->first[0] || y >= v->first[st->out_h - 1] + v->count[st->out_h - 1])
    return;
  uint8_t *slot = st->ring + (size_t)(y % st->ring_rows) * st->out_w * 3;
  if (st->hax)
    resample_horizontal(st->hax, row, st->in_w, 0, 1, slot);
  else
    memcpy(slot, row, (size_t)st->in_w * 3);
  /* Every output row whose last input row this is (first + count is non-decreasing in o). */
  while (st->next_out < st->out_h && v->first[st->next_out] + v->count[st->next_out] == y + 1) {
    vertical_row(v, st->next_out, st->ring, st->ring_rows, st->out_w, st->acc,
                 st->dst + (size_t)st->next_out * st->out_w * 3);
    st->next_out++;
  }
}

gboolean
vf_resample_stream_done(const VfResampleStream *st)
{
  return st->next_in == st->in_h;
}

void
vf_resample_stream_free(VfResampleStream *st)
{
  if (!st)
    return;
  vf_resample_axis_free(st->hax);
  vf_resample_axis_free(st->vax);
  g_free(st->ring);
  g_free(st->acc);
  g_free(st);
}

gboolean
vf_resample_bicubic_rgb8(const uint8_t *src, uint32_t in_w, uint32_t in_h, uint8_t *dst, uint32_t out_w,
                         uint32_t out_h, GError **error)
{
  g_assert(in_w > 0 && in_h > 0 && out_w > 0 && out_h > 0);
  g_autoptr(VfResampleStream) st = vf_resample_stream_new(in_w, in_h, dst, out_w, out_h, error);
  if (!st)
    return FALSE;
  for (uint32_t y = 0; y < in_h; y++)
    vf_resample_stream_push(st, src + (size_t)y * in_w * 3);
  return TRUE;
}
