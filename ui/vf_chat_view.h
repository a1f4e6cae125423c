/* VfChatView: the conversation — a VfMessageRow per VfMessage of a list model, in a scrolled, width-clamped
 * column that follows the newest text while the view is at the bottom — or, while the conversation is
 * empty, a page that says how to start. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define VF_TYPE_CHAT_VIEW (vf_chat_view_get_type())
G_DECLARE_FINAL_TYPE(VfChatView, vf_chat_view, VF, CHAT_VIEW, GtkWidget)

/* VfMessage items. */
void vf_chat_view_set_model(VfChatView *self, GListModel *messages);
GListModel *vf_chat_view_get_model(VfChatView *self);
/* Rows shown (one per message of the model: the UI tests check they agree). */
guint vf_chat_view_get_n_rows(VfChatView *self);

G_END_DECLS
