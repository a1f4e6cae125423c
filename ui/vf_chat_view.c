/* The conversation's rows. See vf_chat_view.h. */
#define G_LOG_DOMAIN "vf-chat-view"

#include "vf_chat_view.h"

#include <adwaita.h>

#include "vf_message_row.h"

#define BOTTOM_SLACK 32 /* px: within this of the end counts as "at the bottom" */

struct _VfChatView {
  GtkWidget parent_instance;

  GtkStack *stack;
  GtkScrolledWindow *scroller;
  GtkBox *messages_box;

  GListModel *messages;
  gboolean follow; /* keep the newest text in view */
};

G_DEFINE_FINAL_TYPE(VfChatView, vf_chat_view, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_MODEL,
  N_PROPS,
};

static GParamSpec *properties[N_PROPS];

static GtkWidget *
nth_row(VfChatView *self, guint n)
{
  GtkWidget *child = gtk_widget_get_first_child(GTK_WIDGET(self->messages_box));
  for (guint i = 0; child && i < n; i++)
    child = gtk_widget_get_next_sibling(child);
  return child;
}

static void
on_items_changed(GListModel *model, guint position, guint removed, guint added, VfChatView *self)
{
  for (guint i = 0; i < removed; i++) {
    GtkWidget *row = nth_row(self, position);
    if (row)
      gtk_box_remove(self->messages_box, row);
  }
  GtkWidget *before = position > 0 ? nth_row(self, position - 1) : NULL;
  for (guint i = 0; i < added; i++) {
    g_autoptr(GObject) message = g_list_model_get_item(model, position + i);
    GtkWidget *row = vf_message_row_new(VF_MESSAGE(message));
    gtk_box_insert_child_after(self->messages_box, row, before);
    before = row;
  }
  if (added > 0)
    self->follow = TRUE; /* a new message: show it */
  gtk_stack_set_visible_child_name(self->stack, g_list_model_get_n_items(model) ? "messages" : "empty");
}

static void
on_value_changed(GtkAdjustment *adjustment, VfChatView *self)
{
  double bottom = gtk_adjustment_get_upper(adjustment) - gtk_adjustment_get_page_size(adjustment);
  self->follow = gtk_adjustment_get_value(adjustment) >= bottom - BOTTOM_SLACK;
}

static void
on_upper_changed(GtkAdjustment *adjustment, GParamSpec *pspec, VfChatView *self)
{
  if (self->follow)
    gtk_adjustment_set_value(adjustment,
                             gtk_adjustment_get_upper(adjustment) - gtk_adjustment_get_page_size(adjustment));
}

void
vf_chat_view_set_model(VfChatView *self, GListModel *messages)
{
  if (self->messages == messages)
    return;
  if (self->messages) {
    g_signal_handlers_disconnect_by_data(self->messages, self);
    on_items_changed(self->messages, 0, g_list_model_get_n_items(self->messages), 0, self);
    g_clear_object(&self->messages);
  }
  if (messages) {
    self->messages = g_object_ref(messages);
    g_signal_connect(messages, "items-changed", G_CALLBACK(on_items_changed), self);
    on_items_changed(messages, 0, 0, g_list_model_get_n_items(messages), self);
  }
  g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_MODEL]);
}

GListModel *vf_chat_view_get_model(VfChatView *self) { return self->messages; }

guint
vf_chat_view_get_n_rows(VfChatView *self)
{
  guint n = 0;
  for (GtkWidget *row = gtk_widget_get_first_child(GTK_WIDGET(self->messages_box)); row;
       row = gtk_widget_get_next_sibling(row))
    n++;
  return n;
}

static void
vf_chat_view_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  VfChatView *self = VF_CHAT_VIEW(object);
  switch (prop_id) {
  case PROP_MODEL:
    g_value_set_object(value, self->messages);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void
vf_chat_view_set_property(GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  VfChatView *self = VF_CHAT_VIEW(object);
  switch (prop_id) {
  case PROP_MODEL:
    vf_chat_view_set_model(self, g_value_get_object(value));
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void
vf_chat_view_dispose(GObject *object)
{
  VfChatView *self = VF_CHAT_VIEW(object);
  if (self->messages) {
    g_signal_handlers_disconnect_by_data(self->messages, self);
    g_clear_object(&self->messages);
  }
  GtkWidget *child;
  while ((child = gtk_widget_get_first_child(GTK_WIDGET(self))))
    gtk_widget_unparent(child);
  gtk_widget_dispose_template(GTK_WIDGET(self), VF_TYPE_CHAT_VIEW);
  G_OBJECT_CLASS(vf_chat_view_parent_class)->dispose(object);
}

static void
vf_chat_view_class_init(VfChatViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
  object_class->get_property = vf_chat_view_get_property;
  object_class->set_property = vf_chat_view_set_property;
  object_class->dispose = vf_chat_view_dispose;

  properties[PROP_MODEL] = g_param_spec_object("model", NULL, NULL, G_TYPE_LIST_MODEL,
                                               G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties(object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource(widget_class, "/org/viewfinder/Viewfinder/ui/vf_chat_view.ui");
  gtk_widget_class_bind_template_child(widget_class, VfChatView, stack);
  gtk_widget_class_bind_template_child(widget_class, VfChatView, scroller);
  gtk_widget_class_bind_template_child(widget_class, VfChatView, messages_box);
  gtk_widget_class_set_css_name(widget_class, "chatview");
}

static void
vf_chat_view_init(VfChatView *self)
{
  gtk_widget_init_template(GTK_WIDGET(self));
  self->follow = TRUE;
  GtkAdjustment *adjustment = gtk_scrolled_window_get_vadjustment(self->scroller);
  g_signal_connect(adjustment, "value-changed", G_CALLBACK(on_value_changed), self);
  g_signal_connect(adjustment, "notify::upper", G_CALLBACK(on_upper_changed), self);
}
