#include "ref_norm.h"

#include <math.h>

void
ref_rmsnorm(const float *x, const float *w, float *y, uint32_t rows, uint32_t width, float eps)
{
  for (uint32_t r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * width;
    double ss = 0;
    for (uint32_t i = 0; i < width; i++)
      ss += (double)xr[i] * xr[i];
    double scale = 1.0 / sqrt(ss / width + eps);
    for (uint32_t i = 0; i < width; i++)
      y[(size_t)r * width + i] = (float)(xr[i] * scale * w[i]);
  }
}

void
ref_layernorm(const float *x, const float *w, const float *b, float *y, uint32_t rows, uint32_t width, float eps)
{
  for (uint32_t r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * width;
    double sum = 0;
    for (uint32_t i = 0; i < width; i++)
      sum += xr[i];
    double mean = sum / width;
    double ss = 0;
    for (uint32_t i = 0; i < width; i++)
      ss += (xr[i] - mean) * (xr[i] - mean);
    double scale = 1.0 / sqrt(ss / width + eps);
    for (uint32_t i = 0; i < width; i++)
      y[(size_t)r * width + i] = (float)((xr[i] - mean) * scale * w[i] + b[i]);
  }
}
