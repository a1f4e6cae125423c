/* VfAttachmentChip: an attachment as a small card — thumbnail (or an icon), its "Picture N" label, file
 * name and visual-token cost. In the composer it is editable: a settings popover and a remove button;
 * in a sent message it only shows. */
#pragma once

#include <gtk/gtk.h>

#include "vf_attachment.h"

G_BEGIN_DECLS

#define VF_TYPE_ATTACHMENT_CHIP (vf_attachment_chip_get_type())
G_DECLARE_FINAL_TYPE(VfAttachmentChip, vf_attachment_chip, VF, ATTACHMENT_CHIP, GtkWidget)

GtkWidget *vf_attachment_chip_new(VfAttachment *attachment, gboolean editable);
VfAttachment *vf_attachment_chip_get_attachment(VfAttachmentChip *self);
/* Opens the settings popover, as a click on ⋮ does. It emits "options-closed" when it closes (Esc, a click
 * outside), so the composer can give the focus back to the message entry. */
void vf_attachment_chip_open_options(VfAttachmentChip *self);

/* Marks the chip as one that costs most of a draft that does not fit. */
void vf_attachment_chip_set_costly(VfAttachmentChip *self, gboolean costly);
gboolean vf_attachment_chip_get_costly(VfAttachmentChip *self);

G_END_DECLS
