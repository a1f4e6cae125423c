/* A checkpoint folder: one safetensors file or a sharded index, with names mapped to the original form. */
#define G_LOG_DOMAIN "vf-model"

#include "vf_checkpoint.h"

#include <json-glib/json-glib.h>
#include <string.h>

#define SINGLE_FILE "model.safetensors"
#define INDEX_FILE "model.safetensors.index.json"

typedef struct {
  char *name;            /* original Qwen2-VL name */
  const VfTensor *tensor;
} Entry;

struct VfCheckpoint {
  char *source;
  GPtrArray *files;   /* VfSafetensors*, each file once */
  GArray *entries;    /* Entry */
  GHashTable *by_name; /* original name → index + 1 into entries */
};

char *
vf_checkpoint_canonical_name(const char *name)
{
  if (g_str_has_prefix(name, "model.language_model."))
    return g_strconcat("model.", name + strlen("model.language_model."), NULL);
  if (g_str_has_prefix(name, "model.visual."))
    return g_strdup(name + strlen("model."));
  return g_strdup(name);
}

static gboolean
add_entry(VfCheckpoint *ck, const VfTensor *t, GError **error)
{
  Entry e = {vf_checkpoint_canonical_name(t->name), t};
  guint previous = GPOINTER_TO_UINT(g_hash_table_lookup(ck->by_name, e.name));
  if (previous) {
    const VfTensor *other = g_array_index(ck->entries, Entry, previous - 1).tensor;
    g_set_error(error, VF_SAFETENSORS_ERROR, VF_SAFETENSORS_ERROR_FORMAT,
                "%s: tensor '%s' is stored twice: as '%s' in %s and as '%s' in %s", ck->source, e.name,
                other->name, other->path, t->name, t->path);
    g_free(e.name);
    return FALSE;
  }
  g_array_append_val(ck->entries, e);
  g_hash_table_insert(ck->by_name, e.name, GUINT_TO_POINTER(ck->entries->len));
  return TRUE;
}

static gboolean
open_single(VfCheckpoint *ck, const char *path, GError **error)
{
  VfSafetensors *st = vf_safetensors_open(path, error);
  if (!st)
    return FALSE;
  g_ptr_array_add(ck->files, st);
  for (uint32_t i = 0; i < vf_safetensors_count(st); i++)
    if (!add_entry(ck, vf_safetensors_tensor(st, i), error))
      return FALSE;
  return TRUE;
}

static gboolean
index_error(GError **error, const char *path, const char *format, ...) G_GNUC_PRINTF(3, 4);

static gboolean
index_error(GError **error, const char *path, const char *format, ...)
{
  va_list ap;
  va_start(ap, format);
  g_autofree char *what = g_strdup_vprintf(format, ap);
  va_end(ap);
  g_set_error(error, VF_SAFETENSORS_ERROR, VF_SAFETENSORS_ERROR_FORMAT, "%s: %s", path, what);
  return FALSE;
}

static gboolean
open_index(VfCheckpoint *ck, const char *dir, const char *path, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable();
  g_autoptr(GError) parse_error = NULL;
  if (!json_parser_load_from_mapped_file(parser, path, &parse_error))
    return index_error(error, path, "not valid JSON: %s", parse_error->message);
  JsonNode *root = json_parser_get_root(parser);
  JsonNode *map = root && JSON_NODE_HOLDS_OBJECT(root) ? json_object_get_member(json_node_get_object(root),
                                                                                 "weight_map")
                                                       : NULL;
  if (!map || !JSON_NODE_HOLDS_OBJECT(map))
    return index_error(error, path, "no \"weight_map\" object");

  /* Shard file name → its VfSafetensors (borrowed from ck->files). */
  g_autoptr(GHashTable) shards = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  JsonObject *weight_map = json_node_get_object(map);
  g_autoptr(GList) names = json_object_get_members(weight_map);
  for (GList *n = names; n; n = n->next) {
    const char *name = n->data;
    JsonNode *v = json_object_get_member(weight_map, name);
    if (!JSON_NODE_HOLDS_VALUE(v) || json_node_get_value_type(v) != G_TYPE_STRING)
      return index_error(error, path, "weight_map entry for tensor '%s' is not a file name", name);
    const char *shard = json_node_get_string(v);
    /* Shards live beside the index: a path would let an index point anywhere on the disk. */
    if (!*shard || strchr(shard, '/') || strcmp(shard, ".") == 0 || strcmp(shard, "..") == 0)
      return index_error(error, path, "tensor '%s': shard \"%s\" is not a plain file name", name, shard);

    VfSafetensors *st = g_hash_table_lookup(shards, shard);
    if (!st) {
      g_autofree char *shard_path = g_build_filename(dir, shard, NULL);
      if (!g_file_test(shard_path, G_FILE_TEST_EXISTS)) {
        g_set_error(error, VF_SAFETENSORS_ERROR, VF_SAFETENSORS_ERROR_MISSING,
                    "%s: tensor '%s': shard %s is missing", path, name, shard_path);
        return FALSE;
      }
      st = vf_safetensors_open(shard_path, error);
      if (!st)
        return FALSE;
      g_ptr_array_add(ck->files, st);
      g_hash_table_insert(shards, g_strdup(shard), st);
    }
    const VfTensor *t = vf_safetensors_find(st, name);
    if (!t) {
      g_set_error(error, VF_SAFETENSORS_ERROR, VF_SAFETENSORS_ERROR_MISSING,
                  "%s: tensor '%s' is not in its shard %s", path, name, vf_safetensors_path(st));
      return FALSE;
    }
    if (!add_entry(ck, t, error))
      return FALSE;
  }
  return TRUE;
}

VfCheckpoint *
vf_checkpoint_open(const char *dir, GError **error)
{
  VfCheckpoint *ck = g_new0(VfCheckpoint, 1);
  ck->files = g_ptr_array_new_with_free_func((GDestroyNotify)vf_safetensors_free);
  ck->entries = g_array_new(FALSE, FALSE, sizeof(Entry));
  ck->by_name = g_hash_table_new(g_str_hash, g_str_equal);

  g_autofree char *single = g_build_filename(dir, SINGLE_FILE, NULL);
  g_autofree char *index = g_build_filename(dir, INDEX_FILE, NULL);
  gboolean ok;
  if (g_file_test(single, G_FILE_TEST_EXISTS)) {
    ck->source = g_steal_pointer(&single);
    ok = open_single(ck, ck->source, error);
  } else if (g_file_test(index, G_FILE_TEST_EXISTS)) {
    ck->source = g_steal_pointer(&index);
    ok = open_index(ck, dir, ck->source, error);
  } else {
    g_set_error(error, VF_SAFETENSORS_ERROR, VF_SAFETENSORS_ERROR_IO, "%s: no %s and no %s", dir, SINGLE_FILE,
                INDEX_FILE);
    ok = FALSE;
  }
  if (!ok) {
    vf_checkpoint_free(ck);
    return NULL;
  }
  return ck;
}

void
vf_checkpoint_free(VfCheckpoint *ck)
{
  if (!ck)
    return;
  for (guint i = 0; i < ck->entries->len; i++)
    g_free(g_array_index(ck->entries, Entry, i).name);
  g_array_free(ck->entries, TRUE);
  g_hash_table_destroy(ck->by_name);
  g_ptr_array_free(ck->files, TRUE);
  g_free(ck->source);
  g_free(ck);
}

const char *vf_checkpoint_source(const VfCheckpoint *ck) { return ck->source; }
uint32_t vf_checkpoint_count(const VfCheckpoint *ck) { return ck->entries->len; }
uint32_t vf_checkpoint_n_files(const VfCheckpoint *ck) { return ck->files->len; }

const VfTensor *
vf_checkpoint_find(const VfCheckpoint *ck, const char *name)
{
  guint i = GPOINTER_TO_UINT(g_hash_table_lookup(ck->by_name, name));
  return i ? g_array_index(ck->entries, Entry, i - 1).tensor : NULL;
}

const VfTensor *
vf_checkpoint_tensor(const VfCheckpoint *ck, uint32_t index, const char **name)
{
  g_return_val_if_fail(index < ck->entries->len, NULL);
  const Entry *e = &g_array_index(ck->entries, Entry, index);
  if (name)
    *name = e->name;
  return e->tensor;
}

void
vf_checkpoint_advise_sequential(const VfCheckpoint *ck)
{
  for (guint i = 0; i < ck->files->len; i++)
    vf_safetensors_advise_sequential(ck->files->pdata[i]);
}
