/* Loading a tokenizer folder: the first input byte picks the form — tokenizer.json (the rest), or
 * vocab.json + merges.txt (the rest split at its first NUL byte) — then a short text is encoded and its ids
 * decoded. Errors are fine; crashes, leaks and undefined behaviour are not. */
#include <string.h>

#include <glib/gstdio.h>

#include "fuzz_common.h"
#include "vf_tokenizer.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  const char *dir = fuzz_temp_dir();
  const char *names[] = {"tokenizer.json", "vocab.json", "merges.txt"};
  for (int i = 0; i < 3; i++) {
    g_autofree char *path = g_build_filename(dir, names[i], NULL);
    g_remove(path);
  }
  const uint8_t *body = data + 1;
  size_t n = size - 1;
  if (data[0] % 2 == 0) {
    fuzz_write_file("tokenizer.json", body, n);
  } else {
    const uint8_t *nul = memchr(body, 0, n);
    size_t vocab = nul ? (size_t)(nul - body) : n;
    fuzz_write_file("vocab.json", body, vocab);
    fuzz_write_file("merges.txt", nul ? nul + 1 : body + n, nul ? n - vocab - 1 : 0);
  }
  GError *error = NULL;
  VfTokenizer *tok = vf_tokenizer_load(dir, &error);
  if (tok) {
    size_t n_ids, len;
    int32_t *ids = vf_tokenizer_encode(tok, "Hello world <|im_end|> caf\xC3\xA9", &n_ids);
    char *text = vf_tokenizer_decode(tok, ids, n_ids, FALSE, &len);
    for (size_t i = 0; i < n_ids; i++)
      vf_tokenizer_token_string(tok, ids[i]);
    g_free(text);
    g_free(ids);
    vf_tokenizer_free(tok);
  }
  g_clear_error(&error);
  return 0;
}
