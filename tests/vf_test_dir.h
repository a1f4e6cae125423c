/* Temporary folders for tests that write files (the history tests). Header-only, like vf_test_data.h. */
#pragma once

#include <glib.h>

/* A new empty folder under the temporary folder, named from `pattern` ("vf-history-XXXXXX"). */
static inline char *
vf_test_dir_new(const char *pattern)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp(pattern, &error);
  g_assert_no_error(error);
  return dir;
}

/* Removes `dir` with everything in it. */
static inline void
vf_test_dir_remove(const char *dir)
{
  const char *argv[] = {"rm", "-rf", dir, NULL};
  g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL));
}
