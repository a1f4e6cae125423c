/* VfStopText: an answer streamed in pieces, cut at the first of the request's stop strings ("stop").
 *
 *   piece ──feed──► text ──► what can be sent now: everything except a tail that could still begin a stop
 *                            string ("Hello wo" with stop "world" holds back "wo")
 *   stop string found ──► the text before it is the answer; the caller stops generating
 *   end ──finish──► the held-back tail is sent
 *
 * So a client never sees the start of a stop string that later completes, and streamed chunks concatenate to
 * the non-streamed answer. */
#pragma once

#include <glib.h>

typedef struct VfStopText VfStopText;

/* `stop`: NULL-terminated non-empty strings, copied; NULL: none (everything is sent at once). */
VfStopText *vf_stop_text_new(const char *const *stop);
void vf_stop_text_free(VfStopText *st);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfStopText, vf_stop_text_free)

/* Adds a piece; *ready / *ready_len get the bytes that can be sent now (inside the object, valid until the next
 * call). TRUE when a stop string was found: the ready bytes end where it began and later pieces are ignored. */
gboolean vf_stop_text_feed(VfStopText *st, const char *piece, gsize len, const char **ready, gsize *ready_len);
/* The held-back tail at the end of the answer (nothing after a stop). */
void vf_stop_text_finish(VfStopText *st, const char **ready, gsize *ready_len);
/* The whole answer sent so far. */
const char *vf_stop_text_sent(const VfStopText *st, gsize *len);
