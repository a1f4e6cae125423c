/* The conversation model. See vf_chat.h. */
#include "vf_chat.h"

#include <string.h>

G_DEFINE_QUARK(vf-chat-error-quark, vf_chat_error)

static void
part_free(gpointer data)
{
  VfChatPart *part = data;
  g_free(part->text);
  g_free(part->source);
  g_strfreev(part->frames);
  if (part->media)
    part->media_unref(part->media);
  g_free(part);
}

void
vf_chat_message_free(VfChatMessage *message)
{
  g_free(message->role);
  g_ptr_array_unref(message->parts);
  g_free(message);
}

VfChat *
vf_chat_new(void)
{
  VfChat *chat = g_new0(VfChat, 1);
  chat->messages = g_ptr_array_new_with_free_func((GDestroyNotify)vf_chat_message_free);
  return chat;
}

void
vf_chat_free(VfChat *chat)
{
  if (!chat)
    return;
  g_ptr_array_unref(chat->messages);
  g_free(chat);
}

VfChatMessage *
vf_chat_append_message(VfChat *chat, const char *role)
{
  VfChatMessage *message = g_new0(VfChatMessage, 1);
  static gsize last_id; /* pointer-sized, as g_atomic_pointer_add wants */
  message->role = g_strdup(role);
  message->id = g_atomic_pointer_add(&last_id, 1) + 1;
  message->parts = g_ptr_array_new_with_free_func(part_free);
  g_ptr_array_add(chat->messages, message);
  return message;
}

static VfChatPart *
append_part(VfChatMessage *message, VfChatPartKind kind)
{
  VfChatPart *part = g_new0(VfChatPart, 1);
  part->kind = kind;
  g_ptr_array_add(message->parts, part);
  return part;
}

VfChatPart *
vf_chat_message_append_text(VfChatMessage *message, const char *text)
{
  return vf_chat_message_append_text_len(message, text, strlen(text));
}

VfChatPart *
vf_chat_message_append_text_len(VfChatMessage *message, const char *text, size_t len)
{
  VfChatPart *part = append_part(message, VF_CHAT_PART_TEXT);
  part->text = g_strndup(text, len);
  memcpy(part->text, text, len); /* g_strndup stops at a NUL */
  part->text_len = len;
  return part;
}

VfChatPart *
vf_chat_message_append_image(VfChatMessage *message, const char *source)
{
  VfChatPart *part = append_part(message, VF_CHAT_PART_IMAGE);
  part->source = g_strdup(source);
  return part;
}

VfChatPart *
vf_chat_message_append_video(VfChatMessage *message, const char *source)
{
  VfChatPart *part = append_part(message, VF_CHAT_PART_VIDEO);
  part->source = g_strdup(source);
  return part;
}

VfChatPart *
vf_chat_message_append_video_frames(VfChatMessage *message, const char *const *frames)
{
  VfChatPart *part = append_part(message, VF_CHAT_PART_VIDEO);
  part->frames = g_strdupv((char **)frames);
  return part;
}

uint32_t
vf_chat_media_number_next(VfChatPartKind kind, uint32_t *images, uint32_t *videos)
{
  g_return_val_if_fail(kind != VF_CHAT_PART_TEXT, 0);
  return kind == VF_CHAT_PART_VIDEO ? ++*videos : ++*images;
}

char *
vf_chat_media_label(VfChatPartKind kind, uint32_t number)
{
  return g_strdup_printf("%s %u", kind == VF_CHAT_PART_VIDEO ? "Video" : "Picture", number);
}

void
vf_chat_count_media(const VfChat *chat, uint32_t *n_images, uint32_t *n_videos)
{
  *n_images = *n_videos = 0;
  for (guint m = 0; m < chat->messages->len; m++) {
    const VfChatMessage *message = g_ptr_array_index(chat->messages, m);
    for (guint p = 0; p < message->parts->len; p++) {
      const VfChatPart *part = g_ptr_array_index(message->parts, p);
      *n_images += part->kind == VF_CHAT_PART_IMAGE;
      *n_videos += part->kind == VF_CHAT_PART_VIDEO;
    }
  }
}

char *
vf_chat_resolve_source(const char *source, const char *base_dir)
{
  if (!base_dir || g_path_is_absolute(source) || g_str_has_prefix(source, "data:") || strstr(source, "://"))
    return g_strdup(source);
  return g_build_filename(base_dir, source, NULL);
}
