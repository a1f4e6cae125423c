/* CPU references of the activations, the embedding gather and argmax (double arithmetic). */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* y[r, i] = silu(x[r, gate + i]) · x[r, up + i] */
void ref_silu_mul(const float *x, uint32_t rows, uint32_t row_stride, uint32_t gate, uint32_t up, uint32_t width,
                  float *y);
/* x · sigmoid(1.702 x) */
float ref_quick_gelu(float x);
/* 0.5 · x · (1 + erf(x / √2)), evaluated as 0.5 · x · erfc(−x / √2) so the negative tail keeps its digits */
float ref_gelu(float x);

/* y[i, :] = table[ids[i], :] widened to f32 (zero rows for ids outside [0, rows)); the table is given
 * as f32 values of its entries. */
void ref_embed(const float *table, uint32_t rows, uint32_t width, const int32_t *ids, uint32_t n, float *y);

/* torch.argmax: the first index of the maximum; any NaN is the maximum (the first NaN wins). */
uint32_t ref_argmax(const float *x, uint32_t n);
