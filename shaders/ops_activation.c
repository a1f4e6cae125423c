/* Activations (silu·mul, QuickGELU, exact GELU, erf), embedding gather and argmax. */
#define G_LOG_DOMAIN "vf-ops"

#include "ops_activation.h"

#include "ops_window.h"

/* Elements per workgroup of the element-wise shaders (local_size_x of unary.comp and silu_mul.comp). */
#define ELEMENTWISE_GROUP 256u
/* Elements each workgroup of argmax pass 1 scans. */
#define ARGMAX_CHUNK 1024u

typedef struct {
  uint32_t rows;
  uint32_t row_stride;
  uint32_t gate;
  uint32_t up;
  uint32_t width;
} SiluMulPush;

void
vf_op_silu_mul(VfCmd *cmd, const VfBuffer *x, const VfSiluMulShape *shape, const VfBuffer *y)
{
  uint32_t rows = shape->rows, row_stride = shape->row_stride, gate = shape->gate, up = shape->up;
  uint32_t width = shape->width;
  VfDevice *dev = vf_cmd_device(cmd);
  if ((uint64_t)gate + width > row_stride || (uint64_t)up + width > row_stride) {
    vf_ops_fail(cmd, "silu_mul", "columns gate %u / up %u + width %u exceed a row of %u floats", gate, up, width,
                row_stride);
    return;
  }
  uint64_t x_row = (uint64_t)row_stride * 4, y_row = (uint64_t)width * 4;
  if (rows * x_row > x->size || rows * y_row > y->size) {
    vf_ops_fail(cmd, "silu_mul", "%u rows do not fit X (%" G_GUINT64_FORMAT " bytes) or Y (%" G_GUINT64_FORMAT
                " bytes)", rows, (guint64)x->size, (guint64)y->size);
    return;
  }
  if (rows == 0 || width == 0)
    return;
  uint64_t sizes[] = {x_row, y_row};
  uint32_t per_window = vf_ops_window_rows(dev, rows, sizes, 2, 0);
  if (per_window == 0) {
    vf_ops_fail(cmd, "silu_mul", "a row of %u floats does not fit one storage binding", row_stride);
    return;
  }
  VfPipeline *p = vf_ops_pipeline(cmd, "silu_mul", "rw", sizeof(SiluMulPush), NULL, 0);
  if (!p)
    return;
  for (uint32_t first = 0; first < rows; first += per_window) {
    uint32_t count = MIN(per_window, rows - first);
    SiluMulPush push = {.rows = count, .row_stride = row_stride, .gate = gate, .up = up, .width = width};
    VfBinding b[] = {{vf_ops_window(x, x_row, first, count)}, {vf_ops_window(y, y_row, first, count)}};
    uint32_t gx, gy;
    vf_ops_grid(cmd, ((uint64_t)count * width + ELEMENTWISE_GROUP - 1) / ELEMENTWISE_GROUP, &gx, &gy);
    vf_cmd_dispatch(cmd, p, b, 2, &push, gx, gy, 1);
  }
}

/* One module of unary.comp over n floats, in windows of elements that each fit one binding. */
static void
unary(VfCmd *cmd, const char *op, const VfBuffer *x, const VfBuffer *y, uint32_t n)
{
  if ((uint64_t)n * 4 > x->size || (uint64_t)n * 4 > y->size) {
    vf_ops_fail(cmd, op, "%u elements do not fit the buffers", n);
    return;
  }
  if (n == 0)
    return;
  uint64_t sizes[] = {4};
  uint32_t per_window = vf_ops_window_rows(vf_cmd_device(cmd), n, sizes, 1, 0);
  VfPipeline *p = vf_ops_pipeline(cmd, op, "rw", sizeof(uint32_t), NULL, 0);
  if (!p)
    return;
  for (uint32_t first = 0; first < n; first += per_window) {
    uint32_t count = MIN(per_window, n - first);
    VfBinding b[] = {{vf_ops_window(x, 4, first, count)}, {vf_ops_window(y, 4, first, count)}};
    uint32_t gx, gy;
    vf_ops_grid(cmd, (count + ELEMENTWISE_GROUP - 1) / ELEMENTWISE_GROUP, &gx, &gy);
    vf_cmd_dispatch(cmd, p, b, 2, &count, gx, gy, 1);
  }
}

void
vf_op_quick_gelu(VfCmd *cmd, const VfBuffer *x, const VfBuffer *y, uint32_t n)
{
  unary(cmd, "quick_gelu", x, y, n);
}

void
vf_op_gelu(VfCmd *cmd, const VfBuffer *x, const VfBuffer *y, uint32_t n)
{
  unary(cmd, "gelu", x, y, n);
}

void
vf_op_erf(VfCmd *cmd, const VfBuffer *x, const VfBuffer *y, uint32_t n)
{
  unary(cmd, "erf", x, y, n);
}

/* ---- embedding -------------------------------------------------------------------------------- */

typedef struct {
  uint32_t n;
  uint32_t width;
  uint32_t row_begin;
  uint32_t row_count;
  uint32_t table_rows;
  uint32_t zero_outside;
} EmbedPush;

void
vf_op_embed_windowed(VfCmd *cmd, const VfMatrix *table, const VfBuffer *ids, uint32_t n, const VfBuffer *y,
                     uint64_t window_bytes)
{
  VfDevice *dev = vf_cmd_device(cmd);
  const char *shader;
  switch (table->dtype) {
  case VF_DTYPE_BF16: shader = "embed_bf16"; break;
  case VF_DTYPE_F16: shader = "embed_f16"; break;
  case VF_DTYPE_F32: shader = "embed_f32"; break;
  default:
    vf_ops_fail(cmd, "embed", "a %s table cannot be gathered (bf16, f16 or f32 only)", vf_dtype_name(table->dtype));
    return;
  }
  uint32_t width = table->cols;
  uint64_t row_bytes = (uint64_t)width * vf_dtype_size(table->dtype);
  uint64_t table_bytes = (uint64_t)table->rows * row_bytes;
  /* The shader reads 16-bit values as whole 32-bit words, so the last one must be in the buffer. */
  if (width == 0 || table->rows == 0 || (table_bytes + 3) / 4 * 4 > table->buf.size) {
    vf_ops_fail(cmd, "embed", "the table buffer (%" G_GUINT64_FORMAT " bytes) does not hold %u × %u %s values "
                "(rounded up to whole 32-bit words)", (guint64)table->buf.size, table->rows, width,
                vf_dtype_name(table->dtype));
    return;
  }
  if ((uint64_t)n * 4 > ids->size || (uint64_t)n * width * 4 > y->size) {
    vf_ops_fail(cmd, "embed", "%u ids do not fit the ids buffer or Y", n);
    return;
  }
  if (n == 0)
    return;
  /* Windows of whole rows, an even number of them for 16-bit rows of odd width, so that every window
   * starts on a 32-bit word even where the storage offset alignment is smaller than 4. */
  uint64_t sizes[] = {row_bytes};
  uint32_t per_window = vf_ops_window_rows(dev, table->rows, sizes, 1, window_bytes);
  if (per_window < table->rows && row_bytes % 4 != 0)
    per_window -= per_window % 2;
  if (per_window == 0) {
    vf_ops_fail(cmd, "embed", "no window of whole %" G_GUINT64_FORMAT "-byte table rows fits one binding of %"
                G_GUINT64_FORMAT " bytes at the device's offset alignment", (guint64)row_bytes,
                (guint64)(window_bytes ? window_bytes : vf_device_get_info(dev)->max_storage_range));
    return;
  }
  VfPipeline *p = vf_ops_pipeline(cmd, shader, "rrw", sizeof(EmbedPush), NULL, 0);
  if (!p)
    return;
  VfBuffer ids_used = vf_buffer_slice(ids, 0, (uint64_t)n * 4);
  VfBuffer y_used = vf_buffer_slice(y, 0, (uint64_t)n * width * 4);
  uint32_t gx, gy;
  vf_ops_grid(cmd, n, &gx, &gy);
  for (uint32_t first = 0; first < table->rows; first += per_window) {
    uint32_t count = MIN(per_window, table->rows - first);
    uint64_t offset = first * row_bytes;
    uint64_t bytes = MIN((count * row_bytes + 3) / 4 * 4, table->buf.size - offset);
    EmbedPush push = {
      .n = n,
      .width = width,
      .row_begin = first,
      .row_count = count,
      .table_rows = table->rows,
      .zero_outside = first == 0,
    };
    VfBinding b[] = {{vf_buffer_slice(&table->buf, offset, bytes)}, {ids_used}, {y_used}};
    vf_cmd_dispatch(cmd, p, b, 3, &push, gx, gy, 1);
  }
}

void
vf_op_embed(VfCmd *cmd, const VfMatrix *table, const VfBuffer *ids, uint32_t n, const VfBuffer *y)
{
  vf_op_embed_windowed(cmd, table, ids, n, y, 0);
}

/* ---- argmax ------------------------------------------------------------------------------------ */

typedef struct {
  uint32_t n;
  uint32_t chunk;
} ArgmaxPush;

uint64_t
vf_op_argmax_scratch_size(uint32_t n)
{
  uint64_t groups = ((uint64_t)n + ARGMAX_CHUNK - 1) / ARGMAX_CHUNK;
  return MAX(groups, 1) * 2 * sizeof(uint32_t);
}

void
vf_op_argmax_with(VfCmd *cmd, VfReduction red, const VfBuffer *x, uint32_t n, const VfBuffer *scratch,
                  const VfBuffer *out)
{
  VfDevice *dev = vf_cmd_device(cmd);
  if (n == 0) {
    vf_ops_fail(cmd, "argmax", "no values");
    return;
  }
  uint64_t scratch_bytes = vf_op_argmax_scratch_size(n);
  if ((uint64_t)n * 4 > x->size || scratch_bytes > scratch->size || out->size < 4) {
    vf_ops_fail(cmd, "argmax", "%u values do not fit X, or scratch (%" G_GUINT64_FORMAT " bytes, %" G_GUINT64_FORMAT
                " needed) or out is too small", n, (guint64)scratch->size, (guint64)scratch_bytes);
    return;
  }
  if (!vf_ops_reduction_supported(dev, red)) {
    vf_ops_fail(cmd, "argmax", "this device cannot run a %s reduction over %u invocations",
                red.subgroup ? "subgroup" : "shared-memory", red.workgroup);
    return;
  }
  const char *kind = red.subgroup ? "subgroup" : "shared";
  g_autofree char *partial_name = g_strdup_printf("argmax_%s", kind);
  g_autofree char *final_name = g_strdup_printf("argmax_final_%s", kind);
  VfPipeline *partial = vf_ops_pipeline(cmd, partial_name, "rw", sizeof(ArgmaxPush), &red.workgroup, 1);
  VfPipeline *final = vf_ops_pipeline(cmd, final_name, "rw", sizeof(ArgmaxPush), &red.workgroup, 1);
  if (!partial || !final)
    return;
  uint32_t groups = (uint32_t)(scratch_bytes / 8);
  VfBuffer pairs = vf_buffer_slice(scratch, 0, scratch_bytes);

  ArgmaxPush push1 = {.n = n, .chunk = ARGMAX_CHUNK};
  VfBinding b1[] = {{vf_buffer_slice(x, 0, (uint64_t)n * 4)}, {pairs}};
  uint32_t gx, gy;
  vf_ops_grid(cmd, groups, &gx, &gy);
  vf_cmd_dispatch(cmd, partial, b1, 2, &push1, gx, gy, 1);

  ArgmaxPush push2 = {.n = groups, .chunk = 0};
  VfBinding b2[] = {{pairs}, {vf_buffer_slice(out, 0, 4)}};
  vf_cmd_dispatch(cmd, final, b2, 2, &push2, 1, 1, 1);
}

void
vf_op_argmax(VfCmd *cmd, const VfBuffer *x, uint32_t n, const VfBuffer *scratch, const VfBuffer *out)
{
  vf_op_argmax_with(cmd, vf_ops_reduction(vf_cmd_device(cmd)), x, n, scratch, out);
}
