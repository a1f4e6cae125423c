/* VfAttachmentPopover: the per-attachment settings of qwen-vl-utils — for a picture the model default, a
 * pixel budget (max_pixels) or an exact size (resized_width × resized_height); for a video the sampling
 * rate (fps) and a frame cap (max_frames) — with the resulting size and token cost shown as they change. */
#pragma once

#include <gtk/gtk.h>

#include "vf_attachment.h"

G_BEGIN_DECLS

#define VF_TYPE_ATTACHMENT_POPOVER (vf_attachment_popover_get_type())
G_DECLARE_FINAL_TYPE(VfAttachmentPopover, vf_attachment_popover, VF, ATTACHMENT_POPOVER, GtkPopover)

GtkWidget *vf_attachment_popover_new(VfAttachment *attachment);

G_END_DECLS
