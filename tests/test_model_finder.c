/* Finding checkpoints in the Hugging Face and ModelScope caches (model/engine/vf_model_finder.c), on folder trees
 * made here: complete and incomplete snapshots, refs/main, both ModelScope layouts, the environment
 * variables that move the caches. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>

#include "vf_model_finder.h"

static const char *qwen_config = "{\"model_type\": \"qwen2_vl\", \"hidden_size\": 64}";

static void
write_file(const char *dir, const char *name, const char *contents)
{
  g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
  g_autofree char *path = g_build_filename(dir, name, NULL);
  g_assert_true(g_file_set_contents(path, contents, -1, NULL));
}

/* A checkpoint folder: config.json and one weight file (or a sharded index and the shards named). */
static void
make_checkpoint(const char *dir, const char *config, gboolean sharded, gboolean all_shards)
{
  write_file(dir, "config.json", config);
  if (!sharded) {
    write_file(dir, "model.safetensors", "x");
    return;
  }
  write_file(dir, "model.safetensors.index.json",
             "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\","
             " \"b\": \"model-00002-of-00002.safetensors\"}}");
  write_file(dir, "model-00001-of-00002.safetensors", "x");
  if (all_shards)
    write_file(dir, "model-00002-of-00002.safetensors", "x");
}

static char *
found_summary(void)
{
  g_autoptr(GPtrArray) found = vf_model_finder_scan();
  GString *s = g_string_new(NULL);
  for (guint i = 0; i < found->len; i++) {
    const VfFoundModel *m = found->pdata[i];
    g_string_append_printf(s, "%s|%s|%s\n", m->name, m->source, m->dir);
  }
  return g_string_free(s, FALSE);
}

static void
rm_rf(const char *path)
{
  g_autoptr(GFile) file = g_file_new_for_path(path);
  g_autoptr(GFileEnumerator) e = g_file_enumerate_children(file, G_FILE_ATTRIBUTE_STANDARD_NAME,
                                                           G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, NULL);
  if (e) {
    GFileInfo *info;
    while ((info = g_file_enumerator_next_file(e, NULL, NULL))) {
      g_autofree char *child = g_build_filename(path, g_file_info_get_name(info), NULL);
      rm_rf(child);
      g_object_unref(info);
    }
  }
  g_remove(path);
}

static void
test_display_name(void)
{
  g_autofree char *a = vf_model_display_name("/c/hub/models--Qwen--Qwen2-VL-2B-Instruct/snapshots/abc123/");
  g_assert_cmpstr(a, ==, "Qwen2-VL-2B-Instruct");
  g_autofree char *b = vf_model_display_name("/models/Qwen2-VL-7B-Instruct");
  g_assert_cmpstr(b, ==, "Qwen2-VL-7B-Instruct");
  g_autofree char *c = vf_model_display_name("/x/snapshots/abc");
  g_assert_cmpstr(c, ==, "abc");
}

static void
test_dir_check(void)
{
  g_autofree char *root = g_dir_make_tmp("vf-finder-XXXXXX", NULL);
  g_autoptr(GError) error = NULL;
  g_assert_false(vf_model_dir_check(root, &error));
  g_assert_nonnull(strstr(error->message, "no config.json"));
  g_clear_error(&error);

  g_autofree char *llama = g_build_filename(root, "llama", NULL);
  write_file(llama, "config.json", "{\"model_type\": \"llama\"}");
  g_assert_false(vf_model_dir_check(llama, &error));
  g_assert_nonnull(strstr(error->message, "\"llama\" model, not Qwen2-VL"));
  g_clear_error(&error);

  g_autofree char *partial = g_build_filename(root, "partial", NULL);
  make_checkpoint(partial, qwen_config, TRUE, FALSE);
  g_assert_false(vf_model_dir_check(partial, &error));
  g_assert_nonnull(strstr(error->message, "model-00002-of-00002.safetensors is missing"));
  g_clear_error(&error);

  g_autofree char *whole = g_build_filename(root, "whole", NULL);
  make_checkpoint(whole, qwen_config, TRUE, TRUE);
  g_assert_true(vf_model_dir_check(whole, &error));
  g_assert_no_error(error);
  rm_rf(root);
}

static void
test_scan(void)
{
  g_autofree char *root = g_dir_make_tmp("vf-finder-XXXXXX", NULL);
  g_autofree char *hub = g_build_filename(root, "hf", "hub", NULL);
  g_autofree char *ms = g_build_filename(root, "modelscope", NULL);
  g_autofree char *hf_home = g_build_filename(root, "hf", NULL);
  g_setenv("HF_HOME", hf_home, TRUE);
  g_unsetenv("HF_HUB_CACHE");
  g_unsetenv("HUGGINGFACE_HUB_CACHE");
  g_setenv("MODELSCOPE_CACHE", ms, TRUE);

  /* 2B: two snapshots, refs/main names the second. 7B: still downloading. Another org: not Qwen's. */
  g_autofree char *repo2b = g_build_filename(hub, "models--Qwen--Qwen2-VL-2B-Instruct", NULL);
  g_autofree char *old = g_build_filename(repo2b, "snapshots", "aaa", NULL);
  g_autofree char *main_snapshot = g_build_filename(repo2b, "snapshots", "bbb", NULL);
  make_checkpoint(old, qwen_config, FALSE, TRUE);
  make_checkpoint(main_snapshot, qwen_config, TRUE, TRUE);
  g_autofree char *refs = g_build_filename(repo2b, "refs", NULL);
  write_file(refs, "main", "bbb\n");
  g_autofree char *partial7b = g_build_filename(hub, "models--Qwen--Qwen2-VL-7B-Instruct", "snapshots", "ccc", NULL);
  make_checkpoint(partial7b, qwen_config, TRUE, FALSE);
  g_autofree char *other = g_build_filename(hub, "models--someone--Qwen2-VL-2B-Instruct", "snapshots", "ddd", NULL);
  make_checkpoint(other, qwen_config, FALSE, TRUE);
  /* ModelScope, both layouts; a non-Qwen2-VL config there is skipped. */
  g_autofree char *ms_old = g_build_filename(ms, "Qwen", "Qwen2-VL-7B-Instruct", NULL);
  make_checkpoint(ms_old, qwen_config, FALSE, TRUE);
  g_autofree char *ms_new = g_build_filename(ms, "models", "Qwen", "Qwen2-VL-2B-Instruct", NULL);
  make_checkpoint(ms_new, qwen_config, FALSE, TRUE);
  g_autofree char *ms_text = g_build_filename(ms, "Qwen", "Qwen2-VL-Text", NULL);
  make_checkpoint(ms_text, "{\"model_type\": \"qwen2\"}", FALSE, TRUE);

  /* The quantized repos (quantization_config in config.json) are found like the 16-bit ones. */
  const char *gptq_config = "{\"model_type\": \"qwen2_vl\", \"hidden_size\": 3584, \"quantization_config\":"
                            " {\"quant_method\": \"gptq\", \"bits\": 4, \"group_size\": 128}}";
  const char *awq_config = "{\"model_type\": \"qwen2_vl\", \"hidden_size\": 8192, \"quantization_config\":"
                           " {\"quant_method\": \"awq\", \"bits\": 4, \"version\": \"gemm\"}}";
  g_autofree char *gptq7b =
    g_build_filename(hub, "models--Qwen--Qwen2-VL-7B-Instruct-GPTQ-Int4", "snapshots", "eee", NULL);
  make_checkpoint(gptq7b, gptq_config, TRUE, TRUE);
  g_autofree char *awq72b = g_build_filename(ms, "models", "Qwen", "Qwen2-VL-72B-Instruct-AWQ", NULL);
  make_checkpoint(awq72b, awq_config, TRUE, TRUE);

  g_autofree char *hf_cache = vf_model_finder_hf_cache();
  g_assert_cmpstr(hf_cache, ==, hub);
  g_autofree char *got = found_summary();
  g_autofree char *want = g_strdup_printf("Qwen2-VL-2B-Instruct|Hugging Face cache|%s\n"
                                          "Qwen2-VL-2B-Instruct|ModelScope cache|%s\n"
                                          "Qwen2-VL-72B-Instruct-AWQ|ModelScope cache|%s\n"
                                          "Qwen2-VL-7B-Instruct|ModelScope cache|%s\n"
                                          "Qwen2-VL-7B-Instruct-GPTQ-Int4|Hugging Face cache|%s\n",
                                          main_snapshot, ms_new, awq72b, ms_old, gptq7b);
  g_assert_cmpstr(got, ==, want);

  /* HF_HUB_CACHE wins over HF_HOME; an empty variable counts as unset. */
  g_autofree char *elsewhere = g_build_filename(root, "elsewhere", NULL);
  g_setenv("HF_HUB_CACHE", elsewhere, TRUE);
  g_setenv("MODELSCOPE_CACHE", "", TRUE);
  g_autofree char *moved = vf_model_finder_hf_cache();
  g_assert_cmpstr(moved, ==, elsewhere);
  g_autofree char *ms_default = vf_model_finder_modelscope_cache();
  g_assert_true(g_str_has_suffix(ms_default, "/.cache/modelscope/hub"));
  g_autofree char *none = found_summary();
  g_assert_cmpstr(none, ==, "");
  rm_rf(root);
}

int
main(int argc, char **argv)
{
  /* The default ModelScope cache is under $HOME: point it at an empty folder. */
  g_autofree char *home = g_dir_make_tmp("vf-home-XXXXXX", NULL);
  g_setenv("HOME", home, TRUE);
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/model-finder/display-name", test_display_name);
  g_test_add_func("/model-finder/dir-check", test_dir_check);
  g_test_add_func("/model-finder/scan", test_scan);
  int rc = g_test_run();
  rm_rf(home);
  return rc;
}
