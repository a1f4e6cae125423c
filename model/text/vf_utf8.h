/* UTF-8 decoding with replacement, as Python's `bytes.decode("utf-8", errors="replace")` and Rust's
 * `String::from_utf8_lossy` do it: every maximal subpart of an ill-formed sequence (Unicode §3.9, "U+FFFD
 * substitution of maximal subparts") becomes one U+FFFD. */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

/* Appends the text of bytes[0..n) to `out` and returns how many bytes were used. With `final` every byte
 * is used; without it, a character whose bytes are valid so far but incomplete at the end is left for
 * the next call (so decoding in pieces gives the same text as decoding all at once). */
size_t vf_utf8_append_lossy(GString *out, const uint8_t *bytes, size_t n, gboolean final);

/* `len` bytes of text as a C string for display: each NUL byte becomes U+2400 SYMBOL FOR NULL ("␀"), so a
 * widget or a signal (whose strings end at the first NUL) shows it instead of cutting the text there. */
char *vf_utf8_show_nul(const char *text, size_t len);
