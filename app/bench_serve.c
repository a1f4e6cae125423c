/* viewfinder-cli bench serve --synthetic 2b|7b --tokenizer DIR [--clients N] [--decode N]: the
 * server's continuous batching in one run. Random weights in the real shapes go up once; two language-model
 * runtimes share them: one with 1 sequence (a server answering one request at a time) and one with N. Each is
 * served over HTTP on 127.0.0.1 (vf_server.h) to clients streaming greedy answers with "ignore_eos", so every
 * answer is --decode tokens long: first 1 client, then N at once. Printed: end-to-end and aggregate decode
 * tokens/s of each and the decode ratio (the weights read once per step for all answers makes it above 1). */
#define G_LOG_DOMAIN "viewfinder-cli"

#include <gio/gio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vf_model.h"
#include "vf_server.h"
#include "vf_synthetic.h"
#include "vf_tokenizer.h"

typedef struct {
  guint port;
  guint index, decode;
  guint tokens;       /* completion tokens (the usage chunk) */
  int64_t first, end; /* monotonic µs: the first content chunk, [DONE] */
  char *error;
  GMainLoop *loop;
  gint *running;
} Client;

static gboolean
quit_loop(gpointer loop)
{
  g_main_loop_quit(loop);
  return G_SOURCE_REMOVE;
}

/* One streamed request, its chunks timed. Plain HTTP/1.1 over a socket (libsoup belongs to model/): only a few
 * marks of the SSE lines are looked at, so the chunked framing between them does not matter. */
static void
client_ask(Client *c)
{
  g_autofree char *body = g_strdup_printf(
    "{\"messages\": [{\"role\": \"user\", \"content\": \"Client %u: tell me about the sea.\"}], \"max_tokens\": %u, "
    "\"temperature\": 0, \"ignore_eos\": true, \"stream\": true, \"stream_options\": {\"include_usage\": true}}",
    c->index, c->decode);
  g_autofree char *request = g_strdup_printf("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                             "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                                             "Connection: close\r\n\r\n%s", strlen(body), body);
  g_autoptr(GSocketClient) client = g_socket_client_new();
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) conn = g_socket_client_connect_to_host(client, "127.0.0.1", (guint16)c->port, NULL,
                                                                      &error);
  if (!conn || !g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)), request,
                                          strlen(request), NULL, NULL, &error)) {
    c->error = g_strdup_printf("client %u: %s", c->index, error->message);
    return;
  }
  g_autoptr(GDataInputStream) lines = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(conn)));
  g_autofree char *status = g_data_input_stream_read_line_utf8(lines, NULL, NULL, &error);
  if (!status || !g_str_has_prefix(status, "HTTP/1.1 200")) {
    c->error = g_strdup_printf("client %u: %s", c->index, status ? status : error ? error->message : "no answer");
    return;
  }
  for (;;) {
    g_autofree char *line = g_data_input_stream_read_line_utf8(lines, NULL, NULL, &error);
    if (!line)
      break;
    if (!c->first && strstr(line, "\"content\""))
      c->first = g_get_monotonic_time();
    if (g_str_has_prefix(line, "data: [DONE]"))
      c->end = g_get_monotonic_time();
    const char *usage = strstr(line, "\"completion_tokens\":");
    if (usage)
      c->tokens = (guint)atoi(usage + strlen("\"completion_tokens\":"));
  }
  if (!c->end || !c->first || c->tokens != c->decode)
    c->error = g_strdup_printf("client %u: %s", c->index, error ? error->message : "a short answer");
}

static gpointer
client_run(gpointer data)
{
  Client *c = data;
  client_ask(c);
  if (g_atomic_int_dec_and_test(c->running))
    g_idle_add(quit_loop, c->loop);
  return NULL;
}

/* Serves `model` to `n` clients at once. Returns the aggregate decode tokens/s: every answer's tokens after its
 * first, over the time from the last first token (all prefills done: with every request queued at the start,
 * the scheduler prefills them all before the first shared step) to the last [DONE]. 0 on failure. */
static double
run_phase(VfModel *model, VfTokenizer *tok, guint n, guint decode, GError **error)
{
  VfServerOptions opts = {
    .model = model, .tok = tok, .model_name = "synthetic", .host = "127.0.0.1", .port = 0,
    .max_queue = 64, .max_images = 0, .max_video_frames = 1, .max_tokens = decode,
  };
  g_autoptr(VfServer) server = vf_server_new(&opts, error);
  if (!server)
    return 0;
  g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
  gint running = (gint)n;
  g_autofree Client *clients = g_new0(Client, n);
  g_autofree GThread **threads = g_new0(GThread *, n);
  int64_t t0 = g_get_monotonic_time();
  for (guint i = 0; i < n; i++) {
    clients[i] = (Client){.port = vf_server_port(server), .index = i, .decode = decode, .loop = loop,
                          .running = &running};
    threads[i] = g_thread_new("bench-client", client_run, &clients[i]);
  }
  g_main_loop_run(loop);
  int64_t last_first = 0, last_end = 0;
  guint decoded = 0;
  for (guint i = 0; i < n; i++) {
    g_thread_join(threads[i]);
    last_first = MAX(last_first, clients[i].first);
    last_end = MAX(last_end, clients[i].end);
    decoded += clients[i].tokens - 1;
    if (clients[i].error && error && !*error)
      g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_FAILED, clients[i].error);
    g_free(clients[i].error);
  }
  if (error && *error)
    return 0;
  double decode_s = (last_end - last_first) / 1e6, total_s = (last_end - t0) / 1e6;
  printf("  %u client%s: %u answers of %u tokens in %.1f s (%.2f tokens/s end to end); decoding together %.1f s: "
         "%.2f decode tokens/s\n", n, n == 1 ? "" : "s", n, decode, total_s, n * decode / total_s, decode_s,
         decoded / decode_s);
  return decoded / decode_s;
}

int
vf_cli_bench_serve(int argc, char **argv)
{
  g_autofree char *size = NULL, *tokenizer_dir = NULL;
  int clients = 4, decode = 32, context = 256;
  GOptionEntry entries[] = {
    {"synthetic", 0, 0, G_OPTION_ARG_STRING, &size, "random weights in the shape of Qwen2-VL-2B or 7B", "2b|7b"},
    {"tokenizer", 0, 0, G_OPTION_ARG_FILENAME, &tokenizer_dir, "a Qwen2-VL tokenizer folder (tests/data/tokenizer)", "DIR"},
    {"clients", 0, 0, G_OPTION_ARG_INT, &clients, "concurrent clients of the second phase (4)", "N"},
    {"decode", 0, 0, G_OPTION_ARG_INT, &decode, "tokens per answer (32)", "N"},
    {"context", 0, 0, G_OPTION_ARG_INT, &context, "KV cache per sequence (256)", "N"},
    {NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("— continuous batching: N clients against 1");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error) || !size || !tokenizer_dir || clients < 2 || decode < 2 ||
      context < decode + 64) {
    fprintf(stderr, "viewfinder-cli bench serve: %s\n",
            error ? error->message
                  : "usage: bench serve --synthetic 2b|7b --tokenizer DIR [--clients N>=2] [--decode N]");
    return 2;
  }
  g_autoptr(VfTokenizer) tok = vf_tokenizer_load(tokenizer_dir, &error);
  g_autoptr(VfDevice) dev = tok ? vf_cli_device(&error) : NULL;
  g_autoptr(VfConfig) config = dev ? vf_config_synthetic(size, &error) : NULL;
  VfWeights *weights = config ? vf_weights_synthetic(dev, config, FALSE, 1, vf_cli_progress, NULL, &error) : NULL;
  if (!weights) {
    fprintf(stderr, "viewfinder-cli bench serve: %s\n", error->message);
    return 1;
  }
  printf("bench serve: synthetic Qwen2-VL-%s, streamed greedy answers of %d tokens (ignore_eos)\n", size, decode);
  /* Two runtimes over the same weights: the models are views, freed by hand (not vf_model_free). */
  double rate[2] = {0, 0};
  const uint32_t sequences[2] = {1, (uint32_t)clients};
  for (int phase = 0; phase < 2 && !error; phase++) {
    VfLlmOptions llm_opts = {.context = (uint32_t)context, .sequences = sequences[phase]};
    VfModel model = {.dev = dev, .config = config, .weights = weights};
    model.llm = vf_llm_create(dev, config, weights, &llm_opts, &error);
    if (model.llm)
      rate[phase] = run_phase(&model, tok, sequences[phase], (guint)decode, &error);
    vf_llm_free(model.llm);
  }
  vf_weights_free(weights);
  if (error) {
    fprintf(stderr, "viewfinder-cli bench serve: %s\n", error->message);
    return 1;
  }
  printf("  %d clients / 1 client: %.2fx the aggregate decode tokens/s\n", clients, rate[1] / rate[0]);
  return 0;
}
