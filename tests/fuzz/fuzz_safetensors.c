/* Safetensors headers and checkpoint indexes: the input is opened as a safetensors file (every tensor then
 * read back through vf_tensor_read and the mapping), and as model.safetensors.index.json beside one valid
 * shard. Errors are fine; crashes, leaks and undefined behaviour are not. */
#include <string.h>

#include "fuzz_common.h"
#include "vf_checkpoint.h"
#include "vf_safetensors.h"

/* A valid shard: one F32 tensor "a" of shape [2] (8 bytes). */
static const char shard_header[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";

static void
write_shard(void)
{
  static gboolean done;
  if (done)
    return;
  GString *s = g_string_new(NULL);
  uint64_t n = sizeof shard_header - 1;
  for (int i = 0; i < 8; i++)
    g_string_append_c(s, (char)(n >> (8 * i)));
  g_string_append_len(s, shard_header, (gssize)n);
  g_string_append_len(s, "\0\0\x80?\0\0\0@", 8);
  fuzz_write_file("model-00001-of-00001.safetensors", (const uint8_t *)s->str, s->len);
  g_string_free(s, TRUE);
  done = TRUE;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  write_shard();
  const char *path = fuzz_write_file("input.safetensors", data, size);
  GError *error = NULL;
  VfSafetensors *st = vf_safetensors_open(path, &error);
  if (st) {
    uint8_t buf[64];
    for (uint32_t i = 0; i < vf_safetensors_count(st); i++) {
      const VfTensor *t = vf_safetensors_tensor(st, i);
      uint64_t n = MIN(t->size, sizeof buf);
      g_assert(vf_tensor_numel(t) >= (t->size ? 1 : 0));
      g_assert(vf_safetensors_find(st, t->name) == t);
      if (!vf_tensor_read(t, 0, buf, n, &error))
        g_error("a tensor of an open file cannot be read: %s", error->message);
      g_assert(memcmp(buf, t->data, n) == 0);
      g_free(vf_shape_string(t->rank, t->shape));
    }
    vf_safetensors_metadata(st, "format");
    vf_safetensors_free(st);
  }
  g_clear_error(&error);

  fuzz_write_file("model.safetensors.index.json", data, size);
  VfCheckpoint *ck = vf_checkpoint_open(fuzz_temp_dir(), &error);
  if (ck) {
    for (uint32_t i = 0; i < vf_checkpoint_count(ck); i++) {
      const char *name;
      const VfTensor *t = vf_checkpoint_tensor(ck, i, &name);
      g_assert(vf_checkpoint_find(ck, name) == t);
    }
    vf_checkpoint_free(ck);
  }
  g_clear_error(&error);
  return 0;
}
