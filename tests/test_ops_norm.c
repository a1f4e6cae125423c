/* RMSNorm and LayerNorm against their double-precision references, for every reduction variant. */
#include <math.h>
#include <string.h>

#include "ref/ref_norm.h"
#include "vf_test.h"

#define U 0x1p-24 /* unit roundoff of f32 */

/* Additions on the longest path from one term to the total in norm.comp's sums: each invocation's
 * sequential walk (at most ceil(width / workgroup) terms, plus 2 to fold a vec4), the subgroup
 * reduction and the per-subgroup partials (together fewer than workgroup + 1), never more than
 * width − 1 (any summation order). The rounding error of a sum is at most that depth · u · Σ|terms|. */
static double
sum_depth(uint32_t width, uint32_t workgroup)
{
  double walk = ceil((double)width / workgroup) + 2 + workgroup;
  return fmin(walk, (double)width - 1) + 1;
}

typedef struct {
  const char *name;
  VfReduction red;
} Variant;

static Variant variants[4];
static int nvariants;
static VfTestVariants skipped; /* the variants setup_variants left out, said again by every test that loops */

static void
setup_variants(void)
{
  VfDevice *dev = vf_test_device();
  uint32_t sg = vf_device_get_info(dev)->subgroup_size;
  Variant all[] = {
    {"subgroup/one-subgroup", {true, sg}},
    {"subgroup/256", {true, 256}},
    {"shared/one-subgroup", {false, sg}},
    {"shared/256", {false, 256}},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(all); i++) {
    if (vf_ops_reduction_supported(dev, all[i].red))
      variants[nvariants++] = all[i];
    else
      vf_test_variant_skipped(&skipped, all[i].name, "vf_ops_reduction_supported says no");
  }
  g_assert_cmpint(nvariants, >, 0);
}

/* End of a test that looped over `variants`: the left-out ones make it a visible skip. */
static void
variants_done(void)
{
  VfTestVariants tv = {.ran = (uint32_t)nvariants};
  if (skipped.skipped)
    tv.skipped = g_string_new(skipped.skipped->str);
  vf_test_variants_done(&tv);
}

/* x: rows of uniform noise of amplitude `scale` around `offset` (the offset varies by row). */
static float *
make_rows(uint32_t rows, uint32_t width, float scale, float offset, uint32_t seed)
{
  float *x = vf_test_random((size_t)rows * width, -scale, scale, seed);
  for (uint32_t r = 0; r < rows; r++)
    for (uint32_t i = 0; i < width; i++)
      x[(size_t)r * width + i] += offset * (float)(1 + r % 3);
  return x;
}

static void
check_rmsnorm(const Variant *v, uint32_t rows, uint32_t width, float scale, gboolean in_place)
{
  size_t n = (size_t)rows * width;
  float eps = 1e-6f;
  g_autofree float *x = make_rows(rows, width, scale, 0, width * 7 + rows);
  g_autofree float *w = vf_test_random(width, -1.5f, 1.5f, width);
  g_autofree float *want = g_new(float, n);
  g_autofree float *got = g_new(float, n);
  g_autofree double *tol = g_new(double, n);
  ref_rmsnorm(x, w, want, rows, width, eps);
  /* Relative error: the sum of squares (depth·u, its squares included), /n, +eps, inversesqrt
   * (2 ulp = 4u), x·r and ·w (u each), and the reference's own rounding to f32 (u): rsqrt halves the
   * sum's error, so (depth/2 + 9)·u. The small absolute term admits flushed denormals. */
  uint32_t wg = v ? v->red.workgroup : vf_ops_reduction(vf_test_device()).workgroup;
  double rel = (sum_depth(width, wg) / 2 + 9) * U;
  for (size_t i = 0; i < n; i++)
    tol[i] = rel * fabs((double)want[i]) + 1e-37;

  VfBuffer bx = vf_test_upload(x, n * 4), bw = vf_test_upload(w, width * 4);
  VfBuffer by = in_place ? bx : vf_test_upload(NULL, n * 4);
  VfCmd *cmd = vf_test_cmd();
  if (v)
    vf_op_rmsnorm_with(cmd, v->red, &bx, &bw, &by, rows, width, eps);
  else
    vf_op_rmsnorm(cmd, &bx, &bw, &by, rows, width, eps);
  vf_test_submit(cmd);
  vf_test_download(&by, got, n * 4);
  g_autofree char *what = g_strdup_printf("rmsnorm %s %ux%u scale %g%s", v ? v->name : "default", rows, width,
                                          (double)scale, in_place ? " in place" : "");
  vf_test_assert_within(what, got, want, tol, n);
  vf_test_release(&bx);
  vf_test_release(&bw);
  if (!in_place)
    vf_test_release(&by);
}

static void
check_layernorm(const Variant *v, uint32_t rows, uint32_t width, float scale, float offset, gboolean in_place)
{
  size_t n = (size_t)rows * width;
  float eps = 1e-6f;
  g_autofree float *x = make_rows(rows, width, scale, offset, width * 5 + rows);
  g_autofree float *w = vf_test_random(width, -1.5f, 1.5f, width + 1);
  g_autofree float *b = vf_test_random(width, -1, 1, width + 2);
  g_autofree float *want = g_new(float, n);
  g_autofree float *got = g_new(float, n);
  g_autofree double *tol = g_new(double, n);
  ref_layernorm(x, w, b, want, rows, width, eps);

  /* Per element: the mean's error δm = (depth + 1)·u·mean|x| enters as |w|·r·δm; the centred sum of
   * squares, /n, +eps and inversesqrt give r a relative error of (depth/2 + 6)·u, and the centring,
   * ·r, ·w and +b add u each: |w|·r·(δm + |x − m|·(depth/2 + 10)·u) + u·(|y| + |b|), and the
   * reference's own rounding to f32 another u·|y|. */
  uint32_t wg = v ? v->red.workgroup : vf_ops_reduction(vf_test_device()).workgroup;
  double depth = sum_depth(width, wg);
  for (uint32_t r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * width;
    double sum = 0, sum_abs = 0, ss = 0;
    for (uint32_t i = 0; i < width; i++) {
      sum += xr[i];
      sum_abs += fabs((double)xr[i]);
    }
    double m = sum / width;
    for (uint32_t i = 0; i < width; i++)
      ss += (xr[i] - m) * (xr[i] - m);
    double rs = 1 / sqrt(ss / width + eps);
    double dm = (depth + 1) * U * sum_abs / width;
    for (uint32_t i = 0; i < width; i++) {
      size_t k = (size_t)r * width + i;
      tol[k] = fabs((double)w[i]) * rs * (dm + fabs(xr[i] - m) * (depth / 2 + 10) * U) +
               U * (2 * fabs((double)want[k]) + fabs((double)b[i])) + 1e-37;
    }
  }

  VfBuffer bx = vf_test_upload(x, n * 4), bw = vf_test_upload(w, width * 4), bb = vf_test_upload(b, width * 4);
  VfBuffer by = in_place ? bx : vf_test_upload(NULL, n * 4);
  VfCmd *cmd = vf_test_cmd();
  if (v)
    vf_op_layernorm_with(cmd, v->red, &bx, &bw, &bb, &by, rows, width, eps);
  else
    vf_op_layernorm(cmd, &bx, &bw, &bb, &by, rows, width, eps);
  vf_test_submit(cmd);
  vf_test_download(&by, got, n * 4);
  g_autofree char *what = g_strdup_printf("layernorm %s %ux%u scale %g offset %g%s", v ? v->name : "default", rows,
                                          width, (double)scale, (double)offset, in_place ? " in place" : "");
  vf_test_assert_within(what, got, want, tol, n);
  vf_test_release(&bx);
  vf_test_release(&bw);
  vf_test_release(&bb);
  if (!in_place)
    vf_test_release(&by);
}

/* Widths of the real models (64 and 160: the tiny golden models) and odd ones that take the scalar path. */
static const uint32_t widths[] = {1, 7, 64, 160, 333, 1001, 1280, 1536, 3584, 8960};

static void
test_rmsnorm_variants(void)
{
  for (int v = 0; v < nvariants; v++)
    for (size_t i = 0; i < G_N_ELEMENTS(widths); i++)
      check_rmsnorm(&variants[v], 1 + (uint32_t)(i % 4) * 2, widths[i], 3, FALSE);
  variants_done();
}

static void
test_rmsnorm_eps(void)
{
  /* mean(x²) ≈ 3e-7 is below eps = 1e-6: a missing or misplaced eps is far outside the tolerance. */
  for (int v = 0; v < nvariants; v++)
    check_rmsnorm(&variants[v], 3, 1536, 1e-3f, FALSE);
  variants_done();
}

static void
test_layernorm_variants(void)
{
  for (int v = 0; v < nvariants; v++)
    for (size_t i = 0; i < G_N_ELEMENTS(widths); i++)
      check_layernorm(&variants[v], 1 + (uint32_t)(i % 4) * 2, widths[i], 2, 0.5f, FALSE);
  variants_done();
}

static void
test_layernorm_offset(void)
{
  /* |mean| ≫ std: a one-pass E[x²] − mean² would cancel away most of the variance's digits. */
  for (int v = 0; v < nvariants; v++)
    check_layernorm(&variants[v], 5, 1280, 0.5f, 40, FALSE);
  for (int v = 0; v < nvariants; v++)
    check_layernorm(&variants[v], 3, 1280, 1e-3f, 0, FALSE);
  variants_done();
}

static void
test_norm_real_shapes(void)
{
  /* The device's own choice, on a prefill chunk and a vision sequence, in place as the graphs use them. */
  check_rmsnorm(NULL, 257, 1536, 4, TRUE);
  check_rmsnorm(NULL, 33, 3584, 4, FALSE);
  check_layernorm(NULL, 1031, 1280, 3, 1, TRUE);
  check_layernorm(NULL, 101, 64, 3, 1, TRUE);
}

static void
test_rmsnorm_windows(void)
{
  /* 4100 rows × 8192 floats = 134 MB, more than lavapipe's 128 MiB binding: two windows of rows. */
  check_rmsnorm(NULL, 4100, 8192, 2, TRUE);
}

static void
test_norm_bad_shapes(void)
{
  VfBuffer small = vf_test_upload(NULL, 64 * 4), w = vf_test_upload(NULL, 64 * 4);
  VfCmd *cmd = vf_test_cmd();
  vf_op_rmsnorm(cmd, &small, &w, &small, 2, 64, 1e-6f); /* 2 rows of 64 do not fit 64 floats */
  g_autoptr(GError) error = NULL;
  g_assert_false(vf_cmd_submit(cmd, &error));
  g_assert_nonnull(error);
  g_assert_nonnull(strstr(error->message, "rmsnorm"));
  vf_cmd_free(cmd);
  vf_test_release(&small);
  vf_test_release(&w);
}

int
main(int argc, char **argv)
{
  vf_test_init(&argc, &argv);
  setup_variants();
  g_test_add_func("/ops/norm/rmsnorm-variants", test_rmsnorm_variants);
  g_test_add_func("/ops/norm/rmsnorm-eps", test_rmsnorm_eps);
  g_test_add_func("/ops/norm/layernorm-variants", test_layernorm_variants);
  g_test_add_func("/ops/norm/layernorm-offset", test_layernorm_offset);
  g_test_add_func("/ops/norm/real-shapes", test_norm_real_shapes);
  g_test_add_func("/ops/norm/windows", test_rmsnorm_windows);
  g_test_add_func("/ops/norm/bad-shapes", test_norm_bad_shapes);
  return vf_test_finish();
}
