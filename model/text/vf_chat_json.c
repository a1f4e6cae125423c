/* JSON messages ⇄ VfChat: the template's reader, the strict reader and the writer. See vf_chat_json.h. */
#include "vf_chat_json.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------------
 * Fields, shared by both readers
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

/* ---------------------------------------------------------------------------------------------------
 * The strict reader's parts
 * ------------------------------------------------------------------------------------------------- */

/* A required source: a non-empty string, resolved against base_dir. */
static gboolean
read_source(JsonNode *node, const char *base_dir, char **out, const char *where, const char *member,
            GError **error)
{
  if (!node || JSON_NODE_HOLDS_NULL(node))
    return fail(error, where, member, "is missing");
  if (!holds_string(node) || !*json_node_get_string(node))
    return fail(error, where, member, "is not a non-empty string");
  *out = vf_chat_resolve_source(json_node_get_string(node), base_dir);
  return TRUE;
}

/* OpenAI's {"url": "…"} (a bare string is taken too, as vLLM does). */
static gboolean
read_url_object(JsonObject *part, const char *member, const char *base_dir, char **out, const char *where,
                GError **error)
{
  JsonNode *node = json_object_get_member(part, member);
  if (node && JSON_NODE_HOLDS_OBJECT(node)) {
    g_autofree char *url_where = g_strdup_printf("%s, \"%s\"", where, member);
    return read_source(json_object_get_member(json_node_get_object(node), "url"), base_dir, out, url_where,
                       "url", error);
  }
  if (node && !JSON_NODE_HOLDS_NULL(node) && !holds_string(node))
    return fail(error, where, member, "is neither {\"url\": string} nor a string");
  return read_source(node, base_dir, out, where, member, error);
}

/* "video": "clip.mp4" | ["f0.png", …] (at least one frame). */
static gboolean
read_video_member(JsonObject *part, VfChatPart *video, const char *base_dir, const char *where, GError **error)
{
  JsonNode *node = json_object_get_member(part, "video");
  if (!node || !JSON_NODE_HOLDS_ARRAY(node))
    return read_source(node, base_dir, &video->source, where, "video", error);
  JsonArray *frames = json_node_get_array(node);
  guint n = json_array_get_length(frames);
  if (n == 0)
    return fail(error, where, "video", "is an empty list of frames");
  video->frames = g_new0(char *, n + 1);
  for (guint i = 0; i < n; i++) {
    g_autofree char *frame_where = g_strdup_printf("%s, frame %u", where, i);
    if (!read_source(json_array_get_element(frames, i), base_dir, &video->frames[i], frame_where, "video",
                     error))
      return FALSE;
  }
  return TRUE;
}

static gboolean
read_strict_part(VfChatMessage *message, JsonNode *node, const char *base_dir, const char *where, GError **error)
{
  if (!JSON_NODE_HOLDS_OBJECT(node)) {
    g_set_error(error, VF_CHAT_ERROR, VF_CHAT_ERROR_MALFORMED, "%s: not an object", where);
    return FALSE;
  }
  JsonObject *part = json_node_get_object(node);
  JsonNode *type_node = json_object_get_member(part, "type");
  if (!holds_string(type_node))
    return fail(error, where, "type", "is missing or not a string");
  const char *type = json_node_get_string(type_node);

  if (strcmp(type, "text") == 0) {
    JsonNode *text = json_object_get_member(part, "text");
    if (!holds_string(text))
      return fail(error, where, "text", "is missing or not a string");
    vf_chat_message_append_text(message, json_node_get_string(text));
    return TRUE;
  }
  gboolean image = strcmp(type, "image") == 0 || strcmp(type, "image_url") == 0;
  gboolean video = strcmp(type, "video") == 0 || strcmp(type, "video_url") == 0;
  if (!image && !video) {
    g_set_error(error, VF_CHAT_ERROR, VF_CHAT_ERROR_MALFORMED,
                "%s: unknown part type \"%s\" (known: text, image, image_url, video, video_url)", where, type);
    return FALSE;
  }
  VfChatPart *media = image ? vf_chat_message_append_image(message, NULL) : vf_chat_message_append_video(message, NULL);
  gboolean ok;
  if (strcmp(type, "image") == 0)
    ok = read_source(json_object_get_member(part, "image"), base_dir, &media->source, where, "image", error);
  else if (strcmp(type, "video") == 0)
    ok = read_video_member(part, media, base_dir, where, error);
  else
    ok = read_url_object(part, type, base_dir, &media->source, where, error);
  if (!ok || !read_media_options(part, &media->options, where, error))
    return FALSE;
  if (media->options.fps > 0 && media->options.nframes > 0)
    return fail(error, where, "nframes", "is given with \"fps\": give one of them");
  return TRUE;
}

/* ---------------------------------------------------------------------------------------------------
 * Messages, both readers
 * ------------------------------------------------------------------------------------------------- */

typedef struct {
  gboolean strict;
  const char *base_dir; /* strict only */
} Reader;

static gboolean
read_message(const Reader *reader, VfChat *chat, JsonNode *node, guint index, GError **error)
{
  g_autofree char *where = g_strdup_printf("message %u", index);
  if (!JSON_NODE_HOLDS_OBJECT(node)) {
    g_set_error(error, VF_CHAT_ERROR, VF_CHAT_ERROR_MALFORMED, "%s: not an object", where);
    return FALSE;
  }
  JsonObject *obj = json_node_get_object(node);
  JsonNode *role_node = json_object_get_member(obj, "role");
  if (!holds_string(role_node))
    return fail(error, where, "role", "is missing or not a string");
  const char *role = json_node_get_string(role_node);
  if (reader->strict && strcmp(role, "system") != 0 && strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0)
    return fail(error, where, "role", "is none of \"system\", \"user\", \"assistant\"");
  VfChatMessage *message = vf_chat_append_message(chat, role);

  JsonNode *content = json_object_get_member(obj, "content");
  if (holds_string(content)) {
    vf_chat_message_append_text(message, json_node_get_string(content));
    return TRUE;
  }
  if (!content || !JSON_NODE_HOLDS_ARRAY(content))
    return fail(error, where, "content", "is neither a string nor a list of parts");
  JsonArray *parts = json_node_get_array(content);
  for (guint i = 0; i < json_array_get_length(parts); i++) {
    JsonNode *part = json_array_get_element(parts, i);
    g_autofree char *part_where = g_strdup_printf("message %u, %s %u", index, reader->strict ? "part" : "item", i);
    if (!(reader->strict ? read_strict_part(message, part, reader->base_dir, part_where, error)
                         : read_item(message, part, part_where, error)))
      return FALSE;
  }
  return TRUE;
}

static VfChat *
read_messages(const Reader *reader, JsonNode *messages, GError **error)
{
  if (!messages || !JSON_NODE_HOLDS_ARRAY(messages)) {
    g_set_error(error, VF_CHAT_ERROR, VF_CHAT_ERROR_MALFORMED, "messages: not a list");
    return NULL;
  }
  g_autoptr(VfChat) chat = vf_chat_new();
  JsonArray *arr = json_node_get_array(messages);
  for (guint i = 0; i < json_array_get_length(arr); i++)
    if (!read_message(reader, chat, json_array_get_element(arr, i), i, error))
      return NULL;
  return g_steal_pointer(&chat);
}

VfChat *
vf_chat_from_json(JsonNode *messages, GError **error)
{
  const Reader reader = {.strict = FALSE};
  return read_messages(&reader, messages, error);
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

VfChat *
vf_chat_json_read(JsonNode *messages, const char *base_dir, GError **error)
{
  const Reader reader = {.strict = TRUE, .base_dir = base_dir};
  return read_messages(&reader, messages, error);
}

VfChat *
vf_chat_json_read_file(const char *path, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable();
  GError *local = NULL;
  if (!json_parser_load_from_file(parser, path, &local)) {
    g_set_error(error, VF_CHAT_ERROR, VF_CHAT_ERROR_MALFORMED, "%s: %s", path, local->message);
    g_error_free(local);
    return NULL;
  }
  JsonNode *root = json_parser_get_root(parser);
  if (root && JSON_NODE_HOLDS_OBJECT(root))
    root = json_object_get_member(json_node_get_object(root), "messages");
  g_autofree char *dir = g_path_get_dirname(path);
  if (!g_path_is_absolute(dir)) {
    g_autofree char *cwd = g_get_current_dir();
    g_autofree char *relative = g_steal_pointer(&dir);
    dir = g_build_filename(cwd, relative, NULL);
  }
  VfChat *chat = vf_chat_json_read(root, dir, &local);
  if (!chat) {
    g_set_error(error, VF_CHAT_ERROR, VF_CHAT_ERROR_MALFORMED, "%s: %s", path, local->message);
    g_error_free(local);
  }
  return chat;
}

/* ---------------------------------------------------------------------------------------------------
 * Writer
 * ------------------------------------------------------------------------------------------------- */

void
vf_json_append_string(GString *out, const char *text, size_t len)
{
  g_string_append_c(out, '"');
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)text[i];
    if (c == '"' || c == '\\')
      g_string_append_printf(out, "\\%c", c);
    else if (c == '\n')
      g_string_append(out, "\\n");
    else if (c < 0x20 || c == 0x7f)
      g_string_append_printf(out, "\\u%04x", c);
    else
      g_string_append_c(out, (char)c);
  }
  g_string_append_c(out, '"');
}

static void
append_member(GString *out, const char *name)
{
  g_string_append_printf(out, ",\"%s\":", name);
}

static void
append_string_or_null(GString *out, const char *text)
{
  if (text)
    vf_json_append_string(out, text, strlen(text));
  else
    g_string_append(out, "null");
}

static void
append_options(GString *out, const VfMediaOptions *opt)
{
  const struct {
    const char *name;
    uint64_t value;
  } counts[] = {
    {"min_pixels", opt->min_pixels},         {"max_pixels", opt->max_pixels},
    {"total_pixels", opt->total_pixels},     {"resized_height", opt->resized_height},
    {"resized_width", opt->resized_width},   {"nframes", opt->nframes},
    {"min_frames", opt->min_frames},         {"max_frames", opt->max_frames},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(counts); i++)
    if (counts[i].value) {
      append_member(out, counts[i].name);
      g_string_append_printf(out, "%" G_GUINT64_FORMAT, counts[i].value);
    }
  if (opt->fps > 0) {
    char number[G_ASCII_DTOSTR_BUF_SIZE];
    append_member(out, "fps");
    g_string_append(out, g_ascii_dtostr(number, sizeof number, opt->fps));
  }
}

static void
append_part(GString *out, const VfChatPart *part)
{
  switch (part->kind) {
  case VF_CHAT_PART_TEXT:
    g_string_append(out, "{\"type\":\"text\",\"text\":");
    vf_json_append_string(out, part->text, part->text_len);
    break;
  case VF_CHAT_PART_IMAGE:
    g_string_append(out, "{\"type\":\"image\",\"image\":");
    append_string_or_null(out, part->source);
    append_options(out, &part->options);
    break;
  case VF_CHAT_PART_VIDEO:
    g_string_append(out, "{\"type\":\"video\",\"video\":");
    if (part->frames) {
      g_string_append_c(out, '[');
      for (guint f = 0; part->frames[f]; f++) {
        if (f)
          g_string_append_c(out, ',');
        vf_json_append_string(out, part->frames[f], strlen(part->frames[f]));
      }
      g_string_append_c(out, ']');
    } else {
      append_string_or_null(out, part->source);
    }
    append_options(out, &part->options);
    break;
  }
  g_string_append_c(out, '}');
}

char *
vf_chat_json_write(const VfChat *chat, gsize *len)
{
  GString *out = g_string_new("[");
  for (guint m = 0; m < chat->messages->len; m++) {
    const VfChatMessage *message = g_ptr_array_index(chat->messages, m);
    g_string_append(out, m ? ",{\"role\":" : "{\"role\":");
    vf_json_append_string(out, message->role, strlen(message->role));
    g_string_append(out, ",\"content\":");
    const VfChatPart *first = message->parts->len ? g_ptr_array_index(message->parts, 0) : NULL;
    if (message->parts->len == 1 && first->kind == VF_CHAT_PART_TEXT) {
      vf_json_append_string(out, first->text, first->text_len);
    } else {
      g_string_append_c(out, '[');
      for (guint p = 0; p < message->parts->len; p++) {
        if (p)
          g_string_append_c(out, ',');
        append_part(out, g_ptr_array_index(message->parts, p));
      }
      g_string_append_c(out, ']');
    }
    g_string_append_c(out, '}');
  }
  g_string_append_c(out, ']');
  if (len)
    *len = out->len;
  return g_string_free(out, FALSE);
}
