/* "Get Models". See vf_download_dialog.h. */
#define G_LOG_DOMAIN "vf-download-dialog"

#include "vf_download_dialog.h"

#include "vf_engine.h"
#include "vf_hub.h"
#include "vf_memory_plan.h"

/* The checkpoints offered, in the order shown. */
static const char *const catalog[] = {
  "Qwen/Qwen2-VL-2B-Instruct",
  "Qwen/Qwen2-VL-2B-Instruct-GPTQ-Int4",
  "Qwen/Qwen2-VL-2B-Instruct-GPTQ-Int8",
  "Qwen/Qwen2-VL-2B-Instruct-AWQ",
  "Qwen/Qwen2-VL-7B-Instruct",
  "Qwen/Qwen2-VL-7B-Instruct-GPTQ-Int4",
  "Qwen/Qwen2-VL-7B-Instruct-GPTQ-Int8",
  "Qwen/Qwen2-VL-7B-Instruct-AWQ",
};

typedef enum {
  ROW_LISTING,   /* asking the hub */
  ROW_AVAILABLE, /* size known, nothing in the cache */
  ROW_PARTIAL,   /* part of it in the cache */
  ROW_COMPLETE,  /* all of it in the cache */
  ROW_UNKNOWN,   /* the hub could not be asked (offline?) */
} RowState;

typedef struct {
  char *repo_id;
  AdwActionRow *row;
  GtkButton *button;
  RowState state;
  guint64 total, missing;
  VfConfig *config; /* from the hub's listing, for the fit hint; NULL until listed or when it has none */
} ModelRow;

typedef enum {
  DOWNLOAD_NONE,
  DOWNLOAD_RUNNING,
  DOWNLOAD_PAUSED,
  DOWNLOAD_FAILED,
  DOWNLOAD_DONE,
} DownloadState;

static const char *const download_state_names[] = {"none", "running", "paused", "failed", "done"};

struct _VfDownloadDialog {
  AdwWindow parent_instance;

  AdwPreferencesGroup *models_group;
  GtkWidget *progress_box;
  GtkLabel *progress_title;
  GtkLabel *file_label;
  GtkProgressBar *file_bar;
  GtkLabel *total_label;
  GtkProgressBar *total_bar;
  GtkLabel *error_label;
  GtkButton *pause_button;

  VfEngine *engine;           /* asked which GPU it runs on, for the fit hints */
  VfEngineDevice *device;     /* NULL until it answers */
  char *device_problem;       /* why it could not answer */
  GArray *rows;               /* ModelRow */
  GCancellable *listing;      /* the size queries; cancelled when the dialog goes */
  GCancellable *download;     /* the running download (Pause cancels it) */
  char *download_repo;
  DownloadState download_state;
  VfHubProgress progress;     /* the last one reported; .file points at progress_file */
  char *progress_file;
  char *download_error;
};

G_DEFINE_FINAL_TYPE(VfDownloadDialog, vf_download_dialog, ADW_TYPE_WINDOW)

enum {
  SIGNAL_DOWNLOADED,
  N_SIGNALS,
};

static guint signals[N_SIGNALS];

static ModelRow *
find_row(VfDownloadDialog *self, const char *repo_id)
{
  for (guint i = 0; i < self->rows->len; i++) {
    ModelRow *r = &g_array_index(self->rows, ModelRow, i);
    if (g_str_equal(r->repo_id, repo_id))
      return r;
  }
  return NULL;
}

/* ---------------------------------------------------------------------------------------------------
 * Rows
 * ------------------------------------------------------------------------------------------------- */

/* "fits with a 32768-token context", "too large for this GPU: ...", or NULL while unknown. The longest context
 * the app would give it is what matters to the user; 1024 tokens is the least a picture and a question need. */
static char *
fit_hint(VfDownloadDialog *self, const ModelRow *r)
{
  if (!r->config || !(self->device || self->device_problem))
    return NULL;
  if (!self->device)
    return g_strdup_printf("fit unknown: %s", self->device_problem);
  VfMemoryPlan plan;
  uint32_t context = vf_memory_plan_fit(r->config, self->device->memory_budget, 32768, &plan);
  g_autofree char *budget = vf_hub_format_bytes(self->device->memory_budget);
  g_autofree char *need = vf_hub_format_bytes(plan.total);
  if (context == 0)
    return g_strdup_printf("too large for this GPU: needs %s with a %u-token context, %s has %s", need,
                           plan.context, self->device->name, budget);
  return g_strdup_printf("fits with a %u-token context (%s of %s)", context, need, budget);
}

static void
show_row(VfDownloadDialog *self, ModelRow *r, const char *problem)
{
  g_autofree char *size = vf_hub_format_bytes(r->total), *have = vf_hub_format_bytes(r->total - r->missing);
  g_autofree char *subtitle = NULL;
  const char *button = "_Download";
  switch (r->state) {
  case ROW_LISTING:
    subtitle = g_strdup("Asking the hub for its size…");
    break;
  case ROW_AVAILABLE:
    subtitle = g_strdup(size);
    break;
  case ROW_PARTIAL:
    subtitle = g_strdup_printf("%s · incomplete: %s downloaded, resume?", size, have);
    button = "_Resume";
    break;
  case ROW_COMPLETE:
    subtitle = g_strdup_printf("%s · in the cache", size);
    button = "_Open";
    break;
  case ROW_UNKNOWN:
    subtitle = g_strdup_printf("size unknown: %s", problem ? problem : "the hub did not answer");
    break;
  }
  g_autofree char *fit = r->state == ROW_UNKNOWN ? NULL : fit_hint(self, r);
  if (fit) {
    char *with_fit = g_strdup_printf("%s · %s", subtitle, fit);
    g_free(subtitle);
    subtitle = with_fit;
  }
  adw_action_row_set_subtitle(r->row, subtitle);
  gtk_button_set_label(r->button, button);
  gtk_widget_set_sensitive(GTK_WIDGET(r->button), self->download_state != DOWNLOAD_RUNNING);
}

typedef struct {
  VfDownloadDialog *self; /* a reference */
  char *repo_id;
  VfHubListing *listing;  /* NULL on failure */
  char *error;
} ListingResult;

static void
listing_result_free(gpointer data)
{
  ListingResult *res = data;
  g_object_unref(res->self);
  g_free(res->repo_id);
  vf_hub_listing_free(res->listing);
  g_free(res->error);
  g_free(res);
}

static gboolean
on_listed(gpointer data)
{
  ListingResult *res = data;
  ModelRow *r = find_row(res->self, res->repo_id);
  if (!r || g_cancellable_is_cancelled(res->self->listing))
    return G_SOURCE_REMOVE;
  if (res->listing) {
    r->total = res->listing->total_bytes;
    r->missing = res->listing->missing_bytes;
    r->state = r->missing == 0 ? ROW_COMPLETE : r->missing < r->total ? ROW_PARTIAL : ROW_AVAILABLE;
    vf_config_free(r->config);
    r->config = g_steal_pointer(&res->listing->config);
    if (!r->config)
      g_message("%s: no fit hint: %s", r->repo_id, res->listing->config_problem);
  } else {
    r->state = ROW_UNKNOWN;
  }
  show_row(res->self, r, res->error);
  return G_SOURCE_REMOVE;
}

/* One thread asks the hub about every row in turn (a handful of small requests, not eight at once). */
static void
list_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  VfDownloadDialog *self = source;
  GStrv repos = task_data;
  for (guint i = 0; repos[i] && !g_cancellable_is_cancelled(cancellable); i++) {
    ListingResult *res = g_new0(ListingResult, 1);
    res->self = g_object_ref(self);
    res->repo_id = g_strdup(repos[i]);
    g_autoptr(GError) error = NULL;
    res->listing = vf_hub_list(repos[i], NULL, NULL, cancellable, &error);
    if (!res->listing)
      res->error = g_strdup(error->message);
    g_main_context_invoke_full(NULL, G_PRIORITY_DEFAULT, on_listed, res, listing_result_free);
  }
  g_task_return_boolean(task, TRUE);
}

static void
refresh_rows(VfDownloadDialog *self, const char *only)
{
  GStrvBuilder *builder = g_strv_builder_new();
  for (guint i = 0; i < self->rows->len; i++) {
    ModelRow *r = &g_array_index(self->rows, ModelRow, i);
    if (only && !g_str_equal(only, r->repo_id))
      continue;
    r->state = ROW_LISTING;
    show_row(self, r, NULL);
    g_strv_builder_add(builder, r->repo_id);
  }
  g_autoptr(GTask) task = g_task_new(self, self->listing, NULL, NULL);
  g_task_set_task_data(task, g_strv_builder_end(builder), (GDestroyNotify)g_strfreev);
  g_strv_builder_unref(builder);
  g_task_run_in_thread(task, list_thread);
}

/* ---------------------------------------------------------------------------------------------------
 * The download
 * ------------------------------------------------------------------------------------------------- */

static void
show_progress(VfDownloadDialog *self)
{
  const VfHubProgress *p = &self->progress;
  gtk_widget_set_visible(self->progress_box, self->download_state != DOWNLOAD_NONE);
  const char *name = self->download_repo ? strrchr(self->download_repo, '/') + 1 : "";
  g_autofree char *title = NULL;
  switch (self->download_state) {
  case DOWNLOAD_NONE:
    return;
  case DOWNLOAD_RUNNING:
    title = g_strdup_printf("Downloading %s", name);
    break;
  case DOWNLOAD_PAUSED:
    title = g_strdup_printf("%s: paused", name);
    break;
  case DOWNLOAD_FAILED:
    title = g_strdup_printf("%s: the download stopped", name);
    break;
  case DOWNLOAD_DONE:
    title = g_strdup_printf("%s is ready", name);
    break;
  }
  gtk_label_set_text(self->progress_title, title);
  g_autofree char *file_done = vf_hub_format_bytes(p->file_done), *file_size = vf_hub_format_bytes(p->file_size);
  g_autofree char *file = p->file ? g_strdup_printf("File %u of %u: %s, %s of %s", p->file_index + 1, p->n_files,
                                                    p->file, file_done, file_size)
                                  : g_strdup("Listing the files…");
  gtk_label_set_text(self->file_label, file);
  gtk_progress_bar_set_fraction(self->file_bar, p->file_size ? (double)p->file_done / p->file_size : 0);
  g_autofree char *done = vf_hub_format_bytes(p->done), *total = vf_hub_format_bytes(p->total);
  g_autofree char *left = vf_hub_format_time_left(p->seconds_left);
  g_autofree char *summary =
    self->download_state == DOWNLOAD_RUNNING && p->bytes_per_second > 0
      ? g_strdup_printf("%s of %s · %.1f MB/s · %s", done, total, p->bytes_per_second / 1e6, left)
      : g_strdup_printf("%s of %s", done, total);
  gtk_label_set_text(self->total_label, summary);
  gtk_progress_bar_set_fraction(self->total_bar, p->total ? (double)p->done / p->total : 0);
  gtk_widget_set_visible(GTK_WIDGET(self->error_label), self->download_error != NULL);
  gtk_label_set_text(self->error_label, self->download_error ? self->download_error : "");
  gtk_button_set_label(self->pause_button, self->download_state == DOWNLOAD_RUNNING ? "_Pause" : "_Resume");
  gtk_widget_set_visible(GTK_WIDGET(self->pause_button),
                         self->download_state == DOWNLOAD_RUNNING || self->download_state == DOWNLOAD_PAUSED ||
                           self->download_state == DOWNLOAD_FAILED);
  for (guint i = 0; i < self->rows->len; i++)
    gtk_widget_set_sensitive(GTK_WIDGET(g_array_index(self->rows, ModelRow, i).button),
                             self->download_state != DOWNLOAD_RUNNING);
}

typedef struct {
  VfDownloadDialog *self; /* a reference */
  VfHubProgress progress;
  char *file;
} ProgressUpdate;

static void
progress_update_free(gpointer data)
{
  ProgressUpdate *u = data;
  g_object_unref(u->self);
  g_free(u->file);
  g_free(u);
}

static gboolean
on_progress_main(gpointer data)
{
  ProgressUpdate *u = data;
  VfDownloadDialog *self = u->self;
  if (self->download_state != DOWNLOAD_RUNNING)
    return G_SOURCE_REMOVE;
  g_free(self->progress_file);
  self->progress_file = g_steal_pointer(&u->file);
  self->progress = u->progress;
  self->progress.file = self->progress_file;
  show_progress(self);
  return G_SOURCE_REMOVE;
}

/* On the download thread: hands a copy to the main loop (vf_hub already reports at most every 100 ms). */
static void
on_progress(const VfHubProgress *progress, void *user)
{
  ProgressUpdate *u = g_new0(ProgressUpdate, 1);
  u->self = g_object_ref(user);
  u->progress = *progress;
  u->file = g_strdup(progress->file);
  u->progress.file = NULL;
  g_main_context_invoke_full(NULL, G_PRIORITY_DEFAULT, on_progress_main, u, progress_update_free);
}

static void
download_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  GError *error = NULL;
  char *snapshot = vf_hub_download(task_data, NULL, NULL, on_progress, source, cancellable, &error);
  if (snapshot)
    g_task_return_pointer(task, snapshot, g_free);
  else
    g_task_return_error(task, error);
}

static void
on_downloaded(GObject *source, GAsyncResult *result, gpointer user_data)
{
  VfDownloadDialog *self = VF_DOWNLOAD_DIALOG(source);
  g_autoptr(GError) error = NULL;
  g_autofree char *snapshot = g_task_propagate_pointer(G_TASK(result), &error);
  g_clear_object(&self->download);
  g_clear_pointer(&self->download_error, g_free);
  if (snapshot) {
    self->download_state = DOWNLOAD_DONE;
    self->progress.done = self->progress.total;
  } else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    self->download_state = DOWNLOAD_PAUSED;
  } else {
    self->download_state = DOWNLOAD_FAILED;
    self->download_error = g_strdup(error->message);
  }
  show_progress(self);
  if (self->download_repo && !gtk_widget_in_destruction(GTK_WIDGET(self)))
    refresh_rows(self, self->download_repo);
  if (snapshot) {
    g_signal_emit(self, signals[SIGNAL_DOWNLOADED], 0, snapshot);
    gtk_window_close(GTK_WINDOW(self));
  }
}

void
vf_download_dialog_start(VfDownloadDialog *self, const char *repo_id)
{
  if (self->download_state == DOWNLOAD_RUNNING)
    return;
  g_free(self->download_repo);
  self->download_repo = g_strdup(repo_id);
  g_clear_pointer(&self->download_error, g_free);
  g_clear_pointer(&self->progress_file, g_free);
  self->progress = (VfHubProgress){.seconds_left = -1};
  ModelRow *r = find_row(self, repo_id);
  if (r && r->state != ROW_LISTING && r->state != ROW_UNKNOWN) { /* the bar starts where the cache is */
    self->progress.total = r->total;
    self->progress.done = r->total - r->missing;
  }
  self->download_state = DOWNLOAD_RUNNING;
  show_progress(self);
  self->download = g_cancellable_new();
  g_autoptr(GTask) task = g_task_new(self, self->download, on_downloaded, NULL);
  g_task_set_task_data(task, g_strdup(repo_id), g_free);
  g_task_run_in_thread(task, download_thread);
}

static void
on_row_clicked(GtkButton *button, VfDownloadDialog *self)
{
  vf_download_dialog_start(self, g_object_get_data(G_OBJECT(button), "repo-id"));
}

static void
on_pause_clicked(GtkButton *button, VfDownloadDialog *self)
{
  if (self->download_state == DOWNLOAD_RUNNING)
    g_cancellable_cancel(self->download);
  else if (self->download_repo)
    vf_download_dialog_start(self, self->download_repo);
}

/* ---------------------------------------------------------------------------------------------------
 * The test dump
 * ------------------------------------------------------------------------------------------------- */

static void
add_string(JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name(b, name);
  if (value)
    json_builder_add_string_value(b, value);
  else
    json_builder_add_null_value(b);
}

static void
add_uint(JsonBuilder *b, const char *name, guint64 value)
{
  json_builder_set_member_name(b, name);
  json_builder_add_int_value(b, (gint64)value);
}

void
vf_download_dialog_dump(VfDownloadDialog *self, JsonBuilder *b)
{
  json_builder_begin_object(b);
  add_string(b, "repo", self->download_repo);
  add_string(b, "state", download_state_names[self->download_state]);
  add_string(b, "file", self->progress.file);
  add_uint(b, "done", self->progress.done);
  add_uint(b, "total", self->progress.total);
  add_string(b, "title", gtk_label_get_text(self->progress_title));
  add_string(b, "error", self->download_error);
  json_builder_set_member_name(b, "rows");
  json_builder_begin_array(b);
  for (guint i = 0; i < self->rows->len; i++) {
    ModelRow *r = &g_array_index(self->rows, ModelRow, i);
    json_builder_begin_object(b);
    add_string(b, "repo", r->repo_id);
    add_string(b, "subtitle", adw_action_row_get_subtitle(r->row));
    g_autofree char *fit = fit_hint(self, r);
    add_string(b, "fit", fit);
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  json_builder_end_object(b);
}

/* ---------------------------------------------------------------------------------------------------
 * Type
 * ------------------------------------------------------------------------------------------------- */

static void
model_row_clear(gpointer data)
{
  ModelRow *r = data;
  g_free(r->repo_id);
  vf_config_free(r->config);
}

static void
on_device(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(VfDownloadDialog) self = user_data;
  g_autoptr(GError) error = NULL;
  self->device = vf_engine_query_device_finish(VF_ENGINE(source), result, &error);
  if (!self->device)
    self->device_problem = g_strdup(error->message);
  for (guint i = 0; i < self->rows->len; i++) {
    ModelRow *r = &g_array_index(self->rows, ModelRow, i);
    if (r->state != ROW_LISTING)
      show_row(self, r, NULL);
  }
}

static void
vf_download_dialog_dispose(GObject *object)
{
  VfDownloadDialog *self = VF_DOWNLOAD_DIALOG(object);
  g_cancellable_cancel(self->listing);
  if (self->download)
    g_cancellable_cancel(self->download); /* closing the dialog pauses: the partial file stays */
  G_OBJECT_CLASS(vf_download_dialog_parent_class)->dispose(object);
}

static void
vf_download_dialog_finalize(GObject *object)
{
  VfDownloadDialog *self = VF_DOWNLOAD_DIALOG(object);
  g_array_unref(self->rows);
  g_clear_object(&self->listing);
  g_clear_object(&self->download);
  g_clear_object(&self->engine);
  vf_engine_device_free(self->device);
  g_free(self->device_problem);
  g_free(self->download_repo);
  g_free(self->progress_file);
  g_free(self->download_error);
  G_OBJECT_CLASS(vf_download_dialog_parent_class)->finalize(object);
}

static void
vf_download_dialog_class_init(VfDownloadDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
  object_class->dispose = vf_download_dialog_dispose;
  object_class->finalize = vf_download_dialog_finalize;

  /* ::downloaded (const char *snapshot_dir): a download completed; the dialog closes after it. */
  signals[SIGNAL_DOWNLOADED] = g_signal_new("downloaded", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                            NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);

  gtk_widget_class_set_template_from_resource(widget_class, "/org/viewfinder/Viewfinder/ui/vf_download_dialog.ui");
  gtk_widget_class_bind_template_child(widget_class, VfDownloadDialog, models_group);
  gtk_widget_class_bind_template_child(widget_class, VfDownloadDialog, progress_box);
  gtk_widget_class_bind_template_child(widget_class, VfDownloadDialog, progress_title);
  gtk_widget_class_bind_template_child(widget_class, VfDownloadDialog, file_label);
  gtk_widget_class_bind_template_child(widget_class, VfDownloadDialog, file_bar);
  gtk_widget_class_bind_template_child(widget_class, VfDownloadDialog, total_label);
  gtk_widget_class_bind_template_child(widget_class, VfDownloadDialog, total_bar);
  gtk_widget_class_bind_template_child(widget_class, VfDownloadDialog, error_label);
  gtk_widget_class_bind_template_child(widget_class, VfDownloadDialog, pause_button);
  gtk_widget_class_add_binding_action(widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
}

static void
vf_download_dialog_init(VfDownloadDialog *self)
{
  gtk_widget_init_template(GTK_WIDGET(self));
  self->listing = g_cancellable_new();
  self->rows = g_array_new(FALSE, TRUE, sizeof(ModelRow));
  g_array_set_clear_func(self->rows, model_row_clear);
  g_signal_connect(self->pause_button, "clicked", G_CALLBACK(on_pause_clicked), self);
  for (guint i = 0; i < G_N_ELEMENTS(catalog); i++) {
    ModelRow r = {.repo_id = g_strdup(catalog[i]), .state = ROW_LISTING};
    r.row = ADW_ACTION_ROW(adw_action_row_new());
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(r.row), strchr(catalog[i], '/') + 1);
    r.button = GTK_BUTTON(gtk_button_new_with_mnemonic("_Download"));
    gtk_widget_set_valign(GTK_WIDGET(r.button), GTK_ALIGN_CENTER);
    g_object_set_data_full(G_OBJECT(r.button), "repo-id", g_strdup(catalog[i]), g_free);
    g_signal_connect(r.button, "clicked", G_CALLBACK(on_row_clicked), self);
    adw_action_row_add_suffix(r.row, GTK_WIDGET(r.button));
    adw_preferences_group_add(self->models_group, GTK_WIDGET(r.row));
    g_array_append_val(self->rows, r);
  }
  refresh_rows(self, NULL);
}

VfDownloadDialog *
vf_download_dialog_new(GtkWindow *parent, VfEngine *engine)
{
  VfDownloadDialog *self = g_object_new(VF_TYPE_DOWNLOAD_DIALOG, "transient-for", parent, NULL);
  self->engine = g_object_ref(engine);
  vf_engine_query_device_async(engine, self->listing, on_device, g_object_ref(self));
  return self;
}
