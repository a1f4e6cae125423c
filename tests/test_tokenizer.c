/* Tokenizer against the golden cases (transformers' Qwen2Tokenizer on the same files): ids, vocabulary
 * strings and decodes exact for all 43 strings, with tokenizer.json and with the vocab.json + merges.txt
 * fallback; the streaming decoder; UTF-8 replacement; load errors; encoding speed. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "vf_nfc.h"
#include "vf_pretokenizer.h"
#include "vf_tokenizer.h"
#include "vf_utf8.h"
#include "vf_test_data.h"

static VfTokenizer *tok; /* loaded once from tests/data/tokenizer */
static JsonArray *cases;  /* tokenizer_cases.json "cases" */
static JsonParser *cases_parser;

static int32_t *
json_ids(JsonArray *arr, size_t *n)
{
  *n = json_array_get_length(arr);
  int32_t *ids = g_new(int32_t, *n + 1);
  for (size_t i = 0; i < *n; i++)
    ids[i] = (int32_t)json_array_get_int_element(arr, (guint)i);
  return ids;
}

static void
assert_ids_equal(const char *name, const int32_t *got, size_t n_got, const int32_t *want, size_t n_want)
{
  for (size_t i = 0; i < MIN(n_got, n_want); i++)
    if (got[i] != want[i])
      g_error("%s: id %zu is %d, want %d", name, i, got[i], want[i]);
  if (n_got != n_want)
    g_error("%s: %zu ids, want %zu", name, n_got, n_want);
}

/* Encodes every case with `t` and checks ids, tokens and both decodes. */
static void
check_all_cases(VfTokenizer *t)
{
  g_assert_cmpuint(json_array_get_length(cases), ==, 43);
  for (guint c = 0; c < json_array_get_length(cases); c++) {
    JsonObject *cs = json_array_get_object_element(cases, c);
    const char *name = json_object_get_string_member(cs, "name");
    size_t n_want, n_got;
    g_autofree int32_t *want = json_ids(json_object_get_array_member(cs, "ids"), &n_want);
    g_autofree int32_t *got = vf_tokenizer_encode(t, json_object_get_string_member(cs, "text"), &n_got);
    g_assert_nonnull(got);
    assert_ids_equal(name, got, n_got, want, n_want);

    JsonArray *tokens = json_object_get_array_member(cs, "tokens");
    for (size_t i = 0; i < n_want; i++)
      g_assert_cmpstr(vf_tokenizer_token_string(t, want[i]), ==, json_array_get_string_element(tokens, (guint)i));

    size_t len, len_skip;
    g_autofree char *decoded = vf_tokenizer_decode(t, want, n_want, FALSE, &len);
    g_autofree char *decoded_skip = vf_tokenizer_decode(t, want, n_want, TRUE, &len_skip);
    g_assert_cmpstr(decoded, ==, json_object_get_string_member(cs, "decoded"));
    g_assert_cmpstr(decoded_skip, ==, json_object_get_string_member(cs, "decoded_skip_special"));
    g_assert_cmpuint(len, ==, strlen(decoded));
    g_assert_cmpuint(len_skip, ==, strlen(decoded_skip));
  }
}

static void
test_golden_cases(void)
{
  check_all_cases(tok);
}

static void
test_specials_and_sizes(void)
{
  g_assert_cmpuint(vf_tokenizer_n_ids(tok), ==, 151657);
  g_assert_cmpint(vf_tokenizer_token_id(tok, "<|endoftext|>"), ==, 151643);
  g_assert_cmpint(vf_tokenizer_token_id(tok, "<|im_start|>"), ==, 151644);
  g_assert_cmpint(vf_tokenizer_token_id(tok, "<|im_end|>"), ==, 151645);
  g_assert_cmpint(vf_tokenizer_token_id(tok, "<|image_pad|>"), ==, 151655);
  g_assert_cmpint(vf_tokenizer_token_id(tok, "<|video_pad|>"), ==, 151656);
  g_assert_cmpint(vf_tokenizer_token_id(tok, "Ġworld"), ==, 1879);
  g_assert_cmpint(vf_tokenizer_token_id(tok, "<|no_such_token|>"), ==, -1);
  g_assert_cmpint(vf_tokenizer_eos_id(tok), ==, 151645);
  g_assert_cmpint(vf_tokenizer_pad_id(tok), ==, 151643);
  for (int32_t id = 151643; id <= 151656; id++)
    g_assert_true(vf_tokenizer_is_special(tok, id));
  g_assert_false(vf_tokenizer_is_special(tok, 1879));
  g_assert_true(vf_tokenizer_is_valid_id(tok, 0));
  g_assert_false(vf_tokenizer_is_valid_id(tok, 151657));
  g_assert_false(vf_tokenizer_is_valid_id(tok, -1));
  g_assert_null(vf_tokenizer_token_string(tok, 151935));
}

/* Spec §5.3 (from tokenization_qwen2.py and the processor tests). */
static void
test_spec_examples(void)
{
  static const struct {
    const char *text;
    int32_t ids[16];
    size_t n;
  } examples[] = {
    {"Hello world", {9707, 1879}, 2},
    {" Hello world", {21927, 1879}, 2},
    {"What is 2 plus 2?", {3838, 374, 220, 17, 5519, 220, 17, 30}, 8},
    {"<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n",
     {151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 151644, 872, 198},
     14},
    {"<|im_start|>assistant\n", {151644, 77091, 198}, 3},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(examples); i++) {
    size_t n;
    g_autofree int32_t *ids = vf_tokenizer_encode(tok, examples[i].text, &n);
    assert_ids_equal(examples[i].text, ids, n, examples[i].ids, examples[i].n);
  }
}

/* Ids that name no token are skipped, as HF's fast tokenizer does. */
static void
test_decode_invalid_ids(void)
{
  int32_t ids[] = {9707, 151657, -5, 1879, 151935};
  size_t len;
  g_autofree char *text = vf_tokenizer_decode(tok, ids, G_N_ELEMENTS(ids), FALSE, &len);
  g_assert_cmpstr(text, ==, "Hello world");
  g_assert_cmpuint(len, ==, 11);
}

/* Token 188 ("Ā") is the byte 0x00: ordinary vocabulary, and Python decodes [9707, 188, 24638] to
 * "Hello\x00reck" (issue 18). Decode, the stream and encode carry it as a byte, not an end of string. */
static void
test_nul_byte(void)
{
  static const char want[] = "Hello\0reck";
  int32_t ids[] = {9707, 188, 24638};
  size_t len;
  g_autofree char *text = vf_tokenizer_decode(tok, ids, G_N_ELEMENTS(ids), FALSE, &len);
  g_assert_cmpmem(text, len, want, sizeof want - 1);

  g_autoptr(VfTokenStream) stream = vf_token_stream_new(tok, TRUE);
  g_autoptr(GString) streamed = g_string_new(NULL);
  for (size_t i = 0; i < G_N_ELEMENTS(ids); i++) {
    size_t piece_len;
    g_autofree char *piece = vf_token_stream_feed(stream, ids[i], &piece_len);
    g_string_append_len(streamed, piece, (gssize)piece_len);
  }
  g_assert_cmpmem(streamed->str, streamed->len, want, sizeof want - 1);

  size_t n;
  g_autofree int32_t *again = vf_tokenizer_encode_len(tok, want, sizeof want - 1, &n);
  assert_ids_equal("Hello\\0reck", again, n, ids, G_N_ELEMENTS(ids));

  /* NFC keeps the NUL too (it used to stop there once a composing character followed: found by
   * fuzz-tokenizer_roundtrip), and so does the round trip through it. */
  static const char mixed[] = "a\0e\xCC\x81", composed[] = "a\0\xC3\xA9";
  size_t nfc_len;
  g_autofree char *nfc = vf_utf8_nfc(mixed, sizeof mixed - 1, &nfc_len);
  g_assert_cmpmem(nfc, nfc_len, composed, sizeof composed - 1);
  size_t n_mixed, back_len;
  g_autofree int32_t *mixed_ids = vf_tokenizer_encode_len(tok, mixed, sizeof mixed - 1, &n_mixed);
  g_autofree char *back = vf_tokenizer_decode(tok, mixed_ids, n_mixed, FALSE, &back_len);
  g_assert_cmpmem(back, back_len, composed, sizeof composed - 1);

  g_autofree char *shown = vf_utf8_show_nul(text, len);
  g_assert_cmpstr(shown, ==, "Hello\xE2\x90\x80reck");
}

/* Decoding in pieces one id at a time gives the same text as decoding all ids at once. */
static void
check_stream(const int32_t *ids, size_t n, gboolean skip_special, const char *name)
{
  g_autoptr(VfTokenStream) stream = vf_token_stream_new(tok, skip_special);
  g_autoptr(GString) text = g_string_new(NULL);
  for (size_t i = 0; i < n; i++) {
    size_t len;
    g_autofree char *piece = vf_token_stream_feed(stream, ids[i], &len);
    g_assert_true(g_utf8_validate(piece, (gssize)len, NULL));
    g_string_append_len(text, piece, (gssize)len);
  }
  size_t len;
  g_autofree char *rest = vf_token_stream_flush(stream, &len);
  g_string_append_len(text, rest, (gssize)len);
  g_autofree char *whole = vf_tokenizer_decode(tok, ids, n, skip_special, &len);
  if (text->len != len || memcmp(text->str, whole, len) != 0)
    g_error("%s: streamed \"%s\", decode gives \"%s\"", name, text->str, whole);
}

static void
test_stream_matches_decode(void)
{
  for (guint c = 0; c < json_array_get_length(cases); c++) {
    JsonObject *cs = json_array_get_object_element(cases, c);
    size_t n;
    g_autofree int32_t *ids = json_ids(json_object_get_array_member(cs, "ids"), &n);
    check_stream(ids, n, FALSE, json_object_get_string_member(cs, "name"));
    check_stream(ids, n, TRUE, json_object_get_string_member(cs, "name"));
  }
  /* Sequences that are not valid UTF-8: a pizza emoji cut after its first token, twice, then a special. */
  int32_t cut[] = {11162, 11162, 235, 151645, 11162};
  check_stream(cut, G_N_ELEMENTS(cut), FALSE, "cut emoji");
  check_stream(cut, G_N_ELEMENTS(cut), TRUE, "cut emoji (skip special)");
}

/* " 🍕" is three tokens: " \xF0\x9F", "\x8D", "\x95" (emoji_simple). */
static void
test_stream_holds_partial_characters(void)
{
  g_autoptr(VfTokenStream) stream = vf_token_stream_new(tok, TRUE);
  size_t len;
  g_autofree char *a = vf_token_stream_feed(stream, 11162, &len);
  g_autofree char *b = vf_token_stream_feed(stream, 235, &len);
  g_autofree char *c = vf_token_stream_feed(stream, 243, &len);
  g_autofree char *d = vf_token_stream_feed(stream, 151645, &len); /* skipped special */
  g_autofree char *e = vf_token_stream_feed(stream, 11162, &len);
  g_autofree char *f = vf_token_stream_flush(stream, &len);
  g_assert_cmpstr(a, ==, " ");
  g_assert_cmpstr(b, ==, "");
  g_assert_cmpstr(c, ==, "\xF0\x9F\x8D\x95");
  g_assert_cmpstr(d, ==, "");
  g_assert_cmpstr(e, ==, " ");
  g_assert_cmpstr(f, ==, "\xEF\xBF\xBD"); /* the unfinished emoji */
  g_autofree char *again = vf_token_stream_feed(stream, 9707, &len);
  g_assert_cmpstr(again, ==, "Hello");
}

/* Expected strings from Python: bytes.decode("utf-8", errors="replace"). */
static void
test_utf8_replacement(void)
{
  static const struct {
    const char *bytes, *text;
  } cases_utf8[] = {
    {"\xE0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD"},
    {"\xF0\x9F\x8D", "\xEF\xBF\xBD"},
    {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
    {"\x80" "abc", "\xEF\xBF\xBD" "abc"},
    {"\xC3x", "\xEF\xBF\xBDx"},
    {"\xF4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
    {"\xF0\x9F\x8D\x95", "\xF0\x9F\x8D\x95"},
    {"a\xC0\xAF" "b", "a\xEF\xBF\xBD\xEF\xBF\xBD" "b"},
    {"\xE2\x82", "\xEF\xBF\xBD"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases_utf8); i++) {
    g_autoptr(GString) out = g_string_new(NULL);
    size_t n = strlen(cases_utf8[i].bytes);
    g_assert_cmpuint(vf_utf8_append_lossy(out, (const uint8_t *)cases_utf8[i].bytes, n, TRUE), ==, n);
    g_assert_cmpstr(out->str, ==, cases_utf8[i].text);
  }
  /* Not final: an incomplete but valid-so-far character is held back, an invalid one is not. */
  g_autoptr(GString) out = g_string_new(NULL);
  g_assert_cmpuint(vf_utf8_append_lossy(out, (const uint8_t *)"ab\xF0\x9F\x8D", 5, FALSE), ==, 2);
  g_assert_cmpstr(out->str, ==, "ab");
  g_string_truncate(out, 0);
  g_assert_cmpuint(vf_utf8_append_lossy(out, (const uint8_t *)"ab\xF0\x41", 4, FALSE), ==, 4);
  g_assert_cmpstr(out->str, ==, "ab\xEF\xBF\xBD" "A");
}

/* The linear-time NFC agrees with GLib's g_utf8_normalize (which matched Python's unicodedata on these
 * pools when this was written) on random strings of characters that compose, reorder, decompose or are
 * composition exclusions. */
static void
test_nfc_matches_glib(void)
{
  static const gunichar pool[] = {
    0x41, 0x61, 0x65, 0x20, 0x300, 0x301, 0x308, 0x316, 0x327, 0x345, 0x313, 0x323, 0x331, 0x338, 0x3E, 0x5B0,
    0x5B4, 0x5BC, 0x5C1, 0xF71, 0xF72, 0xF73, 0xF74, 0xF80, 0x93C, 0x958, 0x915, 0x1100, 0x1112, 0x1161, 0x1175,
    0x11A7, 0x11A8, 0x11C2, 0xAC00, 0xAC01, 0xD7A3, 0xE9, 0x1F00, 0x3B1, 0xC5, 0x212B, 0x2126, 0x344, 0x340,
    0x1E0A, 0x3099, 0x304B, 0xFB2C, 0x1D15E, 0x1D165, 0xCC6, 0xCC2, 0xCD5, 0xB47, 0xB3E, 0xB57, 0xDD9, 0xDCF,
    0xDCA, 0x1025, 0x102E, 0x11131, 0x11127, 0x4E00, 0xF900, 0x2F800, 0x1E9B, 0x1FB3, 0x342,
  };
  uint32_t state = 12345;
  for (int i = 0; i < 20000; i++) {
    gunichar chars[24];
    state = state * 1664525u + 1013904223u;
    int n = 1 + (int)(state >> 28);
    for (int k = 0; k < n; k++) {
      state = state * 1664525u + 1013904223u;
      chars[k] = pool[(state >> 16) % G_N_ELEMENTS(pool)];
    }
    g_autofree char *text = g_ucs4_to_utf8(chars, n, NULL, NULL, NULL);
    size_t len;
    g_autofree char *mine = vf_utf8_nfc(text, strlen(text), &len);
    g_autofree char *glib = g_utf8_normalize(text, -1, G_NORMALIZE_NFC);
    g_assert_cmpstr(mine, ==, glib);
    g_assert_cmpuint(len, ==, strlen(glib));
  }
}

static void
collect_word(const char *word, size_t len, void *user_data)
{
  GString *out = user_data;
  g_string_append_len(out, word, (gssize)len);
  g_string_append_c(out, '|');
}

/* The scanner on the pattern's corner cases (one alternative each). */
static void
test_pretokenizer(void)
{
  static const struct {
    const char *text, *words;
  } splits[] = {
    {"don't I'M", "don|'t| I|'M|"},
    {"'sup 'x", "'s|up| '|x|"},
    {"\xC2\xBFQu\xC3\xA9? hello", "\xC2\xBFQu\xC3\xA9|?| hello|"},
    {"x2024", "x|2|0|2|4|"},
    {"a   b", "a|  | b|"},
    {"a \t\n\n  b  ", "a| \t\n\n| | b|  |"},
    {"f(x):\r\n  y", "f|(x|):\r\n| | y|"},
    {"a ...!!\n\nb", "a| ...!!\n\n|b|"},
    {"\tword \xE3\x80\x80x", "\tword| |\xE3\x80\x80x|"},
    {" 3", " |3|"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(splits); i++) {
    g_autoptr(GString) out = g_string_new(NULL);
    vf_qwen2_split(splits[i].text, strlen(splits[i].text), collect_word, out);
    g_assert_cmpstr(out->str, ==, splits[i].words);
  }
}

/* A folder holding only some files of tests/data/tokenizer (as symlinks). */
static char *
make_folder(const char *const *files)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp("vf-tokenizer-XXXXXX", &error);
  g_assert_no_error(error);
  for (size_t i = 0; files[i]; i++) {
    g_autofree char *rel = g_build_filename("tokenizer", files[i], NULL);
    g_autofree char *target = vf_test_data_path(rel);
    g_autofree char *abs_target = g_canonicalize_filename(target, NULL);
    g_autofree char *link = g_build_filename(dir, files[i], NULL);
    g_assert_cmpint(symlink(abs_target, link), ==, 0);
  }
  return dir;
}

static void
remove_folder(const char *dir)
{
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name(d))) {
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_unlink(path);
  }
  g_rmdir(dir);
}

static void
test_fallback_vocab_merges(void)
{
  const char *files[] = {"vocab.json", "merges.txt", "tokenizer_config.json", NULL};
  g_autofree char *dir = make_folder(files);
  g_autoptr(GError) error = NULL;
  g_autoptr(VfTokenizer) t = vf_tokenizer_load(dir, &error);
  g_assert_no_error(error);
  check_all_cases(t);
  g_assert_cmpint(vf_tokenizer_eos_id(t), ==, 151645);
  remove_folder(dir);
}

static void
write_file(const char *dir, const char *name, const char *contents)
{
  g_autofree char *path = g_build_filename(dir, name, NULL);
  g_autoptr(GError) error = NULL;
  g_file_set_contents(path, contents, -1, &error);
  g_assert_no_error(error);
}

/* Loads `dir`, expects failure with `code` and a message containing `part1` and `part2`. */
static void
expect_load_error(const char *dir, int code, const char *part1, const char *part2)
{
  g_autoptr(GError) error = NULL;
  VfTokenizer *t = vf_tokenizer_load(dir, &error);
  g_assert_null(t);
  g_assert_error(error, VF_TOKENIZER_ERROR, code);
  if (!strstr(error->message, part1) || (part2 && !strstr(error->message, part2)))
    g_error("message \"%s\" should name \"%s\" and \"%s\"", error->message, part1, part2 ? part2 : "");
}

static void
test_load_errors(void)
{
  expect_load_error("/nonexistent/vf-tokenizer", VF_TOKENIZER_ERROR_MISSING, "/nonexistent/vf-tokenizer", NULL);

  const char *none[] = {NULL};
  g_autofree char *dir = make_folder(none);
  expect_load_error(dir, VF_TOKENIZER_ERROR_MISSING, dir, "tokenizer.json");

  write_file(dir, "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}");
  expect_load_error(dir, VF_TOKENIZER_ERROR_MALFORMED, "tokenizer.json", NULL);

  write_file(dir, "tokenizer.json", "[1, 2]");
  expect_load_error(dir, VF_TOKENIZER_ERROR_MALFORMED, "tokenizer.json", "not a JSON object");

  write_file(dir, "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"merges\": []}}");
  expect_load_error(dir, VF_TOKENIZER_ERROR_MISSING, "tokenizer.json", "model.vocab");

  write_file(dir, "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"x\"}, \"merges\": []}}");
  expect_load_error(dir, VF_TOKENIZER_ERROR_MALFORMED, "tokenizer.json", "model.vocab[\"a\"]");

  write_file(dir, "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a\"]}}");
  expect_load_error(dir, VF_TOKENIZER_ERROR_MALFORMED, "tokenizer.json", "model.merges[0]");

  write_file(dir, "tokenizer.json", "{\"model\": {\"type\": \"Unigram\", \"vocab\": [], \"merges\": []}}");
  expect_load_error(dir, VF_TOKENIZER_ERROR_UNSUPPORTED, "tokenizer.json", "model.type");

  write_file(dir, "tokenizer.json",
             "{\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"use_regex\": true},"
             " \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}");
  expect_load_error(dir, VF_TOKENIZER_ERROR_UNSUPPORTED, "tokenizer.json", "pre_tokenizer");

  /* A vocabulary without the byte symbols cannot encode arbitrary text. */
  write_file(dir, "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}");
  expect_load_error(dir, VF_TOKENIZER_ERROR_MALFORMED, "tokenizer.json", "byte 0x00");
  remove_folder(dir);

  /* merges.txt naming a symbol that the vocabulary lacks. */
  const char *vocab_only[] = {"vocab.json", NULL};
  g_autofree char *dir2 = make_folder(vocab_only);
  write_file(dir2, "merges.txt", "#version: 0.2\n\xC4\xA0 \xC4\xA0\nno_such_symbol x\n");
  expect_load_error(dir2, VF_TOKENIZER_ERROR_MALFORMED, "merges.txt", "merge 1");
  write_file(dir2, "merges.txt", "#version: 0.2\nonlyone\n");
  expect_load_error(dir2, VF_TOKENIZER_ERROR_MALFORMED, "merges.txt", "line 2");
  write_file(dir2, "merges.txt", "#version: 0.2\n");
  write_file(dir2, "tokenizer_config.json", "{\"eos_token\": \"<|im_end|>\"}");
  expect_load_error(dir2, VF_TOKENIZER_ERROR_MALFORMED, "tokenizer_config.json", "eos_token");
  remove_folder(dir2);
}

/* Invalid UTF-8 input is encoded as if each bad sequence were U+FFFD (never fails). */
static void
test_encode_invalid_utf8(void)
{
  size_t n_bad, n_good;
  g_autofree int32_t *bad = vf_tokenizer_encode(tok, "ab\xFF" "cd", &n_bad);
  g_autofree int32_t *good = vf_tokenizer_encode(tok, "ab\xEF\xBF\xBD" "cd", &n_good);
  assert_ids_equal("invalid utf-8", bad, n_bad, good, n_good);
}

/* About 1 MB of the case strings repeated; reports the time, checks the round trip. */
static void
test_encode_speed(void)
{
  /* The expected decode is the NFC form; the "\n" between the pieces keeps their forms independent. */
  g_autoptr(GString) text = g_string_new(NULL);
  g_autoptr(GString) nfc = g_string_new(NULL);
  while (text->len < (1u << 20)) {
    for (guint c = 0; c < json_array_get_length(cases); c++) {
      const char *piece = json_object_get_string_member(json_array_get_object_element(cases, c), "text");
      g_autofree char *piece_nfc = g_utf8_normalize(piece, -1, G_NORMALIZE_NFC);
      g_string_append(text, piece);
      g_string_append_c(text, '\n');
      g_string_append(nfc, piece_nfc);
      g_string_append_c(nfc, '\n');
    }
  }
  /* A fresh tokenizer, so the first run starts with an empty word cache. */
  g_autofree char *dir = vf_test_data_path("tokenizer");
  g_autoptr(GError) error = NULL;
  gint64 t0 = g_get_monotonic_time();
  g_autoptr(VfTokenizer) t = vf_tokenizer_load(dir, &error);
  gint64 t1 = g_get_monotonic_time();
  g_assert_no_error(error);

  size_t n_cold, n_warm;
  g_autofree int32_t *cold = vf_tokenizer_encode(t, text->str, &n_cold);
  gint64 t2 = g_get_monotonic_time();
  g_autofree int32_t *warm = vf_tokenizer_encode(t, text->str, &n_warm);
  gint64 t3 = g_get_monotonic_time();
  size_t decoded_len;
  g_autofree char *decoded = vf_tokenizer_decode(t, warm, n_warm, FALSE, &decoded_len);
  gint64 t4 = g_get_monotonic_time();

  assert_ids_equal("1 MB text", warm, n_warm, cold, n_cold);
  g_assert_true(strcmp(decoded, nfc->str) == 0);
  g_test_message("load tokenizer.json: %.0f ms", (t1 - t0) / 1e3);
  g_test_message("encode %.2f MB -> %zu tokens: %.0f ms (empty word cache), %.0f ms (warm); decode %.0f ms",
                 text->len / 1048576.0, n_warm, (t2 - t1) / 1e3, (t3 - t2) / 1e3, (t4 - t3) / 1e3);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);

  g_autofree char *dir = vf_test_data_path("tokenizer");
  g_autoptr(GError) error = NULL;
  tok = vf_tokenizer_load(dir, &error);
  if (!tok)
    g_error("cannot load the test tokenizer: %s", error->message);
  g_autofree char *cases_file = vf_test_data_path("golden/cases/tokenizer/tokenizer_cases.json");
  cases_parser = json_parser_new();
  if (!json_parser_load_from_file(cases_parser, cases_file, &error))
    g_error("%s: %s", cases_file, error->message);
  cases = json_object_get_array_member(json_node_get_object(json_parser_get_root(cases_parser)), "cases");

  g_test_add_func("/tokenizer/golden-cases", test_golden_cases);
  g_test_add_func("/tokenizer/specials-and-sizes", test_specials_and_sizes);
  g_test_add_func("/tokenizer/spec-examples", test_spec_examples);
  g_test_add_func("/tokenizer/decode-invalid-ids", test_decode_invalid_ids);
  g_test_add_func("/tokenizer/nul-byte", test_nul_byte);
  g_test_add_func("/tokenizer/stream-matches-decode", test_stream_matches_decode);
  g_test_add_func("/tokenizer/stream-holds-partial-characters", test_stream_holds_partial_characters);
  g_test_add_func("/tokenizer/utf8-replacement", test_utf8_replacement);
  g_test_add_func("/tokenizer/nfc-matches-glib", test_nfc_matches_glib);
  g_test_add_func("/tokenizer/pretokenizer", test_pretokenizer);
  g_test_add_func("/tokenizer/fallback-vocab-merges", test_fallback_vocab_merges);
  g_test_add_func("/tokenizer/load-errors", test_load_errors);
  g_test_add_func("/tokenizer/encode-invalid-utf8", test_encode_invalid_utf8);
  g_test_add_func("/tokenizer/encode-speed", test_encode_speed);
  int rc = g_test_run();

  vf_tokenizer_free(tok);
  g_object_unref(cases_parser);
  return rc;
}
