/* Rotary position embedding (rope.comp): one dispatch per window of rows. */
#define G_LOG_DOMAIN "vf-ops"

#include "ops_rope.h"

#include "ops_window.h"

typedef struct {
  uint32_t rows;
  uint32_t row_base;
  uint32_t total_rows;
  uint32_t row_stride;
  uint32_t heads;
  uint32_t head_dim;
  uint32_t section0;
  uint32_t section01;
  uint32_t max_position;
} RopePush;

void
vf_op_rope(VfCmd *cmd, const VfBuffer *x, const VfRopeShape *shape, const VfBuffer *positions,
           const VfBuffer *cos_table, const VfBuffer *sin_table)
{
  uint32_t rows = shape->rows, row_stride = shape->row_stride, heads = shape->heads, head_dim = shape->head_dim;
  const uint32_t *sections = shape->sections;
  uint32_t max_position = shape->max_position;
  VfDevice *dev = vf_cmd_device(cmd);
  uint32_t freqs = head_dim / 2;
  if (head_dim == 0 || head_dim % 2 != 0) {
    vf_ops_fail(cmd, "rope", "head_dim %u is not a positive even number", head_dim);
    return;
  }
  if ((uint64_t)heads * head_dim > row_stride) {
    vf_ops_fail(cmd, "rope", "%u heads of %u do not fit a row of %u floats", heads, head_dim, row_stride);
    return;
  }
  if ((uint64_t)sections[0] + sections[1] + sections[2] != freqs) {
    vf_ops_fail(cmd, "rope", "sections [%u, %u, %u] do not add up to head_dim / 2 = %u", sections[0], sections[1],
                sections[2], freqs);
    return;
  }
  uint64_t row_bytes = (uint64_t)row_stride * 4;
  uint64_t table_bytes = (uint64_t)max_position * freqs * 4;
  if (rows * row_bytes > x->size) {
    vf_ops_fail(cmd, "rope", "%u rows of %u floats do not fit X (%" G_GUINT64_FORMAT " bytes)", rows, row_stride,
                (guint64)x->size);
    return;
  }
  if ((uint64_t)rows * 3 * 4 > positions->size) {
    vf_ops_fail(cmd, "rope", "positions hold fewer than 3 × %u int32", rows);
    return;
  }
  if (max_position == 0 || table_bytes > cos_table->size || table_bytes > sin_table->size) {
    vf_ops_fail(cmd, "rope", "the cos/sin tables hold fewer than %u × %u floats", max_position, freqs);
    return;
  }
  if (rows == 0 || heads == 0)
    return;
  uint64_t sizes[] = {row_bytes};
  uint32_t per_window = vf_ops_window_rows(dev, rows, sizes, 1, 0);
  if (per_window == 0) {
    vf_ops_fail(cmd, "rope", "a row of %u floats does not fit one storage binding", row_stride);
    return;
  }
  VfPipeline *p = vf_ops_pipeline(cmd, "rope", "wrrr", sizeof(RopePush), NULL, 0);
  if (!p)
    return;
  for (uint32_t first = 0; first < rows; first += per_window) {
    uint32_t count = MIN(per_window, rows - first);
    RopePush push = {
      .rows = count,
      .row_base = first,
      .total_rows = rows,
      .row_stride = row_stride,
      .heads = heads,
      .head_dim = head_dim,
      .section0 = sections[0],
      .section01 = sections[0] + sections[1],
      .max_position = max_position,
    };
    VfBinding b[] = {
      {vf_ops_window(x, row_bytes, first, count)},
      {vf_buffer_slice(positions, 0, (uint64_t)rows * 3 * 4)},
      {vf_buffer_slice(cos_table, 0, table_bytes)},
      {vf_buffer_slice(sin_table, 0, table_bytes)},
    };
    uint32_t gx, gy;
    vf_ops_grid(cmd, ((uint64_t)count * freqs + 63) / 64, &gx, &gy);
    vf_cmd_dispatch(cmd, p, b, 4, &push, gx, gy, 1);
  }
}
