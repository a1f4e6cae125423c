/* The video pipeline: plan, stream the sampled frames through the resizes, patchify. See vf_video.h. */
#define G_LOG_DOMAIN "vf-video"

#include "vf_video.h"

#include <string.h>

#include "vf_resample.h"
#include "vf_video_resize.h"

static const VfVideoRunOptions no_run;

/* ---- where resized frames go ---------------------------------------------------------------------------- */

/* Resized frames arrive by slot (position in the sampled sequence). A temporal slice (slots 2gt, 2gt + 1) is
 * normalised and patchified as soon as both its frames are there; unless the frames are kept, they are freed
 * then, so an in-order stream holds at most two of them. */
typedef struct {
  const VfVideoPlan *plan;
  VfVideoFlags flags;
  VfNormalizeTable norm;
  size_t frame_bytes;  /* out_height · out_width · 3 */
  uint8_t **slot;      /* [n_frames]: the resized frame of each slot, NULL until it arrives (or after patchify) */
  gboolean *slice_done; /* [grid.t] */
  uint8_t *frames;     /* [n_frames, out_height, out_width, 3] when kept */
  float *pixel_values; /* [n_patches, 1176] unless VF_VIDEO_NO_PIXELS */
  uint32_t done;
  const VfVideoRunOptions *run;
} Sink;

static void
sink_clear(Sink *s)
{
  if (s->slot && !(s->flags & VF_VIDEO_KEEP_FRAMES))
    for (uint32_t i = 0; i < s->plan->n_frames; i++)
      g_free(s->slot[i]);
  g_clear_pointer(&s->slot, g_free);
  g_clear_pointer(&s->slice_done, g_free);
  g_clear_pointer(&s->frames, g_free);
  g_clear_pointer(&s->pixel_values, g_free);
}

static gboolean
no_memory(GError **error, const char *name, const char *what)
{
  g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_NO_MEMORY, "%s: out of memory for %s", name, what);
  return FALSE;
}

static gboolean
sink_init(Sink *s, const VfVideoPlan *plan, const VfImageProcessorConfig *config, const VfVideoRunOptions *run,
          const char *name, GError **error)
{
  *s = (Sink){
      .plan = plan,
      .flags = run->flags,
      .frame_bytes = (size_t)plan->out_height * plan->out_width * 3,
      .run = run,
  };
  vf_normalize_table_init(&s->norm, config);
  s->slot = g_new0(uint8_t *, plan->n_frames);
  s->slice_done = g_new0(gboolean, plan->grid.t);
  if (s->flags & VF_VIDEO_KEEP_FRAMES) {
    s->frames = g_try_malloc(s->frame_bytes * plan->n_frames);
    if (!s->frames)
      return no_memory(error, name, "the resized frames");
  }
  if (!(s->flags & VF_VIDEO_NO_PIXELS)) {
    s->pixel_values = g_try_malloc((size_t)plan->n_patches * VF_PATCH_DIM * sizeof(float));
    if (!s->pixel_values)
      return no_memory(error, name, "pixel_values");
  }
  return TRUE;
}

/* Where to write the resized frame of `slot`. */
static uint8_t *
sink_buffer(Sink *s, uint32_t slot, const char *name, GError **error)
{
  if (s->flags & VF_VIDEO_KEEP_FRAMES)
    return s->frames + slot * s->frame_bytes;
  if (!s->slot[slot])
    s->slot[slot] = g_try_malloc(s->frame_bytes);
  if (!s->slot[slot])
    no_memory(error, name, "a frame");
  return s->slot[slot];
}

/* The frame of `slot` is in its buffer. */
static void
sink_done(Sink *s, uint32_t slot)
{
  if (s->flags & VF_VIDEO_KEEP_FRAMES)
    s->slot[slot] = s->frames + slot * s->frame_bytes;
  uint32_t gt = slot / VF_TEMPORAL_PATCH;
  const uint8_t *pair[2] = {s->slot[2 * gt], s->slot[2 * gt + 1]};
  if (pair[0] && pair[1] && !s->slice_done[gt]) {
    s->slice_done[gt] = TRUE;
    if (s->pixel_values) {
      size_t slice_values = (size_t)s->plan->grid.h * s->plan->grid.w * VF_PATCH_DIM;
      vf_patchify_rgb8(pair, VF_TEMPORAL_PATCH, s->plan->out_height, s->plan->out_width, &s->norm,
                       s->pixel_values + gt * slice_values);
    }
    if (!(s->flags & VF_VIDEO_KEEP_FRAMES)) {
      g_clear_pointer(&s->slot[2 * gt], g_free);
      g_clear_pointer(&s->slot[2 * gt + 1], g_free);
    }
  }
  s->done++;
  if (s->run->progress)
    s->run->progress(s->done, s->plan->n_frames, s->run->progress_user);
}

static VfVideoInput *
sink_finish(Sink *s, VfVideoPlan *plan, gint64 start)
{
  VfVideoInput *input = g_new0(VfVideoInput, 1);
  input->plan = plan;
  input->frames = g_steal_pointer(&s->frames);
  input->pixel_values = g_steal_pointer(&s->pixel_values);
  input->stats.seconds = (g_get_monotonic_time() - start) / 1e6;
  sink_clear(s);
  return input;
}

/* ---- video files ------------------------------------------------------------------------------------------ */

gboolean
vf_video_probe(const char *source, VfVideoInfo *info, GError **error)
{
  g_autoptr(VfVideoFile) file = vf_video_file_open(source, error);
  if (!file)
    return FALSE;
  *info = *vf_video_file_info(file);
  return TRUE;
}

static VfVideoPlan *
plan_file(const VfVideoFile *file, const VfMediaOptions *options, const VfImageProcessorConfig *config,
          GError **error)
{
  const VfVideoInfo *info = vf_video_file_info(file);
  if (info->n_frames == 0) {
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_TOO_FEW_FRAMES, "%s: the video has no frames%s",
                vf_video_file_name(file), info->count_source == VF_VIDEO_COUNT_UNKNOWN ? " in its header" : "");
    return NULL;
  }
  VfVideoPlan *plan =
      vf_video_plan_new(info->width, info->height, info->n_frames, info->fps, options, config, error);
  if (!plan) {
    g_prefix_error(error, "%s: ", vf_video_file_name(file));
    return NULL;
  }
  plan->total_estimated =
      info->count_source != VF_VIDEO_COUNT_PACKETS && info->count_source != VF_VIDEO_COUNT_DECODED;
  return plan;
}

VfVideoPlan *
vf_video_plan_source(const char *source, const VfMediaOptions *options, const VfImageProcessorConfig *config,
                     gboolean count_frames, GCancellable *cancellable, GError **error)
{
  g_autoptr(VfVideoFile) file = vf_video_file_open(source, error);
  if (!file || (count_frames && !vf_video_file_count_packets(file, cancellable, error)))
    return NULL;
  return plan_file(file, options, config, error);
}

typedef struct {
  Sink *sink;
  const char *name;
  VfFrameResizer *torch;  /* decoded → qwen-vl-utils size (torchvision bicubic) */
  uint8_t *fetched;       /* [fetch_height, fetch_width, 3] when the processor resizes again, else NULL */
} FileFrames;

static gboolean
on_file_frame(uint32_t slot, const uint8_t *rgb, size_t stride, void *user, GError **error)
{
  FileFrames *ff = user;
  const VfVideoPlan *plan = ff->sink->plan;
  uint8_t *out = sink_buffer(ff->sink, slot, ff->name, error);
  if (!out)
    return FALSE;
  if (!ff->fetched) {
    vf_frame_resizer_run(ff->torch, rgb, stride, out);
  } else {
    /* The processor's own resize (spec §3.5, §4.6): Pillow bicubic on the uint8 frame. */
    vf_frame_resizer_run(ff->torch, rgb, stride, ff->fetched);
    if (!vf_resample_bicubic_rgb8(ff->fetched, plan->fetch_width, plan->fetch_height, out, plan->out_width,
                                  plan->out_height, error))
      return FALSE;
  }
  sink_done(ff->sink, slot);
  return TRUE;
}

VfVideoInput *
vf_video_input_new(const char *source, const VfMediaOptions *options, const VfImageProcessorConfig *config,
                   const VfVideoRunOptions *run, GError **error)
{
  g_autoptr(VfVideoFile) file = vf_video_file_open(source, error);
  return file ? vf_video_input_new_from_file(file, options, config, run, error) : NULL;
}

VfVideoInput *
vf_video_input_new_from_file(VfVideoFile *file, const VfMediaOptions *options, const VfImageProcessorConfig *config,
                             const VfVideoRunOptions *run, GError **error)
{
  gint64 start = g_get_monotonic_time();
  if (!run)
    run = &no_run;
  if (!vf_video_file_count_packets(file, run->cancellable, error))
    return NULL;
  const char *name = vf_video_file_name(file);

  VfVideoStats stats = {0};
  /* Normally one pass. If wanted frames never came out of the decoder, count what it really returns and plan
   * again: the second pass then cannot miss (it reads exactly what the count saw). */
  for (;;) {
    g_autoptr(VfVideoPlan) plan = plan_file(file, options, config, error);
    if (!plan)
      return NULL;
    Sink sink;
    FileFrames ff = {.sink = &sink, .name = name};
    gboolean ok = sink_init(&sink, plan, config, run, name, error);
    if (ok) {
      ff.torch = vf_frame_resizer_new(plan->width, plan->height, plan->fetch_width, plan->fetch_height, error);
      ok = ff.torch != NULL;
    }
    if (ok && (plan->fetch_width != plan->out_width || plan->fetch_height != plan->out_height)) {
      ff.fetched = g_try_malloc((size_t)plan->fetch_width * plan->fetch_height * 3);
      ok = ff.fetched || no_memory(error, name, "a frame");
    }
    gboolean complete = FALSE;
    if (ok) {
      stats.decode_passes++;
      ok = vf_video_file_read_frames(file, plan->frame_indices, plan->n_frames, on_file_frame, &ff, run->cancellable,
                                     &complete, &stats.read, error);
    }
    vf_frame_resizer_free(ff.torch);
    g_free(ff.fetched);
    if (ok && complete) {
      stats.count_source = vf_video_file_info(file)->count_source;
      VfVideoInput *input = sink_finish(&sink, g_steal_pointer(&plan), start);
      double seconds = input->stats.seconds;
      input->stats = stats;
      input->stats.seconds = seconds;
      return input;
    }
    sink_clear(&sink);
    if (!ok)
      return NULL;
    if (vf_video_file_info(file)->count_source == VF_VIDEO_COUNT_DECODED) {
      g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_CORRUPT,
                  "%s: corrupt video: the decoder does not return the same frames twice", name);
      return NULL;
    }
    g_debug("%s: %" G_GUINT64_FORMAT " frames listed but some did not decode; counting decoded frames", name,
            vf_video_file_info(file)->n_frames);
    if (!vf_video_file_count_decoded(file, run->cancellable, error))
      return NULL;
  }
}

/* ---- frame lists ------------------------------------------------------------------------------------------ */

static gboolean
list_item_error(GError **error, uint32_t item, const char *source)
{
  g_prefix_error(error, "video frame %u (%s): ", item + 1, source);
  return FALSE;
}

VfVideoPlan *
vf_video_plan_frame_list(const char *const *frames, const VfMediaOptions *options,
                         const VfImageProcessorConfig *config, GError **error)
{
  uint32_t n = frames ? g_strv_length((char **)frames) : 0;
  VfImageOptions image_options = vf_video_frame_list_image_options(options);
  uint32_t width = 0, height = 0;
  /* Every frame's header, so that an unreadable or impossible frame is reported before any decoding. */
  for (uint32_t i = 0; i < n; i++) {
    g_autoptr(VfImageFile) f = vf_image_file_open(frames[i], error);
    VfImagePlan item;
    if (!f || !vf_image_plan(vf_image_file_width(f), vf_image_file_height(f), &image_options, config, &item, error)) {
      list_item_error(error, i, frames[i]);
      return NULL;
    }
    if (i == 0) {
      width = item.width;
      height = item.height;
    }
  }
  return vf_video_plan_new_for_list(width, height, n, options, config, error);
}

VfVideoInput *
vf_video_input_new_from_frames(const char *const *frames, const VfMediaOptions *options,
                               const VfImageProcessorConfig *config, const VfVideoRunOptions *run, GError **error)
{
  gint64 start = g_get_monotonic_time();
  if (!run)
    run = &no_run;
  uint32_t n = frames ? g_strv_length((char **)frames) : 0;
  if (n == 0) {
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_TOO_FEW_FRAMES, "the video's frame list is empty");
    return NULL;
  }
  VfImageOptions image_options = vf_video_frame_list_image_options(options);
  g_autoptr(VfImage) decoded = vf_image_load(frames[0], error);
  g_autoptr(VfVideoPlan) plan =
      decoded ? vf_video_plan_new_for_list(decoded->width, decoded->height, n, options, config, error) : NULL;
  if (!plan) {
    list_item_error(error, 0, frames[0]);
    return NULL;
  }

  Sink sink;
  if (!sink_init(&sink, plan, config, run, "video frames", error)) {
    sink_clear(&sink);
    return NULL;
  }
  for (uint32_t i = 0; i < n; i++) {
    if (g_cancellable_set_error_if_cancelled(run->cancellable, error))
      goto fail;
    if (i > 0 && !(decoded = vf_image_load(frames[i], error))) {
      list_item_error(error, i, frames[i]);
      goto fail;
    }
    /* qwen-vl-utils fetch_image: this frame's own size and options, Pillow bicubic. */
    VfImagePlan item;
    if (!vf_image_plan(decoded->width, decoded->height, &image_options, config, &item, error)) {
      list_item_error(error, i, frames[i]);
      goto fail;
    }
    g_autoptr(VfImage) fetched = vf_image_new(item.fetch_width, item.fetch_height, error);
    if (!fetched || !vf_resample_bicubic_rgb8(decoded->rgb, decoded->width, decoded->height, fetched->rgb,
                                              fetched->width, fetched->height, error)) {
      list_item_error(error, i, frames[i]);
      goto fail;
    }
    g_clear_pointer(&decoded, vf_image_free);
    /* The processor: every frame to the size it computes from the first frame (a copy when equal). The padding
     * slots of an odd list repeat the last frame. */
    for (uint32_t slot = i; slot < plan->n_frames && plan->frame_indices[slot] == i; slot++) {
      uint8_t *out = sink_buffer(&sink, slot, "video frames", error);
      if (!out || !vf_resample_bicubic_rgb8(fetched->rgb, fetched->width, fetched->height, out, plan->out_width,
                                            plan->out_height, error)) {
        list_item_error(error, i, frames[i]);
        goto fail;
      }
    }
    for (uint32_t slot = i; slot < plan->n_frames && plan->frame_indices[slot] == i; slot++)
      sink_done(&sink, slot);
  }
  VfVideoInput *input = sink_finish(&sink, g_steal_pointer(&plan), start);
  input->stats.decode_passes = 1;
  return input;

fail:
  sink_clear(&sink);
  return NULL;
}

void
vf_video_input_free(VfVideoInput *input)
{
  if (!input)
    return;
  vf_video_plan_free(input->plan);
  g_free(input->frames);
  g_free(input->pixel_values);
  g_free(input);
}

void
vf_video_input_patchify(const VfVideoInput *input, const VfImageProcessorConfig *config, uint32_t first_slice,
                        uint32_t n_slices, float *rows)
{
  const VfVideoPlan *plan = input->plan;
  g_return_if_fail(input->frames != NULL);
  g_return_if_fail(first_slice <= plan->grid.t && n_slices <= plan->grid.t - first_slice);
  VfNormalizeTable norm;
  vf_normalize_table_init(&norm, config);
  size_t frame_bytes = (size_t)plan->out_height * plan->out_width * 3;
  size_t slice_values = (size_t)plan->grid.h * plan->grid.w * VF_PATCH_DIM;
  for (uint32_t k = 0; k < n_slices; k++) {
    uint32_t gt = first_slice + k;
    const uint8_t *pair[2] = {input->frames + 2 * gt * frame_bytes, input->frames + (2 * gt + 1) * frame_bytes};
    vf_patchify_rgb8(pair, VF_TEMPORAL_PATCH, plan->out_height, plan->out_width, &norm, rows + k * slice_values);
  }
}
