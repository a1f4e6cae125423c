/* Shared types of the op library.
 *
 * Every op records one or more dispatches into a VfCmd. Buffers are slices of
 * the arena (VfBuffer). Activations are f32, row-major. Weight matrices keep
 * the checkpoint's dtype and layout: [rows = outputs N, cols = inputs K],
 * row-major, so y = x · Wᵀ. Errors (bad shapes, device limits) are recorded
 * in the VfCmd and returned by vf_cmd_submit().
 */
#pragma once

#include <stdint.h>

#include "vf_arena.h"
#include "vf_cmd.h"
#include "vf_device.h"
#include "vf_dtype.h"
#include "vf_pipeline.h"

/* Quantized weights packed in groups (layout drawn in ops_matmul_quant.h). */
typedef struct {
  uint32_t bits;             /* 4 or 8; 0: the matrix is dense in its dtype */
  uint32_t group_width;      /* inputs per group; divides cols */
  VfBuffer groups;           /* u32 [rows, cols / group_width]: f16 scale | zero << 16 */
  VfBuffer g_idx;            /* u32 [parts, cols]: each input's group, or no buffer: group = k / group_width */
  uint32_t g_idx_rows[2];    /* fused parts: rows < [0] read g_idx row 0, rows < [1] row 1, the rest row 2 */
} VfPacking;

/* A weight matrix [rows, cols] in device memory: dense in `dtype`, or packed (packing.bits != 0, dtype
 * VF_DTYPE_I32: `buf` holds the packed words). */
typedef struct {
  VfBuffer buf;
  VfDType dtype;
  uint32_t rows; /* N: outputs */
  uint32_t cols; /* K: inputs */
  VfPacking packing;
} VfMatrix;

/* Splits `groups` workgroups over x and y so neither exceeds the device limit;
 * shaders recover the flat index with flat_group_index() (common.glsl). */
void vf_ops_grid(VfCmd *cmd, uint64_t groups, uint32_t *gx, uint32_t *gy);

/* Fetches a pipeline; on failure records the error in `cmd` and returns NULL. */
VfPipeline *vf_ops_pipeline(VfCmd *cmd, const char *shader, const char *bindings, uint32_t push_size,
                            const uint32_t *specs, uint32_t nspecs);

/* Records "op: message" as the command list's error. */
void vf_ops_fail(VfCmd *cmd, const char *op, const char *format, ...) G_GNUC_PRINTF(3, 4);

/* Which kernel family a device prefers, from its kind, overridable by VF_KERNELS=gpu|cpu.
 * GPU: shared-memory tiling and subgroup reductions over storage buffers.
 * CPU (lavapipe): register-blocked kernels reading through uniform texel buffers, no shared memory. */
typedef enum {
  VF_KERNELS_GPU,
  VF_KERNELS_CPU,
} VfKernelFamily;

VfKernelFamily vf_ops_kernel_family(VfDevice *dev);
/* One line describing the per-device choices, printed at start-up. */
const char *vf_ops_policy_summary(VfDevice *dev);
