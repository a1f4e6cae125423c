/* viewfinder-cli download: a model repository from the Hugging Face Hub into the shared cache (vf_hub.h).
 * Progress goes to stderr (a line per second, or one updated line on a terminal); the snapshot folder, ready
 * for `chat -m`, is the one line on stdout. Ctrl+C pauses: the next run resumes where it stopped. */
#include <glib-unix.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "vf_hub.h"

typedef struct {
  gboolean tty;
  gint64 last_line_us;
} DownloadPrinter;

static void
print_progress(const VfHubProgress *p, void *user)
{
  DownloadPrinter *printer = user;
  gint64 now = g_get_monotonic_time();
  gboolean file_done = p->file_done == p->file_size;
  if (!printer->tty && !file_done && now - printer->last_line_us < G_USEC_PER_SEC)
    return;
  printer->last_line_us = now;
  g_autofree char *eta = vf_hub_format_time_left(p->seconds_left);
  fprintf(stderr, "%s[%u/%u] %s %.1f of %.1f MB, total %.1f of %.1f MB, %.1f MB/s, %s%s", printer->tty ? "\r\033[K" : "",
          p->file_index + 1, p->n_files, p->file, p->file_done / 1e6, p->file_size / 1e6, p->done / 1e6,
          p->total / 1e6, p->bytes_per_second / 1e6, eta, printer->tty ? "" : "\n");
  fflush(stderr);
}

static gboolean
on_interrupt(gpointer cancellable)
{
  g_cancellable_cancel(cancellable);
  return G_SOURCE_REMOVE;
}

typedef struct {
  const char *repo, *revision;
  VfHubOptions options;
  DownloadPrinter printer;
  GCancellable *cancellable;
  char *snapshot;
  GError *error;
  GMainLoop *loop;
} DownloadJob;

static gpointer
download_thread(gpointer data)
{
  DownloadJob *job = data;
  job->snapshot = vf_hub_download(job->repo, job->revision, &job->options, print_progress, &job->printer,
                                  job->cancellable, &job->error);
  g_main_loop_quit(job->loop);
  return NULL;
}

int
vf_cli_download(int argc, char **argv)
{
  g_autofree char *revision = NULL, *endpoint = NULL, *cache = NULL;
  GOptionEntry entries[] = {
    {"revision", 'r', 0, G_OPTION_ARG_STRING, &revision, "branch, tag or commit (main)", "REV"},
    {"endpoint", 0, 0, G_OPTION_ARG_STRING, &endpoint, "the hub (default: $HF_ENDPOINT or https://huggingface.co)", "URL"},
    {"cache-dir", 0, 0, G_OPTION_ARG_FILENAME, &cache, "the hub cache (default: $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub)", "DIR"},
    {NULL},
  };
  g_autoptr(GOptionContext) ctx =
    g_option_context_new("OWNER/NAME — download a model into the Hugging Face cache (Ctrl+C pauses; run again to resume)");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error) || argc != 2) {
    fprintf(stderr, "viewfinder-cli download: %s\n",
            error ? error->message : "usage: download [--revision REV] OWNER/NAME (e.g. Qwen/Qwen2-VL-2B-Instruct)");
    return 2;
  }
  g_autoptr(GCancellable) cancellable = g_cancellable_new();
  g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
  DownloadJob job = {
    .repo = argv[1],
    .revision = revision,
    .options = {.endpoint = endpoint, .cache_dir = cache},
    .printer = {.tty = isatty(STDERR_FILENO)},
    .cancellable = cancellable,
    .loop = loop,
  };
  guint sigint = g_unix_signal_add(SIGINT, on_interrupt, cancellable);
  guint sigterm = g_unix_signal_add(SIGTERM, on_interrupt, cancellable);
  GThread *thread = g_thread_new("vf-download", download_thread, &job);
  g_main_loop_run(loop);
  g_thread_join(thread);
  g_source_remove(sigint);
  g_source_remove(sigterm);
  if (job.printer.tty)
    fputc('\n', stderr);
  if (!job.snapshot) {
    if (g_error_matches(job.error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      fprintf(stderr, "viewfinder-cli download: paused; run the same command again to resume\n");
    else
      fprintf(stderr, "viewfinder-cli download: %s\n", job.error->message);
    g_clear_error(&job.error);
    return 1;
  }
  printf("%s\n", job.snapshot);
  g_free(job.snapshot);
  return 0;
}
