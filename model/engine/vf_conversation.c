/* Snapshots of the engine's conversation messages. See vf_conversation.h. */
#include "vf_conversation.h"

typedef struct {
  VfMediaItem *item; /* a reference, or NULL */
  char *label;
  char *source;
  gboolean video;
} Media;

static void
media_free(Media *media)
{
  if (media->item)
    vf_media_item_unref(media->item);
  g_free(media->label);
  g_free(media->source);
  g_free(media);
}

struct _VfConversationMessage {
  GObject parent_instance;
  char *role;
  char *text;
  GPtrArray *media; /* Media *, in the message's order */
  guint alternative, n_alternatives;
  guint64 id;
};

G_DEFINE_FINAL_TYPE(VfConversationMessage, vf_conversation_message, G_TYPE_OBJECT)

VfConversationMessage *
vf_conversation_message_new(const VfChatMessage *message, uint32_t *images, uint32_t *videos)
{
  VfConversationMessage *self = g_object_new(VF_TYPE_CONVERSATION_MESSAGE, NULL);
  self->role = g_strdup(message->role);
  self->id = message->id;
  GString *text = g_string_new(NULL);
  for (guint i = 0; i < message->parts->len; i++) {
    const VfChatPart *part = message->parts->pdata[i];
    if (part->kind == VF_CHAT_PART_TEXT) {
      g_string_append(text, part->text);
      continue;
    }
    Media *media = g_new0(Media, 1);
    media->item = part->media ? vf_media_item_ref(part->media) : NULL;
    media->label = vf_chat_media_label(part->kind, vf_chat_media_number_next(part->kind, images, videos));
    media->source = g_strdup(part->source);
    media->video = part->kind == VF_CHAT_PART_VIDEO;
    g_ptr_array_add(self->media, media);
  }
  self->text = g_string_free(text, FALSE);
  return self;
}

void
vf_conversation_message_set_alternatives(VfConversationMessage *self, guint index, guint count)
{
  g_return_if_fail(index < count);
  self->alternative = index;
  self->n_alternatives = count;
}

guint vf_conversation_message_get_n_alternatives(VfConversationMessage *self) { return self->n_alternatives; }
guint vf_conversation_message_get_alternative(VfConversationMessage *self) { return self->alternative; }
guint64 vf_conversation_message_get_id(VfConversationMessage *self) { return self->id; }
const char *vf_conversation_message_get_role(VfConversationMessage *self) { return self->role; }
const char *vf_conversation_message_get_text(VfConversationMessage *self) { return self->text; }
guint vf_conversation_message_get_n_media(VfConversationMessage *self) { return self->media->len; }

static const Media *
media_at(VfConversationMessage *self, guint index)
{
  g_assert(index < self->media->len);
  return self->media->pdata[index];
}

VfMediaItem *
vf_conversation_message_get_media(VfConversationMessage *self, guint index)
{
  return media_at(self, index)->item;
}

const char *
vf_conversation_message_get_label(VfConversationMessage *self, guint index)
{
  return media_at(self, index)->label;
}

gboolean
vf_conversation_message_get_is_video(VfConversationMessage *self, guint index)
{
  return media_at(self, index)->video;
}

const char *
vf_conversation_message_get_source(VfConversationMessage *self, guint index)
{
  return media_at(self, index)->source;
}

static void
vf_conversation_message_finalize(GObject *object)
{
  VfConversationMessage *self = VF_CONVERSATION_MESSAGE(object);
  g_free(self->role);
  g_free(self->text);
  g_ptr_array_unref(self->media);
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
  self->media = g_ptr_array_new_with_free_func((GDestroyNotify)media_free);
  self->n_alternatives = 1;
}
