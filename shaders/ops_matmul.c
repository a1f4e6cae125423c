/* Matrix products: variant choice, limits, weight windows and dispatch.
 *
 * Every variant computes  Y[M, N] = act(X[M, K] · W[N, K]ᵀ (+ bias[N])) (+ residual[M, N])  and shares one
 * binding layout and push-constant block (matmul_common.glsl):
 *
 *   binding 0  X         f32 [M, K]         storage buffer, or RGBA32F texel view (texel variants)
 *   binding 1  W window  dtype [n, K]       storage buffer, or RGBA32UI / RGBA32F texel view
 *   binding 2  bias      f32 [N]            (a dummy slice of X when there is none)
 *   binding 3  residual  f32 [M, N]         (a dummy slice of X when there is none; may alias Y)
 *   binding 4  Y         f32 [M, N]
 *
 * A weight matrix larger than one binding is split into windows of whole rows:
 *
 *   W [N, K]   rows 0 ........ R-1 | R ........ 2R-1 | 2R ... N-1
 *              window 0 (col0 = 0) | window 1 (R)    | window 2 (2R)
 *
 * R is the largest row count that fits the binding limit (maxStorageBufferRange, or
 * maxTexelBufferElements texels of 16 bytes) and keeps every window offset a multiple of the
 * device's binding offset alignment. Each window is one dispatch writing output columns
 * [col0, col0 + rows); X, bias, residual and Y are bound whole every time.
 *
 * 16-bit weights are read as 32-bit words, so W's buffer must cover N·K·2 bytes rounded up to a
 * multiple of 4 (arena buffers always do: they are rounded up to VF_ARENA_ALIGN).
 */
#define G_LOG_DOMAIN "vf-ops"

#include "ops_matmul.h"
#include "ops_matmul_quant.h"
#include "ops_window.h"

/* Below this many rows of X, AUTO uses a GEMV variant instead of a GEMM.
 *   CPU family, measured (`viewfinder-cli bench ops --crossover`, lavapipe, 2 threads, bf16
 *   1536→8960): gemv_texel takes about 1.9 ms + 1.3–1.9 ms per extra row (each row of X is one pass
 *   over the weights), gemm_texel about 5.5–5.8 ms for any M ≤ 8 (one 8-row block): GEMV wins for
 *   M ≤ 3, ties at 4, loses from 6.
 *   GPU family, not measured here (no GPU on the build machines): gemv_subgroup reads the weights
 *   once for M ≤ 4 (it serves 4 rows of X per pass), a tiled GEMM with one row of 64-row tiles also
 *   reads them once but leaves most of each tile idle, so GEMV up to M = 4. */
#define GEMV_BELOW_ROWS_CPU 4u
#define GEMV_BELOW_ROWS_GPU 5u

/* Texel variants (tuned on lavapipe, where a workgroup runs on one thread as 8-wide SIMD and every
 * lane's texel fetch costs about the same: bigger register blocks mean fewer fetches per flop).
 *   GEMM: 8×8 outputs per invocation reached about 2× the speed of 4×4; 16×16 another 1.3× but
 *         took LLVM 7 s to compile (8×8: 0.5 s), so 8×8. Workgroup shape made no measurable
 *         difference.
 *   GEMV: 8 weight rows per subgroup pass (see gemv_texel.comp): 4 rows read 10–20% slower, 16 no
 *         faster. Workgroups of 32 to 256 invocations measured the same; 64. */
#define GEMM_TEXEL_WORKGROUP_X 8u /* blocks of GEMM_TEXEL_BLOCK output columns */
#define GEMM_TEXEL_WORKGROUP_Y 8u /* blocks of GEMM_TEXEL_BLOCK rows */
#define GEMM_TEXEL_BLOCK 8u
#define GEMV_TEXEL_WORKGROUP 64u
#define GEMV_TEXEL_ROWS_PER_PASS 8u

typedef struct {
  uint32_t m, n, k, ldy, col0, flags;
} MatmulPush;

#define HAS_BIAS 1u
#define HAS_RESIDUAL 2u
#define QUICK_GELU 4u


static const char *const variant_names[VF_MATMUL_N_VARIANTS] = {
  [VF_MATMUL_AUTO] = "auto",
  [VF_MATMUL_GEMM_TILED] = "gemm_tiled",
  [VF_MATMUL_GEMM_TEXEL] = "gemm_texel",
  [VF_MATMUL_GEMV_SUBGROUP] = "gemv_subgroup",
  [VF_MATMUL_GEMV_TEXEL] = "gemv_texel",
};

const char *
vf_matmul_variant_name(VfMatmulVariant v)
{
  return (unsigned)v < VF_MATMUL_N_VARIANTS ? variant_names[v] : "?";
}

static bool
is_texel(VfMatmulVariant v)
{
  return v == VF_MATMUL_GEMM_TEXEL || v == VF_MATMUL_GEMV_TEXEL;
}

static bool
is_weight_dtype(VfDType t)
{
  return t == VF_DTYPE_F32 || t == VF_DTYPE_F16 || t == VF_DTYPE_BF16;
}

/* The tiled GEMM's tile from the device limits: 256 invocations (a multiple of every common
 * subgroup size) with 4×4 outputs each where the device allows, else 64; the deepest k-slice (32,
 * 16 or 8) whose two tiles use at most half the shared memory, leaving room for a second resident
 * workgroup (8 may use all of it). */
gboolean
vf_matmul_tiled_config(const VfDeviceInfo *info, VfMatmulTile *t)
{
  uint32_t sub = MAX(info->subgroup_size, 1u);
  if (info->max_workgroup_invocations >= 256 && 256 % sub == 0)
    *t = (VfMatmulTile){64, 64, 0, 4, 4};
  else if (info->max_workgroup_invocations >= 64 && 64 % sub == 0)
    *t = (VfMatmulTile){32, 32, 0, 4, 4};
  else
    return FALSE;
  uint32_t bytes_per_k = (t->bm + t->bn) * 4;
  for (t->bk = 32; t->bk > 8 && t->bk * bytes_per_k > info->shared_memory / 2; t->bk /= 2)
    ;
  return t->bk * bytes_per_k <= info->shared_memory;
}

/* Subgroup GEMV: four subgroups per workgroup, one weight row each at a time. */
uint32_t
vf_matmul_gemv_subgroup_workgroup(const VfDeviceInfo *info)
{
  uint32_t sub = MAX(info->subgroup_size, 1u);
  uint32_t wg = 4 * sub;
  while (wg > info->max_workgroup_invocations && wg > sub)
    wg /= 2;
  return wg;
}

/* Rows per weight window for this variant (all N when the matrix fits one binding); 0 when not even
 * one aligned window of whole rows fits. */
static uint32_t
window_rows(const VfDeviceInfo *info, VfMatmulVariant v, const VfMatrix *w)
{
  uint64_t row_bytes = (uint64_t)w->cols * vf_dtype_size(w->dtype);
  uint64_t limit = is_texel(v) ? info->max_texel_elements * 16 : info->max_storage_range;
  uint64_t align = MAX(is_texel(v) ? info->texel_align : info->storage_align, 1);
  if ((uint64_t)w->rows * row_bytes <= limit)
    return w->rows;
  /* Window offsets are multiples of rows·row_bytes: make that a multiple of the alignment. */
  uint64_t step = align / vf_ops_gcd(row_bytes, align);
  uint64_t rows = limit / row_bytes;
  rows -= rows % step;
  return (uint32_t)MIN(rows, (uint64_t)w->rows);
}

/* Why `v` cannot run this shape here, or NULL when it can. `v` is a concrete variant. */
static const char *
unsupported_reason(VfDevice *dev, VfMatmulVariant v, const VfMatrix *w, uint32_t m)
{
  if (w->packing.bits)
    return vf_matmul_quant_unsupported(dev, v, w, m);
  const VfDeviceInfo *info = vf_device_get_info(dev);
  if (!is_weight_dtype(w->dtype))
    return "weights must be f32, f16 or bf16";
  if (m == 0 || w->rows == 0 || w->cols == 0)
    return "empty shape";
  uint64_t x_bytes = (uint64_t)m * w->cols * 4, y_bytes = (uint64_t)m * w->rows * 4;
  if (y_bytes > info->max_storage_range)
    return "Y [M, N] exceeds one storage binding (chunk M)";
  uint32_t rows = window_rows(info, v, w);
  if (rows == 0)
    return "not even one aligned window of weight rows fits a binding";
  /* The window offset must be aligned, so the matrix itself must start aligned. */
  uint64_t align = is_texel(v) ? info->texel_align : info->storage_align;
  if (align && w->buf.offset % align != 0)
    return "the weight matrix does not start at an aligned offset";

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
    uint32_t kdiv = w->dtype == VF_DTYPE_F32 ? 4 : 8;
    if (w->cols % kdiv != 0)
      return w->dtype == VF_DTYPE_F32 ? "texel reads need K % 4 == 0" : "texel reads need K % 8 == 0";
    if (x_bytes / 16 > info->max_texel_elements)
      return "X [M, K] exceeds one texel view (chunk M)";
    /* The shaders index texels with 32-bit ints. */
    if (x_bytes / 16 > INT32_MAX || (uint64_t)rows * w->cols * vf_dtype_size(w->dtype) / 16 > INT32_MAX)
      return "a texel view beyond 2^31 texels";
    const uint32_t gemm_rows = GEMM_TEXEL_BLOCK * GEMM_TEXEL_WORKGROUP_Y;
    const uint32_t gemm_cols = GEMM_TEXEL_BLOCK * GEMM_TEXEL_WORKGROUP_X;
    if (v == VF_MATMUL_GEMM_TEXEL && ((m + gemm_rows - 1) / gemm_rows > info->max_workgroup_count[1] ||
                                      (rows + gemm_cols - 1) / gemm_cols > info->max_workgroup_count[0]))
      return "too many blocks for the dispatch limits";
    return NULL;
  }
  default:
    return "not a concrete variant";
  }
}

gboolean
vf_matmul_supports(VfDevice *dev, VfMatmulVariant variant, const VfMatrix *w, uint32_t m)
{
  if (variant == VF_MATMUL_AUTO)
    variant = vf_matmul_choose(dev, w, m);
  if ((unsigned)variant >= VF_MATMUL_N_VARIANTS)
    return FALSE;
  return unsupported_reason(dev, variant, w, m) == NULL;
}

uint32_t
vf_matmul_gemv_threshold(VfDevice *dev)
{
  return vf_ops_kernel_family(dev) == VF_KERNELS_CPU ? GEMV_BELOW_ROWS_CPU : GEMV_BELOW_ROWS_GPU;
}

VfMatmulVariant
vf_matmul_choose(VfDevice *dev, const VfMatrix *w, uint32_t m)
{
  static const VfMatmulVariant cpu_gemv[] = {VF_MATMUL_GEMV_TEXEL, VF_MATMUL_GEMM_TEXEL, VF_MATMUL_GEMV_SUBGROUP,
                                             VF_MATMUL_GEMM_TILED};
  static const VfMatmulVariant cpu_gemm[] = {VF_MATMUL_GEMM_TEXEL, VF_MATMUL_GEMM_TILED, VF_MATMUL_GEMV_TEXEL,
                                             VF_MATMUL_GEMV_SUBGROUP};
  static const VfMatmulVariant gpu_gemv[] = {VF_MATMUL_GEMV_SUBGROUP, VF_MATMUL_GEMM_TILED, VF_MATMUL_GEMV_TEXEL,
                                             VF_MATMUL_GEMM_TEXEL};
  static const VfMatmulVariant gpu_gemm[] = {VF_MATMUL_GEMM_TILED, VF_MATMUL_GEMM_TEXEL, VF_MATMUL_GEMV_SUBGROUP,
                                             VF_MATMUL_GEMV_TEXEL};
  bool cpu = vf_ops_kernel_family(dev) == VF_KERNELS_CPU;
  bool gemv = m < vf_matmul_gemv_threshold(dev);
  const VfMatmulVariant *order = cpu ? (gemv ? cpu_gemv : cpu_gemm) : (gemv ? gpu_gemv : gpu_gemm);
  for (int i = 0; i < 4; i++)
    if (unsupported_reason(dev, order[i], w, m) == NULL)
      return order[i];
  return order[0]; /* nothing fits: the dispatch reports why */
}

static gboolean
buffer_holds(const VfBuffer *b, uint64_t bytes)
{
  return b && b->buffer && b->size >= bytes;
}

void
vf_op_matmul(VfCmd *cmd, const VfBuffer *x, uint32_t m, const VfMatrix *w, const VfBuffer *bias,
             const VfBuffer *residual, const VfBuffer *y)
{
  vf_op_matmul_variant(cmd, VF_MATMUL_AUTO, x, m, w, bias, residual, y);
}

void
vf_op_matmul_variant(VfCmd *cmd, VfMatmulVariant variant, const VfBuffer *x, uint32_t m, const VfMatrix *w,
                     const VfBuffer *bias, const VfBuffer *residual, const VfBuffer *y)
{
  vf_op_matmul_act(cmd, variant, x, m, w, bias, residual, VF_MATMUL_ACT_NONE, y);
}

void
vf_op_matmul_act(VfCmd *cmd, VfMatmulVariant variant, const VfBuffer *x, uint32_t m, const VfMatrix *w,
                 const VfBuffer *bias, const VfBuffer *residual, VfMatmulActivation act, const VfBuffer *y)
{
  if (!vf_cmd_ok(cmd))
    return;
  VfDevice *dev = vf_cmd_device(cmd);
  const VfDeviceInfo *info = vf_device_get_info(dev);
  if ((unsigned)variant >= VF_MATMUL_N_VARIANTS) {
    vf_ops_fail(cmd, "matmul", "unknown variant %d", (int)variant);
    return;
  }
  if (act != VF_MATMUL_ACT_NONE && act != VF_MATMUL_ACT_QUICK_GELU) {
    vf_ops_fail(cmd, "matmul", "unknown activation %d", (int)act);
    return;
  }
  if (variant == VF_MATMUL_AUTO)
    variant = vf_matmul_choose(dev, w, m);
  if (w->packing.bits) {
    vf_op_matmul_quant(cmd, variant, x, m, w, bias, residual, y);
    return;
  }
  const char *name = vf_matmul_variant_name(variant);

  uint64_t n = w->rows, k = w->cols;
  uint64_t x_bytes = m * k * 4, y_bytes = m * n * 4;
  /* The shaders read 16-bit weights as 32-bit words: with N·K odd the last word is half padding. */
  uint64_t w_bytes = (n * k * vf_dtype_size(w->dtype) + 3) & ~(uint64_t)3;
  if (!is_weight_dtype(w->dtype) || !buffer_holds(&w->buf, w_bytes) ||
      !buffer_holds(x, x_bytes) || !buffer_holds(y, y_bytes) || (bias && !buffer_holds(bias, n * 4)) ||
      (residual && !buffer_holds(residual, y_bytes))) {
    vf_ops_fail(cmd, name,
                "M=%u, W %s [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT "]: a buffer is missing or too small", m,
                vf_dtype_name(w->dtype), n, k);
    return;
  }
  const char *why = unsupported_reason(dev, variant, w, m);
  if (why) {
    vf_ops_fail(cmd, name, "M=%u, W %s [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT "] on %s: %s", m,
                vf_dtype_name(w->dtype), n, k, info->name, why);
    return;
  }

  g_autofree char *shader = g_strdup_printf("%s_%s", name, vf_dtype_name(w->dtype));
  uint32_t specs[6];
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
    specs[0] = GEMM_TEXEL_WORKGROUP_X, specs[1] = GEMM_TEXEL_WORKGROUP_Y;
    specs[2] = specs[3] = GEMM_TEXEL_BLOCK;
    nspecs = 4;
    block_cols = GEMM_TEXEL_BLOCK * GEMM_TEXEL_WORKGROUP_X;
    block_rows = GEMM_TEXEL_BLOCK * GEMM_TEXEL_WORKGROUP_Y;
    break;
  case VF_MATMUL_GEMV_SUBGROUP: {
    uint32_t wg = vf_matmul_gemv_subgroup_workgroup(info);
    uint32_t rows_per_group = MAX(wg / MAX(info->subgroup_size, 1u), 1u);
    bool vec = (k * vf_dtype_size(w->dtype)) % 16 == 0 && w->buf.offset % 16 == 0 && x->offset % 16 == 0;
    specs[0] = wg, specs[1] = rows_per_group, specs[2] = vec;
    nspecs = 3;
    cols_per_group = rows_per_group;
    break;
  }
  case VF_MATMUL_GEMV_TEXEL: {
    /* One pass of GEMV_TEXEL_ROWS_PER_PASS rows per (reported) subgroup; if the real subgroups
     * differ, the shader's loop still covers every row of the workgroup. */
    uint32_t subgroups = MAX(GEMV_TEXEL_WORKGROUP / MAX(info->subgroup_size, 1u), 1u);
    specs[0] = GEMV_TEXEL_WORKGROUP;
    specs[1] = subgroups * GEMV_TEXEL_ROWS_PER_PASS;
    specs[2] = GEMV_TEXEL_ROWS_PER_PASS;
    nspecs = 3;
    cols_per_group = specs[1];
    break;
  }
  default:
    g_assert_not_reached();
  }
  VfPipeline *pipe = vf_ops_pipeline(cmd, shader, is_texel(variant) ? "ttrrw" : "rrrrw", sizeof(MatmulPush), specs,
                                     nspecs);
  if (!pipe)
    return;

  VfBuffer x_view = vf_buffer_slice(x, 0, x_bytes);
  VfBuffer y_view = vf_buffer_slice(y, 0, y_bytes);
  /* Absent bias/residual: the shader never reads the binding, but it must hold a valid buffer. */
  VfBuffer dummy = vf_buffer_slice(x, 0, MIN(x_bytes, 16));
  VfBinding b[5] = {
    {x_view, VK_FORMAT_R32G32B32A32_SFLOAT},
    {w->buf, w->dtype == VF_DTYPE_F32 ? VK_FORMAT_R32G32B32A32_SFLOAT : VK_FORMAT_R32G32B32A32_UINT},
    {bias ? vf_buffer_slice(bias, 0, n * 4) : dummy},
    {residual ? vf_buffer_slice(residual, 0, y_bytes) : dummy},
    {y_view},
  };
  MatmulPush push = {
    .m = m,
    .k = (uint32_t)k,
    .ldy = (uint32_t)n,
    .flags = (bias ? HAS_BIAS : 0) | (residual ? HAS_RESIDUAL : 0) | (act == VF_MATMUL_ACT_QUICK_GELU ? QUICK_GELU : 0),
  };

  uint64_t row_bytes = k * vf_dtype_size(w->dtype);
  uint32_t window = window_rows(info, variant, w);
  for (uint32_t first = 0; first < n; first += window) {
    uint32_t rows = (uint32_t)MIN((uint64_t)window, n - first);
    /* Whole 32-bit words: only the last window can end mid-word (odd N·K, 16-bit weights); every
     * other window is a multiple of the offset alignment. */
    uint64_t window_bytes = MIN((rows * row_bytes + 3) & ~(uint64_t)3, w_bytes - first * row_bytes);
    b[1].buf = vf_buffer_slice(&w->buf, first * row_bytes, window_bytes);
    push.col0 = first;
    push.n = rows;
    uint32_t gx, gy;
    if (variant == VF_MATMUL_GEMM_TILED || variant == VF_MATMUL_GEMM_TEXEL) {
      gx = (rows + block_cols - 1) / block_cols;
      gy = (m + block_rows - 1) / block_rows;
    } else {
      vf_ops_grid(cmd, (rows + cols_per_group - 1) / cols_per_group, &gx, &gy);
    }
    vf_cmd_dispatch(cmd, pipe, b, 5, &push, gx, gy, 1);
  }
}
