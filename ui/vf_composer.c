/* The message being written. See vf_composer.h. */
#define G_LOG_DOMAIN "vf-composer"

#include "vf_composer.h"

#include "vf_attachment_chip.h"

struct _VfComposer {
  GtkWidget parent_instance;

  GtkWidget *editing_bar;
  GtkWidget *attachments_scroller;
  GtkBox *attachments_box;
  GtkLabel *status;
  GtkWidget *fit_button;
  GtkButton *attach_button;
  GtkTextView *input;
  GtkStack *send_stop;

  GListStore *attachments; /* VfAttachment */
  guint pictures_before, videos_before;
  gboolean busy;
};

G_DEFINE_FINAL_TYPE(VfComposer, vf_composer, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_BUSY,
  N_PROPS,
};

static GParamSpec *properties[N_PROPS];

enum {
  SIGNAL_CHANGED,
  SIGNAL_ATTACH_FILES,
  SIGNAL_PICTURE_PASTED,
  N_SIGNALS,
};

static guint signals[N_SIGNALS];

/* ---------------------------------------------------------------------------------------------------
 * Draft
 * ------------------------------------------------------------------------------------------------- */

/* "Picture N" / "Video N" exactly as the chat template counts: over the whole conversation, in order. */
static void
relabel(VfComposer *self)
{
  uint32_t pictures = self->pictures_before, videos = self->videos_before;
  guint n = g_list_model_get_n_items(G_LIST_MODEL(self->attachments));
  for (guint i = 0; i < n; i++) {
    g_autoptr(VfAttachment) a = g_list_model_get_item(G_LIST_MODEL(self->attachments), i);
    VfChatPartKind kind = vf_attachment_get_kind(a) == VF_ATTACHMENT_VIDEO ? VF_CHAT_PART_VIDEO : VF_CHAT_PART_IMAGE;
    g_autofree char *label = vf_chat_media_label(kind, vf_chat_media_number_next(kind, &pictures, &videos));
    vf_attachment_set_label(a, label);
  }
  gtk_widget_set_visible(self->attachments_scroller, n > 0);
}

static void
emit_changed(VfComposer *self)
{
  g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
}

GListModel *vf_composer_get_attachments(VfComposer *self) { return G_LIST_MODEL(self->attachments); }

void
vf_composer_add_attachment(VfComposer *self, VfAttachment *attachment)
{
  g_signal_connect_object(attachment, "notify::tokens", G_CALLBACK(emit_changed), self, G_CONNECT_SWAPPED);
  g_list_store_append(self->attachments, attachment);
}

static void
on_remove_requested(VfAttachmentChip *chip, VfComposer *self)
{
  guint position;
  if (g_list_store_find(self->attachments, vf_attachment_chip_get_attachment(chip), &position)) {
    g_signal_handlers_disconnect_by_data(vf_attachment_chip_get_attachment(chip), self);
    g_list_store_remove(self->attachments, position);
  }
  gtk_widget_grab_focus(GTK_WIDGET(self->input));
}

/* One chip per attachment, in the list's order. */
static void
on_attachments_changed(GListModel *list, guint position, guint removed, guint added, VfComposer *self)
{
  GtkWidget *before = NULL, *child = gtk_widget_get_first_child(GTK_WIDGET(self->attachments_box));
  for (guint i = 0; i < position; i++) {
    before = child;
    child = gtk_widget_get_next_sibling(child);
  }
  for (guint i = 0; i < removed; i++) {
    GtkWidget *next = gtk_widget_get_next_sibling(child);
    gtk_box_remove(self->attachments_box, child);
    child = next;
  }
  for (guint i = 0; i < added; i++) {
    g_autoptr(VfAttachment) a = g_list_model_get_item(list, position + i);
    GtkWidget *chip = vf_attachment_chip_new(a, TRUE);
    g_signal_connect_object(chip, "remove-requested", G_CALLBACK(on_remove_requested), self, 0);
    /* After the ⋮ menu closes, typing goes on in the message, not into the menu's button (or, reopened by
     * the next space, into "Frames per second"). */
    g_signal_connect_object(chip, "options-closed", G_CALLBACK(vf_composer_focus_input), self, G_CONNECT_SWAPPED);
    gtk_box_insert_child_after(self->attachments_box, chip, before);
    before = chip;
  }
  relabel(self);
  emit_changed(self);
}

char *
vf_composer_get_text(VfComposer *self)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer(self->input);
  GtkTextIter start, end;
  gtk_text_buffer_get_bounds(buffer, &start, &end);
  return gtk_text_buffer_get_text(buffer, &start, &end, FALSE);
}

void
vf_composer_set_text(VfComposer *self, const char *text)
{
  gtk_text_buffer_set_text(gtk_text_view_get_buffer(self->input), text ? text : "", -1);
}

void
vf_composer_clear(VfComposer *self)
{
  guint n = g_list_model_get_n_items(G_LIST_MODEL(self->attachments));
  for (guint i = 0; i < n; i++) {
    g_autoptr(VfAttachment) a = g_list_model_get_item(G_LIST_MODEL(self->attachments), i);
    g_signal_handlers_disconnect_by_data(a, self);
  }
  g_list_store_remove_all(self->attachments);
  vf_composer_set_text(self, "");
}

void
vf_composer_set_media_before(VfComposer *self, guint pictures, guint videos)
{
  self->pictures_before = pictures;
  self->videos_before = videos;
  relabel(self);
}

void
vf_composer_set_editing(VfComposer *self, gboolean editing)
{
  gtk_widget_set_visible(self->editing_bar, editing);
}

void
vf_composer_set_busy(VfComposer *self, gboolean busy)
{
  if (self->busy == busy)
    return;
  self->busy = busy;
  gtk_stack_set_visible_child_name(self->send_stop, busy ? "stop" : "send");
  g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_BUSY]);
}

/* For g_ptr_array_sort (GLib 2.74: it passes pointers to the elements). */
static gint
by_tokens_descending(gconstpointer a, gconstpointer b)
{
  guint x = vf_attachment_get_tokens(vf_attachment_chip_get_attachment(*(VfAttachmentChip **)a));
  guint y = vf_attachment_get_tokens(vf_attachment_chip_get_attachment(*(VfAttachmentChip **)b));
  return x > y ? -1 : x < y;
}

void
vf_composer_set_status(VfComposer *self, const char *text, gboolean warning)
{
  gtk_label_set_text(self->status, text ? text : "");
  gtk_widget_set_visible(GTK_WIDGET(self->status), text && *text);
  if (warning) {
    gtk_widget_remove_css_class(GTK_WIDGET(self->status), "dim-label");
    gtk_widget_add_css_class(GTK_WIDGET(self->status), "warning");
  } else {
    gtk_widget_remove_css_class(GTK_WIDGET(self->status), "warning");
    gtk_widget_add_css_class(GTK_WIDGET(self->status), "dim-label");
  }
}

const char *vf_composer_get_status(VfComposer *self) { return gtk_label_get_text(self->status); }

void
vf_composer_set_fit_offer(VfComposer *self, guint tokens_over)
{
  gtk_widget_set_visible(self->fit_button, tokens_over > 0);
  /* The chips that cost most, down to those that cover the excess, are marked. */
  g_autoptr(GPtrArray) chips = g_ptr_array_new();
  for (GtkWidget *c = gtk_widget_get_first_child(GTK_WIDGET(self->attachments_box)); c;
       c = gtk_widget_get_next_sibling(c))
    g_ptr_array_add(chips, c);
  g_ptr_array_sort(chips, by_tokens_descending);
  guint covered = 0;
  for (guint i = 0; i < chips->len; i++) {
    VfAttachmentChip *chip = chips->pdata[i];
    gboolean mark = tokens_over > 0 && covered < tokens_over;
    vf_attachment_chip_set_costly(chip, mark);
    if (mark)
      covered += vf_attachment_get_tokens(vf_attachment_chip_get_attachment(chip));
  }
}

void
vf_composer_open_options(VfComposer *self, guint index)
{
  GtkWidget *chip = gtk_widget_get_first_child(GTK_WIDGET(self->attachments_box));
  for (guint i = 0; chip && i < index; i++)
    chip = gtk_widget_get_next_sibling(chip);
  g_return_if_fail(VF_IS_ATTACHMENT_CHIP(chip));
  vf_attachment_chip_open_options(VF_ATTACHMENT_CHIP(chip));
}

void
vf_composer_focus_input(VfComposer *self)
{
  gtk_widget_grab_focus(GTK_WIDGET(self->input));
}

/* ---------------------------------------------------------------------------------------------------
 * Keys and paste
 * ------------------------------------------------------------------------------------------------- */

static gboolean
on_key_pressed(GtkEventControllerKey *controller, guint keyval, guint keycode, GdkModifierType state,
               VfComposer *self)
{
  if (keyval != GDK_KEY_Return && keyval != GDK_KEY_KP_Enter && keyval != GDK_KEY_ISO_Enter)
    return FALSE;
  if (state & (GDK_SHIFT_MASK | GDK_CONTROL_MASK | GDK_ALT_MASK))
    return FALSE; /* Shift+Enter: a new line, as the text view does by default */
  gtk_widget_activate_action(GTK_WIDGET(self), "chat.send", NULL);
  return TRUE;
}

static void
attach_files(VfComposer *self, GSList *files)
{
  GdkFileList *list = gdk_file_list_new_from_list(files);
  g_signal_emit(self, signals[SIGNAL_ATTACH_FILES], 0, list);
  g_boxed_free(GDK_TYPE_FILE_LIST, list);
}

static void
on_files_read(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(VfComposer) self = user_data;
  g_autoptr(GError) error = NULL;
  const GValue *value = gdk_clipboard_read_value_finish(GDK_CLIPBOARD(source), result, &error);
  if (value)
    attach_files(self, gdk_file_list_get_files(g_value_get_boxed(value)));
  else
    g_warning("cannot paste files: %s", error->message);
}

/* A pasted picture goes to the window ("picture-pasted"), which keeps it with the conversations. */
static void
on_texture_read(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(VfComposer) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GdkTexture) texture = gdk_clipboard_read_texture_finish(GDK_CLIPBOARD(source), result, &error);
  if (!texture) {
    g_warning("cannot paste the picture: %s", error->message);
    return;
  }
  g_signal_emit(self, signals[SIGNAL_PICTURE_PASTED], 0, texture);
}

static void
on_paste(GtkTextView *input, VfComposer *self)
{
  GdkClipboard *clipboard = gtk_widget_get_clipboard(GTK_WIDGET(input));
  GdkContentFormats *formats = gdk_clipboard_get_formats(clipboard);
  if (gdk_content_formats_contain_gtype(formats, GDK_TYPE_FILE_LIST)) {
    g_signal_stop_emission_by_name(input, "paste-clipboard");
    gdk_clipboard_read_value_async(clipboard, GDK_TYPE_FILE_LIST, G_PRIORITY_DEFAULT, NULL, on_files_read,
                                   g_object_ref(self));
  } else if (gdk_content_formats_contain_gtype(formats, GDK_TYPE_TEXTURE)) {
    g_signal_stop_emission_by_name(input, "paste-clipboard");
    gdk_clipboard_read_texture_async(clipboard, NULL, on_texture_read, g_object_ref(self));
  }
}

/* ---------------------------------------------------------------------------------------------------
 * GObject
 * ------------------------------------------------------------------------------------------------- */

static void
vf_composer_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  VfComposer *self = VF_COMPOSER(object);
  switch (prop_id) {
  case PROP_BUSY:
    g_value_set_boolean(value, self->busy);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void
vf_composer_dispose(GObject *object)
{
  VfComposer *self = VF_COMPOSER(object);
  /* No "changed" while going away: the window listening may be going away too. */
  if (self->attachments)
    g_signal_handlers_disconnect_by_data(self->attachments, self);
  GtkWidget *child;
  while ((child = gtk_widget_get_first_child(GTK_WIDGET(self))))
    gtk_widget_unparent(child);
  gtk_widget_dispose_template(GTK_WIDGET(self), VF_TYPE_COMPOSER);
  g_clear_object(&self->attachments);
  G_OBJECT_CLASS(vf_composer_parent_class)->dispose(object);
}

static void
vf_composer_class_init(VfComposerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
  object_class->get_property = vf_composer_get_property;
  object_class->dispose = vf_composer_dispose;

  properties[PROP_BUSY] = g_param_spec_boolean("busy", NULL, NULL, FALSE,
                                               G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties(object_class, N_PROPS, properties);

  /* The draft changed in a way that changes its token count (text, attachments, their settings). */
  signals[SIGNAL_CHANGED] = g_signal_new("changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                         NULL, G_TYPE_NONE, 0);
  /* Files to attach from a paste (a copied file, or a pasted picture saved as PNG). */
  signals[SIGNAL_ATTACH_FILES] = g_signal_new("attach-files", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                              NULL, NULL, G_TYPE_NONE, 1, GDK_TYPE_FILE_LIST);
  signals[SIGNAL_PICTURE_PASTED] = g_signal_new("picture-pasted", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                                NULL, NULL, NULL, G_TYPE_NONE, 1, GDK_TYPE_TEXTURE);

  gtk_widget_class_set_template_from_resource(widget_class, "/org/viewfinder/Viewfinder/ui/vf_composer.ui");
  gtk_widget_class_bind_template_child(widget_class, VfComposer, editing_bar);
  gtk_widget_class_bind_template_child(widget_class, VfComposer, attachments_scroller);
  gtk_widget_class_bind_template_child(widget_class, VfComposer, attachments_box);
  gtk_widget_class_bind_template_child(widget_class, VfComposer, status);
  gtk_widget_class_bind_template_child(widget_class, VfComposer, fit_button);
  gtk_widget_class_bind_template_child(widget_class, VfComposer, attach_button);
  gtk_widget_class_bind_template_child(widget_class, VfComposer, input);
  gtk_widget_class_bind_template_child(widget_class, VfComposer, send_stop);
  gtk_widget_class_set_css_name(widget_class, "composer");
}

static void
vf_composer_init(VfComposer *self)
{
  gtk_widget_init_template(GTK_WIDGET(self));
  self->attachments = g_list_store_new(VF_TYPE_ATTACHMENT);
  g_signal_connect(self->attachments, "items-changed", G_CALLBACK(on_attachments_changed), self);

  GtkEventController *keys = gtk_event_controller_key_new();
  gtk_event_controller_set_propagation_phase(keys, GTK_PHASE_CAPTURE);
  g_signal_connect(keys, "key-pressed", G_CALLBACK(on_key_pressed), self);
  gtk_widget_add_controller(GTK_WIDGET(self->input), keys);
  g_signal_connect(self->input, "paste-clipboard", G_CALLBACK(on_paste), self);
  g_signal_connect_swapped(gtk_text_view_get_buffer(self->input), "changed", G_CALLBACK(emit_changed), self);
}
