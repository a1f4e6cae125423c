/* CPU reference for the matmul ops, in double:
 *
 *   y[i, j] = Σ_k x[i, k] · w[j, k]  (+ bias[j])  (+ residual[i, j])
 *
 * x: f32 [m, k] row-major; w: f32 [n, k] row-major (16-bit weights decoded exactly beforehand);
 * bias: f32 [n] or NULL; residual: f32 [m, n] or NULL.
 */
#pragma once

#include <stdint.h>

/* One output from a row of x and a row of w. *magnitude (may be NULL) receives
 * Σ_k |x_k·w_k| + |bias| + |residual|, the scale of the rounding error of an f32 computation. */
double ref_matmul_one(const float *x_row, const float *w_row, uint32_t k, const float *bias_j,
                      const float *residual_ij, double *magnitude);

/* The whole product: y and magnitude are double [m, n] (magnitude may be NULL). */
void ref_matmul(const float *x, uint32_t m, const float *w, uint32_t n, uint32_t k, const float *bias,
                const float *residual, double *y, double *magnitude);
