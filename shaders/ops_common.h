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

/* A weight matrix [rows, cols] in device memory. */
typedef struct {
  VfBuffer buf;
  VfDType dtype;
  uint32_t rows; /* N: outputs */
  uint32_t cols; /* K: inputs */
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
