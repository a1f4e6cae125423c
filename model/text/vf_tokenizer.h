/* Qwen2 byte-level BPE tokenizer (spec §1.4, §5).
 *
 *   g_autoptr(GError) error = NULL;
 *   g_autoptr(VfTokenizer) tok = vf_tokenizer_load("models/Qwen2-VL-2B-Instruct", &error);
 *   size_t n;
 *   g_autofree int32_t *ids = vf_tokenizer_encode(tok, "Hello world", &n);   // {9707, 1879}
 *   size_t len;
 *   g_autofree char *text = vf_tokenizer_decode(tok, ids, n, FALSE, &len);  // "Hello world", 11
 *
 * Encoding: added tokens written in the text (e.g. "<|im_end|>") become their ids directly, the rest is
 * NFC-normalised, split by the Qwen2 pre-tokenizer (vf_pretokenizer.h), mapped byte by byte to the GPT-2
 * byte alphabet and merged by BPE rank. No BOS/EOS is added. Decoding maps ids back to bytes and replaces
 * invalid UTF-8 by U+FFFD exactly as Python's `bytes.decode("utf-8", errors="replace")` does.
 *
 * Texts carry their byte length: a NUL byte is ordinary text (token 188 "Ā" is the byte 0x00, and
 * decode([9707, 188, 24638]) is "Hello\0reck", as in Python), so every decoded text comes with its length and
 * vf_tokenizer_encode_len() takes one. The returned buffers are NUL-terminated as well.
 *
 * A loaded tokenizer is immutable apart from an internal word cache behind a mutex: every function may be
 * called from any thread. */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

#define VF_TOKENIZER_ERROR (vf_tokenizer_error_quark())
GQuark vf_tokenizer_error_quark(void);

typedef enum {
  VF_TOKENIZER_ERROR_MISSING,     /* the folder, a file or a required field is missing */
  VF_TOKENIZER_ERROR_MALFORMED,   /* not JSON, a field of the wrong type, a merge naming an unknown token */
  VF_TOKENIZER_ERROR_UNSUPPORTED, /* a tokenizer pipeline other than Qwen2's byte-level BPE */
} VfTokenizerError;

typedef struct VfTokenizer VfTokenizer;

/* Loads `dir`/tokenizer.json; when it is absent, `dir`/vocab.json + merges.txt with the added tokens of
 * tokenizer_config.json ("added_tokens_decoder") and added_tokens.json. tokenizer_config.json is optional
 * and also gives eos_token / pad_token. Errors name the file and the field. */
VfTokenizer *vf_tokenizer_load(const char *dir, GError **error);
void vf_tokenizer_free(VfTokenizer *tok);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfTokenizer, vf_tokenizer_free)

/* Token ids of the `len` bytes of `text` (UTF-8, NUL bytes included; invalid bytes are first replaced by
 * U+FFFD). Never fails; the result is never NULL (free with g_free), *n_ids may be 0. */
int32_t *vf_tokenizer_encode_len(VfTokenizer *tok, const char *text, size_t len, size_t *n_ids);
/* The same for a NUL-terminated string. */
int32_t *vf_tokenizer_encode(VfTokenizer *tok, const char *text, size_t *n_ids);

/* The text of `ids` (free with g_free). With skip_special, tokens marked special are left out. Ids that
 * name no token (negative, or embedding rows past the tokenizer, e.g. 151657..151935) are skipped, as
 * Hugging Face's fast tokenizer does; vf_tokenizer_is_valid_id() tells them apart. *len: the text's bytes,
 * which may include NUL bytes. */
char *vf_tokenizer_decode(const VfTokenizer *tok, const int32_t *ids, size_t n_ids, gboolean skip_special,
                          size_t *len);

/* The same with skip_special, but keeping the grounding markers (<|object_ref_start|> … <|quad_end|>) that
 * vf_grounding.h parses: the text of an answer whose boxes are wanted. */
char *vf_tokenizer_decode_grounded(const VfTokenizer *tok, const int32_t *ids, size_t n_ids, size_t *len);

/* The id of a token given in its vocabulary form (added tokens as written, e.g. "<|im_end|>"; ordinary
 * tokens in the byte alphabet, e.g. "Ġworld"), or -1. */
int32_t vf_tokenizer_token_id(const VfTokenizer *tok, const char *token);
/* The vocabulary form of `id` ("Ġworld", "<|im_end|>"), or NULL for an invalid id. Owned by `tok`. */
const char *vf_tokenizer_token_string(const VfTokenizer *tok, int32_t id);
gboolean vf_tokenizer_is_valid_id(const VfTokenizer *tok, int32_t id);
gboolean vf_tokenizer_is_special(const VfTokenizer *tok, int32_t id);
/* One more than the largest token id (151657 for Qwen2-VL; the model's embedding table may be larger). */
uint32_t vf_tokenizer_n_ids(const VfTokenizer *tok);
/* eos_token / pad_token of tokenizer_config.json, or -1 when not given. */
int32_t vf_tokenizer_eos_id(const VfTokenizer *tok);
int32_t vf_tokenizer_pad_id(const VfTokenizer *tok);

/* Streaming decoder for generation: feed one id at a time, get back only the complete UTF-8 characters
 * that became available (a CJK character or an emoji is often split over several tokens). The pieces of
 * every feed plus the flush concatenate to exactly vf_tokenizer_decode() of all the ids. */
typedef struct VfTokenStream VfTokenStream;

/* `tok` must outlive the stream. */
VfTokenStream *vf_token_stream_new(const VfTokenizer *tok, gboolean skip_special);
/* The newly completed text, possibly "" (free with g_free), and its length in bytes (NUL bytes included). */
char *vf_token_stream_feed(VfTokenStream *stream, int32_t id, size_t *len);
/* Ends the text: bytes of an unfinished character come back as U+FFFD. The stream can be reused. */
char *vf_token_stream_flush(VfTokenStream *stream, size_t *len);
/* A stream decoding as vf_tokenizer_decode_grounded() does. */
VfTokenStream *vf_token_stream_new_grounded(const VfTokenizer *tok);
void vf_token_stream_free(VfTokenStream *stream);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfTokenStream, vf_token_stream_free)
