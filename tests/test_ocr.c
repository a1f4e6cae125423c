/* viewfinder-cli ocr on documents: a cairo-written 3-page PDF and a folder with a broken file give one JSON line
 * per page and per file (the broken one fails alone), timings that add up to each line's wall time,
 * --output-dir files with the same texts, --batch 3 the same texts as one at a time, and --pages. */
#include <gio/gio.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "vf_test_cli.h"
#include "vf_test_data.h"
#include "vf_test_pdf.h"

/* A folder holding three.pdf (A4, letter, A4 landscape) and scans/ with page1.png (chelsea, 451×300),
 * page2.png (broken) and page10.png (133×97 grey): name order puts page10 last. */
typedef struct {
  char *dir, *pdf, *scans;
} Inputs;

static void
copy_file(const char *from, const char *to)
{
  g_autofree char *bytes = NULL;
  gsize len = 0;
  g_assert_true(g_file_get_contents(from, &bytes, &len, NULL));
  g_assert_true(g_file_set_contents(to, bytes, (gssize)len, NULL));
}

static void
inputs_make(Inputs *in)
{
  in->dir = g_dir_make_tmp("vf-ocr-XXXXXX", NULL);
  in->pdf = g_build_filename(in->dir, "three.pdf", NULL);
  vf_test_write_pdf(in->pdf, 3, vf_test_three_pages);
  in->scans = g_build_filename(in->dir, "scans", NULL);
  g_assert_cmpint(g_mkdir(in->scans, 0755), ==, 0);
  g_autofree char *chelsea = vf_test_data_path("golden/cases/a02_image_photo/chelsea.png");
  g_autofree char *gray = vf_test_data_path("golden/cases/a04_two_images_vision_id/camera_gray_133x97.png");
  g_autofree char *p1 = g_build_filename(in->scans, "page1.png", NULL);
  g_autofree char *p2 = g_build_filename(in->scans, "page2.png", NULL);
  g_autofree char *p10 = g_build_filename(in->scans, "page10.png", NULL);
  copy_file(chelsea, p1);
  g_assert_true(g_file_set_contents(p2, "\x89PNG\r\n\x1a\nnot really", 16, NULL));
  copy_file(gray, p10);
}

static void
inputs_remove(Inputs *in)
{
  const char *rm[] = {"rm", "-rf", in->dir, NULL};
  g_assert_true(g_spawn_sync(NULL, (char **)rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL));
  g_free(in->dir);
  g_free(in->pdf);
  g_free(in->scans);
}

/* `ocr --json` on tiny-a with `extra` arguments and then the inputs; the lines parsed (a GPtrArray of
 * JsonParser), the exit status in *rc and the wall time of the whole process in *wall. */
static GPtrArray *
run_ocr(const char *const *extra, const char *const *inputs, int *rc, double *wall)
{
  g_autofree char *model = vf_test_model_path("tiny-a");
  g_autofree char *tokenizer = vf_test_data_path("tokenizer");
  g_autoptr(GPtrArray) args = g_ptr_array_new();
  const char *fixed[] = {"ocr", "-m", model, "--tokenizer", tokenizer, "--max-pixels", "20000", "--max-new-tokens",
                         "6", "--json"};
  for (size_t i = 0; i < G_N_ELEMENTS(fixed); i++)
    g_ptr_array_add(args, (gpointer)fixed[i]);
  for (int i = 0; extra && extra[i]; i++)
    g_ptr_array_add(args, (gpointer)extra[i]);
  for (int i = 0; inputs[i]; i++)
    g_ptr_array_add(args, (gpointer)inputs[i]);
  g_ptr_array_add(args, NULL);
  g_autofree char *out = NULL, *err = NULL;
  int64_t t0 = g_get_monotonic_time();
  *rc = vf_test_run_cli((const char *const *)args->pdata, &out, &err);
  if (wall)
    *wall = (g_get_monotonic_time() - t0) / 1e6;
  g_test_message("stderr: %s", err);
  GPtrArray *lines = g_ptr_array_new_with_free_func(g_object_unref);
  g_auto(GStrv) split = g_strsplit(g_strstrip(out), "\n", -1);
  for (int i = 0; split[i] && split[i][0]; i++) {
    JsonParser *p = json_parser_new();
    g_assert_true(json_parser_load_from_data(p, split[i], -1, NULL));
    g_ptr_array_add(lines, p);
  }
  return lines;
}

static JsonObject *
line(GPtrArray *lines, guint i)
{
  return json_node_get_object(json_parser_get_root(lines->pdata[i]));
}

static const char *
path_of(GPtrArray *lines, guint i)
{
  return json_object_get_string_member(line(lines, i), "path");
}

static gint64
page_of(GPtrArray *lines, guint i)
{
  return json_object_get_int_member_with_default(line(lines, i), "page", 0);
}

/* The fields that do not depend on timing. */
static char *
essentials(GPtrArray *lines, guint i)
{
  JsonObject *o = line(lines, i);
  if (json_object_has_member(o, "error"))
    return g_strdup_printf("%s %" G_GINT64_FORMAT " error %s", path_of(lines, i), page_of(lines, i),
                           json_object_get_string_member(o, "error"));
  return g_strdup_printf("%s %" G_GINT64_FORMAT " text %s tokens %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT " cut %d",
                         path_of(lines, i), page_of(lines, i), json_object_get_string_member(o, "text"),
                         json_object_get_int_member(o, "visual_tokens"),
                         json_object_get_int_member(o, "generated_tokens"),
                         json_object_get_boolean_member(o, "cut"));
}

/* A PDF and a folder: a line per page and per file in order, the broken file failing alone; each line's six
 * timings add up to its wall time and the lines' wall times fit in the process's. */
static void
test_pdf_and_folder(void)
{
  Inputs in;
  inputs_make(&in);
  const char *inputs[] = {in.pdf, in.scans, NULL};
  int rc = 0;
  double process_wall = 0;
  g_autoptr(GPtrArray) lines = run_ocr(NULL, inputs, &rc, &process_wall);
  g_assert_cmpint(rc, ==, 1);
  g_assert_cmpuint(lines->len, ==, 6);
  g_autofree char *p1 = g_build_filename(in.scans, "page1.png", NULL);
  g_autofree char *p2 = g_build_filename(in.scans, "page2.png", NULL);
  g_autofree char *p10 = g_build_filename(in.scans, "page10.png", NULL);
  const char *paths[] = {in.pdf, in.pdf, in.pdf, p1, p2, p10};
  const gint64 pages[] = {1, 2, 3, 0, 0, 0};
  /* Pages under 20000 pixels render at 112×168 (168×112 landscape); chelsea 451×300 → 168×112; the grey
   * 133×97 → 140×84: 24, 24, 24, 24 and 5×3 = 15 visual tokens. */
  const gint64 tokens[] = {24, 24, 24, 24, 0, 15};
  double walls = 0;
  for (guint i = 0; i < lines->len; i++) {
    JsonObject *o = line(lines, i);
    g_assert_cmpstr(path_of(lines, i), ==, paths[i]);
    g_assert_cmpint(page_of(lines, i), ==, pages[i]);
    if (i == 4) {
      g_assert_nonnull(strstr(json_object_get_string_member(o, "error"), "page2.png"));
      continue;
    }
    g_assert_false(json_object_has_member(o, "error"));
    g_assert_cmpint(json_object_get_int_member(o, "visual_tokens"), ==, tokens[i]);
    g_assert_cmpint(json_object_get_boolean_member(o, "cut"), ==,
                    strcmp(json_object_get_string_member(o, "stop_reason"), "token_limit") == 0);
    const char *stages[] = {"open_seconds", "render_seconds", "preprocess_seconds", "encode_seconds",
                            "prefill_seconds", "decode_seconds"};
    double sum = 0;
    for (guint k = 0; k < G_N_ELEMENTS(stages); k++) {
      double seconds = json_object_get_double_member(o, stages[k]);
      g_assert_cmpfloat(seconds, >=, 0);
      sum += seconds;
    }
    /* A page is rendered and a picture decoded: both are measured. */
    g_assert_cmpfloat(json_object_get_double_member(o, "render_seconds"), >, 0);
    double wall = json_object_get_double_member(o, "wall_seconds");
    g_test_message("line %u: stages %.4f s of %.4f s wall", i, sum, wall);
    /* What is left out is the prompt's tokenization and the sampler's set-up: milliseconds. */
    g_assert_cmpfloat(sum, <=, wall + 1e-3);
    g_assert_cmpfloat(wall - sum, <=, 0.02 + 0.02 * wall);
    walls += wall;
  }
  g_assert_cmpfloat(walls, <, process_wall);
  inputs_remove(&in);
}

/* --output-dir: three.md holds the selected pages under their headings, page1.md and page10.md their texts,
 * each exactly what the JSON lines said (with a note where an answer was cut); the broken file writes none. */
static void
test_output_dir(void)
{
  Inputs in;
  inputs_make(&in);
  g_autofree char *out_dir = g_build_filename(in.dir, "out", NULL);
  const char *extra[] = {"--output-dir", out_dir, "--pages", "2-3", NULL};
  const char *inputs[] = {in.pdf, in.scans, NULL};
  int rc = 0;
  g_autoptr(GPtrArray) lines = run_ocr(extra, inputs, &rc, NULL);
  g_assert_cmpint(rc, ==, 1);
  g_assert_cmpuint(lines->len, ==, 5);
  g_assert_cmpint(page_of(lines, 0), ==, 2);
  g_assert_cmpint(page_of(lines, 1), ==, 3);

  g_autoptr(GString) want_pdf = g_string_new(NULL);
  g_autofree char *want_p1 = NULL, *want_p10 = NULL;
  for (guint i = 0; i < lines->len; i++) {
    JsonObject *o = line(lines, i);
    if (json_object_has_member(o, "error"))
      continue;
    g_autoptr(GString) text = g_string_new(json_object_get_string_member(o, "text"));
    if (json_object_get_boolean_member(o, "cut"))
      g_string_append_printf(text, "\n\n<!-- cut: the answer reached its limit of %" G_GINT64_FORMAT " tokens -->",
                             json_object_get_int_member(o, "generated_tokens"));
    if (i < 2)
      g_string_append_printf(want_pdf, "%s## Page %" G_GINT64_FORMAT "\n\n%s", i ? "\n\n" : "", page_of(lines, i),
                             text->str);
    else if (i == 2)
      want_p1 = g_strconcat(text->str, "\n", NULL);
    else
      want_p10 = g_strconcat(text->str, "\n", NULL);
  }
  g_string_append_c(want_pdf, '\n');
  const char *names[] = {"three.md", "page1.md", "page10.md"};
  const char *wants[] = {want_pdf->str, want_p1, want_p10};
  for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
    g_autofree char *path = g_build_filename(out_dir, names[i], NULL);
    g_autofree char *got = NULL;
    g_assert_true(g_file_get_contents(path, &got, NULL, NULL));
    g_assert_cmpstr(got, ==, wants[i]);
  }
  g_autofree char *broken_md = g_build_filename(out_dir, "page2.md", NULL);
  g_assert_false(g_file_test(broken_md, G_FILE_TEST_EXISTS));
  inputs_remove(&in);
}

/* --batch 3 over the pages and the folder gives what one at a time gives, line for line. */
static void
test_batch_equals_sequential(void)
{
  Inputs in;
  inputs_make(&in);
  const char *inputs[] = {in.pdf, in.scans, NULL};
  const char *one[] = {"--batch", "1", NULL}, *three[] = {"--batch", "3", NULL};
  int rc1 = 0, rc3 = 0;
  g_autoptr(GPtrArray) a = run_ocr(one, inputs, &rc1, NULL);
  g_autoptr(GPtrArray) b = run_ocr(three, inputs, &rc3, NULL);
  g_assert_cmpint(rc1, ==, 1);
  g_assert_cmpint(rc3, ==, 1);
  g_assert_cmpuint(a->len, ==, 6);
  g_assert_cmpuint(b->len, ==, 6);
  for (guint i = 0; i < a->len; i++) {
    g_autofree char *x = essentials(a, i), *y = essentials(b, i);
    g_assert_cmpstr(y, ==, x);
  }
  inputs_remove(&in);
}

/* --pages past the end: the PDF's line says so by name; a picture beside it still runs. */
static void
test_pages_out_of_range(void)
{
  Inputs in;
  inputs_make(&in);
  g_autofree char *p1 = g_build_filename(in.scans, "page1.png", NULL);
  const char *extra[] = {"--pages", "2-5", NULL};
  const char *inputs[] = {in.pdf, p1, NULL};
  int rc = 0;
  g_autoptr(GPtrArray) lines = run_ocr(extra, inputs, &rc, NULL);
  g_assert_cmpint(rc, ==, 1);
  g_assert_cmpuint(lines->len, ==, 2);
  const char *error = json_object_get_string_member(line(lines, 0), "error");
  g_assert_nonnull(strstr(error, "three.pdf"));
  g_assert_nonnull(strstr(error, "5"));
  g_assert_false(json_object_has_member(line(lines, 1), "error"));
  inputs_remove(&in);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/ocr/pdf-and-folder", test_pdf_and_folder);
  g_test_add_func("/ocr/output-dir", test_output_dir);
  g_test_add_func("/ocr/batch-equals-sequential", test_batch_equals_sequential);
  g_test_add_func("/ocr/pages-out-of-range", test_pages_out_of_range);
  return g_test_run();
}
