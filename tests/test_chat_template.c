/* Chat template against the golden renders (transformers' Qwen2VLProcessor.apply_chat_template with the
 * official template): all 36 renders exact and their token ids exact; the JSON message reader; the
 * template check of a model folder. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "vf_chat_json.h"
#include "vf_chat_template.h"
#include "vf_tokenizer.h"
#include "vf_test_data.h"

static VfTokenizer *
load_tokenizer(void)
{
  g_autofree char *tok_dir = vf_test_data_path("tokenizer");
  g_autoptr(GError) error = NULL;
  VfTokenizer *tok = vf_tokenizer_load(tok_dir, &error);
  g_assert_no_error(error);
  return tok;
}

static void
test_golden_renders(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VfTokenizer) tok = load_tokenizer();

  g_autofree char *file = vf_test_data_path("golden/cases/chat_template/chat_template_cases.json");
  g_autoptr(JsonParser) parser = json_parser_new();
  json_parser_load_from_file(parser, file, &error);
  g_assert_no_error(error);
  JsonArray *cases = json_object_get_array_member(json_node_get_object(json_parser_get_root(parser)), "cases");
  g_assert_cmpuint(json_array_get_length(cases), ==, 36);

  for (guint c = 0; c < json_array_get_length(cases); c++) {
    JsonObject *cs = json_array_get_object_element(cases, c);
    const char *name = json_object_get_string_member(cs, "name");
    g_autoptr(VfChat) chat = vf_chat_from_json(json_object_get_member(cs, "messages"), &error);
    g_assert_no_error(error);
    VfChatTemplateFlags flags = 0;
    if (json_object_get_boolean_member(cs, "add_generation_prompt"))
      flags |= VF_CHAT_TEMPLATE_GENERATION_PROMPT;
    if (json_object_get_boolean_member(cs, "add_vision_id"))
      flags |= VF_CHAT_TEMPLATE_VISION_ID;

    g_autofree char *rendered = vf_chat_template_render(chat, flags, NULL);
    const char *want = json_object_get_string_member(cs, "rendered");
    if (strcmp(rendered, want) != 0)
      g_error("%s (flags %d): rendered\n%s\nwant\n%s", name, flags, rendered, want);

    size_t n;
    g_autofree int32_t *ids = vf_tokenizer_encode(tok, rendered, &n);
    JsonArray *want_ids = json_object_get_array_member(cs, "ids_unexpanded");
    g_assert_cmpuint(n, ==, json_array_get_length(want_ids));
    for (size_t i = 0; i < n; i++)
      if (ids[i] != json_array_get_int_element(want_ids, (guint)i))
        g_error("%s (flags %d): id %zu is %d, want %" G_GINT64_FORMAT, name, flags, i, ids[i],
                json_array_get_int_element(want_ids, (guint)i));
  }
}

/* An earlier answer holding a NUL byte (token 188) renders with it and tokenizes back to 188, so the next
 * turn's prompt repeats the cached tokens and the KV prefix match holds (issue 18). */
static void
test_nul_in_answer(void)
{
  g_autoptr(VfTokenizer) tok = load_tokenizer();
  int32_t answer[] = {9707, 188, 24638}; /* "Hello\0reck" */
  size_t len;
  g_autofree char *text = vf_tokenizer_decode(tok, answer, G_N_ELEMENTS(answer), TRUE, &len);
  g_autoptr(VfChat) chat = vf_chat_new();
  vf_chat_message_append_text(vf_chat_append_message(chat, "user"), "Hi");
  vf_chat_message_append_text_len(vf_chat_append_message(chat, "assistant"), text, len);
  size_t rendered_len;
  g_autofree char *rendered = vf_chat_template_render(chat, 0, &rendered_len);
  static const char want[] = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi"
                             "<|im_end|>\n<|im_start|>assistant\nHello\0reck<|im_end|>\n";
  g_assert_cmpmem(rendered, rendered_len, want, sizeof want - 1);
  size_t n;
  g_autofree int32_t *ids = vf_tokenizer_encode_len(tok, rendered, rendered_len, &n);
  /* ... "assistant", "\n", then the answer's three ids, <|im_end|>, "\n". */
  g_assert_cmpuint(n, >=, 5);
  g_assert_cmpmem(ids + n - 5, 3 * sizeof *ids, answer, sizeof answer);
}

/* The spec §6.1 example (README conversation, add_vision_id), built with the C API. */
static void
test_readme_example(void)
{
  g_autoptr(VfChat) chat = vf_chat_new();
  VfChatMessage *m = vf_chat_append_message(chat, "user");
  vf_chat_message_append_image(m, "file:///path/to/image1.jpg");
  vf_chat_message_append_text(m, "Hello, how are you?");
  m = vf_chat_append_message(chat, "assistant");
  vf_chat_message_append_text(m, "I'm doing well, thank you for asking. How can I assist you today?");
  m = vf_chat_append_message(chat, "user");
  vf_chat_message_append_text(m, "Can you describe these images and video?");
  vf_chat_message_append_image(m, "file:///path/to/image2.jpg");
  vf_chat_message_append_image(m, "file:///path/to/image3.jpg");
  vf_chat_message_append_video(m, "file:///path/to/video1.mp4");
  vf_chat_message_append_text(m, "These are from my vacation.");
  m = vf_chat_append_message(chat, "assistant");
  vf_chat_message_append_text(m, "I'd be happy to describe the images and video for you. Could you please provide "
                                 "more context about your vacation?");
  m = vf_chat_append_message(chat, "user");
  vf_chat_message_append_text(m, "It was a trip to the mountains. Can you see the details in the images and video?");

  g_autofree char *text =
    vf_chat_template_render(chat, VF_CHAT_TEMPLATE_GENERATION_PROMPT | VF_CHAT_TEMPLATE_VISION_ID, NULL);
  g_assert_cmpstr(
    text, ==,
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\nPicture 1: <|vision_start|><|image_pad|><|vision_end|>Hello, how are you?<|im_end|>\n"
    "<|im_start|>assistant\nI'm doing well, thank you for asking. How can I assist you today?<|im_end|>\n"
    "<|im_start|>user\nCan you describe these images and video?Picture 2: "
    "<|vision_start|><|image_pad|><|vision_end|>Picture 3: <|vision_start|><|image_pad|><|vision_end|>Video 1: "
    "<|vision_start|><|video_pad|><|vision_end|>These are from my vacation.<|im_end|>\n"
    "<|im_start|>assistant\nI'd be happy to describe the images and video for you. Could you please provide more "
    "context about your vacation?<|im_end|>\n"
    "<|im_start|>user\nIt was a trip to the mountains. Can you see the details in the images and video?<|im_end|>\n"
    "<|im_start|>assistant\n");
  uint32_t images, videos;
  vf_chat_count_media(chat, &images, &videos);
  g_assert_cmpuint(images, ==, 3);
  g_assert_cmpuint(videos, ==, 1);
}

static void
test_reader_fields(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VfChat) chat = vf_chat_from_json_data(
    "[{\"role\": \"user\", \"content\": ["
    "  {\"type\": \"image\", \"image\": \"a.png\", \"min_pixels\": 3136, \"max_pixels\": 20000.0},"
    "  {\"image_url\": {\"url\": \"http://x/y.png\"}, \"resized_height\": 100, \"resized_width\": 150},"
    "  {\"type\": \"video\", \"video\": [\"f1.png\", \"f2.png\"]},"
    "  {\"video\": \"clip.mp4\", \"fps\": 2.5, \"max_pixels\": 19000},"
    "  {\"type\": \"audio\", \"audio\": \"x.wav\"},"
    "  {\"type\": \"text\", \"text\": \"Hi\"}]},"
    " {\"role\": \"assistant\", \"content\": \"Hello.\"}]",
    &error);
  g_assert_no_error(error);
  g_assert_cmpuint(chat->messages->len, ==, 2);
  VfChatMessage *m = g_ptr_array_index(chat->messages, 0);
  g_assert_cmpstr(m->role, ==, "user");
  g_assert_cmpuint(m->parts->len, ==, 5); /* the audio item renders nothing and is dropped */

  VfChatPart *p = g_ptr_array_index(m->parts, 0);
  g_assert_cmpint(p->kind, ==, VF_CHAT_PART_IMAGE);
  g_assert_cmpstr(p->source, ==, "a.png");
  g_assert_cmpuint(p->options.min_pixels, ==, 3136);
  g_assert_cmpuint(p->options.max_pixels, ==, 20000);
  p = g_ptr_array_index(m->parts, 1);
  g_assert_cmpint(p->kind, ==, VF_CHAT_PART_IMAGE);
  g_assert_cmpstr(p->source, ==, "http://x/y.png");
  g_assert_cmpuint(p->options.resized_height, ==, 100);
  g_assert_cmpuint(p->options.resized_width, ==, 150);
  p = g_ptr_array_index(m->parts, 2);
  g_assert_cmpint(p->kind, ==, VF_CHAT_PART_VIDEO);
  g_assert_null(p->source);
  g_assert_cmpuint(g_strv_length(p->frames), ==, 2);
  g_assert_cmpstr(p->frames[1], ==, "f2.png");
  p = g_ptr_array_index(m->parts, 3);
  g_assert_cmpint(p->kind, ==, VF_CHAT_PART_VIDEO);
  g_assert_cmpstr(p->source, ==, "clip.mp4");
  g_assert_cmpfloat(p->options.fps, ==, 2.5);
  g_assert_cmpuint(p->options.max_pixels, ==, 19000);
  p = g_ptr_array_index(m->parts, 4);
  g_assert_cmpint(p->kind, ==, VF_CHAT_PART_TEXT);
  g_assert_cmpstr(p->text, ==, "Hi");

  m = g_ptr_array_index(chat->messages, 1);
  g_assert_cmpuint(m->parts->len, ==, 1);
  p = g_ptr_array_index(m->parts, 0);
  g_assert_cmpint(p->kind, ==, VF_CHAT_PART_TEXT);
  g_assert_cmpstr(p->text, ==, "Hello.");
}

static void
test_reader_errors(void)
{
  static const struct {
    const char *json, *part1, *part2;
  } bad[] = {
    {"{\"role\": \"user\"}", "messages", "not a list"},
    {"[{\"content\": \"hi\"}]", "message 0", "role"},
    {"[{\"role\": \"user\", \"content\": 3}]", "message 0", "content"},
    {"[{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"user\", \"content\": [\"text\"]}]", "message 1, item 0",
     "not an object"},
    {"[{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": 5}]}]", "message 0, item 0", "text"},
    {"[{\"role\": \"user\", \"content\": [{\"type\": \"video\", \"video\": [\"a\", 1]}]}]", "item 0", "video"},
    {"[{\"role\": \"user\", \"content\": [{\"image\": \"a.png\", \"max_pixels\": -4}]}]", "item 0", "max_pixels"},
    {"[{\"role\": \"user\", \"content\": [{\"image\": \"a.png\", \"min_pixels\": 12.5}]}]", "item 0", "min_pixels"},
    {"[{\"role\": \"user\", \"content\": [{\"video\": \"a.mp4\", \"fps\": 0}]}]", "item 0", "fps"},
    {"[{\"role\": \"user\", \"content\": [{\"image\": 7}]}]", "item 0", "image"},
    {"[{\"role\": ", "messages", NULL},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    VfChat *chat = vf_chat_from_json_data(bad[i].json, &error);
    g_assert_null(chat);
    g_assert_error(error, VF_CHAT_ERROR, VF_CHAT_ERROR_MALFORMED);
    if (!strstr(error->message, bad[i].part1) || (bad[i].part2 && !strstr(error->message, bad[i].part2)))
      g_error("%s: message \"%s\" should name \"%s\" and \"%s\"", bad[i].json, error->message, bad[i].part1,
              bad[i].part2 ? bad[i].part2 : "");
  }
}

static void
write_file(const char *dir, const char *name, const char *contents)
{
  g_autofree char *path = g_build_filename(dir, name, NULL);
  g_autoptr(GError) error = NULL;
  g_file_set_contents(path, contents, -1, &error);
  g_assert_no_error(error);
}

static char *
json_with_template(const char *member, const char *template)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, member);
  json_builder_add_string_value(b, template);
  json_builder_end_object(b);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  json_generator_set_root(gen, root);
  return json_generator_to_data(gen, NULL);
}

static void
test_template_check(void)
{
  /* The shipped Qwen2-VL files carry exactly the known template. */
  g_autofree char *tok_dir = vf_test_data_path("tokenizer");
  g_autofree char *same = vf_chat_template_check(tok_dir);
  g_assert_null(same);

  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp("vf-template-XXXXXX", &error);
  g_assert_no_error(error);

  g_autofree char *missing = vf_chat_template_check(dir);
  g_assert_nonnull(missing);
  g_assert_nonnull(strstr(missing, "no chat template"));

  g_autofree char *config_same = json_with_template("chat_template", vf_chat_template_qwen2_vl);
  write_file(dir, "tokenizer_config.json", config_same);
  g_autofree char *from_config = vf_chat_template_check(dir);
  g_assert_null(from_config);

  g_autofree char *other = g_strdup_printf("%s{# changed #}", vf_chat_template_qwen2_vl);
  g_autofree char *config_other = json_with_template("chat_template", other);
  write_file(dir, "tokenizer_config.json", config_other);
  g_autofree char *differs = vf_chat_template_check(dir);
  g_assert_nonnull(differs);
  g_assert_nonnull(strstr(differs, "differs"));
  g_assert_nonnull(strstr(differs, "tokenizer_config.json"));

  /* chat_template.json comes before tokenizer_config.json, as in the processor. */
  g_autofree char *template_same = json_with_template("chat_template", vf_chat_template_qwen2_vl);
  write_file(dir, "chat_template.json", template_same);
  g_autofree char *preferred = vf_chat_template_check(dir);
  g_assert_null(preferred);

  write_file(dir, "chat_template.json", "{\"chat_template\": ");
  g_autofree char *unreadable = vf_chat_template_check(dir);
  g_assert_nonnull(unreadable);
  g_assert_nonnull(strstr(unreadable, "cannot read"));
  g_assert_nonnull(strstr(unreadable, "chat_template.json"));

  const char *files[] = {"chat_template.json", "tokenizer_config.json"};
  for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
    g_autofree char *path = g_build_filename(dir, files[i], NULL);
    g_unlink(path);
  }
  g_rmdir(dir);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/chat-template/golden-renders", test_golden_renders);
  g_test_add_func("/chat-template/readme-example", test_readme_example);
  g_test_add_func("/chat-template/nul-in-answer", test_nul_in_answer);
  g_test_add_func("/chat-template/reader-fields", test_reader_fields);
  g_test_add_func("/chat-template/reader-errors", test_reader_errors);
  g_test_add_func("/chat-template/template-check", test_template_check);
  return g_test_run();
}
