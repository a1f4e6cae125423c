#include "vf_test.h"

#include <math.h>
#include <stdio.h>

#include "ref/ref_common.h"

static VfDevice *device;
static void (*finish_cleanup)(void);

void
vf_test_on_finish(void (*cleanup)(void))
{
  finish_cleanup = cleanup;
}

void
vf_test_init(int *argc, char ***argv)
{
  g_test_init(argc, argv, NULL);
  VfDeviceOptions opts = {.select = NULL, .validate = 1};
  g_autoptr(GError) error = NULL;
  device = vf_device_create(&opts, &error);
  if (!device) {
    g_printerr("no Vulkan device for tests: %s\n", error->message);
    exit(1);
  }
  g_printerr("viewfinder: %s\n", vf_device_get_info(device)->summary);
  g_printerr("viewfinder: %s\n", vf_ops_policy_summary(device));
}

VfDevice *vf_test_device(void) { return device; }

int
vf_test_finish(void)
{
  int rc = g_test_run();
  if (finish_cleanup)
    finish_cleanup();
  uint32_t messages = vf_device_validation_messages(device);
  vf_device_free(device);
  device = NULL;
  if (messages) {
    g_printerr("FAIL: the validation layer reported %u message(s)\n", messages);
    return 1;
  }
  return rc;
}

float *
vf_test_random(size_t n, float lo, float hi, uint32_t seed)
{
  float *x = g_new(float, n ? n : 1);
  uint64_t s = 0x9e3779b97f4a7c15ull ^ seed;
  for (size_t i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    x[i] = lo + (hi - lo) * (float)((s >> 40) * (1.0 / 16777216.0));
  }
  return x;
}

uint16_t *
vf_test_to_bf16(const float *x, size_t n)
{
  uint16_t *h = g_new(uint16_t, n ? n : 1);
  for (size_t i = 0; i < n; i++)
    h[i] = ref_f32_to_bf16(x[i]);
  return h;
}

uint16_t *
vf_test_to_f16(const float *x, size_t n)
{
  uint16_t *h = g_new(uint16_t, n ? n : 1);
  for (size_t i = 0; i < n; i++)
    h[i] = ref_f32_to_f16(x[i]);
  return h;
}

VfBuffer
vf_test_upload(const void *data, size_t size)
{
  VfBuffer b;
  g_autoptr(GError) error = NULL;
  if (!vf_buffer_alloc(device, VF_MEMORY_DEVICE, size, &b, &error))
    g_error("alloc %zu bytes: %s", size, error->message);
  if (data) {
    if (!vf_buffer_upload(device, &b, 0, data, size, &error))
      g_error("upload: %s", error->message);
  } else if (!vf_buffer_zero(device, &b, &error)) {
    g_error("zero: %s", error->message);
  }
  return b;
}

void
vf_test_download(const VfBuffer *buf, void *data, size_t size)
{
  g_autoptr(GError) error = NULL;
  if (!vf_buffer_download(device, buf, 0, data, size, &error))
    g_error("download: %s", error->message);
}

void
vf_test_release(VfBuffer *buf)
{
  vf_buffer_release(device, buf);
}

VfCmd *
vf_test_cmd(void)
{
  g_autoptr(GError) error = NULL;
  VfCmd *cmd = vf_cmd_new(device, &error);
  g_assert_no_error(error);
  return cmd;
}

void
vf_test_submit(VfCmd *cmd)
{
  g_autoptr(GError) error = NULL;
  gboolean ok = vf_cmd_submit(cmd, &error);
  vf_cmd_free(cmd);
  g_assert_no_error(error);
  g_assert_true(ok);
}

double
vf_test_max_abs(const float *x, size_t n)
{
  double m = 0;
  for (size_t i = 0; i < n; i++)
    m = fmax(m, fabs((double)x[i]));
  return m;
}

void
vf_test_assert_close(const char *what, const float *got, const float *want, size_t n, double atol, double rtol)
{
  size_t worst = 0;
  double worst_excess = -INFINITY, worst_err = 0;
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    double err = fabs((double)got[i] - (double)want[i]);
    double tol = atol + rtol * fabs((double)want[i]);
    if (!(err <= tol))
      bad++;
    double excess = isnan(err) ? INFINITY : err - tol;
    if (excess > worst_excess) {
      worst_excess = excess;
      worst = i;
      worst_err = err;
    }
  }
  if (bad) {
    g_test_message("%s: %zu of %zu values off; worst at %zu: got %.9g want %.9g (error %.3g, atol %.3g rtol %.3g)",
                   what, bad, n, worst, got[worst], want[worst], worst_err, atol, rtol);
    g_printerr("%s: %zu of %zu values off; worst at %zu: got %.9g want %.9g (error %.3g, atol %.3g rtol %.3g)\n",
               what, bad, n, worst, got[worst], want[worst], worst_err, atol, rtol);
    g_test_fail();
  }
}

void
vf_test_assert_within(const char *what, const float *got, const float *want, const double *tol, size_t n)
{
  size_t bad = 0, worst = 0;
  double worst_ratio = -1;
  for (size_t i = 0; i < n; i++) {
    /* Equal values (infinities included) are exact; a NaN on either side never is. */
    double err = got[i] == want[i] ? 0 : fabs((double)got[i] - (double)want[i]);
    double ratio = isnan(err) ? INFINITY : tol[i] > 0 ? err / tol[i] : (err > 0 ? INFINITY : 0);
    if (!(err <= tol[i]))
      bad++;
    if (ratio > worst_ratio) {
      worst_ratio = ratio;
      worst = i;
    }
  }
  if (bad) {
    g_printerr("%s: %zu of %zu values off; worst at %zu: got %.9g want %.9g (error %.3g, bound %.3g)\n", what, bad,
               n, worst, got[worst], want[worst], fabs((double)got[worst] - want[worst]), tol[worst]);
    g_test_fail();
  } else {
    g_test_message("%s: %zu values, worst error %.3g of its bound (at %zu: got %.9g want %.9g bound %.3g)", what, n,
                   worst_ratio, worst, got[worst], want[worst], tol[worst]);
  }
}

void
vf_test_variant_skipped(VfTestVariants *tv, const char *name, const char *reason)
{
  if (!tv->skipped)
    tv->skipped = g_string_new(NULL);
  g_string_append_printf(tv->skipped, "%s%s (%s)", tv->skipped->len ? "; " : "", name, reason);
  g_test_message("skipping variant %s: %s", name, reason);
}

void
vf_test_variants_done(VfTestVariants *tv)
{
  if (tv->ran == 0)
    g_error("no variant ran%s%s", tv->skipped ? ": " : "", tv->skipped ? tv->skipped->str : "");
  if (tv->skipped) {
    g_autofree char *reason = g_strdup_printf("not run on this device: %s", tv->skipped->str);
    g_string_free(tv->skipped, TRUE);
    tv->skipped = NULL;
    g_test_skip(reason);
  }
}
