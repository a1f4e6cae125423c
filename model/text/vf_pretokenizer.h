/* The Qwen2 pre-tokenizer: splits normalised text into the words that BPE then works on (spec §5.1 step 3).
 *
 * It is a hand-written scanner with exactly the semantics of the pattern (leftmost match, alternatives in
 * order, greedy with backtracking):
 *
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *
 * \p{L} and \p{N} are GLib's Unicode general categories (L*, N*); \s is the Unicode White_Space property.
 * The words cover the text without gaps. */
#pragma once

#include <stddef.h>

/* The exact pattern string of tokenizer.json's Split pre-tokenizer, for checking a model folder. */
extern const char vf_qwen2_split_pattern[];

typedef void (*VfWordFunc)(const char *word, size_t len, void *user_data);

/* Calls `func` once per word of `text` (`len` bytes of valid UTF-8), in order. */
void vf_qwen2_split(const char *text, size_t len, VfWordFunc func, void *user_data);
