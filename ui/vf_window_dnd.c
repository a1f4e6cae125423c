/* Files arriving in the window — dropped, pasted, chosen with the attach button, or fed by the test
 * action — all go through vf_window_drop_files(). */
#define G_LOG_DOMAIN "vf-window-dnd"

#include "vf_window_private.h"

/* One dropped file, kept in drop order until its inspection ends. */
typedef struct {
  VfWindow *window;
  GFile *file;
  char *name; /* the name shown, when not the file's (a pasted picture), or NULL */
  gboolean done;
  VfAttachment *attachment; /* or error */
  GError *error;
} Pending;

static GQueue pending_queue = G_QUEUE_INIT; /* Pending *, oldest first, over every window */

static void
pending_free(Pending *p)
{
  g_object_unref(p->window);
  g_object_unref(p->file);
  g_free(p->name);
  g_clear_object(&p->attachment);
  g_clear_error(&p->error);
  g_free(p);
}

/* Attachments enter the draft in the order they were dropped, whichever finished reading first. */
static void
flush_pending(void)
{
  Pending *p;
  while ((p = g_queue_peek_head(&pending_queue)) && p->done) {
    g_queue_pop_head(&pending_queue);
    VfWindow *self = p->window;
    if (p->attachment) {
      g_autoptr(VfEngineModelInfo) info = vf_engine_get_model_info(self->engine);
      if (info)
        vf_attachment_set_processor(p->attachment, &info->processor);
      if (p->name)
        vf_attachment_set_name(p->attachment, p->name);
      vf_window_apply_picture_budget(self, p->attachment);
      vf_composer_add_attachment(self->composer, p->attachment);
      g_message("attached %s as %s", vf_attachment_get_name(p->attachment), vf_attachment_get_label(p->attachment));
    } else {
      vf_window_toast(self, p->error->message);
    }
    self->inspecting--;
    if (self->inspecting == 0 && self->send_when_ready)
      vf_window_send(self);
    pending_free(p);
  }
}

static void
on_inspected(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Pending *p = user_data;
  p->attachment = vf_attachment_inspect_finish(result, &p->error);
  p->done = TRUE;
  flush_pending();
}

static void
inspect(VfWindow *self, GFile *file, const char *name)
{
  Pending *p = g_new0(Pending, 1);
  p->window = g_object_ref(self);
  p->file = g_object_ref(file);
  p->name = g_strdup(name);
  g_queue_push_tail(&pending_queue, p);
  self->inspecting++;
  vf_attachment_inspect_async(file, NULL, on_inspected, p);
}

static gint
by_name(gconstpointer a, gconstpointer b)
{
  g_autofree char *x = g_file_get_basename(*(GFile **)a), *y = g_file_get_basename(*(GFile **)b);
  return g_utf8_collate(x, y);
}

/* A folder that is not a model: its pictures and videos, by name, all attached (each is read on a worker
 * thread, so hundreds of them never block the window; the prompt counter says when they exceed the context). */
static void
attach_folder(VfWindow *self, GFile *folder)
{
  g_autofree char *name = g_file_get_basename(folder);
  g_autoptr(GError) error = NULL;
  g_autoptr(GFileEnumerator) children = g_file_enumerate_children(
    folder, G_FILE_ATTRIBUTE_STANDARD_NAME "," G_FILE_ATTRIBUTE_STANDARD_TYPE "," G_FILE_ATTRIBUTE_STANDARD_FAST_CONTENT_TYPE,
    G_FILE_QUERY_INFO_NONE, NULL, &error);
  g_autoptr(GPtrArray) media = g_ptr_array_new_with_free_func(g_object_unref);
  GFileInfo *info;
  while (children && (info = g_file_enumerator_next_file(children, NULL, &error))) {
    const char *type = g_file_info_get_attribute_string(info, G_FILE_ATTRIBUTE_STANDARD_FAST_CONTENT_TYPE);
    if (g_file_info_get_file_type(info) == G_FILE_TYPE_REGULAR && type &&
        (g_str_has_prefix(type, "image/") || g_str_has_prefix(type, "video/")))
      g_ptr_array_add(media, g_file_get_child(folder, g_file_info_get_name(info)));
    g_object_unref(info);
  }
  if (error) {
    g_autofree char *text = g_strdup_printf("%s: %s", name, error->message);
    vf_window_toast(self, text);
    return;
  }
  if (media->len == 0) {
    g_autofree char *text =
      g_strdup_printf("%s is not a model folder (no config.json) and holds no pictures or videos", name);
    vf_window_toast(self, text);
    return;
  }
  g_ptr_array_sort(media, by_name);
  for (guint i = 0; i < media->len; i++)
    inspect(self, media->pdata[i], NULL);
  g_autofree char *text = g_strdup_printf("Attaching %u pictures and videos from %s", media->len, name);
  vf_window_toast(self, text);
}

void
vf_window_drop_files(VfWindow *self, GSList *files)
{
  for (GSList *l = files; l; l = l->next) {
    GFile *file = l->data;
    if (g_file_query_file_type(file, G_FILE_QUERY_INFO_NONE, NULL) != G_FILE_TYPE_DIRECTORY) {
      inspect(self, file, NULL);
      continue;
    }
    /* A checkpoint folder is opened as the model; any other folder gives its pictures and videos. */
    g_autoptr(GFile) config = g_file_get_child(file, "config.json");
    g_autofree char *path = g_file_get_path(file);
    if (path && g_file_query_exists(config, NULL))
      vf_window_load_model(self, path, NULL);
    else
      attach_folder(self, file);
  }
}

static gboolean
on_drop(GtkDropTarget *target, const GValue *value, double x, double y, VfWindow *self)
{
  GSList *files = gdk_file_list_get_files(g_value_get_boxed(value));
  vf_window_drop_files(self, files);
  g_slist_free(files);
  return TRUE;
}

/* Where a pasted picture is kept: with the conversations (the history's blobs, by content hash, where the
 * attachments of stored conversations are), or, when there is no history, in a folder of this run's. */
static char *
keep_pasted_picture(VfWindow *self, GBytes *png, GError **error)
{
  VfHistory *history = vf_sidebar_get_history(self->sidebar);
  if (history) {
    g_autofree char *blob = vf_history_store_bytes(history, png, error);
    return blob ? vf_history_blob_path(history, blob) : NULL;
  }
  static char *folder;
  if (!folder && !(folder = g_dir_make_tmp("viewfinder-pasted-XXXXXX", error)))
    return NULL;
  g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
  g_checksum_update(sum, g_bytes_get_data(png, NULL), g_bytes_get_size(png));
  g_autofree char *name = g_strconcat(g_checksum_get_string(sum), ".png", NULL);
  char *path = g_build_filename(folder, name, NULL);
  if (!g_file_set_contents(path, g_bytes_get_data(png, NULL), (gssize)g_bytes_get_size(png), error))
    g_clear_pointer(&path, g_free);
  return path;
}

void
vf_window_paste_picture(VfWindow *self, GdkTexture *texture)
{
  g_autoptr(GBytes) png = gdk_texture_save_to_png_bytes(texture);
  g_autoptr(GError) error = NULL;
  g_autofree char *path = keep_pasted_picture(self, png, &error);
  if (!path) {
    g_autofree char *text = g_strdup_printf("The pasted picture could not be kept: %s", error->message);
    vf_window_toast(self, text);
    return;
  }
  g_autoptr(GDateTime) now = g_date_time_new_now_local();
  g_autofree char *name = g_date_time_format(now, "Pasted %H:%M:%S.png");
  g_autoptr(GFile) file = g_file_new_for_path(path);
  inspect(self, file, name);
}

static void
on_composer_files(VfComposer *composer, GdkFileList *list, VfWindow *self)
{
  GSList *files = gdk_file_list_get_files(list);
  vf_window_drop_files(self, files);
  g_slist_free(files);
}

void
vf_window_setup_drop_target(VfWindow *self)
{
  GtkDropTarget *target = gtk_drop_target_new(GDK_TYPE_FILE_LIST, GDK_ACTION_COPY);
  g_signal_connect(target, "drop", G_CALLBACK(on_drop), self);
  gtk_widget_add_controller(GTK_WIDGET(self->toast_overlay), GTK_EVENT_CONTROLLER(target));
  g_signal_connect(self->composer, "attach-files", G_CALLBACK(on_composer_files), self);
  g_signal_connect_swapped(self->composer, "picture-pasted", G_CALLBACK(vf_window_paste_picture), self);
}
