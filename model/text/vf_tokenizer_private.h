/* Internals shared by vf_tokenizer_load.c (building the tables) and vf_tokenizer.c (using them). */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "vf_tokenizer.h"

enum {
  TOKEN_VALID = 1 << 0,   /* the id names a token */
  TOKEN_ADDED = 1 << 1,   /* an added token: matched in raw text, its string is its bytes */
  TOKEN_SPECIAL = 1 << 2, /* left out by decode(skip_special) */
  TOKEN_GROUNDING = 1 << 3, /* an object-ref, box or quad marker: kept by the grounded decoders */
};

/* ---------------------------------------------------------------------------------------------------
 * Merge table: (left id, right id) -> (rank, merged id), open addressing with linear probing
 * ------------------------------------------------------------------------------------------------- */

#define MERGE_EMPTY UINT64_MAX

typedef struct {
  uint64_t key; /* left id << 32 | right id */
  uint32_t rank;
  int32_t merged;
} MergeSlot;

typedef struct {
  MergeSlot *slots; /* [mask + 1] */
  uint64_t mask;
} MergeTable;

static inline uint64_t
merge_key(int32_t left, int32_t right)
{
  return ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
}

static inline uint64_t
merge_hash(uint64_t key)
{
  key ^= key >> 29;
  key *= 0xbf58476d1ce4e5b9ull;
  key ^= key >> 32;
  return key;
}

static inline const MergeSlot *
merge_table_find(const MergeTable *t, int32_t left, int32_t right)
{
  uint64_t key = merge_key(left, right);
  for (uint64_t i = merge_hash(key) & t->mask;; i = (i + 1) & t->mask) {
    if (t->slots[i].key == key)
      return &t->slots[i];
    if (t->slots[i].key == MERGE_EMPTY)
      return NULL;
  }
}

/* ---------------------------------------------------------------------------------------------------
 * The tokenizer
 * ------------------------------------------------------------------------------------------------- */

typedef struct {
  const char *content; /* owned by VfTokenizer.strings */
  size_t len;
  int32_t id;
} AddedToken;

struct VfTokenizer {
  uint32_t n_ids;              /* max id + 1 */
  GStringChunk *strings;       /* every token string */
  const char **token_string;   /* [n_ids] vocabulary form; NULL where no token has the id */
  uint8_t *flags;              /* [n_ids] TOKEN_* */
  uint32_t *bytes_offset;      /* [n_ids + 1] token id's raw bytes are bytes[offset[id] .. offset[id+1]) */
  uint8_t *bytes;              /* raw bytes of all tokens, concatenated */
  GHashTable *token_ids;       /* vocabulary form -> GINT_TO_POINTER(id + 1) */
  int32_t byte_token[256];     /* id of the single-byte token of each byte */
  MergeTable merges;
  AddedToken *added;           /* [n_added], longest first, so the first match is the longest */
  size_t n_added;
  gboolean added_first_byte[256];
  int32_t eos_id, pad_id;

  GMutex cache_lock;
  GHashTable *cache; /* word bytes -> int32_t[1 + n]: n, then the ids */
};
