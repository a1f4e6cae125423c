#include "vf_nfc.h"

#include <glib.h>

static gint
compare_combining_class(gconstpointer a, gconstpointer b, gpointer user_data)
{
  return g_unichar_combining_class(*(const gunichar *)a) - g_unichar_combining_class(*(const gunichar *)b);
}

/* Canonical ordering of one run of non-starters: a stable sort by combining class. */
static void
order_run(gunichar *run, size_t n)
{
  if (n < 2)
    return;
  if (n > 16) { /* g_qsort_with_data is a stable merge sort */
    g_qsort_with_data(run, (gint)n, sizeof(gunichar), compare_combining_class, NULL);
    return;
  }
  for (size_t i = 1; i < n; i++) {
    gunichar c = run[i];
    int cc = g_unichar_combining_class(c);
    size_t j = i;
    while (j > 0 && g_unichar_combining_class(run[j - 1]) > cc) {
      run[j] = run[j - 1];
      j--;
    }
    run[j] = c;
  }
}

char *
vf_utf8_nfc(const char *text, size_t len, size_t *out_len)
{
  /* 1. Canonical decomposition, with each run of non-starters put in canonical order. */
  size_t cap = len + 16, n = 0, run_start = 0;
  gunichar *buf = g_new(gunichar, cap);
  for (const char *s = text, *end = text + len; s < end; s = g_utf8_next_char(s)) {
    gunichar c = g_utf8_get_char(s);
    gunichar decomposed[G_UNICHAR_MAX_DECOMPOSITION_LENGTH];
    gsize m = c < 0xC0 ? (decomposed[0] = c, 1) : g_unichar_fully_decompose(c, FALSE, decomposed,
                                                                            G_N_ELEMENTS(decomposed));
    if (n + m > cap) {
      cap = 2 * cap + m;
      buf = g_renew(gunichar, buf, cap);
    }
    for (gsize k = 0; k < m; k++) {
      if (g_unichar_combining_class(decomposed[k]) == 0) {
        order_run(buf + run_start, n - run_start);
        run_start = n + 1;
      }
      buf[n++] = decomposed[k];
    }
  }
  order_run(buf + run_start, n - run_start);

  /* 2. Canonical composition, in place: buf[0..out) is the composed prefix. A character composes with
   * the last starter unless something between them blocks it (a starter, or a non-starter of the same
   * or higher class; after ordering only the last kept character needs checking). */
  size_t out = 0;
  ptrdiff_t starter = -1; /* index in buf[0..out) of the last starter, -1 before the first */
  int last_cc = 0;        /* class of buf[out - 1] */
  for (size_t i = 0; i < n; i++) {
    gunichar c = buf[i];
    int cc = g_unichar_combining_class(c);
    gunichar composed;
    gboolean adjacent = starter >= 0 && (size_t)starter == out - 1;
    if (starter >= 0 && (adjacent || (last_cc != 0 && last_cc < cc)) &&
        g_unichar_compose(buf[starter], c, &composed)) {
      buf[starter] = composed;
      continue;
    }
    buf[out++] = c;
    last_cc = cc;
    if (cc == 0)
      starter = (ptrdiff_t)out - 1;
  }

  /* Encoded one by one: g_ucs4_to_utf8 would stop at a U+0000, and NUL is text here (token 188). */
  GString *result = g_string_sized_new(len + 1);
  for (size_t i = 0; i < out; i++)
    g_string_append_unichar(result, buf[i]);
  g_free(buf);
  *out_len = result->len;
  return g_string_free(result, FALSE);
}
