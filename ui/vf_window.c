/* The window: pages, model loading and the prompt's token count. See vf_window.h. */
#define G_LOG_DOMAIN "vf-window"

#include "vf_window_private.h"

#include <string.h>

#include "vf_hub.h"
#include "vf_model_finder.h"

G_DEFINE_FINAL_TYPE(VfWindow, vf_window, ADW_TYPE_APPLICATION_WINDOW)

enum {
  PROP_0,
  PROP_ENGINE,
  PROP_SETTINGS,
  N_PROPS,
};

static GParamSpec *properties[N_PROPS];

#define COUNT_DELAY_MS 250 /* wait for typing to pause before counting the prompt again */

static void
on_toast_dismissed(AdwToast *toast, VfWindow *self)
{
  g_ptr_array_remove(self->live_toasts, toast);
}

void
vf_window_toast(VfWindow *self, const char *text)
{
  vf_window_toast_with_button(self, text, NULL, NULL);
}

void
vf_window_toast_with_button(VfWindow *self, const char *text, const char *button_label, const char *action_name)
{
  g_ptr_array_add(self->toasts, button_label ? g_strdup_printf("%s [%s: %s]", text, button_label, action_name)
                                             : g_strdup(text));
  AdwToast *toast = adw_toast_new(text);
  adw_toast_set_timeout(toast, 6);
  if (button_label) {
    adw_toast_set_button_label(toast, button_label);
    adw_toast_set_action_name(toast, action_name);
  }
  g_ptr_array_add(self->live_toasts, g_object_ref(toast));
  g_signal_connect_object(toast, "dismissed", G_CALLBACK(on_toast_dismissed), self, 0);
  adw_toast_overlay_add_toast(self->toast_overlay, toast);
}

void
vf_window_dismiss_toasts(VfWindow *self)
{
  /* Dismissing emits "dismissed", which takes the toast out of the list. */
  while (self->live_toasts->len > 0) {
    g_autoptr(AdwToast) toast = g_object_ref(self->live_toasts->pdata[self->live_toasts->len - 1]);
    adw_toast_dismiss(toast);
    g_ptr_array_remove(self->live_toasts, toast);
  }
}

char *
vf_window_explain_error(VfWindow *self, const GError *error)
{
  if (error->domain != VF_ENGINE_ERROR)
    return g_strdup(error->message);
  switch ((VfEngineError)error->code) {
  case VF_ENGINE_ERROR_OUT_OF_MEMORY:
    return g_strdup_printf("Out of GPU memory (%s). Try a lower max pixels for the pictures (their ⋯ button).",
                           error->message);
  case VF_ENGINE_ERROR_CONTEXT_FULL:
    return g_strdup_printf("The conversation no longer fits the model's context (%s). Start a new chat, or give "
                           "the pictures a lower max pixels.",
                           error->message);
  case VF_ENGINE_ERROR_DEVICE_LOST:
    return g_strdup_printf("The GPU stopped working (%s). Open the model again to go on.", error->message);
  case VF_ENGINE_ERROR_MEDIA:
  case VF_ENGINE_ERROR_NO_MODEL:
  case VF_ENGINE_ERROR_NO_ANSWER:
    break;
  }
  return g_strdup(error->message);
}

/* ---------------------------------------------------------------------------------------------------
 * Prompt token count
 * ------------------------------------------------------------------------------------------------- */

static void
show_draft_cost(VfWindow *self)
{
  /* Without a model only the attachments' own costs are known. */
  GListModel *attachments = vf_composer_get_attachments(self->composer);
  guint n = g_list_model_get_n_items(attachments), tokens = 0;
  for (guint i = 0; i < n; i++) {
    g_autoptr(VfAttachment) a = g_list_model_get_item(attachments, i);
    tokens += vf_attachment_get_tokens(a);
  }
  g_autofree char *text = n ? g_strdup_printf("Attachments: %u visual tokens", tokens) : NULL;
  vf_composer_set_status(self->composer, text, FALSE);
}

static void
on_counted(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  guint tokens = 0;
  gboolean ok = vf_engine_count_finish(VF_ENGINE(source), result, &tokens, &error);
  if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  VfWindow *self = user_data;
  g_clear_object(&self->count_cancellable);
  if (!ok) {
    /* Sending says what is wrong (a vanished file, say) with the turn's own error. */
    vf_window_show_fit(self, 0, 0);
    vf_composer_set_status(self->composer, error->message, TRUE);
    return;
  }
  g_autoptr(VfEngineModelInfo) info = vf_engine_get_model_info(self->engine);
  guint context = info ? info->context : 0;
  g_autofree char *text = g_strdup_printf("Prompt: %u of %u tokens", tokens, context);
  vf_composer_set_status(self->composer, text, FALSE);
  vf_window_show_fit(self, tokens, context);
}

static gboolean
count_now(gpointer data)
{
  VfWindow *self = data;
  self->count_source = 0;
  if (!vf_engine_has_model(self->engine) || self->loading) {
    show_draft_cost(self);
    return G_SOURCE_REMOVE;
  }
  if (self->answering) /* counted again when the answer is done */
    return G_SOURCE_REMOVE;
  if (self->count_cancellable) {
    g_cancellable_cancel(self->count_cancellable);
    g_object_unref(self->count_cancellable);
  }
  self->count_cancellable = g_cancellable_new();
  g_autofree char *text = vf_composer_get_text(self->composer);
  VfChat *draft = vf_window_build_draft(text, vf_composer_get_attachments(self->composer));
  vf_engine_count_async(self->engine, draft, self->count_cancellable, on_counted, self);
  return G_SOURCE_REMOVE;
}

void
vf_window_schedule_count(VfWindow *self)
{
  g_clear_handle_id(&self->count_source, g_source_remove);
  self->count_source = g_timeout_add(COUNT_DELAY_MS, count_now, self);
}

VfChat *
vf_window_build_draft(const char *text, GListModel *attachments)
{
  VfChat *draft = vf_chat_new();
  VfChatMessage *message = vf_chat_append_message(draft, "user");
  guint n = g_list_model_get_n_items(attachments);
  for (guint i = 0; i < n; i++) {
    g_autoptr(VfAttachment) a = g_list_model_get_item(attachments, i);
    vf_attachment_append_to(a, message);
  }
  if (text && *text)
    vf_chat_message_append_text(message, text);
  return draft;
}

/* Preferences → Pictures: a visual token is 28 × 28 pixels. Without settings, the same defaults. */
void
vf_window_apply_picture_budget(VfWindow *self, VfAttachment *attachment)
{
  guint lo = self->settings ? g_settings_get_uint(self->settings, "picture-min-tokens") : 256;
  guint hi = self->settings ? g_settings_get_uint(self->settings, "picture-max-tokens") : 1280;
  vf_attachment_set_budget(attachment, (uint64_t)lo * 28 * 28, (uint64_t)hi * 28 * 28);
}

static void
on_picture_budget_changed(VfWindow *self)
{
  GListModel *attachments = vf_composer_get_attachments(self->composer);
  for (guint i = 0; i < g_list_model_get_n_items(attachments); i++) {
    g_autoptr(VfAttachment) a = g_list_model_get_item(attachments, i);
    vf_window_apply_picture_budget(self, a);
  }
  vf_window_schedule_count(self);
}

void
vf_window_update_media_numbers(VfWindow *self)
{
  guint pictures, videos;
  vf_window_count_media(self, &pictures, &videos);
  vf_composer_set_media_before(self->composer, pictures, videos);
}

/* ---------------------------------------------------------------------------------------------------
 * Welcome page
 * ------------------------------------------------------------------------------------------------- */

static void
on_found_open_clicked(GtkButton *button, VfWindow *self)
{
  vf_window_load_model(self, g_object_get_data(G_OBJECT(button), "model-dir"), NULL);
}

static void
on_downloaded(VfDownloadDialog *dialog, const char *snapshot, VfWindow *self)
{
  vf_window_load_model(self, snapshot, NULL);
}

static void
on_download_dialog_destroyed(VfWindow *self)
{
  self->download_dialog = NULL;
}

void
vf_window_get_models(VfWindow *self, const char *repo_id)
{
  if (!self->download_dialog) {
    self->download_dialog = vf_download_dialog_new(GTK_WINDOW(self), self->engine);
    g_signal_connect(self->download_dialog, "downloaded", G_CALLBACK(on_downloaded), self);
    g_signal_connect_swapped(self->download_dialog, "destroy", G_CALLBACK(on_download_dialog_destroyed), self);
  }
  gtk_window_present(GTK_WINDOW(self->download_dialog));
  if (repo_id)
    vf_download_dialog_start(self->download_dialog, repo_id);
}

static void
on_resume_clicked(GtkButton *button, VfWindow *self)
{
  vf_window_get_models(self, g_object_get_data(G_OBJECT(button), "repo-id"));
}

/* A download that did not finish: "incomplete: resume?" with what it holds. */
static void
add_incomplete_row(VfWindow *self, const VfHubIncomplete *inc)
{
  GtkWidget *row = adw_action_row_new();
  adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), strchr(inc->repo_id, '/') ? strchr(inc->repo_id, '/') + 1
                                                                                      : inc->repo_id);
  g_autofree char *subtitle = g_strdup_printf("Hugging Face cache · incomplete: %.1f MB downloaded, resume?",
                                              inc->partial_bytes / 1e6);
  adw_action_row_set_subtitle(ADW_ACTION_ROW(row), subtitle);
  GtkWidget *resume = gtk_button_new_with_mnemonic("_Resume");
  gtk_widget_set_valign(resume, GTK_ALIGN_CENTER);
  g_object_set_data_full(G_OBJECT(resume), "repo-id", g_strdup(inc->repo_id), g_free);
  g_signal_connect(resume, "clicked", G_CALLBACK(on_resume_clicked), self);
  adw_action_row_add_suffix(ADW_ACTION_ROW(row), resume);
  adw_action_row_set_activatable_widget(ADW_ACTION_ROW(row), resume);
  adw_preferences_group_add(self->found_group, row);
  g_ptr_array_add(self->found_rows, row);
}

/* "~/.cache/huggingface/hub" rather than "/home/someone/.cache/huggingface/hub". */
static char *
home_relative(const char *path)
{
  const char *home = g_get_home_dir();
  gsize n = strlen(home);
  if (n > 1 && g_str_has_prefix(path, home) && (path[n] == '/' || path[n] == 0))
    return g_strconcat("~", path + n, NULL);
  return g_strdup(path);
}

void
vf_window_show_welcome(VfWindow *self)
{
  for (guint i = 0; i < self->found_rows->len; i++)
    adw_preferences_group_remove(self->found_group, self->found_rows->pdata[i]);
  g_ptr_array_set_size(self->found_rows, 0);

  g_autoptr(GPtrArray) found = vf_model_finder_scan();
  for (guint i = 0; i < found->len; i++) {
    const VfFoundModel *m = found->pdata[i];
    GtkWidget *row = adw_action_row_new();
    adw_preferences_row_set_title(ADW_PREFERENCES_ROW(row), m->name);
    g_autofree char *subtitle = g_markup_printf_escaped("%s · %s", m->source, m->dir);
    adw_action_row_set_subtitle(ADW_ACTION_ROW(row), subtitle);
    /* Clicking anywhere on the row presses its Open button. */
    GtkWidget *open = gtk_button_new_from_icon_name("go-next-symbolic");
    gtk_widget_set_valign(open, GTK_ALIGN_CENTER);
    gtk_widget_add_css_class(open, "flat");
    g_autofree char *open_label = g_strdup_printf("Open %s", m->name);
    gtk_widget_set_tooltip_text(open, open_label);
    gtk_accessible_update_property(GTK_ACCESSIBLE(open), GTK_ACCESSIBLE_PROPERTY_LABEL, open_label, -1);
    g_object_set_data_full(G_OBJECT(open), "model-dir", g_strdup(m->dir), g_free);
    g_signal_connect(open, "clicked", G_CALLBACK(on_found_open_clicked), self);
    adw_action_row_add_suffix(ADW_ACTION_ROW(row), open);
    adw_action_row_set_activatable_widget(ADW_ACTION_ROW(row), open);
    adw_preferences_group_add(self->found_group, row);
    g_ptr_array_add(self->found_rows, row);
  }
  g_autoptr(GPtrArray) incomplete = vf_hub_find_incomplete(NULL);
  for (guint i = 0; i < incomplete->len; i++)
    add_incomplete_row(self, incomplete->pdata[i]);
  gtk_widget_set_visible(GTK_WIDGET(self->found_group), self->found_rows->len > 0);

  g_autofree char *hf_dir = vf_model_finder_hf_cache(), *ms_dir = vf_model_finder_modelscope_cache();
  g_autofree char *hf = home_relative(hf_dir), *ms = home_relative(ms_dir);
  g_autofree char *help = g_markup_printf_escaped(
    "Viewfinder answers questions about pictures and videos with <b>Qwen2-VL</b>, on your GPU. "
    "It needs a model folder (config, tokenizer and safetensors weights):\n\n"
    "<b>Qwen2-VL-2B-Instruct</b> — 4.4 GB, fits most GPUs\n"
    "<b>Qwen2-VL-7B-Instruct</b> — 16.6 GB, better answers, needs about 20 GB of GPU memory\n"
    "Quantized, with the GPU memory each needs at 4096 tokens of context:\n"
    "<b>Qwen2-VL-2B-Instruct-GPTQ-Int4</b> or <b>-AWQ</b> — 3.2 GB\n"
    "<b>Qwen2-VL-7B-Instruct-GPTQ-Int4</b> or <b>-AWQ</b> — 7.0 GB, the 7B model on an 8 GB GPU\n"
    "<b>Qwen2-VL-7B-Instruct-GPTQ-Int8</b> — 10.3 GB\n"
    "<b>Qwen2-VL-72B-Instruct-AWQ</b> or <b>-GPTQ-Int4</b> — 44.8 GB, one 48 GB GPU\n\n"
    "Get one here (<b>Get Models…</b>), or with\n<tt>huggingface-cli download Qwen/Qwen2-VL-2B-Instruct</tt>\nor\n"
    "<tt>modelscope download --model Qwen/Qwen2-VL-2B-Instruct</tt>\n\n"
    "Models in the Hugging Face cache (<tt>%s</tt>) and the ModelScope cache (<tt>%s</tt>) are listed "
    "here. For a folder anywhere else, open it or drop it on this window.",
    hf, ms);
  gtk_label_set_markup(self->welcome_help, help);

  if (self->welcome_error) {
    adw_status_page_set_icon_name(self->welcome_page, "dialog-warning-symbolic");
    adw_status_page_set_title(self->welcome_page, "Could Not Load the Model");
    adw_status_page_set_description(self->welcome_page, self->welcome_error);
  } else {
    adw_status_page_set_icon_name(self->welcome_page, "org.viewfinder.Viewfinder");
    adw_status_page_set_title(self->welcome_page, found->len ? "Choose a Model" : "Welcome to Viewfinder");
    adw_status_page_set_description(self->welcome_page, NULL);
  }
  adw_window_title_set_subtitle(self->window_title, "");
  gtk_stack_set_visible_child_name(self->stack, "welcome");
}

/* ---------------------------------------------------------------------------------------------------
 * Loading a model
 * ------------------------------------------------------------------------------------------------- */

static void
on_load_progress(VfEngine *engine, guint64 done, guint64 total, VfWindow *self)
{
  if (!self->loading || total == 0)
    return;
  gtk_progress_bar_set_fraction(self->load_progress, (double)done / total);
  g_autofree char *d = g_format_size(done), *t = g_format_size(total);
  g_autofree char *text = g_strdup_printf("%s of %s", d, t);
  gtk_progress_bar_set_text(self->load_progress, text);
}

static void
set_draft_processor(VfWindow *self, const VfImageProcessorConfig *processor)
{
  GListModel *attachments = vf_composer_get_attachments(self->composer);
  guint n = g_list_model_get_n_items(attachments);
  for (guint i = 0; i < n; i++) {
    g_autoptr(VfAttachment) a = g_list_model_get_item(attachments, i);
    vf_attachment_set_processor(a, processor);
  }
}

static void
on_loaded(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(VfWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  gboolean ok = vf_engine_load_finish(VF_ENGINE(source), result, &error);
  if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self->loading = FALSE;
  g_clear_object(&self->load_cancellable);
  if (!ok && vf_engine_has_model(self->engine)) {
    /* The folder was refused before the working model was released: it and the conversation go on. */
    g_autofree char *message = g_strdup_printf("%s: %s", self->loading_name, error->message);
    g_warning("%s", message);
    vf_window_toast(self, message);
    g_autoptr(VfEngineModelInfo) kept = vf_engine_get_model_info(self->engine);
    g_autofree char *subtitle = g_strdup_printf("%s · %s", kept->display_name, kept->device_name);
    adw_window_title_set_subtitle(self->window_title, subtitle);
    gtk_revealer_set_reveal_child(self->device_banner, kept->software);
    gtk_stack_set_visible_child_name(self->stack, "chat");
    vf_window_update_actions(self);
    return;
  }
  if (!ok) {
    g_free(self->welcome_error);
    if (g_error_matches(error, VF_ENGINE_ERROR, VF_ENGINE_ERROR_OUT_OF_MEMORY))
      self->welcome_error = g_strdup_printf("%s: not enough GPU memory for this model (%s). Try the 2B model, or "
                                            "close other programs that use the GPU.",
                                            self->loading_name, error->message);
    else
      self->welcome_error = g_strdup_printf("%s: %s", self->loading_name, error->message);
    g_warning("%s", self->welcome_error);
    vf_window_show_welcome(self);
    vf_window_update_actions(self);
    return;
  }
  g_clear_pointer(&self->welcome_error, g_free);

  g_autoptr(VfEngineModelInfo) info = vf_engine_get_model_info(self->engine);
  g_autofree char *subtitle = g_strdup_printf("%s · %s · %s", info->display_name, info->format, info->device_name);
  adw_window_title_set_subtitle(self->window_title, subtitle);
  gtk_widget_set_tooltip_text(GTK_WIDGET(self->window_title), info->device_summary);
  if (info->software) {
    g_autofree char *banner = g_strdup_printf("%s is a software driver: answers will be slow.", info->device_name);
    gtk_label_set_text(self->device_banner_label, banner);
  }
  gtk_revealer_set_reveal_child(self->device_banner, info->software);
  if (info->template_warning)
    vf_window_toast(self, info->template_warning);
  if (self->settings) {
    g_settings_set_string(self->settings, "last-model", info->model_dir);
    g_settings_set_string(self->settings, "last-tokenizer",
                          g_strcmp0(info->tokenizer_dir, info->model_dir) ? info->tokenizer_dir : "");
  }
  g_message("loaded %s in %.1f s: %s", info->display_name, info->load_seconds, info->device_summary);
  set_draft_processor(self, &info->processor);
  gtk_stack_set_visible_child_name(self->stack, "chat");
  vf_composer_focus_input(self->composer);
  vf_window_schedule_count(self);
  vf_window_update_actions(self);
}

void
vf_window_load_model(VfWindow *self, const char *model_dir, const char *tokenizer_dir)
{
  g_autoptr(GError) error = NULL;
  if (!vf_model_dir_check(model_dir, &error)) {
    vf_window_toast(self, error->message);
    return;
  }
  if (self->turn_cancellable)
    g_cancellable_cancel(self->turn_cancellable);
  if (self->load_cancellable)
    g_cancellable_cancel(self->load_cancellable);
  /* The conversation stays: the engine keeps it when the folder is refused and moves it to the new model. */

  g_free(self->loading_name);
  self->loading_name = vf_model_display_name(model_dir);
  self->loading = TRUE;
  g_autofree char *title = g_strdup_printf("Loading %s", self->loading_name);
  adw_status_page_set_title(self->loading_page, title);
  adw_status_page_set_description(self->loading_page, model_dir);
  gtk_progress_bar_set_fraction(self->load_progress, 0);
  gtk_progress_bar_set_text(self->load_progress, "Reading the checkpoint");
  gtk_revealer_set_reveal_child(self->device_banner, FALSE);
  adw_window_title_set_subtitle(self->window_title, "");
  gtk_stack_set_visible_child_name(self->stack, "loading");

  self->load_cancellable = g_cancellable_new();
  vf_engine_load_async(self->engine, model_dir, tokenizer_dir, self->load_cancellable, on_loaded,
                       g_object_ref(self));
  vf_window_update_actions(self);
}

/* ---------------------------------------------------------------------------------------------------
 * GObject
 * ------------------------------------------------------------------------------------------------- */

static void
vf_window_constructed(GObject *object)
{
  VfWindow *self = VF_WINDOW(object);
  G_OBJECT_CLASS(vf_window_parent_class)->constructed(object);
  g_signal_connect_object(self->engine, "load-progress", G_CALLBACK(on_load_progress), self, 0);
  vf_window_setup_conversation(self);
  vf_window_connect_engine(self);
  vf_window_setup_history(self);
  if (self->settings) {
    g_signal_connect_object(self->settings, "changed::picture-min-tokens", G_CALLBACK(on_picture_budget_changed),
                            self, G_CONNECT_SWAPPED);
    g_signal_connect_object(self->settings, "changed::picture-max-tokens", G_CALLBACK(on_picture_budget_changed),
                            self, G_CONNECT_SWAPPED);
    g_settings_bind(self->settings, "window-width", self, "default-width", G_SETTINGS_BIND_DEFAULT);
    g_settings_bind(self->settings, "window-height", self, "default-height", G_SETTINGS_BIND_DEFAULT);
    g_settings_bind(self->settings, "window-maximized", self, "maximized", G_SETTINGS_BIND_DEFAULT);
  }
  vf_window_update_actions(self);
}

static void
vf_window_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  VfWindow *self = VF_WINDOW(object);
  switch (prop_id) {
  case PROP_ENGINE:
    g_value_set_object(value, self->engine);
    break;
  case PROP_SETTINGS:
    g_value_set_object(value, self->settings);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void
vf_window_set_property(GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  VfWindow *self = VF_WINDOW(object);
  switch (prop_id) {
  case PROP_ENGINE:
    self->engine = g_value_dup_object(value);
    break;
  case PROP_SETTINGS:
    self->settings = g_value_dup_object(value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void
vf_window_dispose(GObject *object)
{
  VfWindow *self = VF_WINDOW(object);
  g_clear_handle_id(&self->count_source, g_source_remove);
  GCancellable **pending[] = {&self->turn_cancellable, &self->load_cancellable, &self->count_cancellable};
  for (guint i = 0; i < G_N_ELEMENTS(pending); i++)
    if (*pending[i]) {
      g_cancellable_cancel(*pending[i]);
      g_clear_object(pending[i]);
    }
  if (self->composer)
    g_signal_handlers_disconnect_by_data(self->composer, self);
  if (self->download_dialog) {
    g_signal_handlers_disconnect_by_data(self->download_dialog, self);
    gtk_window_destroy(GTK_WINDOW(self->download_dialog));
    self->download_dialog = NULL;
  }
  gtk_widget_dispose_template(GTK_WIDGET(self), VF_TYPE_WINDOW);
  g_clear_object(&self->answering);
  g_clear_object(&self->last_answer);
  g_clear_object(&self->sent_attachments);
  g_clear_object(&self->messages);
  g_clear_object(&self->message_sources);
  g_clear_object(&self->visible_conversation);
  g_clear_object(&self->shown_conversation);
  g_clear_object(&self->pending);
  g_clear_pointer(&self->shown_by_id, g_hash_table_unref);
  g_clear_object(&self->settings);
  g_clear_object(&self->engine);
  G_OBJECT_CLASS(vf_window_parent_class)->dispose(object);
}

static void
vf_window_finalize(GObject *object)
{
  VfWindow *self = VF_WINDOW(object);
  g_ptr_array_unref(self->found_rows);
  g_ptr_array_unref(self->toasts);
  g_ptr_array_unref(self->live_toasts);
  g_free(self->loading_name);
  g_free(self->welcome_error);
  g_free(self->sent_text);
  G_OBJECT_CLASS(vf_window_parent_class)->finalize(object);
}

static void
vf_window_class_init(VfWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
  object_class->constructed = vf_window_constructed;
  object_class->get_property = vf_window_get_property;
  object_class->set_property = vf_window_set_property;
  object_class->dispose = vf_window_dispose;
  object_class->finalize = vf_window_finalize;

  properties[PROP_ENGINE] = g_param_spec_object("engine", NULL, NULL, VF_TYPE_ENGINE,
                                                G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SETTINGS] = g_param_spec_object("settings", NULL, NULL, G_TYPE_SETTINGS,
                                                  G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties(object_class, N_PROPS, properties);

  g_type_ensure(VF_TYPE_CHAT_VIEW);
  g_type_ensure(VF_TYPE_COMPOSER);
  g_type_ensure(VF_TYPE_SIDEBAR);
  gtk_widget_class_set_template_from_resource(widget_class, "/org/viewfinder/Viewfinder/ui/vf_window.ui");
  gtk_widget_class_bind_template_child(widget_class, VfWindow, toast_overlay);
  gtk_widget_class_bind_template_child(widget_class, VfWindow, window_title);
  gtk_widget_class_bind_template_child(widget_class, VfWindow, device_banner);
  gtk_widget_class_bind_template_child(widget_class, VfWindow, device_banner_label);
  gtk_widget_class_bind_template_child(widget_class, VfWindow, stack);
  gtk_widget_class_bind_template_child(widget_class, VfWindow, welcome_page);
  gtk_widget_class_bind_template_child(widget_class, VfWindow, welcome_help);
  gtk_widget_class_bind_template_child(widget_class, VfWindow, found_group);
  gtk_widget_class_bind_template_child(widget_class, VfWindow, loading_page);
  gtk_widget_class_bind_template_child(widget_class, VfWindow, load_progress);
  gtk_widget_class_bind_template_child(widget_class, VfWindow, chat_view);
  gtk_widget_class_bind_template_child(widget_class, VfWindow, composer);
  gtk_widget_class_bind_template_child(widget_class, VfWindow, leaflet);
  gtk_widget_class_bind_template_child(widget_class, VfWindow, sidebar);
  gtk_widget_class_bind_template_child(widget_class, VfWindow, main_pane);
  vf_window_class_add_actions(widget_class);
  vf_window_class_add_export_actions(widget_class);
  vf_window_class_add_fit_actions(widget_class);
}

static void
vf_window_init(VfWindow *self)
{
  gtk_widget_init_template(GTK_WIDGET(self));
  gtk_widget_add_css_class(GTK_WIDGET(self), "viewfinder");
  self->found_rows = g_ptr_array_new();
  self->editing = G_MAXUINT;
  self->toasts = g_ptr_array_new_with_free_func(g_free);
  self->live_toasts = g_ptr_array_new_with_free_func(g_object_unref);
  g_signal_connect_swapped(self->composer, "changed", G_CALLBACK(vf_window_schedule_count), self);
  vf_window_setup_drop_target(self);
}

VfWindow *
vf_window_new(GtkApplication *application, VfEngine *engine, GSettings *settings)
{
  return g_object_new(VF_TYPE_WINDOW, "application", application, "engine", engine, "settings", settings, NULL);
}

void
vf_window_open_attachment_options(VfWindow *self, guint index)
{
  vf_composer_open_options(self->composer, index);
}
