/* CPU reference for the matmul ops (double accumulation). */
#include "ref_matmul.h"

#include <math.h>
#include <stddef.h>

double
ref_matmul_one(const float *x_row, const float *w_row, uint32_t k, const float *bias_j, const float *residual_ij,
               double *magnitude)
{
  double sum = 0, mag = 0;
  for (uint32_t i = 0; i < k; i++) {
    double t = (double)x_row[i] * (double)w_row[i];
    sum += t;
    mag += fabs(t);
  }
  if (bias_j) {
    sum += *bias_j;
    mag += fabs((double)*bias_j);
  }
  if (residual_ij) {
    sum += *residual_ij;
    mag += fabs((double)*residual_ij);
  }
  if (magnitude)
    *magnitude = mag;
  return sum;
}

void
ref_matmul(const float *x, uint32_t m, const float *w, uint32_t n, uint32_t k, const float *bias,
           const float *residual, double *y, double *magnitude)
{
  for (uint32_t i = 0; i < m; i++)
    for (uint32_t j = 0; j < n; j++) {
      size_t ij = (size_t)i * n + j;
      y[ij] = ref_matmul_one(x + (size_t)i * k, w + (size_t)j * k, k, bias ? bias + j : NULL,
                             residual ? residual + ij : NULL, magnitude ? magnitude + ij : NULL);
    }
}
