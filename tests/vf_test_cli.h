/* Running viewfinder-cli ($VF_CLI) from a test (header-only: used by test-cli and test-ocr). */
#pragma once

#include <glib.h>
#include <sys/wait.h>

/* Runs viewfinder-cli with `args`; returns its exit status, stdout and stderr. */
static inline int
vf_test_run_cli(const char *const *args, char **out, char **err)
{
  GPtrArray *argv = g_ptr_array_new();
  g_ptr_array_add(argv, (gpointer)g_getenv("VF_CLI"));
  for (int i = 0; args[i]; i++)
    g_ptr_array_add(argv, (gpointer)args[i]);
  g_ptr_array_add(argv, NULL);
  int status = 0;
  g_autoptr(GError) error = NULL;
  gboolean ok = g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, out, err, &status,
                             &error);
  g_ptr_array_unref(argv);
  g_assert_no_error(error);
  g_assert_true(ok);
  return g_spawn_check_wait_status(status, NULL) ? 0 : (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}
