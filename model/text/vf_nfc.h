/* Unicode NFC normalisation in linear time (spec §5.1 step 2).
 *
 * GLib's g_utf8_normalize() shifts the rest of its buffer after every composition, which makes it
 * quadratic: a megabyte of Korean or Vietnamese text takes seconds. This is the UAX #15 algorithm over
 * GLib's own Unicode tables (g_unichar_fully_decompose, g_unichar_combining_class, g_unichar_compose,
 * which honours the composition exclusions), writing the composed text as it goes. */
#pragma once

#include <stddef.h>

/* The NFC form of `len` bytes of valid UTF-8, NUL-terminated (free with g_free); its length in *out_len. */
char *vf_utf8_nfc(const char *text, size_t len, size_t *out_len);
