/* Snapshots of the engine's conversation messages. See vf_conversation.h. */
#include "vf_conversation.h"

struct _VfConversationMessage {
  GObject parent_instance;
  char *role;
  char *text;
  GPtrArray *media;  /* VfMediaItem * (references) */
  GPtrArray *labels; /* char *, parallel to media */
};

G_DEFINE_FINAL_TYPE(VfConversationMessage, vf_conversation_message, G_TYPE_OBJECT)

VfConversationMessage *
vf_conversation_message_new(const VfChatMessage *message, uint32_t *images, uint32_t *videos)
{
  VfConversationMessage *self = g_object_new(VF_TYPE_CONVERSATION_MESSAGE, NULL);
  self->role = g_strdup(message->role);
  GString *text = g_string_new(NULL);
  for (guint i = 0; i < message->parts->len; i++) {
    const VfChatPart *part = message->parts->pdata[i];
    if (part->kind == VF_CHAT_PART_TEXT) {
      g_string_append(text, part->text);
      continue;
    }
    uint32_t number = vf_chat_media_number_next(part->kind, images, videos);
    if (!part->media)
      continue;
    g_ptr_array_add(self->media, vf_media_item_ref(part->media));
    g_ptr_array_add(self->labels, vf_chat_media_label(part->kind, number));
  }
  self->text = g_string_free(text, FALSE);
  return self;
}

const char *vf_conversation_message_get_role(VfConversationMessage *self) { return self->role; }
const char *vf_conversation_message_get_text(VfConversationMessage *self) { return self->text; }
guint vf_conversation_message_get_n_media(VfConversationMessage *self) { return self->media->len; }

VfMediaItem *
vf_conversation_message_get_media(VfConversationMessage *self, guint index)
{
  g_return_val_if_fail(index < self->media->len, NULL);
  return self->media->pdata[index];
}

const char *
vf_conversation_message_get_label(VfConversationMessage *self, guint index)
{
  g_return_val_if_fail(index < self->labels->len, NULL);
  return self->labels->pdata[index];
}

static void
vf_conversation_message_finalize(GObject *object)
{
  VfConversationMessage *self = VF_CONVERSATION_MESSAGE(object);
  g_free(self->role);
  g_free(self->text);
  g_ptr_array_unref(self->media);
  g_ptr_array_unref(self->labels);
  G_OBJECT_CLASS(vf_conversation_message_parent_class)->finalize(object);
}

static void
vf_conversation_message_class_init(VfConversationMessageClass *klass)
{
  G_OBJECT_CLASS(klass)->finalize = vf_conversation_message_finalize;
}

static void
vf_conversation_message_init(VfConversationMessage *self)
{
  self->media = g_ptr_array_new_with_free_func((GDestroyNotify)vf_media_item_unref);
  self->labels = g_ptr_array_new_with_free_func(g_free);
}
