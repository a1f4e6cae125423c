/* viewfinder-cli ocr: transcribes pictures, PDF pages and folders of scans, one request per picture or page,
 * one JSON line (or one block) per request, and with --output-dir one .md per input file.
 *
 *   inputs ──expand──► jobs (a picture; each selected page of a PDF; a folder's files in name order)
 *          ──batches of --batch──► one session each, answered together ──► a line per job, in order
 *                                                                      └──► DIR/<input>.md when its last job is in
 *
 * Timings: each line's open, render, preprocess, encode, prefill and decode seconds are measured where the
 * work happens, and wall_seconds around the whole job (from opening its input to its line); with --batch 1
 * the six add up to the wall time but for the prompt's tokenization. In a batch the jobs' decodes run
 * together: wall_seconds is then the batch's, and each decode runs from the job's first token to the batch's
 * last. */
#define G_LOG_DOMAIN "viewfinder-cli"

#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "vf_media_item.h"
#include "vf_pdf.h"
#include "vf_prompt.h"
#include "vf_session.h"

#define OCR_PROMPT "Transcribe all the text in this image, preserving its layout. Reply with the text only."
#define MAX_BATCH 64

/* One request: a picture or a page, and where its result goes. */
typedef struct {
  char *input;          /* the file given or found in a folder: what the line's "path" and the .md name */
  char *source;         /* what the model reads: the picture, or "doc.pdf#page=N" */
  guint page;           /* 1-based PDF page, 0 for a picture */
  gboolean last_of_input;
  double listing_seconds; /* opening the PDF to count its pages (the input's first job carries it) */
  GError *error;        /* the input could not be read as a document (encrypted, damaged, bad --pages) */
} Job;

static void
job_free(gpointer data)
{
  Job *job = data;
  g_free(job->input);
  g_free(job->source);
  g_clear_error(&job->error);
  g_free(job);
}

static Job *
job_add(GPtrArray *jobs, const char *input, const char *source, guint page)
{
  Job *job = g_new0(Job, 1);
  job->input = g_strdup(input);
  job->source = g_strdup(source);
  job->page = page;
  job->last_of_input = TRUE;
  g_ptr_array_add(jobs, job);
  return job;
}

/* A file: a PDF becomes a job per selected page, anything else one job (the picture path says what is wrong
 * with it). */
static void
expand_file(GPtrArray *jobs, const char *path, const char *pages)
{
  g_autoptr(GError) error = NULL;
  int64_t t0 = g_get_monotonic_time();
  g_auto(GStrv) sources = vf_cli_pdf_pages(path, pages, &error);
  double listing = (g_get_monotonic_time() - t0) / 1e6;
  if (error) {
    job_add(jobs, path, path, 0)->error = g_steal_pointer(&error);
    return;
  }
  if (!sources) {
    job_add(jobs, path, path, 0)->listing_seconds = listing;
    return;
  }
  for (guint i = 0; sources[i]; i++) {
    g_autofree char *pdf = NULL;
    guint page = 0;
    vf_pdf_parse_source(sources[i], &pdf, &page, NULL);
    Job *job = job_add(jobs, path, sources[i], page);
    job->listing_seconds = i == 0 ? listing : 0;
    job->last_of_input = sources[i + 1] == NULL;
  }
}

static int
by_file_name(gconstpointer a, gconstpointer b)
{
  g_autofree char *ka = g_utf8_collate_key_for_filename(*(char *const *)a, -1);
  g_autofree char *kb = g_utf8_collate_key_for_filename(*(char *const *)b, -1);
  return strcmp(ka, kb);
}

/* A folder: its files in name order ("page2" before "page10"), hidden ones and subfolders left out (said on
 * stderr); a folder that cannot be read is one failed job. */
static void
expand_folder(GPtrArray *jobs, const char *path, const char *pages)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDir) dir = g_dir_open(path, 0, &error);
  if (!dir) {
    job_add(jobs, path, path, 0)->error = g_steal_pointer(&error);
    return;
  }
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
  for (const char *name; (name = g_dir_read_name(dir));)
    if (name[0] != '.')
      g_ptr_array_add(names, g_strdup(name));
  g_ptr_array_sort(names, by_file_name);
  for (guint i = 0; i < names->len; i++) {
    g_autofree char *file = g_build_filename(path, names->pdata[i], NULL);
    if (g_file_test(file, G_FILE_TEST_IS_DIR))
      fprintf(stderr, "viewfinder-cli ocr: %s is a folder: not read (ocr reads one level)\n", file);
    else
      expand_file(jobs, file, pages);
  }
}

/* What one job gave. */
typedef struct {
  GString *text;
  VfTurnStats stats;
  GError *error;
  uint32_t visual_tokens;
  double open_seconds, render_seconds, wall_seconds;
} Result;

static void
collect(const char *piece, size_t len, void *user)
{
  g_string_append_len(user, piece, (gssize)len);
}

static gboolean
result_cut(const Result *r)
{
  return r->stats.stop_reason == VF_STOP_TOKEN_LIMIT || r->stats.stop_reason == VF_STOP_CONTEXT_FULL;
}

static void
add_seconds(JsonBuilder *b, const char *name, double seconds)
{
  json_builder_set_member_name(b, name);
  json_builder_add_double_value(b, seconds);
}

static void
print_result(gboolean json, const Job *job, const Result *r)
{
  if (!json) {
    g_autofree char *page = job->page ? g_strdup_printf(" page %u", job->page) : g_strdup("");
    if (r->error)
      printf("== %s%s: error: %s\n", job->input, page, r->error->message);
    else {
      printf("== %s%s (%u visual tokens, %.1f s%s)\n", job->input, page, r->visual_tokens, r->wall_seconds,
             result_cut(r) ? ", cut at the token limit" : "");
      fwrite(r->text->str, 1, r->text->len, stdout);
      printf("\n");
    }
    fflush(stdout);
    return;
  }
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "path");
  json_builder_add_string_value(b, job->input);
  if (job->page) {
    json_builder_set_member_name(b, "page");
    json_builder_add_int_value(b, job->page);
  }
  if (r->error) {
    json_builder_set_member_name(b, "error");
    json_builder_add_string_value(b, r->error->message);
    json_builder_end_object(b);
    vf_cli_print_json(b);
    return;
  }
  const VfTurnStats *st = &r->stats;
  json_builder_set_member_name(b, "visual_tokens");
  json_builder_add_int_value(b, r->visual_tokens);
  json_builder_set_member_name(b, "prompt_tokens");
  json_builder_add_int_value(b, st->prompt_tokens);
  json_builder_set_member_name(b, "generated_tokens");
  json_builder_add_int_value(b, st->generated_tokens);
  json_builder_set_member_name(b, "stop_reason");
  json_builder_add_string_value(b, vf_stop_reason_name(st->stop_reason));
  json_builder_set_member_name(b, "cut");
  json_builder_add_boolean_value(b, result_cut(r));
  add_seconds(b, "open_seconds", r->open_seconds);
  add_seconds(b, "render_seconds", r->render_seconds);
  /* The session's preprocessing includes the decode (or render) of the pixels. */
  add_seconds(b, "preprocess_seconds", MAX(st->preprocess_seconds - r->render_seconds, 0));
  add_seconds(b, "encode_seconds", st->encode_seconds);
  add_seconds(b, "prefill_seconds", st->prefill_seconds);
  add_seconds(b, "decode_seconds", st->decode_seconds);
  add_seconds(b, "wall_seconds", r->wall_seconds);
  json_builder_end_object(b);
  vf_cli_print_json_with_text(b, "text", r->text->str, r->text->len);
}

/* --output-dir: one Markdown file per input, its pages under "## Page N" headings (a single picture is just
 * its text); a page that failed or was cut says so in a comment, so nothing is lost silently. */
typedef struct {
  const char *dir;
  GHashTable *used;  /* file names written in this run: a second "scan.md" becomes "scan-2.md" */
  GString *doc;      /* the input being assembled */
} Writer;

static void
writer_add(Writer *w, const Job *job, const Result *r)
{
  if (!w->dir)
    return;
  if (job->page)
    g_string_append_printf(w->doc, "%s## Page %u\n\n", w->doc->len ? "\n\n" : "", job->page);
  if (r->error)
    g_string_append_printf(w->doc, "<!-- not transcribed: %s -->", r->error->message);
  else
    g_string_append_len(w->doc, r->text->str, (gssize)r->text->len);
  if (!r->error && result_cut(r))
    g_string_append_printf(w->doc, "\n\n<!-- cut: the answer reached its limit of %u tokens -->",
                           r->stats.generated_tokens);
}

/* The input's file, when its last job is in; FALSE when it could not be written. A single picture that failed
 * writes nothing (its error line says why). */
static gboolean
writer_finish_input(Writer *w, const Job *job, const Result *r)
{
  if (!w->dir || !job->last_of_input)
    return TRUE;
  g_autoptr(GString) doc = g_steal_pointer(&w->doc);
  w->doc = g_string_new(NULL);
  if (!job->page && r->error)
    return TRUE;
  g_autofree char *base = g_path_get_basename(job->input);
  char *dot = strrchr(base, '.');
  if (dot && dot != base)
    *dot = '\0';
  char *name = g_strdup_printf("%s.md", base);
  for (guint n = 2; g_hash_table_contains(w->used, name); n++) {
    g_free(name);
    name = g_strdup_printf("%s-%u.md", base, n);
  }
  g_hash_table_add(w->used, name);
  g_autofree char *path = g_build_filename(w->dir, name, NULL);
  g_string_append_c(doc, '\n');
  g_autoptr(GError) error = NULL;
  if (!g_file_set_contents(path, doc->str, (gssize)doc->len, &error)) {
    fprintf(stderr, "viewfinder-cli ocr: %s\n", error->message);
    return FALSE;
  }
  return TRUE;
}

/* Opens the batch's jobs into their sessions and answers them together; fills results[i]. */
static void
run_batch(GPtrArray *sessions, Job *const *jobs, uint32_t n, const char *prompt, const VfMediaOptions *media,
          const VfImageProcessorConfig *proc, const VfGenerateOptions *opts, Result *results)
{
  int64_t t_batch = g_get_monotonic_time();
  VfSession *ready[MAX_BATCH];
  void *users[MAX_BATCH];
  VfMediaItem *items[MAX_BATCH];
  VfTurnStats stats[MAX_BATCH] = {{0}};
  GError *errors[MAX_BATCH] = {NULL};
  uint32_t index[MAX_BATCH], n_ready = 0;
  double listing = 0; /* the batch's share of listing its inputs, done before it */
  for (uint32_t i = 0; i < n; i++) {
    Result *r = &results[i];
    int64_t t_open = g_get_monotonic_time();
    r->text = g_string_new(NULL);
    listing += jobs[i]->listing_seconds;
    if (jobs[i]->error) {
      r->error = g_error_copy(jobs[i]->error);
      continue;
    }
    g_autoptr(VfMediaItem) item = vf_media_item_new_image(jobs[i]->source, &r->error);
    r->open_seconds = jobs[i]->listing_seconds + (g_get_monotonic_time() - t_open) / 1e6;
    VfMediaPlan plan = {0};
    if (!item || !vf_media_item_plan_for(item, media, proc, &plan, &r->error))
      continue;
    r->visual_tokens = plan.n_tokens;
    vf_media_plan_clear(&plan);
    VfSession *s = sessions->pdata[n_ready];
    vf_session_reset(s);
    VfChatMessage *msg = vf_chat_append_message(vf_session_chat(s), "user");
    vf_media_item_append_to(item, msg, media);
    vf_chat_message_append_text(msg, prompt);
    index[n_ready] = i;
    items[n_ready] = g_steal_pointer(&item);
    ready[n_ready] = s;
    users[n_ready++] = r->text;
  }
  g_autoptr(GError) shared = NULL;
  gboolean ok = n_ready == 0 ||
                vf_session_generate_together(ready, n_ready, opts, collect, users, NULL, stats, errors, &shared);
  double wall = (g_get_monotonic_time() - t_batch) / 1e6 + listing;
  for (uint32_t k = 0; k < n_ready; k++) {
    Result *r = &results[index[k]];
    r->stats = stats[k];
    r->error = errors[k] ? errors[k] : !ok ? g_error_copy(shared) : NULL;
    r->render_seconds = vf_media_item_decode_seconds(items[k]);
    vf_media_item_unref(items[k]);
  }
  for (uint32_t i = 0; i < n; i++)
    results[i].wall_seconds = wall;
}

int
vf_cli_ocr(int argc, char **argv)
{
  g_autofree char *model_dir = NULL, *tokenizer_dir = NULL, *prompt = NULL, *pages = NULL, *output_dir = NULL;
  int max_new = 1024, batch = 1;
  gint64 max_pixels = VF_PDF_PAGE_PIXELS;
  gboolean json = FALSE;
  GOptionEntry entries[] = {
    {"model", 'm', 0, G_OPTION_ARG_FILENAME, &model_dir, "model folder", "DIR"},
    {"tokenizer", 0, 0, G_OPTION_ARG_FILENAME, &tokenizer_dir, "tokenizer folder (default: the model folder)", "DIR"},
    {"prompt", 'p', 0, G_OPTION_ARG_STRING, &prompt, "the instruction (default: transcribe the text)", "TEXT"},
    {"max-new-tokens", 0, 0, G_OPTION_ARG_INT, &max_new, "most tokens per picture or page (1024)", "N"},
    {"max-pixels", 0, 0, G_OPTION_ARG_INT64, &max_pixels,
     "at most this many pixels per picture or page after resizing (2048·28·28 = 1605632)", "N"},
    {"pages", 0, 0, G_OPTION_ARG_STRING, &pages, "PDFs: these pages only, e.g. 2-5 or 1,3-4", "A-B"},
    {"output-dir", 'o', 0, G_OPTION_ARG_FILENAME, &output_dir, "write one .md per input file into DIR", "DIR"},
    {"batch", 'b', 0, G_OPTION_ARG_INT, &batch, "requests answered together, one KV cache each (1)", "N"},
    {"json", 0, 0, G_OPTION_ARG_NONE, &json, "one JSON line per picture or page", NULL},
    {NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("FILE|PDF|FOLDER... — transcribe pictures and documents");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error) || !model_dir || argc < 2 || max_new <= 0 || batch < 1 ||
      batch > MAX_BATCH || max_pixels <= 0) {
    fprintf(stderr, "viewfinder-cli ocr: %s\n",
            error ? error->message
                  : "usage: ocr -m MODEL_DIR [--batch 1..64] [--pages A-B] [--output-dir DIR] FILE|PDF|FOLDER...");
    return 2;
  }
  if (output_dir && g_mkdir_with_parents(output_dir, 0755) != 0) {
    fprintf(stderr, "viewfinder-cli ocr: cannot create %s: %s\n", output_dir, g_strerror(errno));
    return 1;
  }

  g_autoptr(GPtrArray) jobs = g_ptr_array_new_with_free_func(job_free);
  for (int i = 1; i < argc; i++) {
    if (g_file_test(argv[i], G_FILE_TEST_IS_DIR))
      expand_folder(jobs, argv[i], pages);
    else
      expand_file(jobs, argv[i], pages);
  }
  if (jobs->len == 0) {
    fprintf(stderr, "viewfinder-cli ocr: the folders hold no files\n");
    return 1;
  }

  uint32_t n_seq = MIN((uint32_t)batch, jobs->len);
  g_autoptr(VfTokenizer) tok = vf_tokenizer_load(tokenizer_dir ? tokenizer_dir : model_dir, &error);
  g_autoptr(VfDevice) dev = tok ? vf_cli_device(&error) : NULL;
  VfLlmOptions llm_opts = {.sequences = n_seq};
  g_autoptr(VfModel) model = dev ? vf_model_load(dev, model_dir, &llm_opts, vf_cli_progress, NULL, &error) : NULL;
  if (!model) {
    fprintf(stderr, "viewfinder-cli ocr: %s\n", error->message);
    return 1;
  }
  g_autoptr(GPtrArray) sessions = g_ptr_array_new_with_free_func((GDestroyNotify)vf_session_free);
  for (uint32_t q = 0; q < n_seq; q++) {
    VfSession *s = vf_session_new(model, tok, &error);
    if (!s) {
      fprintf(stderr, "viewfinder-cli ocr: %s\n", error->message);
      return 1;
    }
    g_ptr_array_add(sessions, s);
  }
  VfGenerateOptions opts;
  vf_session_default_options(sessions->pdata[0], &opts);
  opts.max_new_tokens = (uint32_t)max_new;
  opts.on_stage = vf_cli_stage;
  VfImageProcessorConfig proc;
  vf_prompt_processor_config(model->config, &proc);
  VfMediaOptions media = {.max_pixels = (uint64_t)max_pixels};

  g_autoptr(GHashTable) used = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  Writer writer = {.dir = output_dir, .used = used, .doc = g_string_new(NULL)};
  int failures = 0;
  for (guint first = 0; first < jobs->len; first += n_seq) {
    uint32_t n = MIN(n_seq, jobs->len - first);
    Job *const *batch_jobs = (Job *const *)jobs->pdata + first;
    Result results[MAX_BATCH] = {{0}};
    run_batch(sessions, batch_jobs, n, prompt ? prompt : OCR_PROMPT, &media, &proc, &opts, results);
    for (uint32_t i = 0; i < n; i++) {
      failures += results[i].error != NULL;
      print_result(json, batch_jobs[i], &results[i]);
      writer_add(&writer, batch_jobs[i], &results[i]);
      failures += !writer_finish_input(&writer, batch_jobs[i], &results[i]);
      g_string_free(results[i].text, TRUE);
      g_clear_error(&results[i].error);
    }
  }
  g_string_free(writer.doc, TRUE);
  return failures ? 1 : 0;
}
