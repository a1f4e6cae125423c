/* The tokenizer's round-trip property on the real Qwen2-VL vocabulary (tests/data/tokenizer):
 *   - decode(encode(s)) == NFC(s) for any text s (invalid UTF-8 first made valid as decoding makes it)
 *     without an added token ("<|": the fast tokenizer normalises around added tokens piece by piece);
 *   - streaming the ids one at a time gives exactly decode(ids), NUL bytes included, for those ids and for
 *     the input read as raw little-endian ids (any value: invalid ids are skipped by both). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "vf_nfc.h"
#include "vf_tokenizer.h"
#include "vf_utf8.h"

static VfTokenizer *tok;

static void
check_stream(const int32_t *ids, size_t n, gboolean skip_special)
{
  size_t len;
  g_autofree char *whole = vf_tokenizer_decode(tok, ids, n, skip_special, &len);
  VfTokenStream *stream = vf_token_stream_new(tok, skip_special);
  GString *streamed = g_string_new(NULL);
  for (size_t i = 0; i < n; i++) {
    size_t piece_len;
    char *piece = vf_token_stream_feed(stream, ids[i], &piece_len);
    g_string_append_len(streamed, piece, (gssize)piece_len);
    g_free(piece);
  }
  size_t rest_len;
  char *rest = vf_token_stream_flush(stream, &rest_len);
  g_string_append_len(streamed, rest, (gssize)rest_len);
  g_free(rest);
  if (streamed->len != len || memcmp(streamed->str, whole, len) != 0) {
    fprintf(stderr, "stream decode (%zu bytes) differs from decode (%zu bytes) of %zu ids\n", streamed->len, len, n);
    abort();
  }
  g_string_free(streamed, TRUE);
  vf_token_stream_free(stream);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (!tok)
    tok = fuzz_tokenizer();
  GString *text = g_string_new(NULL);
  vf_utf8_append_lossy(text, data, size, TRUE);
  size_t n;
  int32_t *ids = vf_tokenizer_encode_len(tok, text->str, text->len, &n);
  if (!g_strstr_len(text->str, (gssize)text->len, "<|")) {
    size_t len, nfc_len;
    char *decoded = vf_tokenizer_decode(tok, ids, n, FALSE, &len);
    char *nfc = vf_utf8_nfc(text->str, text->len, &nfc_len);
    if (len != nfc_len || memcmp(decoded, nfc, len) != 0) {
      fprintf(stderr, "decode(encode(s)) (%zu bytes) != NFC(s) (%zu bytes)\n", len, nfc_len);
      abort();
    }
    g_free(decoded);
    g_free(nfc);
  }
  check_stream(ids, n, FALSE);
  check_stream(ids, n, TRUE);
  g_free(ids);
  g_string_free(text, TRUE);

  size_t n_raw = size / 4;
  int32_t *raw = g_new(int32_t, n_raw + 1);
  memcpy(raw, data, n_raw * 4);
  check_stream(raw, n_raw, FALSE);
  check_stream(raw, n_raw, TRUE);
  g_free(raw);
  return 0;
}
