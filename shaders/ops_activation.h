/* Activations and small element-wise ops, f32. */
#pragma once

#include "ops_common.h"
#include "ops_reduce.h"

typedef struct {
  uint32_t rows;
  uint32_t row_stride; /* floats per row of X */
  uint32_t gate;       /* first column of the gate half */
  uint32_t up;         /* first column of the up half */
  uint32_t width;      /* columns of each half, and of Y */
} VfSiluMulShape;

/* Y[r, i] = silu(X[r, gate + i]) · X[r, up + i],  i < width; Y [rows, width] contiguous.
 * silu(u) = u / (1 + exp(−u)). */
void vf_op_silu_mul(VfCmd *cmd, const VfBuffer *x, const VfSiluMulShape *shape, const VfBuffer *y);

/* Y = X · sigmoid(1.702 · X), n elements; Y may alias X. */
void vf_op_quick_gelu(VfCmd *cmd, const VfBuffer *x, const VfBuffer *y, uint32_t n);

/* Y = 0.5 · X · (1 + erf(X / √2)) (exact GELU), n elements; Y may alias X. */
void vf_op_gelu(VfCmd *cmd, const VfBuffer *x, const VfBuffer *y, uint32_t n);

/* Y = erf(X), n elements, with the shader erf that vf_op_gelu uses (a few ulp; the tests hold it to
 * C's erf). Y may alias X. */
void vf_op_erf(VfCmd *cmd, const VfBuffer *x, const VfBuffer *y, uint32_t n);

/* Y[i, :] = float(table[ids[i], :]) for i < n; table bf16/f16/f32 [rows, width] (windowed when larger than
 * one binding); ids int32 [n]; Y f32 [n, width]. Ids outside the table give zero rows. */
void vf_op_embed(VfCmd *cmd, const VfMatrix *table, const VfBuffer *ids, uint32_t n, const VfBuffer *y);

/* vf_op_embed with windows of at most `window_bytes` of the table (vf_op_embed uses the device's
 * maxStorageBufferRange), so that a test can cross many window boundaries with a small table. */
void vf_op_embed_windowed(VfCmd *cmd, const VfMatrix *table, const VfBuffer *ids, uint32_t n, const VfBuffer *y,
                          uint64_t window_bytes);

/* Bytes of scratch vf_op_argmax needs for n values (per-workgroup partial results of pass 1). */
uint64_t vf_op_argmax_scratch_size(uint32_t n);

/* out[0] = the index of the largest of x[0 .. n) (the lowest index among equal maxima; NaN counts as
 * larger than any number, as in torch.argmax), as uint32. Two passes; scratch: at least
 * vf_op_argmax_scratch_size(n) bytes. */
void vf_op_argmax(VfCmd *cmd, const VfBuffer *x, uint32_t n, const VfBuffer *scratch, const VfBuffer *out);

/* The same with an explicit reduction (see ops_reduce.h), for the tests. */
void vf_op_argmax_with(VfCmd *cmd, VfReduction reduction, const VfBuffer *x, uint32_t n, const VfBuffer *scratch,
                       const VfBuffer *out);
