/* The Qwen2-VL Instruct chat template. See vf_chat_template.h. */
#include "vf_chat_template.h"

#include <json-glib/json-glib.h>
#include <string.h>

/* Verbatim from Qwen2-VL-*-Instruct chat_template.json (split at the Jinja tags for reading). */
const char vf_chat_template_qwen2_vl[] =
  "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
  "{% for message in messages %}"
  "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
  "{% endif %}<|im_start|>{{ message['role'] }}\n"
  "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n{% else %}"
  "{% for content in message['content'] %}"
  "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
  "{% set image_count.value = image_count.value + 1 %}"
  "{% if add_vision_id %}Picture {{ image_count.value }}: "
  "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
  "{% elif content['type'] == 'video' or 'video' in content %}"
  "{% set video_count.value = video_count.value + 1 %}"
  "{% if add_vision_id %}Video {{ video_count.value }}: "
  "{% endif %}<|vision_start|><|video_pad|><|vision_end|>"
  "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}"
  "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

static const char default_system[] = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n";
const char vf_chat_template_generation_prompt[] = "<|im_start|>assistant\n";

void
vf_chat_template_render_message(GString *out, const VfChatMessage *message, gboolean first, uint32_t *images,
                                uint32_t *videos, VfChatTemplateFlags flags)
{
  gboolean vision_id = (flags & VF_CHAT_TEMPLATE_VISION_ID) != 0;
  if (first && strcmp(message->role, "system") != 0)
    g_string_append(out, default_system);
  g_string_append_printf(out, "<|im_start|>%s\n", message->role);
  for (guint p = 0; p < message->parts->len; p++) {
    const VfChatPart *part = g_ptr_array_index(message->parts, p);
    switch (part->kind) {
    case VF_CHAT_PART_TEXT:
      g_string_append_len(out, part->text, (gssize)part->text_len); /* may hold NUL bytes */
      break;
    case VF_CHAT_PART_IMAGE:
    case VF_CHAT_PART_VIDEO: {
      uint32_t number = vf_chat_media_number_next(part->kind, images, videos);
      if (vision_id) {
        g_autofree char *label = vf_chat_media_label(part->kind, number);
        g_string_append_printf(out, "%s: ", label);
      }
      g_string_append(out, part->kind == VF_CHAT_PART_VIDEO ? "<|vision_start|><|video_pad|><|vision_end|>"
                                                            : "<|vision_start|><|image_pad|><|vision_end|>");
      break;
    }
    }
  }
  g_string_append(out, "<|im_end|>\n");
}

char *
vf_chat_template_render(const VfChat *chat, VfChatTemplateFlags flags, size_t *len)
{
  GString *out = g_string_new(NULL);
  uint32_t images = 0, videos = 0; /* counted over the whole conversation */
  for (guint m = 0; m < chat->messages->len; m++)
    vf_chat_template_render_message(out, g_ptr_array_index(chat->messages, m), m == 0, &images, &videos, flags);
  if (flags & VF_CHAT_TEMPLATE_GENERATION_PROMPT)
    g_string_append(out, vf_chat_template_generation_prompt);
  if (len)
    *len = out->len;
  return g_string_free(out, FALSE);
}

/* ---------------------------------------------------------------------------------------------------
 * Checking a model folder's template
 * ------------------------------------------------------------------------------------------------- */

typedef enum { FOUND, ABSENT, UNREADABLE } Lookup;

/* tokenizer_config.json may hold the template as a string or as [{"name": "default", "template": …}, …]. */
static const char *
template_of_member(JsonNode *node)
{
  if (!node)
    return NULL;
  if (JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING)
    return json_node_get_string(node);
  if (JSON_NODE_HOLDS_ARRAY(node)) {
    JsonArray *arr = json_node_get_array(node);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
      JsonNode *entry = json_array_get_element(arr, i);
      if (!JSON_NODE_HOLDS_OBJECT(entry))
        continue;
      JsonObject *obj = json_node_get_object(entry);
      if (g_strcmp0(json_object_get_string_member_with_default(obj, "name", NULL), "default") == 0)
        return json_object_get_string_member_with_default(obj, "template", NULL);
    }
  }
  return NULL;
}

/* The template in `path` (a JSON file with a "chat_template" member, or a raw .jinja file). */
static Lookup
read_template(const char *path, gboolean raw, char **template, char **problem)
{
  if (!g_file_test(path, G_FILE_TEST_EXISTS))
    return ABSENT;
  GError *error = NULL;
  if (raw) {
    if (!g_file_get_contents(path, template, NULL, &error)) {
      *problem = g_strdup(error->message);
      g_error_free(error);
      return UNREADABLE;
    }
    return FOUND;
  }
  g_autoptr(JsonParser) parser = json_parser_new_immutable();
  if (!json_parser_load_from_mapped_file(parser, path, &error)) {
    *problem = g_strdup(error->message);
    g_error_free(error);
    return UNREADABLE;
  }
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root))
    return ABSENT;
  const char *text = template_of_member(json_object_get_member(json_node_get_object(root), "chat_template"));
  if (!text)
    return ABSENT;
  *template = g_strdup(text);
  return FOUND;
}

char *
vf_chat_template_check(const char *model_dir)
{
  static const struct {
    const char *file;
    gboolean raw;
  } sources[] = {
    {"chat_template.jinja", TRUE},
    {"chat_template.json", FALSE},
    {"tokenizer_config.json", FALSE},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(sources); i++) {
    g_autofree char *path = g_build_filename(model_dir, sources[i].file, NULL);
    g_autofree char *template = NULL;
    g_autofree char *problem = NULL;
    switch (read_template(path, sources[i].raw, &template, &problem)) {
    case ABSENT:
      continue;
    case UNREADABLE:
      return g_strdup_printf("cannot read the chat template in %s (%s); using the Qwen2-VL Instruct template",
                             path, problem);
    case FOUND:
      g_strstrip(template);
      if (strcmp(template, vf_chat_template_qwen2_vl) == 0)
        return NULL;
      return g_strdup_printf("the chat template in %s differs from the Qwen2-VL Instruct template; Viewfinder "
                             "always renders the Instruct template, so prompts may not be what this model "
                             "expects",
                             path);
    }
  }
  return g_strdup_printf("%s has no chat template (base model?); using the Qwen2-VL Instruct template",
                         model_dir);
}
