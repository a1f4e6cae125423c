/* Where the tests find their data: $VF_TEST_DATA (tests/data, set by tests/meson.build). Header-only so test
 * programs that do not link the test library (the CLI and UI tests) share it too. */
#pragma once

#include <glib.h>

/* VF_TEST_DATA/relative; free with g_free. */
static inline char *
vf_test_data_path(const char *relative)
{
  const char *root = g_getenv("VF_TEST_DATA");
  g_assert_nonnull(root);
  return g_build_filename(root, relative, NULL);
}

/* A test model folder: $VF_TEST_MODELS/name when set (the quantized test checkpoints: tests/meson.build runs
 * some suites again over them), else VF_TEST_DATA/models/name. Free with g_free. */
static inline char *
vf_test_model_path(const char *name)
{
  const char *models = g_getenv("VF_TEST_MODELS");
  if (models)
    return g_build_filename(models, name, NULL);
  g_autofree char *relative = g_build_filename("models", name, NULL);
  return vf_test_data_path(relative);
}
