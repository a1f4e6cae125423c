/* VfMessageRow: one message in the conversation. A user message is a bubble on the right with its
 * attachments (thumbnails and their "Picture N" labels) above its text. An answer fills the width:
 * before the first token a progress bar names the stage ("Encoding picture 1", "Reading prompt 40/96");
 * then the Markdown-rendered text streams in, with a live tokens/s line, a "Stopped" mark when the user
 * ended it, and a copy button. */
#pragma once

#include <gtk/gtk.h>

#include "vf_message.h"

G_BEGIN_DECLS

#define VF_TYPE_MESSAGE_ROW (vf_message_row_get_type())
G_DECLARE_FINAL_TYPE(VfMessageRow, vf_message_row, VF, MESSAGE_ROW, GtkWidget)

GtkWidget *vf_message_row_new(VfMessage *message);
VfMessage *vf_message_row_get_message(VfMessageRow *self);

G_END_DECLS
