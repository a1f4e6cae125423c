/* A grounded answer end to end, as chat --json handles it (the model's tokens cannot be made to ground: the
 * tiny models never emit boxes, so the answer is injected as text): the tokenizer turns it into the marker
 * tokens, the grounded stream decodes them back one token at a time (the plain one drops them), and
 * VfGroundedAnswer, fed those pieces over a conversation with two real pictures of odd sizes, gives the display
 * text and each box's picture and pixel rectangle, checked against hand-computed values, as the JSON records
 * the CLI prints. */
#include <json-glib/json-glib.h>
#include <string.h>

#include "vf_grounded_answer.h"
#include "vf_media_item.h"
#include "vf_test_data.h"
#include "vf_tokenizer.h"

/* The camera box comes before any picture is named: the conversation's last picture (2). The cat box follows
 * "Picture 1"; so does the quad. */
#define ANSWER                                                                                                  \
  "<|object_ref_start|>a camera<|object_ref_end|><|box_start|>(100,200),(601,999)<|box_end|> is in the last "  \
  "one; Picture 1 has <|object_ref_start|>the cat<|object_ref_end|><|box_start|>(112,340),(508,901)"           \
  "<|box_end|> and <|quad_start|>(10,20),(300,22),(298,90),(9,88)<|quad_end|>."
#define DISPLAY "a camera is in the last one; Picture 1 has the cat and ."

typedef struct {
  GString *text;
  GPtrArray *records; /* JSON strings */
} Collected;

static void
collect_text(const char *text, size_t len, void *user)
{
  g_string_append_len(((Collected *)user)->text, text, (gssize)len);
}

static void
collect_box(const VfGroundedBox *box, void *user)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  vf_grounded_box_to_json(box, b);
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  g_ptr_array_add(((Collected *)user)->records, json_to_string(root, FALSE));
}

static JsonObject *
record(Collected *c, guint i, JsonParser *p)
{
  g_assert_true(json_parser_load_from_data(p, c->records->pdata[i], -1, NULL));
  return json_node_get_object(json_parser_get_root(p));
}

static void
assert_corner(JsonObject *o, guint k, double x, double y)
{
  char name[3] = {'x', (char)('1' + k), 0};
  g_assert_cmpfloat_with_epsilon(json_object_get_double_member(o, name), x, 1e-9);
  name[0] = 'y';
  g_assert_cmpfloat_with_epsilon(json_object_get_double_member(o, name), y, 1e-9);
}

static void
test_injected_answer(void)
{
  g_autofree char *tok_dir = vf_test_data_path("tokenizer");
  g_autoptr(GError) error = NULL;
  g_autoptr(VfTokenizer) tok = vf_tokenizer_load(tok_dir, &error);
  g_assert_no_error(error);
  size_t n = 0;
  g_autofree int32_t *ids = vf_tokenizer_encode(tok, ANSWER, &n);
  /* The markers are single special tokens (151646 object_ref_start … 151651 quad_end). */
  guint markers = 0;
  for (size_t i = 0; i < n; i++)
    markers += ids[i] >= 151646 && ids[i] <= 151651;
  g_assert_cmpuint(markers, ==, 10);

  /* Hugging Face's skip_special_tokens decode drops the markers and keeps the bare coordinates. */
  size_t len = 0;
  g_autofree char *plain = vf_tokenizer_decode(tok, ids, n, TRUE, &len);
  g_assert_cmpstr(plain, ==,
                  "a camera(100,200),(601,999) is in the last one; Picture 1 has the cat(112,340),(508,901) and "
                  "(10,20),(300,22),(298,90),(9,88).");
  g_autofree char *grounded = vf_tokenizer_decode_grounded(tok, ids, n, &len);
  g_assert_cmpstr(grounded, ==, ANSWER);

  /* Chelsea 451×300 is Picture 1, the grey camera 133×97 Picture 2. */
  g_autofree char *chelsea = vf_test_data_path("golden/cases/a02_image_photo/chelsea.png");
  g_autofree char *camera = vf_test_data_path("golden/cases/a04_two_images_vision_id/camera_gray_133x97.png");
  g_autoptr(VfChat) chat = vf_chat_new();
  VfChatMessage *user = vf_chat_append_message(chat, "user");
  const char *sources[] = {chelsea, camera};
  for (guint i = 0; i < 2; i++) {
    g_autoptr(VfMediaItem) item = vf_media_item_new_image(sources[i], &error);
    g_assert_no_error(error);
    vf_media_item_append_to(item, user, NULL);
  }
  vf_chat_message_append_text(user, "Where are the cat and the camera?");

  g_autoptr(VfGroundedAnswer) answer = vf_grounded_answer_new(chat);
  g_autoptr(VfTokenStream) stream = vf_token_stream_new_grounded(tok);
  Collected c = {g_string_new(NULL), g_ptr_array_new_with_free_func(g_free)};
  for (size_t i = 0; i < n; i++) {
    g_autofree char *piece = vf_token_stream_feed(stream, ids[i], &len);
    vf_grounded_answer_feed(answer, piece, len);
    vf_grounded_answer_take(answer, collect_text, collect_box, &c);
  }
  g_autofree char *rest = vf_token_stream_flush(stream, &len);
  vf_grounded_answer_feed(answer, rest, len);
  vf_grounded_answer_finish(answer);
  vf_grounded_answer_take(answer, collect_text, collect_box, &c);

  g_assert_cmpstr(c.text->str, ==, DISPLAY);
  g_assert_cmpuint(c.records->len, ==, 3);
  g_autoptr(JsonParser) p0 = json_parser_new(), p1 = json_parser_new(), p2 = json_parser_new();
  /* 133 × 97: x · 133 / 1000, y · 97 / 1000. */
  JsonObject *cam = record(&c, 0, p0);
  g_assert_cmpstr(json_object_get_string_member(cam, "type"), ==, "box");
  g_assert_cmpstr(json_object_get_string_member(cam, "label"), ==, "a camera");
  g_assert_cmpint(json_object_get_int_member(cam, "picture"), ==, 2);
  assert_corner(cam, 0, 13.3, 19.4);
  assert_corner(cam, 1, 79.933, 96.903);
  g_assert_false(json_object_has_member(cam, "x3"));
  /* 451 × 300. */
  JsonObject *cat = record(&c, 1, p1);
  g_assert_cmpstr(json_object_get_string_member(cat, "label"), ==, "the cat");
  g_assert_cmpint(json_object_get_int_member(cat, "picture"), ==, 1);
  assert_corner(cat, 0, 50.512, 102.0);
  assert_corner(cat, 1, 229.108, 270.3);
  JsonObject *quad = record(&c, 2, p2);
  g_assert_cmpstr(json_object_get_string_member(quad, "type"), ==, "quad");
  g_assert_true(json_object_get_null_member(quad, "label"));
  g_assert_cmpint(json_object_get_int_member(quad, "picture"), ==, 1);
  assert_corner(quad, 0, 4.51, 6.0);
  assert_corner(quad, 1, 135.3, 6.6);
  assert_corner(quad, 2, 134.398, 27.0);
  assert_corner(quad, 3, 4.059, 26.4);

  /* The phrase of each box is where the display text has it. */
  VfGroundedBox box;
  vf_grounded_answer_box(answer, 1, &box);
  g_assert_cmpuint(box.width, ==, 451);
  g_assert_cmpuint(box.height, ==, 300);
  g_assert_cmpint(strncmp(DISPLAY + box.text_start, "the cat", box.text_end - box.text_start), ==, 0);
  g_assert_cmpuint(box.text_end - box.text_start, ==, strlen("the cat"));
  g_string_free(c.text, TRUE);
  g_ptr_array_unref(c.records);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/grounded-answer/injected-answer", test_injected_answer);
  return g_test_run();
}
