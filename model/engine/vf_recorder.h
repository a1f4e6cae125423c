/* VfRecorder: the engine's conversation kept in the history (model/store/vf_history.h) as it happens. The
 * engine's worker drives it around every request, so the history is written from that one thread:
 *
 *   send ──begin_turn──► the question's messages stored (attachments copied in by content hash); the first
 *   │                    question of an unstored conversation creates it, titled from the question's text
 *   ├──answer_piece──► the first piece stores the answer; later pieces commit its text at most once a second
 *   ├──end_turn──► the whole answer and its stats (tokens, rates, why it stopped, model and format)
 *   └──fail_turn──► a turn that gave no answer removes its question again (as the engine's conversation does)
 *   truncate / forget / open ──► the same change as the engine's conversation
 *
 * A message is stored as its attachments, then its text (joined): the order the window builds a message in,
 * and the one open() rebuilds. A NUL byte of an answer is stored as U+2400 "␀" (the history keeps text).
 * A write that fails (disk full, the database locked) does not stop the turn: its error is kept for
 * vf_recorder_take_error() and the next turn tries again. */
#pragma once

#include "vf_chat.h"
#include "vf_history.h"
#include "vf_turn_stats.h"

typedef struct VfRecorder VfRecorder;

/* Takes over `history`. No conversation is current until the first begin_turn() or open(). */
VfRecorder *vf_recorder_new(VfHistory *history);
void vf_recorder_free(VfRecorder *recorder);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfRecorder, vf_recorder_free)

/* The stored conversation the engine's conversation is, or 0 (nothing stored yet). */
gint64 vf_recorder_conversation(VfRecorder *recorder);

/* The messages [first, chat->messages->len) of `chat` were just added for a turn: stores them. */
void vf_recorder_begin_turn(VfRecorder *recorder, const VfChat *chat, guint first);
/* The conversation's last message, an answer, goes on (the engine's continue): the new pieces are stored after its
 * text; end_turn stores the whole answer, its stats summed over both turns; fail_turn puts its text back. */
void vf_recorder_continue_turn(VfRecorder *recorder);
/* The conversation's last answer is answered again (regenerate): the new answer is stored as an alternative at
 * its position (chosen), the earlier ones kept; fail_turn shows the earlier one again. */
void vf_recorder_begin_alternative(VfRecorder *recorder);
/* The last answer's alternative `alternative` (0, 1, …) is the one shown. */
void vf_recorder_choose(VfRecorder *recorder, guint alternative);
/* The engine's conversation lost its messages [first, first + count) (delete a turn). */
void vf_recorder_remove(VfRecorder *recorder, guint first, guint count);
/* `len` bytes of the answer, in order. */
void vf_recorder_answer_piece(VfRecorder *recorder, const char *piece, size_t len);
/* The answer is complete (or stopped, or cut): its final text and stats. */
void vf_recorder_end_turn(VfRecorder *recorder, const VfTurnStats *stats, guint max_new_tokens,
                          const char *model, const char *format);
/* The turn failed before an answer: its question goes out of the history again (a conversation it created
 * is deleted). */
void vf_recorder_fail_turn(VfRecorder *recorder);

/* The engine's conversation kept its first `keep` messages. */
void vf_recorder_truncate(VfRecorder *recorder, guint keep);
/* The engine's conversation was reset: the next question starts a new stored conversation. */
void vf_recorder_forget(VfRecorder *recorder);
/* The stored conversation as a VfChat (the chosen answer at each position; attachments from their stored
 * copies, a URL kept as its source), made current. Its media parts get no VfMediaItem: the engine reads them
 * when the conversation is next prefilled. */
VfChat *vf_recorder_open(VfRecorder *recorder, gint64 conversation, GError **error);

/* The first write error since the last call, or NULL. */
GError *vf_recorder_take_error(VfRecorder *recorder);

/* The title a conversation gets from its first question: the text's first line, at most 60 characters (an
 * ellipsis after a cut), "Picture" / "Video" when the question has no text, else "New conversation". */
char *vf_recorder_title(const VfChatMessage *question);
