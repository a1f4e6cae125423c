/* Element-wise ops against their CPU references. */
#include "vf_test.h"

static void
check_add(uint32_t n)
{
  g_autofree float *a = vf_test_random(n, -3, 3, n);
  g_autofree float *b = vf_test_random(n, -3, 3, n + 1);
  g_autofree float *want = g_new(float, n);
  g_autofree float *got = g_new(float, n);
  for (uint32_t i = 0; i < n; i++)
    want[i] = a[i] + b[i];
  VfBuffer ba = vf_test_upload(a, n * 4), bb = vf_test_upload(b, n * 4), by = vf_test_upload(NULL, n * 4);
  VfCmd *cmd = vf_test_cmd();
  vf_op_add(cmd, &ba, &bb, &by, n);
  vf_test_submit(cmd);
  vf_test_download(&by, got, n * 4);
  /* One f32 addition: exact. */
  vf_test_assert_close("add", got, want, n, 0, 0);
  vf_test_release(&ba);
  vf_test_release(&bb);
  vf_test_release(&by);
}

static void
test_add(void)
{
  check_add(1);
  check_add(255);
  check_add(1536);
  check_add(3584 * 7 + 3);
  /* More than 65535 workgroups of 256: exercises the 2-D grid. */
  check_add(65535u * 256u + 1000u);
}

int
main(int argc, char **argv)
{
  vf_test_init(&argc, &argv);
  g_test_add_func("/ops/add", test_add);
  return vf_test_finish();
}
