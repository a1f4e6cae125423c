/* Per-attachment size settings. See vf_attachment_popover.h. */
#define G_LOG_DOMAIN "vf-attachment-popover"

#include "vf_attachment_popover.h"

struct _VfAttachmentPopover {
  GtkPopover parent_instance;

  GtkLabel *title;
  GtkWidget *image_box;
  GtkCheckButton *default_check;
  GtkCheckButton *full_check;
  GtkCheckButton *max_check;
  GtkSpinButton *max_pixels_spin;
  GtkCheckButton *exact_check;
  GtkSpinButton *width_spin;
  GtkSpinButton *height_spin;
  GtkWidget *video_box;
  GtkSpinButton *fps_spin;
  GtkSpinButton *max_frames_spin;
  GtkLabel *result;

  VfAttachment *attachment;
  gboolean syncing; /* filling the widgets from the attachment: do not write back */
};

G_DEFINE_FINAL_TYPE(VfAttachmentPopover, vf_attachment_popover, GTK_TYPE_POPOVER)

enum {
  PROP_0,
  PROP_ATTACHMENT,
  N_PROPS,
};

static GParamSpec *properties[N_PROPS];

static void
show_result(VfAttachmentPopover *self)
{
  g_autofree char *cost = vf_attachment_describe_cost(self->attachment);
  gtk_label_set_text(self->result, cost);
  const char *label = vf_attachment_get_label(self->attachment);
  g_autofree char *title = g_strdup_printf("%s: %s", label ? label : "", vf_attachment_get_name(self->attachment));
  gtk_label_set_text(self->title, title);
}

/* Widgets → options. */
static void
on_changed(VfAttachmentPopover *self)
{
  if (self->syncing)
    return;
  VfMediaOptions options = *vf_attachment_get_options(self->attachment);
  if (vf_attachment_get_kind(self->attachment) == VF_ATTACHMENT_VIDEO) {
    options.fps = gtk_spin_button_get_value(self->fps_spin);
    options.max_frames = (uint32_t)gtk_spin_button_get_value_as_int(self->max_frames_spin);
  } else {
    options.min_pixels = options.max_pixels = 0;
    options.resized_width = options.resized_height = 0;
    const VfImageProcessorConfig *processor = vf_attachment_get_processor(self->attachment);
    if (gtk_check_button_get_active(self->full_check)) {
      /* The checkpoint's own limits, as the reference uses them. */
      options.min_pixels = processor->min_pixels;
      options.max_pixels = processor->max_pixels;
    } else if (gtk_check_button_get_active(self->max_check))
      options.max_pixels = (uint64_t)gtk_spin_button_get_value(self->max_pixels_spin);
    else if (gtk_check_button_get_active(self->exact_check)) {
      options.resized_width = (uint32_t)gtk_spin_button_get_value_as_int(self->width_spin);
      options.resized_height = (uint32_t)gtk_spin_button_get_value_as_int(self->height_spin);
    }
  }
  gtk_widget_set_sensitive(GTK_WIDGET(self->max_pixels_spin), gtk_check_button_get_active(self->max_check));
  gtk_widget_set_sensitive(GTK_WIDGET(self->width_spin), gtk_check_button_get_active(self->exact_check));
  gtk_widget_set_sensitive(GTK_WIDGET(self->height_spin), gtk_check_button_get_active(self->exact_check));
  vf_attachment_set_options(self->attachment, &options);
  show_result(self);
}

/* Options → widgets, each time the popover opens. */
static void
sync_from_attachment(VfAttachmentPopover *self)
{
  const VfMediaOptions *o = vf_attachment_get_options(self->attachment);
  gboolean video = vf_attachment_get_kind(self->attachment) == VF_ATTACHMENT_VIDEO;
  self->syncing = TRUE;
  gtk_widget_set_visible(self->image_box, !video);
  gtk_widget_set_visible(self->video_box, video);
  if (video) {
    if (o->fps > 0)
      gtk_spin_button_set_value(self->fps_spin, o->fps);
    if (o->max_frames > 0)
      gtk_spin_button_set_value(self->max_frames_spin, o->max_frames);
  } else if (o->resized_width && o->resized_height) {
    gtk_check_button_set_active(self->exact_check, TRUE);
    gtk_spin_button_set_value(self->width_spin, o->resized_width);
    gtk_spin_button_set_value(self->height_spin, o->resized_height);
  } else if (o->max_pixels && vf_attachment_get_processor(self->attachment)->max_pixels &&
             o->max_pixels >= vf_attachment_get_processor(self->attachment)->max_pixels) {
    gtk_check_button_set_active(self->full_check, TRUE);
  } else if (o->max_pixels) {
    gtk_check_button_set_active(self->max_check, TRUE);
    gtk_spin_button_set_value(self->max_pixels_spin, (double)o->max_pixels);
  } else {
    gtk_check_button_set_active(self->default_check, TRUE);
    /* Start the exact size from the picture's own proportions. */
    guint w, h;
    vf_attachment_get_size(self->attachment, &w, &h);
    if (w && h) {
      gtk_spin_button_set_value(self->width_spin, MIN(w, 8192));
      gtk_spin_button_set_value(self->height_spin, MIN(h, 8192));
    }
  }
  gtk_widget_set_sensitive(GTK_WIDGET(self->max_pixels_spin), gtk_check_button_get_active(self->max_check));
  gtk_widget_set_sensitive(GTK_WIDGET(self->width_spin), gtk_check_button_get_active(self->exact_check));
  gtk_widget_set_sensitive(GTK_WIDGET(self->height_spin), gtk_check_button_get_active(self->exact_check));
  self->syncing = FALSE;
  show_result(self);
}

static void
vf_attachment_popover_show(GtkWidget *widget)
{
  sync_from_attachment(VF_ATTACHMENT_POPOVER(widget));
  GTK_WIDGET_CLASS(vf_attachment_popover_parent_class)->show(widget);
}

static void
vf_attachment_popover_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  VfAttachmentPopover *self = VF_ATTACHMENT_POPOVER(object);
  switch (prop_id) {
  case PROP_ATTACHMENT:
    g_value_set_object(value, self->attachment);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void
vf_attachment_popover_set_property(GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  VfAttachmentPopover *self = VF_ATTACHMENT_POPOVER(object);
  switch (prop_id) {
  case PROP_ATTACHMENT:
    self->attachment = g_value_dup_object(value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void
vf_attachment_popover_dispose(GObject *object)
{
  VfAttachmentPopover *self = VF_ATTACHMENT_POPOVER(object);
  gtk_widget_dispose_template(GTK_WIDGET(self), VF_TYPE_ATTACHMENT_POPOVER);
  g_clear_object(&self->attachment);
  G_OBJECT_CLASS(vf_attachment_popover_parent_class)->dispose(object);
}

static void
vf_attachment_popover_class_init(VfAttachmentPopoverClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
  object_class->get_property = vf_attachment_popover_get_property;
  object_class->set_property = vf_attachment_popover_set_property;
  object_class->dispose = vf_attachment_popover_dispose;
  widget_class->show = vf_attachment_popover_show;

  properties[PROP_ATTACHMENT] = g_param_spec_object("attachment", NULL, NULL, VF_TYPE_ATTACHMENT,
                                                    G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties(object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource(widget_class, "/org/viewfinder/Viewfinder/ui/vf_attachment_popover.ui");
  gtk_widget_class_bind_template_child(widget_class, VfAttachmentPopover, title);
  gtk_widget_class_bind_template_child(widget_class, VfAttachmentPopover, image_box);
  gtk_widget_class_bind_template_child(widget_class, VfAttachmentPopover, default_check);
  gtk_widget_class_bind_template_child(widget_class, VfAttachmentPopover, full_check);
  gtk_widget_class_bind_template_child(widget_class, VfAttachmentPopover, max_check);
  gtk_widget_class_bind_template_child(widget_class, VfAttachmentPopover, max_pixels_spin);
  gtk_widget_class_bind_template_child(widget_class, VfAttachmentPopover, exact_check);
  gtk_widget_class_bind_template_child(widget_class, VfAttachmentPopover, width_spin);
  gtk_widget_class_bind_template_child(widget_class, VfAttachmentPopover, height_spin);
  gtk_widget_class_bind_template_child(widget_class, VfAttachmentPopover, video_box);
  gtk_widget_class_bind_template_child(widget_class, VfAttachmentPopover, fps_spin);
  gtk_widget_class_bind_template_child(widget_class, VfAttachmentPopover, max_frames_spin);
  gtk_widget_class_bind_template_child(widget_class, VfAttachmentPopover, result);
}

static void
vf_attachment_popover_init(VfAttachmentPopover *self)
{
  gtk_widget_init_template(GTK_WIDGET(self));
  GtkCheckButton *checks[] = {self->default_check, self->full_check, self->max_check, self->exact_check};
  for (guint i = 0; i < G_N_ELEMENTS(checks); i++)
    g_signal_connect_swapped(checks[i], "toggled", G_CALLBACK(on_changed), self);
  GtkSpinButton *spins[] = {self->max_pixels_spin, self->width_spin, self->height_spin, self->fps_spin,
                            self->max_frames_spin};
  for (guint i = 0; i < G_N_ELEMENTS(spins); i++)
    g_signal_connect_swapped(spins[i], "value-changed", G_CALLBACK(on_changed), self);
}

GtkWidget *
vf_attachment_popover_new(VfAttachment *attachment)
{
  return g_object_new(VF_TYPE_ATTACHMENT_POPOVER, "attachment", attachment, NULL);
}
