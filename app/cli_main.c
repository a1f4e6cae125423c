/* viewfinder-cli: the command line over the engine.
 *
 *   viewfinder-cli devices                         list Vulkan devices, describe the chosen one
 *   viewfinder-cli chat -m DIR -p TEXT [...]       ask a model, stream the answer
 *   viewfinder-cli golden [--models DIR] CASE...   compare with reference cases
 *   viewfinder-cli bench ops | vision | --synthetic 2b|7b   time the ops against the memory roofline,
 *                                                  the vision tower, or the language model
 */
#define G_LOG_DOMAIN "viewfinder-cli"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench_ops.h"
#include "cli.h"
#include "vf_chat_json.h"
#include "vf_pdf.h"

VfDevice *
vf_cli_device(GError **error)
{
  VfDevice *dev = vf_device_create(NULL, error);
  if (!dev)
    return NULL;
  fprintf(stderr, "viewfinder: %s\n", vf_device_get_info(dev)->summary);
  fprintf(stderr, "viewfinder: %s\n", vf_ops_policy_summary(dev));
  fprintf(stderr, "viewfinder: %s\n", vf_pipeline_cache_summary(dev));
  vf_device_print_switches(stderr);
  return dev;
}

void
vf_cli_progress(uint64_t done, uint64_t total, void *user)
{
  static int last = -1;
  if (!isatty(STDERR_FILENO) || total == 0)
    return;
  int percent = (int)(100.0 * done / total);
  if (percent != last) {
    fprintf(stderr, "\rloading %3d %%", percent);
    if (done == total)
      fprintf(stderr, "\r              \r");
    last = percent;
  }
}

void
vf_cli_stage(const char *stage, double fraction, void *user)
{
  if (!isatty(STDERR_FILENO))
    return;
  if (fraction >= 0)
    fprintf(stderr, "\r%-40s %3.0f %%", stage, 100.0 * fraction);
  else
    fprintf(stderr, "\r%-46s", stage);
  if (fraction >= 1)
    fprintf(stderr, "\r%-46s\r", "");
}

void
vf_cli_print_json_with_text(JsonBuilder *b, const char *name, const char *text, size_t len)
{
  g_autoptr(JsonGenerator) gen = json_generator_new();
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  g_assert(JSON_NODE_HOLDS_OBJECT(root));
  json_generator_set_root(gen, root);
  g_autofree char *object = json_generator_to_data(gen, NULL);
  GString *line = g_string_new(object);
  g_string_truncate(line, line->len - 1); /* the closing brace */
  if (json_object_get_size(json_node_get_object(root)) > 0)
    g_string_append_c(line, ',');
  vf_json_append_string(line, name, strlen(name));
  g_string_append_c(line, ':');
  vf_json_append_string(line, text, len);
  g_string_append(line, "}\n");
  fwrite(line->str, 1, line->len, stdout);
  fflush(stdout);
  g_string_free(line, TRUE);
}

/* ---- signals -------------------------------------------------------------------------------------- */

static GCancellable *signal_cancellable;
static int stop_signal;

/* A thread of its own takes the signals with sigwait, so the reaction runs as ordinary code (a handler could
 * not call g_cancellable_cancel, which takes a lock). */
static gpointer
watch_signals(gpointer data)
{
  sigset_t *set = data;
  for (;;) {
    int sig;
    if (sigwait(set, &sig) != 0)
      continue;
    if (g_atomic_int_get(&stop_signal)) {
      fprintf(stderr, "\nviewfinder: %s again: quitting now\n", g_strsignal(sig));
      _exit(128 + sig);
    }
    g_atomic_int_set(&stop_signal, sig);
    fprintf(stderr, "\nviewfinder: %s: stopping after the current step (again to quit now)\n", g_strsignal(sig));
    g_cancellable_cancel(signal_cancellable);
  }
  return NULL;
}

GCancellable *
vf_cli_cancel_on_signals(void)
{
  g_assert(!signal_cancellable);
  static sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal_cancellable = g_cancellable_new();
  g_thread_unref(g_thread_new("vf-signals", watch_signals, &set));
  return signal_cancellable;
}

int
vf_cli_stop_signal(void)
{
  return g_atomic_int_get(&stop_signal);
}

void
vf_cli_print_json(JsonBuilder *b)
{
  g_autoptr(JsonGenerator) gen = json_generator_new();
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  json_generator_set_root(gen, root);
  g_autofree char *line = json_generator_to_data(gen, NULL);
  printf("%s\n", line);
  fflush(stdout);
}

char **
vf_cli_pdf_pages(const char *path, const char *pages, GError **error)
{
  if (strstr(path, "#page=") || strstr(path, "://") || g_str_has_prefix(path, "data:"))
    return NULL;
  GError *local = NULL;
  g_autoptr(VfPdf) pdf = vf_pdf_open(path, &local);
  if (!pdf) {
    /* Not a PDF (or not readable): the picture path reads it and says why. */
    if (g_error_matches(local, VF_IMAGE_ERROR, VF_IMAGE_ERROR_UNKNOWN_FORMAT) ||
        g_error_matches(local, VF_IMAGE_ERROR, VF_IMAGE_ERROR_NOT_FOUND) ||
        g_error_matches(local, VF_IMAGE_ERROR, VF_IMAGE_ERROR_EMPTY)) {
      g_error_free(local);
      return NULL;
    }
    g_propagate_error(error, local);
    return NULL;
  }
  g_autofree char *all = g_strdup_printf("1-%u", vf_pdf_n_pages(pdf));
  g_autoptr(GArray) numbers = vf_pdf_parse_pages(pages ? pages : all, vf_pdf_n_pages(pdf), error);
  if (!numbers) {
    g_prefix_error(error, "%s: ", path);
    return NULL;
  }
  char **sources = g_new0(char *, numbers->len + 1);
  for (guint i = 0; i < numbers->len; i++)
    sources[i] = g_strdup_printf("%s#page=%u", path, g_array_index(numbers, guint, i));
  return sources;
}

gboolean
vf_cli_parse_size(const char *text, uint32_t *width, uint32_t *height)
{
  char *end = NULL;
  guint64 w = g_ascii_strtoull(text, &end, 10);
  if (!end || (*end != 'x' && *end != 'X'))
    return FALSE;
  guint64 h = g_ascii_strtoull(end + 1, &end, 10);
  if (!end || *end || w == 0 || h == 0 || w > 65535 || h > 65535)
    return FALSE;
  *width = (uint32_t)w;
  *height = (uint32_t)h;
  return TRUE;
}

static int
cmd_devices(int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *list = vf_device_list(&error);
  if (!list) {
    fprintf(stderr, "viewfinder-cli: %s\n", error->message);
    return 1;
  }
  printf("Vulkan devices:\n%s", list);
  VfDevice *dev = vf_device_create(NULL, &error);
  if (!dev) {
    fprintf(stderr, "viewfinder-cli: %s\n", error->message);
    return 1;
  }
  printf("chosen: %s\n", vf_device_get_info(dev)->summary);
  printf("%s\n", vf_ops_policy_summary(dev));
  printf("%s\n", vf_pipeline_cache_summary(dev));
  vf_device_print_switches(stdout);
  vf_device_free(dev);
  return 0;
}

static void
usage(FILE *out)
{
  fprintf(out,
          "usage: viewfinder-cli COMMAND [ARGS]\n"
          "\n"
          "commands:\n"
          "  devices     list Vulkan devices and describe the one Viewfinder would use\n"
          "  chat        ask a model a question: chat -m MODEL_DIR [--image PATH] [--video PATH] -p TEXT (--help for options)\n"
          "  ocr         transcribe images: ocr -m MODEL_DIR FILE... [--json]\n"
          "  download    fetch a model into the Hugging Face cache: download OWNER/NAME [--revision REV]\n"
          "  golden      compare with reference cases: golden [--models DIR] [--tokenizer DIR] CASE_DIR...\n"
          "  bench       bench ops [--quick] [--all-variants] [--crossover]: the matmul ops against the roofline\n"
          "              bench vision [--size 2b|7b] [--image WxH]...: the vision tower\n"
          "              bench attention: both attention kernels on vision, prefill and decode shapes\n"
          "              bench --synthetic 2b|7b [--prompt N] [--decode N]: the language model\n"
          "              bench first-answer --synthetic 2b|7b [--image WxH]: time to the first token, cold and warm\n"
          "\n"
          "environment: VF_DEVICE=index|name  VF_VALIDATE=1  VF_PROFILE=1  VF_KERNELS=gpu|cpu\n");
}

int
main(int argc, char **argv)
{
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "devices") == 0)
    return cmd_devices(argc - 1, argv + 1);
  if (strcmp(argv[1], "chat") == 0)
    return vf_cli_chat(argc - 1, argv + 1);
  if (strcmp(argv[1], "ocr") == 0)
    return vf_cli_ocr(argc - 1, argv + 1);
  if (strcmp(argv[1], "golden") == 0)
    return vf_cli_golden(argc - 1, argv + 1);
  if (strcmp(argv[1], "download") == 0)
    return vf_cli_download(argc - 1, argv + 1);
  if (strcmp(argv[1], "bench") == 0 && argc >= 3 && strcmp(argv[2], "ops") == 0)
    return vf_bench_ops(argc - 2, argv + 2);
  if (strcmp(argv[1], "bench") == 0 && argc > 2 && strcmp(argv[2], "attention") == 0)
    return vf_cli_bench_attention(argc - 2, argv + 2);
  if (strcmp(argv[1], "bench") == 0 && argc > 2 && strcmp(argv[2], "vision") == 0)
    return vf_cli_bench_vision(argc - 2, argv + 2);
  if (strcmp(argv[1], "bench") == 0 && argc > 2 && strcmp(argv[2], "first-answer") == 0)
    return vf_cli_bench_first_answer(argc - 2, argv + 2);
  if (strcmp(argv[1], "bench") == 0)
    return vf_cli_bench_model(argc - 1, argv + 1);
  fprintf(stderr, "viewfinder-cli: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
