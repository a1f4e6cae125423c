/* The conversation out of the window: Copy Conversation puts it on the clipboard as Markdown; Export
 * Conversation… writes it as Markdown with its pictures and videos copied beside it ("NAME_files/"), or as JSON in
 * the reference's chat-messages form (the engine's own, vf_engine_export_async), which
 * `viewfinder-cli chat --messages FILE` replays. Both follow the engine's conversation, as the chat view does. */
#define G_LOG_DOMAIN "vf-window"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "vf_window_private.h"

/* "Exported to NAME", or why not (error set). */
static void
toast_exported(VfWindow *self, const char *path, const GError *error)
{
  g_autofree char *name = g_path_get_basename(path);
  g_autofree char *text = error ? g_strdup_printf("Could not export to %s: %s", name, error->message)
                                : g_strdup_printf("Exported to %s", name);
  vf_window_toast(self, text);
}

/* ---------------------------------------------------------------------------------------------------
 * Markdown
 * ------------------------------------------------------------------------------------------------- */

typedef struct {
  char *source, *target; /* a media file and where its copy goes */
} Copy;

static void
copy_free(Copy *copy)
{
  g_free(copy->source);
  g_free(copy->target);
  g_free(copy);
}

/* The name the user knows the media by: its chip's (a reopened conversation's stored copy keeps the name of the
 * file that was attached), else the source's last component. */
static char *
media_name(VfMessage *shown, VfConversationMessage *snapshot, guint k)
{
  const char *source = vf_conversation_message_get_source(snapshot, k);
  GListModel *attachments = vf_message_get_attachments(shown);
  for (guint i = 0; i < g_list_model_get_n_items(attachments); i++) {
    g_autoptr(VfAttachment) a = g_list_model_get_item(attachments, i);
    if (g_strcmp0(vf_attachment_get_path(a), source) == 0)
      return g_strdup(vf_attachment_get_name(a));
  }
  if (!source || g_str_has_prefix(source, "data:"))
    return g_strdup(vf_conversation_message_get_label(snapshot, k));
  return g_path_get_basename(source);
}

static void
append_media(GString *md, VfMessage *shown, VfConversationMessage *snapshot, guint k, const char *files_dir,
             GPtrArray *copies)
{
  const char *label = vf_conversation_message_get_label(snapshot, k);
  const char *source = vf_conversation_message_get_source(snapshot, k);
  gboolean video = vf_conversation_message_get_is_video(snapshot, k);
  g_autofree char *name = media_name(shown, snapshot, k);
  g_autofree char *link = NULL;
  if (files_dir && source && g_path_is_absolute(source) && g_file_test(source, G_FILE_TEST_IS_REGULAR)) {
    g_autofree char *file = g_strdup_printf("%u-%s", copies->len + 1, name);
    Copy *copy = g_new0(Copy, 1);
    copy->source = g_strdup(source);
    copy->target = g_build_filename(files_dir, file, NULL);
    g_ptr_array_add(copies, copy);
    g_autofree char *folder = g_path_get_basename(files_dir);
    g_autofree char *relative = g_build_filename(folder, file, NULL);
    link = g_uri_escape_string(relative, "/", TRUE);
  } else if (source && (g_str_has_prefix(source, "http://") || g_str_has_prefix(source, "https://"))) {
    link = g_strdup(source);
  }
  if (link)
    g_string_append_printf(md, "%s[%s: %s](%s)\n\n", video ? "" : "!", label, name, link);
  else
    g_string_append_printf(md, "*%s: %s*\n\n", label, name);
}

/* The conversation as Markdown. files_dir: where the media files go (their copies are added to `copies`), or
 * NULL to name them only. */
static char *
conversation_markdown(VfWindow *self, const char *files_dir, GPtrArray *copies)
{
  GString *md = g_string_new(NULL);
  guint row = vf_sidebar_get_selected_row(self->sidebar);
  const char *title = row != GTK_INVALID_LIST_POSITION ? vf_sidebar_get_row_title(self->sidebar, row) : NULL;
  g_string_append_printf(md, "# %s\n\n", title ? title : "Conversation");
  GListModel *snapshots = vf_engine_get_conversation(self->engine);
  for (guint i = 0; i < g_list_model_get_n_items(snapshots); i++) {
    g_autoptr(VfConversationMessage) snapshot = g_list_model_get_item(snapshots, i);
    g_autoptr(VfMessage) shown = g_list_model_get_item(self->shown_conversation, i);
    gboolean answer = vf_message_get_role(shown) == VF_MESSAGE_ASSISTANT;
    g_string_append_printf(md, "## %s\n\n", answer ? "Viewfinder" : "You");
    for (guint k = 0; k < vf_conversation_message_get_n_media(snapshot); k++)
      append_media(md, shown, snapshot, k, files_dir, copies);
    const char *text = vf_conversation_message_get_text(snapshot);
    if (*text)
      g_string_append_printf(md, "%s\n\n", text);
    if (answer && vf_message_get_state(shown) == VF_MESSAGE_STOPPED)
      g_string_append(md, "*Stopped*\n\n");
  }
  g_string_truncate(md, md->len - 1); /* one newline at the end */
  return g_string_free(md, FALSE);
}

typedef struct {
  char *path;     /* the Markdown file */
  char *markdown;
  char *files_dir;
  GPtrArray *copies; /* Copy * */
} MarkdownExport;

static void
markdown_export_free(MarkdownExport *e)
{
  g_free(e->path);
  g_free(e->markdown);
  g_free(e->files_dir);
  g_ptr_array_unref(e->copies);
  g_free(e);
}

/* Off the main thread: a video can be large. */
static void
write_markdown(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  MarkdownExport *e = data;
  g_autoptr(GError) error = NULL;
  /* Beside the file: a folder the user did not choose is not made. */
  if (e->copies->len > 0 && g_mkdir(e->files_dir, 0755) != 0 && errno != EEXIST) {
    g_task_return_new_error(task, G_IO_ERROR, g_io_error_from_errno(errno), "%s: %s", e->files_dir,
                            g_strerror(errno));
    return;
  }
  for (guint i = 0; i < e->copies->len; i++) {
    const Copy *copy = e->copies->pdata[i];
    g_autoptr(GFile) from = g_file_new_for_path(copy->source), to = g_file_new_for_path(copy->target);
    if (!g_file_copy(from, to, G_FILE_COPY_OVERWRITE, cancellable, NULL, NULL, &error)) {
      g_task_return_error(task, g_steal_pointer(&error));
      return;
    }
  }
  if (!g_file_set_contents(e->path, e->markdown, -1, &error)) {
    g_task_return_error(task, g_steal_pointer(&error));
    return;
  }
  g_task_return_boolean(task, TRUE);
}

static void
on_written(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = user_data;
  g_task_propagate_boolean(G_TASK(result), &error);
  toast_exported(VF_WINDOW(source), path, error);
}

static void
export_markdown(VfWindow *self, const char *path)
{
  MarkdownExport *e = g_new0(MarkdownExport, 1);
  e->path = g_strdup(path);
  g_autofree char *stem = g_strdup(path);
  char *dot = strrchr(stem, '.');
  if (dot && dot > strrchr(stem, '/'))
    *dot = 0;
  e->files_dir = g_strconcat(stem, "_files", NULL);
  e->copies = g_ptr_array_new_with_free_func((GDestroyNotify)copy_free);
  e->markdown = conversation_markdown(self, e->files_dir, e->copies);
  GTask *task = g_task_new(self, NULL, on_written, g_strdup(path));
  g_task_set_task_data(task, e, (GDestroyNotify)markdown_export_free);
  g_task_run_in_thread(task, write_markdown);
  g_object_unref(task);
}

/* ---------------------------------------------------------------------------------------------------
 * JSON
 * ------------------------------------------------------------------------------------------------- */

typedef struct {
  VfWindow *window; /* a reference */
  char *path;
} JsonExport;

static void
on_exported(GObject *source, GAsyncResult *result, gpointer user_data)
{
  JsonExport *e = user_data;
  g_autoptr(VfWindow) self = e->window;
  g_autofree char *path = e->path;
  g_free(e);
  g_autoptr(GError) error = NULL;
  g_autofree char *json = vf_engine_export_finish(VF_ENGINE(source), result, &error);
  if (json)
    g_file_set_contents(path, json, -1, &error);
  toast_exported(self, path, error);
}

void
vf_window_export_to(VfWindow *self, const char *path)
{
  g_autofree char *lower = g_ascii_strdown(path, -1);
  if (!g_str_has_suffix(lower, ".json")) {
    export_markdown(self, path);
    return;
  }
  JsonExport *e = g_new0(JsonExport, 1);
  e->window = g_object_ref(self);
  e->path = g_strdup(path);
  vf_engine_export_async(self->engine, NULL, on_exported, e);
}

/* ---------------------------------------------------------------------------------------------------
 * Actions
 * ------------------------------------------------------------------------------------------------- */

static void
on_export_response(GtkNativeDialog *dialog, int response, VfWindow *self)
{
  if (response == GTK_RESPONSE_ACCEPT) {
    g_autoptr(GFile) file = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(dialog));
    g_autofree char *path = file ? g_file_get_path(file) : NULL;
    if (path) {
      /* A name without the extension takes the chosen filter's. */
      g_autofree char *lower = g_ascii_strdown(path, -1);
      GtkFileFilter *json = g_object_get_data(G_OBJECT(dialog), "json-filter");
      if (!g_str_has_suffix(lower, ".md") && !g_str_has_suffix(lower, ".json")) {
        gboolean as_json = gtk_file_chooser_get_filter(GTK_FILE_CHOOSER(dialog)) == json;
        char *named = g_strconcat(path, as_json ? ".json" : ".md", NULL);
        g_free(path);
        path = named;
      }
      vf_window_export_to(self, path);
    }
  }
  g_object_unref(dialog);
}

static GtkFileFilter *
filter_new(const char *name, const char *pattern)
{
  GtkFileFilter *filter = gtk_file_filter_new();
  gtk_file_filter_set_name(filter, name);
  gtk_file_filter_add_pattern(filter, pattern);
  return filter;
}

static void
export_activated(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  VfWindow *self = VF_WINDOW(widget);
  GtkFileChooserNative *chooser = gtk_file_chooser_native_new("Export Conversation", GTK_WINDOW(self),
                                                              GTK_FILE_CHOOSER_ACTION_SAVE, "_Export", "_Cancel");
  g_autoptr(GtkFileFilter) markdown = filter_new("Markdown, pictures beside it (.md)", "*.md");
  g_autoptr(GtkFileFilter) json = filter_new("Chat messages for viewfinder-cli (.json)", "*.json");
  gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(chooser), markdown);
  gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(chooser), json);
  g_object_set_data_full(G_OBJECT(chooser), "json-filter", g_object_ref(json), g_object_unref);
  gtk_file_chooser_set_current_name(GTK_FILE_CHOOSER(chooser), "Conversation.md");
  g_signal_connect(chooser, "response", G_CALLBACK(on_export_response), self);
  gtk_native_dialog_show(GTK_NATIVE_DIALOG(chooser));
}

static void
copy_conversation_activated(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  VfWindow *self = VF_WINDOW(widget);
  g_autofree char *markdown = conversation_markdown(self, NULL, NULL);
  gdk_clipboard_set_text(gtk_widget_get_clipboard(widget), markdown);
  vf_window_toast(self, "Conversation copied");
}

void
vf_window_class_add_export_actions(GtkWidgetClass *widget_class)
{
  gtk_widget_class_install_action(widget_class, "chat.export", NULL, export_activated);
  gtk_widget_class_install_action(widget_class, "chat.copy-conversation", NULL, copy_conversation_activated);
  gtk_widget_class_add_binding_action(widget_class, GDK_KEY_e, GDK_CONTROL_MASK | GDK_SHIFT_MASK, "chat.export",
                                      NULL);
}

void
vf_window_update_export_actions(VfWindow *self)
{
  gboolean any = g_list_model_get_n_items(vf_engine_get_conversation(self->engine)) > 0;
  gtk_widget_action_set_enabled(GTK_WIDGET(self), "chat.export", any);
  gtk_widget_action_set_enabled(GTK_WIDGET(self), "chat.copy-conversation", any);
}
