#include "ref_activation.h"

#include <math.h>
#include <string.h>

void
ref_silu_mul(const float *x, uint32_t rows, uint32_t row_stride, uint32_t gate, uint32_t up, uint32_t width,
             float *y)
{
  for (uint32_t r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * row_stride;
    for (uint32_t i = 0; i < width; i++) {
      double u = xr[gate + i];
      y[(size_t)r * width + i] = (float)(u / (1.0 + exp(-u)) * xr[up + i]);
    }
  }
}

float
ref_quick_gelu(float x)
{
  return (float)(x / (1.0 + exp(-1.702 * x)));
}

float
ref_gelu(float x)
{
  return (float)(0.5 * x * erfc(-(double)x / sqrt(2.0)));
}

void
ref_embed(const float *table, uint32_t rows, uint32_t width, const int32_t *ids, uint32_t n, float *y)
{
  for (uint32_t i = 0; i < n; i++) {
    float *out = y + (size_t)i * width;
    if (ids[i] < 0 || (uint32_t)ids[i] >= rows)
      memset(out, 0, width * sizeof(float));
    else
      memcpy(out, table + (size_t)ids[i] * width, width * sizeof(float));
  }
}

uint32_t
ref_argmax(const float *x, uint32_t n)
{
  uint32_t best = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (isnan(x[i]))
      return i;
    if (x[i] > x[best])
      best = i;
  }
  return best;
}
