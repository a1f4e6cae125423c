/* The strict JSON messages reader and the writer (vf_chat_json.h): exact VfChat contents, exact errors, and
 * write → read giving the same conversation. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "vf_chat_json.h"

static VfChat *
read_strict(const char *json, const char *base_dir, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable();
  g_assert_true(json_parser_load_from_data(parser, json, -1, NULL));
  return vf_chat_json_read(json_parser_get_root(parser), base_dir, error);
}

static VfChatPart *
part_at(VfChat *chat, guint message, guint part)
{
  VfChatMessage *m = g_ptr_array_index(chat->messages, message);
  g_assert_cmpuint(part, <, m->parts->len);
  return g_ptr_array_index(m->parts, part);
}

/* Every part type of the reference and of the OpenAI/vLLM forms, with their options and the base folder. */
static void
test_read_parts(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VfChat) chat = read_strict(
    "[{\"role\": \"system\", \"content\": \"Be brief.\"},"
    " {\"role\": \"user\", \"content\": ["
    "  {\"type\": \"image\", \"image\": \"a.png\", \"min_pixels\": 3136, \"max_pixels\": 20000.0,"
    "   \"resized_height\": 100, \"resized_width\": 150},"
    "  {\"type\": \"image_url\", \"image_url\": {\"url\": \"data:image/png;base64,iVBO\", \"detail\": \"low\"}},"
    "  {\"type\": \"image_url\", \"image_url\": \"https://example.com/b.jpg\"},"
    "  {\"type\": \"image\", \"image\": \"/abs/c.png\"},"
    "  {\"type\": \"image\", \"image\": \"file:///abs/d.png\"},"
    "  {\"type\": \"video\", \"video\": [\"f0.png\", \"http://h/f1.png\"], \"max_pixels\": 16000},"
    "  {\"type\": \"video\", \"video\": \"clip.mp4\", \"fps\": 1.5, \"total_pixels\": 90000, \"min_frames\": 4,"
    "   \"max_frames\": 8, \"min_pixels\": 1000},"
    "  {\"type\": \"video_url\", \"video_url\": {\"url\": \"http://h/v.mp4\"}, \"nframes\": 6},"
    "  {\"type\": \"text\", \"text\": \"What is this?\"}]},"
    " {\"role\": \"assistant\", \"content\": [{\"type\": \"text\", \"text\": \"A cat.\"}]}]",
    "/base", &error);
  g_assert_no_error(error);
  g_assert_cmpuint(chat->messages->len, ==, 3);
  g_assert_cmpstr(((VfChatMessage *)g_ptr_array_index(chat->messages, 0))->role, ==, "system");
  g_assert_cmpstr(part_at(chat, 0, 0)->text, ==, "Be brief.");
  g_assert_cmpuint(((VfChatMessage *)g_ptr_array_index(chat->messages, 1))->parts->len, ==, 9);

  VfChatPart *p = part_at(chat, 1, 0);
  g_assert_cmpint(p->kind, ==, VF_CHAT_PART_IMAGE);
  g_assert_cmpstr(p->source, ==, "/base/a.png");
  g_assert_cmpuint(p->options.min_pixels, ==, 3136);
  g_assert_cmpuint(p->options.max_pixels, ==, 20000);
  g_assert_cmpuint(p->options.resized_height, ==, 100);
  g_assert_cmpuint(p->options.resized_width, ==, 150);
  p = part_at(chat, 1, 1);
  g_assert_cmpint(p->kind, ==, VF_CHAT_PART_IMAGE);
  g_assert_cmpstr(p->source, ==, "data:image/png;base64,iVBO");
  g_assert_cmpuint(p->options.max_pixels, ==, 0);
  g_assert_cmpstr(part_at(chat, 1, 2)->source, ==, "https://example.com/b.jpg");
  g_assert_cmpstr(part_at(chat, 1, 3)->source, ==, "/abs/c.png");
  g_assert_cmpstr(part_at(chat, 1, 4)->source, ==, "file:///abs/d.png");
  p = part_at(chat, 1, 5);
  g_assert_cmpint(p->kind, ==, VF_CHAT_PART_VIDEO);
  g_assert_null(p->source);
  g_assert_cmpuint(g_strv_length(p->frames), ==, 2);
  g_assert_cmpstr(p->frames[0], ==, "/base/f0.png");
  g_assert_cmpstr(p->frames[1], ==, "http://h/f1.png");
  g_assert_cmpuint(p->options.max_pixels, ==, 16000);
  p = part_at(chat, 1, 6);
  g_assert_cmpint(p->kind, ==, VF_CHAT_PART_VIDEO);
  g_assert_cmpstr(p->source, ==, "/base/clip.mp4");
  g_assert_null(p->frames);
  g_assert_cmpfloat(p->options.fps, ==, 1.5);
  g_assert_cmpuint(p->options.total_pixels, ==, 90000);
  g_assert_cmpuint(p->options.min_frames, ==, 4);
  g_assert_cmpuint(p->options.max_frames, ==, 8);
  g_assert_cmpuint(p->options.min_pixels, ==, 1000);
  p = part_at(chat, 1, 7);
  g_assert_cmpint(p->kind, ==, VF_CHAT_PART_VIDEO);
  g_assert_cmpstr(p->source, ==, "http://h/v.mp4");
  g_assert_cmpuint(p->options.nframes, ==, 6);
  p = part_at(chat, 1, 8);
  g_assert_cmpint(p->kind, ==, VF_CHAT_PART_TEXT);
  g_assert_cmpstr(p->text, ==, "What is this?");
  g_assert_cmpstr(part_at(chat, 2, 0)->text, ==, "A cat.");

  /* Without a base folder, relative paths stay as given. */
  g_autoptr(VfChat) kept = read_strict("[{\"role\": \"user\", \"content\": [{\"type\": \"image\", \"image\": \"a.png\"}]}]",
                                       NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(part_at(kept, 0, 0)->source, ==, "a.png");
}

/* Each wrong input gets VF_CHAT_ERROR_MALFORMED with exactly this message. */
static void
test_read_errors(void)
{
  static const struct {
    const char *json, *message;
  } bad[] = {
    {"{\"role\": \"user\"}", "messages: not a list"},
    {"[3]", "message 0: not an object"},
    {"[{\"content\": \"hi\"}]", "message 0: \"role\" is missing or not a string"},
    {"[{\"role\": \"tool\", \"content\": \"hi\"}]", "message 0: \"role\" is none of \"system\", \"user\", \"assistant\""},
    {"[{\"role\": \"user\"}]", "message 0: \"content\" is neither a string nor a list of parts"},
    {"[{\"role\": \"user\", \"content\": 3}]", "message 0: \"content\" is neither a string nor a list of parts"},
    {"[{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"user\", \"content\": [\"text\"]}]",
     "message 1, part 0: not an object"},
    {"[{\"role\": \"user\", \"content\": [{\"text\": \"hi\"}]}]", "message 0, part 0: \"type\" is missing or not a string"},
    {"[{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"a\"}, {\"type\": \"input_audio\"}]}]",
     "message 0, part 1: unknown part type \"input_audio\" (known: text, image, image_url, video, video_url)"},
    {"[{\"role\": \"user\", \"content\": [{\"type\": \"text\"}]}]", "message 0, part 0: \"text\" is missing or not a string"},
    {"[{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": 5}]}]",
     "message 0, part 0: \"text\" is missing or not a string"},
    {"[{\"role\": \"user\", \"content\": [{\"type\": \"image\"}]}]", "message 0, part 0: \"image\" is missing"},
    {"[{\"role\": \"user\", \"content\": [{\"type\": \"image\", \"image\": 7}]}]",
     "message 0, part 0: \"image\" is not a non-empty string"},
    {"[{\"role\": \"user\", \"content\": [{\"type\": \"image\", \"image\": \"\"}]}]",
     "message 0, part 0: \"image\" is not a non-empty string"},
    {"[{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {\"uri\": \"x\"}}]}]",
     "message 0, part 0, \"image_url\": \"url\" is missing"},
    {"[{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": [\"x\"]}]}]",
     "message 0, part 0: \"image_url\" is neither {\"url\": string} nor a string"},
    {"[{\"role\": \"user\", \"content\": [{\"type\": \"image\", \"image\": \"a.png\", \"max_pixels\": -4}]}]",
     "message 0, part 0: \"max_pixels\" is not a whole number in range"},
    {"[{\"role\": \"user\", \"content\": [{\"type\": \"image\", \"image\": \"a.png\", \"min_pixels\": \"big\"}]}]",
     "message 0, part 0: \"min_pixels\" is not a whole number in range"},
    {"[{\"role\": \"user\", \"content\": [{\"type\": \"video\", \"video\": []}]}]",
     "message 0, part 0: \"video\" is an empty list of frames"},
    {"[{\"role\": \"user\", \"content\": [{\"type\": \"video\", \"video\": [\"a.png\", 1]}]}]",
     "message 0, part 0, frame 1: \"video\" is not a non-empty string"},
    {"[{\"role\": \"user\", \"content\": [{\"type\": \"video\", \"video\": {\"url\": \"a\"}}]}]",
     "message 0, part 0: \"video\" is not a non-empty string"},
    {"[{\"role\": \"user\", \"content\": [{\"type\": \"video\", \"video\": \"a.mp4\", \"fps\": 0}]}]",
     "message 0, part 0: \"fps\" is not a positive number"},
    {"[{\"role\": \"user\", \"content\": [{\"type\": \"video\", \"video\": \"a.mp4\", \"fps\": 2, \"nframes\": 4}]}]",
     "message 0, part 0: \"nframes\" is given with \"fps\": give one of them"},
    {"[{\"role\": \"user\", \"content\": [{\"type\": \"video_url\"}]}]", "message 0, part 0: \"video_url\" is missing"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    VfChat *chat = read_strict(bad[i].json, NULL, &error);
    g_assert_null(chat);
    g_assert_error(error, VF_CHAT_ERROR, VF_CHAT_ERROR_MALFORMED);
    g_assert_cmpstr(error->message, ==, bad[i].message);
  }
}

/* The writer's exact text, and reading it back gives the same parts. */
static void
test_write_round_trip(void)
{
  g_autoptr(VfChat) chat = vf_chat_new();
  vf_chat_message_append_text(vf_chat_append_message(chat, "system"), "Be \"brief\".");
  VfChatMessage *user = vf_chat_append_message(chat, "user");
  VfChatPart *image = vf_chat_message_append_image(user, "/p/a b.png");
  image->options.max_pixels = 12000;
  image->options.resized_width = 56;
  const char *frames[] = {"/p/f0.png", "/p/f1.png", NULL};
  vf_chat_message_append_video_frames(user, frames)->options.fps = 0.5;
  vf_chat_message_append_video(user, "/p/v.mp4")->options.nframes = 4;
  vf_chat_message_append_text(user, "Line 1\nLine 2");
  vf_chat_message_append_text_len(vf_chat_append_message(chat, "assistant"), "a\0b", 3);

  gsize len = 0;
  g_autofree char *json = vf_chat_json_write(chat, &len);
  g_assert_cmpstr(json, ==,
                  "[{\"role\":\"system\",\"content\":\"Be \\\"brief\\\".\"},"
                  "{\"role\":\"user\",\"content\":["
                  "{\"type\":\"image\",\"image\":\"/p/a b.png\",\"max_pixels\":12000,\"resized_width\":56},"
                  "{\"type\":\"video\",\"video\":[\"/p/f0.png\",\"/p/f1.png\"],\"fps\":0.5},"
                  "{\"type\":\"video\",\"video\":\"/p/v.mp4\",\"nframes\":4},"
                  "{\"type\":\"text\",\"text\":\"Line 1\\nLine 2\"}]},"
                  "{\"role\":\"assistant\",\"content\":\"a\\u0000b\"}]");
  g_assert_cmpuint(len, ==, strlen(json));

  g_autoptr(GError) error = NULL;
  g_autoptr(VfChat) back = read_strict(json, "/elsewhere", &error);
  g_assert_no_error(error);
  g_assert_cmpuint(back->messages->len, ==, 3);
  g_assert_cmpstr(part_at(back, 0, 0)->text, ==, "Be \"brief\".");
  VfChatPart *p = part_at(back, 1, 0);
  g_assert_cmpstr(p->source, ==, "/p/a b.png");
  g_assert_cmpuint(p->options.max_pixels, ==, 12000);
  g_assert_cmpuint(p->options.resized_width, ==, 56);
  p = part_at(back, 1, 1);
  g_assert_cmpstr(p->frames[1], ==, "/p/f1.png");
  g_assert_cmpfloat(p->options.fps, ==, 0.5);
  g_assert_cmpuint(part_at(back, 1, 2)->options.nframes, ==, 4);
  g_assert_cmpstr(part_at(back, 1, 3)->text, ==, "Line 1\nLine 2");
  /* json-glib ends strings at NUL (vf_chat_json.h). */
  g_assert_cmpstr(part_at(back, 2, 0)->text, ==, "a");
}

/* A file: the array or an object with "messages"; relative paths from the file's folder; errors name it. */
static void
test_read_file(void)
{
  g_autofree char *dir = g_dir_make_tmp("vf-chat-json-XXXXXX", NULL);
  g_autofree char *array = g_build_filename(dir, "array.json", NULL);
  g_autofree char *object = g_build_filename(dir, "object.json", NULL);
  g_autofree char *broken = g_build_filename(dir, "broken.json", NULL);
  const char *messages = "[{\"role\": \"user\", \"content\": [{\"type\": \"image\", \"image\": \"pic.png\"}]}]";
  g_autofree char *wrapped = g_strdup_printf("{\"model\": \"x\", \"messages\": %s}", messages);
  g_assert_true(g_file_set_contents(array, messages, -1, NULL));
  g_assert_true(g_file_set_contents(object, wrapped, -1, NULL));
  g_assert_true(g_file_set_contents(broken, "[{\"role\": ", -1, NULL));
  g_autofree char *want = g_build_filename(dir, "pic.png", NULL);
  const char *files[] = {array, object};
  for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(VfChat) chat = vf_chat_json_read_file(files[i], &error);
    g_assert_no_error(error);
    g_assert_cmpstr(part_at(chat, 0, 0)->source, ==, want);
  }
  g_autoptr(GError) error = NULL;
  g_assert_null(vf_chat_json_read_file(broken, &error));
  g_assert_error(error, VF_CHAT_ERROR, VF_CHAT_ERROR_MALFORMED);
  g_assert_true(g_str_has_prefix(error->message, broken));
  g_assert_cmpint(g_unlink(array), ==, 0);
  g_assert_cmpint(g_unlink(object), ==, 0);
  g_assert_cmpint(g_unlink(broken), ==, 0);
  g_assert_cmpint(g_rmdir(dir), ==, 0);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/chat-json/read-parts", test_read_parts);
  g_test_add_func("/chat-json/read-errors", test_read_errors);
  g_test_add_func("/chat-json/write-round-trip", test_write_round_trip);
  g_test_add_func("/chat-json/read-file", test_read_file);
  return g_test_run();
}
