/* The grounding parser (vf_grounding.h): one box, several boxes, a quad, a label without a box, a box without
 * a label, malformed coordinates (kept as text), every split of an answer into streamed pieces, the picture a
 * box belongs to, and the conversion to an odd-sized picture's pixels against hand-computed values. */
#include <string.h>

#include "vf_grounding.h"

/* Parses `answer` fed in pieces of `piece` bytes (0: whole). */
static VfGroundingParser *
parse(const char *answer, gsize piece, guint n_pictures)
{
  VfGroundingParser *p = vf_grounding_parser_new(n_pictures);
  gsize n = strlen(answer);
  if (piece == 0)
    piece = n ? n : 1;
  for (gsize i = 0; i < n; i += piece)
    vf_grounding_parser_feed(p, answer + i, (gssize)MIN(piece, n - i));
  vf_grounding_parser_finish(p);
  return p;
}

static const VfGroundingObject *
object(VfGroundingParser *p, guint i)
{
  GArray *objects = vf_grounding_parser_objects(p);
  g_assert_cmpuint(i, <, objects->len);
  return &g_array_index(objects, VfGroundingObject, i);
}

static void
assert_box(const VfGroundingObject *o, const char *label, double x1, double y1, double x2, double y2)
{
  g_assert_cmpint(o->kind, ==, VF_GROUNDING_BOX);
  g_assert_cmpstr(o->label, ==, label);
  g_assert_cmpfloat(o->x[0], ==, x1);
  g_assert_cmpfloat(o->y[0], ==, y1);
  g_assert_cmpfloat(o->x[1], ==, x2);
  g_assert_cmpfloat(o->y[1], ==, y2);
}

static void
test_one_box(void)
{
  g_autoptr(VfGroundingParser) p =
    parse("The <|object_ref_start|>cat<|object_ref_end|><|box_start|>(112,340),(508,901)<|box_end|> sleeps.", 0, 1);
  g_assert_cmpstr(vf_grounding_parser_text(p, NULL), ==, "The cat sleeps.");
  g_assert_cmpuint(vf_grounding_parser_objects(p)->len, ==, 1);
  const VfGroundingObject *o = object(p, 0);
  assert_box(o, "cat", 112, 340, 508, 901);
  g_assert_cmpuint(o->text_start, ==, 4);
  g_assert_cmpuint(o->text_end, ==, 7);
  g_assert_cmpuint(o->picture, ==, 1);
}

static void
test_several_boxes(void)
{
  g_autoptr(VfGroundingParser) p = parse(
    "<|object_ref_start|>two dogs<|object_ref_end|><|box_start|>(1,2),(3,4)<|box_end|> <|box_start|>(5, 6), (7, 8)"
    "<|box_end|> and <|object_ref_start|>a ball<|object_ref_end|> <|box_start|>(900,900),(999,999)<|box_end|>.",
    0, 1);
  g_assert_cmpstr(vf_grounding_parser_text(p, NULL), ==, "two dogs  and a ball .");
  g_assert_cmpuint(vf_grounding_parser_objects(p)->len, ==, 3);
  assert_box(object(p, 0), "two dogs", 1, 2, 3, 4);
  assert_box(object(p, 1), "two dogs", 5, 6, 7, 8); /* a second box of the same phrase */
  assert_box(object(p, 2), "a ball", 900, 900, 999, 999);
  g_assert_cmpuint(object(p, 2)->text_start, ==, strlen("two dogs  and "));
}

static void
test_quad(void)
{
  g_autoptr(VfGroundingParser) p = parse(
    "<|object_ref_start|>TOTAL 12.50<|object_ref_end|><|quad_start|>(10,20),(300,22),(298,90),(9,88)<|quad_end|>",
    0, 1);
  g_assert_cmpstr(vf_grounding_parser_text(p, NULL), ==, "TOTAL 12.50");
  const VfGroundingObject *o = object(p, 0);
  g_assert_cmpint(o->kind, ==, VF_GROUNDING_QUAD);
  g_assert_cmpstr(o->label, ==, "TOTAL 12.50");
  const double x[] = {10, 300, 298, 9}, y[] = {20, 22, 90, 88};
  for (int i = 0; i < 4; i++) {
    g_assert_cmpfloat(o->x[i], ==, x[i]);
    g_assert_cmpfloat(o->y[i], ==, y[i]);
  }
}

static void
test_label_without_box_and_box_without_label(void)
{
  g_autoptr(VfGroundingParser) p =
    parse("A <|object_ref_start|>lamp<|object_ref_end|> stands left; <|box_start|>(0,0),(1000,1000)<|box_end|>", 0, 2);
  g_assert_cmpstr(vf_grounding_parser_text(p, NULL), ==, "A lamp stands left; ");
  g_assert_cmpuint(vf_grounding_parser_objects(p)->len, ==, 1); /* the phrase alone makes no object */
  const VfGroundingObject *o = object(p, 0);
  assert_box(o, NULL, 0, 0, 1000, 1000);
  g_assert_cmpuint(o->text_start, ==, strlen("A lamp stands left; "));
  g_assert_cmpuint(o->text_end, ==, o->text_start);
  g_assert_cmpuint(o->picture, ==, 2); /* no picture named: the turn's last */
}

static void
test_malformed_kept_as_text(void)
{
  static const struct {
    const char *answer, *text;
  } cases[] = {
    {"x <|box_start|>(12,abc),(3,4)<|box_end|> y", "x (12,abc),(3,4) y"},
    {"<|box_start|>(1,2)<|box_end|>", "(1,2)"},                             /* one point */
    {"<|box_start|>(1,2),(3,4),(5,6)<|box_end|>", "(1,2),(3,4),(5,6)"},     /* three */
    {"<|box_start|>(1,2),(3,4000)<|box_end|>", "(1,2),(3,4000)"},           /* out of range */
    {"<|quad_start|>(1,2),(3,4)<|quad_end|>", "(1,2),(3,4)"},               /* a quad needs four */
    {"<|box_start|>(1,2),(3,4)", "(1,2),(3,4)"},                            /* never closed */
    {"<|box_start|>(1,2),<|object_ref_start|>z<|object_ref_end|>", "(1,2),z"}, /* interrupted */
    {"a <| b |> c <|unknown|> <|box_end|>", "a <| b |> c <|unknown|> "},   /* not ours: kept; stray end dropped */
    {"5 < 6 and <|", "5 < 6 and <|"},
    {"", ""},
  };
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++)
    for (gsize piece = 0; piece <= 3; piece++) {
      g_autoptr(VfGroundingParser) p = parse(cases[i].answer, piece, 1);
      g_assert_cmpstr(vf_grounding_parser_text(p, NULL), ==, cases[i].text);
      g_assert_cmpuint(vf_grounding_parser_objects(p)->len, ==, 0);
    }
}

/* Every way of cutting one answer into two pieces, and pieces of every size, give the same result. */
static void
test_split_pieces(void)
{
  const char *answer = "In Picture 2 the <|object_ref_start|>red car<|object_ref_end|><|box_start|>(100,200),"
                       "(300,400)<|box_end|> waits; in Picture 1 a <|object_ref_start|>sign<|object_ref_end|>"
                       "<|quad_start|>(1,1),(9,1),(9,9),(1,9)<|quad_end|>.";
  const char *text = "In Picture 2 the red car waits; in Picture 1 a sign.";
  gsize n = strlen(answer);
  for (gsize piece = 1; piece <= n; piece++) {
    g_autoptr(VfGroundingParser) p = parse(answer, piece, 2);
    g_assert_cmpstr(vf_grounding_parser_text(p, NULL), ==, text);
    g_assert_cmpuint(vf_grounding_parser_objects(p)->len, ==, 2);
    assert_box(object(p, 0), "red car", 100, 200, 300, 400);
    g_assert_cmpuint(object(p, 0)->picture, ==, 2);
    g_assert_cmpint(object(p, 1)->kind, ==, VF_GROUNDING_QUAD);
    g_assert_cmpuint(object(p, 1)->picture, ==, 1);
  }
  for (gsize cut = 0; cut <= n; cut++) {
    g_autoptr(VfGroundingParser) p = vf_grounding_parser_new(2);
    vf_grounding_parser_feed(p, answer, (gssize)cut);
    vf_grounding_parser_feed(p, answer + cut, (gssize)(n - cut));
    vf_grounding_parser_finish(p);
    g_assert_cmpstr(vf_grounding_parser_text(p, NULL), ==, text);
    g_assert_cmpuint(vf_grounding_parser_objects(p)->len, ==, 2);
  }
  /* A "<|" whose "|>" comes 30 bytes later is one (unknown) token, kept as text, however the pieces fall
   * (fuzz-grounding found streamed pieces giving up on it two bytes early and dropping the quad marker). */
  const char *odd = "The <|objef_startPictur<|quad_start|>ct_ref_end|>!";
  for (gsize piece = 1; piece <= strlen(odd); piece++) {
    g_autoptr(VfGroundingParser) q = parse(odd, piece, 0);
    g_assert_cmpstr(vf_grounding_parser_text(q, NULL), ==, odd);
  }
  /* A text piece that may still become a token is held back until the next piece decides. */
  g_autoptr(VfGroundingParser) p = vf_grounding_parser_new(1);
  vf_grounding_parser_feed(p, "A <|box_", -1);
  g_assert_cmpstr(vf_grounding_parser_text(p, NULL), ==, "A ");
  vf_grounding_parser_feed(p, "start|>(1,", -1);
  g_assert_cmpstr(vf_grounding_parser_text(p, NULL), ==, "A ");
  vf_grounding_parser_feed(p, "2),(3,4)<|box_end|> done", -1);
  g_assert_cmpstr(vf_grounding_parser_text(p, NULL), ==, "A  done");
  g_assert_cmpuint(vf_grounding_parser_objects(p)->len, ==, 1);
}

/* Picture N outside the turn's pictures is not a picture of the turn: the last one is used. */
static void
test_picture_numbers(void)
{
  g_autoptr(VfGroundingParser) p = parse("Picture 7 has <|box_start|>(1,2),(3,4)<|box_end|>", 0, 3);
  g_assert_cmpuint(object(p, 0)->picture, ==, 3);
  g_autoptr(VfGroundingParser) none = parse("<|box_start|>(1,2),(3,4)<|box_end|>", 0, 0);
  g_assert_cmpuint(object(none, 0)->picture, ==, 0);
}

/* (250, 500)-(750, 1000) on a 997 × 41 picture: x × 997 / 1000, y × 41 / 1000, by hand. */
static void
test_to_pixels(void)
{
  g_autoptr(VfGroundingParser) p = parse("<|box_start|>(250,500),(750,1000)<|box_end|>", 0, 1);
  double x = 0, y = 0;
  vf_grounding_to_pixels(object(p, 0), 0, 997, 41, &x, &y);
  g_assert_cmpfloat_with_epsilon(x, 249.25, 1e-9);
  g_assert_cmpfloat_with_epsilon(y, 20.5, 1e-9);
  vf_grounding_to_pixels(object(p, 0), 1, 997, 41, &x, &y);
  g_assert_cmpfloat_with_epsilon(x, 747.75, 1e-9);
  g_assert_cmpfloat_with_epsilon(y, 41.0, 1e-9);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/grounding/one-box", test_one_box);
  g_test_add_func("/grounding/several-boxes", test_several_boxes);
  g_test_add_func("/grounding/quad", test_quad);
  g_test_add_func("/grounding/label-without-box-and-box-without-label", test_label_without_box_and_box_without_label);
  g_test_add_func("/grounding/malformed-kept-as-text", test_malformed_kept_as_text);
  g_test_add_func("/grounding/split-pieces", test_split_pieces);
  g_test_add_func("/grounding/picture-numbers", test_picture_numbers);
  g_test_add_func("/grounding/to-pixels", test_to_pixels);
  return g_test_run();
}
