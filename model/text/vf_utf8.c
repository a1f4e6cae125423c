#include "vf_utf8.h"

#include <string.h>

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* The well-formed byte sequences (Unicode Table 3-7): the lead byte fixes the number of continuation
 * bytes and the range of the first one; later ones are always 80..BF. Returns FALSE for a byte that
 * cannot start a character. */
static gboolean
lead_byte_rule(uint8_t lead, unsigned *n_cont, uint8_t *first_lo, uint8_t *first_hi)
{
  *first_lo = 0x80;
  *first_hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    *n_cont = 1;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    *n_cont = 2;
    if (lead == 0xE0)
      *first_lo = 0xA0; /* no overlong forms */
    else if (lead == 0xED)
      *first_hi = 0x9F; /* no surrogates */
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    *n_cont = 3;
    if (lead == 0xF0)
      *first_lo = 0x90;
    else if (lead == 0xF4)
      *first_hi = 0x8F; /* nothing past U+10FFFF */
  } else {
    return FALSE;
  }
  return TRUE;
}

size_t
vf_utf8_append_lossy(GString *out, const uint8_t *bytes, size_t n, gboolean final)
{
  size_t i = 0;
  while (i < n) {
    size_t ascii_end = i;
    while (ascii_end < n && bytes[ascii_end] < 0x80)
      ascii_end++;
    if (ascii_end > i) {
      g_string_append_len(out, (const char *)bytes + i, (gssize)(ascii_end - i));
      i = ascii_end;
      continue;
    }

    unsigned n_cont;
    uint8_t lo, hi;
    if (!lead_byte_rule(bytes[i], &n_cont, &lo, &hi)) {
      g_string_append(out, replacement);
      i++;
      continue;
    }
    size_t k = 1;
    for (; k <= n_cont; k++) {
      if (i + k >= n)
        break;
      uint8_t b = bytes[i + k];
      if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF))
        break;
    }
    if (k > n_cont) {
      g_string_append_len(out, (const char *)bytes + i, (gssize)(n_cont + 1));
      i += n_cont + 1;
    } else if (i + k >= n && !final) {
      return i; /* valid so far, the rest may come with the next call */
    } else {
      /* The lead byte and the continuation bytes that fitted form one maximal subpart. */
      g_string_append(out, replacement);
      i += k;
    }
  }
  return n;
}

char *
vf_utf8_show_nul(const char *text, size_t len)
{
  GString *out = g_string_sized_new(len + 1);
  for (const char *p = text, *end = text + len; p < end;) {
    const char *nul = memchr(p, 0, (size_t)(end - p));
    g_string_append_len(out, p, (nul ? nul : end) - p);
    if (!nul)
      break;
    g_string_append(out, "\xE2\x90\x80"); /* U+2400 */
    p = nul + 1;
  }
  return g_string_free(out, FALSE);
}
