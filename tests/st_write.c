#include "st_write.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

static void
write_all(int fd, const void *data, uint64_t size, uint64_t offset)
{
  const char *p = data;
  while (size) {
    ssize_t n = pwrite(fd, p, MIN(size, 1u << 30), (off_t)offset);
    if (n <= 0)
      g_error("pwrite: %s", g_strerror(errno));
    p += n;
    offset += (uint64_t)n;
    size -= (uint64_t)n;
  }
}

static int
create(const char *path)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    g_error("%s: %s", path, g_strerror(errno));
  return fd;
}

static void
write_file(const char *path, uint64_t declared_length, const char *header, uint64_t header_size,
           const StEntry *entries, size_t n, uint64_t data_size)
{
  int fd = create(path);
  uint8_t len[8];
  for (int i = 0; i < 8; i++)
    len[i] = (uint8_t)(declared_length >> (8 * i));
  write_all(fd, len, 8, 0);
  write_all(fd, header, header_size, 8);
  uint64_t base = 8 + header_size, offset = 0;
  for (size_t i = 0; i < n; i++) {
    if (entries[i].data)
      write_all(fd, entries[i].data, entries[i].size, base + offset);
    offset += entries[i].size;
  }
  /* Holes (and the zero data of st_write_raw) stay sparse. */
  if (ftruncate(fd, (off_t)(base + data_size)) != 0)
    g_error("ftruncate: %s", g_strerror(errno));
  close(fd);
}

void
st_write(const char *path, const StEntry *entries, size_t n)
{
  GString *h = g_string_new("{\"__metadata__\":{\"format\":\"pt\"}");
  uint64_t offset = 0;
  for (size_t i = 0; i < n; i++) {
    const StEntry *e = &entries[i];
    g_string_append_printf(h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", e->name, e->dtype);
    for (uint32_t d = 0; d < e->rank; d++)
      g_string_append_printf(h, "%s%" G_GUINT64_FORMAT, d ? "," : "", (guint64)e->shape[d]);
    g_string_append_printf(h, "],\"data_offsets\":[%" G_GUINT64_FORMAT ",%" G_GUINT64_FORMAT "]}",
                           (guint64)offset, (guint64)(offset + e->size));
    offset += e->size;
  }
  g_string_append_c(h, '}');
  while (h->len % 8)
    g_string_append_c(h, ' ');
  write_file(path, h->len, h->str, h->len, entries, n, offset);
  g_string_free(h, TRUE);
}

void
st_write_raw(const char *path, uint64_t declared_length, const char *header, uint64_t data_size)
{
  write_file(path, declared_length, header, strlen(header), NULL, 0, data_size);
}

StEntry *
st_entries_from(const VfSafetensors *st, size_t *n)
{
  *n = vf_safetensors_count(st);
  StEntry *e = g_new0(StEntry, *n);
  for (size_t i = 0; i < *n; i++) {
    const VfTensor *t = vf_safetensors_tensor(st, (uint32_t)i);
    e[i].name = t->name;
    e[i].dtype = vf_st_dtype_name(t->dtype);
    e[i].rank = t->rank;
    memcpy(e[i].shape, t->shape, sizeof t->shape);
    e[i].data = t->data;
    e[i].size = t->size;
  }
  return e;
}

char *
st_make_temp_dir(void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp("vf-test-XXXXXX", &error);
  g_assert_no_error(error);
  return dir;
}

void
st_remove_dir(const char *dir)
{
  GDir *d = g_dir_open(dir, 0, NULL);
  g_assert_nonnull(d);
  const char *name;
  while ((name = g_dir_read_name(d))) {
    g_autofree char *path = g_build_filename(dir, name, NULL);
    if (g_file_test(path, G_FILE_TEST_IS_DIR))
      st_remove_dir(path);
    else
      g_assert_cmpint(g_unlink(path), ==, 0);
  }
  g_dir_close(d);
  g_assert_cmpint(g_rmdir(dir), ==, 0);
}

void
st_copy_file(const char *from_dir, const char *to_dir, const char *name)
{
  g_autofree char *from = g_build_filename(from_dir, name, NULL);
  g_autofree char *to = g_build_filename(to_dir, name, NULL);
  g_autofree char *data = NULL;
  gsize size;
  g_autoptr(GError) error = NULL;
  g_file_get_contents(from, &data, &size, &error);
  g_assert_no_error(error);
  g_file_set_contents(to, data, (gssize)size, &error);
  g_assert_no_error(error);
}

void
st_copy_configs(const char *from_dir, const char *to_dir)
{
  st_copy_file(from_dir, to_dir, "config.json");
  st_copy_file(from_dir, to_dir, "generation_config.json");
  st_copy_file(from_dir, to_dir, "preprocessor_config.json");
}

JsonNode *
st_read_json(const char *path)
{
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) error = NULL;
  json_parser_load_from_file(parser, path, &error);
  g_assert_no_error(error);
  return json_node_copy(json_parser_get_root(parser));
}

void
st_write_json(const char *path, JsonNode *root)
{
  g_autoptr(JsonGenerator) gen = json_generator_new();
  json_generator_set_root(gen, root);
  json_generator_set_pretty(gen, TRUE);
  g_autoptr(GError) error = NULL;
  json_generator_to_file(gen, path, &error);
  g_assert_no_error(error);
}

char *
st_model_dir(const char *name)
{
  const char *data = g_getenv("VF_TEST_DATA");
  g_assert_nonnull(data);
  return g_build_filename(data, "models", name, NULL);
}

char *
st_later_name(const char *name)
{
  if (g_str_has_prefix(name, "model."))
    return g_strconcat("model.language_model.", name + strlen("model."), NULL);
  if (g_str_has_prefix(name, "visual."))
    return g_strconcat("model.", name, NULL);
  return g_strdup(name);
}

void
st_write_sharded(const char *dir, const char *extra_index)
{
  g_autofree char *model = st_model_dir("tiny-a");
  g_autofree char *path = g_build_filename(model, "model.safetensors", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(VfSafetensors) st = vf_safetensors_open(path, &error);
  g_assert_no_error(error);
  size_t n;
  g_autofree StEntry *all = st_entries_from(st, &n);
  StEntry *shard[2] = {g_new0(StEntry, n), g_new0(StEntry, n)};
  size_t count[2] = {0, 0};
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
  GString *index = g_string_new("{\"metadata\":{\"total_size\":0},\"weight_map\":{");
  for (size_t i = 0; i < n; i++) {
    StEntry e = all[i];
    e.name = st_later_name(all[i].name);
    g_ptr_array_add(names, (char *)e.name);
    shard[i % 2][count[i % 2]++] = e;
    g_string_append_printf(index, "%s\"%s\":\"model-%05zu-of-00002.safetensors\"", i ? "," : "", e.name,
                           i % 2 + 1);
  }
  if (extra_index)
    g_string_append_printf(index, ",%s", extra_index);
  g_string_append(index, "}}");
  for (int s = 0; s < 2; s++) {
    g_autofree char *name = g_strdup_printf("model-%05d-of-00002.safetensors", s + 1);
    g_autofree char *shard_path = g_build_filename(dir, name, NULL);
    st_write(shard_path, shard[s], count[s]);
    g_free(shard[s]);
  }
  g_autofree char *index_path = g_build_filename(dir, "model.safetensors.index.json", NULL);
  g_assert_true(g_file_set_contents(index_path, index->str, -1, NULL));
  g_string_free(index, TRUE);
}
