/* Stop strings over a streamed answer. See vf_stop_text.h. */
#include "vf_stop_text.h"

#include <string.h>

struct VfStopText {
  char **stop;
  GString *text; /* everything fed (up to a stop string) */
  gsize sent;    /* bytes of text handed out */
  gboolean stopped;
};

VfStopText *
vf_stop_text_new(const char *const *stop)
{
  VfStopText *st = g_new0(VfStopText, 1);
  st->stop = stop ? g_strdupv((char **)stop) : g_new0(char *, 1);
  st->text = g_string_new(NULL);
  return st;
}

void
vf_stop_text_free(VfStopText *st)
{
  if (!st)
    return;
  g_strfreev(st->stop);
  g_string_free(st->text, TRUE);
  g_free(st);
}

/* memmem over the bytes from `from` (an answer may hold NUL bytes). */
static gssize
find(const GString *text, gsize from, const char *needle)
{
  gsize n = strlen(needle);
  for (gsize i = from; i + n <= text->len; i++)
    if (memcmp(text->str + i, needle, n) == 0)
      return (gssize)i;
  return -1;
}

/* The length of the longest tail of text that is a proper prefix of a stop string. */
static gsize
held_tail(const VfStopText *st)
{
  gsize hold = 0;
  for (char **s = st->stop; *s; s++) {
    gsize n = strlen(*s);
    for (gsize k = MIN(n - 1, st->text->len); k > hold; k--)
      if (memcmp(st->text->str + st->text->len - k, *s, k) == 0) {
        hold = k;
        break;
      }
  }
  return hold;
}

static void
hand_out(VfStopText *st, gsize upto, const char **ready, gsize *ready_len)
{
  *ready = st->text->str + st->sent;
  *ready_len = upto > st->sent ? upto - st->sent : 0;
  st->sent = MAX(st->sent, upto);
}

gboolean
vf_stop_text_feed(VfStopText *st, const char *piece, gsize len, const char **ready, gsize *ready_len)
{
  if (st->stopped) {
    hand_out(st, st->sent, ready, ready_len);
    return TRUE;
  }
  gsize old_len = st->text->len;
  g_string_append_len(st->text, piece, (gssize)len);
  /* A stop string can start in the held-back tail, before this piece. */
  gssize first = -1;
  for (char **s = st->stop; *s; s++) {
    gsize back = MIN(old_len, strlen(*s) - 1);
    gssize at = find(st->text, old_len - back, *s);
    if (at >= 0 && (first < 0 || at < first))
      first = at;
  }
  if (first >= 0) {
    g_string_truncate(st->text, (gsize)first);
    st->stopped = TRUE;
    hand_out(st, st->text->len, ready, ready_len);
    return TRUE;
  }
  hand_out(st, st->text->len - held_tail(st), ready, ready_len);
  return FALSE;
}

void
vf_stop_text_finish(VfStopText *st, const char **ready, gsize *ready_len)
{
  hand_out(st, st->text->len, ready, ready_len);
}

const char *
vf_stop_text_sent(const VfStopText *st, gsize *len)
{
  *len = st->sent;
  return st->text->str;
}
