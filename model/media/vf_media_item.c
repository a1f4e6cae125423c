/* One picture or video, read once. See vf_media_item.h. */
#define G_LOG_DOMAIN "vf-media-item"

#include "vf_media_item.h"

#include <glib/gstdio.h>
#include <string.h>

#include "vf_image_url.h"
#include "vf_pdf.h"
#include "vf_video_decode.h"

G_DEFINE_QUARK(vf-media-error-quark, vf_media_error)

/* What a local file was when it was read: a later send compares. */
typedef struct {
  char *path; /* NULL: the source is not a local file (URL, data: URI) */
  gint64 size;
  gint64 mtime_ns;
} FileStamp;

struct VfMediaItem {
  gint refs;
  VfMediaKind kind;
  char *source;  /* NULL for a frame list */
  char *name;    /* what messages call it: the path, the URL, or the start of a data URI */
  char **frames; /* a frame list's sources, else NULL */
  FileStamp *stamps; /* [n_stamps]: the source, or each frame */
  guint n_stamps;
  uint32_t width, height;
  VfImageFile *in_memory; /* pictures that are not local files: the bytes, downloaded or decoded from base64 once */
  VfVideoFile *video;     /* video files: open, frames counted */
  VfPdf *pdf;             /* a PDF page ("doc.pdf#page=3"): the document, open; its page rendered when needed */
  guint pdf_page;         /* from 0 */
  GMutex pdf_lock;        /* a VfPdf serves one thread at a time; plans may be asked from any thread */

  /* The last plan (the engine's worker only). */
  gboolean planned;
  VfMediaOptions options;
  VfImageProcessorConfig config;
  VfMediaPlan plan;

  VfImage *pixels; /* pictures: the decoded source, kept from the thumbnail to the encode */
  char *damage;    /* pictures that decoded but are damaged (vf_image_file_damage), or NULL */
  double decode_seconds; /* the last decode of the pixels (a PDF page: its render) */
};

/* ---- file stamps ----------------------------------------------------------------------------------------- */

static char *
local_path(const char *source)
{
  if (vf_image_source_is_url(source) || g_str_has_prefix(source, "data:"))
    return NULL;
  return g_strdup(g_str_has_prefix(source, "file://") ? source + 7 : source);
}

static void
stamp_take(FileStamp *stamp, const char *source)
{
  stamp->path = local_path(source);
  GStatBuf st;
  if (stamp->path && g_stat(stamp->path, &st) == 0) {
    stamp->size = st.st_size;
    stamp->mtime_ns = (gint64)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
  }
}

static gboolean
stamp_check(const FileStamp *stamp, GError **error)
{
  if (!stamp->path)
    return TRUE;
  GStatBuf st;
  if (g_stat(stamp->path, &st) != 0) {
    g_set_error(error, VF_MEDIA_ERROR, VF_MEDIA_ERROR_VANISHED, "%s: the file is gone since it was attached",
                stamp->path);
    return FALSE;
  }
  gint64 mtime_ns = (gint64)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
  if (st.st_size != stamp->size || mtime_ns != stamp->mtime_ns) {
    g_set_error(error, VF_MEDIA_ERROR, VF_MEDIA_ERROR_CHANGED,
                "%s: the file changed since it was attached (attach it again to use the new version)", stamp->path);
    return FALSE;
  }
  return TRUE;
}

/* ---- making and releasing ---------------------------------------------------------------------------------- */

static VfMediaItem *
item_new(VfMediaKind kind, guint n_stamps)
{
  VfMediaItem *item = g_new0(VfMediaItem, 1);
  item->refs = 1;
  item->kind = kind;
  item->n_stamps = n_stamps;
  item->stamps = g_new0(FileStamp, n_stamps);
  g_mutex_init(&item->pdf_lock);
  return item;
}

VfMediaItem *
vf_media_item_ref(VfMediaItem *item)
{
  g_atomic_int_inc(&item->refs);
  return item;
}

void
vf_media_item_unref(VfMediaItem *item)
{
  if (!item || !g_atomic_int_dec_and_test(&item->refs))
    return;
  g_free(item->source);
  g_free(item->name);
  g_free(item->damage);
  g_strfreev(item->frames);
  for (guint i = 0; i < item->n_stamps; i++)
    g_free(item->stamps[i].path);
  g_free(item->stamps);
  vf_image_file_free(item->in_memory);
  vf_video_file_free(item->video);
  vf_pdf_free(item->pdf);
  g_mutex_clear(&item->pdf_lock);
  vf_media_plan_clear(&item->plan);
  vf_image_free(item->pixels);
  g_free(item);
}

void
vf_media_item_attach(VfMediaItem *item, VfChatPart *part)
{
  g_return_if_fail(part->kind != VF_CHAT_PART_TEXT);
  vf_media_item_ref(item);
  if (part->media)
    part->media_unref(part->media);
  part->media = item;
  part->media_unref = (GDestroyNotify)vf_media_item_unref;
}

VfChatPart *
vf_media_item_append_to(VfMediaItem *item, VfChatMessage *message, const VfMediaOptions *options)
{
  VfChatPart *part = item->kind == VF_MEDIA_IMAGE ? vf_chat_message_append_image(message, item->source)
                     : item->frames           ? vf_chat_message_append_video_frames(message,
                                                                                    (const char *const *)item->frames)
                                              : vf_chat_message_append_video(message, item->source);
  if (options)
    part->options = *options;
  vf_media_item_attach(item, part);
  return part;
}

/* The pixel size a PDF page renders at for these options: its own aspect ratio under the budget (a page
 * budget when none is given), so the picture pipeline's resize is a copy. */
static gboolean
pdf_page_pixels(VfMediaItem *item, const VfMediaOptions *options, uint32_t *width, uint32_t *height,
                GError **error)
{
  uint64_t max_pixels = options && options->max_pixels ? options->max_pixels : VF_PDF_PAGE_PIXELS;
  g_mutex_lock(&item->pdf_lock);
  gboolean ok = vf_pdf_page_pixels(item->pdf, item->pdf_page, options ? options->min_pixels : 0, max_pixels, width,
                                   height, error);
  g_mutex_unlock(&item->pdf_lock);
  return ok;
}

static VfMediaItem *
new_pdf_page(const char *source, const char *path, guint page, GError **error)
{
  g_autoptr(VfMediaItem) item = item_new(VF_MEDIA_IMAGE, 1);
  item->source = g_strdup(source);
  item->name = g_strdup(source);
  item->pdf_page = page - 1;
  stamp_take(&item->stamps[0], path);
  item->pdf = vf_pdf_open(path, error);
  if (!item->pdf || !pdf_page_pixels(item, NULL, &item->width, &item->height, error))
    return NULL;
  return g_steal_pointer(&item);
}

VfMediaItem *
vf_media_item_new_image(const char *source, GError **error)
{
  g_autofree char *pdf_path = NULL;
  guint pdf_page = 0;
  GError *bad_page = NULL;
  if (vf_pdf_parse_source(source, &pdf_path, &pdf_page, &bad_page)) {
    g_autofree char *path = local_path(pdf_path);
    if (!path) {
      g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_BAD_URI,
                  "%s: PDF pages are read from local files only; download the PDF first", source);
      return NULL;
    }
    return new_pdf_page(source, path, pdf_page, error);
  }
  if (bad_page) {
    g_propagate_error(error, bad_page);
    return NULL;
  }
  g_autoptr(VfMediaItem) item = item_new(VF_MEDIA_IMAGE, 1);
  item->source = g_strdup(source);
  /* The stamp first: a file that changes while it is read is then reported at the send. */
  stamp_take(&item->stamps[0], source);
  g_autoptr(VfImageFile) file = vf_image_file_open(source, error);
  if (!file)
    return NULL;
  item->width = vf_image_file_width(file);
  item->height = vf_image_file_height(file);
  item->name = g_strdup(vf_image_file_name(file));
  /* A local file is mapped again when its pixels are needed (a mapping kept open across a change would fault);
   * downloaded or embedded bytes cannot change, and are kept so a URL is fetched once. */
  if (!item->stamps[0].path)
    item->in_memory = g_steal_pointer(&file);
  return g_steal_pointer(&item);
}

VfMediaItem *
vf_media_item_new_video(const char *source, GCancellable *cancellable, GError **error)
{
  g_autoptr(VfMediaItem) item = item_new(VF_MEDIA_VIDEO, 1);
  item->source = g_strdup(source);
  stamp_take(&item->stamps[0], source);
  item->video = vf_video_file_open(source, error);
  if (!item->video || !vf_video_file_count_packets(item->video, cancellable, error))
    return NULL;
  const VfVideoInfo *info = vf_video_file_info(item->video);
  item->width = info->width;
  item->height = info->height;
  item->name = g_strdup(vf_video_file_name(item->video));
  return g_steal_pointer(&item);
}

VfMediaItem *
vf_media_item_new_frames(const char *const *frames, GError **error)
{
  guint n = g_strv_length((char **)frames);
  g_autoptr(VfMediaItem) item = item_new(VF_MEDIA_VIDEO, n);
  item->frames = g_strdupv((char **)frames);
  item->name = g_strdup("video frames");
  for (guint i = 0; i < n; i++)
    stamp_take(&item->stamps[i], frames[i]);
  /* The frames are read when the item is planned (every frame's header, as the reference checks them). */
  return g_steal_pointer(&item);
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

VfMediaItem *
vf_media_item_open_file(const char *path, GCancellable *cancellable, GError **error)
{
  GError *local = NULL;
  VfMediaItem *item = vf_media_item_new_image(path, &local);
  if (item)
    return item;
  if (!g_error_matches(local, VF_IMAGE_ERROR, VF_IMAGE_ERROR_UNKNOWN_FORMAT)) {
    g_propagate_error(error, local);
    return NULL;
  }
  g_clear_error(&local);
  if (looks_like_video(path))
    return vf_media_item_new_video(path, cancellable, error);
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
              "%s: not a picture or video Viewfinder can read (pictures: PNG, JPEG, WebP, BMP, TIFF, GIF)", path);
  return NULL;
}

/* ---- what it is -------------------------------------------------------------------------------------------- */

VfMediaKind vf_media_item_kind(const VfMediaItem *item) { return item->kind; }
const char *vf_media_item_source(const VfMediaItem *item) { return item->source; }
const char *const *vf_media_item_frames(const VfMediaItem *item) { return (const char *const *)item->frames; }

void
vf_media_item_size(const VfMediaItem *item, uint32_t *width, uint32_t *height)
{
  *width = item->width;
  *height = item->height;
}

uint64_t
vf_media_item_video_frames(const VfMediaItem *item)
{
  return item->video ? vf_video_file_info(item->video)->n_frames : 0;
}

double
vf_media_item_video_fps(const VfMediaItem *item)
{
  return item->video ? vf_video_file_info(item->video)->fps : 0;
}

/* ---- plans ------------------------------------------------------------------------------------------------- */

static gboolean
same_options(const VfMediaOptions *a, const VfMediaOptions *b)
{
  return a->min_pixels == b->min_pixels && a->max_pixels == b->max_pixels && a->total_pixels == b->total_pixels &&
         a->resized_height == b->resized_height && a->resized_width == b->resized_width && a->fps == b->fps &&
         a->nframes == b->nframes && a->min_frames == b->min_frames && a->max_frames == b->max_frames;
}

static gboolean
same_config(const VfImageProcessorConfig *a, const VfImageProcessorConfig *b)
{
  return a->min_pixels == b->min_pixels && a->max_pixels == b->max_pixels &&
         !memcmp(a->image_mean, b->image_mean, sizeof a->image_mean) &&
         !memcmp(a->image_std, b->image_std, sizeof a->image_std);
}

gboolean
vf_media_item_plan_for(const VfMediaItem *item, const VfMediaOptions *options, const VfImageProcessorConfig *config,
                       VfMediaPlan *plan, GError **error)
{
  static const VfMediaOptions none;
  if (!options)
    options = &none;
  memset(plan, 0, sizeof *plan);
  if (item->kind == VF_MEDIA_IMAGE) {
    uint32_t width = item->width, height = item->height;
    if (item->pdf && !pdf_page_pixels((VfMediaItem *)item, options, &width, &height, error))
      return FALSE;
    plan->image_options = (VfImageOptions){
      .min_pixels = options->min_pixels,
      .max_pixels = options->max_pixels,
      .resized_height = options->resized_height,
      .resized_width = options->resized_width,
    };
    if (!vf_image_plan(width, height, &plan->image_options, config, &plan->image, error)) {
      g_prefix_error(error, "%s: ", item->name);
      return FALSE;
    }
    plan->grid = plan->image.grid;
    plan->n_tokens = plan->image.n_tokens;
    return TRUE;
  }
  if (item->video) {
    const VfVideoInfo *info = vf_video_file_info(item->video);
    const char *name = vf_video_file_name(item->video);
    if (info->n_frames == 0) {
      g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_TOO_FEW_FRAMES, "%s: the video has no frames", name);
      return FALSE;
    }
    plan->video = vf_video_plan_new(info->width, info->height, info->n_frames, info->fps, options, config, error);
    if (!plan->video)
      g_prefix_error(error, "%s: ", name);
  } else {
    plan->video = vf_video_plan_frame_list((const char *const *)item->frames, options, config, error);
  }
  if (!plan->video)
    return FALSE;
  plan->grid = plan->video->grid;
  plan->n_tokens = plan->video->n_tokens;
  return TRUE;
}

void
vf_media_plan_clear(VfMediaPlan *plan)
{
  g_clear_pointer(&plan->video, vf_video_plan_free);
}

gboolean
vf_media_item_plan(VfMediaItem *item, const VfMediaOptions *options, const VfImageProcessorConfig *config,
                   GError **error)
{
  static const VfMediaOptions none;
  if (!options)
    options = &none;
  if (item->planned && same_options(options, &item->options) && same_config(config, &item->config))
    return TRUE;
  item->planned = FALSE;
  vf_media_plan_clear(&item->plan);
  if (!vf_media_item_plan_for(item, options, config, &item->plan, error))
    return FALSE;
  if (item->frames) {
    item->width = item->plan.video->width;
    item->height = item->plan.video->height;
  }
  if (item->pdf) {
    /* The page is the picture at the size it renders at for this plan. */
    item->width = item->plan.image.width;
    item->height = item->plan.image.height;
  }
  item->options = *options;
  item->config = *config;
  item->planned = TRUE;
  return TRUE;
}

const VfImagePlan *
vf_media_item_image_plan(const VfMediaItem *item, VfImageOptions *image_options)
{
  g_return_val_if_fail(item->planned && item->kind == VF_MEDIA_IMAGE, NULL);
  if (image_options)
    *image_options = item->plan.image_options;
  return &item->plan.image;
}

const VfVideoPlan *
vf_media_item_video_plan(const VfMediaItem *item)
{
  g_return_val_if_fail(item->planned && item->kind == VF_MEDIA_VIDEO, NULL);
  return item->plan.video;
}

VfGrid
vf_media_item_grid(const VfMediaItem *item)
{
  g_return_val_if_fail(item->planned, (VfGrid){0});
  return item->plan.grid;
}

uint32_t
vf_media_item_tokens(const VfMediaItem *item)
{
  g_return_val_if_fail(item->planned, 0);
  return item->plan.n_tokens;
}

/* ---- pixels ------------------------------------------------------------------------------------------------ */

const char *
vf_media_item_damage(const VfMediaItem *item)
{
  return item->damage;
}

gboolean
vf_media_item_check(const VfMediaItem *item, GError **error)
{
  for (guint i = 0; i < item->n_stamps; i++)
    if (!stamp_check(&item->stamps[i], error))
      return FALSE;
  return TRUE;
}

/* Decodes (and keeps) the picture at width × height through the banded decoder, which resizes rows as they
 * come, so memory follows the fetch size and not the header's (a 65500 × 2700 bomb never holds its 530 MB of
 * RGB). The bytes equal a whole decode resized afterwards. */
static const VfImage *
decode_pixels(VfMediaItem *item, uint32_t width, uint32_t height, GError **error)
{
  if (item->pdf) {
    /* A page renders straight at the fetch size (its plan's size: the resize after it is a copy). */
    if (!vf_media_item_check(item, error))
      return NULL;
    g_mutex_lock(&item->pdf_lock);
    item->pixels = vf_pdf_render(item->pdf, item->pdf_page, width, height, error);
    g_mutex_unlock(&item->pdf_lock);
    return item->pixels;
  }
  g_autoptr(VfImageFile) reopened = NULL;
  VfImageFile *file = item->in_memory;
  if (!file) {
    if (!vf_media_item_check(item, error) || !(reopened = vf_image_file_open(item->source, error)))
      return NULL;
    file = reopened;
  }
  item->pixels = vf_image_file_decode_resized(file, width, height, error);
  if (item->pixels && !item->damage && vf_image_file_damage(file))
    item->damage = g_strdup(vf_image_file_damage(file));
  return item->pixels;
}

/* The picture's pixels at qwen-vl-utils' fetch size (width × height): kept from an earlier decode at that
 * size, or decoded now; the decode is timed (ocr reports it). */
static const VfImage *
decoded_pixels(VfMediaItem *item, uint32_t width, uint32_t height, GError **error)
{
  if (item->pixels && item->pixels->width == width && item->pixels->height == height)
    return item->pixels;
  g_clear_pointer(&item->pixels, vf_image_free);
  int64_t t0 = g_get_monotonic_time();
  const VfImage *pixels = decode_pixels(item, width, height, error);
  item->decode_seconds = (g_get_monotonic_time() - t0) / 1e6;
  return pixels;
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

static VfImage *
first_video_frame(VfMediaItem *item, GError **error)
{
  g_autoptr(VfImage) frame = vf_image_new(item->width, item->height, error);
  if (!frame)
    return NULL;
  const uint32_t first = 0;
  gboolean complete = TRUE;
  if (!vf_video_file_read_frames(item->video, &first, 1, keep_frame, frame, NULL, &complete, NULL, error))
    return NULL;
  if (!complete) {
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_CORRUPT, "%s: the first frame cannot be decoded",
                item->name);
    return NULL;
  }
  return g_steal_pointer(&frame);
}

/* The centre square of `image` (the top square: a document page, whose pages differ at their top — a
 * centre crop of text pages is the same grey everywhere), box-filtered to max_side (or less for a small
 * picture), as a chip shows it (cropped to fill, like a photo grid). */
static GBytes *
square_thumbnail(const VfImage *image, gboolean from_top, uint32_t max_side, uint32_t *out_side)
{
  uint32_t side = MIN(image->width, image->height);
  uint32_t x_off = (image->width - side) / 2, y_off = from_top ? 0 : (image->height - side) / 2;
  uint32_t n = MIN(side, max_side);
  uint8_t *out = g_malloc((gsize)n * n * 3);
  for (uint32_t y = 0; y < n; y++) {
    uint32_t y0 = (uint32_t)((uint64_t)y * side / n), y1 = MAX(y0 + 1, (uint32_t)((uint64_t)(y + 1) * side / n));
    for (uint32_t x = 0; x < n; x++) {
      uint32_t x0 = (uint32_t)((uint64_t)x * side / n), x1 = MAX(x0 + 1, (uint32_t)((uint64_t)(x + 1) * side / n));
      uint64_t sum[3] = {0, 0, 0};
      for (uint32_t sy = y0; sy < y1; sy++) {
        const uint8_t *row = image->rgb + ((gsize)(sy + y_off) * image->width + x0 + x_off) * 3;
        for (uint32_t sx = x0; sx < x1; sx++, row += 3)
          for (int c = 0; c < 3; c++)
            sum[c] += row[c];
      }
      uint64_t count = (uint64_t)(y1 - y0) * (x1 - x0);
      for (int c = 0; c < 3; c++)
        out[((gsize)y * n + x) * 3 + c] = (uint8_t)((sum[c] + count / 2) / count);
    }
  }
  *out_side = n;
  return g_bytes_new_take(out, (gsize)n * n * 3);
}

GBytes *
vf_media_item_thumbnail(VfMediaItem *item, uint32_t max_side, uint32_t *side, GError **error)
{
  g_return_val_if_fail(max_side > 0, NULL);
  if (item->kind == VF_MEDIA_IMAGE) {
    /* At the fetch size the encode will want: the item's plan, or the default one (what a send without
     * settings uses), so that one decode serves both. */
    VfImagePlan plan;
    VfImageProcessorConfig defaults;
    vf_image_processor_config_default(&defaults);
    if (item->planned)
      plan = item->plan.image;
    else if (!vf_image_plan(item->width, item->height, NULL, &defaults, &plan, error))
      return NULL;
    const VfImage *pixels = decoded_pixels(item, plan.fetch_width, plan.fetch_height, error);
    return pixels ? square_thumbnail(pixels, item->pdf != NULL, max_side, side) : NULL;
  }
  if (!item->video) {
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_UNSUPPORTED, "a frame list has no thumbnail");
    return NULL;
  }
  g_autoptr(VfImage) frame = first_video_frame(item, error);
  return frame ? square_thumbnail(frame, FALSE, max_side, side) : NULL;
}

VfImageInput *
vf_media_item_image_input(VfMediaItem *item, GError **error)
{
  g_return_val_if_fail(item->planned && item->kind == VF_MEDIA_IMAGE, NULL);
  const VfImage *pixels = decoded_pixels(item, item->plan.image.fetch_width, item->plan.image.fetch_height, error);
  if (!pixels)
    return NULL;
  VfImageInput *input = vf_image_input_new_from_image(pixels, &item->plan.image_options, &item->config, error);
  if (!input)
    g_prefix_error(error, "%s: ", item->name);
  else
    input->damage = g_strdup(item->damage);
  return input;
}

VfVideoInput *
vf_media_item_video_input(VfMediaItem *item, const VfVideoRunOptions *run, GError **error)
{
  g_return_val_if_fail(item->planned && item->kind == VF_MEDIA_VIDEO, NULL);
  if (!vf_media_item_check(item, error))
    return NULL;
  if (item->video)
    return vf_video_input_new_from_file(item->video, &item->options, &item->config, run, error);
  return vf_video_input_new_from_frames((const char *const *)item->frames, &item->options, &item->config, run,
                                        error);
}

double
vf_media_item_decode_seconds(const VfMediaItem *item)
{
  return item->decode_seconds;
}

void
vf_media_item_release_pixels(VfMediaItem *item)
{
  g_clear_pointer(&item->pixels, vf_image_free);
}
