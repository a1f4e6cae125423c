/* The conversation model and its JSON reader. See vf_chat.h. */
#include "vf_chat.h"

#include <math.h>
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

static void
message_free(gpointer data)
{
  VfChatMessage *message = data;
  g_free(message->role);
  g_ptr_array_unref(message->parts);
  g_free(message);
}

VfChat *
vf_chat_new(void)
{
  VfChat *chat = g_new0(VfChat, 1);
  chat->messages = g_ptr_array_new_with_free_func(message_free);
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

/* ---------------------------------------------------------------------------------------------------
 * JSON reader
 * ------------------------------------------------------------------------------------------------- */

static gboolean
fail(GError **error, const char *where, const char *member, const char *problem)
{
  g_set_error(error, VF_CHAT_ERROR, VF_CHAT_ERROR_MALFORMED, "%s: \"%s\" %s", where, member, problem);
  return FALSE;
}

static gboolean
holds_string(JsonNode *node)
{
  return node && JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING;
}

static gboolean
holds_number(JsonNode *node)
{
  if (!node || !JSON_NODE_HOLDS_VALUE(node))
    return FALSE;
  GType type = json_node_get_value_type(node);
  return type == G_TYPE_INT64 || type == G_TYPE_DOUBLE;
}

/* An optional whole number below `limit` (JSON may write 20000 as 20000.0). */
static gboolean
read_count(JsonObject *item, const char *member, double limit, uint64_t *out, const char *where, GError **error)
{
  JsonNode *node = json_object_get_member(item, member);
  if (!node || JSON_NODE_HOLDS_NULL(node))
    return TRUE;
  double value = holds_number(node) ? json_node_get_double(node) : -1.0;
  if (!(value >= 0.0 && value < limit && value == floor(value)))
    return fail(error, where, member, "is not a whole number in range");
  *out = (uint64_t)value;
  return TRUE;
}

static gboolean
read_count32(JsonObject *item, const char *member, uint32_t *out, const char *where, GError **error)
{
  uint64_t value = 0;
  if (!read_count(item, member, 4294967296.0, &value, where, error))
    return FALSE;
  *out = (uint32_t)value;
  return TRUE;
}

static gboolean
read_media_options(JsonObject *item, VfMediaOptions *opt, const char *where, GError **error)
{
  const double pixel_limit = 1e15;
  if (!read_count(item, "min_pixels", pixel_limit, &opt->min_pixels, where, error) ||
      !read_count(item, "max_pixels", pixel_limit, &opt->max_pixels, where, error) ||
      !read_count(item, "total_pixels", pixel_limit, &opt->total_pixels, where, error) ||
      !read_count32(item, "resized_height", &opt->resized_height, where, error) ||
      !read_count32(item, "resized_width", &opt->resized_width, where, error) ||
      !read_count32(item, "nframes", &opt->nframes, where, error) ||
      !read_count32(item, "min_frames", &opt->min_frames, where, error) ||
      !read_count32(item, "max_frames", &opt->max_frames, where, error))
    return FALSE;
  JsonNode *fps = json_object_get_member(item, "fps");
  if (fps && !JSON_NODE_HOLDS_NULL(fps)) {
    if (!holds_number(fps) || !(json_node_get_double(fps) > 0.0) || !isfinite(json_node_get_double(fps)))
      return fail(error, where, "fps", "is not a positive number");
    opt->fps = json_node_get_double(fps);
  }
  return TRUE;
}

/* "image": "a.png" | null, or "image_url": "http://…" | {"url": "http://…"} (OpenAI style). */
static gboolean
read_image_source(JsonObject *item, char **source, const char *where, GError **error)
{
  const char *member = json_object_has_member(item, "image") ? "image" : "image_url";
  JsonNode *node = json_object_get_member(item, member);
  if (!node || JSON_NODE_HOLDS_NULL(node))
    return TRUE;
  if (holds_string(node)) {
    *source = g_strdup(json_node_get_string(node));
    return TRUE;
  }
  if (JSON_NODE_HOLDS_OBJECT(node) && holds_string(json_object_get_member(json_node_get_object(node), "url"))) {
    *source = g_strdup(json_object_get_string_member(json_node_get_object(node), "url"));
    return TRUE;
  }
  return fail(error, where, member, "is neither a string nor {\"url\": string}");
}

/* "video": "clip.mp4" | ["f1.png", "f2.png", …] | null */
static gboolean
read_video_source(JsonObject *item, VfChatPart *part, const char *where, GError **error)
{
  JsonNode *node = json_object_get_member(item, "video");
  if (!node || JSON_NODE_HOLDS_NULL(node))
    return TRUE;
  if (holds_string(node)) {
    part->source = g_strdup(json_node_get_string(node));
    return TRUE;
  }
  if (JSON_NODE_HOLDS_ARRAY(node)) {
    JsonArray *arr = json_node_get_array(node);
    guint n = json_array_get_length(arr);
    part->frames = g_new0(char *, n + 1);
    for (guint i = 0; i < n; i++) {
      JsonNode *frame = json_array_get_element(arr, i);
      if (!holds_string(frame))
        return fail(error, where, "video", "is a list with an item that is not a string");
      part->frames[i] = g_strdup(json_node_get_string(frame));
    }
    return TRUE;
  }
  return fail(error, where, "video", "is neither a string nor a list of frame images");
}

static gboolean
read_item(VfChatMessage *message, JsonNode *node, const char *where, GError **error)
{
  if (!JSON_NODE_HOLDS_OBJECT(node)) {
    g_set_error(error, VF_CHAT_ERROR, VF_CHAT_ERROR_MALFORMED, "%s: not an object", where);
    return FALSE;
  }
  JsonObject *item = json_node_get_object(node);
  JsonNode *type_node = json_object_get_member(item, "type");
  const char *type = holds_string(type_node) ? json_node_get_string(type_node) : "";

  /* The order of these tests is the template's. */
  if (strcmp(type, "image") == 0 || json_object_has_member(item, "image") ||
      json_object_has_member(item, "image_url")) {
    VfChatPart *part = vf_chat_message_append_image(message, NULL);
    return read_image_source(item, &part->source, where, error) &&
           read_media_options(item, &part->options, where, error);
  }
  if (strcmp(type, "video") == 0 || json_object_has_member(item, "video")) {
    VfChatPart *part = vf_chat_message_append_video(message, NULL);
    return read_video_source(item, part, where, error) && read_media_options(item, &part->options, where, error);
  }
  if (json_object_has_member(item, "text")) {
    JsonNode *text = json_object_get_member(item, "text");
    if (!holds_string(text))
      return fail(error, where, "text", "is not a string");
    vf_chat_message_append_text(message, json_node_get_string(text));
  }
  return TRUE;
}

static gboolean
read_message(VfChat *chat, JsonNode *node, guint index, GError **error)
{
  g_autofree char *where = g_strdup_printf("message %u", index);
  if (!JSON_NODE_HOLDS_OBJECT(node)) {
    g_set_error(error, VF_CHAT_ERROR, VF_CHAT_ERROR_MALFORMED, "%s: not an object", where);
    return FALSE;
  }
  JsonObject *obj = json_node_get_object(node);
  JsonNode *role = json_object_get_member(obj, "role");
  if (!holds_string(role))
    return fail(error, where, "role", "is missing or not a string");
  VfChatMessage *message = vf_chat_append_message(chat, json_node_get_string(role));

  JsonNode *content = json_object_get_member(obj, "content");
  if (holds_string(content)) {
    vf_chat_message_append_text(message, json_node_get_string(content));
    return TRUE;
  }
  if (!content || !JSON_NODE_HOLDS_ARRAY(content))
    return fail(error, where, "content", "is neither a string nor a list of items");
  JsonArray *items = json_node_get_array(content);
  for (guint i = 0; i < json_array_get_length(items); i++) {
    g_autofree char *item_where = g_strdup_printf("message %u, item %u", index, i);
    if (!read_item(message, json_array_get_element(items, i), item_where, error))
      return FALSE;
  }
  return TRUE;
}

VfChat *
vf_chat_from_json(JsonNode *messages, GError **error)
{
  if (!messages || !JSON_NODE_HOLDS_ARRAY(messages)) {
    g_set_error(error, VF_CHAT_ERROR, VF_CHAT_ERROR_MALFORMED, "messages: not a list");
    return NULL;
  }
  g_autoptr(VfChat) chat = vf_chat_new();
  JsonArray *arr = json_node_get_array(messages);
  for (guint i = 0; i < json_array_get_length(arr); i++)
    if (!read_message(chat, json_array_get_element(arr, i), i, error))
      return NULL;
  return g_steal_pointer(&chat);
}

VfChat *
vf_chat_from_json_data(const char *json, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable();
  GError *local = NULL;
  if (!json_parser_load_from_data(parser, json, -1, &local)) {
    g_set_error(error, VF_CHAT_ERROR, VF_CHAT_ERROR_MALFORMED, "messages: %s", local->message);
    g_error_free(local);
    return NULL;
  }
  return vf_chat_from_json(json_parser_get_root(parser), error);
}
