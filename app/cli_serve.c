/* viewfinder-cli serve: the OpenAI-compatible server (model/server/vf_server.h) over one model folder, until
 * SIGINT or SIGTERM. The first line on stdout is "listening on http://HOST:PORT" (with --port 0, the port
 * chosen); one line per request goes to stderr. */
#define G_LOG_DOMAIN "viewfinder-cli"

#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "vf_chat_template.h"
#include "vf_model.h"
#include "vf_server.h"
#include "vf_tokenizer.h"

static void
print_log(const char *line, void *user)
{
  fprintf(stderr, "viewfinder: %s\n", line);
}

static void
quit_on_signal(GCancellable *cancellable, gpointer loop)
{
  g_main_loop_quit(loop);
}

int
vf_cli_serve(int argc, char **argv)
{
  g_autofree char *model_dir = NULL, *tokenizer_dir = NULL, *host = NULL, *api_key = NULL, *name = NULL;
  int port = 8080, max_concurrent = 4, max_queue = 64, max_images = 16, max_frames = 768, max_tokens = 4096;
  int context = 0;
  gboolean allow_local_files = FALSE, remote_media_fetch = FALSE;
  GOptionEntry entries[] = {
    {"model", 'm', 0, G_OPTION_ARG_FILENAME, &model_dir, "model folder (Hugging Face checkpoint)", "DIR"},
    {"tokenizer", 0, 0, G_OPTION_ARG_FILENAME, &tokenizer_dir, "tokenizer folder (default: the model folder)", "DIR"},
    {"served-model-name", 0, 0, G_OPTION_ARG_STRING, &name, "the model's name in the API (default: the folder's name)", "NAME"},
    {"host", 0, 0, G_OPTION_ARG_STRING, &host, "address to listen on (127.0.0.1; others need --api-key)", "IP"},
    {"port", 0, 0, G_OPTION_ARG_INT, &port, "port (8080; 0: any free port)", "N"},
    {"api-key", 0, 0, G_OPTION_ARG_STRING, &api_key, "require \"Authorization: Bearer KEY\"", "KEY"},
    {"max-concurrent", 0, 0, G_OPTION_ARG_INT, &max_concurrent, "answers decoded together, each in a KV-cache sequence (4)", "N"},
    {"max-queue", 0, 0, G_OPTION_ARG_INT, &max_queue, "requests waiting for a sequence before 429 (64)", "N"},
    {"context", 0, 0, G_OPTION_ARG_INT, &context, "KV-cache size per sequence in tokens (default: from the memory budget)", "N"},
    {"max-tokens", 0, 0, G_OPTION_ARG_INT, &max_tokens, "the most tokens a request may generate, and the default (4096)", "N"},
    {"max-images", 0, 0, G_OPTION_ARG_INT, &max_images, "pictures per request (16)", "N"},
    {"max-video-frames", 0, 0, G_OPTION_ARG_INT, &max_frames, "frames per video (768)", "N"},
    {"allow-local-files", 0, 0, G_OPTION_ARG_NONE, &allow_local_files, "let requests name local files (paths, file://)", NULL},
    {"remote-media-fetch", 0, 0, G_OPTION_ARG_NONE, &remote_media_fetch, "let clients on other machines have http(s) media fetched", NULL},
    {NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("— an OpenAI-compatible server");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
    fprintf(stderr, "viewfinder-cli serve: %s\n", error->message);
    return 2;
  }
  if (!model_dir) {
    fprintf(stderr, "viewfinder-cli serve: give a model folder (-m DIR)\n");
    return 2;
  }
  if (port < 0 || port > 65535 || max_concurrent < 1 || max_concurrent > 64 || max_queue < 0 || context < 0 ||
      max_tokens < 1 || max_images < 0 || max_frames < 1) {
    fprintf(stderr, "viewfinder-cli serve: --port 0…65535, --max-concurrent 1…64, --max-tokens and "
                    "--max-video-frames positive, the rest not negative\n");
    return 2;
  }

  GCancellable *stop = vf_cli_cancel_on_signals();
  g_autoptr(VfTokenizer) tok = vf_tokenizer_load(tokenizer_dir ? tokenizer_dir : model_dir, &error);
  if (!tok) {
    fprintf(stderr, "viewfinder-cli serve: %s\n", error->message);
    return 1;
  }
  g_autoptr(VfDevice) dev = vf_cli_device(&error);
  if (!dev) {
    fprintf(stderr, "viewfinder-cli serve: %s\n", error->message);
    return 1;
  }
  VfLlmOptions llm_opts = {.context = (uint32_t)context, .sequences = (uint32_t)max_concurrent};
  g_autoptr(VfModel) model = vf_model_load(dev, model_dir, &llm_opts, vf_cli_progress, NULL, &error);
  if (!model) {
    fprintf(stderr, "viewfinder-cli serve: %s\n", error->message);
    return 1;
  }
  g_autofree char *warning = vf_chat_template_check(tokenizer_dir ? tokenizer_dir : model_dir);
  if (warning)
    fprintf(stderr, "viewfinder: warning: %s\n", warning);
  g_autofree char *folder_name = g_path_get_basename(model_dir);
  VfServerOptions opts = {
    .model = model,
    .tok = tok,
    .model_name = name ? name : folder_name,
    .host = host ? host : "127.0.0.1",
    .port = (guint)port,
    .api_key = api_key,
    .allow_local_files = allow_local_files,
    .remote_media_fetch = remote_media_fetch,
    .max_queue = (uint32_t)max_queue,
    .max_images = (uint32_t)max_images,
    .max_video_frames = (uint32_t)max_frames,
    .max_tokens = (uint32_t)max_tokens,
    .on_log = print_log,
  };
  g_autoptr(VfServer) server = vf_server_new(&opts, &error);
  if (!server) {
    fprintf(stderr, "viewfinder-cli serve: %s\n", error->message);
    return 1;
  }
  fprintf(stderr, "viewfinder: serving \"%s\": %u sequences of %u tokens (KV cache %.0f MiB), queue %d; local files %s, "
                  "http(s) media for remote clients %s%s\n",
          opts.model_name, vf_llm_sequences(model->llm), vf_llm_context(model->llm),
          vf_llm_cache_bytes(model->llm) / 1048576.0, max_queue, allow_local_files ? "on" : "off",
          remote_media_fetch ? "on" : "off", api_key ? ", API key required" : "");
  const char *shown_host = strchr(opts.host, ':') ? g_strdup_printf("[%s]", opts.host) : g_strdup(opts.host);
  printf("listening on http://%s:%u\n", shown_host, vf_server_port(server));
  fflush(stdout);
  g_free((char *)shown_host);

  g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
  gulong handler = g_cancellable_connect(stop, G_CALLBACK(quit_on_signal), loop, NULL);
  g_main_loop_run(loop);
  g_cancellable_disconnect(stop, handler);
  fprintf(stderr, "viewfinder: stopping\n");
  return 0;
}
