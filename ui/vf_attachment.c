/* A picture or video attached to a message. See vf_attachment.h. */
#define G_LOG_DOMAIN "vf-attachment"

#include "vf_attachment.h"

#include <string.h>

#include "vf_image.h"
#include "vf_video_decode.h"
#include "vf_video_plan.h"

#define THUMBNAIL_SIZE 96 /* pixels per side: chips show 48 px, twice that on HiDPI screens */

struct _VfAttachment {
  GObject parent_instance;

  GFile *file;
  char *path;
  char *name;
  VfAttachmentKind kind;
  GdkPaintable *thumbnail;
  guint width, height;
  guint64 video_frames; /* videos: frames in the file (counted by demuxing) */
  double video_fps;     /* videos: the frame rate sampling uses; 0 when unknown */
  char *label;
  VfMediaOptions options;
  VfImageProcessorConfig processor;
  guint tokens;
  char *cost_problem; /* why tokens is 0, or NULL */
  char *damage;       /* pictures that decode but are damaged: what is wrong, or NULL */
  VfImagePlan plan;           /* pictures */
  VfVideoPlan *video_plan;    /* videos */
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

static void
update_cost(VfAttachment *self)
{
  guint tokens = 0;
  g_clear_pointer(&self->cost_problem, g_free);
  g_autoptr(GError) error = NULL;
  if (self->kind == VF_ATTACHMENT_VIDEO) {
    g_clear_pointer(&self->video_plan, vf_video_plan_free);
    self->video_plan = vf_video_plan_new(self->width, self->height, self->video_frames, self->video_fps,
                                         &self->options, &self->processor, &error);
    if (self->video_plan)
      tokens = self->video_plan->n_tokens;
  } else {
    VfImageOptions options = {
      .min_pixels = self->options.min_pixels,
      .max_pixels = self->options.max_pixels,
      .resized_height = self->options.resized_height,
      .resized_width = self->options.resized_width,
    };
    if (vf_image_plan(self->width, self->height, &options, &self->processor, &self->plan, &error))
      tokens = self->plan.n_tokens;
  }
  if (error)
    self->cost_problem = g_strdup(error->message);
  if (tokens != self->tokens) {
    self->tokens = tokens;
    g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_TOKENS]);
  }
}

guint vf_attachment_get_tokens(VfAttachment *self) { return self->tokens; }

char *
vf_attachment_describe_cost(VfAttachment *self)
{
  if (self->cost_problem)
    return g_strdup(self->cost_problem);
  if (self->kind == VF_ATTACHMENT_VIDEO) {
    const VfVideoPlan *p = self->video_plan;
    return g_strdup_printf("%" G_GUINT64_FORMAT " frames of %u×%u px → %u frames of %u×%u · %u tokens",
                           self->video_frames, self->width, self->height, p->n_frames, p->out_width, p->out_height,
                           self->tokens);
  }
  return g_strdup_printf("%u×%u px → %u×%u · %u tokens", self->width, self->height, self->plan.out_width,
                         self->plan.out_height, self->tokens);
}

void
vf_attachment_set_processor(VfAttachment *self, const VfImageProcessorConfig *processor)
{
  self->processor = *processor;
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
  VfAttachmentKind kind;
  guint width, height;
  guint64 video_frames;
  double video_fps;
  GBytes *thumbnail; /* RGB8 [thumb_size, thumb_size, 3] */
  guint thumb_size;
  char *damage;
} Inspection;

static void
inspection_free(Inspection *in)
{
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

/* A square thumbnail: the centre square of `image`, box-filtered to THUMBNAIL_SIZE (or less for a small
 * picture), as a chip shows it (cropped to fill, like a photo grid). */
static GBytes *
make_thumbnail(const VfImage *image, guint *out_size)
{
  guint side = MIN(image->width, image->height);
  guint x_off = (image->width - side) / 2, y_off = (image->height - side) / 2;
  guint n = MIN(side, THUMBNAIL_SIZE);
  guint8 *out = g_malloc((gsize)n * n * 3);
  for (guint y = 0; y < n; y++) {
    guint y0 = (guint)((guint64)y * side / n), y1 = MAX(y0 + 1, (guint)((guint64)(y + 1) * side / n));
    for (guint x = 0; x < n; x++) {
      guint x0 = (guint)((guint64)x * side / n), x1 = MAX(x0 + 1, (guint)((guint64)(x + 1) * side / n));
      guint64 sum[3] = {0, 0, 0};
      for (guint sy = y0; sy < y1; sy++) {
        const guint8 *row = image->rgb + ((gsize)(sy + y_off) * image->width + x0 + x_off) * 3;
        for (guint sx = x0; sx < x1; sx++, row += 3)
          for (int c = 0; c < 3; c++)
            sum[c] += row[c];
      }
      guint64 count = (guint64)(y1 - y0) * (x1 - x0);
      for (int c = 0; c < 3; c++)
        out[((gsize)y * n + x) * 3 + c] = (guint8)((sum[c] + count / 2) / count);
    }
  }
  *out_size = n;
  return g_bytes_new_take(out, (gsize)n * n * 3);
}

static gboolean
looks_like_video(const char *path)
{
  guchar head[4096];
  gsize got = 0;
  g_autoptr(GFile) file = g_file_new_for_path(path);
  g_autoptr(GFileInputStream) in = g_file_read(file, NULL, NULL);
  if (in)
    g_input_stream_read_all(G_INPUT_STREAM(in), head, sizeof head, &got, NULL, NULL);
  gboolean uncertain = FALSE;
  g_autofree char *type = g_content_type_guess(path, head, got, &uncertain);
  g_autofree char *mime = g_content_type_get_mime_type(type);
  return mime && g_str_has_prefix(mime, "video/");
}

/* Keeps the first decoded frame of a video. */
static gboolean
keep_frame(uint32_t slot, const uint8_t *rgb, size_t stride, void *user, GError **error)
{
  VfImage *frame = user;
  for (uint32_t y = 0; y < frame->height; y++)
    memcpy(frame->rgb + (size_t)y * frame->width * 3, rgb + y * stride, (size_t)frame->width * 3);
  return TRUE;
}

/* A video: its size, frame count (demuxed, exact for a healthy file) and frame rate, and its first frame as
 * the thumbnail; the decoders' errors name the file and the reason. */
static gboolean
inspect_video(const char *path, Inspection *in, GError **error)
{
  g_autoptr(VfVideoFile) file = vf_video_file_open(path, error);
  if (!file || !vf_video_file_count_packets(file, NULL, error))
    return FALSE;
  const VfVideoInfo *info = vf_video_file_info(file);
  g_autoptr(VfImage) frame = vf_image_new(info->width, info->height, error);
  if (!frame)
    return FALSE;
  const uint32_t first = 0;
  gboolean complete = TRUE;
  if (!vf_video_file_read_frames(file, &first, 1, keep_frame, frame, NULL, &complete, NULL, error))
    return FALSE;
  if (!complete) {
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_CORRUPT, "%s: the first frame cannot be decoded", path);
    return FALSE;
  }
  in->kind = VF_ATTACHMENT_VIDEO;
  in->width = info->width;
  in->height = info->height;
  in->video_frames = info->n_frames;
  in->video_fps = info->fps;
  in->thumbnail = make_thumbnail(frame, &in->thumb_size);
  return TRUE;
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

static void
inspect_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  const Request *request = data;
  const char *path = request->path;
  g_autoptr(GError) error = NULL;
  Inspection *in = g_new0(Inspection, 1);
  g_autoptr(VfImageFile) file = vf_image_file_open(path, &error);
  if (file) {
    uint32_t w = vf_image_file_width(file), h = vf_image_file_height(file), side = MAX(w, h);
    uint32_t pw = w, ph = h;
    if (side > PREVIEW_SIDE) {
      pw = MAX(1u, (uint32_t)((uint64_t)w * PREVIEW_SIDE / side));
      ph = MAX(1u, (uint32_t)((uint64_t)h * PREVIEW_SIDE / side));
    }
    g_autoptr(VfImage) image = vf_image_file_decode_resized(file, pw, ph, &error);
    if (image) {
      in->kind = VF_ATTACHMENT_IMAGE;
      in->width = w;
      in->height = h;
      in->damage = g_strdup(vf_image_file_damage(file));
      in->thumbnail = make_thumbnail(image, &in->thumb_size);
      g_task_return_pointer(task, in, (GDestroyNotify)inspection_free);
      return;
    }
  } else if (g_error_matches(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_UNKNOWN_FORMAT) && looks_like_video(path)) {
    g_clear_error(&error);
    if (inspect_video(path, in, &error)) {
      g_task_return_pointer(task, in, (GDestroyNotify)inspection_free);
      return;
    }
  } else if (g_error_matches(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_UNKNOWN_FORMAT)) {
    g_clear_error(&error);
    g_set_error(&error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                "%s: not a picture or video Viewfinder can read (pictures: PNG, JPEG, WebP, BMP, TIFF, GIF)", path);
  }
  inspection_free(in);
  g_autofree char *message = vf_attachment_format_error(path, error);
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
  self->kind = in->kind;
  self->width = in->width;
  self->height = in->height;
  self->video_frames = in->video_frames;
  self->video_fps = in->video_fps;
  self->damage = g_steal_pointer(&in->damage);
  if (in->thumbnail)
    self->thumbnail = GDK_PAINTABLE(gdk_memory_texture_new((int)in->thumb_size, (int)in->thumb_size,
                                                           GDK_MEMORY_R8G8B8, in->thumbnail,
                                                           (gsize)in->thumb_size * 3));
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
VfAttachmentKind vf_attachment_get_kind(VfAttachment *self) { return self->kind; }
GdkPaintable *vf_attachment_get_thumbnail(VfAttachment *self) { return self->thumbnail; }
const char *vf_attachment_get_damage(VfAttachment *self) { return self->damage; }

const char *
vf_attachment_get_icon_name(VfAttachment *self)
{
  return self->kind == VF_ATTACHMENT_VIDEO ? "video-x-generic-symbolic" : "image-x-generic-symbolic";
}

void
vf_attachment_get_size(VfAttachment *self, guint *width, guint *height)
{
  *width = self->width;
  *height = self->height;
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
  VfChatPart *part = self->kind == VF_ATTACHMENT_VIDEO ? vf_chat_message_append_video(message, self->path)
                                                       : vf_chat_message_append_image(message, self->path);
  part->options = self->options;
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
    g_value_set_int(value, self->kind);
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
  g_free(self->damage);
  g_clear_pointer(&self->video_plan, vf_video_plan_free);
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
  properties[PROP_NAME] = g_param_spec_string("name", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
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
