/* Matrix products against weight matrices: GEMM for many rows, GEMV for one.
 *
 *   Y[M, N] = X[M, K] · W[N, K]ᵀ  (+ bias[N])  (+ residual[M, N])
 *
 * X, Y, residual: f32, row-major, contiguous. bias: f32 [N] (the loader widens
 * checkpoint biases to f32). W: bf16, f16 or f32 as stored, [N, K] row-major, or packed 4/8-bit
 * groups (w->packing.bits != 0: ops_matmul_quant.h, same variants and policy).
 * residual may alias Y (in-place residual add). Accumulation is f32. 16-bit weights are read as
 * 32-bit words: W's buffer must hold N·K·2 bytes rounded up to a multiple of 4 (arena buffers do).
 *
 * Weights larger than one binding (maxStorageBufferRange, or the texel-view
 * limit) are processed in windows of whole rows; X and Y must each fit one
 * binding (the callers chunk M).
 */
#pragma once

#include "ops_common.h"

typedef enum {
  VF_MATMUL_AUTO,          /* the device policy: GEMV for small M, GEMM otherwise, in the preferred family */
  VF_MATMUL_GEMM_TILED,    /* GPU: shared-memory tiles over storage buffers */
  VF_MATMUL_GEMM_TEXEL,    /* CPU drivers: register blocks read through uniform texel buffers */
  VF_MATMUL_GEMV_SUBGROUP, /* GPU: one workgroup per row block, subgroup reductions */
  VF_MATMUL_GEMV_TEXEL,    /* CPU drivers: texel buffers, a subgroup splits K over 8 rows at a time */
  VF_MATMUL_N_VARIANTS,
} VfMatmulVariant;

const char *vf_matmul_variant_name(VfMatmulVariant v);

/* Whether `variant` can run this shape on this device (alignment of K for texel reads, limits). */
gboolean vf_matmul_supports(VfDevice *dev, VfMatmulVariant variant, const VfMatrix *w, uint32_t m);

/* The variant VF_MATMUL_AUTO picks for this shape (printed by the bench). */
VfMatmulVariant vf_matmul_choose(VfDevice *dev, const VfMatrix *w, uint32_t m);

/* AUTO uses a GEMV variant for M below this (for the policy line and the bench). */
uint32_t vf_matmul_gemv_threshold(VfDevice *dev);

void vf_op_matmul(VfCmd *cmd, const VfBuffer *x, uint32_t m, const VfMatrix *w, const VfBuffer *bias,
                  const VfBuffer *residual, const VfBuffer *y);

void vf_op_matmul_variant(VfCmd *cmd, VfMatmulVariant variant, const VfBuffer *x, uint32_t m, const VfMatrix *w,
                          const VfBuffer *bias, const VfBuffer *residual, const VfBuffer *y);

/* An activation fused into the store of every variant:  Y = act(X · Wᵀ + bias) (+ residual).
 * QUICK_GELU computes exactly what vf_op_quick_gelu (unary.comp) does to the stored value, without the
 * extra pass over Y. */
typedef enum {
  VF_MATMUL_ACT_NONE,
  VF_MATMUL_ACT_QUICK_GELU,
} VfMatmulActivation;

void vf_op_matmul_act(VfCmd *cmd, VfMatmulVariant variant, const VfBuffer *x, uint32_t m, const VfMatrix *w,
                      const VfBuffer *bias, const VfBuffer *residual, VfMatmulActivation act, const VfBuffer *y);

/* Shapes the GPU-family kernels share with the packed ones (ops_matmul_quant.c). The tiled GEMM's tile: BM×BN
 * outputs per workgroup, BK-deep k-slices, TM×TN per invocation; FALSE when the device limits allow none. */
typedef struct {
  uint32_t bm, bn, bk, tm, tn;
} VfMatmulTile;
gboolean vf_matmul_tiled_config(const VfDeviceInfo *info, VfMatmulTile *t);
/* Invocations per workgroup of the subgroup GEMV: four subgroups (one weight row each at a time). */
uint32_t vf_matmul_gemv_subgroup_workgroup(const VfDeviceInfo *info);
