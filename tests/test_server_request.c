/* The request parser's media policy per client and its parameters (vf_server_request.h), and stop strings over
 * streamed pieces (vf_stop_text.h): exact values and exact errors. The HTTP side is test_serve.c. */
#include <glib.h>
#include <string.h>

#include "vf_server_request.h"
#include "vf_stop_text.h"

static VfServerPolicy
policy_for(gboolean loopback)
{
  return (VfServerPolicy){.model_name = "tiny-a", .loopback_client = loopback, .max_images = 2,
                          .max_video_frames = 4, .max_tokens = 100,
                          .default_sampling = {.temperature = 0.7f, .top_p = 0.8f, .top_k = 20,
                                               .repetition_penalty = 1.05f, .do_sample = true}};
}

static VfServerRequest *
parse(const char *json, const VfServerPolicy *policy, GError **error)
{
  return vf_server_request_parse(json, strlen(json), policy, error);
}

#define PICTURE(src) "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image\", \"image\": \"" src "\"}]}]}"

/* Local files: only when allowed, for any client; http(s): loopback clients, others only when allowed;
 * data: always; other schemes never. */
static void
test_media_policy(void)
{
  const struct {
    const char *json;
    gboolean loopback, local_files, remote_fetch;
    const char *error; /* NULL: accepted */
  } cases[] = {
    {PICTURE("data:image/png;base64,AA=="), FALSE, FALSE, FALSE, NULL},
    {PICTURE("file:///etc/passwd"), FALSE, FALSE, FALSE,
     "message 0, part 0: local files are off (the server's --allow-local-files); send pictures as data: URIs"},
    {PICTURE("file:///etc/passwd"), TRUE, FALSE, FALSE,
     "message 0, part 0: local files are off (the server's --allow-local-files); send pictures as data: URIs"},
    {PICTURE("/etc/passwd"), FALSE, FALSE, TRUE,
     "message 0, part 0: local files are off (the server's --allow-local-files); send pictures as data: URIs"},
    {PICTURE("file:///tmp/a.png"), FALSE, TRUE, FALSE, NULL},
    {PICTURE("http://10.0.0.1/a.png"), FALSE, FALSE, FALSE,
     "message 0, part 0: http(s) media are off for clients on other machines (the server's --remote-media-fetch)"},
    {PICTURE("https://example.com/a.png"), TRUE, FALSE, FALSE, NULL},
    {PICTURE("https://example.com/a.png"), FALSE, FALSE, TRUE, NULL},
    {PICTURE("ftp://example.com/a.png"), TRUE, TRUE, TRUE,
     "message 0, part 0: only data:, http(s):// and file:// sources are read"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"video\", \"video\": [\"data:a\", "
     "\"file:///b.png\"]}]}]}", TRUE, FALSE, FALSE,
     "message 0, part 0: local files are off (the server's --allow-local-files); send pictures as data: URIs"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image\", \"image\": \"data:a\"}, "
     "{\"type\": \"image\", \"image\": \"data:b\"}, {\"type\": \"image\", \"image\": \"data:c\"}]}]}", TRUE, FALSE,
     FALSE, "message 0, part 2: more than 2 pictures in one request (the server's --max-images)"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"video\", \"video\": [\"data:a\", \"data:b\", "
     "\"data:c\", \"data:d\", \"data:e\"]}]}]}", TRUE, FALSE, FALSE,
     "message 0, part 0: a video of 5 frames, over the server's 4 (--max-video-frames)"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"video_url\", \"video_url\": {\"url\": "
     "\"https://h/v.mp4\"}, \"nframes\": 8}]}]}", TRUE, FALSE, FALSE,
     "message 0, part 0: \"nframes\" 8 is over the server's 4 (--max-video-frames)"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    VfServerPolicy policy = policy_for(cases[i].loopback);
    policy.allow_local_files = cases[i].local_files;
    policy.remote_media_fetch = cases[i].remote_fetch;
    g_autoptr(GError) error = NULL;
    g_autoptr(VfServerRequest) request = parse(cases[i].json, &policy, &error);
    if (cases[i].error) {
      g_assert_null(request);
      g_assert_error(error, VF_SERVER_ERROR, VF_SERVER_ERROR_BAD_REQUEST);
      g_assert_cmpstr(error->message, ==, cases[i].error);
    } else {
      g_assert_no_error(error);
      g_assert_nonnull(request);
    }
  }
  /* A video file's sampling is held to the limit. */
  VfServerPolicy policy = policy_for(TRUE);
  g_autoptr(GError) error = NULL;
  g_autoptr(VfServerRequest) request = parse("{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": "
                                             "\"video_url\", \"video_url\": {\"url\": \"https://h/v.mp4\"}}]}]}",
                                             &policy, &error);
  g_assert_no_error(error);
  VfChatMessage *m = g_ptr_array_index(request->chat->messages, 0);
  g_assert_cmpuint(((VfChatPart *)g_ptr_array_index(m->parts, 0))->options.max_frames, ==, 4);
}

/* Parameters: the model's defaults unless given; temperature 0 is greedy; the limits. */
static void
test_parameters(void)
{
  VfServerPolicy policy = policy_for(TRUE);
  g_autoptr(GError) error = NULL;
  g_autoptr(VfServerRequest) plain = parse("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", &policy,
                                           &error);
  g_assert_no_error(error);
  g_assert_cmpuint(plain->max_tokens, ==, 100);
  g_assert_true(plain->sampling.do_sample);
  g_assert_cmpfloat(plain->sampling.temperature, ==, 0.7f);
  g_assert_false(plain->stream);
  g_assert_null(plain->stop);

  g_autoptr(VfServerRequest) greedy = parse(
    "{\"model\": \"tiny-a\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"temperature\": 0, "
    "\"max_tokens\": 50, \"max_completion_tokens\": 7, \"stop\": \"END\", \"stream\": true, "
    "\"stream_options\": {\"include_usage\": true}, \"n\": 1, \"user\": \"someone\"}", &policy, &error);
  g_assert_no_error(error);
  g_assert_false(greedy->sampling.do_sample);
  g_assert_cmpuint(greedy->max_tokens, ==, 7);
  g_assert_cmpstr(greedy->stop[0], ==, "END");
  g_assert_null(greedy->stop[1]);
  g_assert_true(greedy->stream);
  g_assert_true(greedy->include_usage);

  g_autoptr(VfServerRequest) sampled = parse(
    "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"temperature\": 1.5, \"top_p\": 0.5, "
    "\"top_k\": -1, \"seed\": 42, \"repetition_penalty\": 1.2, \"stop\": [\"a\", \"bc\"]}", &policy, &error);
  g_assert_no_error(error);
  g_assert_true(sampled->sampling.do_sample);
  g_assert_cmpfloat(sampled->sampling.temperature, ==, 1.5f);
  g_assert_cmpfloat(sampled->sampling.top_p, ==, 0.5f);
  g_assert_cmpuint(sampled->sampling.top_k, ==, 0);
  g_assert_cmpuint(sampled->sampling.seed, ==, 42);
  g_assert_cmpfloat(sampled->sampling.repetition_penalty, ==, 1.2f);
  g_assert_cmpstr(sampled->stop[1], ==, "bc");

  const struct {
    const char *json;
    int code;
    const char *error;
  } bad[] = {
    {"{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 101}", 400,
     "\"max_tokens\" 101 is over the server's 100 (--max-tokens)"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 0}", 400,
     "\"max_tokens\" is not a number from 1 to 1e+09"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"temperature\": 3}", 400,
     "\"temperature\" is not a number from 0 to 2"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"top_k\": 2.5}", 400,
     "\"top_k\" is not a whole number from -1 to 1e+09"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"stop\": [\"a\", \"\"]}", 400,
     "\"stop\" has an item that is not a non-empty string"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"presence_penalty\": 0.5}", 400,
     "\"presence_penalty\" is not supported (use repetition_penalty)"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"logprobs\": true}", 400, "\"logprobs\" is not supported"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"x\"}]}", 400,
     "\"messages\" do not end with a user message"},
    {"{\"messages\": []}", 400, "\"messages\" do not end with a user message"},
    {"{}", 400, "\"messages\" is missing"},
    {"{\"model\": 3, \"messages\": []}", 400, "\"model\" is not a string"},
    {"{\"model\": \"other\", \"messages\": []}", 404, "the model \"other\" does not exist here: this server serves \"tiny-a\""},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) e = NULL;
    g_assert_null(parse(bad[i].json, &policy, &e));
    g_assert_error(e, VF_SERVER_ERROR, bad[i].code);
    g_assert_cmpstr(e->message, ==, bad[i].error);
    guint status;
    g_autofree char *json = vf_server_reply_error(e, &status);
    g_assert_cmpuint(status, ==, (guint)bad[i].code);
  }
}

/* The answers' exact JSON, NUL bytes included. */
static void
test_replies(void)
{
  VfServerReply reply = {.id = "chatcmpl-1", .created = 1700000000, .model = "tiny-a"};
  const VfServerUsage usage = {.prompt_tokens = 10, .completion_tokens = 3, .cached_tokens = 4};
  g_autofree char *completion = vf_server_reply_completion(&reply, "a\"b\0c", 5, "stop", &usage);
  g_assert_cmpstr(completion, ==,
                  "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1700000000,\"model\":\"tiny-a\","
                  "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"a\\\"b\\u0000c\"},"
                  "\"logprobs\":null,\"finish_reason\":\"stop\"}],"
                  "\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":3,\"total_tokens\":13,"
                  "\"prompt_tokens_details\":{\"cached_tokens\":4}}}");
  g_autofree char *first = vf_server_reply_chunk(&reply, TRUE, "Hi", 2, NULL, FALSE);
  g_assert_cmpstr(first, ==,
                  "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
                  "\"model\":\"tiny-a\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},"
                  "\"logprobs\":null,\"finish_reason\":null}]}\n\n");
  g_autofree char *last = vf_server_reply_chunk(&reply, FALSE, NULL, 0, "length", TRUE);
  g_assert_cmpstr(last, ==,
                  "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
                  "\"model\":\"tiny-a\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
                  "\"finish_reason\":\"length\"}],\"usage\":null}\n\n");
  g_autofree char *usage_chunk = vf_server_reply_usage_chunk(&reply, &usage);
  g_assert_cmpstr(usage_chunk, ==,
                  "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
                  "\"model\":\"tiny-a\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":3,"
                  "\"total_tokens\":13,\"prompt_tokens_details\":{\"cached_tokens\":4}}}\n\n");
}

/* Feeds `pieces` and returns what was sent, "|" between the pieces' ready bytes. */
static char *
run_stop(const char *const *stop, const char *const *pieces, gboolean *stopped)
{
  g_autoptr(VfStopText) st = vf_stop_text_new(stop);
  GString *out = g_string_new(NULL);
  *stopped = FALSE;
  const char *ready;
  gsize len;
  for (int i = 0; pieces[i]; i++) {
    *stopped = vf_stop_text_feed(st, pieces[i], strlen(pieces[i]), &ready, &len);
    g_string_append_len(out, ready, (gssize)len);
    g_string_append_c(out, '|');
  }
  vf_stop_text_finish(st, &ready, &len);
  g_string_append_len(out, ready, (gssize)len);
  return g_string_free(out, FALSE);
}

static void
test_stop_text(void)
{
  const char *stop[] = {"world", "\n\n", NULL};
  const struct {
    const char *pieces[6];
    const char *sent;
    gboolean stopped;
  } cases[] = {
    {{"Hello ", "wo", "rld", "!", NULL}, "Hello ||||", TRUE},       /* across pieces, the prefix held back */
    {{"Hello ", "wo", "rk", NULL}, "Hello ||work|", FALSE},          /* a prefix that does not complete */
    {{"a\n", "\nb", NULL}, "a||", TRUE},                               /* the other string */
    {{"no stop at all", NULL}, "no stop at all|", FALSE},
    {{"w", "o", "r", "l", "d", NULL}, "|||||", TRUE},                  /* one byte at a time */
    {{"x world y world", NULL}, "x |", TRUE},                          /* the first occurrence */
    {{"wowo", "rld", NULL}, "wo||", TRUE},                             /* held back twice over */
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    gboolean stopped;
    g_autofree char *sent = run_stop(stop, cases[i].pieces, &stopped);
    g_assert_cmpstr(sent, ==, cases[i].sent);
    g_assert_cmpint(stopped, ==, cases[i].stopped);
  }
  /* Without stop strings everything goes at once. */
  const char *pieces[] = {"wor", "ld", NULL};
  gboolean stopped;
  g_autofree char *sent = run_stop(NULL, pieces, &stopped);
  g_assert_cmpstr(sent, ==, "wor|ld|");
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/server-request/media-policy", test_media_policy);
  g_test_add_func("/server-request/parameters", test_parameters);
  g_test_add_func("/server-request/replies", test_replies);
  g_test_add_func("/server-request/stop-text", test_stop_text);
  return g_test_run();
}
