/* An attachment as a card. See vf_attachment_chip.h. */
#define G_LOG_DOMAIN "vf-attachment-chip"

#include "vf_attachment_chip.h"

#include "vf_attachment_popover.h"

struct _VfAttachmentChip {
  GtkWidget parent_instance;

  GtkStack *preview;
  GtkImage *thumbnail;
  GtkImage *icon;
  GtkLabel *label;
  GtkLabel *name;
  GtkLabel *cost;
  GtkMenuButton *options_button;
  GtkButton *remove_button;

  VfAttachment *attachment;
  gboolean editable;
  gboolean costly;
};

G_DEFINE_FINAL_TYPE(VfAttachmentChip, vf_attachment_chip, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_ATTACHMENT,
  PROP_EDITABLE,
  N_PROPS,
};

static GParamSpec *properties[N_PROPS];

enum {
  SIGNAL_REMOVE_REQUESTED,
  SIGNAL_OPTIONS_CLOSED,
  N_SIGNALS,
};

static guint signals[N_SIGNALS];

static void
update(VfAttachmentChip *self)
{
  VfAttachment *a = self->attachment;
  const char *label = vf_attachment_get_label(a) ? vf_attachment_get_label(a) : "";
  gtk_label_set_text(self->label, label);
  g_autofree char *duration = vf_attachment_describe_duration(a);
  g_autofree char *name = duration ? g_strdup_printf("%s · %s", vf_attachment_get_name(a), duration)
                                   : g_strdup(vf_attachment_get_name(a));
  gtk_label_set_text(self->name, name);
  guint tokens = vf_attachment_get_tokens(a);
  const char *damage = vf_attachment_get_damage(a);
  g_autofree char *budget = vf_attachment_describe_budget(a);
  g_autofree char *cost = tokens ? g_strdup_printf("%u tokens (%s)%s", tokens, budget, damage ? " · damaged" : "")
                                 : g_strdup(damage ? "tokens: ? · damaged" : "tokens: ?");
  gtk_label_set_text(self->cost, cost);
  g_autofree char *cost_detail = vf_attachment_describe_cost(a);
  /* Why a damaged picture looks grey where its data is missing. */
  g_autofree char *detail = damage ? g_strdup_printf("%s\n%s", damage, cost_detail) : g_strdup(cost_detail);
  gtk_widget_set_tooltip_text(GTK_WIDGET(self->cost), detail);
  if (damage)
    gtk_widget_add_css_class(GTK_WIDGET(self->cost), "warning");
  else
    gtk_widget_remove_css_class(GTK_WIDGET(self->cost), "warning");
  g_autofree char *remove = g_strdup_printf("Remove %s (%s)", label, vf_attachment_get_name(a));
  gtk_accessible_update_property(GTK_ACCESSIBLE(self->remove_button), GTK_ACCESSIBLE_PROPERTY_LABEL, remove, -1);
  g_autofree char *settings = g_strdup_printf("Size settings of %s", label);
  gtk_accessible_update_property(GTK_ACCESSIBLE(self->options_button), GTK_ACCESSIBLE_PROPERTY_LABEL, settings, -1);
}

static void
remove_activated(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  g_signal_emit(widget, signals[SIGNAL_REMOVE_REQUESTED], 0);
}

static void
on_popover_closed(VfAttachmentChip *self)
{
  g_signal_emit(self, signals[SIGNAL_OPTIONS_CLOSED], 0);
}

void
vf_attachment_chip_open_options(VfAttachmentChip *self)
{
  g_return_if_fail(self->editable);
  gtk_menu_button_popup(self->options_button);
}

static void
vf_attachment_chip_constructed(GObject *object)
{
  VfAttachmentChip *self = VF_ATTACHMENT_CHIP(object);
  G_OBJECT_CLASS(vf_attachment_chip_parent_class)->constructed(object);
  GdkPaintable *thumbnail = vf_attachment_get_thumbnail(self->attachment);
  if (thumbnail) {
    gtk_image_set_from_paintable(self->thumbnail, thumbnail);
    gtk_stack_set_visible_child_name(self->preview, "thumbnail");
  } else {
    gtk_image_set_from_icon_name(self->icon, vf_attachment_get_icon_name(self->attachment));
    gtk_stack_set_visible_child_name(self->preview, "icon");
  }
  gtk_widget_set_visible(GTK_WIDGET(self->options_button), self->editable);
  gtk_widget_set_visible(GTK_WIDGET(self->remove_button), self->editable);
  if (self->editable) {
    GtkWidget *popover = vf_attachment_popover_new(self->attachment);
    gtk_menu_button_set_popover(self->options_button, popover);
    g_signal_connect_object(popover, "closed", G_CALLBACK(on_popover_closed), self, G_CONNECT_SWAPPED);
  }
  g_signal_connect_object(self->attachment, "notify::label", G_CALLBACK(update), self, G_CONNECT_SWAPPED);
  g_signal_connect_object(self->attachment, "notify::name", G_CALLBACK(update), self, G_CONNECT_SWAPPED);
  g_signal_connect_object(self->attachment, "notify::tokens", G_CALLBACK(update), self, G_CONNECT_SWAPPED);
  update(self);
}

VfAttachment *vf_attachment_chip_get_attachment(VfAttachmentChip *self) { return self->attachment; }
gboolean vf_attachment_chip_get_costly(VfAttachmentChip *self) { return self->costly; }

void
vf_attachment_chip_set_costly(VfAttachmentChip *self, gboolean costly)
{
  self->costly = costly;
  if (costly) {
    gtk_widget_add_css_class(GTK_WIDGET(self->cost), "error");
    gtk_widget_set_tooltip_text(GTK_WIDGET(self->cost), "Costs most of a prompt that does not fit: Fit to Context "
                                                        "lowers its size");
  } else {
    gtk_widget_remove_css_class(GTK_WIDGET(self->cost), "error");
    update(self);
  }
}

static void
vf_attachment_chip_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  VfAttachmentChip *self = VF_ATTACHMENT_CHIP(object);
  switch (prop_id) {
  case PROP_ATTACHMENT:
    g_value_set_object(value, self->attachment);
    break;
  case PROP_EDITABLE:
    g_value_set_boolean(value, self->editable);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void
vf_attachment_chip_set_property(GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  VfAttachmentChip *self = VF_ATTACHMENT_CHIP(object);
  switch (prop_id) {
  case PROP_ATTACHMENT:
    self->attachment = g_value_dup_object(value);
    break;
  case PROP_EDITABLE:
    self->editable = g_value_get_boolean(value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void
vf_attachment_chip_dispose(GObject *object)
{
  VfAttachmentChip *self = VF_ATTACHMENT_CHIP(object);
  GtkWidget *child;
  while ((child = gtk_widget_get_first_child(GTK_WIDGET(self))))
    gtk_widget_unparent(child);
  gtk_widget_dispose_template(GTK_WIDGET(self), VF_TYPE_ATTACHMENT_CHIP);
  g_clear_object(&self->attachment);
  G_OBJECT_CLASS(vf_attachment_chip_parent_class)->dispose(object);
}

static void
vf_attachment_chip_class_init(VfAttachmentChipClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
  object_class->constructed = vf_attachment_chip_constructed;
  object_class->get_property = vf_attachment_chip_get_property;
  object_class->set_property = vf_attachment_chip_set_property;
  object_class->dispose = vf_attachment_chip_dispose;

  properties[PROP_ATTACHMENT] = g_param_spec_object("attachment", NULL, NULL, VF_TYPE_ATTACHMENT,
                                                    G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_EDITABLE] = g_param_spec_boolean("editable", NULL, NULL, FALSE,
                                                   G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties(object_class, N_PROPS, properties);

  /* The user asked to take this attachment out of the draft. */
  signals[SIGNAL_REMOVE_REQUESTED] = g_signal_new("remove-requested", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
                                                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_OPTIONS_CLOSED] = g_signal_new("options-closed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                                NULL, NULL, NULL, G_TYPE_NONE, 0);

  gtk_widget_class_set_template_from_resource(widget_class, "/org/viewfinder/Viewfinder/ui/vf_attachment_chip.ui");
  gtk_widget_class_bind_template_child(widget_class, VfAttachmentChip, preview);
  gtk_widget_class_bind_template_child(widget_class, VfAttachmentChip, thumbnail);
  gtk_widget_class_bind_template_child(widget_class, VfAttachmentChip, icon);
  gtk_widget_class_bind_template_child(widget_class, VfAttachmentChip, label);
  gtk_widget_class_bind_template_child(widget_class, VfAttachmentChip, name);
  gtk_widget_class_bind_template_child(widget_class, VfAttachmentChip, cost);
  gtk_widget_class_bind_template_child(widget_class, VfAttachmentChip, options_button);
  gtk_widget_class_bind_template_child(widget_class, VfAttachmentChip, remove_button);
  gtk_widget_class_install_action(widget_class, "chip.remove", NULL, remove_activated);
  gtk_widget_class_set_css_name(widget_class, "attachmentchip");
  gtk_widget_class_set_accessible_role(widget_class, GTK_ACCESSIBLE_ROLE_GROUP);
}

static void
vf_attachment_chip_init(VfAttachmentChip *self)
{
  gtk_widget_init_template(GTK_WIDGET(self));
}

GtkWidget *
vf_attachment_chip_new(VfAttachment *attachment, gboolean editable)
{
  return g_object_new(VF_TYPE_ATTACHMENT_CHIP, "attachment", attachment, "editable", editable, NULL);
}
