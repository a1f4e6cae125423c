/* RMSNorm and LayerNorm: one workgroup per row (norm.comp), windows of rows when X is larger than one
 * storage binding. */
#define G_LOG_DOMAIN "vf-ops"

#include "ops_norm.h"

#include "ops_window.h"

typedef struct {
  uint32_t rows;
  uint32_t width;
  float eps;
} NormPush;

static void
norm(VfCmd *cmd, const char *op, VfReduction red, const VfBuffer *x, const VfBuffer *weight, const VfBuffer *bias,
     const VfBuffer *y, uint32_t rows, uint32_t width, float eps)
{
  VfDevice *dev = vf_cmd_device(cmd);
  uint64_t row_bytes = (uint64_t)width * 4;
  if (width == 0) {
    vf_ops_fail(cmd, op, "width is 0");
    return;
  }
  if (rows * row_bytes > x->size || rows * row_bytes > y->size) {
    vf_ops_fail(cmd, op, "%u rows of %u floats do not fit X (%" G_GUINT64_FORMAT " bytes) or Y (%" G_GUINT64_FORMAT
                " bytes)", rows, width, (guint64)x->size, (guint64)y->size);
    return;
  }
  if (row_bytes > weight->size || (bias && row_bytes > bias->size)) {
    vf_ops_fail(cmd, op, "the weight or bias buffer holds fewer than %u floats", width);
    return;
  }
  if (!vf_ops_reduction_supported(dev, red)) {
    vf_ops_fail(cmd, op, "this device cannot run a %s reduction over %u invocations",
                red.subgroup ? "subgroup" : "shared-memory", red.workgroup);
    return;
  }
  if (rows == 0)
    return;
  uint64_t sizes[] = {row_bytes};
  uint32_t per_window = vf_ops_window_rows(dev, rows, sizes, 1, 0);
  if (per_window == 0) {
    vf_ops_fail(cmd, op, "a row of %u floats does not fit one storage binding", width);
    return;
  }

  g_autofree char *shader = g_strdup_printf("%s_%s", op, red.subgroup ? "subgroup" : "shared");
  VfPipeline *p = vf_ops_pipeline(cmd, shader, bias ? "rrrw" : "rrw", sizeof(NormPush), &red.workgroup, 1);
  if (!p)
    return;
  for (uint32_t first = 0; first < rows; first += per_window) {
    uint32_t count = MIN(per_window, rows - first);
    NormPush push = {.rows = count, .width = width, .eps = eps};
    VfBinding b[4];
    uint32_t nb = 0;
    b[nb++] = (VfBinding){vf_ops_window(x, row_bytes, first, count)};
    b[nb++] = (VfBinding){vf_buffer_slice(weight, 0, row_bytes)};
    if (bias)
      b[nb++] = (VfBinding){vf_buffer_slice(bias, 0, row_bytes)};
    b[nb++] = (VfBinding){vf_ops_window(y, row_bytes, first, count)};
    uint32_t gx, gy;
    vf_ops_grid(cmd, count, &gx, &gy);
    vf_cmd_dispatch(cmd, p, b, nb, &push, gx, gy, 1);
  }
}

void
vf_op_rmsnorm_with(VfCmd *cmd, VfReduction reduction, const VfBuffer *x, const VfBuffer *weight, const VfBuffer *y,
                   uint32_t rows, uint32_t width, float eps)
{
  norm(cmd, "rmsnorm", reduction, x, weight, NULL, y, rows, width, eps);
}

void
vf_op_layernorm_with(VfCmd *cmd, VfReduction reduction, const VfBuffer *x, const VfBuffer *weight,
                     const VfBuffer *bias, const VfBuffer *y, uint32_t rows, uint32_t width, float eps)
{
  norm(cmd, "layernorm", reduction, x, weight, bias, y, rows, width, eps);
}

void
vf_op_rmsnorm(VfCmd *cmd, const VfBuffer *x, const VfBuffer *weight, const VfBuffer *y, uint32_t rows,
              uint32_t width, float eps)
{
  vf_op_rmsnorm_with(cmd, vf_ops_reduction(vf_cmd_device(cmd)), x, weight, y, rows, width, eps);
}

void
vf_op_layernorm(VfCmd *cmd, const VfBuffer *x, const VfBuffer *weight, const VfBuffer *bias, const VfBuffer *y,
                uint32_t rows, uint32_t width, float eps)
{
  vf_op_layernorm_with(cmd, vf_ops_reduction(vf_cmd_device(cmd)), x, weight, bias, y, rows, width, eps);
}
