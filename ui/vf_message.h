/* VfMessage: one message of the conversation as the window shows it. A user message holds its text and
 * attachments (already labelled "Picture N" / "Video N"); an assistant message fills in as the answer
 * streams: first a stage ("Reading prompt 12/80"), then text with a live tokens/s, then its final state. */
#pragma once

#include <gio/gio.h>

#include "vf_attachment.h"
#include "vf_turn_stats.h"

G_BEGIN_DECLS

typedef enum {
  VF_MESSAGE_USER,
  VF_MESSAGE_ASSISTANT,
} VfMessageRole;

typedef enum {
  VF_MESSAGE_WAITING,   /* assistant: no token yet (see the stage) */
  VF_MESSAGE_STREAMING, /* assistant: tokens are arriving */
  VF_MESSAGE_DONE,      /* complete (user messages are always done) */
  VF_MESSAGE_STOPPED,   /* assistant: stopped by the user; the text is what came before */
} VfMessageState;

#define VF_TYPE_MESSAGE (vf_message_get_type())
G_DECLARE_FINAL_TYPE(VfMessage, vf_message, VF, MESSAGE, GObject)

/* `attachments`: VfAttachment items, copied into the message's own list. */
VfMessage *vf_message_new_user(const char *text, GListModel *attachments);
VfMessage *vf_message_new_assistant(void);

VfMessageRole vf_message_get_role(VfMessage *self);
const char *vf_message_get_text(VfMessage *self);
GListModel *vf_message_get_attachments(VfMessage *self);
/* A user message's attachment that was read after the message was shown (a reopened conversation's stored
 * copy), at `position` of its attachments. */
void vf_message_insert_attachment(VfMessage *self, guint position, VfAttachment *attachment);
VfMessageState vf_message_get_state(VfMessage *self);
const char *vf_message_get_stage(VfMessage *self);
/* 0..1, or −1 when the stage's progress is unknown. */
double vf_message_get_stage_fraction(VfMessage *self);
/* Tokens generated so far (pieces of text while streaming, the exact count once finished). */
guint vf_message_get_tokens(VfMessage *self);
double vf_message_get_tokens_per_second(VfMessage *self);
/* "42 tokens · 12.3 tokens/s"; "" before the first token. */
char *vf_message_describe_progress(VfMessage *self);

/* The engine's message this one shows (VfConversationMessage id), 0 while it is not in the conversation yet. */
guint64 vf_message_get_id(VfMessage *self);
void vf_message_set_id(VfMessage *self, guint64 id);
/* The conversation's last answer, with nothing being answered: it offers Regenerate and its alternatives. */
gboolean vf_message_get_last_answer(VfMessage *self);
void vf_message_set_last_answer(VfMessage *self, gboolean last);
/* A regenerated answer is alternative `index` of `count` ("2/2"); count 1 otherwise. */
void vf_message_set_alternatives(VfMessage *self, guint index, guint count);
guint vf_message_get_alternative(VfMessage *self);
guint vf_message_get_n_alternatives(VfMessage *self);
/* The answer ended at the token limit (stats->stop_reason): "Cut at N tokens". */
gboolean vf_message_get_cut(VfMessage *self);
/* Whether the row offers Continue (the window sets it on the conversation's last answer when it was cut). */
gboolean vf_message_get_can_continue(VfMessage *self);
void vf_message_set_can_continue(VfMessage *self, gboolean can_continue);

void vf_message_set_stage(VfMessage *self, const char *stage, double fraction);
void vf_message_append_text(VfMessage *self, const char *piece);
/* stats: the turn's; an answer being continued adds its earlier tokens and decode time. */
void vf_message_finish(VfMessage *self, const VfTurnStats *stats);
/* A finished answer goes on (Continue): it waits and streams again after its text, and finish() counts it
 * whole. */
void vf_message_continue(VfMessage *self);
/* The continuation gave nothing (it failed, or was stopped before its first token): the answer is as before. */
void vf_message_undo_continue(VfMessage *self);


G_END_DECLS
