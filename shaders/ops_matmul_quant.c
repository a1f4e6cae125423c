/* Matrix products against packed weights: limits, windows and dispatch (layout in ops_matmul_quant.h).
 *
 * A packed matrix larger than one binding is split into windows of whole rows, as dense matrices are:
 * the word array and the group array are sliced at the same rows, so R (rows per window) keeps both
 * slices' offsets multiples of the binding offset alignment and both slices inside the binding limit.
 * g_idx is bound whole (it is indexed by the matrix row, col0 + window row).
 */
#define G_LOG_DOMAIN "vf-ops"

#include "ops_matmul_quant.h"
#include "ops_window.h"

/* Kernel shapes. Texel variants: the dense kernels' blocks (tuned on lavapipe, see ops_matmul.c). GPU
 * variants: the dense kernels' workgroups and tiles (vf_matmul_tiled_config, ..._gemv_subgroup_workgroup). */
#define GEMM_TEXEL_WORKGROUP 8u
#define GEMM_TEXEL_BLOCK 8u
#define GEMV_TEXEL_WORKGROUP 64u
#define GEMV_TEXEL_ROWS_PER_PASS 8u

typedef struct {
  uint32_t m, n, k, ldy, col0, flags, groups, group_width, part_end0, part_end1;
} QuantPush;

#define HAS_BIAS 1u
#define HAS_RESIDUAL 2u
#define ACT_ORDER 4u


static bool
is_texel(VfMatmulVariant v)
{
  return v == VF_MATMUL_GEMM_TEXEL || v == VF_MATMUL_GEMV_TEXEL;
}

static uint32_t
inputs_per_word(uint32_t bits)
{
  return 32 / bits;
}

uint64_t
vf_packed_words_bytes(uint32_t bits, uint32_t rows, uint32_t cols)
{
  return (uint64_t)rows * (cols / inputs_per_word(bits)) * 4;
}

uint64_t
vf_packed_groups_bytes(uint32_t rows, uint32_t cols, uint32_t group_width)
{
  return (uint64_t)rows * (cols / group_width) * 4;
}

static uint64_t
lcm(uint64_t a, uint64_t b)
{
  return a / vf_ops_gcd(a, b) * b;
}

/* Rows per window (all rows when both arrays fit one binding); 0 when not one aligned window fits. */
static uint32_t
window_rows(const VfDeviceInfo *info, VfMatmulVariant v, const VfMatrix *w)
{
  uint64_t word_row = vf_packed_words_bytes(w->packing.bits, 1, w->cols);
  uint64_t group_row = vf_packed_groups_bytes(1, w->cols, w->packing.group_width);
  /* Texel views count elements: 16-byte texels of words, 4-byte texels of group words. */
  uint64_t word_limit = is_texel(v) ? info->max_texel_elements * 16 : info->max_storage_range;
  uint64_t group_limit = is_texel(v) ? info->max_texel_elements * 4 : info->max_storage_range;
  if (w->rows * word_row <= word_limit && w->rows * group_row <= group_limit)
    return w->rows;
  uint64_t align = MAX(is_texel(v) ? info->texel_align : info->storage_align, 1);
  uint64_t step = lcm(align / vf_ops_gcd(word_row, align), align / vf_ops_gcd(group_row, align));
  uint64_t rows = MIN(word_limit / word_row, group_limit / group_row);
  rows -= rows % step;
  return (uint32_t)MIN(rows, (uint64_t)w->rows);
}

static bool
has_g_idx(const VfMatrix *w)
{
  return w->packing.g_idx.buffer != VK_NULL_HANDLE;
}

/* Inputs a variant dequantizes with one group word: a texel (4 words) or a word. */
static uint32_t
block_inputs(VfMatmulVariant v, uint32_t bits)
{
  return (v == VF_MATMUL_GEMM_TILED ? 1 : is_texel(v) ? 4 : 1) * inputs_per_word(bits);
}

const char *
vf_matmul_quant_unsupported(VfDevice *dev, VfMatmulVariant v, const VfMatrix *w, uint32_t m)
{
  const VfDeviceInfo *info = vf_device_get_info(dev);
  const VfPacking *q = &w->packing;
  if (q->bits != 4 && q->bits != 8)
    return "packed weights must have 4 or 8 bits";
  if (m == 0 || w->rows == 0 || w->cols == 0)
    return "empty shape";
  uint32_t per_word = inputs_per_word(q->bits);
  if (w->cols % per_word)
    return "K is not a whole number of packed words";
  if (q->group_width == 0 || w->cols % q->group_width)
    return "the group width does not divide K";
  uint64_t x_bytes = (uint64_t)m * w->cols * 4, y_bytes = (uint64_t)m * w->rows * 4;
  if (y_bytes > info->max_storage_range)
    return "Y [M, N] exceeds one storage binding (chunk M)";
  uint32_t rows = window_rows(info, v, w);
  if (rows == 0)
    return "not even one aligned window of packed rows fits a binding";
  uint64_t align = is_texel(v) ? info->texel_align : info->storage_align;
  if (align && (w->buf.offset % align || q->groups.offset % align || q->g_idx.offset % align))
    return "a packed array does not start at an aligned offset";
  if (has_g_idx(w) && (is_texel(v) ? q->g_idx.size / 4 > info->max_texel_elements
                                   : q->g_idx.size > info->max_storage_range))
    return "g_idx exceeds one binding";

  switch (v) {
  case VF_MATMUL_GEMM_TILED: {
    VfMatmulTile t;
    if (!vf_matmul_tiled_config(info, &t))
      return "the device's workgroup or shared-memory limits are too small for a tile";
    if (x_bytes > info->max_storage_range)
      return "X [M, K] exceeds one storage binding (chunk M)";
    if ((m + t.bm - 1) / t.bm > info->max_workgroup_count[1] ||
        (rows + t.bn - 1) / t.bn > info->max_workgroup_count[0])
      return "too many tiles for the dispatch limits";
    return NULL;
  }
  case VF_MATMUL_GEMV_SUBGROUP:
    if (!info->subgroup_arithmetic)
      return "the device has no subgroup arithmetic in compute shaders";
    if (x_bytes > info->max_storage_range)
      return "X [M, K] exceeds one storage binding (chunk M)";
    return NULL;
  case VF_MATMUL_GEMM_TEXEL:
  case VF_MATMUL_GEMV_TEXEL: {
    if (v == VF_MATMUL_GEMV_TEXEL && !info->subgroup_arithmetic)
      return "the device has no subgroup arithmetic in compute shaders";
    if (w->cols % (4 * per_word))
      return q->bits == 4 ? "texel reads of 4-bit words need K % 32 == 0" : "texel reads of 8-bit words need K % 16 == 0";
    if (x_bytes / 16 > info->max_texel_elements || x_bytes / 16 > INT32_MAX)
      return "X [M, K] exceeds one texel view (chunk M)";
    if (vf_packed_words_bytes(q->bits, rows, w->cols) / 16 > INT32_MAX)
      return "a texel view beyond 2^31 texels";
    const uint32_t block = GEMM_TEXEL_BLOCK * GEMM_TEXEL_WORKGROUP;
    if (v == VF_MATMUL_GEMM_TEXEL &&
        ((m + block - 1) / block > info->max_workgroup_count[1] || (rows + block - 1) / block > info->max_workgroup_count[0]))
      return "too many blocks for the dispatch limits";
    return NULL;
  }
  default:
    return "not a concrete variant";
  }
}

static gboolean
buffer_holds(const VfBuffer *b, uint64_t bytes)
{
  return b && b->buffer && b->size >= bytes;
}

void
vf_op_matmul_quant(VfCmd *cmd, VfMatmulVariant variant, const VfBuffer *x, uint32_t m, const VfMatrix *w,
                   const VfBuffer *bias, const VfBuffer *residual, const VfBuffer *y)
{
  if (!vf_cmd_ok(cmd))
    return;
  VfDevice *dev = vf_cmd_device(cmd);
  const VfDeviceInfo *info = vf_device_get_info(dev);
  const VfPacking *q = &w->packing;
  g_autofree char *shader = g_strdup_printf("%s_q%u", vf_matmul_variant_name(variant), q->bits);
  uint64_t n = w->rows, k = w->cols;
  uint64_t x_bytes = m * k * 4, y_bytes = m * n * 4;
  const char *why = vf_matmul_quant_unsupported(dev, variant, w, m);
  if (why) {
    vf_ops_fail(cmd, shader, "M=%u, W q%u [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT "] on %s: %s", m, q->bits, n, k,
                info->name, why);
    return;
  }
  uint64_t words_bytes = vf_packed_words_bytes(q->bits, w->rows, w->cols);
  uint64_t groups_bytes = vf_packed_groups_bytes(w->rows, w->cols, q->group_width);
  if (!buffer_holds(&w->buf, words_bytes) || !buffer_holds(&q->groups, groups_bytes) ||
      (has_g_idx(w) && !buffer_holds(&q->g_idx, k * 4)) || !buffer_holds(x, x_bytes) || !buffer_holds(y, y_bytes) ||
      (bias && !buffer_holds(bias, n * 4)) || (residual && !buffer_holds(residual, y_bytes))) {
    vf_ops_fail(cmd, shader, "M=%u, W q%u [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT "]: a buffer is missing or too small",
                m, q->bits, n, k);
    return;
  }

  /* Every block of inputs a variant dequantizes at once lies in one group: the kernels' fast path. */
  bool one_group = !has_g_idx(w) && q->group_width % block_inputs(variant, q->bits) == 0;
  uint32_t specs[7];
  uint32_t nspecs = 0;
  uint32_t block_cols = 1, block_rows = 1; /* output columns / rows per workgroup (2-D grids) */
  uint32_t cols_per_group = 1;             /* output columns per workgroup (1-D grids) */
  VfMatmulTile tile;
  switch (variant) {
  case VF_MATMUL_GEMM_TILED:
    vf_matmul_tiled_config(info, &tile);
    specs[0] = tile.bm, specs[1] = tile.bn, specs[2] = tile.bk, specs[3] = tile.tm, specs[4] = tile.tn;
    specs[5] = (tile.bm / tile.tm) * (tile.bn / tile.tn);
    nspecs = 6;
    block_cols = tile.bn;
    block_rows = tile.bm;
    break;
  case VF_MATMUL_GEMM_TEXEL:
    specs[0] = specs[1] = GEMM_TEXEL_WORKGROUP;
    specs[2] = specs[3] = GEMM_TEXEL_BLOCK;
    specs[4] = one_group;
    nspecs = 5;
    block_cols = block_rows = GEMM_TEXEL_BLOCK * GEMM_TEXEL_WORKGROUP;
    break;
  case VF_MATMUL_GEMV_SUBGROUP: {
    uint32_t wg = vf_matmul_gemv_subgroup_workgroup(info);
    specs[0] = wg, specs[1] = MAX(wg / MAX(info->subgroup_size, 1u), 1u), specs[2] = one_group;
    nspecs = 3;
    cols_per_group = specs[1];
    break;
  }
  case VF_MATMUL_GEMV_TEXEL: {
    /* One pass of GEMV_TEXEL_ROWS_PER_PASS rows per (reported) subgroup; the shader's loop covers
     * every row of the workgroup whatever the real subgroups are. */
    uint32_t subgroups = MAX(GEMV_TEXEL_WORKGROUP / MAX(info->subgroup_size, 1u), 1u);
    specs[0] = GEMV_TEXEL_WORKGROUP;
    specs[1] = subgroups * GEMV_TEXEL_ROWS_PER_PASS;
    specs[2] = GEMV_TEXEL_ROWS_PER_PASS;
    specs[3] = one_group;
    nspecs = 4;
    cols_per_group = specs[1];
    break;
  }
  default:
    g_assert_not_reached();
  }
  VfPipeline *pipe = vf_ops_pipeline(cmd, shader, is_texel(variant) ? "ttrrwtt" : "rrrrwrr", sizeof(QuantPush), specs,
                                     nspecs);
  if (!pipe)
    return;

  VfBuffer x_view = vf_buffer_slice(x, 0, x_bytes);
  /* Absent bias/residual/g_idx: never read, but the binding must hold a valid buffer. */
  VfBuffer dummy = vf_buffer_slice(x, 0, MIN(x_bytes, 16));
  VkFormat word_format = VK_FORMAT_R32_UINT;
  VfBinding b[7] = {
    {x_view, VK_FORMAT_R32G32B32A32_SFLOAT},
    {w->buf, VK_FORMAT_R32G32B32A32_UINT},
    {bias ? vf_buffer_slice(bias, 0, n * 4) : dummy},
    {residual ? vf_buffer_slice(residual, 0, y_bytes) : dummy},
    {vf_buffer_slice(y, 0, y_bytes)},
    {q->groups, word_format},
    {has_g_idx(w) ? vf_buffer_slice(&q->g_idx, 0, q->g_idx.size) : dummy, word_format},
  };
  QuantPush push = {
    .m = m,
    .k = (uint32_t)k,
    .ldy = (uint32_t)n,
    .flags = (bias ? HAS_BIAS : 0) | (residual ? HAS_RESIDUAL : 0) | (has_g_idx(w) ? ACT_ORDER : 0),
    .groups = (uint32_t)(k / q->group_width),
    .group_width = q->group_width,
    .part_end0 = q->g_idx_rows[0],
    .part_end1 = q->g_idx_rows[1],
  };

  uint64_t word_row = vf_packed_words_bytes(q->bits, 1, w->cols);
  uint64_t group_row = vf_packed_groups_bytes(1, w->cols, q->group_width);
  uint32_t window = window_rows(info, variant, w);
  for (uint32_t first = 0; first < n; first += window) {
    uint32_t rows = (uint32_t)MIN((uint64_t)window, n - first);
    b[1].buf = vf_buffer_slice(&w->buf, first * word_row, rows * word_row);
    b[5].buf = vf_buffer_slice(&q->groups, first * group_row, rows * group_row);
    push.col0 = first;
    push.n = rows;
    uint32_t gx, gy;
    if (variant == VF_MATMUL_GEMM_TILED || variant == VF_MATMUL_GEMM_TEXEL) {
      gx = (rows + block_cols - 1) / block_cols;
      gy = (m + block_rows - 1) / block_rows;
    } else {
      vf_ops_grid(cmd, (rows + cols_per_group - 1) / cols_per_group, &gx, &gy);
    }
    vf_cmd_dispatch(cmd, pipe, b, 7, &push, gx, gy, 1);
  }
}
