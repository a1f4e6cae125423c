/* CPU references of RMSNorm and LayerNorm: f32 in and out, double statistics. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* y[r, :] = x[r, :] / sqrt(mean(x[r, :]²) + eps) · w        x, y: [rows, width]; w: [width] */
void ref_rmsnorm(const float *x, const float *w, float *y, uint32_t rows, uint32_t width, float eps);

/* y[r, :] = (x[r, :] − mean) / sqrt(var + eps) · w + b      (biased variance) */
void ref_layernorm(const float *x, const float *w, const float *b, float *y, uint32_t rows, uint32_t width,
                   float eps);
