/* Qwen2-VL checkpoints in the Hugging Face and ModelScope caches. See vf_model_finder.h. */
#define G_LOG_DOMAIN "vf-model-finder"

#include "vf_model_finder.h"

#include "vf_hub.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#define HF_REPO_PREFIX "models--Qwen--Qwen2-VL-"
#define REPO_NAME_PREFIX "Qwen2-VL-"

void
vf_found_model_free(VfFoundModel *model)
{
  if (!model)
    return;
  g_free(model->dir);
  g_free(model->name);
  g_free(model->source);
  g_free(model);
}

static const char *
env_nonempty(const char *name)
{
  const char *value = g_getenv(name);
  return value && *value ? value : NULL;
}

char *
vf_model_finder_hf_cache(void)
{
  return vf_hub_cache_dir();
}

char *
vf_model_finder_modelscope_cache(void)
{
  const char *cache = env_nonempty("MODELSCOPE_CACHE");
  if (cache)
    return g_strdup(cache);
  return g_build_filename(g_get_home_dir(), ".cache", "modelscope", "hub", NULL);
}

static JsonNode *
read_json(const char *path, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new();
  if (!json_parser_load_from_file(parser, path, error))
    return NULL;
  JsonNode *root = json_parser_get_root(parser);
  return root ? json_node_copy(root) : NULL;
}

/* Every shard a sharded checkpoint's index names must be present. */
static gboolean
check_shards(const char *dir, const char *index_path, GError **error)
{
  g_autoptr(JsonNode) root = read_json(index_path, error);
  if (!root)
    return FALSE;
  JsonObject *object = JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
  JsonObject *map = object && json_object_has_member(object, "weight_map")
                      ? json_object_get_object_member(object, "weight_map")
                      : NULL;
  if (!map) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s has no weight_map", index_path);
    return FALSE;
  }
  g_autoptr(GList) members = json_object_get_members(map);
  for (GList *l = members; l; l = l->next) {
    const char *shard = json_object_get_string_member(map, l->data);
    if (!shard)
      continue;
    g_autofree char *path = g_build_filename(dir, shard, NULL);
    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "the weight file %s is missing (still downloading?)",
                  shard);
      return FALSE;
    }
  }
  return TRUE;
}

gboolean
vf_model_dir_check(const char *dir, GError **error)
{
  g_autofree char *config = g_build_filename(dir, "config.json", NULL);
  if (!g_file_test(config, G_FILE_TEST_IS_REGULAR)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s has no config.json: not a model folder", dir);
    return FALSE;
  }
  g_autoptr(JsonNode) root = read_json(config, error);
  if (!root)
    return FALSE;
  JsonObject *object = JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
  const char *type = object ? json_object_get_string_member_with_default(object, "model_type", NULL) : NULL;
  if (g_strcmp0(type, "qwen2_vl") != 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "%s is a \"%s\" model, not Qwen2-VL", dir,
                type ? type : "unknown");
    return FALSE;
  }
  g_autofree char *single = g_build_filename(dir, "model.safetensors", NULL);
  if (g_file_test(single, G_FILE_TEST_IS_REGULAR))
    return TRUE;
  g_autofree char *index = g_build_filename(dir, "model.safetensors.index.json", NULL);
  if (g_file_test(index, G_FILE_TEST_IS_REGULAR))
    return check_shards(dir, index, error);
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s has no model.safetensors (still downloading?)", dir);
  return FALSE;
}

char *
vf_model_display_name(const char *dir)
{
  g_autofree char *clean = g_canonicalize_filename(dir, "/");
  g_autofree char *base = g_path_get_basename(clean);
  g_autofree char *parent = g_path_get_dirname(clean);
  g_autofree char *parent_base = g_path_get_basename(parent);
  if (strcmp(parent_base, "snapshots") == 0) {
    g_autofree char *repo_dir = g_path_get_dirname(parent);
    g_autofree char *repo = g_path_get_basename(repo_dir);
    /* models--<org>--<name> */
    const char *name = g_str_has_prefix(repo, "models--") ? strstr(repo + 8, "--") : NULL;
    if (name && name[2])
      return g_strdup(name + 2);
  }
  return g_steal_pointer(&base);
}

static void
add_found(GPtrArray *found, const char *dir, const char *source)
{
  g_autoptr(GError) error = NULL;
  if (!vf_model_dir_check(dir, &error)) {
    g_debug("skipping %s: %s", dir, error->message);
    return;
  }
  VfFoundModel *model = g_new0(VfFoundModel, 1);
  model->dir = g_strdup(dir);
  model->name = vf_model_display_name(dir);
  model->source = g_strdup(source);
  g_ptr_array_add(found, model);
}

static int
compare_indirect(gconstpointer a, gconstpointer b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in `dir` starting with `prefix`, sorted (empty when `dir` does not exist). */
static GPtrArray *
list_dir(const char *dir, const char *prefix)
{
  GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  if (!d)
    return names;
  const char *name;
  while ((name = g_dir_read_name(d)))
    if (g_str_has_prefix(name, prefix))
      g_ptr_array_add(names, g_strdup(name));
  g_ptr_array_sort(names, compare_indirect);
  return names;
}

static void
scan_hf(GPtrArray *found)
{
  g_autofree char *hub = vf_model_finder_hf_cache();
  g_autoptr(GPtrArray) repos = list_dir(hub, HF_REPO_PREFIX);
  for (guint i = 0; i < repos->len; i++) {
    g_autofree char *snapshots = g_build_filename(hub, repos->pdata[i], "snapshots", NULL);
    g_autofree char *ref_path = g_build_filename(hub, repos->pdata[i], "refs", "main", NULL);
    g_autofree char *ref = NULL;
    if (g_file_get_contents(ref_path, &ref, NULL, NULL))
      g_strstrip(ref);
    g_autoptr(GPtrArray) commits = list_dir(snapshots, "");
    /* The snapshot refs/main names if it is complete, else the first complete one. */
    guint before = found->len;
    if (ref && *ref) {
      g_autofree char *dir = g_build_filename(snapshots, ref, NULL);
      add_found(found, dir, "Hugging Face cache");
    }
    for (guint k = 0; k < commits->len && found->len == before; k++) {
      g_autofree char *dir = g_build_filename(snapshots, commits->pdata[k], NULL);
      add_found(found, dir, "Hugging Face cache");
    }
  }
}

static void
scan_modelscope(GPtrArray *found)
{
  g_autofree char *root = vf_model_finder_modelscope_cache();
  const char *orgs[] = {"Qwen", "models/Qwen"};
  for (guint o = 0; o < G_N_ELEMENTS(orgs); o++) {
    g_autofree char *org = g_build_filename(root, orgs[o], NULL);
    g_autoptr(GPtrArray) repos = list_dir(org, REPO_NAME_PREFIX);
      for (guint i = 0; i < repos->len; i++) {
      g_autofree char *dir = g_build_filename(org, repos->pdata[i], NULL);
      add_found(found, dir, "ModelScope cache");
    }
  }
}

static int
compare_found(gconstpointer a, gconstpointer b)
{
  const VfFoundModel *x = *(VfFoundModel *const *)a, *y = *(VfFoundModel *const *)b;
  int by_name = g_utf8_collate(x->name, y->name);
  return by_name ? by_name : strcmp(x->dir, y->dir);
}

GPtrArray *
vf_model_finder_scan(void)
{
  GPtrArray *found = g_ptr_array_new_with_free_func((GDestroyNotify)vf_found_model_free);
  scan_hf(found);
  scan_modelscope(found);
  g_ptr_array_sort(found, compare_found);
  return found;
}
