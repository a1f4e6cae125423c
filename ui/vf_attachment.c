/* A picture or video attached to a message. See vf_attachment.h. */
#define G_LOG_DOMAIN "vf-attachment"

#include "vf_attachment.h"

#include <string.h>

#include "vf_video_plan.h"

#define THUMBNAIL_SIZE 96 /* pixels per side: chips show 48 px, twice that on HiDPI screens */

struct _VfAttachment {
  GObject parent_instance;

  GFile *file;
  char *path;
  char *name;
  VfMediaItem *item; /* what the file was read into: it goes on with the message to the vision encode */
  GdkPaintable *thumbnail;
  char *label;
  VfMediaOptions options;
  uint64_t budget_min, budget_max; /* the app's default picture budget, pixels (0: the checkpoint's limits) */
  VfImageProcessorConfig processor;
  guint tokens;
  VfMediaPlan plan;   /* the cost; the item's own plan is the engine's */
  char *cost_problem; /* why tokens is 0, or NULL */
  char *damage;       /* pictures that decode but are damaged: what is wrong, or NULL */
};

G_DEFINE_FINAL_TYPE(VfAttachment, vf_attachment, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_FILE,
  PROP_NAME,
  PROP_KIND,
  PROP_THUMBNAIL,
  PROP_LABEL,
  PROP_TOKENS,
  N_PROPS,
};

static GParamSpec *properties[N_PROPS];

/* ---------------------------------------------------------------------------------------------------
 * Cost
 * ------------------------------------------------------------------------------------------------- */

/* A picture with no size of its own takes the default budget. */
static gboolean
has_own_size(const VfMediaOptions *o)
{
  return o->min_pixels || o->max_pixels || (o->resized_width && o->resized_height);
}

/* The options the engine gets. */
static VfMediaOptions
effective_options(VfAttachment *self)
{
  VfMediaOptions o = self->options;
  if (vf_media_item_kind(self->item) == VF_MEDIA_IMAGE && !has_own_size(&o)) {
    o.min_pixels = self->budget_min;
    o.max_pixels = self->budget_max;
  }
  return o;
}

/* From the header the item read when the file was attached: nothing is read again. */
static void
update_cost(VfAttachment *self)
{
  guint tokens = 0;
  g_clear_pointer(&self->cost_problem, g_free);
  g_autoptr(GError) error = NULL;
  vf_media_plan_clear(&self->plan);
  VfMediaOptions options = effective_options(self);
  if (vf_media_item_plan_for(self->item, &options, &self->processor, &self->plan, &error))
    tokens = self->plan.n_tokens;
  else
    self->cost_problem = g_strdup(error->message);
  if (tokens != self->tokens) {
    self->tokens = tokens;
    g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_TOKENS]);
  }
}

guint vf_attachment_get_tokens(VfAttachment *self) { return self->tokens; }

char *
vf_attachment_describe_duration(VfAttachment *self)
{
  double fps = vf_media_item_video_fps(self->item);
  uint64_t frames = vf_media_item_video_frames(self->item);
  if (vf_media_item_kind(self->item) != VF_MEDIA_VIDEO || fps <= 0 || frames == 0)
    return NULL;
  guint64 seconds = (guint64)(frames / fps + 0.5);
  if (seconds >= 3600)
    return g_strdup_printf("%" G_GUINT64_FORMAT ":%02u:%02u", seconds / 3600, (guint)(seconds / 60 % 60),
                           (guint)(seconds % 60));
  return g_strdup_printf("%u:%02u", (guint)(seconds / 60), (guint)(seconds % 60));
}

void
vf_attachment_get_planned(VfAttachment *self, guint64 *pixels, guint *frames)
{
  *pixels = 0;
  *frames = 0;
  if (self->tokens == 0)
    return;
  if (vf_media_item_kind(self->item) == VF_MEDIA_VIDEO) {
    *pixels = (guint64)self->plan.video->out_width * self->plan.video->out_height;
    *frames = self->plan.video->n_frames;
  } else {
    *pixels = (guint64)self->plan.image.out_width * self->plan.image.out_height;
    *frames = 1;
  }
}

char *
vf_attachment_describe_cost(VfAttachment *self)
{
  if (self->cost_problem)
    return g_strdup(self->cost_problem);
  uint32_t width, height;
  vf_media_item_size(self->item, &width, &height);
  if (vf_media_item_kind(self->item) == VF_MEDIA_VIDEO) {
    const VfVideoPlan *p = self->plan.video;
    return g_strdup_printf("%" G_GUINT64_FORMAT " frames of %u×%u px → %u frames of %u×%u · %u tokens",
                           vf_media_item_video_frames(self->item), width, height, p->n_frames, p->out_width,
                           p->out_height, self->tokens);
  }
  return g_strdup_printf("%u×%u px → %u×%u · %u tokens", width, height, self->plan.image.out_width,
                         self->plan.image.out_height, self->tokens);
}

char *
vf_attachment_describe_budget(VfAttachment *self)
{
  const VfMediaOptions *o = &self->options;
  if (vf_media_item_kind(self->item) == VF_MEDIA_VIDEO)
    return o->max_frames ? g_strdup_printf("%u frames", o->max_frames)
                         : g_strdup_printf("%g fps", o->fps > 0 ? o->fps : 2.0);
  if (o->resized_width && o->resized_height)
    return g_strdup_printf("%u×%u", o->resized_width, o->resized_height);
  if (o->max_pixels && self->processor.max_pixels && o->max_pixels >= self->processor.max_pixels)
    return g_strdup("full resolution");
  if (o->max_pixels)
    return g_strdup_printf("max %" G_GUINT64_FORMAT, o->max_pixels / (28 * 28));
  if (self->budget_max)
    return g_strdup_printf("max %" G_GUINT64_FORMAT, self->budget_max / (28 * 28));
  return g_strdup("full resolution");
}

void
vf_attachment_set_processor(VfAttachment *self, const VfImageProcessorConfig *processor)
{
  self->processor = *processor;
  update_cost(self);
}

const VfImageProcessorConfig *vf_attachment_get_processor(VfAttachment *self) { return &self->processor; }

void
vf_attachment_set_budget(VfAttachment *self, uint64_t min_pixels, uint64_t max_pixels)
{
  self->budget_min = min_pixels;
  self->budget_max = MAX(max_pixels, min_pixels);
  update_cost(self);
}

const VfMediaOptions *vf_attachment_get_options(VfAttachment *self) { return &self->options; }

void
vf_attachment_set_options(VfAttachment *self, const VfMediaOptions *options)
{
  self->options = *options;
  update_cost(self);
}

/* ---------------------------------------------------------------------------------------------------
 * Inspection (off the main thread)
 * ------------------------------------------------------------------------------------------------- */

typedef struct {
  VfMediaItem *item;
  GBytes *thumbnail; /* RGB8 [thumb_size, thumb_size, 3] */
  guint32 thumb_size;
  char *damage;
} Inspection;

static void
inspection_free(Inspection *in)
{
  vf_media_item_unref(in->item);
  if (in->thumbnail)
    g_bytes_unref(in->thumbnail);
  g_free(in->damage);
  g_free(in);
}

/* The thumbnail is made from a copy at most this many pixels on its longer side, decoded and resized in
 * bands: a picture whose header says 65500×2700 costs a few MB here, not 530. */
#define PREVIEW_SIDE 1024u

char *
vf_attachment_format_error(const char *path, const GError *error)
{
  g_autofree char *name = g_path_get_basename(path);
  const char *message = error->message;
  /* The engine's messages start with the full path; the user knows which file they meant. */
  if (g_str_has_prefix(message, path) && g_str_has_prefix(message + strlen(path), ": "))
    message += strlen(path) + 2;
  return g_strdup_printf("%s: %s", name, message);
}

typedef struct {
  GFile *file;
  char *path;
} Request;

static void
request_free(Request *request)
{
  g_object_unref(request->file);
  g_free(request->path);
  g_free(request);
}

/* The file becomes the media item the engine will encode; a picture is decoded here, once, for its thumbnail
 * (and the item keeps the pixels for the encode), so a corrupt file is refused before it is attached. */
static void
inspect_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  const Request *request = data;
  g_autoptr(GError) error = NULL;
  Inspection *in = g_new0(Inspection, 1);
  in->item = vf_media_item_open_file(request->path, cancellable, &error);
  if (in->item)
    in->thumbnail = vf_media_item_thumbnail(in->item, THUMBNAIL_SIZE, &in->thumb_size, &error);
  if (in->thumbnail)
    in->damage = g_strdup(vf_media_item_damage(in->item));
  if (in->thumbnail) {
    g_task_return_pointer(task, in, (GDestroyNotify)inspection_free);
    return;
  }
  inspection_free(in);
  g_autofree char *message = vf_attachment_format_error(request->path, error);
  g_task_return_new_error(task, error->domain, error->code, "%s", message);
}

void
vf_attachment_inspect_async(GFile *file, GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
  g_task_set_source_tag(task, vf_attachment_inspect_async);
  char *path = g_file_get_path(file);
  if (!path) {
    g_autofree char *uri = g_file_get_uri(file);
    g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                            "%s: only files on this computer can be attached", uri);
    return;
  }
  Request *request = g_new0(Request, 1);
  request->file = g_object_ref(file);
  request->path = path;
  g_task_set_task_data(task, request, (GDestroyNotify)request_free);
  g_task_run_in_thread(task, inspect_thread);
}

VfAttachment *
vf_attachment_inspect_finish(GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
  Inspection *in = g_task_propagate_pointer(G_TASK(result), error);
  if (!in)
    return NULL;
  const Request *request = g_task_get_task_data(G_TASK(result));
  VfAttachment *self = g_object_new(VF_TYPE_ATTACHMENT, "file", request->file, NULL);
  self->item = g_steal_pointer(&in->item);
  self->thumbnail = GDK_PAINTABLE(gdk_memory_texture_new((int)in->thumb_size, (int)in->thumb_size,
                                                         GDK_MEMORY_R8G8B8, in->thumbnail,
                                                         (gsize)in->thumb_size * 3));
  self->damage = g_steal_pointer(&in->damage);
  inspection_free(in);
  update_cost(self);
  return self;
}

/* ---------------------------------------------------------------------------------------------------
 * Accessors
 * ------------------------------------------------------------------------------------------------- */

GFile *vf_attachment_get_file(VfAttachment *self) { return self->file; }
const char *vf_attachment_get_path(VfAttachment *self) { return self->path; }
const char *vf_attachment_get_name(VfAttachment *self) { return self->name; }

void
vf_attachment_set_name(VfAttachment *self, const char *name)
{
  if (g_strcmp0(self->name, name) == 0)
    return;
  g_free(self->name);
  self->name = g_strdup(name);
  g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_NAME]);
}
VfAttachmentKind
vf_attachment_get_kind(VfAttachment *self)
{
  return vf_media_item_kind(self->item) == VF_MEDIA_VIDEO ? VF_ATTACHMENT_VIDEO : VF_ATTACHMENT_IMAGE;
}

VfMediaItem *vf_attachment_get_item(VfAttachment *self) { return self->item; }
GdkPaintable *vf_attachment_get_thumbnail(VfAttachment *self) { return self->thumbnail; }
const char *vf_attachment_get_damage(VfAttachment *self) { return self->damage; }

const char *
vf_attachment_get_icon_name(VfAttachment *self)
{
  return vf_attachment_get_kind(self) == VF_ATTACHMENT_VIDEO ? "video-x-generic-symbolic" : "image-x-generic-symbolic";
}

void
vf_attachment_get_size(VfAttachment *self, guint *width, guint *height)
{
  uint32_t w, h;
  vf_media_item_size(self->item, &w, &h);
  *width = w;
  *height = h;
}

const char *vf_attachment_get_label(VfAttachment *self) { return self->label; }

void
vf_attachment_set_label(VfAttachment *self, const char *label)
{
  if (g_strcmp0(self->label, label) == 0)
    return;
  g_free(self->label);
  self->label = g_strdup(label);
  g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_LABEL]);
}

void
vf_attachment_append_to(VfAttachment *self, VfChatMessage *message)
{
  VfMediaOptions options = effective_options(self);
  vf_media_item_append_to(self->item, message, &options);
}

/* ---------------------------------------------------------------------------------------------------
 * GObject
 * ------------------------------------------------------------------------------------------------- */

static void
vf_attachment_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  VfAttachment *self = VF_ATTACHMENT(object);
  switch (prop_id) {
  case PROP_FILE:
    g_value_set_object(value, self->file);
    break;
  case PROP_NAME:
    g_value_set_string(value, self->name);
    break;
  case PROP_KIND:
    g_value_set_int(value, vf_attachment_get_kind(self));
    break;
  case PROP_THUMBNAIL:
    g_value_set_object(value, self->thumbnail);
    break;
  case PROP_LABEL:
    g_value_set_string(value, self->label);
    break;
  case PROP_TOKENS:
    g_value_set_uint(value, self->tokens);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void
vf_attachment_set_property(GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  VfAttachment *self = VF_ATTACHMENT(object);
  switch (prop_id) {
  case PROP_FILE:
    self->file = g_value_dup_object(value);
    self->path = g_file_get_path(self->file);
    self->name = g_file_get_basename(self->file);
    break;
  case PROP_LABEL:
    vf_attachment_set_label(self, g_value_get_string(value));
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void
vf_attachment_finalize(GObject *object)
{
  VfAttachment *self = VF_ATTACHMENT(object);
  g_clear_object(&self->file);
  g_clear_object(&self->thumbnail);
  g_free(self->path);
  g_free(self->name);
  g_free(self->label);
  g_free(self->cost_problem);
  g_clear_pointer(&self->item, vf_media_item_unref);
  vf_media_plan_clear(&self->plan);
  g_free(self->damage);
  G_OBJECT_CLASS(vf_attachment_parent_class)->finalize(object);
}

static void
vf_attachment_class_init(VfAttachmentClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  object_class->get_property = vf_attachment_get_property;
  object_class->set_property = vf_attachment_set_property;
  object_class->finalize = vf_attachment_finalize;

  properties[PROP_FILE] = g_param_spec_object("file", NULL, NULL, G_TYPE_FILE,
                                              G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_NAME] = g_param_spec_string("name", NULL, NULL, NULL,
                                              G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_KIND] = g_param_spec_int("kind", NULL, NULL, VF_ATTACHMENT_IMAGE, VF_ATTACHMENT_VIDEO,
                                           VF_ATTACHMENT_IMAGE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_THUMBNAIL] = g_param_spec_object("thumbnail", NULL, NULL, GDK_TYPE_PAINTABLE,
                                                   G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_LABEL] = g_param_spec_string("label", NULL, NULL, NULL,
                                               G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_TOKENS] = g_param_spec_uint("tokens", NULL, NULL, 0, G_MAXUINT, 0,
                                              G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties(object_class, N_PROPS, properties);
}

static void
vf_attachment_init(VfAttachment *self)
{
  vf_image_processor_config_default(&self->processor);
}
