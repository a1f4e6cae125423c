/* VfAttachment: one picture or video the user attached — its file and VfMediaItem, a thumbnail, the "Picture N" /
 * "Video N" label the chat template will give it, the per-item settings (max pixels or an exact size;
 * fps / max frames) and what they cost in visual tokens. Made by vf_attachment_inspect_async(), which
 * decodes the file off the main thread with the engine's own decoders, so a file the model could not read
 * is refused (with the decoder's reason) before it is ever attached. */
#pragma once

#include <gtk/gtk.h>

#include "vf_chat.h"
#include "vf_media_item.h"
#include "vf_preprocess.h"

G_BEGIN_DECLS

typedef enum {
  VF_ATTACHMENT_IMAGE,
  VF_ATTACHMENT_VIDEO,
} VfAttachmentKind;

#define VF_TYPE_ATTACHMENT (vf_attachment_get_type())
G_DECLARE_FINAL_TYPE(VfAttachment, vf_attachment, VF, ATTACHMENT, GObject)

/* Reads `file` into a VfMediaItem: a picture is decoded in full, once (the thumbnail comes from it, and the item
 * keeps the pixels for the encode); a file whose content says video is demuxed once (size, frame count, frame
 * rate; its first frame is the thumbnail). Errors read "name.png: reason". */
void vf_attachment_inspect_async(GFile *file, GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data);
VfAttachment *vf_attachment_inspect_finish(GAsyncResult *result, GError **error);

GFile *vf_attachment_get_file(VfAttachment *self);
/* The media item the file was read into (header, plan, the kept decode): the draft's part carries it. */
VfMediaItem *vf_attachment_get_item(VfAttachment *self);
const char *vf_attachment_get_path(VfAttachment *self);
const char *vf_attachment_get_name(VfAttachment *self);
/* The name shown, when it is not the file's: a stored copy shows the name of the file the user attached. */
void vf_attachment_set_name(VfAttachment *self, const char *name);
VfAttachmentKind vf_attachment_get_kind(VfAttachment *self);
/* The thumbnail (a picture, a video's first frame), or NULL: show vf_attachment_get_icon_name() then. */
GdkPaintable *vf_attachment_get_thumbnail(VfAttachment *self);
const char *vf_attachment_get_icon_name(VfAttachment *self);
/* A picture that decoded but is damaged: why it looks wrong ("damaged: the data stops at row 14 of 2700"),
 * else NULL. */
const char *vf_attachment_get_damage(VfAttachment *self);
/* Source size in pixels (a video's frame size). */
void vf_attachment_get_size(VfAttachment *self, guint *width, guint *height);

/* "Picture 2": set by whoever numbers the conversation (the composer for a draft). */
const char *vf_attachment_get_label(VfAttachment *self);
void vf_attachment_set_label(VfAttachment *self, const char *label);

const VfMediaOptions *vf_attachment_get_options(VfAttachment *self);
void vf_attachment_set_options(VfAttachment *self, const VfMediaOptions *options);
/* The loaded model's image processor settings (the defaults until then); recomputes the cost. */
void vf_attachment_set_processor(VfAttachment *self, const VfImageProcessorConfig *processor);
const VfImageProcessorConfig *vf_attachment_get_processor(VfAttachment *self);
/* The app's default picture budget (Preferences: 256 to 1280 visual tokens, in pixels), for a picture whose
 * options give no size of its own; 0, 0: the checkpoint's limits. Recomputes the cost. */
void vf_attachment_set_budget(VfAttachment *self, uint64_t min_pixels, uint64_t max_pixels);
/* What limits the size, for the chip after its cost: "max 1280" (tokens), "full resolution", "448×336", "2 fps",
 * "120 frames". */
char *vf_attachment_describe_budget(VfAttachment *self);

/* Visual tokens this item adds to the prompt; 0 when its settings do not work for it (see the cost text). */
guint vf_attachment_get_tokens(VfAttachment *self);
/* A video's length, "20:00" or "1:02:03" (its frames over its frame rate), or NULL (a picture, or not known). */
char *vf_attachment_describe_duration(VfAttachment *self);
/* What the settings make of it: pixels per picture or frame, and frames (1 for a picture); 0, 0 when the cost is
 * not known. */
void vf_attachment_get_planned(VfAttachment *self, guint64 *pixels, guint *frames);
/* "448×336 px · 192 tokens", or why the cost is not known. */
char *vf_attachment_describe_cost(VfAttachment *self);

/* Adds this item to a chat message as the engine reads it. */
void vf_attachment_append_to(VfAttachment *self, VfChatMessage *message);

/* "name.png: reason" from an engine error that starts with the full path. */
char *vf_attachment_format_error(const char *path, const GError *error);

G_END_DECLS
