/* The desktop app in a real window (suite 'ui'). Meson runs this program under
 *   xvfb-run -a -s '-screen 0 1280x800x24' dbus-run-session -- test-ui --tap
 * Each case starts `viewfinder --test-actions` with the tiny-a golden model, drives it as a person would —
 * keys typed with xdotool into the focused window — and feeds files through the app's only test hook, the
 * "test-drop" action, which calls the window's drop handler. It reads the window's state back from the
 * "test-dump" action (one JSON line on the app's stdout) and asserts on exact strings. Screenshots go to
 * $VF_SCREENSHOT_DIR.
 *
 * Case /ui/picture-and-video drops a picture and a 4-frame video on the window, asks about them, and checks
 * that the user's bubble reads "Picture 1" and "Video 1" and that the streamed answer equals
 * `viewfinder-cli chat` on the same conversation.
 */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vf_test_bmp.h"
#include "vf_test_data.h"
#include "vf_test_hub.h"

#define APP_ID "org.viewfinder.Viewfinder"
#define APP_PATH "/org/viewfinder/Viewfinder"
/* The app's default picture budget: 256 and 1280 visual tokens of 28 × 28 pixels. */
#define APP_MIN_PIXELS "200704"
#define APP_MAX_PIXELS "1003520"

/* ---------------------------------------------------------------------------------------------------
 * External tools
 * ------------------------------------------------------------------------------------------------- */

/* Runs a program to completion; returns its stdout. */
static char *
run(const char *const *argv)
{
  g_autofree char *out = NULL, *err = NULL;
  int status = 0;
  g_autoptr(GError) error = NULL;
  g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status, &error);
  g_assert_no_error(error);
  if (!g_spawn_check_wait_status(status, &error))
    g_error("%s failed: %s\n%s", argv[0], error->message, err);
  return g_steal_pointer(&out);
}

static void
xdotool(const char *a, const char *b, const char *c, const char *d)
{
  const char *argv[] = {"xdotool", a, b, c, d, NULL};
  g_free(run(argv));
}

static void app_focus(void);

/* The screen, once the window is mapped and its transitions (crossfades, 200–250 ms) have ended. */
static void
screenshot(const char *name)
{
  app_focus();
  g_usleep(700000);
  g_autofree char *path = g_build_filename(g_getenv("VF_SCREENSHOT_DIR"), name, NULL);
  const char *argv[] = {"import", "-window", "root", path, NULL};
  g_free(run(argv));
  g_test_message("screenshot: %s", path);
}

/* What `viewfinder-cli chat` answers with the model folder `model` (stdout without its final newline); image
 * and video may be NULL. */
static char *
cli_answer_of(const char *model, const char *image, const char *video, const char *prompt,
              const char *max_new_tokens)
{
  g_autofree char *tokenizer = vf_test_data_path("tokenizer");
  const char *argv[20] = {g_getenv("VF_CLI"), "chat", "-m", model, "--tokenizer", tokenizer, "--label-media",
                          "--max-new-tokens", max_new_tokens, "-p", prompt};
  int n = 11;
  if (image) {
    /* The app's default picture budget (Preferences: 256 to 1280 visual tokens); the CLI keeps the reference's. */
    argv[n++] = "--image";
    argv[n++] = image;
    argv[n++] = "--min-pixels=" APP_MIN_PIXELS;
    argv[n++] = "--max-pixels=" APP_MAX_PIXELS;
  }
  if (video) {
    argv[n++] = "--video";
    argv[n++] = video;
  }
  char *out = run(argv);
  g_assert_true(g_str_has_suffix(out, "\n"));
  out[strlen(out) - 1] = 0;
  return out;
}

/* The same with tiny-a. */
static char *
cli_answer(const char *image, const char *video, const char *prompt, const char *max_new_tokens)
{
  g_autofree char *model = vf_test_data_path("models/tiny-a");
  return cli_answer_of(model, image, video, prompt, max_new_tokens);
}

/* ---------------------------------------------------------------------------------------------------
 * The app
 * ------------------------------------------------------------------------------------------------- */

typedef struct {
  GSubprocess *process;
  GDataInputStream *out;
  GDBusConnection *bus;
  gboolean exited;
} App;

static void
on_exited(GObject *source, GAsyncResult *result, gpointer user_data)
{
  gboolean *exited = user_data;
  *exited = TRUE;
}

static void
activate(App *app, const char *action, GVariant *parameter)
{
  GVariantBuilder params, platform;
  g_variant_builder_init(&params, G_VARIANT_TYPE("av"));
  if (parameter)
    g_variant_builder_add(&params, "v", parameter);
  g_variant_builder_init(&platform, G_VARIANT_TYPE("a{sv}"));
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply =
    g_dbus_connection_call_sync(app->bus, APP_ID, APP_PATH, "org.gtk.Actions", "Activate",
                                g_variant_new("(sava{sv})", action, &params, &platform), NULL,
                                G_DBUS_CALL_FLAGS_NONE, 60000, NULL, &error);
  g_assert_no_error(error);
}

static gboolean
name_has_owner(App *app)
{
  g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
    app->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "NameHasOwner",
    g_variant_new("(s)", APP_ID), G_VARIANT_TYPE("(b)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
  gboolean owned = FALSE;
  if (reply)
    g_variant_get(reply, "(b)", &owned);
  return owned;
}

/* Starts the app with `args` (NULL-terminated) and `env` ("NAME", "value" pairs, NULL-terminated, or NULL)
 * and waits until it is on the bus. */
static App *
app_start_with_env(const char *const *args, const char *const *env)
{
  App *app = g_new0(App, 1);
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_ptr_array_add(argv, (gpointer)g_getenv("VF_APP"));
  g_ptr_array_add(argv, "--test-actions");
  for (guint i = 0; args && args[i]; i++)
    g_ptr_array_add(argv, (gpointer)args[i]);
  g_ptr_array_add(argv, NULL);
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  for (guint i = 0; env && env[i] && env[i + 1]; i += 2)
    g_subprocess_launcher_setenv(launcher, env[i], env[i + 1], TRUE);
  g_autoptr(GError) error = NULL;
  app->process = g_subprocess_launcher_spawnv(launcher, (const char *const *)argv->pdata, &error);
  g_assert_no_error(error);
  app->out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(app->process));
  g_subprocess_wait_async(app->process, NULL, on_exited, &app->exited);
  app->bus = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, &error);
  g_assert_no_error(error);
  gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
  while (!name_has_owner(app)) {
    g_assert_cmpint(g_get_monotonic_time(), <, deadline);
    while (g_main_context_iteration(NULL, FALSE))
      ;
    if (app->exited)
      g_error("the app exited before it was on the session bus");
    g_usleep(50000);
  }
  return app;
}

static App *
app_start(const char *const *args)
{
  return app_start_with_env(args, NULL);
}

/* Quits through app.quit and checks the app exited cleanly. */
static void
app_quit(App *app)
{
  activate(app, "quit", NULL);
  while (!app->exited)
    g_main_context_iteration(NULL, TRUE);
  g_assert_true(g_subprocess_get_if_exited(app->process));
  g_assert_cmpint(g_subprocess_get_exit_status(app->process), ==, 0);
  g_object_unref(app->out);
  g_object_unref(app->process);
  g_object_unref(app->bus);
  g_free(app);
}

/* The window's state, from the app's test-dump action. */
static JsonNode *
app_dump(App *app)
{
  activate(app, "test-dump", NULL);
  for (;;) {
    g_autoptr(GError) error = NULL;
    g_autofree char *line = g_data_input_stream_read_line_utf8(app->out, NULL, NULL, &error);
    g_assert_no_error(error);
    g_assert_nonnull(line);
    if (!g_str_has_prefix(line, "DUMP "))
      continue;
    g_autoptr(JsonParser) parser = json_parser_new();
    g_assert_true(json_parser_load_from_data(parser, line + 5, -1, NULL));
    /* Whatever the state, the chat view shows one row per message of its model. */
    JsonObject *dump = json_node_get_object(json_parser_get_root(parser));
    g_assert_cmpint(json_object_get_int_member(dump, "rows"), ==,
                    json_array_get_length(json_object_get_array_member(dump, "messages")));
    return json_node_copy(json_parser_get_root(parser));
  }
}

typedef gboolean (*Condition)(JsonObject *dump, gconstpointer data);

/* Polls the window's state until `condition` holds; fails after `seconds`. */
static JsonNode *
app_wait(App *app, const char *what, Condition condition, gconstpointer data, int seconds)
{
  gint64 deadline = g_get_monotonic_time() + (gint64)seconds * G_USEC_PER_SEC;
  for (;;) {
    JsonNode *dump = app_dump(app);
    if (condition(json_node_get_object(dump), data))
      return dump;
    if (g_get_monotonic_time() > deadline) {
      g_autofree char *text = json_to_string(dump, FALSE);
      g_error("timed out waiting for %s; the window: %s", what, text);
    }
    json_node_unref(dump);
    g_usleep(30000);
  }
}

static void
app_drop(App *app, const char *const *paths)
{
  activate(app, "test-drop", g_variant_new_strv(paths, -1));
}

/* Gives the window the keyboard focus (there is no window manager under Xvfb). */
static void
app_focus(void)
{
  const char *argv[] = {"xdotool", "search", "--sync", "--onlyvisible", "--name", "^Viewfinder$", NULL};
  g_autofree char *ids = run(argv);
  g_auto(GStrv) lines = g_strsplit(g_strstrip(ids), "\n", -1);
  g_assert_nonnull(lines[0]);
  xdotool("windowfocus", "--sync", lines[0], NULL);
}

static void
type_text(const char *text)
{
  xdotool("type", "--delay", "15", text);
}

static void
press(const char *keys)
{
  xdotool("key", keys, NULL, NULL);
}

/* ---------------------------------------------------------------------------------------------------
 * Reading the dump
 * ------------------------------------------------------------------------------------------------- */

static JsonArray *
messages(JsonObject *dump)
{
  return json_object_get_array_member(dump, "messages");
}

static JsonObject *
message(JsonObject *dump, guint i)
{
  return json_array_get_object_element(messages(dump), i);
}

static JsonObject *
draft(JsonObject *dump)
{
  return json_object_get_object_member(dump, "draft");
}

/* "Picture 1,Video 1": the labels of an attachment array. */
static char *
labels(JsonArray *attachments)
{
  GString *s = g_string_new(NULL);
  for (guint i = 0; i < json_array_get_length(attachments); i++) {
    JsonObject *a = json_array_get_object_element(attachments, i);
    g_string_append_printf(s, "%s%s", i ? "," : "", json_object_get_string_member(a, "label"));
  }
  return g_string_free(s, FALSE);
}

static gboolean
has_toast(JsonObject *dump, const char *text)
{
  JsonArray *toasts = json_object_get_array_member(dump, "toasts");
  for (guint i = 0; i < json_array_get_length(toasts); i++)
    if (g_strcmp0(json_array_get_string_element(toasts, i), text) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
model_ready(JsonObject *dump, gconstpointer data)
{
  return g_strcmp0(json_object_get_string_member(dump, "page"), "chat") == 0 &&
         !json_object_get_boolean_member(dump, "loading");
}

static gboolean
draft_has(JsonObject *dump, gconstpointer n)
{
  JsonArray *a = json_object_get_array_member(draft(dump), "attachments");
  return json_array_get_length(a) == GPOINTER_TO_UINT(n) && json_object_get_int_member(dump, "inspecting") == 0;
}

static gboolean
toast_shown(JsonObject *dump, gconstpointer text)
{
  return has_toast(dump, text);
}

static gboolean
answer_finished(JsonObject *dump, gconstpointer n)
{
  guint count = GPOINTER_TO_UINT(n);
  if (json_array_get_length(messages(dump)) != count || json_object_get_boolean_member(dump, "busy"))
    return FALSE;
  return TRUE;
}

static gboolean
answer_streaming(JsonObject *dump, gconstpointer min_tokens)
{
  guint n = json_array_get_length(messages(dump));
  if (n == 0)
    return FALSE;
  JsonObject *last = message(dump, n - 1);
  return g_strcmp0(json_object_get_string_member(last, "state"), "streaming") == 0 &&
         json_object_get_int_member(last, "tokens") >= GPOINTER_TO_INT(min_tokens);
}

static gboolean
draft_text_is(JsonObject *dump, gconstpointer text)
{
  return g_strcmp0(json_object_get_string_member(draft(dump), "text"), text) == 0;
}

static gboolean
page_is(JsonObject *dump, gconstpointer page)
{
  return g_strcmp0(json_object_get_string_member(dump, "page"), page) == 0;
}

static void
assert_no_validation_messages(JsonObject *dump)
{
  g_assert_cmpint(json_object_get_int_member(dump, "validation_messages"), ==, 0);
}

static App *
start_with_model(const char *model, const char *max_new_tokens)
{
  g_autofree char *tokenizer = vf_test_data_path("tokenizer");
  const char *args[] = {"--model", model, "--tokenizer", tokenizer, "--max-new-tokens", max_new_tokens, NULL};
  App *app = app_start(args);
  json_node_unref(app_wait(app, "the model to load", model_ready, NULL, 60));
  app_focus();
  return app;
}

static App *
start_with_tiny_model(const char *max_new_tokens)
{
  g_autofree char *model = vf_test_data_path("models/tiny-a");
  return start_with_model(model, max_new_tokens);
}

/* A conversation for `viewfinder-cli chat --messages`: a question with a picture (at the app's default budget),
 * its answer, and a follow-up question. */
static void
write_messages(const char *path, const char *picture, const char *question, const char *answer, const char *follow_up)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_array(b);
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "role");
  json_builder_add_string_value(b, "user");
  json_builder_set_member_name(b, "content");
  json_builder_begin_array(b);
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, "image");
  json_builder_set_member_name(b, "image");
  json_builder_add_string_value(b, picture);
  json_builder_set_member_name(b, "min_pixels");
  json_builder_add_int_value(b, atoi(APP_MIN_PIXELS));
  json_builder_set_member_name(b, "max_pixels");
  json_builder_add_int_value(b, atoi(APP_MAX_PIXELS));
  json_builder_end_object(b);
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, "text");
  json_builder_set_member_name(b, "text");
  json_builder_add_string_value(b, question);
  json_builder_end_object(b);
  json_builder_end_array(b);
  json_builder_end_object(b);
  const char *turns[][2] = {{"assistant", answer}, {"user", follow_up}};
  for (guint i = 0; i < G_N_ELEMENTS(turns); i++) {
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "role");
    json_builder_add_string_value(b, turns[i][0]);
    json_builder_set_member_name(b, "content");
    json_builder_add_string_value(b, turns[i][1]);
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  json_generator_set_root(gen, root);
  g_assert_true(json_generator_to_file(gen, path, NULL));
}

/* ---------------------------------------------------------------------------------------------------
 * Cases
 * ------------------------------------------------------------------------------------------------- */

/* The hidden smoke-test flag: the window comes up and the app quits by itself, cleanly. */
static void
test_startup(void)
{
  const char *argv[] = {g_getenv("VF_APP"), "--exit-after-startup", NULL};
  g_free(run(argv));
}

/* No model anywhere: the welcome page says what to download and where the app looks. */
static void
test_welcome(void)
{
  App *app = app_start(NULL);
  g_autoptr(JsonNode) node = app_wait(app, "the welcome page", page_is, "welcome", 20);
  JsonObject *dump = json_node_get_object(node);
  g_assert_cmpstr(json_object_get_string_member(dump, "welcome_title"), ==, "Welcome to Viewfinder");
  /* The quantized repos are offered with the memory they need. */
  const char *help = json_object_get_string_member(dump, "welcome_help");
  g_assert_nonnull(strstr(help, "Qwen2-VL-7B-Instruct-GPTQ-Int4 or -AWQ — 7.0 GB"));
  g_assert_nonnull(strstr(help, "Qwen2-VL-72B-Instruct-AWQ"));
  g_assert_null(json_object_get_string_member(dump, "model"));
  screenshot("ui-welcome.png");
  app_quit(app);
}

/* A GPTQ-Int4 checkpoint (the test-checkpoint tool's tiny-a) loads, the header names its format, and a
 * question is answered exactly as the command line answers it. */
static void
test_quantized_model(void)
{
  g_autofree char *model = g_build_filename(g_getenv("VF_QUANT_TEST_MODELS"), "gptq-int4", "tiny-a", NULL);
  App *app = start_with_model(model, "16");
  g_autoptr(JsonNode) ready = app_dump(app);
  const char *subtitle = json_object_get_string_member(json_node_get_object(ready), "subtitle");
  g_assert_nonnull(strstr(subtitle, " · GPTQ-Int4 · "));
  const char *question = "Describe a quiet harbour.";
  type_text(question);
  press("Return");
  g_autoptr(JsonNode) answered = app_wait(app, "the answer", answer_finished, GUINT_TO_POINTER(2), 120);
  JsonObject *a = json_node_get_object(answered);
  JsonObject *reply = message(a, 1);
  g_assert_cmpstr(json_object_get_string_member(reply, "state"), ==, "done");
  g_autofree char *expected = cli_answer_of(model, NULL, NULL, question, "16");
  g_assert_cmpstr(json_object_get_string_member(reply, "text"), ==, expected);
  assert_no_validation_messages(a);
  screenshot("ui-quantized.png");
  app_quit(app);
}

/* A picture and a video dropped together, a question typed and sent with Enter. */
static void
test_picture_and_video(void)
{
  App *app = start_with_tiny_model("24");
  g_autoptr(JsonNode) empty = app_dump(app);
  g_assert_cmpuint(json_array_get_length(messages(json_node_get_object(empty))), ==, 0);
  screenshot("ui-empty.png");

  g_autofree char *picture = vf_test_data_path("golden/cases/a02_image_photo/chelsea.png");
  g_autofree char *video = vf_test_data_path("ui/four_frames.mp4");
  const char *both[] = {picture, video, NULL};
  app_drop(app, both);
  g_autoptr(JsonNode) dropped = app_wait(app, "two attachments", draft_has, GUINT_TO_POINTER(2), 20);
  JsonObject *d = draft(json_node_get_object(dropped));
  g_autofree char *draft_labels = labels(json_object_get_array_member(d, "attachments"));
  g_assert_cmpstr(draft_labels, ==, "Picture 1,Video 1");
  JsonObject *chip = json_array_get_object_element(json_object_get_array_member(d, "attachments"), 0);
  g_assert_cmpstr(json_object_get_string_member(chip, "name"), ==, "chelsea.png");
  g_assert_cmpint(json_object_get_int_member(chip, "tokens"), >, 0);
  JsonObject *clip = json_array_get_object_element(json_object_get_array_member(d, "attachments"), 1);
  g_assert_cmpstr(json_object_get_string_member(clip, "name"), ==, "four_frames.mp4");
  g_assert_cmpint(json_object_get_int_member(clip, "tokens"), >, 0);

  const char *question = "What happens in Video 1, and what is in Picture 1?";
  type_text(question);
  press("Return");
  g_autoptr(JsonNode) answered = app_wait(app, "the answer", answer_finished, GUINT_TO_POINTER(2), 120);
  JsonObject *a = json_node_get_object(answered);
  JsonObject *user = message(a, 0), *reply = message(a, 1);
  g_assert_cmpstr(json_object_get_string_member(user, "role"), ==, "user");
  g_assert_cmpstr(json_object_get_string_member(user, "text"), ==, question);
  g_autofree char *sent_labels = labels(json_object_get_array_member(user, "attachments"));
  g_assert_cmpstr(sent_labels, ==, "Picture 1,Video 1");
  g_assert_cmpstr(json_object_get_string_member(reply, "state"), ==, "done");
  /* The streamed answer is exactly what the command line answers for the same conversation. */
  g_autofree char *expected = cli_answer(picture, video, question, "24");
  g_assert_cmpstr(json_object_get_string_member(reply, "text"), ==, expected);
  assert_no_validation_messages(a);
  screenshot("ui-picture.png");
  app_quit(app);
}

/* Esc in the middle of an answer keeps what was written, marked stopped; a follow-up is answered. The
 * answer may run to 200 tokens, so Esc (sent as soon as 3 tokens are seen) lands mid-answer even on a fast
 * GPU; on lavapipe the follow-up's full answer takes about 8 s. */
static void
test_stop_and_ask_again(void)
{
  App *app = start_with_tiny_model("200");
  const char *question = "Tell me a long story.";
  type_text(question);
  press("Return");
  json_node_unref(app_wait(app, "the answer to start", answer_streaming, GINT_TO_POINTER(3), 60));
  press("Escape");
  g_autoptr(JsonNode) stopped = app_wait(app, "the stop", answer_finished, GUINT_TO_POINTER(2), 30);
  JsonObject *s = json_node_get_object(stopped);
  JsonObject *partial = message(s, 1);
  g_assert_cmpstr(json_object_get_string_member(partial, "state"), ==, "stopped");
  gint64 tokens = json_object_get_int_member(partial, "tokens");
  g_assert_cmpint(tokens, >=, 3);
  g_assert_cmpint(tokens, <, 200);
  /* What was kept is the start of the answer viewfinder-cli gives (asked for a few more tokens). */
  g_autofree char *more = g_strdup_printf("%" G_GINT64_FORMAT, tokens + 8);
  g_autofree char *full = cli_answer(NULL, NULL, question, more);
  const char *kept = json_object_get_string_member(partial, "text");
  g_assert_cmpuint(strlen(kept), >, 0);
  g_assert_cmpuint(strlen(kept), <, strlen(full));
  g_assert_true(g_str_has_prefix(full, kept));

  type_text("And then?");
  press("Return");
  g_autoptr(JsonNode) again = app_wait(app, "the second answer", answer_finished, GUINT_TO_POINTER(4), 90);
  JsonObject *g = json_node_get_object(again);
  g_assert_cmpstr(json_object_get_string_member(message(g, 1), "state"), ==, "stopped");
  g_assert_cmpstr(json_object_get_string_member(message(g, 2), "text"), ==, "And then?");
  g_assert_cmpstr(json_object_get_string_member(message(g, 3), "state"), ==, "done");
  g_assert_cmpuint(strlen(json_object_get_string_member(message(g, 3), "text")), >, 0);
  assert_no_validation_messages(g);
  screenshot("ui-stopped.png");
  app_quit(app);
}

static gboolean
stage_starts(JsonObject *dump, gconstpointer prefix)
{
  guint n = json_array_get_length(messages(dump));
  return n > 0 && g_str_has_prefix(json_object_get_string_member_with_default(message(dump, n - 1), "stage", ""),
                                   prefix);
}

static gboolean
stopped_in_encode(JsonObject *dump, gconstpointer unused)
{
  guint n = json_array_get_length(messages(dump));
  if (n > 0) {
    const char *stage = json_object_get_string_member_with_default(message(dump, n - 1), "stage", "");
    g_assert_true(stage == NULL || g_str_has_prefix(stage, "Encoding picture 1: block"));
  }
  return answer_finished(dump, GUINT_TO_POINTER(0));
}

/* Esc while a 2000×2000 picture is encoded (after its first progress event): the turn ends within a block and
 * leaves the conversation as it was, with the question back in the composer — its text and its picture. */
static void
test_stop_during_encode(void)
{
  g_autofree char *tmp = g_dir_make_tmp("vf-ui-big-XXXXXX", NULL);
  g_autofree char *big = vf_test_write_bmp(tmp, "big.bmp", 2000, 2000);
  g_autofree char *model = vf_test_data_path("models/tiny-a");
  g_autofree char *tokenizer = vf_test_data_path("tokenizer");
  const char *args[] = {"--model", model, "--tokenizer", tokenizer, "--max-new-tokens", "8", "--context", "6144",
                        NULL};
  App *app = app_start(args);
  json_node_unref(app_wait(app, "the model to load", model_ready, NULL, 60));
  app_focus();
  const char *files[] = {big, NULL};
  app_drop(app, files);
  json_node_unref(app_wait(app, "the picture", draft_has, GUINT_TO_POINTER(1), 30));
  type_text("What is this?");
  json_node_unref(app_wait(app, "the typed text", draft_text_is, "What is this?", 20));
  g_autoptr(JsonNode) before = app_dump(app);
  g_autofree char *draft_before = json_to_string(json_object_get_member(json_node_get_object(before), "draft"), FALSE);
  press("Return");
  json_node_unref(app_wait(app, "the encode", stage_starts, "Encoding picture 1: block", 60));
  gint64 t0 = g_get_monotonic_time();
  press("Escape");
  /* Until the turn ends, no stage after the encode shows up (it stops within the block it was in). */
  g_autoptr(JsonNode) stopped = app_wait(app, "the stop", stopped_in_encode, NULL, 60);
  g_test_message("the turn ended %.2f s after Esc", (g_get_monotonic_time() - t0) / 1e6);
  JsonObject *s = json_node_get_object(stopped);
  /* No empty answer bubble; a toast says what happened and offers to send the question again. */
  JsonArray *toasts = json_object_get_array_member(s, "toasts");
  g_assert_cmpuint(json_array_get_length(toasts), ==, 1);
  g_assert_cmpstr(json_array_get_string_element(toasts, 0), ==, "Stopped before answering [_Retry: chat.send]");
  g_assert_cmpuint(json_array_get_length(json_object_get_array_member(s, "messages")), ==, 0);
  screenshot("ui-stopped-before-answering.png");
  /* The draft is back as it was (the status line aside, which the count fills in again). */
  JsonObject *d = draft(s);
  json_object_set_string_member(d, "status", json_object_get_string_member_with_default(
                                                 draft(json_node_get_object(before)), "status", ""));
  g_autofree char *draft_after = json_to_string(json_object_get_member(s, "draft"), FALSE);
  g_assert_cmpstr(draft_after, ==, draft_before);
  assert_no_validation_messages(s);
  app_quit(app);
  g_remove(big);
  g_rmdir(tmp);
}

static gboolean
toast_starts(JsonObject *dump, gconstpointer prefix)
{
  JsonArray *toasts = json_object_get_array_member(dump, "toasts");
  for (guint i = 0; i < json_array_get_length(toasts); i++)
    if (g_str_has_prefix(json_array_get_string_element(toasts, i), prefix))
      return !json_object_get_boolean_member(dump, "loading");
  return FALSE;
}

/* "Hello", sent and answered; returns the window's messages as JSON. */
static char *
answer_hello(App *app)
{
  type_text("Hello");
  press("Return");
  g_autoptr(JsonNode) answered = app_wait(app, "the answer", answer_finished, GUINT_TO_POINTER(2), 60);
  return json_to_string(json_object_get_member(json_node_get_object(answered), "messages"), FALSE);
}

static gboolean
nothing_shown(JsonObject *dump, gconstpointer unused)
{
  return json_array_get_length(messages(dump)) == 0 && !json_object_get_boolean_member(dump, "busy");
}

/* New Chat (Ctrl+N) while an answer streams: the view empties at once and stays empty when the abandoned turn
 * comes back and the engine forgets it; the next question starts the new conversation alone. */
static void
test_new_chat_during_answer(void)
{
  App *app = start_with_tiny_model("200");
  type_text("Tell me a long story.");
  press("Return");
  json_node_unref(app_wait(app, "the answer to start", answer_streaming, GINT_TO_POINTER(3), 60));
  press("ctrl+n");
  json_node_unref(app_wait(app, "an empty chat", nothing_shown, NULL, 20));
  g_usleep(1500000); /* the abandoned turn's end and the reset arrive */
  g_autoptr(JsonNode) later = app_dump(app);
  g_assert_cmpuint(json_array_get_length(messages(json_node_get_object(later))), ==, 0);
  g_free(answer_hello(app));
  g_autoptr(JsonNode) after = app_dump(app);
  JsonObject *a = json_node_get_object(after);
  g_assert_cmpuint(json_array_get_length(messages(a)), ==, 2);
  g_assert_cmpstr(json_object_get_string_member(message(a, 0), "text"), ==, "Hello");
  g_autofree char *expected = cli_answer(NULL, NULL, "Hello", "200");
  g_assert_cmpstr(json_object_get_string_member(message(a, 1), "text"), ==, expected);
  app_quit(app);
}

/* An answer cut at the 6-token limit is marked and offers Continue; Continue extends it to the answer of a
 * 12-token limit (cut again, so offered again); a follow-up question ends the offer. */
static void
test_continue_cut_answer(void)
{
  App *app = start_with_tiny_model("6");
  const char *question = "Tell me a long story.";
  type_text(question);
  press("Return");
  g_autoptr(JsonNode) cut = app_wait(app, "the cut answer", answer_finished, GUINT_TO_POINTER(2), 60);
  JsonObject *first = message(json_node_get_object(cut), 1);
  g_assert_cmpint(json_object_get_int_member(first, "tokens"), ==, 6);
  g_assert_true(json_object_get_boolean_member(first, "cut"));
  g_assert_true(json_object_get_boolean_member(first, "can_continue"));
  screenshot("ui-cut-answer.png");

  activate(app, "test-continue", NULL);
  g_autoptr(JsonNode) continued = app_wait(app, "the continued answer", answer_finished, GUINT_TO_POINTER(2), 60);
  JsonObject *whole = message(json_node_get_object(continued), 1);
  g_autofree char *expected = cli_answer(NULL, NULL, question, "12");
  g_assert_cmpstr(json_object_get_string_member(whole, "text"), ==, expected);
  g_assert_cmpint(json_object_get_int_member(whole, "tokens"), ==, 12);
  g_assert_true(json_object_get_boolean_member(whole, "cut"));
  g_assert_true(json_object_get_boolean_member(whole, "can_continue"));

  type_text("And then?");
  press("Return");
  g_autoptr(JsonNode) followed = app_wait(app, "the follow-up", answer_finished, GUINT_TO_POINTER(4), 60);
  g_assert_false(json_object_get_boolean_member(message(json_node_get_object(followed), 1), "can_continue"));
  g_assert_true(json_object_get_boolean_member(message(json_node_get_object(followed), 3), "can_continue"));
  assert_no_validation_messages(json_node_get_object(followed));
  app_quit(app);
}

static gboolean
draft_is_edit_of(JsonObject *dump, gconstpointer text)
{
  return json_object_get_boolean_member(dump, "editing") && draft_text_is(dump, text);
}

static gboolean
alternative_shown(JsonObject *dump, gconstpointer k)
{
  guint n = json_array_get_length(messages(dump));
  return n > 0 && !json_object_get_boolean_member(dump, "busy") &&
         json_object_get_int_member(message(dump, n - 1), "alternative") == GPOINTER_TO_INT(k);
}

static gboolean
messages_are(JsonObject *dump, gconstpointer n)
{
  return json_array_get_length(messages(dump)) == GPOINTER_TO_UINT(n) && !json_object_get_boolean_member(dump, "busy");
}

/* Edit the first question of two turns and resend it: the conversation is the edited question and its answer,
 * which equals a fresh run of it. Regenerate keeps both answers ("2/2", and ‹ shows the first again). Delete the
 * first turn of two: the second stays. */
static void
test_edit_regenerate_delete(void)
{
  App *app = start_with_tiny_model("8");
  g_free(answer_hello(app));
  type_text("Tell me more");
  press("Return");
  json_node_unref(app_wait(app, "the second answer", answer_finished, GUINT_TO_POINTER(4), 60));

  activate(app, "test-edit", g_variant_new_uint32(0));
  json_node_unref(app_wait(app, "the question in the composer", draft_is_edit_of, "Hello", 20));
  app_focus();
  press("ctrl+a");
  type_text("Good morning");
  json_node_unref(app_wait(app, "the edited question", draft_text_is, "Good morning", 20));
  screenshot("ui-editing.png");
  press("Return");
  g_autoptr(JsonNode) edited = app_wait(app, "the edited answer", answer_finished, GUINT_TO_POINTER(2), 60);
  JsonObject *e = json_node_get_object(edited);
  g_assert_false(json_object_get_boolean_member(e, "editing"));
  g_assert_cmpstr(json_object_get_string_member(message(e, 0), "text"), ==, "Good morning");
  g_autofree char *fresh = cli_answer(NULL, NULL, "Good morning", "8");
  const char *first_answer = json_object_get_string_member(message(e, 1), "text");
  g_assert_cmpstr(first_answer, ==, fresh);
  g_assert_true(json_object_get_boolean_member(message(e, 1), "last_answer"));

  activate(app, "test-regenerate", NULL);
  g_autoptr(JsonNode) again = app_wait(app, "the second alternative", alternative_shown, GINT_TO_POINTER(1), 60);
  JsonObject *g = json_node_get_object(again);
  g_assert_cmpuint(json_array_get_length(messages(g)), ==, 2);
  g_assert_cmpint(json_object_get_int_member(message(g, 1), "alternatives"), ==, 2);
  /* Greedy decoding: the same answer again, kept beside the first. */
  g_assert_cmpstr(json_object_get_string_member(message(g, 1), "text"), ==, fresh);
  screenshot("ui-regenerated.png");
  activate(app, "test-choose-answer", g_variant_new_int32(-1));
  g_autoptr(JsonNode) back = app_wait(app, "the first alternative", alternative_shown, GINT_TO_POINTER(0), 20);
  g_assert_cmpint(json_object_get_int_member(message(json_node_get_object(back), 1), "tokens"), >, 0);

  type_text("Third");
  press("Return");
  json_node_unref(app_wait(app, "the third answer", answer_finished, GUINT_TO_POINTER(4), 60));
  activate(app, "test-delete-turn", g_variant_new_uint32(0));
  g_autoptr(JsonNode) deleted = app_wait(app, "the deleted turn", messages_are, GUINT_TO_POINTER(2), 20);
  g_assert_cmpstr(json_object_get_string_member(message(json_node_get_object(deleted), 0), "text"), ==, "Third");
  assert_no_validation_messages(json_node_get_object(deleted));
  app_quit(app);
}

/* A pasted picture is kept with the conversations (the history's blobs, by content hash), not in the cache
 * folder, and attached as "Pasted HH:MM:SS.png"; asked about, it is answered as the command line answers the
 * same picture. */
static void
test_paste_picture(void)
{
  g_autofree char *home = g_dir_make_tmp("vf-ui-paste-XXXXXX", NULL);
  g_autofree char *data_home = g_build_filename(home, "data", NULL);
  g_autofree char *cache_home = g_build_filename(home, "cache", NULL);
  const char *env[] = {"XDG_DATA_HOME", data_home, "XDG_CACHE_HOME", cache_home, NULL};
  g_autofree char *model = vf_test_data_path("models/tiny-a");
  g_autofree char *tokenizer = vf_test_data_path("tokenizer");
  const char *args[] = {"--model", model, "--tokenizer", tokenizer, "--max-new-tokens", "8", NULL};
  App *app = app_start_with_env(args, env);
  json_node_unref(app_wait(app, "the model to load", model_ready, NULL, 60));
  app_focus();
  g_autofree char *picture = vf_test_data_path("golden/cases/a04_two_images_vision_id/camera_gray_133x97.png");
  activate(app, "test-paste", g_variant_new_string(picture));
  g_autoptr(JsonNode) pasted = app_wait(app, "the pasted picture", draft_has, GUINT_TO_POINTER(1), 20);
  JsonObject *chip = json_array_get_object_element(json_object_get_array_member(draft(json_node_get_object(pasted)),
                                                                                "attachments"), 0);
  const char *name = json_object_get_string_member(chip, "name");
  g_assert_true(g_str_has_prefix(name, "Pasted ") && g_str_has_suffix(name, ".png"));
  g_assert_cmpstr(json_object_get_string_member(chip, "label"), ==, "Picture 1");
  g_autofree char *blobs = g_build_filename(data_home, "viewfinder", "blobs", NULL);
  g_assert_true(g_file_test(blobs, G_FILE_TEST_IS_DIR));
  g_autofree char *old_place = g_build_filename(cache_home, "viewfinder", "pasted", NULL);
  g_assert_false(g_file_test(old_place, G_FILE_TEST_EXISTS));
  const char *question = "What is in Picture 1?";
  type_text(question);
  json_node_unref(app_wait(app, "the typed text", draft_text_is, question, 20));
  press("Return");
  g_autoptr(JsonNode) answered = app_wait(app, "the answer", answer_finished, GUINT_TO_POINTER(2), 60);
  g_autofree char *expected = cli_answer(picture, NULL, question, "8");
  g_assert_cmpstr(json_object_get_string_member(message(json_node_get_object(answered), 1), "text"), ==, expected);
  app_quit(app);
  const char *rm[] = {"rm", "-rf", home, NULL};
  g_free(run(rm));
}

static void
set_setting(App *app, const char *key, const char *value)
{
  activate(app, "test-setting", g_variant_new("(ss)", key, value));
}

/* Preferences: the window (a screenshot); sampling chosen there is what the next answer uses (it equals the
 * command line's with the same temperature, top-k, top-p, repetition penalty and seed); the picture budget sets
 * what a dropped picture costs. */
static void
test_preferences(void)
{
  App *app = start_with_tiny_model("8");
  activate(app, "test-preferences", NULL);
  screenshot("ui-preferences.png");
  press("Escape");
  set_setting(app, "sample-as-model", "false");
  set_setting(app, "temperature", "1.0");
  set_setting(app, "top-k", "uint32 0");
  set_setting(app, "top-p", "1.0");
  set_setting(app, "repetition-penalty", "2.0");
  set_setting(app, "seed", "uint64 7");
  app_focus();
  const char *question = "Tell me a story.";
  type_text(question);
  press("Return");
  g_autoptr(JsonNode) answered = app_wait(app, "the sampled answer", answer_finished, GUINT_TO_POINTER(2), 60);
  g_autofree char *model = vf_test_data_path("models/tiny-a");
  g_autofree char *tokenizer = vf_test_data_path("tokenizer");
  const char *argv[] = {g_getenv("VF_CLI"), "chat", "-m", model, "--tokenizer", tokenizer, "--label-media",
                        "--max-new-tokens", "8", "--temperature", "1", "--top-k", "0", "--top-p", "1",
                        "--repetition-penalty", "2", "--seed", "7", "-p", question, NULL};
  g_autofree char *sampled = run(argv);
  g_strchomp(sampled);
  const char *answer = json_object_get_string_member(message(json_node_get_object(answered), 1), "text");
  g_assert_cmpstr(answer, ==, sampled);
  /* The tiny model's logits are so peaked that only the repetition penalty moves its answer off the greedy one:
   * so the settings are what made it. */
  g_autofree char *greedy = cli_answer(NULL, NULL, question, "8");
  g_test_message("sampled: %s; greedy: %s", answer, greedy);
  g_assert_cmpstr(answer, !=, greedy);

  /* A system prompt: the next answer is the command line's with --system (greedy again). */
  set_setting(app, "sample-as-model", "true");
  set_setting(app, "system-prompt", "'You are a pirate.'");
  activate(app, "test-new", NULL);
  json_node_unref(app_wait(app, "a new chat", messages_are, GUINT_TO_POINTER(0), 20));
  app_focus();
  type_text("Who are you?");
  press("Return");
  g_autoptr(JsonNode) pirate = app_wait(app, "the pirate's answer", answer_finished, GUINT_TO_POINTER(2), 60);
  const char *system_argv[] = {g_getenv("VF_CLI"), "chat", "-m", model, "--tokenizer", tokenizer, "--label-media",
                               "--max-new-tokens", "8", "--system", "You are a pirate.", "-p", "Who are you?", NULL};
  g_autofree char *with_system = run(system_argv);
  g_strchomp(with_system);
  g_assert_cmpstr(json_object_get_string_member(message(json_node_get_object(pirate), 1), "text"), ==, with_system);
  g_autofree char *without_system = cli_answer(NULL, NULL, "Who are you?", "8");
  g_assert_cmpstr(with_system, !=, without_system);

  set_setting(app, "picture-max-tokens", "uint32 64");
  set_setting(app, "picture-min-tokens", "uint32 16");
  g_autofree char *picture = vf_test_data_path("golden/cases/a02_image_photo/chelsea.png");
  const char *files[] = {picture, NULL};
  app_drop(app, files);
  g_autoptr(JsonNode) dropped = app_wait(app, "the picture", draft_has, GUINT_TO_POINTER(1), 20);
  JsonObject *chip = json_array_get_object_element(json_object_get_array_member(draft(json_node_get_object(dropped)),
                                                                                "attachments"), 0);
  g_assert_cmpint(json_object_get_int_member(chip, "tokens"), >, 16);
  g_assert_cmpint(json_object_get_int_member(chip, "tokens"), <=, 64);
  app_quit(app);
}

static gboolean
draft_over(JsonObject *dump, gconstpointer over)
{
  return !json_object_get_boolean_member(dump, "busy") && json_object_get_int_member(dump, "inspecting") == 0 &&
         json_object_get_boolean_member(dump, "draft_too_long") == GPOINTER_TO_INT(over) &&
         g_str_has_prefix(json_object_get_string_member_with_default(draft(dump), "status", ""), "Prompt: ");
}

/* A 20-minute video with a 2048-token context: the draft says it is too long, Send is off, and Fit to Context
 * lowers its frames until it fits with room for an answer; it is then sent and answered. */
static void
test_fit_to_context(void)
{
  g_autofree char *tmp = g_dir_make_tmp("vf-ui-fit-XXXXXX", NULL);
  g_autofree char *video = g_build_filename(tmp, "lecture.mp4", NULL);
  const char *ffmpeg[] = {"ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=112x112:rate=1", "-t", "1200",
                          "-pix_fmt", "yuv420p", video, NULL};
  g_free(run(ffmpeg));
  g_autofree char *model = vf_test_data_path("models/tiny-a");
  g_autofree char *tokenizer = vf_test_data_path("tokenizer");
  const char *args[] = {"--model", model, "--tokenizer", tokenizer, "--max-new-tokens", "8", "--context", "2048",
                        NULL};
  App *app = app_start(args);
  json_node_unref(app_wait(app, "the model to load", model_ready, NULL, 60));
  app_focus();
  const char *files[] = {video, NULL};
  app_drop(app, files);
  type_text("What happens in Video 1?");
  g_autoptr(JsonNode) over = app_wait(app, "the too-long draft", draft_over, GINT_TO_POINTER(TRUE), 60);
  JsonObject *d = draft(json_node_get_object(over));
  g_test_message("%s", json_object_get_string_member(d, "status"));
  g_assert_nonnull(strstr(json_object_get_string_member(d, "status"), "too many to send"));
  JsonObject *clip = json_array_get_object_element(json_object_get_array_member(d, "attachments"), 0);
  g_assert_cmpstr(json_object_get_string_member(clip, "duration"), ==, "20:00");
  gint64 before = json_object_get_int_member(json_array_get_object_element(json_object_get_array_member(d,
                                                                                                      "attachments"),
                                                                           0),
                                             "tokens");
  g_assert_cmpint(before, >, 2048);
  screenshot("ui-fit-offer.png");
  press("Return"); /* Send is off: nothing is sent */

  activate(app, "test-fit-to-context", NULL);
  g_autoptr(JsonNode) fitted = app_wait(app, "the fitted draft", draft_over, GINT_TO_POINTER(FALSE), 60);
  JsonObject *f = json_node_get_object(fitted);
  g_assert_cmpuint(json_array_get_length(messages(f)), ==, 0);
  gint64 after = json_object_get_int_member(
    json_array_get_object_element(json_object_get_array_member(draft(f), "attachments"), 0), "tokens");
  g_test_message("%s; the video: %" G_GINT64_FORMAT " → %" G_GINT64_FORMAT " tokens",
                 json_object_get_string_member(draft(f), "status"), before, after);
  g_assert_cmpint(after, <, 2048);
  g_assert_cmpint(after, >, 0);
  press("Return");
  g_autoptr(JsonNode) answered = app_wait(app, "the answer", answer_finished, GUINT_TO_POINTER(2), 240);
  JsonObject *a = json_node_get_object(answered);
  g_assert_cmpstr(json_object_get_string_member(message(a, 1), "state"), ==, "done");
  g_assert_cmpuint(json_array_get_length(json_object_get_array_member(a, "toasts")), ==, 0);
  assert_no_validation_messages(a);
  app_quit(app);
  g_remove(video);
  g_rmdir(tmp);
}

/* Continue in a New Chat (offered when the conversation fills the context): the chat view keeps the last turn
 * (the same rows: its picture's chip too), and the next question is answered as the command line answers that
 * turn and the question. */
static void
test_carry_over(void)
{
  App *app = start_with_tiny_model("8");
  g_autofree char *picture = vf_test_data_path("golden/cases/a04_two_images_vision_id/camera_gray_133x97.png");
  const char *files[] = {picture, NULL};
  app_drop(app, files);
  json_node_unref(app_wait(app, "the first picture", draft_has, GUINT_TO_POINTER(1), 20));
  g_free(answer_hello(app));
  app_drop(app, files);
  json_node_unref(app_wait(app, "the picture", draft_has, GUINT_TO_POINTER(1), 20));
  const char *question = "What is in Picture 2?";
  type_text(question);
  json_node_unref(app_wait(app, "the typed text", draft_text_is, question, 20));
  press("Return");
  g_autoptr(JsonNode) two = app_wait(app, "the second answer", answer_finished, GUINT_TO_POINTER(4), 60);
  g_autofree char *answer = g_strdup(json_object_get_string_member(message(json_node_get_object(two), 3), "text"));

  activate(app, "test-carry-over", NULL);
  g_autoptr(JsonNode) carried = app_wait(app, "the carried turn", messages_are, GUINT_TO_POINTER(2), 20);
  JsonObject *c = json_node_get_object(carried);
  g_assert_cmpstr(json_object_get_string_member(message(c, 0), "text"), ==, question);
  JsonArray *chips = json_object_get_array_member(message(c, 0), "attachments");
  g_assert_cmpuint(json_array_get_length(chips), ==, 1);
  g_assert_true(json_object_get_boolean_member(json_array_get_object_element(chips, 0), "thumbnail"));
  /* Numbered anew, as the new conversation's prompt numbers it. */
  g_autofree char *carried_labels = labels(chips);
  g_assert_cmpstr(carried_labels, ==, "Picture 1");

  type_text("Third");
  press("Return");
  g_autoptr(JsonNode) answered = app_wait(app, "the answer in the new chat", answer_finished, GUINT_TO_POINTER(4), 60);
  g_autofree char *dir = g_dir_make_tmp("vf-ui-carry-XXXXXX", NULL);
  g_autofree char *file = g_build_filename(dir, "carried.json", NULL);
  write_messages(file, picture, question, answer, "Third");
  g_autofree char *model = vf_test_data_path("models/tiny-a");
  g_autofree char *tokenizer = vf_test_data_path("tokenizer");
  const char *argv[] = {g_getenv("VF_CLI"), "chat", "-m", model, "--tokenizer", tokenizer, "--label-media",
                        "--max-new-tokens", "8", "--messages", file, NULL};
  g_autofree char *expected = run(argv);
  g_strchomp(expected);
  g_assert_cmpstr(json_object_get_string_member(message(json_node_get_object(answered), 3), "text"), ==, expected);
  app_quit(app);
  g_remove(file);
  g_rmdir(dir);
}

/* A dropped model folder without a tokenizer is refused before the working model goes: a toast, the chat page,
 * the same model and conversation, and the next question is answered. */
static void
test_broken_model_folder(void)
{
  App *app = start_with_tiny_model("8");
  g_autofree char *before_messages = answer_hello(app);
  g_autofree char *tmp = g_dir_make_tmp("vf-ui-broken-XXXXXX", NULL);
  g_autofree char *config = vf_test_data_path("models/tiny-a/config.json");
  g_autofree char *copy = g_build_filename(tmp, "config.json", NULL);
  g_autofree char *bytes = NULL;
  gsize size = 0;
  g_assert_true(g_file_get_contents(config, &bytes, &size, NULL));
  g_assert_true(g_file_set_contents(copy, bytes, (gssize)size, NULL));
  g_autofree char *weights = vf_test_data_path("models/tiny-a/model.safetensors");
  g_autofree char *link = g_build_filename(tmp, "model.safetensors", NULL);
  g_assert_cmpint(symlink(weights, link), ==, 0);
  const char *folder[] = {tmp, NULL};
  app_drop(app, folder);
  g_autofree char *prefix = g_strdup_printf("%s: ", strrchr(tmp, '/') + 1);
  g_autoptr(JsonNode) refused = app_wait(app, "the refusal", toast_starts, prefix, 30);
  JsonObject *r = json_node_get_object(refused);
  g_assert_cmpstr(json_object_get_string_member(r, "page"), ==, "chat");
  g_assert_cmpstr(json_object_get_string_member(r, "model"), ==, "tiny-a");
  g_autofree char *after_messages = json_to_string(json_object_get_member(r, "messages"), FALSE);
  g_assert_cmpstr(after_messages, ==, before_messages);
  type_text("Again");
  press("Return");
  g_autoptr(JsonNode) again = app_wait(app, "the second answer", answer_finished, GUINT_TO_POINTER(4), 60);
  g_assert_cmpstr(json_object_get_string_member(message(json_node_get_object(again), 3), "state"), ==, "done");
  app_quit(app);
  g_remove(link);
  g_remove(copy);
  g_rmdir(tmp);
}

/* A corrupt picture: a toast naming the file and the reason; the conversation and the draft stay. */
static void
test_corrupt_picture(void)
{
  App *app = start_with_tiny_model("8");
  g_autofree char *before_messages = answer_hello(app);
  /* Keys go through the X server, the drop through D-Bus: wait until the typing has arrived. */
  type_text("Look at this");
  json_node_unref(app_wait(app, "the typed text", draft_text_is, "Look at this", 20));
  g_autofree char *corrupt = vf_test_data_path("ui/corrupt.png");
  const char *files[] = {corrupt, NULL};
  app_drop(app, files);
  const char *toast = "corrupt.png: corrupt PNG: IDAT: invalid code lengths set";
  g_autoptr(JsonNode) after = app_wait(app, "the toast", toast_shown, toast, 20);
  JsonObject *a = json_node_get_object(after);
  g_autofree char *after_messages = json_to_string(json_object_get_member(a, "messages"), FALSE);
  g_assert_cmpstr(after_messages, ==, before_messages);
  g_assert_cmpuint(json_array_get_length(json_object_get_array_member(draft(a), "attachments")), ==, 0);
  g_assert_cmpstr(json_object_get_string_member(draft(a), "text"), ==, "Look at this");
  app_quit(app);
}

static gboolean
focus_is(JsonObject *dump, gconstpointer type_name)
{
  return g_strcmp0(json_object_get_string_member(dump, "focus"), type_name) == 0;
}

/* Esc on a chip's ⋮ menu gives the focus back to the message entry: what is typed next is the question, not a
 * new "Max pixels" value (and Enter then sends it rather than setting the menu's number). */
static void
test_chip_menu_focus(void)
{
  App *app = start_with_tiny_model("8");
  app_focus();
  g_autofree char *picture = vf_test_data_path("golden/cases/a04_two_images_vision_id/camera_gray_133x97.png");
  const char *files[] = {picture, NULL};
  app_drop(app, files);
  json_node_unref(app_wait(app, "the picture", draft_has, GUINT_TO_POINTER(1), 20));
  activate(app, "test-chip-menu", g_variant_new_uint32(0));
  json_node_unref(app_wait(app, "the menu's first field", focus_is, "GtkCheckButton", 20));
  screenshot("ui-chip-menu.png");
  press("Escape");
  json_node_unref(app_wait(app, "the message entry", focus_is, "GtkTextView", 20));
  type_text("What is this?");
  g_autoptr(JsonNode) typed = app_wait(app, "the typed question", draft_text_is, "What is this?", 20);
  JsonArray *attachments = json_object_get_array_member(draft(json_node_get_object(typed)), "attachments");
  g_assert_cmpuint(json_array_get_length(attachments), ==, 1);
  app_quit(app);
}

/* A folder that is not a model: its pictures are all attached in name order (read on worker threads, so the
 * window never waits), other files are ignored; a folder with nothing usable says so. */
static void
test_folder_of_pictures(void)
{
  App *app = start_with_tiny_model("8");
  g_autofree char *tmp = g_dir_make_tmp("vf-ui-folder-XXXXXX", NULL);
  g_autofree char *picture = vf_test_data_path("golden/cases/a04_two_images_vision_id/camera_gray_133x97.png");
  g_autofree char *bytes = NULL;
  gsize size = 0;
  g_assert_true(g_file_get_contents(picture, &bytes, &size, NULL));
  const guint count = 40;
  for (guint i = 0; i < count; i++) {
    g_autofree char *name = g_strdup_printf("%s/scan-%03u.png", tmp, i);
    g_assert_true(g_file_set_contents(name, bytes, (gssize)size, NULL));
  }
  g_autofree char *notes = g_build_filename(tmp, "notes.txt", NULL);
  g_assert_true(g_file_set_contents(notes, "not a picture", -1, NULL));
  const char *folder[] = {tmp, NULL};
  app_drop(app, folder);
  g_autofree char *toast = g_strdup_printf("Attaching %u pictures and videos from %s", count, strrchr(tmp, '/') + 1);
  json_node_unref(app_wait(app, "the folder toast", toast_shown, toast, 20));
  g_autoptr(JsonNode) all = app_wait(app, "every picture", draft_has, GUINT_TO_POINTER(count), 60);
  JsonArray *attachments = json_object_get_array_member(draft(json_node_get_object(all)), "attachments");
  JsonObject *last = json_array_get_object_element(attachments, count - 1);
  g_assert_cmpstr(json_object_get_string_member(last, "label"), ==, "Picture 40");
  g_assert_cmpstr(json_object_get_string_member(last, "name"), ==, "scan-039.png");

  g_autofree char *empty = g_dir_make_tmp("vf-ui-empty-XXXXXX", NULL);
  const char *nothing[] = {empty, NULL};
  app_drop(app, nothing);
  g_autofree char *refusal = g_strdup_printf("%s is not a model folder (no config.json) and holds no pictures or videos",
                                             strrchr(empty, '/') + 1);
  json_node_unref(app_wait(app, "the refusal", toast_shown, refusal, 20));
  app_quit(app);
  for (guint i = 0; i < count; i++) {
    g_autofree char *name = g_strdup_printf("%s/scan-%03u.png", tmp, i);
    g_remove(name);
  }
  g_remove(notes);
  g_rmdir(tmp);
  g_rmdir(empty);
}

static gboolean
weights_arriving(JsonObject *dump, gconstpointer data)
{
  JsonObject *download = json_object_get_object_member(dump, "download");
  return download && g_strcmp0(json_object_get_string_member(download, "state"), "running") == 0 &&
         g_strcmp0(json_object_get_string_member(download, "file"), "model.safetensors") == 0 &&
         json_object_get_int_member(download, "done") > 5000000;
}

/* The first row (the served repository) shows its fit hint, planned from the config.json the hub lists. */
static gboolean
first_row_fit_known(JsonObject *dump, gconstpointer data)
{
  JsonObject *download = json_object_get_object_member(dump, "download");
  if (!download)
    return FALSE;
  JsonArray *rows = json_object_get_array_member(download, "rows");
  return json_array_get_length(rows) > 0 &&
         !json_object_get_null_member(json_array_get_object_element(rows, 0), "fit");
}

/* "Get Models": a model downloaded from a hub (an imitation on 127.0.0.1 serving tiny-a and the tokenizer as
 * Qwen/Qwen2-VL-2B-Instruct, its weights over a slow link) with progress shown, into the cache layout, then
 * loaded and asked; the answer is the command line's for the downloaded folder. */
static void
test_get_models(void)
{
  g_autofree char *tiny = vf_test_data_path("models/tiny-a"), *tok = vf_test_data_path("tokenizer");
  g_autofree char *config = g_build_filename(tiny, "config.json", NULL);
  g_autofree char *generation = g_build_filename(tiny, "generation_config.json", NULL);
  g_autofree char *preprocessor = g_build_filename(tiny, "preprocessor_config.json", NULL);
  g_autofree char *weights = g_build_filename(tiny, "model.safetensors", NULL);
  g_autofree char *tokenizer = g_build_filename(tok, "tokenizer.json", NULL);
  g_autofree char *tokenizer_config = g_build_filename(tok, "tokenizer_config.json", NULL);
  g_autofree char *chat_template = g_build_filename(tok, "chat_template.json", NULL);
  const char *files[] = {"config.json", config, "generation_config.json", generation,
                         "preprocessor_config.json", preprocessor, "model.safetensors", weights,
                         "tokenizer.json", tokenizer, "tokenizer_config.json", tokenizer_config,
                         "chat_template.json", chat_template, NULL};
  const char *commit = "89abcdef0123456789abcdef0123456789abcdef";
  VfTestHub *hub = vf_test_hub_start("Qwen/Qwen2-VL-2B-Instruct", commit, files);
  vf_test_hub_slow(hub, "model.safetensors", 256 << 10, 50); /* 5 MB/s: 4 s for the weights */
  g_autofree char *endpoint = vf_test_hub_endpoint(hub);
  g_autofree char *home = g_dir_make_tmp("vf-ui-hf-XXXXXX", NULL);
  g_autofree char *cache = g_build_filename(home, "hub", NULL);
  const char *env[] = {"HF_ENDPOINT", endpoint, "HF_HOME", home, "HF_HUB_CACHE", cache, NULL};
  const char *args[] = {"--max-new-tokens", "8", NULL};
  App *app = app_start_with_env(args, env);
  json_node_unref(app_wait(app, "the welcome page", page_is, "welcome", 20));

  /* Before downloading: the row says the model fits this GPU, at the longest context the app offers. */
  activate(app, "test-download", g_variant_new_string(""));
  g_autoptr(JsonNode) listed = app_wait(app, "the fit hint", first_row_fit_known, NULL, 60);
  JsonObject *first = json_array_get_object_element(
    json_object_get_array_member(json_object_get_object_member(json_node_get_object(listed), "download"), "rows"), 0);
  g_test_message("%s: %s", json_object_get_string_member(first, "repo"), json_object_get_string_member(first, "subtitle"));
  g_assert_cmpstr(json_object_get_string_member(first, "repo"), ==, "Qwen/Qwen2-VL-2B-Instruct");
  g_assert_true(g_str_has_prefix(json_object_get_string_member(first, "fit"), "fits with a 32768-token context ("));
  g_assert_nonnull(strstr(json_object_get_string_member(first, "subtitle"), " · fits with a 32768-token context"));
  screenshot("ui-get-models.png");

  activate(app, "test-download", g_variant_new_string("Qwen/Qwen2-VL-2B-Instruct"));
  g_autoptr(JsonNode) arriving = app_wait(app, "the weights to arrive", weights_arriving, NULL, 60);
  JsonObject *download = json_object_get_object_member(json_node_get_object(arriving), "download");
  g_assert_cmpstr(json_object_get_string_member(download, "title"), ==, "Downloading Qwen2-VL-2B-Instruct");
  g_assert_cmpint(json_object_get_int_member(download, "total"), >, 20000000);
  screenshot("ui-download.png");

  g_autoptr(JsonNode) loaded = app_wait(app, "the downloaded model to load", model_ready, NULL, 90);
  JsonObject *l = json_node_get_object(loaded);
  g_assert_cmpstr(json_object_get_string_member(l, "model"), ==, "Qwen2-VL-2B-Instruct");
  g_assert_true(json_object_get_null_member(l, "download")); /* the dialog closed itself */
  g_assert_cmpuint(vf_test_hub_log_count(hub, "cdn GET /blobs/"), ==, 1);

  g_autofree char *snapshot = g_build_filename(cache, "models--Qwen--Qwen2-VL-2B-Instruct", "snapshots", commit, NULL);
  g_autofree char *link = g_build_filename(snapshot, "model.safetensors", NULL);
  g_autofree char *target = g_file_read_link(link, NULL);
  g_assert_nonnull(target);
  g_assert_true(g_str_has_prefix(target, "../../blobs/"));

  app_focus();
  const char *question = "What can you do?";
  type_text(question);
  press("Return");
  g_autoptr(JsonNode) answered = app_wait(app, "the answer", answer_finished, GUINT_TO_POINTER(2), 120);
  JsonObject *reply = message(json_node_get_object(answered), 1);
  g_assert_cmpstr(json_object_get_string_member(reply, "state"), ==, "done");
  const char *argv[] = {g_getenv("VF_CLI"), "chat", "-m", snapshot, "--max-new-tokens", "8", "-p", question, NULL};
  g_autofree char *expected = run(argv);
  g_strchomp(expected);
  g_assert_cmpstr(json_object_get_string_member(reply, "text"), ==, expected);
  assert_no_validation_messages(json_node_get_object(answered));
  app_quit(app);
  vf_test_hub_stop(hub);
  const char *rm[] = {"rm", "-rf", home, NULL};
  g_free(run(rm));
}

static gboolean
conversations_listed(JsonObject *dump, gconstpointer n)
{
  return json_array_get_length(json_object_get_array_member(dump, "conversations")) >= GPOINTER_TO_UINT(n);
}

/* The reopened question shows its stored picture (thumbnail made) and the answer its stored stats. */
static gboolean
reopened(JsonObject *dump, gconstpointer unused)
{
  if (json_array_get_length(messages(dump)) != 2)
    return FALSE;
  JsonArray *attachments = json_object_get_array_member(message(dump, 0), "attachments");
  return json_array_get_length(attachments) == 1 &&
         json_object_get_boolean_member(json_array_get_object_element(attachments, 0), "thumbnail") &&
         json_object_get_int_member(message(dump, 1), "tokens") > 0;
}

/* A conversation kept from an earlier run, opened from the sidebar: the chat view shows the engine's
 * conversation — the question with its picture (the stored copy, labelled and named as it was attached) and the
 * answer with its token count — and a follow-up is answered as `viewfinder-cli chat --messages` answers the
 * whole conversation. */
static void
test_reopen_conversation(void)
{
  g_autofree char *data_home = g_dir_make_tmp("vf-ui-reopen-XXXXXX", NULL);
  const char *env[] = {"XDG_DATA_HOME", data_home, NULL};
  g_autofree char *model = vf_test_data_path("models/tiny-a");
  g_autofree char *tokenizer = vf_test_data_path("tokenizer");
  const char *args[] = {"--model", model, "--tokenizer", tokenizer, "--max-new-tokens", "12", NULL};
  g_autofree char *picture = vf_test_data_path("golden/cases/a04_two_images_vision_id/camera_gray_133x97.png");
  const char *question = "What is in Picture 1?";

  App *app = app_start_with_env(args, env);
  json_node_unref(app_wait(app, "the model to load", model_ready, NULL, 60));
  app_focus();
  const char *files[] = {picture, NULL};
  app_drop(app, files);
  json_node_unref(app_wait(app, "the picture", draft_has, GUINT_TO_POINTER(1), 20));
  type_text(question);
  json_node_unref(app_wait(app, "the typed text", draft_text_is, question, 20));
  press("Return");
  g_autoptr(JsonNode) first_run = app_wait(app, "the answer", answer_finished, GUINT_TO_POINTER(2), 90);
  g_autofree char *answer = g_strdup(json_object_get_string_member(message(json_node_get_object(first_run), 1), "text"));
  app_quit(app);

  app = app_start_with_env(args, env);
  json_node_unref(app_wait(app, "the model to load", model_ready, NULL, 60));
  g_autoptr(JsonNode) listed = app_wait(app, "the kept conversation", conversations_listed, GUINT_TO_POINTER(1), 20);
  g_assert_cmpuint(json_array_get_length(messages(json_node_get_object(listed))), ==, 0);
  activate(app, "test-open-conversation", g_variant_new_uint32(0));
  g_autoptr(JsonNode) opened = app_wait(app, "the reopened conversation", reopened, NULL, 30);
  JsonObject *o = json_node_get_object(opened);
  g_assert_cmpstr(json_object_get_string_member(message(o, 0), "text"), ==, question);
  JsonObject *chip = json_array_get_object_element(json_object_get_array_member(message(o, 0), "attachments"), 0);
  g_assert_cmpstr(json_object_get_string_member(chip, "label"), ==, "Picture 1");
  g_assert_cmpstr(json_object_get_string_member(chip, "name"), ==, "camera_gray_133x97.png");
  g_assert_cmpstr(json_object_get_string_member(message(o, 1), "text"), ==, answer);
  g_assert_cmpstr(json_object_get_string_member(message(o, 1), "state"), ==, "done");
  screenshot("ui-reopened.png");

  app_focus();
  const char *follow_up = "And the colours?";
  type_text(follow_up);
  json_node_unref(app_wait(app, "the typed follow-up", draft_text_is, follow_up, 20));
  press("Return");
  g_autoptr(JsonNode) answered = app_wait(app, "the follow-up answer", answer_finished, GUINT_TO_POINTER(4), 90);
  JsonObject *a = json_node_get_object(answered);
  g_autofree char *all_labels = labels(json_object_get_array_member(message(a, 0), "attachments"));
  g_assert_cmpstr(all_labels, ==, "Picture 1");

  /* The same conversation from the command line. */
  g_autofree char *file = g_build_filename(data_home, "conversation.json", NULL);
  write_messages(file, picture, question, answer, follow_up);
  const char *argv[] = {g_getenv("VF_CLI"), "chat", "-m", model, "--tokenizer", tokenizer, "--label-media",
                        "--max-new-tokens", "12", "--messages", file, NULL};
  g_autofree char *expected = run(argv);
  g_strchomp(expected);
  g_assert_cmpstr(json_object_get_string_member(message(a, 3), "text"), ==, expected);
  assert_no_validation_messages(a);
  app_quit(app);
  const char *rm[] = {"rm", "-rf", data_home, NULL};
  g_free(run(rm));
}

/* Export: Markdown with the picture copied beside it, and JSON messages that `viewfinder-cli chat --messages`
 * replays (without the answer) to the window's answer. */
static void
test_export(void)
{
  App *app = start_with_tiny_model("12");
  g_autofree char *picture = vf_test_data_path("golden/cases/a04_two_images_vision_id/camera_gray_133x97.png");
  const char *files[] = {picture, NULL};
  app_drop(app, files);
  json_node_unref(app_wait(app, "the picture", draft_has, GUINT_TO_POINTER(1), 20));
  const char *question = "What is in Picture 1?";
  type_text(question);
  json_node_unref(app_wait(app, "the typed text", draft_text_is, question, 20));
  press("Return");
  g_autoptr(JsonNode) answered = app_wait(app, "the answer", answer_finished, GUINT_TO_POINTER(2), 90);
  const char *answer = json_object_get_string_member(message(json_node_get_object(answered), 1), "text");

  g_autofree char *dir = g_dir_make_tmp("vf-ui-export-XXXXXX", NULL);
  g_autofree char *md_path = g_build_filename(dir, "Chat (1).md", NULL);
  activate(app, "test-export", g_variant_new_string(md_path));
  json_node_unref(app_wait(app, "the Markdown export", toast_shown, "Exported to Chat (1).md", 20));
  g_autofree char *md = NULL;
  g_assert_true(g_file_get_contents(md_path, &md, NULL, NULL));
  g_test_message("%s", md);
  g_autofree char *want = g_strdup_printf("## You\n\n![Picture 1: camera_gray_133x97.png](Chat%%20%%281%%29_files/"
                                          "1-camera_gray_133x97.png)\n\n%s\n\n## Viewfinder\n\n%s\n",
                                          question, answer);
  g_assert_true(g_str_has_prefix(md, "# "));
  g_assert_cmpstr(strchr(md, '\n') + 2, ==, want);
  g_autofree char *copy = g_build_filename(dir, "Chat (1)_files", "1-camera_gray_133x97.png", NULL);
  g_autofree char *original_bytes = NULL, *copied_bytes = NULL;
  gsize original_size = 0, copied_size = 0;
  g_assert_true(g_file_get_contents(picture, &original_bytes, &original_size, NULL));
  g_assert_true(g_file_get_contents(copy, &copied_bytes, &copied_size, NULL));
  g_assert_cmpmem(copied_bytes, copied_size, original_bytes, original_size);

  g_autofree char *json_path = g_build_filename(dir, "chat.json", NULL);
  activate(app, "test-export", g_variant_new_string(json_path));
  json_node_unref(app_wait(app, "the JSON export", toast_shown, "Exported to chat.json", 20));
  g_autoptr(JsonParser) parser = json_parser_new();
  g_assert_true(json_parser_load_from_file(parser, json_path, NULL));
  JsonArray *exported = json_node_get_array(json_parser_get_root(parser));
  g_assert_cmpuint(json_array_get_length(exported), ==, 2);
  /* The question alone, replayed, gives the window's answer. */
  json_array_remove_element(exported, 1);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  json_generator_set_root(gen, json_parser_get_root(parser));
  g_autofree char *replay = g_build_filename(dir, "replay.json", NULL);
  g_assert_true(json_generator_to_file(gen, replay, NULL));
  g_autofree char *model = vf_test_data_path("models/tiny-a");
  g_autofree char *tokenizer = vf_test_data_path("tokenizer");
  const char *argv[] = {g_getenv("VF_CLI"), "chat", "-m", model, "--tokenizer", tokenizer, "--label-media",
                        "--max-new-tokens", "12", "--messages", replay, NULL};
  g_autofree char *expected = run(argv);
  g_strchomp(expected);
  g_assert_cmpstr(answer, ==, expected);

  /* A folder that does not exist: a toast says why, for both forms. */
  g_autofree char *nowhere = g_build_filename(dir, "missing", "x.md", NULL);
  activate(app, "test-export", g_variant_new_string(nowhere));
  json_node_unref(app_wait(app, "the refusal", toast_starts, "Could not export to x.md: ", 20));
  g_autofree char *nowhere_json = g_build_filename(dir, "missing", "x.json", NULL);
  activate(app, "test-export", g_variant_new_string(nowhere_json));
  json_node_unref(app_wait(app, "the refusal", toast_starts, "Could not export to x.json: ", 20));
  app_quit(app);
  const char *rm[] = {"rm", "-rf", dir, NULL};
  g_free(run(rm));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  /* Each run starts with no kept conversations (the app keeps them in $XDG_DATA_HOME/viewfinder). */
  g_autofree char *data_home = g_dir_make_tmp("vf-ui-data-XXXXXX", NULL);
  g_assert_nonnull(data_home);
  g_setenv("XDG_DATA_HOME", data_home, TRUE);
  g_test_add_func("/ui/startup", test_startup);
  g_test_add_func("/ui/welcome", test_welcome);
  g_test_add_func("/ui/picture-and-video", test_picture_and_video);
  g_test_add_func("/ui/quantized-model", test_quantized_model);
  g_test_add_func("/ui/stop-and-ask-again", test_stop_and_ask_again);
  g_test_add_func("/ui/stop-during-encode", test_stop_during_encode);
  g_test_add_func("/ui/new-chat-during-answer", test_new_chat_during_answer);
  g_test_add_func("/ui/continue-cut-answer", test_continue_cut_answer);
  g_test_add_func("/ui/edit-regenerate-delete", test_edit_regenerate_delete);
  g_test_add_func("/ui/paste-picture", test_paste_picture);
  g_test_add_func("/ui/preferences", test_preferences);
  g_test_add_func("/ui/fit-to-context", test_fit_to_context);
  g_test_add_func("/ui/carry-over", test_carry_over);
  g_test_add_func("/ui/corrupt-picture", test_corrupt_picture);
  g_test_add_func("/ui/chip-menu-focus", test_chip_menu_focus);
  g_test_add_func("/ui/broken-model-folder", test_broken_model_folder);
  g_test_add_func("/ui/folder-of-pictures", test_folder_of_pictures);
  g_test_add_func("/ui/get-models", test_get_models);
  g_test_add_func("/ui/reopen-conversation", test_reopen_conversation);
  g_test_add_func("/ui/export", test_export);
  int status = g_test_run();
  const char *rm[] = {"rm", "-rf", data_home, NULL};
  g_spawn_sync(NULL, (char **)rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
  return status;
}
