/* Matrix products, every variant × weight dtype, against the double-precision CPU reference.
 *
 * Tolerance, per output (i, j):
 *
 *   |y_gpu − y_ref| ≤ (K + 3) · 2^-24 · (Σ_k |x_ik · w_jk| + |bias_j| + |residual_ij|)
 *
 * Derivation: 16-bit weights widen to f32 exactly, so the only errors are f32 roundings (unit
 * roundoff u = 2^-24): one per product (none when fused), at most K − 1 along any summation order
 * of the K products (each bounded by u times a partial sum of |terms|), and two for the bias and
 * residual adds: K + 2 in all, plus one for the second-order terms. This is a worst-case bound,
 * independent of how a variant orders its sums.
 *
 * For large K that bound cannot see a single dropped term (1/K of the magnitude < K·2^-24 once
 * K > 4096), so the sample must also pass a statistical check: modelling those K + 3 roundings as
 * independent and uniform in ±2^-24 of at most the magnitude, the error has a standard deviation
 * ≤ sqrt((K + 3)/3)·2^-24·magnitude; we require the RMS over the sample of
 * error / (2^-24·magnitude) to stay below sqrt(K + 3), a margin of sqrt(3) over that model
 * (checked on samples of 64 outputs or more, where an RMS means something).
 *
 * Large outputs are compared on a deterministic sample (≤ 24 rows × ≤ 1024 columns, always the
 * first and last, plus the columns on both sides of every weight-window boundary).
 */
#include <string.h>

#include "ref/ref_common.h"
#include "ref/ref_matmul.h"
#include "ref/ref_quant.h"
#include "vf_quant.h"
#include "vf_test.h"

enum {
  WITH_BIAS = 1,
  WITH_RESIDUAL = 2,
  RESIDUAL_IN_PLACE = 4, /* residual and Y are the same buffer */
};

static const VfMatmulVariant all_variants[] = {VF_MATMUL_GEMM_TILED, VF_MATMUL_GEMM_TEXEL, VF_MATMUL_GEMV_SUBGROUP,
                                               VF_MATMUL_GEMV_TEXEL};
static const VfDType all_dtypes[] = {VF_DTYPE_BF16, VF_DTYPE_F16, VF_DTYPE_F32};

static bool
is_texel(VfMatmulVariant v)
{
  return v == VF_MATMUL_GEMM_TEXEL || v == VF_MATMUL_GEMV_TEXEL;
}

/* ---- weights ------------------------------------------------------------------------------------ */

typedef struct PackedWeights PackedWeights;
static void packed_weight_row(const PackedWeights *pw, uint32_t j, float *row);

/* Where the reference gets row j of W as f32 (exactly the values the GPU decodes). */
typedef struct {
  const float *dense; /* f32 [n, k], or NULL: element e is table[e % table_len] */
  const float *table;
  uint64_t table_len;
  uint32_t k;
  const PackedWeights *packed; /* or GPTQ/AWQ tensors, dequantized by tests/ref/ref_quant.c */
} WeightRows;

static void
weight_row(const WeightRows *w, uint32_t j, float *row)
{
  if (w->packed) {
    packed_weight_row(w->packed, j, row);
    return;
  }
  if (w->dense) {
    memcpy(row, w->dense + (size_t)j * w->k, w->k * sizeof(float));
    return;
  }
  uint64_t e = (uint64_t)j * w->k;
  for (uint32_t i = 0; i < w->k; i++)
    row[i] = w->table[(e + i) % w->table_len];
}

/* Rounds `values` to `dtype` in place and returns the stored bytes (g_free them). */
static void *
quantize(VfDType dtype, float *values, size_t count)
{
  if (dtype == VF_DTYPE_F32)
    return g_memdup2(values, count * sizeof(float));
  uint16_t *h = dtype == VF_DTYPE_BF16 ? vf_test_to_bf16(values, count) : vf_test_to_f16(values, count);
  for (size_t i = 0; i < count; i++)
    values[i] = dtype == VF_DTYPE_BF16 ? ref_bf16_to_f32(h[i]) : ref_f16_to_f32(h[i]);
  return h;
}

/* ---- sampling and comparison ------------------------------------------------------------------- */

static int
cmp_u32(const void *a, const void *b)
{
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* All of 0..n-1 when n ≤ max; else max evenly spread indices (with a small deterministic jitter so
 * they do not all share one residue), the first and last, and each `extra` ±1. Sorted, unique. */
static uint32_t *
sample_indices(uint32_t n, uint32_t max, const uint32_t *extra, uint32_t nextra, uint32_t *count)
{
  uint32_t *idx = g_new(uint32_t, MAX(n, 1) <= max ? n : max + 2 + 2 * nextra);
  uint32_t c = 0;
  if (n <= max) {
    for (uint32_t i = 0; i < n; i++)
      idx[c++] = i;
  } else {
    for (uint32_t i = 0; i < max; i++)
      idx[c++] = (uint32_t)MIN((uint64_t)i * (n - 1) / (max - 1) + i % 7, (uint64_t)n - 1);
    idx[c++] = 0;
    idx[c++] = n - 1;
    for (uint32_t e = 0; e < nextra; e++) {
      if (extra[e] > 0 && extra[e] - 1 < n)
        idx[c++] = extra[e] - 1;
      if (extra[e] < n)
        idx[c++] = extra[e];
    }
  }
  qsort(idx, c, sizeof *idx, cmp_u32);
  uint32_t u = 0;
  for (uint32_t i = 0; i < c; i++)
    if (u == 0 || idx[u - 1] != idx[i])
      idx[u++] = idx[i];
  *count = u;
  return idx;
}

typedef struct {
  const float *x;        /* [m, k] */
  const float *bias;     /* [n] or NULL */
  const float *residual; /* [m, n] or NULL */
  uint32_t m, n, k;
  WeightRows w;
  const uint32_t *boundaries; /* first rows of weight windows, to sample around */
  uint32_t nboundaries;
} Problem;

static void
check_outputs(const char *what, const Problem *pb, const float *got)
{
  uint32_t nrows, ncols;
  g_autofree uint32_t *rows = sample_indices(pb->m, 24, NULL, 0, &nrows);
  g_autofree uint32_t *cols = sample_indices(pb->n, 1024, pb->boundaries, pb->nboundaries, &ncols);
  g_autofree float *wrow = g_new(float, pb->k);
  uint64_t bad = 0, checked = 0;
  double sum_sq_units = 0; /* Σ (error / (2^-24·magnitude))² */
  double worst_ratio = 0, worst_got = 0, worst_want = 0, worst_tol = 0;
  uint32_t worst_i = 0, worst_j = 0;
  for (uint32_t c = 0; c < ncols; c++) {
    uint32_t j = cols[c];
    weight_row(&pb->w, j, wrow);
    for (uint32_t r = 0; r < nrows; r++) {
      uint32_t i = rows[r];
      size_t ij = (size_t)i * pb->n + j;
      double mag;
      double want = ref_matmul_one(pb->x + (size_t)i * pb->k, wrow, pb->k, pb->bias ? pb->bias + j : NULL,
                                   pb->residual ? pb->residual + ij : NULL, &mag);
      double tol = (pb->k + 3.0) * ldexp(1.0, -24) * mag;
      double err = fabs((double)got[ij] - want);
      double ratio = isnan(err) ? INFINITY : err / MAX(tol, 1e-300);
      checked++;
      double units = err / (ldexp(1.0, -24) * MAX(mag, 1e-300));
      sum_sq_units += units * units;
      if (!(err <= tol))
        bad++;
      if (ratio > worst_ratio)
        worst_ratio = ratio, worst_got = got[ij], worst_want = want, worst_tol = tol, worst_i = i, worst_j = j;
    }
  }
  double rms_units = sqrt(sum_sq_units / (double)MAX(checked, 1)), rms_limit = sqrt(pb->k + 3.0);
  g_test_message("%s: %" G_GUINT64_FORMAT " outputs checked, worst error %.3f of tolerance, rms %.2f of %.1f units",
                 what, checked, worst_ratio, rms_units, rms_limit);
  if (checked >= 64 && !(rms_units <= rms_limit)) {
    g_printerr("%s: rms error %.2f * 2^-24 * magnitude exceeds sqrt(K + 3) = %.1f\n", what, rms_units, rms_limit);
    g_test_fail();
  }
  if (bad) {
    g_printerr("%s: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
               " outputs off; worst at [%u, %u]: got %.9g want %.9g (tolerance %.3g)\n",
               what, bad, checked, worst_i, worst_j, worst_got, worst_want, worst_tol);
    g_test_fail();
  }
}

/* ---- one dense case ------------------------------------------------------------------------------- */

/* Returns the number of dispatches the op recorded (one per weight window). */
static uint32_t
run_dense(VfMatmulVariant v, VfDType dtype, uint32_t m, uint32_t n, uint32_t k, unsigned opts)
{
  VfDevice *dev = vf_test_device();
  uint32_t seed = m * 7919u + n * 104729u + k * 31u + (uint32_t)dtype;
  g_autofree float *x = vf_test_random((size_t)m * k, -1, 1, seed);
  g_autofree float *w = vf_test_random((size_t)n * k, -1, 1, seed + 1);
  g_autofree void *stored = quantize(dtype, w, (size_t)n * k);
  g_autofree float *bias = (opts & WITH_BIAS) ? vf_test_random(n, -1, 1, seed + 2) : NULL;
  g_autofree float *residual = (opts & WITH_RESIDUAL) ? vf_test_random((size_t)m * n, -2, 2, seed + 3) : NULL;
  size_t y_bytes = (size_t)m * n * 4;

  VfBuffer bx = vf_test_upload(x, (size_t)m * k * 4);
  VfMatrix mw = {.buf = vf_test_upload(stored, (size_t)n * k * vf_dtype_size(dtype)),
                 .dtype = dtype, .rows = n, .cols = k};
  VfBuffer bb = bias ? vf_test_upload(bias, n * 4) : (VfBuffer){0};
  bool in_place = residual && (opts & RESIDUAL_IN_PLACE);
  VfBuffer by = vf_test_upload(in_place ? residual : NULL, y_bytes);
  VfBuffer br = residual && !in_place ? vf_test_upload(residual, y_bytes) : (VfBuffer){0};

  g_autofree char *what = g_strdup_printf("%s %s M=%u N=%u K=%u%s%s%s", vf_matmul_variant_name(v),
                                          vf_dtype_name(dtype), m, n, k, bias ? " +bias" : "",
                                          residual ? " +residual" : "", in_place ? " (in place)" : "");
  uint32_t dispatches = 0;
  if (v != VF_MATMUL_AUTO && !vf_matmul_supports(dev, v, &mw, m)) {
    g_printerr("%s: unexpectedly unsupported\n", what);
    g_test_fail();
  } else {
    VfCmd *cmd = vf_test_cmd();
    vf_op_matmul_variant(cmd, v, &bx, m, &mw, bias ? &bb : NULL, residual ? (in_place ? &by : &br) : NULL, &by);
    dispatches = vf_cmd_dispatch_count(cmd);
    vf_test_submit(cmd);
    g_autofree float *got = g_new(float, (size_t)m * n);
    vf_test_download(&by, got, y_bytes);
    Problem pb = {.x = x, .bias = bias, .residual = residual, .m = m, .n = n, .k = k, .w = {.dense = w, .k = k}};
    check_outputs(what, &pb, got);
  }
  vf_test_release(&bx);
  vf_test_release(&mw.buf);
  vf_test_release(&by);
  if (bias)
    vf_test_release(&bb);
  if (residual && !in_place)
    vf_test_release(&br);
  return dispatches;
}

/* ---- tests ---------------------------------------------------------------------------------------- */

/* Sizes that are multiples of no tile (M, N odd or prime-ish), with K a multiple of 8 for every
 * variant, plus K that is odd or not a multiple of 8 for the storage-buffer variants (and K % 8 == 4
 * for f32 texel reads). Bias and residual (separate and in place) rotate through the cases. */
static void
test_odd_sizes(void)
{
  static const struct {
    uint32_t m, n, k;
    bool any_k; /* K is not a multiple of 8: storage-buffer variants (and f32 texel when K % 4 == 0) */
  } shapes[] = {
    {1, 1, 8, false},    {1, 37, 16, false},   {2, 131, 264, false}, {3, 70, 40, false},
    {5, 67, 104, false}, {67, 131, 136, false}, {130, 67, 72, false},
    {1, 1, 1, true},     {1, 37, 13, true},    {3, 131, 263, true},  {67, 65, 7, true},
    {9, 33, 12, true},   {66, 5, 260, true},
  };
  static const unsigned opts[] = {0, WITH_BIAS, WITH_RESIDUAL, WITH_BIAS | WITH_RESIDUAL | RESIDUAL_IN_PLACE,
                                  WITH_RESIDUAL | RESIDUAL_IN_PLACE};
  unsigned count = 0;
  for (size_t s = 0; s < G_N_ELEMENTS(shapes); s++)
    for (size_t d = 0; d < G_N_ELEMENTS(all_dtypes); d++)
      for (size_t v = 0; v < G_N_ELEMENTS(all_variants); v++) {
        VfDType dt = all_dtypes[d];
        uint32_t k = shapes[s].k;
        bool texel_ok = k % (dt == VF_DTYPE_F32 ? 4 : 8) == 0;
        if (is_texel(all_variants[v]) && !texel_ok)
          continue;
        run_dense(all_variants[v], dt, shapes[s].m, shapes[s].n, k, opts[count++ % G_N_ELEMENTS(opts)]);
      }
}

/* Every variant and dtype with bias and an in-place residual on one odd shape. */
static void
test_bias_residual(void)
{
  for (size_t d = 0; d < G_N_ELEMENTS(all_dtypes); d++)
    for (size_t v = 0; v < G_N_ELEMENTS(all_variants); v++) {
      run_dense(all_variants[v], all_dtypes[d], 7, 45, 96, WITH_BIAS);
      run_dense(all_variants[v], all_dtypes[d], 7, 45, 96, WITH_RESIDUAL);
      run_dense(all_variants[v], all_dtypes[d], 7, 45, 96, WITH_BIAS | WITH_RESIDUAL | RESIDUAL_IN_PLACE);
    }
}

/* Decode-step shapes of Qwen2-VL 2B and 7B, M = 1, both GEMV variants (bf16 everywhere; f16 and f32
 * on two of them) and AUTO. */
static void
test_qwen2_gemv(void)
{
  static const uint32_t nk[][2] = {{8960, 1536}, {1536, 8960}, {256, 1536}, {18944, 3584}, {3584, 18944}};
  static const VfMatmulVariant gemv[] = {VF_MATMUL_GEMV_SUBGROUP, VF_MATMUL_GEMV_TEXEL};
  for (size_t s = 0; s < G_N_ELEMENTS(nk); s++)
    for (size_t v = 0; v < G_N_ELEMENTS(gemv); v++)
      run_dense(gemv[v], VF_DTYPE_BF16, 1, nk[s][0], nk[s][1], s == 0 ? WITH_BIAS | WITH_RESIDUAL : 0);
  for (size_t v = 0; v < G_N_ELEMENTS(gemv); v++) {
    run_dense(gemv[v], VF_DTYPE_F16, 1, 8960, 1536, 0);
    run_dense(gemv[v], VF_DTYPE_F32, 1, 1536, 8960, WITH_RESIDUAL | RESIDUAL_IN_PLACE);
  }
  run_dense(VF_MATMUL_AUTO, VF_DTYPE_BF16, 1, 1536, 1536, WITH_BIAS);
}

/* Prefill and vision-encoder shapes: LLM M=512 1536→1536 (every dtype), vision M≈300 qkv, fc1,
 * fc2, and the patch embedding 1176→1280 (bf16), both GEMM variants, and AUTO. */
static void
test_qwen2_gemm(void)
{
  static const VfMatmulVariant gemm[] = {VF_MATMUL_GEMM_TILED, VF_MATMUL_GEMM_TEXEL};
  for (size_t v = 0; v < G_N_ELEMENTS(gemm); v++) {
    for (size_t d = 0; d < G_N_ELEMENTS(all_dtypes); d++)
      run_dense(gemm[v], all_dtypes[d], 512, 1536, 1536, d == 0 ? WITH_BIAS : 0);
    run_dense(gemm[v], VF_DTYPE_BF16, 299, 3840, 1280, WITH_BIAS);
    run_dense(gemm[v], VF_DTYPE_BF16, 299, 5120, 1280, WITH_BIAS);
    run_dense(gemm[v], VF_DTYPE_BF16, 299, 1280, 5120, WITH_BIAS | WITH_RESIDUAL | RESIDUAL_IN_PLACE);
    run_dense(gemm[v], VF_DTYPE_BF16, 299, 1280, 1176, 0);
  }
  run_dense(VF_MATMUL_AUTO, VF_DTYPE_BF16, 299, 1280, 1176, WITH_BIAS);
}

/* ---- windows --------------------------------------------------------------------------------------- */

/* Pretends the device has smaller bindings (and a coarser offset alignment), so small matrices are
 * split into several windows. The op derives its windows from VfDeviceInfo, and so does the
 * dispatch validation in VfCmd, so this exercises the real window path. */
typedef struct {
  uint64_t storage_range, texel_elements, storage_align, texel_align;
} Limits;

static Limits
simulate_limits(uint64_t storage_range, uint64_t texel_elements, uint64_t align)
{
  VfDeviceInfo *info = (VfDeviceInfo *)vf_device_get_info(vf_test_device());
  Limits saved = {info->max_storage_range, info->max_texel_elements, info->storage_align, info->texel_align};
  info->max_storage_range = storage_range;
  info->max_texel_elements = texel_elements;
  info->storage_align = MAX(info->storage_align, align);
  info->texel_align = MAX(info->texel_align, align);
  return saved;
}

static void
restore_limits(Limits saved)
{
  VfDeviceInfo *info = (VfDeviceInfo *)vf_device_get_info(vf_test_device());
  info->max_storage_range = saved.storage_range;
  info->max_texel_elements = saved.texel_elements;
  info->storage_align = saved.storage_align;
  info->texel_align = saved.texel_align;
}

static void
test_windows_simulated(void)
{
  /* 256 KiB bindings, 256-byte alignment. K = 263 bf16 (526-byte rows): windows of 384 rows (the
   * largest multiple of 128 rows, the alignment step, below 498). K = 264: 496-row windows. */
  Limits saved = simulate_limits(256 << 10, (256 << 10) / 16, 256);
  for (size_t d = 0; d < G_N_ELEMENTS(all_dtypes); d++)
    for (size_t v = 0; v < G_N_ELEMENTS(all_variants); v++) {
      if (!is_texel(all_variants[v]))
        g_assert_cmpuint(run_dense(all_variants[v], all_dtypes[d], 5, 1001, 263, WITH_BIAS | WITH_RESIDUAL), >=, 2);
      g_assert_cmpuint(
        run_dense(all_variants[v], all_dtypes[d], 3, 1203, 264, WITH_BIAS | WITH_RESIDUAL | RESIDUAL_IN_PLACE), >=, 2);
    }
  /* A row larger than a binding cannot be windowed: unsupported, and the op reports it. */
  VfMatrix huge = {.buf = vf_test_upload(NULL, 300 << 10), .dtype = VF_DTYPE_F32, .rows = 1, .cols = 70000};
  for (size_t v = 0; v < G_N_ELEMENTS(all_variants); v++)
    g_assert_false(vf_matmul_supports(vf_test_device(), all_variants[v], &huge, 1));
  restore_limits(saved);
  vf_test_release(&huge.buf);
}

/* The lm_head / tied embedding of Qwen2-VL 2B: 151936×1536 bf16 (467 MB), larger than the 128 MiB
 * storage range of lavapipe (and of many GPUs), so the storage-buffer GEMV runs in windows. The
 * texel GEMV fits one 2 GiB texel view on lavapipe; it runs once like that and once with views
 * limited to the storage range, so its window path runs on the real matrix too. */
static void
test_lm_head_windows(void)
{
  const uint32_t n = 151936, k = 1536;
  const uint64_t count = (uint64_t)n * k, bytes = count * 2;
  /* W[e] = table[e % P] with P prime and > N·K / K: no two rows share their values, so a window
   * that reads the wrong rows cannot pass by accident. */
  const uint64_t table_len = 1000003;
  g_autofree float *table = vf_test_random(table_len, -1, 1, 77);
  g_autofree uint16_t *table_bf16 = vf_test_to_bf16(table, table_len);
  for (uint64_t i = 0; i < table_len; i++)
    table[i] = ref_bf16_to_f32(table_bf16[i]);

  VfMatrix w = {.buf = vf_test_upload(NULL, bytes), .dtype = VF_DTYPE_BF16, .rows = n, .cols = k};
  const size_t chunk = 8u << 20; /* elements per upload */
  g_autofree uint16_t *staging = g_new(uint16_t, chunk);
  for (uint64_t first = 0; first < count; first += chunk) {
    size_t len = (size_t)MIN(chunk, count - first);
    uint64_t t = first % table_len;
    for (size_t i = 0; i < len; i++) {
      staging[i] = table_bf16[t];
      if (++t == table_len)
        t = 0;
    }
    g_autoptr(GError) error = NULL;
    g_assert_true(vf_buffer_upload(vf_test_device(), &w.buf, first * 2, staging, len * 2, &error));
  }
  g_autofree float *x = vf_test_random(k, -1, 1, 78);
  VfBuffer bx = vf_test_upload(x, k * 4), by = vf_test_upload(NULL, n * 4);
  const VfDeviceInfo *info = vf_device_get_info(vf_test_device());
  g_assert_cmpuint(bytes, >, info->max_storage_range);

  for (int run = 0; run < 3; run++) {
    VfMatmulVariant v = run == 0 ? VF_MATMUL_GEMV_SUBGROUP : VF_MATMUL_GEMV_TEXEL;
    Limits saved = {0};
    if (run == 2)
      saved = simulate_limits(info->max_storage_range, info->max_storage_range / 16, 0);
    uint64_t limit = is_texel(v) ? info->max_texel_elements * 16 : info->max_storage_range;
    /* Window boundaries as the op computes them for a 16-byte-aligned 3072-byte row. */
    uint32_t window = (uint32_t)MIN(limit / (k * 2), n);
    uint32_t boundaries[16], nb = 0;
    for (uint32_t b = window; b < n && nb < G_N_ELEMENTS(boundaries); b += window)
      boundaries[nb++] = b;
    if (run != 1)
      g_assert_cmpuint(nb, >=, 3);

    vf_buffer_zero(vf_test_device(), &by, NULL);
    VfCmd *cmd = vf_test_cmd();
    vf_op_matmul_variant(cmd, v, &bx, 1, &w, NULL, NULL, &by);
    if (run != 1)
      g_assert_cmpuint(vf_cmd_dispatch_count(cmd), ==, nb + 1);
    vf_test_submit(cmd);
    if (run == 2)
      restore_limits(saved);
    g_autofree float *got = g_new(float, n);
    vf_test_download(&by, got, n * 4);
    Problem pb = {.x = x, .m = 1, .n = n, .k = k,
                  .w = {.table = table, .table_len = table_len, .k = k},
                  .boundaries = boundaries, .nboundaries = nb};
    g_autofree char *what = g_strdup_printf("lm_head %s, %u windows", vf_matmul_variant_name(v), nb + 1);
    check_outputs(what, &pb, got);
  }
  vf_test_release(&bx);
  vf_test_release(&by);
  vf_test_release(&w.buf);
}

/* The tiled GEMM on a real matrix above the storage range: 22000×1536 f32 (135 MB), M = 3. */
static void
test_gemm_windows(void)
{
  const VfDeviceInfo *info = vf_device_get_info(vf_test_device());
  uint32_t n = 22000, k = 1536;
  if ((uint64_t)n * k * 4 <= info->max_storage_range) {
    g_test_skip("the device's storage range holds this matrix whole");
    return;
  }
  g_assert_cmpuint(run_dense(VF_MATMUL_GEMM_TILED, VF_DTYPE_F32, 3, n, k, WITH_BIAS), ==, 2);
}

/* The policy picks a variant that supports the shape; K that texel reads cannot take falls back to a
 * storage-buffer variant; asking a texel variant for it anyway is an error, not a crash. */
static void
test_policy(void)
{
  VfDevice *dev = vf_test_device();
  VfMatrix w = {.buf = vf_test_upload(NULL, 4096 * 13 * 2), .dtype = VF_DTYPE_BF16, .rows = 4096, .cols = 13};
  uint32_t threshold = vf_matmul_gemv_threshold(dev);
  g_assert_cmpuint(threshold, >=, 2);
  for (uint32_t m = 1; m <= 64; m *= 2) {
    VfMatmulVariant v = vf_matmul_choose(dev, &w, m);
    g_assert_true(vf_matmul_supports(dev, v, &w, m));
    g_assert_true(vf_matmul_supports(dev, VF_MATMUL_AUTO, &w, m));
    g_assert_false(is_texel(v));
    g_assert_false(vf_matmul_supports(dev, VF_MATMUL_GEMM_TEXEL, &w, m));
    g_assert_false(vf_matmul_supports(dev, VF_MATMUL_GEMV_TEXEL, &w, m));
    bool gemv = v == VF_MATMUL_GEMV_SUBGROUP || v == VF_MATMUL_GEMV_TEXEL;
    g_assert_true(gemv == (m < threshold));
  }
  /* With K % 8 == 0 the family's preferred variants are chosen. */
  VfMatrix w8 = w;
  w8.cols = 8;
  bool cpu = vf_ops_kernel_family(dev) == VF_KERNELS_CPU;
  g_assert_cmpint(vf_matmul_choose(dev, &w8, 1), ==, cpu ? VF_MATMUL_GEMV_TEXEL : VF_MATMUL_GEMV_SUBGROUP);
  g_assert_cmpint(vf_matmul_choose(dev, &w8, 512), ==, cpu ? VF_MATMUL_GEMM_TEXEL : VF_MATMUL_GEMM_TILED);
  g_assert_nonnull(strstr(vf_ops_policy_summary(dev), "matmul:"));

  /* AUTO on K = 13 runs a storage-buffer variant and is correct. */
  run_dense(VF_MATMUL_AUTO, VF_DTYPE_BF16, 1, 300, 13, WITH_BIAS);
  run_dense(VF_MATMUL_AUTO, VF_DTYPE_BF16, 40, 300, 13, WITH_RESIDUAL);

  /* Forcing a texel variant on K = 13 is a recorded error. */
  VfBuffer bx = vf_test_upload(NULL, 13 * 4), by = vf_test_upload(NULL, 4096 * 4);
  VfCmd *cmd = vf_test_cmd();
  vf_op_matmul_variant(cmd, VF_MATMUL_GEMV_TEXEL, &bx, 1, &w, NULL, NULL, &by);
  g_autoptr(GError) error = NULL;
  g_assert_false(vf_cmd_submit(cmd, &error));
  g_assert_nonnull(error);
  g_assert_nonnull(strstr(error->message, "K % 8"));
  vf_cmd_free(cmd);

  /* Buffers too small for the shape: an error too. */
  g_clear_error(&error);
  cmd = vf_test_cmd();
  vf_op_matmul_variant(cmd, VF_MATMUL_GEMM_TILED, &bx, 2, &w, NULL, NULL, &by);
  g_assert_false(vf_cmd_submit(cmd, &error));
  g_assert_nonnull(strstr(error->message, "too small"));
  vf_cmd_free(cmd);

  vf_test_release(&bx);
  vf_test_release(&by);
  vf_test_release(&w.buf);
}


/* ---- packed weights (GPTQ / AWQ) ------------------------------------------------------------------- */

/* One linear as its checkpoint stores it (random words: every nibble or byte uniform). */
typedef struct {
  VfQuantConfig config;
  uint32_t rows, cols, groups;
  uint32_t *qweight, *qzeros;
  uint16_t *scales;
  int32_t *g_idx; /* GPTQ only */
} StoredLinear;

/* Up to three linears fused along the rows (q, k, v), each with its own g_idx. */
struct PackedWeights {
  StoredLinear parts[3];
  uint32_t first_row[3];
  uint32_t n_parts, rows, cols;
};

static void
stored_random(StoredLinear *l, VfQuantMethod method, uint32_t bits, uint32_t rows, uint32_t cols,
              uint32_t group_size, bool shuffle, uint32_t seed)
{
  *l = (StoredLinear){.config = {.method = method, .bits = bits, .group_size = group_size},
                      .rows = rows, .cols = cols};
  l->groups = cols / vf_quant_group_width(&l->config, cols);
  GRand *rand = g_rand_new_with_seed(seed);
  uint64_t shape[2];
  uint64_t n = 1;
  for (int t = VF_QUANT_QWEIGHT; t <= VF_QUANT_QZEROS; t++) {
    vf_quant_tensor_shape(&l->config, t, rows, cols, shape);
    n = shape[0] * shape[1];
    uint32_t *words = g_new(uint32_t, n);
    for (uint64_t i = 0; i < n; i++)
      words[i] = g_rand_int(rand);
    *(t == VF_QUANT_QWEIGHT ? &l->qweight : &l->qzeros) = words;
  }
  n = (uint64_t)l->groups * rows;
  l->scales = g_new(uint16_t, n);
  for (uint64_t i = 0; i < n; i++)
    l->scales[i] = ref_f32_to_f16((float)g_rand_double_range(rand, -0.05, 0.05));
  if (method == VF_QUANT_GPTQ) {
    uint32_t width = cols / l->groups;
    l->g_idx = g_new(int32_t, cols);
    for (uint32_t i = 0; i < cols; i++)
      l->g_idx[i] = (int32_t)(i / width);
    for (uint32_t i = cols - 1; shuffle && i > 0; i--) {
      uint32_t j = g_rand_int_range(rand, 0, i + 1);
      int32_t t = l->g_idx[i];
      l->g_idx[i] = l->g_idx[j], l->g_idx[j] = t;
    }
  }
  g_rand_free(rand);
}

static void
packed_weight_row(const PackedWeights *pw, uint32_t j, float *row)
{
  uint32_t p = pw->n_parts - 1;
  while (j < pw->first_row[p])
    p--;
  const StoredLinear *l = &pw->parts[p];
  if (l->config.method == VF_QUANT_GPTQ)
    ref_gptq_dequant_row(l->config.bits, l->rows, l->cols, l->qweight, l->qzeros, l->scales, l->g_idx,
                         j - pw->first_row[p], row);
  else
    ref_awq_dequant_row(l->rows, l->cols, l->groups, l->qweight, l->qzeros, l->scales, j - pw->first_row[p], row);
}

/* `n_parts` random linears of `rows[i]` outputs each, fused. */
static PackedWeights *
packed_new(VfQuantMethod method, uint32_t bits, const uint32_t *rows, uint32_t n_parts, uint32_t cols,
           uint32_t group_size, bool shuffle, uint32_t seed)
{
  PackedWeights *pw = g_new0(PackedWeights, 1);
  pw->n_parts = n_parts;
  pw->cols = cols;
  for (uint32_t p = 0; p < n_parts; p++) {
    pw->first_row[p] = pw->rows;
    stored_random(&pw->parts[p], method, bits, rows[p], cols, group_size, shuffle, seed + p);
    pw->rows += rows[p];
  }
  return pw;
}

static void
packed_free(PackedWeights *pw)
{
  for (uint32_t p = 0; p < pw->n_parts; p++) {
    g_free(pw->parts[p].qweight);
    g_free(pw->parts[p].qzeros);
    g_free(pw->parts[p].scales);
    g_free(pw->parts[p].g_idx);
  }
  g_free(pw);
}

/* Repacks every part with vf_quant_repack (as the loader does) and uploads the packed matrix. */
static VfMatrix
packed_upload(const PackedWeights *pw)
{
  const VfQuantConfig *qc = &pw->parts[0].config;
  uint32_t width = vf_quant_group_width(qc, pw->cols), groups = pw->cols / width;
  uint64_t row_words = pw->cols / (32 / qc->bits);
  g_autofree uint32_t *words = g_new(uint32_t, pw->rows * row_words);
  g_autofree uint32_t *group_words = g_new(uint32_t, (uint64_t)pw->rows * groups);
  g_autofree uint32_t *g_idx = g_new(uint32_t, (uint64_t)pw->n_parts * pw->cols);
  bool any_act_order = false;
  for (uint32_t p = 0; p < pw->n_parts; p++) {
    const StoredLinear *l = &pw->parts[p];
    VfQuantTensors t = {{l->qweight, l->qzeros, l->scales, l->g_idx}};
    bool act_order;
    g_autoptr(GError) error = NULL;
    g_assert_true(vf_quant_repack(qc, l->rows, l->cols, &t, words + pw->first_row[p] * row_words,
                                  group_words + (uint64_t)pw->first_row[p] * groups, g_idx + (uint64_t)p * pw->cols,
                                  &act_order, &error));
    any_act_order |= act_order;
  }
  VfMatrix m = {.buf = vf_test_upload(words, pw->rows * row_words * 4), .dtype = VF_DTYPE_I32,
                .rows = pw->rows, .cols = pw->cols,
                .packing = {.bits = qc->bits, .group_width = width,
                            .groups = vf_test_upload(group_words, (uint64_t)pw->rows * groups * 4),
                            .g_idx_rows = {pw->n_parts > 1 ? pw->first_row[1] : pw->rows,
                                           pw->n_parts > 2 ? pw->first_row[2] : pw->rows}}};
  if (any_act_order)
    m.packing.g_idx = vf_test_upload(g_idx, (uint64_t)pw->n_parts * pw->cols * 4);
  return m;
}

/* Runs `v` on the packed weights against the reference; returns the dispatch count. */
static uint32_t
run_packed_weights(VfMatmulVariant v, const PackedWeights *pw, const VfMatrix *mw, uint32_t m, unsigned opts)
{
  VfDevice *dev = vf_test_device();
  uint32_t n = pw->rows, k = pw->cols, seed = m * 7919u + n * 104729u + k * 31u;
  g_autofree float *x = vf_test_random((size_t)m * k, -1, 1, seed);
  g_autofree float *bias = (opts & WITH_BIAS) ? vf_test_random(n, -1, 1, seed + 2) : NULL;
  g_autofree float *residual = (opts & WITH_RESIDUAL) ? vf_test_random((size_t)m * n, -2, 2, seed + 3) : NULL;
  size_t y_bytes = (size_t)m * n * 4;
  VfBuffer bx = vf_test_upload(x, (size_t)m * k * 4);
  VfBuffer bb = bias ? vf_test_upload(bias, n * 4) : (VfBuffer){0};
  bool in_place = residual && (opts & RESIDUAL_IN_PLACE);
  VfBuffer by = vf_test_upload(in_place ? residual : NULL, y_bytes);
  VfBuffer br = residual && !in_place ? vf_test_upload(residual, y_bytes) : (VfBuffer){0};

  const VfQuantConfig *qc = &pw->parts[0].config;
  g_autofree char *what = g_strdup_printf(
    "%s %s q%u M=%u N=%u K=%u group %u%s%s%s%s", vf_matmul_variant_name(v), vf_quant_format_name(qc), qc->bits, m,
    n, k, mw->packing.group_width, mw->packing.g_idx.buffer ? " act-order" : "", bias ? " +bias" : "",
    residual ? " +residual" : "", in_place ? " (in place)" : "");
  uint32_t dispatches = 0;
  if (v != VF_MATMUL_AUTO && !vf_matmul_supports(dev, v, mw, m)) {
    g_printerr("%s: unexpectedly unsupported\n", what);
    g_test_fail();
  } else {
    VfCmd *cmd = vf_test_cmd();
    vf_op_matmul_variant(cmd, v, &bx, m, mw, bias ? &bb : NULL, residual ? (in_place ? &by : &br) : NULL, &by);
    dispatches = vf_cmd_dispatch_count(cmd);
    vf_test_submit(cmd);
    g_autofree float *got = g_new(float, (size_t)m * n);
    vf_test_download(&by, got, y_bytes);
    Problem pb = {.x = x, .bias = bias, .residual = residual, .m = m, .n = n, .k = k,
                  .w = {.packed = pw, .k = k}};
    check_outputs(what, &pb, got);
  }
  vf_test_release(&bx);
  vf_test_release(&by);
  if (bias)
    vf_test_release(&bb);
  if (residual && !in_place)
    vf_test_release(&br);
  return dispatches;
}

static void
packed_release(VfMatrix *m)
{
  vf_test_release(&m->buf);
  vf_test_release(&m->packing.groups);
  if (m->packing.g_idx.buffer)
    vf_test_release(&m->packing.g_idx);
}

static const VfMatmulVariant gemv_variants[] = {VF_MATMUL_GEMV_SUBGROUP, VF_MATMUL_GEMV_TEXEL};
static const VfMatmulVariant gemm_variants[] = {VF_MATMUL_GEMM_TILED, VF_MATMUL_GEMM_TEXEL};

/* The decoder linears of 2B, 7B and 72B at their real shapes (N outputs, K inputs), group 128: GEMV at
 * M = 1 and 3 (decode, batched decode) and GEMM at a prefill-sized M, in both families, the three formats
 * taking turns. The big GEMMs run a few rows of X (the weights are what is being tested). */
static void
test_packed_real_shapes(void)
{
  static const struct {
    uint32_t n, k, gemm_m;
  } shapes[] = {
    {1536, 1536, 67},  {256, 1536, 67}, {8960, 1536, 20},  {1536, 8960, 20},
    {3584, 3584, 9},   {512, 3584, 9},  {18944, 3584, 5},  {3584, 18944, 5},
    {29696, 8192, 5},  {8192, 29696, 5},
  };
  static const struct {
    VfQuantMethod method;
    uint32_t bits;
  } formats[] = {{VF_QUANT_GPTQ, 4}, {VF_QUANT_AWQ, 4}, {VF_QUANT_GPTQ, 8}};
  for (size_t s = 0; s < G_N_ELEMENTS(shapes); s++) {
    /* 72B in GPTQ (its repack is a transpose: the biggest matrices set up fastest). */
    size_t f = shapes[s].n * (uint64_t)shapes[s].k > 200000000u ? s % 2 * 2 : s % G_N_ELEMENTS(formats);
    PackedWeights *pw = packed_new(formats[f].method, formats[f].bits, &shapes[s].n, 1, shapes[s].k, 128, false,
                                   (uint32_t)s);
    VfMatrix mw = packed_upload(pw);
    for (size_t v = 0; v < G_N_ELEMENTS(gemv_variants); v++) {
      run_packed_weights(gemv_variants[v], pw, &mw, 1, s == 0 ? WITH_BIAS | WITH_RESIDUAL : 0);
      run_packed_weights(gemv_variants[v], pw, &mw, 3, WITH_RESIDUAL | RESIDUAL_IN_PLACE);
    }
    for (size_t v = 0; v < G_N_ELEMENTS(gemm_variants); v++)
      run_packed_weights(gemm_variants[v], pw, &mw, shapes[s].gemm_m, s == 1 ? WITH_BIAS : 0);
    run_packed_weights(VF_MATMUL_AUTO, pw, &mw, 1, 0);
    packed_release(&mw);
    packed_free(pw);
  }
}

/* Group shapes off the fast paths: odd group counts (3 of 512, 3 of 96, 7 of 1280), one group per column
 * (-1), groups narrower than a texel step or a word (16, 8 and 4 inputs), every variant and format. */
static void
test_packed_groups(void)
{
  static const struct {
    uint32_t n, k, group_size;
  } shapes[] = {
    {40, 1536, 512}, {72, 288, 96}, {64, 8960, 1280}, {136, 1536, 0}, {48, 256, 16}, {24, 128, 8}, {16, 64, 4},
  };
  static const struct {
    VfQuantMethod method;
    uint32_t bits;
  } formats[] = {{VF_QUANT_GPTQ, 4}, {VF_QUANT_GPTQ, 8}, {VF_QUANT_AWQ, 4}};
  unsigned count = 0;
  for (size_t s = 0; s < G_N_ELEMENTS(shapes); s++)
    for (size_t f = 0; f < G_N_ELEMENTS(formats); f++) {
      uint32_t per_word = 32 / formats[f].bits;
      if (shapes[s].group_size && shapes[s].group_size % per_word && formats[f].method == VF_QUANT_AWQ)
        continue; /* AWQ checkpoints group whole words */
      PackedWeights *pw = packed_new(formats[f].method, formats[f].bits, &shapes[s].n, 1, shapes[s].k,
                                     shapes[s].group_size, false, 40 + (uint32_t)(s * 3 + f));
      VfMatrix mw = packed_upload(pw);
      for (size_t v = 0; v < G_N_ELEMENTS(all_variants); v++) {
        bool gemm = all_variants[v] == VF_MATMUL_GEMM_TILED || all_variants[v] == VF_MATMUL_GEMM_TEXEL;
        run_packed_weights(all_variants[v], pw, &mw, gemm ? 13 : 1 + count % 2, count % 3 == 0 ? WITH_BIAS : 0);
        count++;
      }
      packed_release(&mw);
      packed_free(pw);
    }
}

/* GPTQ act-order: a shuffled g_idx per part of a fused q/k/v-like matrix (rows 96 + 32 + 32), every
 * variant, 4 and 8 bits; and a single linear at a real 2B shape. */
static void
test_packed_act_order(void)
{
  static const uint32_t qkv[3] = {96, 32, 32};
  for (uint32_t bits = 4; bits <= 8; bits += 4) {
    PackedWeights *pw = packed_new(VF_QUANT_GPTQ, bits, qkv, 3, 256, 64, true, 90 + bits);
    VfMatrix mw = packed_upload(pw);
    g_assert_nonnull(mw.packing.g_idx.buffer);
    for (size_t v = 0; v < G_N_ELEMENTS(all_variants); v++) {
      bool gemm = all_variants[v] == VF_MATMUL_GEMM_TILED || all_variants[v] == VF_MATMUL_GEMM_TEXEL;
      run_packed_weights(all_variants[v], pw, &mw, gemm ? 19 : 2, WITH_BIAS);
    }
    packed_release(&mw);
    packed_free(pw);
  }
  const uint32_t n = 1536;
  PackedWeights *pw = packed_new(VF_QUANT_GPTQ, 4, &n, 1, 1536, 128, true, 99);
  VfMatrix mw = packed_upload(pw);
  for (size_t v = 0; v < G_N_ELEMENTS(all_variants); v++)
    run_packed_weights(all_variants[v], pw, &mw, v % 2 ? 1 : 7, 0);
  packed_release(&mw);
  packed_free(pw);
}

/* Small simulated bindings: the word and group arrays split into several windows at the same rows. */
static void
test_packed_windows(void)
{
  const uint32_t n = 1000;
  PackedWeights *pw = packed_new(VF_QUANT_AWQ, 4, &n, 1, 512, 64, false, 123);
  VfMatrix mw = packed_upload(pw);
  Limits saved = simulate_limits(64 << 10, (64 << 10) / 16, 256);
  for (size_t v = 0; v < G_N_ELEMENTS(all_variants); v++)
    g_assert_cmpuint(run_packed_weights(all_variants[v], pw, &mw, v % 2 ? 2 : 9, WITH_BIAS | WITH_RESIDUAL), >=, 2);
  restore_limits(saved);
  packed_release(&mw);
  packed_free(pw);

  /* A texel-unfriendly K (a multiple of 8, not 32) leaves only the storage-buffer variants; the policy
   * picks one and a forced texel variant is an error naming the need. */
  const uint32_t rows = 64;
  pw = packed_new(VF_QUANT_GPTQ, 4, &rows, 1, 264, 8, false, 124);
  mw = packed_upload(pw);
  VfDevice *dev = vf_test_device();
  g_assert_false(vf_matmul_supports(dev, VF_MATMUL_GEMV_TEXEL, &mw, 1));
  g_assert_true(vf_matmul_supports(dev, VF_MATMUL_AUTO, &mw, 1));
  run_packed_weights(VF_MATMUL_AUTO, pw, &mw, 1, 0);
  run_packed_weights(VF_MATMUL_AUTO, pw, &mw, 40, 0);
  VfBuffer bx = vf_test_upload(NULL, 264 * 4), by = vf_test_upload(NULL, rows * 4);
  VfCmd *cmd = vf_test_cmd();
  vf_op_matmul_variant(cmd, VF_MATMUL_GEMV_TEXEL, &bx, 1, &mw, NULL, NULL, &by);
  g_autoptr(GError) error = NULL;
  g_assert_false(vf_cmd_submit(cmd, &error));
  g_assert_nonnull(strstr(error->message, "K % 32"));
  vf_cmd_free(cmd);
  vf_test_release(&bx);
  vf_test_release(&by);
  packed_release(&mw);
  packed_free(pw);
}

/* The fused QuickGELU epilogue gives, bit for bit, what the matmul followed by the quick_gelu op gives, in
 * every variant and weight dtype, with and without bias, for GEMV- and GEMM-sized M. */
static void
test_quick_gelu_epilogue(void)
{
  const uint32_t n = 200, k = 64, rows[] = {1, 37};
  VfDevice *dev = vf_test_device();
  for (size_t d = 0; d < G_N_ELEMENTS(all_dtypes); d++)
    for (size_t v = 0; v < G_N_ELEMENTS(all_variants); v++)
      for (size_t r = 0; r < G_N_ELEMENTS(rows); r++)
        for (int with_bias = 0; with_bias < 2; with_bias++) {
          uint32_t m = rows[r];
          g_autofree float *wv = vf_test_random((size_t)n * k, -0.3f, 0.3f, 70 + (uint32_t)d);
          g_autofree void *wq = quantize(all_dtypes[d], wv, (size_t)n * k);
          VfMatrix w = {.buf = vf_test_upload(wq, (size_t)n * k * vf_dtype_size(all_dtypes[d])),
                        .dtype = all_dtypes[d], .rows = n, .cols = k};
          if (!vf_matmul_supports(dev, all_variants[v], &w, m)) {
            vf_test_release(&w.buf);
            continue;
          }
          /* Inputs of a few units: both tails of the sigmoid and its middle. */
          g_autofree float *xv = vf_test_random((size_t)m * k, -2, 2, 80 + m);
          g_autofree float *bv = vf_test_random(n, -3, 3, 90);
          VfBuffer x = vf_test_upload(xv, (size_t)m * k * 4), bias = vf_test_upload(bv, n * 4);
          VfBuffer fused = vf_test_upload(NULL, (size_t)m * n * 4), apart = vf_test_upload(NULL, (size_t)m * n * 4);
          VfCmd *cmd = vf_test_cmd();
          const VfBuffer *b = with_bias ? &bias : NULL;
          vf_op_matmul_act(cmd, all_variants[v], &x, m, &w, b, NULL, VF_MATMUL_ACT_QUICK_GELU, &fused);
          vf_op_matmul_variant(cmd, all_variants[v], &x, m, &w, b, NULL, &apart);
          vf_op_quick_gelu(cmd, &apart, &apart, m * n);
          vf_test_submit(cmd);
          g_autofree float *got = g_new(float, (size_t)m * n);
          g_autofree float *want = g_new(float, (size_t)m * n);
          vf_test_download(&fused, got, (size_t)m * n * 4);
          vf_test_download(&apart, want, (size_t)m * n * 4);
          size_t differ = 0;
          for (size_t i = 0; i < (size_t)m * n; i++)
            differ += memcmp(&got[i], &want[i], 4) != 0;
          if (differ)
            g_printerr("quick_gelu epilogue %s %s M=%u bias %d: %zu of %u differ\n",
                       vf_matmul_variant_name(all_variants[v]), vf_dtype_name(all_dtypes[d]), m, with_bias, differ,
                       m * n);
          g_assert_cmpuint(differ, ==, 0);
          VfBuffer *bufs[] = {&w.buf, &x, &bias, &fused, &apart};
          for (size_t i = 0; i < G_N_ELEMENTS(bufs); i++)
            vf_test_release(bufs[i]);
        }
}

int
main(int argc, char **argv)
{
  vf_test_init(&argc, &argv);
  g_test_add_func("/ops/matmul/odd-sizes", test_odd_sizes);
  g_test_add_func("/ops/matmul/bias-residual", test_bias_residual);
  g_test_add_func("/ops/matmul/quick-gelu-epilogue", test_quick_gelu_epilogue);
  g_test_add_func("/ops/matmul/policy", test_policy);
  g_test_add_func("/ops/matmul/windows-simulated", test_windows_simulated);
  g_test_add_func("/ops/matmul/qwen2-gemv", test_qwen2_gemv);
  g_test_add_func("/ops/matmul/qwen2-gemm", test_qwen2_gemm);
  g_test_add_func("/ops/matmul/lm-head-windows", test_lm_head_windows);
  g_test_add_func("/ops/matmul/gemm-windows", test_gemm_windows);
  g_test_add_func("/ops/matmul/packed/real-shapes", test_packed_real_shapes);
  g_test_add_func("/ops/matmul/packed/groups", test_packed_groups);
  g_test_add_func("/ops/matmul/packed/act-order", test_packed_act_order);
  g_test_add_func("/ops/matmul/packed/windows", test_packed_windows);
  return vf_test_finish();
}
