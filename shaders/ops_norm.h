/* Normalisations over the last dimension, f32 in and out, f32 statistics. */
#pragma once

#include "ops_common.h"
#include "ops_reduce.h"

/* Y[r, :] = X[r, :] · rsqrt(mean(X[r, :]²) + eps) · weight       X, Y: [rows, width]; weight f32 [width].
 * Y may alias X. */
void vf_op_rmsnorm(VfCmd *cmd, const VfBuffer *x, const VfBuffer *weight, const VfBuffer *y, uint32_t rows,
                   uint32_t width, float eps);

/* Y[r, :] = (X[r, :] − mean) · rsqrt(var + eps) · weight + bias   (biased variance)
 * X, Y: [rows, width]; weight, bias f32 [width]. Y may alias X. */
void vf_op_layernorm(VfCmd *cmd, const VfBuffer *x, const VfBuffer *weight, const VfBuffer *bias,
                     const VfBuffer *y, uint32_t rows, uint32_t width, float eps);

/* The same with an explicit reduction instead of the device's choice (vf_ops_reduction), so that the
 * tests run every variant on every device. */
void vf_op_rmsnorm_with(VfCmd *cmd, VfReduction reduction, const VfBuffer *x, const VfBuffer *weight,
                        const VfBuffer *y, uint32_t rows, uint32_t width, float eps);
void vf_op_layernorm_with(VfCmd *cmd, VfReduction reduction, const VfBuffer *x, const VfBuffer *weight,
                          const VfBuffer *bias, const VfBuffer *y, uint32_t rows, uint32_t width, float eps);
