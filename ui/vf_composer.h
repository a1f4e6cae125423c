/* VfComposer: where the next message is written — the attachments as chips (labelled "Picture N" /
 * "Video N" continuing the conversation's numbering), a status line (the prompt's running token count),
 * an attach button, a multi-line text field (Enter sends, Shift+Enter breaks the line; pasting a picture
 * attaches it) and a send button that becomes a stop button while an answer is being written.
 * Sending, stopping and attaching go through the window's "chat.*" actions. */
#pragma once

#include <gtk/gtk.h>

#include "vf_attachment.h"

G_BEGIN_DECLS

#define VF_TYPE_COMPOSER (vf_composer_get_type())
G_DECLARE_FINAL_TYPE(VfComposer, vf_composer, VF, COMPOSER, GtkWidget)

/* VfAttachment items of the draft, in order. */
GListModel *vf_composer_get_attachments(VfComposer *self);
void vf_composer_add_attachment(VfComposer *self, VfAttachment *attachment);
char *vf_composer_get_text(VfComposer *self);
void vf_composer_set_text(VfComposer *self, const char *text);
/* Empties the draft (text and attachments). */
void vf_composer_clear(VfComposer *self);

/* How many pictures and videos the conversation already has: the draft's labels continue from there. */
void vf_composer_set_media_before(VfComposer *self, guint pictures, guint videos);
void vf_composer_set_busy(VfComposer *self, gboolean busy);
/* The draft is an earlier message being edited: a bar says so, with Cancel (chat.cancel-edit). */
void vf_composer_set_editing(VfComposer *self, gboolean editing);
/* The status line; a warning is shown in the warning colour. */
void vf_composer_set_status(VfComposer *self, const char *text, gboolean warning);
const char *vf_composer_get_status(VfComposer *self);
/* The draft is `tokens_over` tokens too long (0: it fits): Fit to Context is offered (chat.fit-to-context), and
 * the chips that cost most, enough of them to cover the excess, are marked. */
void vf_composer_set_fit_offer(VfComposer *self, guint tokens_over);
void vf_composer_focus_input(VfComposer *self);
/* Opens the ⋮ settings of the draft's attachment `index` (0-based), as a click does. */
void vf_composer_open_options(VfComposer *self, guint index);

G_END_DECLS
