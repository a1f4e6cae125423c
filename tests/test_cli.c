/* viewfinder-cli as a user runs it: the streamed answer and its errors. */
#include <gio/gio.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <glib/gstdio.h>
#include <string.h>
#include "vf_test_cli.h"
#include "vf_test_data.h"
#include "vf_test_hub.h"
#include "vf_test_pdf.h"

/* Every call site says run_cli: the runner itself is shared with test-ocr (vf_test_cli.h). */
static int
run_cli(const char *const *args, char **out, char **err)
{
  return vf_test_run_cli(args, out, err);
}

/* Runs `viewfinder-cli chat` on tiny-a with the case's question (its last text part) and `media` arguments,
 * and asserts that stdout is the reference's greedy answer and the prompt has `prompt_tokens` tokens. */
static void
assert_chat_answers_as(const char *case_name, const char *const *media, int prompt_tokens)
{
  g_autofree char *case_json = vf_test_data_path(case_name);
  g_autofree char *case_file = g_build_filename(case_json, "case.json", NULL);
  g_autoptr(JsonParser) parser = json_parser_new();
  g_assert_true(json_parser_load_from_file(parser, case_file, NULL));
  JsonObject *cj = json_node_get_object(json_parser_get_root(parser));
  const char *decoded = json_object_get_string_member(json_object_get_object_member(cj, "generation"), "decoded");
  JsonObject *user = json_array_get_object_element(json_object_get_array_member(cj, "messages"), 0);
  JsonArray *content = json_object_get_array_member(user, "content");
  JsonObject *text = json_array_get_object_element(content, json_array_get_length(content) - 1);
  const char *question = json_object_get_string_member(text, "text");

  g_autofree char *model = vf_test_model_path("tiny-a");
  g_autofree char *tokenizer = vf_test_data_path("tokenizer");
  g_autoptr(GPtrArray) args = g_ptr_array_new();
  const char *fixed[] = {"chat", "-m", model, "--tokenizer", tokenizer, "--max-new-tokens", "16", "-p", question};
  for (size_t i = 0; i < G_N_ELEMENTS(fixed); i++)
    g_ptr_array_add(args, (gpointer)fixed[i]);
  for (int i = 0; media && media[i]; i++)
    g_ptr_array_add(args, (gpointer)media[i]);
  g_ptr_array_add(args, NULL);
  g_autofree char *out = NULL, *err = NULL;
  int rc = run_cli((const char *const *)args->pdata, &out, &err);
  g_test_message("stderr: %s", err);
  g_assert_cmpint(rc, ==, 0);
  g_autofree char *want = g_strdup_printf("%s\n", decoded);
  g_assert_cmpstr(out, ==, want);
  g_autofree char *tokens = g_strdup_printf("prompt %d tokens, prefill", prompt_tokens);
  g_assert_nonnull(strstr(err, tokens));
  g_assert_nonnull(strstr(err, "decode"));
}

/* The streamed answer equals the reference implementation's greedy decode (case a01). */
static void
test_chat_matches_reference(void)
{
  assert_chat_answers_as("golden/cases/a01_text_only", NULL, 27);
}

static void
test_chat_json_lines(void)
{
  g_autofree char *model = vf_test_model_path("tiny-a");
  g_autofree char *tokenizer = vf_test_data_path("tokenizer");
  const char *args[] = {"chat", "-m", model, "--tokenizer", tokenizer, "-p", "Hi", "--max-new-tokens", "3", "--json", NULL};
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint(run_cli(args, &out, &err), ==, 0);
  g_auto(GStrv) lines = g_strsplit(g_strstrip(out), "\n", -1);
  guint n = g_strv_length(lines);
  g_assert_cmpuint(n, >=, 2);
  for (guint i = 0; i < n; i++) {
    g_autoptr(JsonParser) p = json_parser_new();
    g_assert_true(json_parser_load_from_data(p, lines[i], -1, NULL));
    const char *type = json_object_get_string_member(json_node_get_object(json_parser_get_root(p)), "type");
    g_assert_cmpstr(type, ==, i + 1 == n ? "done" : "text");
  }
  g_assert_nonnull(strstr(lines[n - 1], "\"generated_tokens\":3"));
  g_assert_nonnull(strstr(lines[n - 1], "\"stop_reason\":\"token_limit\""));
  g_assert_nonnull(strstr(err, "3 tokens, the token limit"));
}

/* SIGINT in the middle of a --json answer: generation stops after the current step, the last line is the
 * done record saying "stopped", and the exit status is 130, as for a process Ctrl-C ended (issue 18). */
static void
test_chat_sigint_mid_generation(void)
{
  g_autofree char *model = vf_test_data_path("models/tiny-a");
  g_autofree char *tokenizer = vf_test_data_path("tokenizer");
  /* Sampling at temperature 1 over a random tiny model: an eos within 100000 tokens is unlikely, so the
   * signal lands mid-answer. */
  const char *argv[] = {g_getenv("VF_CLI"), "chat", "-m", model, "--tokenizer", tokenizer, "-p", "Hi",
                        "--max-new-tokens", "100000", "--temperature", "1", "--seed", "7", "--json", NULL};
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) proc = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                                                  &error);
  g_assert_no_error(error);
  g_autoptr(GDataInputStream) out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(proc));
  guint text_lines = 0;
  g_autofree char *last = NULL;
  for (;;) {
    char *line = g_data_input_stream_read_line_utf8(out, NULL, NULL, &error);
    g_assert_no_error(error);
    if (!line)
      break;
    g_free(last);
    last = line;
    if (strstr(line, "\"type\":\"text\"") && ++text_lines == 3)
      g_subprocess_send_signal(proc, SIGINT);
  }
  g_assert_true(g_subprocess_wait(proc, NULL, &error));
  g_autofree char *err = NULL;
  g_subprocess_communicate_utf8(proc, NULL, NULL, NULL, &err, NULL);
  g_test_message("after SIGINT: %s / stderr %s", last, err);
  g_assert_true(g_subprocess_get_if_exited(proc));
  g_assert_cmpint(g_subprocess_get_exit_status(proc), ==, 130);
  g_assert_cmpuint(text_lines, >=, 3);
  g_assert_nonnull(last);
  g_autoptr(JsonParser) p = json_parser_new();
  g_assert_true(json_parser_load_from_data(p, last, -1, NULL));
  JsonObject *done = json_node_get_object(json_parser_get_root(p));
  g_assert_cmpstr(json_object_get_string_member(done, "type"), ==, "done");
  g_assert_cmpstr(json_object_get_string_member(done, "stop_reason"), ==, "stopped");
  g_assert_cmpint(json_object_get_int_member(done, "generated_tokens"), <, 100000);
}

/* A decompression bomb (tests/data/images/bomb-65500x2700.jpg: 824 bytes, a header saying 65500×2700) is
 * answered like the reference answers it, with a warning record that says why the picture is grey. */
static void
test_chat_damaged_picture_warns(void)
{
  g_autofree char *model = vf_test_data_path("models/tiny-a");
  g_autofree char *tokenizer = vf_test_data_path("tokenizer");
  g_autofree char *bomb = vf_test_data_path("images/bomb-65500x2700.jpg");
  const char *args[] = {"chat", "-m", model, "--tokenizer", tokenizer, "-p", "What is this?", "--image", bomb,
                        "--max-pixels", "20000", "--max-new-tokens", "2", "--json", NULL};
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint(run_cli(args, &out, &err), ==, 0);
  g_auto(GStrv) lines = g_strsplit(g_strstrip(out), "\n", -1);
  g_assert_cmpuint(g_strv_length(lines), >=, 2);
  g_autoptr(JsonParser) p = json_parser_new();
  g_assert_true(json_parser_load_from_data(p, lines[0], -1, NULL));
  JsonObject *warning = json_node_get_object(json_parser_get_root(p));
  g_assert_cmpstr(json_object_get_string_member(warning, "type"), ==, "warning");
  const char *message = json_object_get_string_member(warning, "message");
  g_test_message("%s", message);
  g_assert_true(g_str_has_prefix(message, "Picture 1 ("));
  g_assert_nonnull(strstr(message, "damaged: the data stops at row 0 of 2700"));
  g_assert_nonnull(strstr(lines[g_strv_length(lines) - 1], "\"type\":\"done\""));
}

/* The answer about a picture equals the reference's (case a02: the message's pixel limits as options). */
static void
test_chat_image_matches_reference(void)
{
  g_autofree char *image = vf_test_data_path("golden/cases/a02_image_photo/chelsea.png");
  const char *media[] = {"--image", image, "--min-pixels", "3136", "--max-pixels", "20000", NULL};
  assert_chat_answers_as("golden/cases/a02_image_photo", media, 49);
}

/* A question about a video file (case a06: fps 2, the message's pixel limits as options) gets the reference's
 * answer; the resized frames differ from torchvision's in 10 of 338688 bytes by one level. */
static void
test_chat_video_matches_reference(void)
{
  g_autofree char *video = vf_test_data_path("golden/cases/a06_video_file/clip.mp4");
  const char *media[] = {"--video", video, "--fps", "2", "--video-min-pixels", "3136", "--video-max-pixels", "19000",
                         NULL};
  assert_chat_answers_as("golden/cases/a06_video_file", media, 97);
}

/* ocr: one JSON line per file; a broken file gets an error line naming it and the others still run. */
static void
test_ocr_json(void)
{
  g_autofree char *model = vf_test_model_path("tiny-a");
  g_autofree char *tokenizer = vf_test_data_path("tokenizer");
  g_autofree char *image = vf_test_data_path("golden/cases/a02_image_photo/chelsea.png");
  g_autofree char *tmp = g_dir_make_tmp("vf-ocr-XXXXXX", NULL);
  g_autofree char *broken = g_build_filename(tmp, "broken.png", NULL);
  g_assert_true(g_file_set_contents(broken, "\x89PNG\r\n\x1a\nnot really", 16, NULL));
  const char *args[] = {"ocr", "-m", model, "--tokenizer", tokenizer, "--max-pixels", "20000",
                        "--max-new-tokens", "4", "--json", broken, image, NULL};
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint(run_cli(args, &out, &err), ==, 1);
  g_auto(GStrv) lines = g_strsplit(g_strstrip(out), "\n", -1);
  g_assert_cmpuint(g_strv_length(lines), ==, 2);
  g_autoptr(JsonParser) p0 = json_parser_new(), p1 = json_parser_new();
  g_assert_true(json_parser_load_from_data(p0, lines[0], -1, NULL));
  g_assert_true(json_parser_load_from_data(p1, lines[1], -1, NULL));
  JsonObject *bad = json_node_get_object(json_parser_get_root(p0));
  JsonObject *good = json_node_get_object(json_parser_get_root(p1));
  g_assert_cmpstr(json_object_get_string_member(bad, "path"), ==, broken);
  g_assert_nonnull(strstr(json_object_get_string_member(bad, "error"), "broken.png"));
  g_assert_cmpstr(json_object_get_string_member(good, "path"), ==, image);
  /* 451×300 with at most 20000 pixels → 112×168 → a grid of 8×12 patches → 24 tokens. */
  g_assert_cmpint(json_object_get_int_member(good, "visual_tokens"), ==, 24);
  g_assert_cmpint(json_object_get_int_member(good, "generated_tokens"), ==, 4);
  g_remove(broken);
  g_rmdir(tmp);
}

/* The fields of an ocr JSON line that do not depend on timing. */
static char *
ocr_line_essentials(const char *line)
{
  g_autoptr(JsonParser) p = json_parser_new();
  g_assert_true(json_parser_load_from_data(p, line, -1, NULL));
  JsonObject *o = json_node_get_object(json_parser_get_root(p));
  if (json_object_has_member(o, "error"))
    return g_strdup_printf("%s error %s", json_object_get_string_member(o, "path"),
                           json_object_get_string_member(o, "error"));
  return g_strdup_printf("%s text %s tokens %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT,
                         json_object_get_string_member(o, "path"), json_object_get_string_member(o, "text"),
                         json_object_get_int_member(o, "visual_tokens"), json_object_get_int_member(o, "generated_tokens"));
}

/* ocr --batch: files answered together (one KV cache each, the weights read once per step) give what one at a
 * time gives, in file order; a broken file in a batch fails alone. */
static void
test_ocr_batch_equals_sequential(void)
{
  g_autofree char *model = vf_test_model_path("tiny-a");
  g_autofree char *tokenizer = vf_test_data_path("tokenizer");
  g_autofree char *a = vf_test_data_path("golden/cases/a02_image_photo/chelsea.png");
  g_autofree char *b = vf_test_data_path("golden/cases/a04_two_images_vision_id/camera_gray_133x97.png");
  g_autofree char *c = vf_test_data_path("golden/cases/a07_multi_turn/astronaut_160x140.png");
  g_autofree char *tmp = g_dir_make_tmp("vf-ocr-XXXXXX", NULL);
  g_autofree char *broken = g_build_filename(tmp, "broken.png", NULL);
  g_assert_true(g_file_set_contents(broken, "\x89PNG\r\n\x1a\nnot really", 16, NULL));
  char *outs[2] = {NULL, NULL};
  const char *batches[2] = {"1", "3"};
  for (int k = 0; k < 2; k++) {
    const char *args[] = {"ocr", "-m", model, "--tokenizer", tokenizer, "--max-pixels", "20000", "--max-new-tokens",
                          "12", "--json", "--batch", batches[k], a, broken, b, c, NULL};
    g_autofree char *err = NULL;
    g_assert_cmpint(run_cli(args, &outs[k], &err), ==, 1);
  }
  g_auto(GStrv) one = g_strsplit(g_strstrip(outs[0]), "\n", -1);
  g_auto(GStrv) together = g_strsplit(g_strstrip(outs[1]), "\n", -1);
  g_assert_cmpuint(g_strv_length(one), ==, 4);
  g_assert_cmpuint(g_strv_length(together), ==, 4);
  for (int i = 0; i < 4; i++) {
    g_autofree char *x = ocr_line_essentials(one[i]), *y = ocr_line_essentials(together[i]);
    g_assert_cmpstr(y, ==, x);
  }
  g_assert_nonnull(strstr(together[1], "broken.png"));
  g_free(outs[0]);
  g_free(outs[1]);
  g_remove(broken);
  g_rmdir(tmp);
}

/* vf_test_three_pages under 20000 pixels each renders at 112×168 (168×112): 24 visual tokens. */

/* The prompt_tokens of a `chat --json` run with these --image arguments (-1 and its stderr when it fails). */
static gint64
chat_prompt_tokens(const char *const *images, char **err_out)
{
  g_autofree char *model = vf_test_model_path("tiny-a");
  g_autofree char *tokenizer = vf_test_data_path("tokenizer");
  g_autoptr(GPtrArray) args = g_ptr_array_new();
  const char *fixed[] = {"chat", "-m", model, "--tokenizer", tokenizer, "--max-new-tokens", "2", "--max-pixels",
                         "20000", "--json", "-p", "Read the page."};
  for (size_t i = 0; i < G_N_ELEMENTS(fixed); i++)
    g_ptr_array_add(args, (gpointer)fixed[i]);
  for (int i = 0; images[i]; i++) {
    g_ptr_array_add(args, (gpointer) "--image");
    g_ptr_array_add(args, (gpointer)images[i]);
  }
  g_ptr_array_add(args, NULL);
  g_autofree char *out = NULL, *err = NULL;
  int rc = run_cli((const char *const *)args->pdata, &out, &err);
  g_test_message("stderr: %s", err);
  if (err_out)
    *err_out = g_strdup(err);
  if (rc != 0)
    return -1;
  g_auto(GStrv) lines = g_strsplit(g_strstrip(out), "\n", -1);
  const char *last = lines[g_strv_length(lines) - 1];
  g_autoptr(JsonParser) p = json_parser_new();
  g_assert_true(json_parser_load_from_data(p, last, -1, NULL));
  JsonObject *done = json_node_get_object(json_parser_get_root(p));
  g_assert_cmpstr(json_object_get_string_member(done, "type"), ==, "done");
  return json_object_get_int_member(done, "prompt_tokens");
}

/* chat --image file.pdf#page=N: the page is a picture of the size its budget gives; a PDF without #page is all
 * its pages; a page past the end, a bad page number and a text file named .pdf are refused by name. */
static void
test_chat_pdf_pages(void)
{
  g_autofree char *tmp = g_dir_make_tmp("vf-cli-pdf-XXXXXX", NULL);
  g_autofree char *pdf = g_build_filename(tmp, "three.pdf", NULL);
  vf_test_write_pdf(pdf, 3, vf_test_three_pages);
  g_autofree char *page2 = g_strdup_printf("%s#page=2", pdf);
  g_autofree char *page3 = g_strdup_printf("%s#page=3", pdf);
  const char *one[] = {page2, NULL}, *other[] = {page3, NULL}, *all[] = {pdf, NULL};
  gint64 with_one = chat_prompt_tokens(one, NULL);
  g_assert_cmpint(with_one, >, 24);
  g_assert_cmpint(chat_prompt_tokens(other, NULL), ==, with_one);
  /* Two more pictures of 24 tokens, each between <|vision_start|> and <|vision_end|>. */
  g_assert_cmpint(chat_prompt_tokens(all, NULL), ==, with_one + 2 * (24 + 2));

  g_autofree char *page5 = g_strdup_printf("%s#page=5", pdf);
  g_autofree char *page0 = g_strdup_printf("%s#page=zero", pdf);
  const char *past[] = {page5, NULL}, *bad[] = {page0, NULL};
  g_autofree char *err_past = NULL, *err_bad = NULL, *err_text = NULL;
  g_assert_cmpint(chat_prompt_tokens(past, &err_past), ==, -1);
  g_assert_nonnull(strstr(err_past, "there is no page 5 (the PDF has 3)"));
  g_assert_cmpint(chat_prompt_tokens(bad, &err_bad), ==, -1);
  g_assert_nonnull(strstr(err_bad, "is not a page number"));
  g_autofree char *text = g_build_filename(tmp, "notes.pdf", NULL);
  g_assert_true(g_file_set_contents(text, "just some notes\n", -1, NULL));
  g_autofree char *text_page = g_strdup_printf("%s#page=1", text);
  const char *fake[] = {text_page, NULL};
  g_assert_cmpint(chat_prompt_tokens(fake, &err_text), ==, -1);
  g_assert_nonnull(strstr(err_text, "not a PDF document"));
  g_remove(text);
  g_remove(pdf);
  g_rmdir(tmp);
}

/* A golden case file read into `parser`: its object, and the reference's decoded answer in *decoded. */
static JsonObject *
read_case(JsonParser *parser, const char *case_file, const char **decoded)
{
  g_assert_true(json_parser_load_from_file(parser, case_file, NULL));
  JsonObject *cj = json_node_get_object(json_parser_get_root(parser));
  *decoded = json_object_get_string_member(json_object_get_object_member(cj, "generation"), "decoded");
  return cj;
}

/* chat --messages on golden case a07 (a picture, its answer, a follow-up question): the reference's greedy answer
 * to the whole conversation. The case file is an object with "messages"; its picture path is relative to it. The
 * same conversation's first two messages in a file of their own plus -p with the follow-up give the same answer. */
static void
test_chat_messages_matches_reference(void)
{
  g_autofree char *case_dir = vf_test_data_path("golden/cases/a07_multi_turn");
  g_autofree char *case_file = g_build_filename(case_dir, "case.json", NULL);
  g_autoptr(JsonParser) parser = json_parser_new();
  const char *decoded = NULL;
  JsonObject *cj = read_case(parser, case_file, &decoded);
  g_autofree char *want = g_strdup_printf("%s\n", decoded);
  g_autofree char *model = vf_test_model_path("tiny-a");
  g_autofree char *tokenizer = vf_test_data_path("tokenizer");

  const char *whole[] = {"chat", "-m", model, "--tokenizer", tokenizer, "--max-new-tokens", "16", "--messages",
                         case_file, NULL};
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint(run_cli(whole, &out, &err), ==, 0);
  g_assert_cmpstr(out, ==, want);
  g_assert_nonnull(strstr(err, "prompt 68 tokens, prefill"));

  /* The first turn in a file of its own (in a temporary folder: the picture's path is made absolute). */
  JsonArray *messages = json_object_get_array_member(cj, "messages");
  JsonObject *first = json_array_get_object_element(messages, 0);
  JsonObject *picture = json_array_get_object_element(json_object_get_array_member(first, "content"), 0);
  g_autofree char *picture_path = g_build_filename(case_dir, json_object_get_string_member(picture, "image"), NULL);
  json_object_set_string_member(picture, "image", picture_path);
  json_array_remove_element(messages, 2);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  json_generator_set_root(gen, json_object_get_member(cj, "messages"));
  g_autofree char *dir = g_dir_make_tmp("vf-cli-messages-XXXXXX", NULL);
  g_autofree char *first_turn = g_build_filename(dir, "first-turn.json", NULL);
  g_assert_true(json_generator_to_file(gen, first_turn, NULL));
  const char *follow_up[] = {"chat", "-m", model, "--tokenizer", tokenizer, "--max-new-tokens", "16", "--messages",
                             first_turn, "-p", "What colors are on the flag?", NULL};
  g_clear_pointer(&out, g_free);
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(run_cli(follow_up, &out, &err), ==, 0);
  g_assert_cmpstr(out, ==, want);
  g_assert_nonnull(strstr(err, "prompt 68 tokens, prefill"));

  /* Without -p the file ends with the assistant: nothing to answer. */
  const char *no_question[] = {"chat", "-m", model, "--tokenizer", tokenizer, "--messages", first_turn, NULL};
  g_clear_pointer(&out, g_free);
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(run_cli(no_question, &out, &err), ==, 1);
  g_autofree char *no_user = g_strdup_printf("viewfinder-cli chat: %s: the conversation does not end with a user "
                                             "message to answer\n", first_turn);
  g_assert_cmpstr(err, ==, no_user);

  /* A wrong part: the file, the message and the part are named; nothing loads. */
  g_autofree char *bad = g_build_filename(dir, "bad.json", NULL);
  g_assert_true(g_file_set_contents(bad, "[{\"role\": \"user\", \"content\": [{\"type\": \"audio\"}]}]", -1, NULL));
  const char *bad_part[] = {"chat", "-m", model, "--tokenizer", tokenizer, "--messages", bad, NULL};
  g_clear_pointer(&out, g_free);
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(run_cli(bad_part, &out, &err), ==, 1);
  g_autofree char *bad_message = g_strdup_printf("viewfinder-cli chat: %s: message 0, part 0: unknown part type "
                                                 "\"audio\" (known: text, image, image_url, video, video_url)\n", bad);
  g_assert_cmpstr(err, ==, bad_message);
  g_assert_cmpint(g_unlink(first_turn), ==, 0);
  g_assert_cmpint(g_unlink(bad), ==, 0);
  g_assert_cmpint(g_rmdir(dir), ==, 0);
}

/* chat --save: golden case a07 answered and saved in the reference's message form, with the picture's path
 * absolute and the reference's answer as the last message; the saved file goes on with --messages; a folder
 * that does not exist is refused before the model loads. */
static void
test_chat_save(void)
{
  g_autofree char *case_dir = vf_test_data_path("golden/cases/a07_multi_turn");
  g_autofree char *case_file = g_build_filename(case_dir, "case.json", NULL);
  g_autoptr(JsonParser) parser = json_parser_new();
  const char *decoded = NULL;
  read_case(parser, case_file, &decoded);
  g_autofree char *model = vf_test_model_path("tiny-a");
  g_autofree char *tokenizer = vf_test_data_path("tokenizer");
  g_autofree char *dir = g_dir_make_tmp("vf-cli-save-XXXXXX", NULL);
  g_autofree char *saved = g_build_filename(dir, "conversation.json", NULL);

  const char *answer[] = {"chat", "-m", model, "--tokenizer", tokenizer, "--max-new-tokens", "16", "--messages",
                          case_file, "--save", saved, NULL};
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint(run_cli(answer, &out, &err), ==, 0);
  g_autoptr(JsonParser) reread = json_parser_new();
  g_autoptr(GError) error = NULL;
  g_assert_true(json_parser_load_from_file(reread, saved, &error));
  g_assert_no_error(error);
  JsonArray *messages = json_node_get_array(json_parser_get_root(reread));
  g_assert_cmpuint(json_array_get_length(messages), ==, 4);
  const char *roles[] = {"user", "assistant", "user", "assistant"};
  for (guint i = 0; i < 4; i++)
    g_assert_cmpstr(json_object_get_string_member(json_array_get_object_element(messages, i), "role"), ==, roles[i]);
  JsonObject *last = json_array_get_object_element(messages, 3);
  g_assert_cmpstr(json_object_get_string_member(last, "content"), ==, decoded);
  JsonObject *picture = json_array_get_object_element(
    json_object_get_array_member(json_array_get_object_element(messages, 0), "content"), 0);
  g_assert_cmpstr(json_object_get_string_member(picture, "type"), ==, "image");
  g_assert_true(g_path_is_absolute(json_object_get_string_member(picture, "image")));
  g_assert_true(g_file_test(json_object_get_string_member(picture, "image"), G_FILE_TEST_IS_REGULAR));

  /* The saved conversation goes on: its prompt is the whole conversation plus the new question. */
  const char *go_on[] = {"chat", "-m", model, "--tokenizer", tokenizer, "--max-new-tokens", "4", "--messages",
                         saved, "-p", "And then?", NULL};
  g_clear_pointer(&out, g_free);
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(run_cli(go_on, &out, &err), ==, 0);
  g_assert_nonnull(strstr(err, "viewfinder: prompt "));

  g_autofree char *nowhere = g_build_filename(dir, "missing", "c.json", NULL);
  const char *bad[] = {"chat", "-m", model, "--tokenizer", tokenizer, "-p", "Hi", "--save", nowhere, NULL};
  g_clear_pointer(&out, g_free);
  g_clear_pointer(&err, g_free);
  g_assert_cmpint(run_cli(bad, &out, &err), ==, 2);
  g_autofree char *refused = g_strdup_printf("viewfinder-cli chat: --save %s: its folder does not exist\n", nowhere);
  g_assert_cmpstr(err, ==, refused);
  g_assert_cmpint(g_unlink(saved), ==, 0);
  g_assert_cmpint(g_rmdir(dir), ==, 0);
}

static void
test_chat_errors(void)
{
  g_autofree char *tokenizer = vf_test_data_path("tokenizer");
  g_autofree char *out = NULL, *err = NULL;
  /* A folder that is not a model: the message names the missing file. */
  const char *missing[] = {"chat", "-m", "/nonexistent/model", "--tokenizer", tokenizer, "-p", "x", NULL};
  g_assert_cmpint(run_cli(missing, &out, &err), !=, 0);
  g_assert_nonnull(strstr(err, "/nonexistent/model"));
  g_free(out);
  g_free(err);
  /* No prompt. */
  const char *noprompt[] = {"chat", "-m", "x", NULL};
  g_assert_cmpint(run_cli(noprompt, &out, &err), ==, 2);
  g_free(out);
  g_free(err);
  /* A prompt longer than the context: refused with the numbers, before any work. */
  g_autofree char *model = vf_test_model_path("tiny-a");
  const char *too_long[] = {"chat", "-m", model, "--tokenizer", tokenizer, "--context", "16", "-p",
                            "Write a haiku about the sea.", NULL};
  g_assert_cmpint(run_cli(too_long, &out, &err), ==, 1);
  g_assert_nonnull(strstr(err, "needs 27 prompt tokens but the context holds 16"));
  g_free(out);
  g_free(err);
  /* An image that is not one: the message names the file; nothing runs. */
  g_autofree char *notimage = vf_test_data_path("golden/cases/a01_text_only/case.json");
  const char *bad_image[] = {"chat", "-m", model, "--tokenizer", tokenizer, "--image", notimage, "-p", "x", NULL};
  g_assert_cmpint(run_cli(bad_image, &out, &err), ==, 1);
  g_assert_nonnull(strstr(err, "case.json"));
  g_free(out);
  g_free(err);
  /* No Vulkan loader: a clear message, no crash. */
  g_setenv("VF_VULKAN_LOADER", "/nonexistent/libvulkan.so.1", TRUE);
  const char *no_loader[] = {"devices", NULL};
  g_assert_cmpint(run_cli(no_loader, &out, &err), ==, 1);
  g_assert_nonnull(strstr(err, "No Vulkan loader found (/nonexistent/libvulkan.so.1)"));
  g_unsetenv("VF_VULKAN_LOADER");
  g_free(out);
  g_free(err);
  /* A device that does not exist. */
  g_setenv("VF_DEVICE", "no-such-device", TRUE);
  const char *devices[] = {"devices", NULL};
  g_assert_cmpint(run_cli(devices, &out, &err), !=, 0);
  g_assert_nonnull(strstr(err, "no-such-device"));
  g_unsetenv("VF_DEVICE");
}

/* download: a model from a hub (the local imitation) into a cache folder; the snapshot on stdout, a progress
 * line per finished file on stderr (not a terminal); a missing repository and a usage error fail clearly. */
static void
test_download(void)
{
  g_autofree char *tiny = vf_test_data_path("models/tiny-a");
  g_autofree char *config = g_build_filename(tiny, "config.json", NULL);
  g_autofree char *weights = g_build_filename(tiny, "model.safetensors", NULL);
  const char *files[] = {"config.json", config, "model.safetensors", weights, NULL};
  const char *commit = "fedcba9876543210fedcba9876543210fedcba98";
  VfTestHub *hub = vf_test_hub_start("Qwen/Qwen2-VL-Tiny", commit, files);
  g_autofree char *endpoint = vf_test_hub_endpoint(hub);
  g_autofree char *cache = g_dir_make_tmp("vf-cli-hub-XXXXXX", NULL);
  g_autofree char *out = NULL, *err = NULL;
  const char *args[] = {"download", "--endpoint", endpoint, "--cache-dir", cache, "Qwen/Qwen2-VL-Tiny", NULL};
  g_assert_cmpint(run_cli(args, &out, &err), ==, 0);
  g_autofree char *snapshot = g_build_filename(cache, "models--Qwen--Qwen2-VL-Tiny", "snapshots", commit, NULL);
  g_autofree char *want = g_strconcat(snapshot, "\n", NULL);
  g_assert_cmpstr(out, ==, want);
  g_assert_nonnull(strstr(err, "[1/2] config.json"));
  g_assert_nonnull(strstr(err, "[2/2] model.safetensors 20.1 of 20.1 MB, total 20.1 of 20.1 MB"));
  g_autofree char *weights_link = g_build_filename(snapshot, "model.safetensors", NULL);
  g_assert_true(g_file_test(weights_link, G_FILE_TEST_IS_SYMLINK));

  g_clear_pointer(&out, g_free);
  g_clear_pointer(&err, g_free);
  const char *missing[] = {"download", "--endpoint", endpoint, "--cache-dir", cache, "Qwen/Nope", NULL};
  g_assert_cmpint(run_cli(missing, &out, &err), ==, 1);
  g_assert_cmpstr(out, ==, "");
  g_assert_cmpstr(err, ==, "viewfinder-cli download: Qwen/Nope (revision main): not found on the hub (404)\n");

  g_clear_pointer(&out, g_free);
  g_clear_pointer(&err, g_free);
  const char *usage[] = {"download", NULL};
  g_assert_cmpint(run_cli(usage, &out, &err), ==, 2);
  g_assert_nonnull(strstr(err, "usage: download [--revision REV] OWNER/NAME"));
  vf_test_hub_stop(hub);
  const char *rm[] = {"rm", "-rf", cache, NULL};
  g_assert_true(g_spawn_sync(NULL, (char **)rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/cli/chat-matches-reference", test_chat_matches_reference);
  g_test_add_func("/cli/chat-json-lines", test_chat_json_lines);
  g_test_add_func("/cli/chat-sigint-mid-generation", test_chat_sigint_mid_generation);
  g_test_add_func("/cli/chat-image-matches-reference", test_chat_image_matches_reference);
  g_test_add_func("/cli/chat-damaged-picture-warns", test_chat_damaged_picture_warns);
  g_test_add_func("/cli/chat-video-matches-reference", test_chat_video_matches_reference);
  g_test_add_func("/cli/ocr-json", test_ocr_json);
  g_test_add_func("/cli/ocr-batch-equals-sequential", test_ocr_batch_equals_sequential);
  g_test_add_func("/cli/chat-pdf-pages", test_chat_pdf_pages);
  g_test_add_func("/cli/chat-errors", test_chat_errors);
  g_test_add_func("/cli/chat-messages-matches-reference", test_chat_messages_matches_reference);
  g_test_add_func("/cli/chat-save", test_chat_save);
  g_test_add_func("/cli/download", test_download);
  return g_test_run();
}
