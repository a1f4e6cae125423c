/* Qwen2 byte-level BPE: encoding, decoding and the streaming decoder. See vf_tokenizer.h and spec §5;
 * loading is in vf_tokenizer_load.c. */
#include <string.h>

#include "vf_nfc.h"
#include "vf_pretokenizer.h"
#include "vf_tokenizer_private.h"
#include "vf_utf8.h"

/* Words up to this many bytes are cached; longer ones are rare and rarely repeat. */
#define CACHE_MAX_WORD 128
#define CACHE_MAX_ENTRIES (1u << 16)

uint32_t vf_tokenizer_n_ids(const VfTokenizer *tok) { return tok->n_ids; }
int32_t vf_tokenizer_eos_id(const VfTokenizer *tok) { return tok->eos_id; }
int32_t vf_tokenizer_pad_id(const VfTokenizer *tok) { return tok->pad_id; }

gboolean
vf_tokenizer_is_valid_id(const VfTokenizer *tok, int32_t id)
{
  return id >= 0 && (uint32_t)id < tok->n_ids && (tok->flags[id] & TOKEN_VALID);
}

gboolean
vf_tokenizer_is_special(const VfTokenizer *tok, int32_t id)
{
  return vf_tokenizer_is_valid_id(tok, id) && (tok->flags[id] & TOKEN_SPECIAL);
}

const char *
vf_tokenizer_token_string(const VfTokenizer *tok, int32_t id)
{
  return vf_tokenizer_is_valid_id(tok, id) ? tok->token_string[id] : NULL;
}

int32_t
vf_tokenizer_token_id(const VfTokenizer *tok, const char *token)
{
  return GPOINTER_TO_INT(g_hash_table_lookup(tok->token_ids, token)) - 1;
}

/* ---------------------------------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------------------------------- */

/* BPE of one word (spec §5.1 step 5). The symbols form a linked list over the word's bytes; candidate
 * pairs wait in a min-heap ordered by (rank, position), so the lowest-ranked pair is merged first and
 * equal pairs left to right, as in the reference. Stale heap entries (a symbol that was merged away, or
 * whose neighbour changed) are recognised by re-looking-up the pair when popped. */
static void
bpe_word(const VfTokenizer *tok, const uint8_t *word, size_t len, GArray *out)
{
  if (len == 1) {
    g_array_append_val(out, tok->byte_token[word[0]]);
    return;
  }
  enum { STACK_SYMBOLS = 64 };
  int32_t stack_ids[STACK_SYMBOLS], stack_next[STACK_SYMBOLS], stack_prev[STACK_SYMBOLS];
  uint64_t stack_heap[3 * STACK_SYMBOLS];
  int32_t *ids = stack_ids, *next = stack_next, *prev = stack_prev;
  uint64_t *heap = stack_heap; /* rank << 32 | position of the left symbol */
  if (len > STACK_SYMBOLS) {
    ids = g_new(int32_t, len);
    next = g_new(int32_t, len);
    prev = g_new(int32_t, len);
    heap = g_new(uint64_t, 3 * len);
  }
  size_t heap_len = 0;

#define HEAP_PUSH(value)                                                                                      \
  do {                                                                                                        \
    size_t c_ = heap_len++;                                                                                   \
    uint64_t v_ = (value);                                                                                    \
    while (c_ > 0 && heap[(c_ - 1) / 2] > v_) {                                                               \
      heap[c_] = heap[(c_ - 1) / 2];                                                                          \
      c_ = (c_ - 1) / 2;                                                                                      \
    }                                                                                                         \
    heap[c_] = v_;                                                                                            \
  } while (0)

  for (size_t i = 0; i < len; i++) {
    ids[i] = tok->byte_token[word[i]];
    next[i] = i + 1 < len ? (int32_t)i + 1 : -1;
    prev[i] = (int32_t)i - 1;
  }
  for (size_t i = 0; i + 1 < len; i++) {
    const MergeSlot *m = merge_table_find(&tok->merges, ids[i], ids[i + 1]);
    if (m)
      HEAP_PUSH(((uint64_t)m->rank << 32) | i);
  }

  while (heap_len > 0) {
    uint64_t top = heap[0];
    /* pop */
    uint64_t last = heap[--heap_len];
    size_t c = 0;
    for (;;) {
      size_t child = 2 * c + 1;
      if (child >= heap_len)
        break;
      if (child + 1 < heap_len && heap[child + 1] < heap[child])
        child++;
      if (heap[child] >= last)
        break;
      heap[c] = heap[child];
      c = child;
    }
    if (heap_len > 0)
      heap[c] = last;

    uint32_t rank = (uint32_t)(top >> 32);
    int32_t pos = (int32_t)(top & 0xffffffffu);
    if (ids[pos] < 0 || next[pos] < 0)
      continue;
    int32_t right = next[pos];
    const MergeSlot *m = merge_table_find(&tok->merges, ids[pos], ids[right]);
    if (!m || m->rank != rank)
      continue; /* stale: this pair no longer exists here */

    ids[pos] = m->merged;
    ids[right] = -1;
    next[pos] = next[right];
    if (next[pos] >= 0)
      prev[next[pos]] = pos;

    if (prev[pos] >= 0) {
      const MergeSlot *l = merge_table_find(&tok->merges, ids[prev[pos]], ids[pos]);
      if (l)
        HEAP_PUSH(((uint64_t)l->rank << 32) | (uint32_t)prev[pos]);
    }
    if (next[pos] >= 0) {
      const MergeSlot *r = merge_table_find(&tok->merges, ids[pos], ids[next[pos]]);
      if (r)
        HEAP_PUSH(((uint64_t)r->rank << 32) | (uint32_t)pos);
    }
  }
#undef HEAP_PUSH

  for (int32_t i = 0; i >= 0; i = next[i])
    g_array_append_val(out, ids[i]);

  if (ids != stack_ids) {
    g_free(ids);
    g_free(next);
    g_free(prev);
    g_free(heap);
  }
}

typedef struct {
  VfTokenizer *tok;
  GArray *out; /* int32_t */
} EncodeState;

static void
encode_word(const char *word, size_t len, void *user_data)
{
  EncodeState *st = user_data;
  VfTokenizer *tok = st->tok;
  /* The cache is keyed by C strings: a word holding a NUL byte (token 188) would collide with its prefix
   * (found by fuzz-tokenizer_roundtrip), so such words, rare, are not cached. */
  if (len > CACHE_MAX_WORD || memchr(word, 0, len)) {
    bpe_word(tok, (const uint8_t *)word, len, st->out);
    return;
  }
  char key[CACHE_MAX_WORD + 1];
  memcpy(key, word, len);
  key[len] = '\0';

  g_mutex_lock(&tok->cache_lock);
  const int32_t *cached = g_hash_table_lookup(tok->cache, key);
  if (cached)
    g_array_append_vals(st->out, cached + 1, (guint)cached[0]);
  g_mutex_unlock(&tok->cache_lock);
  if (cached)
    return;

  guint start = st->out->len;
  bpe_word(tok, (const uint8_t *)word, len, st->out);
  guint n = st->out->len - start;
  int32_t *value = g_new(int32_t, n + 1);
  value[0] = (int32_t)n;
  memcpy(value + 1, &g_array_index(st->out, int32_t, start), n * sizeof(int32_t));

  g_mutex_lock(&tok->cache_lock);
  if (g_hash_table_size(tok->cache) >= CACHE_MAX_ENTRIES)
    g_hash_table_remove_all(tok->cache);
  g_hash_table_replace(tok->cache, g_strdup(key), value);
  g_mutex_unlock(&tok->cache_lock);
}

/* Ordinary text between added tokens: NFC, split into words, BPE each word. */
static void
encode_piece(EncodeState *st, const char *text, size_t len)
{
  if (len == 0)
    return;
  /* Text below U+0300 (lead bytes below 0xCC) is its own NFC form: nothing there composes or reorders. */
  gboolean below_combining = TRUE;
  for (size_t i = 0; i < len && below_combining; i++)
    below_combining = (uint8_t)text[i] < 0xCC;
  if (below_combining) {
    vf_qwen2_split(text, len, encode_word, st);
    return;
  }
  size_t nfc_len;
  g_autofree char *nfc = vf_utf8_nfc(text, len, &nfc_len);
  vf_qwen2_split(nfc, nfc_len, encode_word, st);
}

/* Length of the longest added token at `s`, or 0; its id in *id. */
static size_t
match_added(const VfTokenizer *tok, const char *s, size_t left, int32_t *id)
{
  for (size_t i = 0; i < tok->n_added; i++) {
    if (tok->added[i].len <= left && memcmp(s, tok->added[i].content, tok->added[i].len) == 0) {
      *id = tok->added[i].id;
      return tok->added[i].len;
    }
  }
  return 0;
}

int32_t *
vf_tokenizer_encode(VfTokenizer *tok, const char *text, size_t *n_ids)
{
  return vf_tokenizer_encode_len(tok, text, strlen(text), n_ids);
}

int32_t *
vf_tokenizer_encode_len(VfTokenizer *tok, const char *text, size_t text_len, size_t *n_ids)
{
  /* Made valid the way decoding makes bytes valid (NUL stays a character; g_utf8_validate would refuse it). */
  g_autoptr(GString) valid = g_string_sized_new(text_len + 1);
  vf_utf8_append_lossy(valid, (const uint8_t *)text, text_len, TRUE);
  text = valid->str;
  const char *end = valid->str + valid->len;

  EncodeState st = {.tok = tok, .out = g_array_sized_new(FALSE, FALSE, sizeof(int32_t), 64)};
  /* Added tokens are found in the raw text, before normalisation (spec §5.1 steps 1-2), leftmost first,
   * longest at a position. (This is the fast tokenizer's order; the slow one normalises first, which
   * differs only when a combining mark right after a special token composes with its final ">".) */
  const char *piece = text, *p = text;
  while (p < end) {
    int32_t id;
    size_t len;
    if (tok->added_first_byte[(uint8_t)*p] && (len = match_added(tok, p, (size_t)(end - p), &id)) > 0) {
      encode_piece(&st, piece, (size_t)(p - piece));
      g_array_append_val(st.out, id);
      p += len;
      piece = p;
    } else {
      p++;
    }
  }
  encode_piece(&st, piece, (size_t)(p - piece));

  *n_ids = st.out->len;
  if (st.out->len == 0) /* keep the promise of a non-NULL result */
    g_array_set_size(st.out, 1);
  return (int32_t *)g_array_free(st.out, FALSE);
}

/* ---------------------------------------------------------------------------------------------------
 * Decoding
 * ------------------------------------------------------------------------------------------------- */

/* With skip_special the special tokens are left out, but for the grounding markers when keep_grounding. */
static void
append_id_bytes(const VfTokenizer *tok, GByteArray *out, int32_t id, gboolean skip_special, gboolean keep_grounding)
{
  if (!vf_tokenizer_is_valid_id(tok, id))
    return;
  uint8_t flags = tok->flags[id];
  if (skip_special && (flags & TOKEN_SPECIAL) && !(keep_grounding && (flags & TOKEN_GROUNDING)))
    return;
  uint32_t start = tok->bytes_offset[id], end = tok->bytes_offset[id + 1];
  g_byte_array_append(out, tok->bytes + start, end - start);
}

static char *
decode(const VfTokenizer *tok, const int32_t *ids, size_t n_ids, gboolean skip_special, gboolean keep_grounding,
       size_t *len)
{
  g_autoptr(GByteArray) bytes = g_byte_array_new();
  for (size_t i = 0; i < n_ids; i++)
    append_id_bytes(tok, bytes, ids[i], skip_special, keep_grounding);
  GString *text = g_string_sized_new(bytes->len + 1);
  vf_utf8_append_lossy(text, bytes->data, bytes->len, TRUE);
  *len = text->len;
  return g_string_free(text, FALSE);
}

char *
vf_tokenizer_decode(const VfTokenizer *tok, const int32_t *ids, size_t n_ids, gboolean skip_special, size_t *len)
{
  return decode(tok, ids, n_ids, skip_special, FALSE, len);
}

char *
vf_tokenizer_decode_grounded(const VfTokenizer *tok, const int32_t *ids, size_t n_ids, size_t *len)
{
  return decode(tok, ids, n_ids, TRUE, TRUE, len);
}

struct VfTokenStream {
  const VfTokenizer *tok;
  gboolean skip_special;
  gboolean keep_grounding;
  GByteArray *pending; /* bytes of a character not yet complete */
};

VfTokenStream *
vf_token_stream_new(const VfTokenizer *tok, gboolean skip_special)
{
  VfTokenStream *stream = g_new0(VfTokenStream, 1);
  stream->tok = tok;
  stream->skip_special = skip_special;
  stream->pending = g_byte_array_new();
  return stream;
}

VfTokenStream *
vf_token_stream_new_grounded(const VfTokenizer *tok)
{
  VfTokenStream *stream = vf_token_stream_new(tok, TRUE);
  stream->keep_grounding = TRUE;
  return stream;
}

static char *
stream_take(VfTokenStream *stream, gboolean final, size_t *len)
{
  GString *text = g_string_new(NULL);
  size_t used = vf_utf8_append_lossy(text, stream->pending->data, stream->pending->len, final);
  g_byte_array_remove_range(stream->pending, 0, (guint)used);
  *len = text->len;
  return g_string_free(text, FALSE);
}

char *
vf_token_stream_feed(VfTokenStream *stream, int32_t id, size_t *len)
{
  append_id_bytes(stream->tok, stream->pending, id, stream->skip_special, stream->keep_grounding);
  return stream_take(stream, FALSE, len);
}

char *
vf_token_stream_flush(VfTokenStream *stream, size_t *len)
{
  return stream_take(stream, TRUE, len);
}

void
vf_token_stream_free(VfTokenStream *stream)
{
  if (!stream)
    return;
  g_byte_array_unref(stream->pending);
  g_free(stream);
}
