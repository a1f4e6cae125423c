/* viewfinder-cli serve over real HTTP on 127.0.0.1 with tiny-a: answers equal `viewfinder-cli chat --messages`
 * and the reference's greedy answers (golden cases), streaming, every bad input of issue 16 with its status and
 * the next request answered, concurrent clients, a client that goes away, a full queue, and a bounded load. */
#include <gio/gio.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>

#include "vf_test_data.h"
#include "vf_test_server.h"

#define API_KEY "test-key-0123456789"

typedef struct {
  GSubprocess *proc;
  guint port;
} Server;

/* Starts `viewfinder-cli serve` on tiny-a, port 0, with `extra` arguments; waits for its "listening on" line. */
static Server *
server_start(const char *const *extra)
{
  g_autofree char *model = vf_test_model_path("tiny-a");
  g_autofree char *tokenizer = vf_test_data_path("tokenizer");
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  const char *fixed[] = {g_getenv("VF_CLI"), "serve", "-m", model, "--tokenizer", tokenizer, "--port", "0"};
  for (size_t i = 0; i < G_N_ELEMENTS(fixed); i++)
    g_ptr_array_add(argv, (gpointer)fixed[i]);
  for (int i = 0; extra && extra[i]; i++)
    g_ptr_array_add(argv, (gpointer)extra[i]);
  g_ptr_array_add(argv, NULL);
  g_autoptr(GError) error = NULL;
  Server *s = g_new0(Server, 1);
  s->proc = g_subprocess_newv((const char *const *)argv->pdata, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  g_assert_no_error(error);
  g_autoptr(GDataInputStream) out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(s->proc));
  g_autofree char *line = g_data_input_stream_read_line_utf8(out, NULL, NULL, &error);
  g_assert_no_error(error);
  g_assert_nonnull(line);
  g_assert_true(g_str_has_prefix(line, "listening on http://127.0.0.1:"));
  s->port = (guint)atoi(strrchr(line, ':') + 1);
  g_assert_cmpuint(s->port, >, 0);
  return s;
}

static void
server_stop(Server *s)
{
  g_subprocess_send_signal(s->proc, SIGTERM);
  g_autoptr(GError) error = NULL;
  g_assert_true(g_subprocess_wait(s->proc, NULL, &error));
  g_assert_no_error(error);
  g_assert_true(g_subprocess_get_if_exited(s->proc));
  g_assert_cmpint(g_subprocess_get_exit_status(s->proc), ==, 0);
  g_object_unref(s->proc);
  g_free(s);
}

/* One request on a session of its own; returns the body (NUL-terminated) and the status. */
static char *
request(const Server *s, const char *method, const char *path, const char *key, GBytes *body, gboolean expect_continue,
        guint *status)
{
  g_autoptr(SoupSession) session = soup_session_new_with_options("timeout", 120, NULL);
  g_autofree char *url = g_strdup_printf("http://127.0.0.1:%u%s", s->port, path);
  g_autoptr(SoupMessage) msg = soup_message_new(method, url);
  SoupMessageHeaders *headers = soup_message_get_request_headers(msg);
  if (key) {
    g_autofree char *auth = g_strdup_printf("Bearer %s", key);
    soup_message_headers_replace(headers, "Authorization", auth);
  }
  if (expect_continue)
    soup_message_headers_set_expectations(headers, SOUP_EXPECTATION_CONTINUE);
  if (body)
    soup_message_set_request_body_from_bytes(msg, "application/json", body);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) reply = soup_session_send_and_read(session, msg, NULL, &error);
  g_assert_no_error(error);
  *status = soup_message_get_status(msg);
  gsize len;
  const char *data = g_bytes_get_data(reply, &len);
  return g_strndup(data, len);
}

static char *
post(const Server *s, const char *json, guint *status)
{
  g_autoptr(GBytes) body = g_bytes_new(json, strlen(json));
  return request(s, "POST", "/v1/chat/completions", API_KEY, body, FALSE, status);
}

static JsonObject *
parse_object(JsonParser *parser, const char *text)
{
  g_autoptr(GError) error = NULL;
  json_parser_load_from_data(parser, text, -1, &error);
  g_assert_no_error(error);
  g_assert_true(JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)));
  return json_node_get_object(json_parser_get_root(parser));
}

typedef struct {
  char *content;
  char *finish_reason;
  gint64 prompt_tokens, completion_tokens, total_tokens, cached_tokens;
} Answer;

static void
answer_clear(Answer *a)
{
  g_free(a->content);
  g_free(a->finish_reason);
}

/* A non-streamed answer that must be 200. */
static void
ask(const Server *s, const char *json, Answer *a)
{
  guint status;
  g_autofree char *reply = post(s, json, &status);
  if (status != 200)
    g_error("status %u: %s", status, reply);
  g_autoptr(JsonParser) parser = json_parser_new();
  JsonObject *obj = parse_object(parser, reply);
  g_assert_cmpstr(json_object_get_string_member(obj, "object"), ==, "chat.completion");
  g_assert_cmpstr(json_object_get_string_member(obj, "model"), ==, "tiny-a");
  g_assert_true(g_str_has_prefix(json_object_get_string_member(obj, "id"), "chatcmpl-"));
  JsonArray *choices = json_object_get_array_member(obj, "choices");
  g_assert_cmpuint(json_array_get_length(choices), ==, 1);
  JsonObject *choice = json_array_get_object_element(choices, 0);
  JsonObject *message = json_object_get_object_member(choice, "message");
  g_assert_cmpstr(json_object_get_string_member(message, "role"), ==, "assistant");
  a->content = g_strdup(json_object_get_string_member(message, "content"));
  a->finish_reason = g_strdup(json_object_get_string_member(choice, "finish_reason"));
  JsonObject *usage = json_object_get_object_member(obj, "usage");
  a->prompt_tokens = json_object_get_int_member(usage, "prompt_tokens");
  a->completion_tokens = json_object_get_int_member(usage, "completion_tokens");
  a->total_tokens = json_object_get_int_member(usage, "total_tokens");
  a->cached_tokens = json_object_get_int_member(json_object_get_object_member(usage, "prompt_tokens_details"),
                                                "cached_tokens");
}

/* A streamed answer: every event parsed; the content concatenated; the usage chunk when include_usage. */
static void
ask_streaming(const Server *s, const char *json, gboolean include_usage, Answer *a)
{
  guint status;
  g_autofree char *reply = post(s, json, &status);
  g_assert_cmpuint(status, ==, 200);
  g_auto(GStrv) events = g_strsplit(reply, "\n\n", -1);
  guint n = g_strv_length(events);
  g_assert_cmpuint(n, >=, 4);
  g_assert_cmpstr(events[n - 1], ==, "");
  g_assert_cmpstr(events[n - 2], ==, "data: [DONE]");
  GString *content = g_string_new(NULL);
  guint content_chunks = 0;
  for (guint i = 0; i + 2 < n; i++) {
    g_assert_true(g_str_has_prefix(events[i], "data: "));
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *obj = parse_object(parser, events[i] + 6);
    g_assert_cmpstr(json_object_get_string_member(obj, "object"), ==, "chat.completion.chunk");
    JsonArray *choices = json_object_get_array_member(obj, "choices");
    if (include_usage && i + 3 == n) { /* the last event before [DONE]: usage, no choices */
      g_assert_cmpuint(json_array_get_length(choices), ==, 0);
      JsonObject *usage = json_object_get_object_member(obj, "usage");
      a->prompt_tokens = json_object_get_int_member(usage, "prompt_tokens");
      a->completion_tokens = json_object_get_int_member(usage, "completion_tokens");
      a->total_tokens = json_object_get_int_member(usage, "total_tokens");
      continue;
    }
    g_assert_cmpuint(json_array_get_length(choices), ==, 1);
    if (include_usage)
      g_assert_true(json_node_is_null(json_object_get_member(obj, "usage")));
    JsonObject *choice = json_array_get_object_element(choices, 0);
    JsonObject *delta = json_object_get_object_member(choice, "delta");
    /* The role comes with the first chunk only. */
    g_assert_cmpint(json_object_has_member(delta, "role"), ==, i == 0);
    if (json_object_has_member(delta, "content")) {
      g_string_append(content, json_object_get_string_member(delta, "content"));
      content_chunks++;
    }
    JsonNode *finish = json_object_get_member(choice, "finish_reason");
    if (!json_node_is_null(finish)) {
      g_assert_cmpuint(i + (include_usage ? 4 : 3), ==, n); /* only the last choice chunk */
      a->finish_reason = g_strdup(json_node_get_string(finish));
    }
  }
  g_assert_nonnull(a->finish_reason);
  g_assert_cmpuint(content_chunks, >, 1); /* streamed, not one piece */
  a->content = g_string_free(content, FALSE);
}

/* ---- the golden conversations as requests ---------------------------------------------------------------- */

typedef enum {
  MEDIA_DATA_URI,
  MEDIA_HTTP,
} MediaForm;

static void
serve_picture(SoupServer *soup, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user)
{
  g_autofree char *file = vf_test_data_path("golden/cases/a02_image_photo/chelsea.png");
  gchar *data;
  gsize len;
  if (strcmp(path, "/chelsea.png") != 0 || !g_file_get_contents(file, &data, &len, NULL)) {
    soup_server_message_set_status(msg, 404, NULL);
    return;
  }
  soup_server_message_set_status(msg, 200, NULL);
  soup_server_message_set_response(msg, "image/png", SOUP_MEMORY_TAKE, data, len);
}

static char *
data_uri(const char *case_dir, const char *name)
{
  g_autofree char *path = g_build_filename(case_dir, name, NULL);
  gchar *data;
  gsize len;
  g_assert_true(g_file_get_contents(path, &data, &len, NULL));
  g_autofree char *b64 = g_base64_encode((const guchar *)data, len);
  g_free(data);
  return g_strdup_printf("data:image/png;base64,%s", b64);
}

/* The case's messages with every picture and frame as a data: URI (or, for MEDIA_HTTP, a picture at `http`). */
static char *
case_messages(const char *case_name, MediaForm form, const char *http, char **decoded, gint64 *seq_len)
{
  g_autofree char *rel = g_build_filename("golden/cases", case_name, NULL);
  g_autofree char *dir = vf_test_data_path(rel);
  g_autofree char *file = g_build_filename(dir, "case.json", NULL);
  g_autoptr(JsonParser) parser = json_parser_new();
  g_assert_true(json_parser_load_from_file(parser, file, NULL));
  JsonObject *c = json_node_get_object(json_parser_get_root(parser));
  *decoded = g_strdup(json_object_get_string_member(json_object_get_object_member(c, "generation"), "decoded"));
  *seq_len = json_object_get_int_member(c, "seq_len");
  JsonArray *messages = json_object_get_array_member(c, "messages");
  for (guint m = 0; m < json_array_get_length(messages); m++) {
    JsonNode *content = json_object_get_member(json_array_get_object_element(messages, m), "content");
    if (!JSON_NODE_HOLDS_ARRAY(content))
      continue;
    JsonArray *parts = json_node_get_array(content);
    for (guint p = 0; p < json_array_get_length(parts); p++) {
      JsonObject *part = json_array_get_object_element(parts, p);
      if (json_object_has_member(part, "image")) {
        g_autofree char *source = form == MEDIA_HTTP ? g_strdup(http)
                                                     : data_uri(dir, json_object_get_string_member(part, "image"));
        json_object_set_string_member(part, "image", source);
      } else if (json_object_has_member(part, "video")) {
        JsonArray *frames = json_object_get_array_member(part, "video");
        JsonArray *uris = json_array_new();
        for (guint f = 0; f < json_array_get_length(frames); f++) {
          g_autofree char *uri = data_uri(dir, json_array_get_string_element(frames, f));
          json_array_add_string_element(uris, uri);
        }
        json_object_set_array_member(part, "video", uris);
      }
    }
  }
  g_autoptr(JsonGenerator) gen = json_generator_new();
  json_generator_set_root(gen, json_object_get_member(c, "messages"));
  return json_generator_to_data(gen, NULL);
}

/* `viewfinder-cli chat --messages` on the same messages: its stdout. */
static char *
cli_answer(const char *messages)
{
  g_autofree char *dir = g_dir_make_tmp("vf-serve-XXXXXX", NULL);
  g_autofree char *file = g_build_filename(dir, "messages.json", NULL);
  g_assert_true(g_file_set_contents(file, messages, -1, NULL));
  g_autofree char *model = vf_test_model_path("tiny-a");
  g_autofree char *tokenizer = vf_test_data_path("tokenizer");
  const char *argv[] = {g_getenv("VF_CLI"), "chat", "-m", model, "--tokenizer", tokenizer, "--max-new-tokens", "16",
                        "--messages", file, NULL};
  char *out = NULL;
  int status;
  g_autoptr(GError) error = NULL;
  g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL, &status,
                             &error));
  g_assert_no_error(error);
  g_assert_true(g_spawn_check_wait_status(status, NULL));
  g_assert_cmpint(g_unlink(file), ==, 0);
  g_assert_cmpint(g_rmdir(dir), ==, 0);
  return out;
}

static Server *main_server;
static VfTestServer *picture_server;

static Server *
the_server(void)
{
  if (!main_server) {
    const char *extra[] = {"--api-key", API_KEY, "--max-concurrent", "4", "--context", "512", "--max-tokens", "4000",
                           NULL};
    main_server = server_start(extra);
  }
  return main_server;
}

/* Text, a data: picture, an http picture, a frame-list video and a multi-turn conversation: the server's
 * greedy answer is the CLI's and the reference's, with the reference's prompt length; streamed, the chunks
 * concatenate to the same text with the same usage. */
static void
test_answers_equal_chat(void)
{
  Server *s = the_server();
  g_autofree char *picture_url = vf_test_server_url(picture_server, "/chelsea.png");
  const struct {
    const char *name;
    MediaForm form;
  } cases[] = {
    {"a01_text_only", MEDIA_DATA_URI},  {"a02_image_photo", MEDIA_DATA_URI}, {"a02_image_photo", MEDIA_HTTP},
    {"a05_video_frames", MEDIA_DATA_URI}, {"a07_multi_turn", MEDIA_DATA_URI},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *decoded = NULL;
    gint64 seq_len;
    g_autofree char *messages = case_messages(cases[i].name, cases[i].form, picture_url, &decoded, &seq_len);
    g_test_message("%s (%s)", cases[i].name, cases[i].form == MEDIA_HTTP ? "http" : "data:");
    g_autofree char *cli = cli_answer(messages);
    g_autofree char *want_cli = g_strdup_printf("%s\n", decoded);
    g_assert_cmpstr(cli, ==, want_cli);

    g_autofree char *body = g_strdup_printf("{\"model\": \"tiny-a\", \"messages\": %s, \"max_tokens\": 16, "
                                            "\"temperature\": 0}", messages);
    Answer a = {0};
    ask(s, body, &a);
    g_assert_cmpstr(a.content, ==, decoded);
    g_assert_cmpstr(a.finish_reason, ==, "length");
    g_assert_cmpint(a.prompt_tokens, ==, seq_len);
    g_assert_cmpint(a.completion_tokens, ==, 16);
    g_assert_cmpint(a.total_tokens, ==, seq_len + 16);
    answer_clear(&a);

    g_autofree char *streamed = g_strdup_printf("{\"messages\": %s, \"max_completion_tokens\": 16, \"temperature\": 0, "
                                                "\"stream\": true, \"stream_options\": {\"include_usage\": true}}",
                                                messages);
    Answer b = {0};
    ask_streaming(s, streamed, TRUE, &b);
    g_assert_cmpstr(b.content, ==, decoded);
    g_assert_cmpstr(b.finish_reason, ==, "length");
    g_assert_cmpint(b.prompt_tokens, ==, seq_len);
    g_assert_cmpint(b.completion_tokens, ==, 16);
    g_assert_cmpint(b.total_tokens, ==, seq_len + 16);
    answer_clear(&b);
  }
}

/* /v1/models, /health, a stop string (in the text, not sent, finish_reason stop) and a streamed answer without
 * include_usage. */
static void
test_models_health_stop(void)
{
  Server *s = the_server();
  guint status;
  g_autofree char *models = request(s, "GET", "/v1/models", API_KEY, NULL, FALSE, &status);
  g_assert_cmpuint(status, ==, 200);
  g_autoptr(JsonParser) parser = json_parser_new();
  JsonObject *list = parse_object(parser, models);
  g_assert_cmpstr(json_object_get_string_member(list, "object"), ==, "list");
  JsonArray *data = json_object_get_array_member(list, "data");
  g_assert_cmpuint(json_array_get_length(data), ==, 1);
  g_assert_cmpstr(json_object_get_string_member(json_array_get_object_element(data, 0), "id"), ==, "tiny-a");
  g_autofree char *health = request(s, "GET", "/health", API_KEY, NULL, FALSE, &status);
  g_assert_cmpuint(status, ==, 200);
  g_assert_true(g_str_has_prefix(health, "{\"status\":\"ok\""));

  /* a01's greedy answer is "-des늑货币政策 polygon polygon …": stop at " polygon". */
  const char *stop = "{\"messages\": [{\"role\": \"user\", \"content\": \"Write a haiku about the sea.\"}], "
                     "\"max_tokens\": 16, \"temperature\": 0, \"stop\": [\"xyz\", \" polygon\"]";
  g_autofree char *plain = g_strdup_printf("%s}", stop);
  Answer a = {0};
  ask(s, plain, &a);
  g_assert_cmpstr(a.content, ==, "-des늑货币政策");
  g_assert_cmpstr(a.finish_reason, ==, "stop");
  g_assert_cmpint(a.completion_tokens, <, 16);
  g_autofree char *streamed = g_strdup_printf("%s, \"stream\": true}", stop);
  Answer b = {0};
  ask_streaming(s, streamed, FALSE, &b);
  g_assert_cmpstr(b.content, ==, a.content);
  g_assert_cmpstr(b.finish_reason, ==, "stop");
  answer_clear(&a);
  answer_clear(&b);
}

/* Each bad input of the list gets its status and a message saying what is wrong, and a good request
 * right after it is answered. */
static void
test_bad_input(void)
{
  Server *s = the_server();
  g_autofree char *missing_url = vf_test_server_url(picture_server, "/missing.png");
  GString *long_prompt = g_string_new(NULL);
  for (int i = 0; i < 600; i++)
    g_string_append(long_prompt, "sea ");
  g_autofree char *missing_picture = g_strdup_printf(
    "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"%s\"}}]}]}",
    missing_url);
  g_autofree char *over_context = g_strdup_printf("{\"messages\": [{\"role\": \"user\", \"content\": \"%s\"}]}",
                                                  long_prompt->str);
  g_string_free(long_prompt, TRUE);
  const struct {
    const char *body, *key;
    guint status;
    const char *message;
  } bad[] = {
    {"{\"messages\": [", API_KEY, 400, "the body is not JSON"},
    {"[1, 2]", API_KEY, 400, "the body is not a JSON object"},
    {"{\"messages\": \"hi\"}", API_KEY, 400, "messages: not a list"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": \"8\"}", API_KEY, 400,
     "\"max_tokens\" is not a number"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"stream\": 1}", API_KEY, 400,
     "\"stream\" is not true or false"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"input_audio\"}]}]}", API_KEY, 400,
     "message 0, part 0: unknown part type \"input_audio\""},
    {"{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"n\": 2}", API_KEY, 400, "\"n\" must be 1"},
    {"{\"model\": \"gpt-4o\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", API_KEY, 404,
     "the model \"gpt-4o\" does not exist here"},
    {missing_picture, API_KEY, 422, "404"},
    {over_context, API_KEY, 400, "prompt tokens but the context holds 512"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", "wrong-key", 401, "the API key is wrong"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", NULL, 401, "an API key is needed"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image\", \"image\": \"file:///etc/passwd\"}]}]}",
     API_KEY, 400, "local files are off"},
  };
  const char *good = "{\"messages\": [{\"role\": \"user\", \"content\": \"Write a haiku about the sea.\"}], "
                     "\"max_tokens\": 3, \"temperature\": 0}";
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    guint status;
    g_autoptr(GBytes) body = g_bytes_new(bad[i].body, strlen(bad[i].body));
    g_autofree char *reply = request(s, "POST", "/v1/chat/completions", bad[i].key, body, FALSE, &status);
    g_test_message("%u %s", status, reply);
    g_assert_cmpuint(status, ==, bad[i].status);
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *error = json_object_get_object_member(parse_object(parser, reply), "error");
    g_assert_nonnull(strstr(json_object_get_string_member(error, "message"), bad[i].message));
    g_assert_cmpint(json_object_get_int_member(error, "code"), ==, bad[i].status);
    Answer a = {0};
    ask(s, good, &a);
    g_assert_cmpstr(a.content, ==, "-des늑货币政策");
    answer_clear(&a);
  }
  /* A body over 64 MiB: refused from its Content-Length before it is sent (Expect: 100-continue). */
  gsize big = ((gsize)64 << 20) + 1;
  char *huge = g_malloc(big);
  memset(huge, ' ', big);
  g_autoptr(GBytes) body = g_bytes_new_take(huge, big);
  guint status;
  g_autofree char *reply = request(s, "POST", "/v1/chat/completions", API_KEY, body, TRUE, &status);
  g_assert_cmpuint(status, ==, 413);
  g_assert_nonnull(strstr(reply, "the request body is over 67108864 bytes"));
  /* Unknown paths. */
  g_autofree char *nowhere = request(s, "GET", "/v1/nowhere", API_KEY, NULL, FALSE, &status);
  g_assert_cmpuint(status, ==, 404);
  Answer a = {0};
  ask(s, good, &a);
  g_assert_cmpstr(a.content, ==, "-des늑货币政策");
  answer_clear(&a);
}

/* A conversation that goes on: the second request's messages are the first's, its answer and a new question.
 * It goes to the sequence that holds them, so the cache serves the first turn (usage's cached_tokens), and the
 * answer is the one `chat --messages` gives the whole conversation from nothing. */
static void
test_prefix_reuse(void)
{
  Server *s = the_server();
  const char *first_turn = "[{\"role\": \"user\", \"content\": \"Tell me about the tide.\"}]";
  g_autofree char *first = g_strdup_printf("{\"messages\": %s, \"max_tokens\": 12, \"temperature\": 0}", first_turn);
  Answer a = {0};
  ask(s, first, &a);
  g_assert_cmpint(a.cached_tokens, ==, 0);
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_array(b);
  const char *roles[] = {"user", "assistant", "user"};
  const char *texts[] = {"Tell me about the tide.", a.content, "And the moon?"};
  for (int i = 0; i < 3; i++) {
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "role");
    json_builder_add_string_value(b, roles[i]);
    json_builder_set_member_name(b, "content");
    json_builder_add_string_value(b, texts[i]);
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  json_generator_set_root(gen, root);
  g_autofree char *messages = json_generator_to_data(gen, NULL);
  g_autofree char *second = g_strdup_printf("{\"messages\": %s, \"max_tokens\": 16, \"temperature\": 0}", messages);
  Answer c = {0};
  ask(s, second, &c);
  g_test_message("second turn: %" G_GINT64_FORMAT " prompt tokens, %" G_GINT64_FORMAT " cached", c.prompt_tokens,
                 c.cached_tokens);
  g_assert_cmpint(c.cached_tokens, >=, a.prompt_tokens);
  g_assert_cmpint(c.cached_tokens, <, c.prompt_tokens);
  g_autofree char *cli = cli_answer(messages);
  g_autofree char *want = g_strdup_printf("%s\n", c.content);
  g_assert_cmpstr(cli, ==, want);
  answer_clear(&a);
  answer_clear(&c);
}

/* ---- several clients -------------------------------------------------------------------------------------- */

static char *
question_body(guint i, guint max_tokens, gboolean stream)
{
  return g_strdup_printf("{\"messages\": [{\"role\": \"user\", \"content\": \"Question %u: what does the sea say?\"}], "
                         "\"max_tokens\": %u, \"temperature\": 0, \"stream\": %s}", i, max_tokens,
                         stream ? "true" : "false");
}

typedef struct {
  const Server *server;
  guint first, count;    /* questions first … first + count - 1 (mod n_questions) */
  guint n_questions;
  guint max_tokens;
  gboolean stream;
  char **answers;        /* [count] */
  double *latencies;     /* [count] seconds */
} Client;

static gpointer
client_run(gpointer data)
{
  Client *c = data;
  for (guint k = 0; k < c->count; k++) {
    g_autofree char *body = question_body((c->first + k) % c->n_questions, c->max_tokens, c->stream);
    Answer a = {0};
    gint64 t0 = g_get_monotonic_time();
    if (c->stream)
      ask_streaming(c->server, body, FALSE, &a);
    else
      ask(c->server, body, &a);
    c->latencies[k] = (g_get_monotonic_time() - t0) / 1e6;
    c->answers[k] = g_steal_pointer(&a.content);
    answer_clear(&a);
  }
  return NULL;
}

static char **
solo_answers(const Server *s, guint n, guint max_tokens)
{
  char **answers = g_new0(char *, n + 1);
  for (guint i = 0; i < n; i++) {
    g_autofree char *body = question_body(i, max_tokens, FALSE);
    Answer a = {0};
    ask(s, body, &a);
    answers[i] = g_steal_pointer(&a.content);
    answer_clear(&a);
  }
  return answers;
}

/* 8 streaming clients at once on 4 sequences (4 answer together, 4 wait and join as others finish): each gets
 * exactly the answer it gets alone. */
static void
test_concurrent_clients(void)
{
  Server *s = the_server();
  enum { N = 8, TOKENS = 12 };
  g_auto(GStrv) solo = solo_answers(s, N, TOKENS);
  Client clients[N];
  GThread *threads[N];
  for (guint i = 0; i < N; i++) {
    clients[i] = (Client){.server = s, .first = i, .count = 1, .n_questions = N, .max_tokens = TOKENS, .stream = TRUE,
                          .answers = g_new0(char *, 1), .latencies = g_new0(double, 1)};
    threads[i] = g_thread_new("client", client_run, &clients[i]);
  }
  for (guint i = 0; i < N; i++) {
    g_thread_join(threads[i]);
    g_assert_cmpstr(clients[i].answers[0], ==, solo[i]);
    g_free(clients[i].answers[0]);
    g_free(clients[i].answers);
    g_free(clients[i].latencies);
  }
}

/* A raw connection with a request sent and the response read until `until` appears (NULL: nothing read). */
static GSocketConnection *
open_request(const Server *s, const char *body, const char *until)
{
  g_autoptr(GSocketClient) client = g_socket_client_new();
  g_autoptr(GError) error = NULL;
  GSocketConnection *conn = g_socket_client_connect_to_host(client, "127.0.0.1", (guint16)s->port, NULL, &error);
  g_assert_no_error(error);
  g_autofree char *head = g_strdup_printf("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                          "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                                          "Content-Length: %zu\r\n\r\n%s", API_KEY, strlen(body), body);
  GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
  g_assert_true(g_output_stream_write_all(out, head, strlen(head), NULL, NULL, &error));
  g_assert_no_error(error);
  GString *got = g_string_new(NULL);
  while (until && !strstr(got->str, until)) {
    char buffer[4096];
    gssize n = g_input_stream_read(g_io_stream_get_input_stream(G_IO_STREAM(conn)), buffer, sizeof buffer, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpint(n, >, 0);
    g_string_append_len(got, buffer, n);
  }
  g_string_free(got, TRUE);
  return conn;
}

static void
close_request(GSocketConnection *conn)
{
  g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
  g_object_unref(conn);
}

/* Waits until /health says `active` answers go and `waiting` requests wait (10 s at most). */
static void
wait_for_load(const Server *s, int active, int waiting)
{
  g_autofree char *want = g_strdup_printf("{\"status\":\"ok\",\"active\":%d,\"waiting\":%d}", active, waiting);
  g_autofree char *health = NULL;
  for (int tries = 0; tries < 200; tries++) {
    guint status;
    g_free(health);
    health = request(s, "GET", "/health", API_KEY, NULL, FALSE, &status);
    g_assert_cmpuint(status, ==, 200);
    if (strcmp(health, want) == 0)
      return;
    g_usleep(50000);
  }
  g_error("/health stays %s, not %s", health, want);
}

/* Sampling at temperature 1 over a random tiny model: an eos within 3000 tokens is unlikely, so the answer is
 * still going when its client goes. */
#define LONG_ANSWER "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"max_tokens\": 3000, " \
                    "\"temperature\": 1, \"seed\": 7"

/* A client that disconnects mid-stream, and one that disconnects while waiting for a non-streamed answer: their
 * sequences are free again at once (the answers stop), and the next request is answered. */
static void
test_disconnect_frees_sequence(void)
{
  Server *s = the_server();
  GSocketConnection *streaming = open_request(s, LONG_ANSWER ", \"stream\": true}", "\"content\"");
  GSocketConnection *waiting = open_request(s, LONG_ANSWER "}", NULL);
  wait_for_load(s, 2, 0);
  close_request(streaming);
  wait_for_load(s, 1, 0);
  close_request(waiting);
  wait_for_load(s, 0, 0);
  Answer a = {0};
  ask(s, "{\"messages\": [{\"role\": \"user\", \"content\": \"Write a haiku about the sea.\"}], \"max_tokens\": 3}", &a);
  g_assert_cmpstr(a.content, ==, "-des늑货币政策");
  answer_clear(&a);
}

/* One sequence and room for one waiting request: a third gets 429 with Retry-After; when the others go, the
 * next is answered. */
static void
test_queue_full(void)
{
  const char *extra[] = {"--api-key", API_KEY, "--max-concurrent", "1", "--max-queue", "1", "--context", "512",
                         "--max-tokens", "4000", NULL};
  Server *s = server_start(extra);
  GSocketConnection *first = open_request(s, LONG_ANSWER ", \"stream\": true}", "\"content\"");
  GSocketConnection *second = open_request(s, LONG_ANSWER "}", NULL);
  wait_for_load(s, 1, 1);
  guint status;
  g_autofree char *reply = post(s, "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}", &status);
  g_assert_cmpuint(status, ==, 429);
  g_assert_nonnull(strstr(reply, "1 requests are waiting already: try again later"));
  g_assert_nonnull(strstr(reply, "\"type\":\"rate_limit_error\""));
  close_request(second);
  close_request(first);
  wait_for_load(s, 0, 0);
  Answer a = {0};
  ask(s, "{\"messages\": [{\"role\": \"user\", \"content\": \"Write a haiku about the sea.\"}], \"max_tokens\": 3}", &a);
  g_assert_cmpstr(a.content, ==, "-des늑货币政策");
  answer_clear(&a);
  server_stop(s);
}

static guint64
server_rss_kib(const Server *s)
{
  g_autofree char *path = g_strdup_printf("/proc/%s/status", g_subprocess_get_identifier(s->proc));
  g_autofree char *status = NULL;
  g_assert_true(g_file_get_contents(path, &status, NULL, NULL));
  const char *rss = strstr(status, "VmRSS:");
  g_assert_nonnull(rss);
  return g_ascii_strtoull(rss + 6, NULL, 10);
}

static int
compare_double(gconstpointer a, gconstpointer b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Runs `rounds` requests from `n_clients` threads (questions spread over them); every answer must be its solo
 * answer. Latencies of all requests go to *latencies (sorted). */
static void
run_load(const Server *s, guint n_clients, guint requests, char **solo, guint n_questions, guint max_tokens,
         GArray *latencies)
{
  Client *clients = g_new0(Client, n_clients);
  GThread **threads = g_new0(GThread *, n_clients);
  for (guint i = 0, given = 0; i < n_clients; i++) {
    guint count = requests / n_clients + (i < requests % n_clients);
    clients[i] = (Client){.server = s, .first = given, .count = count, .n_questions = n_questions,
                          .max_tokens = max_tokens, .answers = g_new0(char *, count), .latencies = g_new0(double, count)};
    given += count;
    threads[i] = g_thread_new("load", client_run, &clients[i]);
  }
  for (guint i = 0; i < n_clients; i++) {
    g_thread_join(threads[i]);
    for (guint k = 0; k < clients[i].count; k++) {
      g_assert_cmpstr(clients[i].answers[k], ==, solo[(clients[i].first + k) % n_questions]);
      g_free(clients[i].answers[k]);
    }
    g_array_append_vals(latencies, clients[i].latencies, clients[i].count);
    g_free(clients[i].answers);
    g_free(clients[i].latencies);
  }
  g_free(clients);
  g_free(threads);
  g_array_sort(latencies, compare_double);
}

/* 200 requests from 16 clients over loopback: none lost (each answered, each its solo answer), the server's
 * RSS flat after a warm-up of 40 requests; p50 and p99 latency printed. */
static void
test_load(void)
{
  Server *s = the_server();
  enum { QUESTIONS = 10, TOKENS = 8, CLIENTS = 16, WARM_UP = 40, REQUESTS = 200 };
  g_auto(GStrv) solo = solo_answers(s, QUESTIONS, TOKENS);
  g_autoptr(GArray) warm = g_array_new(FALSE, FALSE, sizeof(double));
  run_load(s, CLIENTS, WARM_UP, solo, QUESTIONS, TOKENS, warm);
  guint64 rss_warm = server_rss_kib(s);
  g_autoptr(GArray) lat = g_array_new(FALSE, FALSE, sizeof(double));
  gint64 t0 = g_get_monotonic_time();
  run_load(s, CLIENTS, REQUESTS, solo, QUESTIONS, TOKENS, lat);
  double seconds = (g_get_monotonic_time() - t0) / 1e6;
  guint64 rss_end = server_rss_kib(s);
  g_assert_cmpuint(lat->len, ==, REQUESTS);
  double p50 = g_array_index(lat, double, REQUESTS / 2), p99 = g_array_index(lat, double, REQUESTS * 99 / 100);
  g_autofree char *line = g_strdup_printf("load: %d requests from %d clients in %.1f s, p50 %.3f s, p99 %.3f s; "
                                          "server RSS %.1f MiB after warm-up, %.1f MiB after", REQUESTS, CLIENTS, seconds,
                                          p50, p99, rss_warm / 1024.0, rss_end / 1024.0);
  g_test_message("%s", line);
  g_printerr("%s\n", line);
  /* Flat: no per-request growth (200 requests leaking even 40 KiB each would pass 8 MiB). */
  g_assert_cmpuint(rss_end, <, rss_warm + 8 * 1024);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  picture_server = vf_test_server_start(NULL, serve_picture, NULL);
  g_test_add_func("/serve/answers-equal-chat", test_answers_equal_chat);
  g_test_add_func("/serve/models-health-stop", test_models_health_stop);
  g_test_add_func("/serve/bad-input", test_bad_input);
  g_test_add_func("/serve/prefix-reuse", test_prefix_reuse);
  g_test_add_func("/serve/concurrent-clients", test_concurrent_clients);
  g_test_add_func("/serve/disconnect-frees-sequence", test_disconnect_frees_sequence);
  g_test_add_func("/serve/queue-full", test_queue_full);
  g_test_add_func("/serve/load", test_load);
  int rc = g_test_run();
  if (main_server)
    server_stop(main_server);
  vf_test_server_stop(picture_server);
  return rc;
}
