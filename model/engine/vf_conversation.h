/* The engine's conversation as the main thread sees it: vf_engine_get_conversation() is a GListModel of
 * VfConversationMessage that changes only when the engine's own conversation does — the worker posts every
 * change (a question entering with its turn, leaving again when the turn fails or is stopped before its first
 * token, an answer, a truncation, a reset) in order with its other signals. It is a view, not a second copy to
 * keep in step: its messages are snapshots the worker makes of its messages, sharing their media items.
 *
 *   GListModel *conversation = vf_engine_get_conversation(engine);
 *   g_signal_connect(conversation, "items-changed", G_CALLBACK(on_conversation_changed), self);
 *
 * GLib/GIO only, like vf_engine.h. */
#pragma once

#include <gio/gio.h>

#include "vf_chat.h"
#include "vf_media_item.h"

G_BEGIN_DECLS

#define VF_TYPE_CONVERSATION_MESSAGE (vf_conversation_message_get_type())
G_DECLARE_FINAL_TYPE(VfConversationMessage, vf_conversation_message, VF, CONVERSATION_MESSAGE, GObject)

/* A snapshot of `message`; *images and *videos are the pictures and videos before it (advanced past its own), so
 * its media get the labels the prompt gives them. Every picture or video part is one of its media, in order; a
 * part nothing has read yet (a reopened conversation's, until its next prompt) has no media item. */
VfConversationMessage *vf_conversation_message_new(const VfChatMessage *message, uint32_t *images,
                                                   uint32_t *videos);

/* An answer that was regenerated: it is alternative `index` of `count` (the engine sets it before posting). */
void vf_conversation_message_set_alternatives(VfConversationMessage *self, guint index, guint count);
/* 1 for an answer with no alternatives. */
guint vf_conversation_message_get_n_alternatives(VfConversationMessage *self);
guint vf_conversation_message_get_alternative(VfConversationMessage *self);

/* The engine message's VfChatMessage.id: the same message keeps it across snapshots. */
guint64 vf_conversation_message_get_id(VfConversationMessage *self);
const char *vf_conversation_message_get_role(VfConversationMessage *self);
/* The text parts, joined. */
const char *vf_conversation_message_get_text(VfConversationMessage *self);
guint vf_conversation_message_get_n_media(VfConversationMessage *self);
/* The part's media item, or NULL when nothing has read it yet. */
VfMediaItem *vf_conversation_message_get_media(VfConversationMessage *self, guint index);
/* "Picture 2", "Video 1". */
const char *vf_conversation_message_get_label(VfConversationMessage *self, guint index);
gboolean vf_conversation_message_get_is_video(VfConversationMessage *self, guint index);
/* The part's source as given (a path, URL or data: URI), or NULL for a video given as frames. */
const char *vf_conversation_message_get_source(VfConversationMessage *self, guint index);

G_END_DECLS
