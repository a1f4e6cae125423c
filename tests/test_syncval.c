/* Synchronization validation is on in every GPU test: tests/meson.build sets VK_LAYER_ENABLES to the layer's
 * synchronization-validation feature beside VF_VALIDATE=1, and any message fails a test. This test proves
 * the check is live. It is built with its own copy of vk/vf_cmd.c compiled with VF_CMD_DROP_BARRIERS, which
 * records no barrier at all: a dispatch that reads what the one before it wrote must then be reported as a
 * read-after-write hazard. (With the barriers derived as usual, every other test sees no message.) */
#include <string.h>

#include "vf_test.h"

static void
test_missing_barrier_is_reported(void)
{
  if (!g_test_subprocess()) {
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*SYNC-HAZARD-READ-AFTER-WRITE*");
    return;
  }
  enum { N = 4096 };
  g_autofree float *x = vf_test_random(N, -1, 1, 3);
  VfBuffer a = vf_test_upload(x, N * 4), b = vf_test_upload(NULL, N * 4), c = vf_test_upload(NULL, N * 4);
  VfCmd *cmd = vf_test_cmd();
  vf_op_add(cmd, &a, &a, &b, N); /* writes b */
  vf_op_add(cmd, &b, &b, &c, N); /* reads b: needs the barrier this build leaves out */
  vf_test_submit(cmd);
  vf_test_release(&a);
  vf_test_release(&b);
  vf_test_release(&c);
  /* vf_test_finish() then fails this subprocess with the layer's messages on stderr. */
}

int
main(int argc, char **argv)
{
  vf_test_init(&argc, &argv);
  g_test_add_func("/syncval/missing-barrier-is-reported", test_missing_barrier_is_reported);
  return vf_test_finish();
}
