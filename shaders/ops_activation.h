/* Activations and small element-wise ops, f32. */
#pragma once

#include "ops_common.h"

/* Y[r, i] = silu(X[r, gate + i]) · X[r, up + i],  i < width; X rows of `row_stride` floats,
 * Y [rows, width] contiguous. silu(u) = u / (1 + exp(−u)). */
void vf_op_silu_mul(VfCmd *cmd, const VfBuffer *x, uint32_t rows, uint32_t row_stride, uint32_t gate,
                    uint32_t up, uint32_t width, const VfBuffer *y);

/* Y = X · sigmoid(1.702 · X), n elements; Y may alias X. */
void vf_op_quick_gelu(VfCmd *cmd, const VfBuffer *x, const VfBuffer *y, uint32_t n);

/* Y = 0.5 · X · (1 + erf(X / √2)) (exact GELU), n elements; Y may alias X. */
void vf_op_gelu(VfCmd *cmd, const VfBuffer *x, const VfBuffer *y, uint32_t n);

/* Y[i, :] = float(table[ids[i], :]) for i < n; table bf16/f16/f32 [rows, width] (windowed when larger than
 * one binding); ids int32 [n]; Y f32 [n, width]. Ids outside the table give zero rows. */
void vf_op_embed(VfCmd *cmd, const VfMatrix *table, const VfBuffer *ids, uint32_t n, const VfBuffer *y);

/* out[0] = the index of the largest of x[0 .. n) (the lowest index among equal maxima), as uint32. */
void vf_op_argmax(VfCmd *cmd, const VfBuffer *x, uint32_t n, const VfBuffer *out);
