/* config.json, generation_config.json and preprocessor_config.json: the first input byte picks the file the
 * rest becomes; the other two are tiny-a's. Errors are fine; crashes and undefined behaviour (a float outside
 * an integer's range, issue 18) are not. */
#include "fuzz_common.h"
#include "vf_config.h"

static const char *const files[] = {"config.json", "generation_config.json", "preprocessor_config.json"};

static char *tiny_a[3];
static gsize tiny_a_size[3];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  for (int i = 0; i < 3; i++) {
    if (!tiny_a[i]) {
      g_autofree char *name = g_strconcat("models/tiny-a/", files[i], NULL);
      g_autofree char *from = fuzz_data_path(name);
      if (!g_file_get_contents(from, &tiny_a[i], &tiny_a_size[i], NULL))
        g_error("cannot read %s (set VF_TEST_DATA)", from);
    }
    fuzz_write_file(files[i], (const uint8_t *)tiny_a[i], tiny_a_size[i]);
  }
  fuzz_write_file(files[data[0] % 3], data + 1, size - 1);
  GError *error = NULL;
  VfConfig *c = vf_config_load(fuzz_temp_dir(), &error);
  if (c) {
    /* What later code relies on. */
    g_assert(c->hidden == c->heads * c->head_dim && c->head_dim % 2 == 0);
    g_assert(c->heads % c->kv_heads == 0);
    g_assert(c->vision.mlp_dim >= 1 && c->min_pixels <= c->max_pixels);
    vf_config_free(c);
  }
  g_clear_error(&error);
  return 0;
}
