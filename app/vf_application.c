/* The application object. See vf_application.h. */
#define G_LOG_DOMAIN "vf-application"

#include "vf_application.h"

#include <stdio.h>
#include <string.h>

#include "vf_engine.h"
#include "vf_model_finder.h"
#include "vf_window.h"

struct _VfApplication {
  AdwApplication parent_instance;

  VfEngine *engine;
  GSettings *settings; /* NULL when the schema is not installed */
  VfWindow *window;
  char *history_problem; /* what to tell about the history once the window exists, or NULL */

  /* Command line. */
  char *model_dir;
  char *tokenizer_dir;
  gint max_new_tokens;
  gint context;
  gboolean test_actions;
  gboolean exit_after_startup;
};

G_DEFINE_FINAL_TYPE(VfApplication, vf_application, ADW_TYPE_APPLICATION)

/* The installed schema, else the one compiled in the build folder (running from a build tree). */
static GSettings *
open_settings(void)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default();
  g_autoptr(GSettingsSchema) schema = source ? g_settings_schema_source_lookup(source, VF_APPLICATION_ID, TRUE) : NULL;
#ifdef VF_BUILD_SCHEMA_DIR
  if (!schema) {
    g_autoptr(GSettingsSchemaSource) build =
      g_settings_schema_source_new_from_directory(VF_BUILD_SCHEMA_DIR, source, FALSE, NULL);
    if (build)
      schema = g_settings_schema_source_lookup(build, VF_APPLICATION_ID, FALSE);
  }
#endif
  if (!schema) {
    g_warning("the settings schema %s is not installed: the last model will not be remembered", VF_APPLICATION_ID);
    return NULL;
  }
  return g_settings_new_full(schema, NULL, NULL);
}

/* ---------------------------------------------------------------------------------------------------
 * Actions
 * ------------------------------------------------------------------------------------------------- */

static void
quit_activated(GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  g_application_quit(G_APPLICATION(user_data));
}

static void
about_activated(GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  VfApplication *self = user_data;
  GtkWidget *about = adw_about_window_new();
  g_object_set(about, "application-name", "Viewfinder", "application-icon", VF_APPLICATION_ID, "version",
               VF_VERSION, "developer-name", "The Viewfinder authors", "license-type", GTK_LICENSE_MIT_X11,
               "comments", "Ask Qwen2-VL about pictures and videos, on your own GPU.", "transient-for",
               self->window, NULL);
  gtk_window_present(GTK_WINDOW(about));
}

/* Test hook: the given paths go through the window's drop handler, as a drop of those files would. */
static void
test_drop_activated(GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  VfApplication *self = user_data;
  g_autofree const char **paths = g_variant_get_strv(parameter, NULL);
  GSList *files = NULL;
  for (guint i = 0; paths[i]; i++)
    files = g_slist_append(files, g_file_new_for_path(paths[i]));
  vf_window_drop_files(self->window, files);
  g_slist_free_full(files, g_object_unref);
}

/* Test hook: the "Get Models" dialog starts downloading a repository, as its row's button would. */
static void
test_download_activated(GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  VfApplication *self = user_data;
  const char *repo_id = g_variant_get_string(parameter, NULL);
  vf_window_get_models(self->window, *repo_id ? repo_id : NULL); /* "": open the dialog only */
}

static void
test_chip_menu_activated(GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  VfApplication *self = user_data;
  vf_window_open_attachment_options(self->window, g_variant_get_uint32(parameter));
}

static void
test_open_conversation_activated(GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  VfApplication *self = user_data;
  vf_window_open_sidebar_row(self->window, g_variant_get_uint32(parameter));
}

static void
test_message_action_activated(GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  VfApplication *self = user_data;
  const char *name = g_action_get_name(G_ACTION(action));
  if (g_str_equal(name, "test-choose-answer")) {
    vf_window_choose_answer(self->window, g_variant_get_int32(parameter));
    return;
  }
  guint64 id = vf_window_get_message_id(self->window, g_variant_get_uint32(parameter));
  if (g_str_equal(name, "test-edit"))
    vf_window_edit_message(self->window, id);
  else
    vf_window_delete_turn(self->window, id);
}

/* A picture pasted, as Ctrl+V with a picture on the clipboard does. */
static void
test_paste_activated(GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  VfApplication *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GdkTexture) texture = gdk_texture_new_from_filename(g_variant_get_string(parameter, NULL), &error);
  if (!texture)
    g_error("test-paste: %s", error->message);
  vf_window_paste_picture(self->window, texture);
}

/* Preferences: the window opened as its menu item does; a key set as its row does (GVariant text). */
/* A window action, as its button or menu item does: test-X activates chat.X. */
static void
test_window_action_activated(GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  VfApplication *self = user_data;
  g_autofree char *name = g_strdup_printf("chat.%s", g_action_get_name(G_ACTION(action)) + strlen("test-"));
  gtk_widget_activate_action(GTK_WIDGET(self->window), name, NULL);
}

static void
test_setting_activated(GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  VfApplication *self = user_data;
  const char *key, *text;
  g_variant_get(parameter, "(&s&s)", &key, &text);
  g_autoptr(GVariant) current = g_settings_get_value(self->settings, key);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = g_variant_parse(g_variant_get_type(current), text, NULL, NULL, &error);
  if (!value || !g_settings_set_value(self->settings, key, value))
    g_error("test-setting %s=%s: %s", key, text, error ? error->message : "refused");
}

static void
test_export_activated(GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  VfApplication *self = user_data;
  vf_window_export_to(self->window, g_variant_get_string(parameter, NULL));
}

static void
test_dump_activated(GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  VfApplication *self = user_data;
  g_autofree char *json = vf_window_dump(self->window);
  printf("DUMP %s\n", json);
  fflush(stdout);
}

/* ---------------------------------------------------------------------------------------------------
 * Start-up
 * ------------------------------------------------------------------------------------------------- */

static gint
vf_application_handle_local_options(GApplication *app, GVariantDict *options)
{
  VfApplication *self = VF_APPLICATION(app);
  g_variant_dict_lookup(options, "model", "^ay", &self->model_dir);
  g_variant_dict_lookup(options, "tokenizer", "^ay", &self->tokenizer_dir);
  g_variant_dict_lookup(options, "max-new-tokens", "i", &self->max_new_tokens);
  g_variant_dict_lookup(options, "context", "i", &self->context);
  self->test_actions = g_variant_dict_contains(options, "test-actions");
  self->exit_after_startup = g_variant_dict_contains(options, "exit-after-startup");
  if (self->max_new_tokens < 0 || self->context < 0) {
    g_printerr("viewfinder: --max-new-tokens and --context must not be negative\n");
    return 2;
  }
  return -1;
}

/* A sentence about the conversation history for the user: a toast in the window, or kept until it exists. */
static void
tell_about_history(VfApplication *self, const char *text)
{
  if (self->window) {
    vf_window_toast(self->window, text);
    return;
  }
  g_free(self->history_problem);
  self->history_problem = g_strdup(text);
}

static void
history_opened(GObject *source, GAsyncResult *result, gpointer user_data)
{
  VfApplication *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *notice = NULL;
  if (!vf_engine_open_history_finish(VF_ENGINE(source), result, &notice, &error)) {
    g_autofree char *text = g_strdup_printf("Conversations will not be kept: %s", error->message);
    g_message("%s", text);
    tell_about_history(self, text);
  } else if (notice) {
    tell_about_history(self, notice);
  }
}

static void
history_failed(VfEngine *engine, const char *text, VfApplication *self)
{
  tell_about_history(self, text);
}

/* The preferences (GSettings) reach the engine at start-up (key NULL) and whenever one changes. The command line's
 * --max-new-tokens and --context win at start-up. */
static void
apply_settings(GSettings *settings, const char *key, VfApplication *self)
{
  gboolean all = key == NULL;
  if ((all && self->max_new_tokens <= 0) || g_strcmp0(key, "max-new-tokens") == 0)
    vf_engine_set_max_new_tokens(self->engine, g_settings_get_uint(settings, "max-new-tokens"));
  if ((all && self->context <= 0) || g_strcmp0(key, "context") == 0)
    vf_engine_set_context(self->engine, g_settings_get_uint(settings, "context"));
  if (all || g_strcmp0(key, "label-media") == 0)
    vf_engine_set_label_media(self->engine, g_settings_get_boolean(settings, "label-media"));
  if (all || g_strcmp0(key, "system-prompt") == 0) {
    g_autofree char *system = g_settings_get_string(settings, "system-prompt");
    vf_engine_set_system_prompt(self->engine, system);
  }
  if (g_settings_get_boolean(settings, "sample-as-model")) {
    vf_engine_set_sampling(self->engine, NULL);
  } else {
    VfEngineSampling sampling = {
      .do_sample = TRUE,
      .temperature = g_settings_get_double(settings, "temperature"),
      .top_k = g_settings_get_uint(settings, "top-k"),
      .top_p = g_settings_get_double(settings, "top-p"),
      .repetition_penalty = g_settings_get_double(settings, "repetition-penalty"),
      .seed = g_settings_get_uint64(settings, "seed"),
    };
    vf_engine_set_sampling(self->engine, &sampling);
  }
}

static void
vf_application_startup(GApplication *app)
{
  VfApplication *self = VF_APPLICATION(app);
  G_APPLICATION_CLASS(vf_application_parent_class)->startup(app);

  static const GActionEntry entries[] = {
    {"quit", quit_activated, NULL, NULL, NULL, {0}},
    {"about", about_activated, NULL, NULL, NULL, {0}},
  };
  g_action_map_add_action_entries(G_ACTION_MAP(app), entries, G_N_ELEMENTS(entries), app);
  static const GActionEntry test_entries[] = {
    {"test-drop", test_drop_activated, "as", NULL, NULL, {0}},
    {"test-dump", test_dump_activated, NULL, NULL, NULL, {0}},
    {"test-download", test_download_activated, "s", NULL, NULL, {0}},
    {"test-chip-menu", test_chip_menu_activated, "u", NULL, NULL, {0}},
    {"test-open-conversation", test_open_conversation_activated, "u", NULL, NULL, {0}},
    {"test-export", test_export_activated, "s", NULL, NULL, {0}},
    {"test-continue", test_window_action_activated, NULL, NULL, NULL, {0}},
    {"test-paste", test_paste_activated, "s", NULL, NULL, {0}},
    {"test-preferences", test_window_action_activated, NULL, NULL, NULL, {0}},
    {"test-fit-to-context", test_window_action_activated, NULL, NULL, NULL, {0}},
    {"test-carry-over", test_window_action_activated, NULL, NULL, NULL, {0}},
    {"test-new", test_window_action_activated, NULL, NULL, NULL, {0}},
    {"test-setting", test_setting_activated, "(ss)", NULL, NULL, {0}},
    {"test-regenerate", test_window_action_activated, NULL, NULL, NULL, {0}},
    {"test-choose-answer", test_message_action_activated, "i", NULL, NULL, {0}},
    {"test-edit", test_message_action_activated, "u", NULL, NULL, {0}},
    {"test-delete-turn", test_message_action_activated, "u", NULL, NULL, {0}},
  };
  if (self->test_actions)
    g_action_map_add_action_entries(G_ACTION_MAP(app), test_entries, G_N_ELEMENTS(test_entries), app);
  const char *quit_accels[] = {"<Control>q", NULL};
  gtk_application_set_accels_for_action(GTK_APPLICATION(app), "app.quit", quit_accels);

  self->settings = open_settings();
  self->engine = vf_engine_new();
  vf_engine_set_max_new_tokens(self->engine, self->max_new_tokens > 0 ? (guint)self->max_new_tokens : 512);
  vf_engine_set_context(self->engine, (guint)self->context);
  if (self->settings) {
    apply_settings(self->settings, NULL, self);
    g_signal_connect(self->settings, "changed", G_CALLBACK(apply_settings), self);
  }
  /* Every conversation is kept ($XDG_DATA_HOME/viewfinder): the engine's worker opens the history before any
   * model loads and stores each turn as it happens. */
  vf_engine_open_history_async(self->engine, NULL, NULL, history_opened, self);
  g_signal_connect(self->engine, "history-error", G_CALLBACK(history_failed), self);
}

static gboolean
quit_after_startup(gpointer data)
{
  g_application_quit(G_APPLICATION(data));
  return G_SOURCE_REMOVE;
}

static void
choose_first_page(VfApplication *self)
{
  vf_window_show_welcome(self->window);
  if (self->model_dir) {
    vf_window_load_model(self->window, self->model_dir, self->tokenizer_dir);
    return;
  }
  g_autofree char *last = self->settings ? g_settings_get_string(self->settings, "last-model") : NULL;
  g_autofree char *last_tokenizer = self->settings ? g_settings_get_string(self->settings, "last-tokenizer") : NULL;
  if (last && *last && vf_model_dir_check(last, NULL))
    vf_window_load_model(self->window, last, last_tokenizer && *last_tokenizer ? last_tokenizer : NULL);
}

static void
vf_application_activate(GApplication *app)
{
  VfApplication *self = VF_APPLICATION(app);
  if (!self->window) {
    self->window = vf_window_new(GTK_APPLICATION(app), self->engine, self->settings);
    g_object_add_weak_pointer(G_OBJECT(self->window), (gpointer *)&self->window);
    choose_first_page(self);
    if (self->history_problem)
      vf_window_toast(self->window, self->history_problem);
    g_clear_pointer(&self->history_problem, g_free);
    if (self->exit_after_startup)
      g_timeout_add(500, quit_after_startup, self);
  }
  gtk_window_present(GTK_WINDOW(self->window));
}

static void
vf_application_shutdown(GApplication *app)
{
  VfApplication *self = VF_APPLICATION(app);
  /* Before the main loop ends: a turn in flight is stopped and the device released on its own thread. */
  if (self->engine)
    vf_engine_shutdown(self->engine);
  G_APPLICATION_CLASS(vf_application_parent_class)->shutdown(app);
}

static void
vf_application_finalize(GObject *object)
{
  VfApplication *self = VF_APPLICATION(object);
  g_clear_object(&self->engine);
  g_clear_object(&self->settings);
  g_free(self->model_dir);
  g_free(self->tokenizer_dir);
  g_free(self->history_problem);
  G_OBJECT_CLASS(vf_application_parent_class)->finalize(object);
}

static void
vf_application_class_init(VfApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS(klass);
  object_class->finalize = vf_application_finalize;
  app_class->handle_local_options = vf_application_handle_local_options;
  app_class->startup = vf_application_startup;
  app_class->activate = vf_application_activate;
  app_class->shutdown = vf_application_shutdown;
}

static void
vf_application_init(VfApplication *self)
{
  static const GOptionEntry options[] = {
    {"model", 'm', 0, G_OPTION_ARG_FILENAME, NULL, "Open this model folder", "DIR"},
    {"tokenizer", 0, 0, G_OPTION_ARG_FILENAME, NULL, "Read the tokenizer from this folder (default: the model's)",
     "DIR"},
    {"max-new-tokens", 0, 0, G_OPTION_ARG_INT, NULL, "Longest answer, in tokens", "N"},
    {"context", 0, 0, G_OPTION_ARG_INT, NULL, "KV-cache size in tokens (default: from the memory budget)", "N"},
    {"test-actions", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, NULL, "Add the test-drop and test-dump actions",
     NULL},
    {"exit-after-startup", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, NULL, "Quit once the window is shown", NULL},
    {NULL},
  };
  g_application_add_main_option_entries(G_APPLICATION(self), options);
}

VfApplication *
vf_application_new(void)
{
  return g_object_new(VF_TYPE_APPLICATION, "application-id", VF_APPLICATION_ID, "flags", G_APPLICATION_DEFAULT_FLAGS,
                      NULL);
}
