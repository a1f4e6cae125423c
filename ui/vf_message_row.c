/* One message of the conversation. See vf_message_row.h. */
#define G_LOG_DOMAIN "vf-message-row"

#include "vf_message_row.h"

#include <adwaita.h>

#include "vf_attachment_chip.h"
#include "vf_markdown_view.h"

struct _VfMessageRow {
  GtkWidget parent_instance;

  GtkWidget *user_box;
  GtkWidget *user_actions;
  GtkWidget *alternatives;
  GtkLabel *alternative_label;
  GtkWidget *previous_button, *next_button, *regenerate_button;
  GtkBox *user_attachments;
  GtkLabel *user_text;
  GtkWidget *assistant_box;
  GtkWidget *waiting_box;
  GtkLabel *stage_label;
  GtkProgressBar *stage_progress;
  VfMarkdownView *answer;
  GtkWidget *footer;
  GtkWidget *stopped_tag;
  GtkLabel *cut_tag;
  GtkLabel *stats;
  GtkWidget *continue_button;

  VfMessage *message;
  guint pulse_id;
};

G_DEFINE_FINAL_TYPE(VfMessageRow, vf_message_row, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_MESSAGE,
  N_PROPS,
};

static GParamSpec *properties[N_PROPS];

static gboolean
pulse(gpointer data)
{
  VfMessageRow *self = data;
  gtk_progress_bar_pulse(self->stage_progress);
  return G_SOURCE_CONTINUE;
}

static void
update_stage(VfMessageRow *self)
{
  gtk_label_set_text(self->stage_label, vf_message_get_stage(self->message));
  double fraction = vf_message_get_stage_fraction(self->message);
  gboolean waiting = vf_message_get_state(self->message) == VF_MESSAGE_WAITING;
  if (fraction >= 0 || !waiting) {
    g_clear_handle_id(&self->pulse_id, g_source_remove);
    gtk_progress_bar_set_fraction(self->stage_progress, MAX(fraction, 0));
  } else if (!self->pulse_id) {
    self->pulse_id = g_timeout_add(100, pulse, self);
  }
}

static void
update_attachments(VfMessageRow *self)
{
  GtkWidget *chip;
  while ((chip = gtk_widget_get_first_child(GTK_WIDGET(self->user_attachments))))
    gtk_box_remove(self->user_attachments, chip);
  GListModel *attachments = vf_message_get_attachments(self->message);
  for (guint i = 0; i < g_list_model_get_n_items(attachments); i++) {
    g_autoptr(VfAttachment) a = g_list_model_get_item(attachments, i);
    gtk_box_append(self->user_attachments, vf_attachment_chip_new(a, FALSE));
  }
  gtk_widget_set_visible(GTK_WIDGET(self->user_attachments), g_list_model_get_n_items(attachments) > 0);
}

static void
update_text(VfMessageRow *self)
{
  vf_markdown_view_set_markdown(self->answer, vf_message_get_text(self->message));
}

static void
update_state(VfMessageRow *self)
{
  VfMessageState state = vf_message_get_state(self->message);
  gtk_widget_set_visible(self->waiting_box, state == VF_MESSAGE_WAITING);
  gtk_widget_set_visible(GTK_WIDGET(self->answer), state != VF_MESSAGE_WAITING);
  gtk_widget_set_visible(self->footer, state != VF_MESSAGE_WAITING);
  gtk_widget_set_visible(self->stopped_tag, state == VF_MESSAGE_STOPPED);
  gtk_widget_action_set_enabled(GTK_WIDGET(self), "message.copy",
                                state == VF_MESSAGE_DONE || state == VF_MESSAGE_STOPPED);
  update_stage(self);
}

static void
update_stats(VfMessageRow *self)
{
  g_autofree char *stats = vf_message_describe_progress(self->message);
  gtk_label_set_text(self->stats, stats);
  gboolean cut = vf_message_get_cut(self->message);
  gtk_widget_set_visible(GTK_WIDGET(self->cut_tag), cut);
  if (cut) {
    g_autofree char *tag = g_strdup_printf("Cut at %u tokens", vf_message_get_tokens(self->message));
    gtk_label_set_text(self->cut_tag, tag);
  }
  gtk_widget_set_visible(self->continue_button, vf_message_get_can_continue(self->message));
  gboolean last = vf_message_get_last_answer(self->message);
  guint n = vf_message_get_n_alternatives(self->message), k = vf_message_get_alternative(self->message);
  gtk_widget_set_visible(self->regenerate_button, last);
  gtk_widget_set_visible(self->alternatives, last && n > 1);
  g_autofree char *which = g_strdup_printf("%u/%u", k + 1, n);
  gtk_label_set_text(self->alternative_label, which);
  gtk_widget_set_sensitive(self->previous_button, k > 0);
  gtk_widget_set_sensitive(self->next_button, k + 1 < n);
}

static void
update_user_actions(VfMessageRow *self)
{
  gtk_widget_set_visible(self->user_actions, vf_message_get_id(self->message) != 0);
}

/* The window's actions take the message's id: it finds the message in the engine's conversation. */
static void
message_action_activated(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  VfMessageRow *self = VF_MESSAGE_ROW(widget);
  const char *window_action = g_str_equal(action_name, "message.edit") ? "chat.edit" : "chat.delete-turn";
  gtk_widget_activate_action(widget, window_action, "t", vf_message_get_id(self->message));
}

static void
copy_activated(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  VfMessageRow *self = VF_MESSAGE_ROW(widget);
  gdk_clipboard_set_text(gtk_widget_get_clipboard(widget), vf_message_get_text(self->message));
  GtkWidget *overlay = gtk_widget_get_ancestor(widget, ADW_TYPE_TOAST_OVERLAY);
  if (overlay)
    adw_toast_overlay_add_toast(ADW_TOAST_OVERLAY(overlay), adw_toast_new("Answer copied"));
}

static void
vf_message_row_constructed(GObject *object)
{
  VfMessageRow *self = VF_MESSAGE_ROW(object);
  G_OBJECT_CLASS(vf_message_row_parent_class)->constructed(object);
  gboolean user = vf_message_get_role(self->message) == VF_MESSAGE_USER;
  gtk_widget_set_visible(self->user_box, user);
  gtk_widget_set_visible(self->assistant_box, !user);
  if (user) {
    /* A reopened message's stored pictures arrive after it is shown. */
    g_signal_connect_object(vf_message_get_attachments(self->message), "items-changed", G_CALLBACK(update_attachments),
                            self, G_CONNECT_SWAPPED);
    update_attachments(self);
    g_signal_connect_object(self->message, "notify::id", G_CALLBACK(update_user_actions), self, G_CONNECT_SWAPPED);
    update_user_actions(self);
    const char *text = vf_message_get_text(self->message);
    gtk_label_set_text(self->user_text, text);
    gtk_widget_set_visible(GTK_WIDGET(self->user_text), *text != 0);
    return;
  }
  g_signal_connect_object(self->message, "notify::text", G_CALLBACK(update_text), self, G_CONNECT_SWAPPED);
  g_signal_connect_object(self->message, "notify::state", G_CALLBACK(update_state), self, G_CONNECT_SWAPPED);
  g_signal_connect_object(self->message, "notify::stage", G_CALLBACK(update_stage), self, G_CONNECT_SWAPPED);
  g_signal_connect_object(self->message, "notify::stage-fraction", G_CALLBACK(update_stage), self,
                          G_CONNECT_SWAPPED);
  g_signal_connect_object(self->message, "notify::tokens-per-second", G_CALLBACK(update_stats), self,
                          G_CONNECT_SWAPPED);
  g_signal_connect_object(self->message, "notify::tokens", G_CALLBACK(update_stats), self, G_CONNECT_SWAPPED);
  g_signal_connect_object(self->message, "notify::cut", G_CALLBACK(update_stats), self, G_CONNECT_SWAPPED);
  g_signal_connect_object(self->message, "notify::can-continue", G_CALLBACK(update_stats), self, G_CONNECT_SWAPPED);
  g_signal_connect_object(self->message, "notify::last-answer", G_CALLBACK(update_stats), self, G_CONNECT_SWAPPED);
  g_signal_connect_object(self->message, "notify::alternatives", G_CALLBACK(update_stats), self, G_CONNECT_SWAPPED);
  update_text(self);
  update_state(self);
  update_stats(self);
}

VfMessage *vf_message_row_get_message(VfMessageRow *self) { return self->message; }

static void
vf_message_row_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  VfMessageRow *self = VF_MESSAGE_ROW(object);
  switch (prop_id) {
  case PROP_MESSAGE:
    g_value_set_object(value, self->message);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void
vf_message_row_set_property(GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  VfMessageRow *self = VF_MESSAGE_ROW(object);
  switch (prop_id) {
  case PROP_MESSAGE:
    self->message = g_value_dup_object(value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void
vf_message_row_dispose(GObject *object)
{
  VfMessageRow *self = VF_MESSAGE_ROW(object);
  g_clear_handle_id(&self->pulse_id, g_source_remove);
  GtkWidget *child;
  while ((child = gtk_widget_get_first_child(GTK_WIDGET(self))))
    gtk_widget_unparent(child);
  gtk_widget_dispose_template(GTK_WIDGET(self), VF_TYPE_MESSAGE_ROW);
  g_clear_object(&self->message);
  G_OBJECT_CLASS(vf_message_row_parent_class)->dispose(object);
}

static void
vf_message_row_class_init(VfMessageRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
  object_class->constructed = vf_message_row_constructed;
  object_class->get_property = vf_message_row_get_property;
  object_class->set_property = vf_message_row_set_property;
  object_class->dispose = vf_message_row_dispose;

  properties[PROP_MESSAGE] = g_param_spec_object("message", NULL, NULL, VF_TYPE_MESSAGE,
                                                 G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties(object_class, N_PROPS, properties);

  g_type_ensure(VF_TYPE_MARKDOWN_VIEW);
  gtk_widget_class_set_template_from_resource(widget_class, "/org/viewfinder/Viewfinder/ui/vf_message_row.ui");
  gtk_widget_class_bind_template_child(widget_class, VfMessageRow, user_box);
  gtk_widget_class_bind_template_child(widget_class, VfMessageRow, user_attachments);
  gtk_widget_class_bind_template_child(widget_class, VfMessageRow, user_text);
  gtk_widget_class_bind_template_child(widget_class, VfMessageRow, assistant_box);
  gtk_widget_class_bind_template_child(widget_class, VfMessageRow, waiting_box);
  gtk_widget_class_bind_template_child(widget_class, VfMessageRow, stage_label);
  gtk_widget_class_bind_template_child(widget_class, VfMessageRow, stage_progress);
  gtk_widget_class_bind_template_child(widget_class, VfMessageRow, answer);
  gtk_widget_class_bind_template_child(widget_class, VfMessageRow, footer);
  gtk_widget_class_bind_template_child(widget_class, VfMessageRow, stopped_tag);
  gtk_widget_class_bind_template_child(widget_class, VfMessageRow, stats);
  gtk_widget_class_bind_template_child(widget_class, VfMessageRow, cut_tag);
  gtk_widget_class_bind_template_child(widget_class, VfMessageRow, continue_button);
  gtk_widget_class_bind_template_child(widget_class, VfMessageRow, user_actions);
  gtk_widget_class_bind_template_child(widget_class, VfMessageRow, alternatives);
  gtk_widget_class_bind_template_child(widget_class, VfMessageRow, alternative_label);
  gtk_widget_class_bind_template_child(widget_class, VfMessageRow, previous_button);
  gtk_widget_class_bind_template_child(widget_class, VfMessageRow, next_button);
  gtk_widget_class_bind_template_child(widget_class, VfMessageRow, regenerate_button);
  gtk_widget_class_install_action(widget_class, "message.copy", NULL, copy_activated);
  gtk_widget_class_install_action(widget_class, "message.edit", NULL, message_action_activated);
  gtk_widget_class_install_action(widget_class, "message.delete", NULL, message_action_activated);
  gtk_widget_class_set_css_name(widget_class, "messagerow");
}

static void
vf_message_row_init(VfMessageRow *self)
{
  gtk_widget_init_template(GTK_WIDGET(self));
}

GtkWidget *
vf_message_row_new(VfMessage *message)
{
  return g_object_new(VF_TYPE_MESSAGE_ROW, "message", message, NULL);
}
