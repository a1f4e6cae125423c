/* Loading a tokenizer: tokenizer.json, or vocab.json + merges.txt, plus tokenizer_config.json and
 * added_tokens.json. The builder collects entries from whichever files exist, then build() makes the
 * tables of vf_tokenizer_private.h. */
#include <json-glib/json-glib.h>
#include <string.h>

#include "vf_grounding.h"
#include "vf_pretokenizer.h"
#include "vf_tokenizer_private.h"

G_DEFINE_QUARK(vf-tokenizer-error-quark, vf_tokenizer_error)

/* Ids past this are surely a broken file (Qwen2 has 151657); it bounds the per-id tables. */
#define MAX_TOKEN_ID (1 << 23)

/* ---------------------------------------------------------------------------------------------------
 * Byte alphabet (GPT-2 bytes_to_unicode, spec §5.2)
 * ------------------------------------------------------------------------------------------------- */

/* Byte b is written as the character byte_char(b); printable Latin-1 bytes stand for themselves, the 68
 * others take U+0100.. in byte order. */
static gunichar
byte_char(uint8_t b)
{
  gboolean printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
  if (printable)
    return b;
  gunichar next = 0x100;
  for (unsigned c = 0; c < b; c++)
    if (!((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE))
      next++;
  return next;
}

/* The inverse: the byte a character of the alphabet stands for, or -1. */
static int
char_byte(gunichar c)
{
  static int16_t inverse[0x144];
  static gsize once = 0;
  if (g_once_init_enter(&once)) {
    for (unsigned i = 0; i < G_N_ELEMENTS(inverse); i++)
      inverse[i] = -1;
    for (unsigned b = 0; b < 256; b++)
      inverse[byte_char((uint8_t)b)] = (int16_t)b;
    g_once_init_leave(&once, 1);
  }
  return c < G_N_ELEMENTS(inverse) ? inverse[c] : -1;
}

/* ---------------------------------------------------------------------------------------------------
 * Building the merge table
 * ------------------------------------------------------------------------------------------------- */

static void
merge_table_init(MergeTable *t, size_t n_merges)
{
  size_t capacity = 16;
  while (capacity < 2 * n_merges)
    capacity *= 2;
  t->slots = g_new(MergeSlot, capacity);
  for (size_t i = 0; i < capacity; i++)
    t->slots[i].key = MERGE_EMPTY;
  t->mask = capacity - 1;
}

/* Keeps the first (lowest) rank when a pair is listed twice. */
static void
merge_table_insert(MergeTable *t, int32_t left, int32_t right, uint32_t rank, int32_t merged)
{
  uint64_t key = merge_key(left, right);
  for (uint64_t i = merge_hash(key) & t->mask;; i = (i + 1) & t->mask) {
    if (t->slots[i].key == key)
      return;
    if (t->slots[i].key == MERGE_EMPTY) {
      t->slots[i] = (MergeSlot){.key = key, .rank = rank, .merged = merged};
      return;
    }
  }
}

void
vf_tokenizer_free(VfTokenizer *tok)
{
  if (!tok)
    return;
  g_string_chunk_free(tok->strings);
  g_free(tok->token_string);
  g_free(tok->flags);
  g_free(tok->bytes_offset);
  g_free(tok->bytes);
  g_hash_table_unref(tok->token_ids);
  g_free(tok->merges.slots);
  g_free(tok->added);
  g_mutex_clear(&tok->cache_lock);
  g_hash_table_unref(tok->cache);
  g_free(tok);
}

/* ---------------------------------------------------------------------------------------------------
 * Reading the files
 * ------------------------------------------------------------------------------------------------- */

typedef struct {
  const char *text; /* points into a parser or file kept alive by the builder */
  int32_t id;
  gboolean added, special;
} Entry;

typedef struct {
  const char *left, *right; /* NUL-free spans into kept data */
  size_t left_len, right_len;
} Merge;

typedef struct {
  GArray *entries;     /* Entry */
  GArray *merges;      /* Merge, in rank order */
  GPtrArray *parsers;  /* JsonParsers whose strings the entries point into */
  GPtrArray *contents; /* file contents the merges point into */
  char *vocab_file;    /* for messages */
  char *merges_file;
} Builder;

static void
builder_clear(Builder *b)
{
  g_array_unref(b->entries);
  g_array_unref(b->merges);
  g_ptr_array_unref(b->parsers);
  g_ptr_array_unref(b->contents);
  g_free(b->vocab_file);
  g_free(b->merges_file);
}

static void
builder_add(Builder *b, const char *text, int32_t id, gboolean added, gboolean special)
{
  Entry e = {.text = text, .id = id, .added = added, .special = special};
  g_array_append_val(b->entries, e);
}

/* Parses `path` as JSON; the parser is kept by the builder (strings in its tree stay valid). */
static JsonNode *
load_json(Builder *b, const char *path, GError **error)
{
  JsonParser *parser = json_parser_new(); /* not immutable: sealing hashes every node */
  GError *local = NULL;
  if (!json_parser_load_from_mapped_file(parser, path, &local)) {
    gboolean missing = g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT);
    g_set_error(error, VF_TOKENIZER_ERROR, missing ? VF_TOKENIZER_ERROR_MISSING : VF_TOKENIZER_ERROR_MALFORMED,
                "%s: %s", path, local->message);
    g_error_free(local);
    g_object_unref(parser);
    return NULL;
  }
  g_ptr_array_add(b->parsers, parser);
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
    g_set_error(error, VF_TOKENIZER_ERROR, VF_TOKENIZER_ERROR_MALFORMED, "%s: not a JSON object", path);
    return NULL;
  }
  return root;
}

static gboolean
fail_field(GError **error, int code, const char *path, const char *field, const char *problem)
{
  g_set_error(error, VF_TOKENIZER_ERROR, code, "%s: field \"%s\" %s", path, field, problem);
  return FALSE;
}

/* A member of `obj` that must hold a JSON value of `type`; NULL (with an error naming `field`) if not. */
static JsonNode *
require_member(JsonObject *obj, const char *member, JsonNodeType type, const char *path, const char *field,
               GError **error)
{
  JsonNode *node = json_object_get_member(obj, member);
  if (!node) {
    fail_field(error, VF_TOKENIZER_ERROR_MISSING, path, field, "is missing");
    return NULL;
  }
  if (JSON_NODE_TYPE(node) != type) {
    const char *want = type == JSON_NODE_OBJECT ? "an object" : type == JSON_NODE_ARRAY ? "an array" : "a value";
    g_autofree char *problem = g_strdup_printf("is not %s", want);
    fail_field(error, VF_TOKENIZER_ERROR_MALFORMED, path, field, problem);
    return NULL;
  }
  return node;
}

/* The string of an optional member, or NULL when absent or null; FALSE when present but not a string. */
static gboolean
optional_string(JsonObject *obj, const char *member, const char **out)
{
  *out = NULL;
  JsonNode *node = json_object_get_member(obj, member);
  if (!node || JSON_NODE_HOLDS_NULL(node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING)
    return FALSE;
  *out = json_node_get_string(node);
  return TRUE;
}

static gboolean
node_is_int(JsonNode *node)
{
  return node && JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_INT64;
}

/* vocab: {"token": id, ...} (tokenizer.json model.vocab, or all of vocab.json) */
static gboolean
read_vocab(Builder *b, JsonObject *vocab, const char *path, const char *field, GError **error)
{
  JsonObjectIter iter;
  const char *name;
  JsonNode *node;
  json_object_iter_init(&iter, vocab);
  while (json_object_iter_next(&iter, &name, &node)) {
    if (!node_is_int(node)) {
      g_autofree char *f = g_strdup_printf("%s[\"%s\"]", field, name);
      return fail_field(error, VF_TOKENIZER_ERROR_MALFORMED, path, f, "is not an integer id");
    }
    gint64 id = json_node_get_int(node);
    if (id < 0 || id >= MAX_TOKEN_ID) {
      g_autofree char *f = g_strdup_printf("%s[\"%s\"]", field, name);
      return fail_field(error, VF_TOKENIZER_ERROR_MALFORMED, path, f, "is out of range");
    }
    builder_add(b, name, (int32_t)id, FALSE, FALSE);
  }
  return TRUE;
}

/* Splits "left right" at its single space (byte-level symbols never contain a space). */
static gboolean
split_merge(const char *line, size_t len, Merge *m)
{
  const char *space = memchr(line, ' ', len);
  if (!space || space == line || space == line + len - 1 || memchr(space + 1, ' ', line + len - space - 1))
    return FALSE;
  *m = (Merge){.left = line, .left_len = (size_t)(space - line), .right = space + 1,
               .right_len = (size_t)(line + len - space - 1)};
  return TRUE;
}

/* merges: ["a b", ...] or, in newer files, [["a", "b"], ...] */
static gboolean
read_json_merges(Builder *b, JsonArray *merges, const char *path, GError **error)
{
  guint n = json_array_get_length(merges);
  for (guint i = 0; i < n; i++) {
    JsonNode *node = json_array_get_element(merges, i);
    Merge m;
    gboolean ok = FALSE;
    if (JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING) {
      const char *s = json_node_get_string(node);
      ok = split_merge(s, strlen(s), &m);
    } else if (JSON_NODE_HOLDS_ARRAY(node) && json_array_get_length(json_node_get_array(node)) == 2) {
      JsonArray *pair = json_node_get_array(node);
      JsonNode *l = json_array_get_element(pair, 0), *r = json_array_get_element(pair, 1);
      if (JSON_NODE_HOLDS_VALUE(l) && json_node_get_value_type(l) == G_TYPE_STRING && JSON_NODE_HOLDS_VALUE(r) &&
          json_node_get_value_type(r) == G_TYPE_STRING) {
        m = (Merge){.left = json_node_get_string(l), .right = json_node_get_string(r)};
        m.left_len = strlen(m.left);
        m.right_len = strlen(m.right);
        ok = m.left_len > 0 && m.right_len > 0;
      }
    }
    if (!ok) {
      g_autofree char *f = g_strdup_printf("model.merges[%u]", i);
      return fail_field(error, VF_TOKENIZER_ERROR_MALFORMED, path, f, "is not a merge \"left right\"");
    }
    g_array_append_val(b->merges, m);
  }
  return TRUE;
}

/* One added token object: {"id": n, "content": "...", "special": bool}; `id` < 0 means read it from the
 * object. */
static gboolean
read_added_token(Builder *b, JsonNode *node, gint64 id, const char *path, const char *field, GError **error)
{
  if (!JSON_NODE_HOLDS_OBJECT(node))
    return fail_field(error, VF_TOKENIZER_ERROR_MALFORMED, path, field, "is not an object");
  JsonObject *obj = json_node_get_object(node);
  if (id < 0) {
    JsonNode *id_node = json_object_get_member(obj, "id");
    if (!node_is_int(id_node)) {
      g_autofree char *f = g_strdup_printf("%s.id", field);
      return fail_field(error, VF_TOKENIZER_ERROR_MALFORMED, path, f, "is missing or not an integer");
    }
    id = json_node_get_int(id_node);
  }
  const char *content;
  if (!optional_string(obj, "content", &content) || !content || !*content) {
    g_autofree char *f = g_strdup_printf("%s.content", field);
    return fail_field(error, VF_TOKENIZER_ERROR_MALFORMED, path, f, "is missing or not a non-empty string");
  }
  if (id < 0 || id >= MAX_TOKEN_ID) {
    g_autofree char *f = g_strdup_printf("%s.id", field);
    return fail_field(error, VF_TOKENIZER_ERROR_MALFORMED, path, f, "is out of range");
  }
  JsonNode *special = json_object_get_member(obj, "special");
  gboolean is_special = special && JSON_NODE_HOLDS_VALUE(special) &&
                        json_node_get_value_type(special) == G_TYPE_BOOLEAN && json_node_get_boolean(special);
  builder_add(b, content, (int32_t)id, TRUE, is_special);
  return TRUE;
}

/* Refuses tokenizer.json pipelines that this implementation would silently get wrong. */
static gboolean
check_pipeline(JsonObject *root, JsonObject *model, const char *path, GError **error)
{
  const char *type;
  if (!optional_string(model, "type", &type) || (type && strcmp(type, "BPE") != 0))
    return fail_field(error, VF_TOKENIZER_ERROR_UNSUPPORTED, path, "model.type", "is not \"BPE\"");
  JsonNode *ignore = json_object_get_member(model, "ignore_merges");
  if (ignore && JSON_NODE_HOLDS_VALUE(ignore) && json_node_get_value_type(ignore) == G_TYPE_BOOLEAN &&
      json_node_get_boolean(ignore))
    return fail_field(error, VF_TOKENIZER_ERROR_UNSUPPORTED, path, "model.ignore_merges",
                      "is true (not Qwen2's BPE)");

  JsonNode *norm = json_object_get_member(root, "normalizer");
  if (norm && !JSON_NODE_HOLDS_NULL(norm)) {
    const char *norm_type = NULL;
    if (!JSON_NODE_HOLDS_OBJECT(norm) || !optional_string(json_node_get_object(norm), "type", &norm_type) ||
        !norm_type || strcmp(norm_type, "NFC") != 0)
      return fail_field(error, VF_TOKENIZER_ERROR_UNSUPPORTED, path, "normalizer", "is not {\"type\": \"NFC\"}");
  }

  /* The pre-tokenizer must be Qwen2's: one Split with the Qwen2 pattern, and a ByteLevel step that does
   * not apply its own (GPT-2) regex. */
  JsonNode *pre = json_object_get_member(root, "pre_tokenizer");
  if (!pre || JSON_NODE_HOLDS_NULL(pre))
    return TRUE; /* files written without the pipeline description: assume Qwen2 */
  g_autoptr(GPtrArray) steps = g_ptr_array_new();
  if (JSON_NODE_HOLDS_OBJECT(pre)) {
    JsonObject *obj = json_node_get_object(pre);
    JsonNode *seq = json_object_get_member(obj, "pretokenizers");
    if (seq && JSON_NODE_HOLDS_ARRAY(seq)) {
      JsonArray *arr = json_node_get_array(seq);
      for (guint i = 0; i < json_array_get_length(arr); i++)
        g_ptr_array_add(steps, json_array_get_element(arr, i));
    } else {
      g_ptr_array_add(steps, pre);
    }
  }
  guint n_split = 0;
  gboolean ok = steps->len > 0;
  for (guint i = 0; ok && i < steps->len; i++) {
    JsonNode *step = g_ptr_array_index(steps, i);
    const char *step_type = NULL;
    ok = JSON_NODE_HOLDS_OBJECT(step) && optional_string(json_node_get_object(step), "type", &step_type) && step_type;
    if (!ok)
      break;
    JsonObject *obj = json_node_get_object(step);
    if (strcmp(step_type, "Split") == 0) {
      JsonNode *pattern = json_object_get_member(obj, "pattern");
      const char *regex = NULL;
      ok = pattern && JSON_NODE_HOLDS_OBJECT(pattern) &&
           optional_string(json_node_get_object(pattern), "Regex", &regex) && regex &&
           strcmp(regex, vf_qwen2_split_pattern) == 0;
      n_split++;
    } else if (strcmp(step_type, "ByteLevel") == 0) {
      JsonNode *use_regex = json_object_get_member(obj, "use_regex");
      ok = use_regex && JSON_NODE_HOLDS_VALUE(use_regex) &&
           json_node_get_value_type(use_regex) == G_TYPE_BOOLEAN && !json_node_get_boolean(use_regex);
    } else {
      ok = FALSE;
    }
  }
  if (!ok || n_split != 1)
    return fail_field(error, VF_TOKENIZER_ERROR_UNSUPPORTED, path, "pre_tokenizer",
                      "is not Qwen2's (one Split with the Qwen2 pattern, then ByteLevel without regex)");
  return TRUE;
}

static gboolean
read_tokenizer_json(Builder *b, const char *path, GError **error)
{
  JsonNode *root_node = load_json(b, path, error);
  if (!root_node)
    return FALSE;
  JsonObject *root = json_node_get_object(root_node);
  JsonNode *model_node = require_member(root, "model", JSON_NODE_OBJECT, path, "model", error);
  if (!model_node)
    return FALSE;
  JsonObject *model = json_node_get_object(model_node);
  if (!check_pipeline(root, model, path, error))
    return FALSE;

  JsonNode *vocab = require_member(model, "vocab", JSON_NODE_OBJECT, path, "model.vocab", error);
  if (!vocab || !read_vocab(b, json_node_get_object(vocab), path, "model.vocab", error))
    return FALSE;
  JsonNode *merges = require_member(model, "merges", JSON_NODE_ARRAY, path, "model.merges", error);
  if (!merges || !read_json_merges(b, json_node_get_array(merges), path, error))
    return FALSE;
  b->vocab_file = g_strdup(path);
  b->merges_file = g_strdup(path);

  JsonNode *added = json_object_get_member(root, "added_tokens");
  if (added && !JSON_NODE_HOLDS_NULL(added)) {
    if (!JSON_NODE_HOLDS_ARRAY(added))
      return fail_field(error, VF_TOKENIZER_ERROR_MALFORMED, path, "added_tokens", "is not an array");
    JsonArray *arr = json_node_get_array(added);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
      g_autofree char *field = g_strdup_printf("added_tokens[%u]", i);
      if (!read_added_token(b, json_array_get_element(arr, i), -1, path, field, error))
        return FALSE;
    }
  }
  return TRUE;
}

static gboolean
read_merges_txt(Builder *b, const char *path, GError **error)
{
  char *contents;
  gsize len;
  GError *local = NULL;
  if (!g_file_get_contents(path, &contents, &len, &local)) {
    g_set_error(error, VF_TOKENIZER_ERROR, VF_TOKENIZER_ERROR_MISSING, "%s: %s", path, local->message);
    g_error_free(local);
    return FALSE;
  }
  g_ptr_array_add(b->contents, contents);
  b->merges_file = g_strdup(path);

  size_t line_no = 0;
  for (char *line = contents, *end = contents + len; line < end; line_no++) {
    char *eol = memchr(line, '\n', (size_t)(end - line));
    char *next = eol ? eol + 1 : end;
    size_t line_len = (size_t)((eol ? eol : end) - line);
    if (line_len > 0 && line[line_len - 1] == '\r')
      line_len--;
    gboolean header = line_no == 0 && g_str_has_prefix(line, "#version");
    if (!header && line_len > 0) {
      Merge m;
      if (!split_merge(line, line_len, &m)) {
        g_set_error(error, VF_TOKENIZER_ERROR, VF_TOKENIZER_ERROR_MALFORMED,
                    "%s: line %zu is not a merge \"left right\"", path, line_no + 1);
        return FALSE;
      }
      g_array_append_val(b->merges, m);
    }
    line = next;
  }
  return TRUE;
}

/* tokenizer_config.json "added_tokens_decoder": {"151643": {"content": ..., "special": true}, ...} */
static gboolean
read_added_tokens_decoder(Builder *b, JsonObject *config, const char *path, GError **error)
{
  JsonNode *node = json_object_get_member(config, "added_tokens_decoder");
  if (!node || JSON_NODE_HOLDS_NULL(node))
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT(node))
    return fail_field(error, VF_TOKENIZER_ERROR_MALFORMED, path, "added_tokens_decoder", "is not an object");
  JsonObjectIter iter;
  const char *key;
  JsonNode *value;
  json_object_iter_init(&iter, json_node_get_object(node));
  while (json_object_iter_next(&iter, &key, &value)) {
    g_autofree char *field = g_strdup_printf("added_tokens_decoder[\"%s\"]", key);
    char *end;
    gint64 id = g_ascii_strtoll(key, &end, 10);
    if (end == key || *end || id < 0)
      return fail_field(error, VF_TOKENIZER_ERROR_MALFORMED, path, field, "has a key that is not an id");
    if (!read_added_token(b, value, id, path, field, error))
      return FALSE;
  }
  return TRUE;
}

/* added_tokens.json: {"<|endoftext|>": 151643, ...}; special-ness is not recorded there. */
static gboolean
read_added_tokens_json(Builder *b, const char *path, GError **error)
{
  JsonNode *root = load_json(b, path, error);
  if (!root)
    return FALSE;
  JsonObjectIter iter;
  const char *name;
  JsonNode *node;
  json_object_iter_init(&iter, json_node_get_object(root));
  while (json_object_iter_next(&iter, &name, &node)) {
    if (!node_is_int(node) || json_node_get_int(node) < 0 || json_node_get_int(node) >= MAX_TOKEN_ID || !*name) {
      g_autofree char *f = g_strdup_printf("[\"%s\"]", name);
      return fail_field(error, VF_TOKENIZER_ERROR_MALFORMED, path, f, "is not a valid id");
    }
    builder_add(b, name, (int32_t)json_node_get_int(node), TRUE, FALSE);
  }
  return TRUE;
}

/* eos_token / pad_token: a string, {"content": string}, or null. */
static gboolean
config_token(VfTokenizer *tok, JsonObject *config, const char *member, const char *path, int32_t *id,
             GError **error)
{
  *id = -1;
  JsonNode *node = json_object_get_member(config, member);
  if (!node || JSON_NODE_HOLDS_NULL(node))
    return TRUE;
  const char *content = NULL;
  gboolean ok;
  if (JSON_NODE_HOLDS_OBJECT(node))
    ok = optional_string(json_node_get_object(node), "content", &content) && content;
  else
    ok = JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING &&
         (content = json_node_get_string(node));
  if (!ok)
    return fail_field(error, VF_TOKENIZER_ERROR_MALFORMED, path, member, "is not a token string");
  *id = vf_tokenizer_token_id(tok, content);
  if (*id < 0) {
    g_autofree char *problem = g_strdup_printf("names \"%s\", which is not a token", content);
    return fail_field(error, VF_TOKENIZER_ERROR_MALFORMED, path, member, problem);
  }
  return TRUE;
}

/* Appends the raw bytes a vocabulary string stands for. Characters outside the byte alphabet (none in
 * Qwen2) stand for their own UTF-8 bytes. */
static void
append_token_bytes(GByteArray *out, const char *token)
{
  for (const char *s = token; *s; s = g_utf8_next_char(s)) {
    gunichar c = g_utf8_get_char(s);
    int b = char_byte(c);
    if (b >= 0) {
      uint8_t byte = (uint8_t)b;
      g_byte_array_append(out, &byte, 1);
    } else {
      g_byte_array_append(out, (const uint8_t *)s, (guint)(g_utf8_next_char(s) - s));
    }
  }
}

static int
compare_added_longest_first(const void *a, const void *b)
{
  const AddedToken *x = a, *y = b;
  if (x->len != y->len)
    return x->len > y->len ? -1 : 1;
  return x->id - y->id;
}

static gboolean
build(VfTokenizer *tok, Builder *b, GError **error)
{
  int32_t max_id = -1;
  for (guint i = 0; i < b->entries->len; i++)
    max_id = MAX(max_id, g_array_index(b->entries, Entry, i).id);
  if (max_id < 0) {
    g_set_error(error, VF_TOKENIZER_ERROR, VF_TOKENIZER_ERROR_MALFORMED, "%s: the vocabulary is empty",
                b->vocab_file);
    return FALSE;
  }
  tok->n_ids = (uint32_t)max_id + 1;
  tok->token_string = g_new0(const char *, tok->n_ids);
  tok->flags = g_new0(uint8_t, tok->n_ids);

  /* Vocabulary first, then added tokens, so an added token repeating a vocabulary entry (same id and
   * text) just marks it added/special. */
  g_autoptr(GArray) added = g_array_new(FALSE, FALSE, sizeof(AddedToken));
  for (int pass = 0; pass < 2; pass++) {
    for (guint i = 0; i < b->entries->len; i++) {
      Entry *e = &g_array_index(b->entries, Entry, i);
      if (e->added != (pass == 1))
        continue;
      const char *existing = tok->token_string[e->id];
      if (existing && strcmp(existing, e->text) != 0) {
        g_set_error(error, VF_TOKENIZER_ERROR, VF_TOKENIZER_ERROR_MALFORMED,
                    "%s: id %d is given to both \"%s\" and \"%s\"", b->vocab_file, e->id, existing, e->text);
        return FALSE;
      }
      if (!existing) {
        tok->token_string[e->id] = g_string_chunk_insert_const(tok->strings, e->text);
        tok->flags[e->id] = TOKEN_VALID;
      }
      if (pass == 1) {
        /* The same added token may come from several files: list it once. */
        gboolean listed = FALSE;
        for (guint k = 0; k < added->len; k++)
          listed |= g_array_index(added, AddedToken, k).id == e->id;
        if (!listed) {
          AddedToken a = {.content = tok->token_string[e->id], .len = strlen(e->text), .id = e->id};
          g_array_append_val(added, a);
        }
        tok->flags[e->id] |= TOKEN_ADDED | (e->special ? TOKEN_SPECIAL : 0);
      }
      g_hash_table_insert(tok->token_ids, (gpointer)tok->token_string[e->id], GINT_TO_POINTER(e->id + 1));
    }
  }
  /* The grounding markers stay in answers parsed for boxes (vf_token_stream_new_grounded). */
  static const char *const grounding[] = {VF_GROUNDING_REF_START, VF_GROUNDING_REF_END, VF_GROUNDING_BOX_START,
                                          VF_GROUNDING_BOX_END, VF_GROUNDING_QUAD_START, VF_GROUNDING_QUAD_END};
  for (size_t i = 0; i < G_N_ELEMENTS(grounding); i++) {
    int32_t id = vf_tokenizer_token_id(tok, grounding[i]);
    if (id >= 0)
      tok->flags[id] |= TOKEN_GROUNDING;
  }
  g_array_sort(added, compare_added_longest_first);
  tok->n_added = added->len;
  tok->added = (AddedToken *)g_array_steal(added, NULL);
  for (size_t i = 0; i < tok->n_added; i++)
    tok->added_first_byte[(uint8_t)tok->added[i].content[0]] = TRUE;

  /* Raw bytes of every id. */
  g_autoptr(GByteArray) bytes = g_byte_array_new();
  tok->bytes_offset = g_new(uint32_t, tok->n_ids + 1);
  for (uint32_t id = 0; id < tok->n_ids; id++) {
    tok->bytes_offset[id] = bytes->len;
    const char *s = tok->token_string[id];
    if (!s)
      continue;
    if (tok->flags[id] & TOKEN_ADDED)
      g_byte_array_append(bytes, (const uint8_t *)s, (guint)strlen(s));
    else
      append_token_bytes(bytes, s);
  }
  tok->bytes_offset[tok->n_ids] = bytes->len;
  tok->bytes = g_byte_array_steal(bytes, NULL);

  for (unsigned byte = 0; byte < 256; byte++) {
    char symbol[8] = {0};
    g_unichar_to_utf8(byte_char((uint8_t)byte), symbol);
    tok->byte_token[byte] = vf_tokenizer_token_id(tok, symbol);
    if (tok->byte_token[byte] < 0) {
      g_set_error(error, VF_TOKENIZER_ERROR, VF_TOKENIZER_ERROR_MALFORMED,
                  "%s: the vocabulary has no token for byte 0x%02x (\"%s\")", b->vocab_file, byte, symbol);
      return FALSE;
    }
  }

  merge_table_init(&tok->merges, b->merges->len);
  g_autoptr(GString) scratch = g_string_new(NULL);
  for (guint rank = 0; rank < b->merges->len; rank++) {
    Merge *m = &g_array_index(b->merges, Merge, rank);
    int32_t ids[3];
    g_string_assign(scratch, "");
    g_string_append_len(scratch, m->left, (gssize)m->left_len);
    ids[0] = vf_tokenizer_token_id(tok, scratch->str);
    g_string_assign(scratch, "");
    g_string_append_len(scratch, m->right, (gssize)m->right_len);
    ids[1] = vf_tokenizer_token_id(tok, scratch->str);
    g_string_prepend_len(scratch, m->left, (gssize)m->left_len);
    ids[2] = vf_tokenizer_token_id(tok, scratch->str);
    if (ids[0] < 0 || ids[1] < 0 || ids[2] < 0) {
      const char *which = ids[0] < 0 ? "its left symbol" : ids[1] < 0 ? "its right symbol" : "the merged symbol";
      g_set_error(error, VF_TOKENIZER_ERROR, VF_TOKENIZER_ERROR_MALFORMED,
                  "%s: merge %u (\"%.*s %.*s\"): %s is not in the vocabulary", b->merges_file, rank,
                  (int)m->left_len, m->left, (int)m->right_len, m->right, which);
      return FALSE;
    }
    merge_table_insert(&tok->merges, ids[0], ids[1], rank, ids[2]);
  }
  return TRUE;
}

VfTokenizer *
vf_tokenizer_load(const char *dir, GError **error)
{
  if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
    g_set_error(error, VF_TOKENIZER_ERROR, VF_TOKENIZER_ERROR_MISSING, "tokenizer folder %s does not exist", dir);
    return NULL;
  }
  g_autofree char *json_path = g_build_filename(dir, "tokenizer.json", NULL);
  g_autofree char *vocab_path = g_build_filename(dir, "vocab.json", NULL);
  g_autofree char *merges_path = g_build_filename(dir, "merges.txt", NULL);
  g_autofree char *config_path = g_build_filename(dir, "tokenizer_config.json", NULL);
  g_autofree char *added_path = g_build_filename(dir, "added_tokens.json", NULL);

  Builder b = {
    .entries = g_array_new(FALSE, FALSE, sizeof(Entry)),
    .merges = g_array_new(FALSE, FALSE, sizeof(Merge)),
    .parsers = g_ptr_array_new_with_free_func(g_object_unref),
    .contents = g_ptr_array_new_with_free_func(g_free),
  };

  VfTokenizer *tok = g_new0(VfTokenizer, 1);
  tok->strings = g_string_chunk_new(1 << 20);
  tok->token_ids = g_hash_table_new(g_str_hash, g_str_equal);
  tok->cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  g_mutex_init(&tok->cache_lock);
  tok->eos_id = tok->pad_id = -1;

  gboolean ok;
  JsonObject *config = NULL;
  if (g_file_test(json_path, G_FILE_TEST_EXISTS)) {
    ok = read_tokenizer_json(&b, json_path, error);
  } else if (g_file_test(vocab_path, G_FILE_TEST_EXISTS) && g_file_test(merges_path, G_FILE_TEST_EXISTS)) {
    JsonNode *vocab = load_json(&b, vocab_path, error);
    b.vocab_file = g_strdup(vocab_path);
    ok = vocab && read_vocab(&b, json_node_get_object(vocab), vocab_path, "vocab", error) &&
         read_merges_txt(&b, merges_path, error);
    if (ok && g_file_test(added_path, G_FILE_TEST_EXISTS))
      ok = read_added_tokens_json(&b, added_path, error);
  } else {
    g_set_error(error, VF_TOKENIZER_ERROR, VF_TOKENIZER_ERROR_MISSING,
                "%s: no tokenizer.json, and no vocab.json + merges.txt to fall back on", dir);
    ok = FALSE;
  }
  if (ok && g_file_test(config_path, G_FILE_TEST_EXISTS)) {
    JsonNode *root = load_json(&b, config_path, error);
    ok = root != NULL;
    if (ok) {
      config = json_node_get_object(root);
      ok = read_added_tokens_decoder(&b, config, config_path, error);
    }
  }
  ok = ok && build(tok, &b, error);
  if (ok && config)
    ok = config_token(tok, config, "eos_token", config_path, &tok->eos_id, error) &&
         config_token(tok, config, "pad_token", config_path, &tok->pad_id, error);

  builder_clear(&b);
  if (!ok) {
    vf_tokenizer_free(tok);
    return NULL;
  }
  return tok;
}
