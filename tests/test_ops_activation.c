/* Activations, erf, embedding gather and argmax against their CPU references. */
#include <math.h>
#include <string.h>

#include "ops_window.h"
#include "ref/ref_activation.h"
#include "ref/ref_common.h"
#include "vf_test.h"

#define U 0x1p-24 /* unit roundoff of f32 */
/* Vulkan lets any f32 operation flush denormals: results below the smallest normal float may be 0. */
#define FLUSH 0x1p-126

/* Size of one unit in the last place of v rounded to f32 (normal range; the denormal spacing below). */
static double
ulp_f32(double v)
{
  double a = fabs(v);
  if (a < 0x1p-126)
    return 0x1p-149;
  int e;
  frexp((float)a, &e);
  return ldexp(1.0, e - 24);
}

/* Runs one of the element-wise ops over x (n floats), in place when asked. */
static float *
run_unary(void (*op)(VfCmd *, const VfBuffer *, const VfBuffer *, uint32_t), const float *x, uint32_t n,
          gboolean in_place)
{
  float *got = g_new(float, n);
  VfBuffer bx = vf_test_upload(x, (size_t)n * 4);
  VfBuffer by = in_place ? bx : vf_test_upload(NULL, (size_t)n * 4);
  VfCmd *cmd = vf_test_cmd();
  op(cmd, &bx, &by, n);
  vf_test_submit(cmd);
  vf_test_download(&by, got, (size_t)n * 4);
  vf_test_release(&bx);
  if (!in_place)
    vf_test_release(&by);
  return got;
}

/* ---- erf and GELU ------------------------------------------------------------------------------ */

static void
test_erf_sweep(void)
{
  /* Every multiple of 2^-17 in [-10, 10] (2.6 M points, all normal floats), then tiny, huge and
   * infinite arguments. */
  const double step = 0x1p-17;
  uint32_t dense = (uint32_t)(20 / step) + 1;
  const float extra[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-10f, 3e-5f, -7e-4f, 0.5f, 0.99999994f, 1.0f,
                         1.0000001f, 3.9999998f, 4.0f, 9.3f, 12.0f, -1e3f, 1e30f, INFINITY, -INFINITY};
  uint32_t n = dense + G_N_ELEMENTS(extra);
  g_autofree float *x = g_new(float, n);
  for (uint32_t i = 0; i < dense; i++)
    x[i] = (float)(-10 + i * step);
  memcpy(x + dense, extra, sizeof extra);
  g_autofree float *got = run_unary(vf_op_erf, x, n, FALSE);

  double worst = 0;
  uint32_t at = 0;
  for (uint32_t i = 0; i < n; i++) {
    double want = erf((double)x[i]);
    double ulps = fabs((double)got[i] - want) / ulp_f32(want);
    if (!(ulps <= worst)) {
      worst = ulps;
      at = i;
    }
  }
  g_test_message("erf: %u points, max error %.3f ulp at x = %.9g (got %.9g, C erf %.9g)", n, worst, x[at],
                 got[at], erf((double)x[at]));
  g_printerr("erf: max error %.3f ulp over %u points in [-10, 10] and specials (at x = %.9g)\n", worst, n, x[at]);
  /* Budget (erf.glsl): below |x| = 1, x + x·P(x²) with P's fit error ≤ 0.02 ulp and ≈ 1.3 ulp of f32
   * evaluation; above it 1 − erfc with erfc ≤ 0.16, so erfc's ≈ 5 ulp (10 where division is the
   * 2.5-ulp operation Vulkan allows) add at most 0.16·10·2 ≈ 3 ulp of erfc's scale, i.e. under
   * 1 ulp of erf, plus the subtraction's half ulp. 3 ulp leaves no room for a wrong coefficient. */
  g_assert_cmpfloat(worst, <=, 3.0);
}

static void
check_gelu(const float *x, uint32_t n, const char *what, gboolean in_place)
{
  g_autofree float *got = run_unary(vf_op_gelu, x, n, in_place);
  g_autofree float *want = g_new(float, n);
  g_autofree double *tol = g_new(double, n);
  /* For x/√2 > −0.5, 0.5·x·(1 + erf): erf within 3 ulp (see the erf test) is ≤ 6.3u of 1 + erf ≥ 0.48,
   * plus the roundings of x/√2 (changes erf by ≤ 0.5u), 1 + erf and the product: under 10u. Below,
   * erfc(|x|/√2) directly: ≈ 5 ulp measured with exact division, up to 10 ulp more where division is
   * 2.5 ulp, plus exp's split (≤ 2 ulp) and two products: ≤ 16 ulp ≤ 32u. The reference's rounding
   * adds u, flushed denormals FLUSH. */
  for (uint32_t i = 0; i < n; i++) {
    want[i] = ref_gelu(x[i]);
    tol[i] = 33 * U * fabs((double)want[i]) + FLUSH;
  }
  vf_test_assert_within(what, got, want, tol, n);
}

static void
test_gelu(void)
{
  /* Dense over [-16, 16] (the whole negative tail down to underflow), then random vision-MLP-like values. */
  uint32_t n = 32 * 4096 + 1;
  g_autofree float *x = g_new(float, n);
  for (uint32_t i = 0; i < n; i++)
    x[i] = (float)(-16 + i / 4096.0);
  check_gelu(x, n, "gelu sweep [-16, 16]", FALSE);
  g_autofree float *r = vf_test_random(5120 * 3 + 7, -6, 6, 11);
  check_gelu(r, 5120 * 3 + 7, "gelu random, in place", TRUE);
  const float special[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 1e30f, -1e30f, INFINITY};
  check_gelu(special, G_N_ELEMENTS(special), "gelu specials", FALSE);
}

static void
check_quick_gelu(const float *x, uint32_t n, const char *what, gboolean in_place)
{
  g_autofree float *got = run_unary(vf_op_quick_gelu, x, n, in_place);
  g_autofree float *want = g_new(float, n);
  g_autofree double *tol = g_new(double, n);
  /* x / (1 + exp(−1.702x)) with a = |1.702x|: the argument's roundings (1.702 in f32, the product)
   * move exp by ≤ 1.2a·u; Vulkan's exp is within (3 + 2a) ulp = (6 + 4a)u; 1 + e, the division
   * (2.5 ulp = 5u) and the reference's rounding add 7u: (13 + 6a)·u relative. */
  for (uint32_t i = 0; i < n; i++) {
    want[i] = ref_quick_gelu(x[i]);
    double a = fabs(1.702 * x[i]);
    tol[i] = (13 + 6 * a) * U * fabs((double)want[i]) + FLUSH;
  }
  vf_test_assert_within(what, got, want, tol, n);
}

static void
test_quick_gelu(void)
{
  g_autofree float *x = vf_test_random(5120 * 7 + 3, -20, 20, 5);
  const float special[] = {0.0f, -0.0f, 60.0f, -60.0f, 100.0f, -100.0f, 1e-30f};
  memcpy(x, special, sizeof special);
  check_quick_gelu(x, 5120 * 7 + 3, "quick_gelu", FALSE);
  check_quick_gelu(x, 1, "quick_gelu, one element, in place", TRUE);
}

static void
test_unary_windows(void)
{
  /* 2^25 + 4097 floats (134 MB) exceed one 128 MiB binding: the op runs in windows. */
  uint32_t n = (1u << 25) + 4097;
  g_autofree float *x = vf_test_random(n, -8, 8, 99);
  check_quick_gelu(x, n, "quick_gelu in windows, in place", TRUE);
}

/* ---- silu · mul -------------------------------------------------------------------------------- */

static void
check_silu_mul(uint32_t rows, uint32_t width, uint32_t gate, uint32_t up, uint32_t row_stride)
{
  size_t nx = (size_t)rows * row_stride, ny = (size_t)rows * width;
  g_autofree float *x = vf_test_random(nx, -12, 12, width + rows);
  x[gate] = -100; /* exp(100) overflows: silu must still come out as (−)0 */
  x[gate + width - 1] = 95;
  g_autofree float *want = g_new(float, ny);
  g_autofree float *got = g_new(float, ny);
  g_autofree double *tol = g_new(double, ny);
  ref_silu_mul(x, rows, row_stride, gate, up, width, want);
  /* u / (1 + exp(−u)) · v: Vulkan's exp within (3 + 2|u|) ulp = (6 + 4|u|)u, then 1 + e, the
   * division (5u), the product and the reference's rounding: (14 + 4|u|)·u relative. */
  for (uint32_t r = 0; r < rows; r++)
    for (uint32_t i = 0; i < width; i++) {
      size_t k = (size_t)r * width + i;
      double u = fabs((double)x[(size_t)r * row_stride + gate + i]);
      tol[k] = (14 + 4 * u) * U * fabs((double)want[k]) + FLUSH;
    }
  VfBuffer bx = vf_test_upload(x, nx * 4), by = vf_test_upload(NULL, ny * 4);
  VfCmd *cmd = vf_test_cmd();
  VfSiluMulShape shape = {.rows = rows, .row_stride = row_stride, .gate = gate, .up = up, .width = width};
  vf_op_silu_mul(cmd, &bx, &shape, &by);
  vf_test_submit(cmd);
  vf_test_download(&by, got, ny * 4);
  g_autofree char *what = g_strdup_printf("silu_mul %ux%u (gate %u, up %u, stride %u)", rows, width, gate, up,
                                          row_stride);
  vf_test_assert_within(what, got, want, tol, ny);
  vf_test_release(&bx);
  vf_test_release(&by);
}

static void
test_silu_mul(void)
{
  check_silu_mul(3, 8960, 0, 8960, 17920);  /* the 2B model's fused gate_up rows */
  check_silu_mul(5, 128, 0, 128, 256);      /* tiny-a */
  check_silu_mul(7, 333, 340, 2, 700);      /* odd sizes, up before gate, padding */
  check_silu_mul(1, 1, 1, 0, 2);
}

/* ---- embedding --------------------------------------------------------------------------------- */

/* A table of `rows` × `width` distinct-looking values of the given dtype (f32 copy for the reference). */
static void *
make_table(VfDType dtype, uint32_t rows, uint32_t width, float **as_f32)
{
  size_t n = (size_t)rows * width;
  float *f = vf_test_random(n, -3, 3, rows + width);
  void *data;
  if (dtype == VF_DTYPE_F32) {
    data = g_memdup2(f, n * 4);
  } else {
    uint16_t *h = dtype == VF_DTYPE_BF16 ? vf_test_to_bf16(f, n) : vf_test_to_f16(f, n);
    for (size_t i = 0; i < n; i++)
      f[i] = dtype == VF_DTYPE_BF16 ? ref_bf16_to_f32(h[i]) : ref_f16_to_f32(h[i]);
    data = h;
  }
  *as_f32 = f;
  return data;
}

static void
check_embed(VfDType dtype, uint32_t rows, uint32_t width, uint64_t window_bytes)
{
  g_autofree float *table_f32 = NULL;
  g_autofree void *table = make_table(dtype, rows, width, &table_f32);
  size_t table_bytes = (size_t)rows * width * vf_dtype_size(dtype);
  /* Every row once, in a scrambled order, then ids outside the table and repeats. */
  uint32_t n = rows + 6;
  g_autofree int32_t *ids = g_new(int32_t, n);
  for (uint32_t i = 0; i < rows; i++)
    ids[i] = (int32_t)((i * 7919u + 13) % rows);
  int32_t outside[] = {-1, (int32_t)rows, INT32_MIN, INT32_MAX, (int32_t)rows - 1, 0};
  memcpy(ids + rows, outside, sizeof outside);
  g_autofree float *want = g_new(float, (size_t)n * width);
  g_autofree float *got = g_new(float, (size_t)n * width);
  ref_embed(table_f32, rows, width, ids, n, want);

  /* Uploads are whole words: pad a copy rather than read past the table. */
  size_t padded_bytes = (table_bytes + 3) / 4 * 4;
  g_autofree uint8_t *padded = g_malloc0(padded_bytes);
  memcpy(padded, table, table_bytes);
  VfMatrix m = {.buf = vf_test_upload(padded, padded_bytes), .dtype = dtype, .rows = rows, .cols = width};
  VfBuffer bi = vf_test_upload(ids, n * 4);
  /* Y starts as NaN everywhere, so a row no window writes cannot pass for a zero row. */
  g_autofree uint32_t *nan_fill = g_new(uint32_t, (size_t)n * width);
  for (size_t i = 0; i < (size_t)n * width; i++)
    nan_fill[i] = 0x7fc00000u;
  VfBuffer by = vf_test_upload(nan_fill, (size_t)n * width * 4);
  VfCmd *cmd = vf_test_cmd();
  vf_op_embed_windowed(cmd, &m, &bi, n, &by, window_bytes);
  vf_test_submit(cmd);
  vf_test_download(&by, got, (size_t)n * width * 4);
  g_autofree char *what = g_strdup_printf("embed %s %ux%u, windows of %" G_GUINT64_FORMAT " bytes",
                                          vf_dtype_name(dtype), rows, width, (guint64)window_bytes);
  /* A gather of exactly representable values: exact. */
  vf_test_assert_close(what, got, want, (size_t)n * width, 0, 0);
  vf_test_release(&m.buf);
  vf_test_release(&bi);
  vf_test_release(&by);
}

static void
test_embed_small(void)
{
  VfDType dtypes[] = {VF_DTYPE_BF16, VF_DTYPE_F16, VF_DTYPE_F32};
  for (size_t d = 0; d < G_N_ELEMENTS(dtypes); d++) {
    size_t es = vf_dtype_size(dtypes[d]);
    check_embed(dtypes[d], 300, 64, 0);            /* one window */
    check_embed(dtypes[d], 301, 77, 0);            /* odd width */
    check_embed(dtypes[d], 301, 77, 17 * 77 * es); /* many windows of odd-width rows */
    check_embed(dtypes[d], 97, 1536, 10 * 1536 * es + 100); /* many windows of the real width */
  }
}

/* Deterministic bf16 entry of the big table: sign, exponent 2^-15 .. 2^16, mantissa all from a hash, so
 * a row read from the wrong place cannot match. */
static uint16_t
big_entry(uint64_t i)
{
  uint64_t h = i * 0x9e3779b97f4a7c15ull;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 32;
  return (uint16_t)((h & 0x807fu) | ((0x70u + ((h >> 8) & 0x1fu)) << 7));
}

static void
test_embed_real_table(void)
{
  /* The real 151936 × 1536 bf16 table: 467 MB, several times one 128 MiB binding. Written in 16 MiB
   * pieces so the test never holds a host copy. */
  VfDevice *dev = vf_test_device();
  const uint32_t rows = 151936, width = 1536;
  uint64_t bytes = (uint64_t)rows * width * 2;
  VfMatrix m = {.dtype = VF_DTYPE_BF16, .rows = rows, .cols = width};
  g_autoptr(GError) error = NULL;
  g_assert_true(vf_buffer_alloc(dev, VF_MEMORY_DEVICE, bytes, &m.buf, &error));
  const uint64_t piece = 8u << 20; /* entries per piece (16 MiB) */
  g_autofree uint16_t *buf = g_new(uint16_t, piece);
  for (uint64_t first = 0; first < bytes / 2; first += piece) {
    uint64_t count = MIN(piece, bytes / 2 - first);
    for (uint64_t i = 0; i < count; i++)
      buf[i] = big_entry(first + i);
    g_assert_true(vf_buffer_upload(dev, &m.buf, first * 2, buf, count * 2, &error));
  }

  /* Ids at every window boundary of this device, the table's ends, random rows and outside ids. */
  uint64_t row_bytes = (uint64_t)width * 2;
  uint32_t per_window = vf_ops_window_rows(dev, rows, &row_bytes, 1, 0);
  g_assert_cmpuint(per_window, >, 0);
  GArray *ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
  for (uint32_t w = 0; w < rows; w += per_window) {
    int32_t around[] = {(int32_t)w - 1, (int32_t)w, (int32_t)w + 1};
    g_array_append_vals(ids, around, 3);
  }
  int32_t ends[] = {0, (int32_t)rows - 1, (int32_t)rows, -7, 151655, 151643, 151645};
  g_array_append_vals(ids, ends, G_N_ELEMENTS(ends));
  g_autofree float *rnd = vf_test_random(40, 0, 1, 3);
  for (int i = 0; i < 40; i++) {
    int32_t id = (int32_t)(rnd[i] * rows);
    g_array_append_val(ids, id);
  }
  uint32_t n = ids->len;
  size_t out = (size_t)n * width;
  g_autofree float *want = g_new(float, out);
  for (uint32_t i = 0; i < n; i++) {
    int32_t id = g_array_index(ids, int32_t, i);
    for (uint32_t c = 0; c < width; c++)
      want[(size_t)i * width + c] =
        id < 0 || (uint32_t)id >= rows ? 0.0f : ref_bf16_to_f32(big_entry((uint64_t)id * width + c));
  }
  VfBuffer bi = vf_test_upload(ids->data, n * 4), by = vf_test_upload(NULL, out * 4);
  VfCmd *cmd = vf_test_cmd();
  vf_op_embed(cmd, &m, &bi, n, &by);
  uint32_t dispatches = vf_cmd_dispatch_count(cmd);
  vf_test_submit(cmd);
  g_autofree float *got = g_new(float, out);
  vf_test_download(&by, got, out * 4);
  g_printerr("embed: 151936x1536 bf16 table (%.0f MB) in %u windows of %u rows\n", bytes / 1e6, dispatches,
             per_window);
  g_assert_cmpuint(dispatches, ==, (rows + per_window - 1) / per_window);
  vf_test_assert_close("embed real table", got, want, out, 0, 0);
  g_array_unref(ids);
  vf_test_release(&m.buf);
  vf_test_release(&bi);
  vf_test_release(&by);
}

/* ---- argmax ------------------------------------------------------------------------------------ */

static void
check_argmax(const VfReduction *red, const float *x, uint32_t n, const char *what)
{
  uint32_t want = ref_argmax(x, n);
  VfBuffer bx = vf_test_upload(x, (size_t)n * 4);
  VfBuffer scratch = vf_test_upload(NULL, vf_op_argmax_scratch_size(n));
  VfBuffer bo = vf_test_upload(NULL, 4);
  VfCmd *cmd = vf_test_cmd();
  if (red)
    vf_op_argmax_with(cmd, *red, &bx, n, &scratch, &bo);
  else
    vf_op_argmax(cmd, &bx, n, &scratch, &bo);
  vf_test_submit(cmd);
  uint32_t got = 0;
  vf_test_download(&bo, &got, 4);
  if (got != want) {
    g_printerr("argmax %s (n %u, %s/%u): got %u, want %u\n", what, n, red ? (red->subgroup ? "subgroup" : "shared")
               : "default", red ? red->workgroup : 0, got, want);
    g_test_fail();
  }
  vf_test_release(&bx);
  vf_test_release(&scratch);
  vf_test_release(&bo);
}

static void
argmax_cases(const VfReduction *red)
{
  const uint32_t sizes[] = {1, 7, 1000, 1024, 1025, 4099, 151936, 152064};
  for (size_t s = 0; s < G_N_ELEMENTS(sizes); s++) {
    uint32_t n = sizes[s];
    g_autofree float *x = vf_test_random(n, -30, 30, n);
    check_argmax(red, x, n, "random");
    /* Ties: the maximum at several indices (in one subgroup, in other workgroups); the lowest wins. */
    uint32_t spots[] = {n - 1, n / 2 + 3, n / 2 + 1, n / 3, 1025, 5, 3};
    for (size_t k = 0; k < G_N_ELEMENTS(spots); k++)
      if (spots[k] < n)
        x[spots[k]] = 31;
    check_argmax(red, x, n, "ties");
    /* All equal: index 0. */
    for (uint32_t i = 0; i < n; i++)
      x[i] = -2.5f;
    check_argmax(red, x, n, "all equal");
    /* −0 equals +0 (torch compares them equal): the first zero wins, whatever its sign. */
    for (uint32_t i = 0; i < n; i++)
      x[i] = -INFINITY;
    x[n - 1] = 0.0f;
    x[n / 2] = -0.0f;
    check_argmax(red, x, n, "signed zeros and -inf");
    /* NaN beats +inf; the first NaN wins. */
    x[n / 3] = INFINITY;
    x[n - 1] = NAN;
    x[(n * 2) / 3] = -NAN;
    check_argmax(red, x, n, "NaN");
  }
}

static void
test_argmax(void)
{
  VfDevice *dev = vf_test_device();
  uint32_t sg = vf_device_get_info(dev)->subgroup_size;
  VfReduction reds[] = {{true, sg}, {true, 256}, {false, sg}, {false, 256}};
  VfTestVariants tv = {0};
  for (size_t i = 0; i < G_N_ELEMENTS(reds); i++) {
    g_autofree char *name = g_strdup_printf("%s/%u", reds[i].subgroup ? "subgroup" : "shared", reds[i].workgroup);
    if (!vf_ops_reduction_supported(dev, reds[i])) {
      vf_test_variant_skipped(&tv, name, "vf_ops_reduction_supported says no");
      continue;
    }
    tv.ran++;
    argmax_cases(&reds[i]);
  }
  argmax_cases(NULL);
  vf_test_variants_done(&tv);
}

/* ---- windows ------------------------------------------------------------------------------------ */

static void
test_window_rows(void)
{
  VfDevice *dev = vf_test_device();
  const VfDeviceInfo *info = vf_device_get_info(dev);
  uint64_t one[] = {3072};
  g_assert_cmpuint(vf_ops_window_rows(dev, 100, one, 1, 0), ==, 100);            /* everything fits */
  g_assert_cmpuint(vf_ops_window_rows(dev, 100, one, 1, 3072 * 10), ==, 10);     /* ten rows per window */
  g_assert_cmpuint(vf_ops_window_rows(dev, 100, one, 1, 3000), ==, 0);           /* not even one row */
  /* 151936 rows of 3072 bytes against the device's own binding limit. */
  uint32_t w = vf_ops_window_rows(dev, 151936, one, 1, 0);
  g_assert_cmpuint((uint64_t)w * 3072, <=, info->max_storage_range);
  g_assert_cmpuint((uint64_t)(w + 1) * 3072, >, info->max_storage_range);
  /* Rows of 6 bytes: windows must be multiples of align / gcd(6, align) rows to start aligned. */
  uint64_t odd[] = {6, 4};
  uint32_t r = vf_ops_window_rows(dev, 1000000, odd, 2, 6000);
  g_assert_cmpuint(r, >, 0);
  g_assert_cmpuint(((uint64_t)r * 6) % info->storage_align, ==, 0);
  g_assert_cmpuint(((uint64_t)r * 4) % info->storage_align, ==, 0);
  g_assert_cmpuint((uint64_t)r * 6, <=, 6000);
}

int
main(int argc, char **argv)
{
  vf_test_init(&argc, &argv);
  g_test_add_func("/ops/activation/erf-sweep", test_erf_sweep);
  g_test_add_func("/ops/activation/gelu", test_gelu);
  g_test_add_func("/ops/activation/quick-gelu", test_quick_gelu);
  g_test_add_func("/ops/activation/windows", test_unary_windows);
  g_test_add_func("/ops/activation/silu-mul", test_silu_mul);
  g_test_add_func("/ops/embed/small", test_embed_small);
  g_test_add_func("/ops/embed/real-table", test_embed_real_table);
  g_test_add_func("/ops/argmax", test_argmax);
  g_test_add_func("/ops/window-rows", test_window_rows);
  return vf_test_finish();
}
