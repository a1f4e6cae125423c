#include "fuzz_common.h"

#include "vf_tokenizer.h"

#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

static char *temp_dir;
static GHashTable *paths; /* name → path */

static void
remove_temp_dir(void)
{
  GDir *dir = g_dir_open(temp_dir, 0, NULL);
  const char *name;
  while (dir && (name = g_dir_read_name(dir))) {
    g_autofree char *path = g_build_filename(temp_dir, name, NULL);
    g_remove(path);
  }
  if (dir)
    g_dir_close(dir);
  g_rmdir(temp_dir);
}

const char *
fuzz_temp_dir(void)
{
  if (!temp_dir) {
    /* Memory-backed where there is one: every input is written as a file. */
    if (g_file_test("/dev/shm", G_FILE_TEST_IS_DIR)) {
      temp_dir = g_build_filename("/dev/shm", "vf-fuzz-XXXXXX", NULL);
      if (!g_mkdtemp(temp_dir))
        g_clear_pointer(&temp_dir, g_free);
    }
    if (!temp_dir)
      temp_dir = g_dir_make_tmp("vf-fuzz-XXXXXX", NULL);
    g_assert(temp_dir);
    paths = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    atexit(remove_temp_dir);
  }
  return temp_dir;
}

const char *
fuzz_write_file(const char *name, const uint8_t *data, size_t size)
{
  const char *dir = fuzz_temp_dir();
  char *path = g_hash_table_lookup(paths, name);
  if (!path) {
    path = g_build_filename(dir, name, NULL);
    g_hash_table_insert(paths, g_strdup(name), path);
  }
  /* In place, without g_file_set_contents' fsync: tens of thousands of writes a second. */
  if (!g_file_set_contents_full(path, (const char *)data, (gssize)size, G_FILE_SET_CONTENTS_NONE, 0600, NULL))
    g_error("cannot write %s", path);
  return path;
}

char *
fuzz_data_path(const char *relative)
{
  const char *root = g_getenv("VF_TEST_DATA");
  return g_build_filename(root ? root : VF_SOURCE_TEST_DATA, relative, NULL);
}

struct VfTokenizer *
fuzz_tokenizer(void)
{
  static VfTokenizer *tok;
  if (!tok) {
    g_autofree char *dir = fuzz_data_path("tokenizer");
    GError *error = NULL;
    tok = vf_tokenizer_load(dir, &error);
    if (!tok)
      g_error("%s (set VF_TEST_DATA)", error->message);
  }
  return tok;
}

char *
fuzz_string(const uint8_t *data, size_t size)
{
  char *s = g_malloc(size + 1);
  memcpy(s, data, size);
  s[size] = 0;
  return s;
}
