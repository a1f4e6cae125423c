/* Frame sampling, per-frame size and the grid of a video (spec §4.2–4.6). See vf_video_plan.h. */
#define G_LOG_DOMAIN "vf-video"

#include "vf_video_plan.h"

#include <math.h>

G_DEFINE_QUARK(vf-video-error-quark, vf_video_error)

static const VfMediaOptions no_options;

gboolean
vf_video_frame_count(const VfMediaOptions *options, uint64_t total, double video_fps, uint32_t *n, GError **error)
{
  if (!options)
    options = &no_options;
  const double factor = VF_VIDEO_FRAME_FACTOR;
  double frames;
  if (options->nframes && options->fps > 0) {
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_BAD_OPTIONS, "give either fps or nframes, not both");
    return FALSE;
  }
  if (options->nframes) {
    /* round_by_factor: Python round() is half to even, as nearbyint. */
    frames = nearbyint(options->nframes / factor) * factor;
  } else {
    if (!(video_fps > 0)) {
      g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_BAD_OPTIONS,
                  "the video does not say its frame rate, so frames cannot be sampled per second; give nframes");
      return FALSE;
    }
    double fps = options->fps > 0 ? options->fps : VF_VIDEO_FPS;
    double min_frames = ceil((options->min_frames ? options->min_frames : VF_VIDEO_MIN_FRAMES) / factor) * factor;
    double max_given = options->max_frames ? (double)options->max_frames : fmin(VF_VIDEO_MAX_FRAMES, (double)total);
    double max_frames = floor(max_given / factor) * factor;
    frames = (double)total / video_fps * fps;
    frames = fmin(fmax(frames, min_frames), max_frames);
    frames = nearbyint(frames / factor) * factor;
  }
  if (total < VF_VIDEO_FRAME_FACTOR) {
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_TOO_FEW_FRAMES,
                "the video has %" G_GUINT64_FORMAT " frame%s; sampling needs at least 2", total, total == 1 ? "" : "s");
    return FALSE;
  }
  if (!(frames >= factor && frames <= (double)total)) {
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_TOO_FEW_FRAMES,
                "the number of sampled frames must lie in [2, %" G_GUINT64_FORMAT "] (the frames in the video), "
                "but it would be %.0f",
                total, frames);
    return FALSE;
  }
  *n = (uint32_t)frames;
  return TRUE;
}

void
vf_video_frame_indices(uint64_t total, uint32_t n, uint32_t *indices)
{
  g_assert(n >= 1 && total >= 1);
  if (n == 1) {
    indices[0] = 0;
    return;
  }
  /* torch.linspace(0, total − 1, n) in float32 (aten RangeFactoriesKernel), then .round() (half to even). */
  const float start = 0.0f, end = (float)(total - 1);
  const float step = (end - start) / (float)(n - 1);
  const uint32_t halfway = n / 2;
  for (uint32_t i = 0; i < n; i++) {
    float v = i < halfway ? start + step * (float)i : end - step * (float)(n - 1 - i);
    indices[i] = (uint32_t)nearbyintf(v);
  }
}

gboolean
vf_video_frame_size(const VfMediaOptions *options, uint32_t height, uint32_t width, uint32_t n, double *budget,
                    uint32_t *out_height, uint32_t *out_width, GError **error)
{
  if (!options)
    options = &no_options;
  g_assert(n > 0);
  double min_pixels = options->min_pixels ? (double)options->min_pixels : VF_VIDEO_MIN_PIXELS;
  double total_pixels = options->total_pixels ? (double)options->total_pixels : VF_VIDEO_TOTAL_PIXELS;
  /* max(min(VIDEO_MAX_PIXELS, total_pixels / nframes * FRAME_FACTOR), int(min_pixels * 1.05)) */
  double max_pixels = fmax(fmin(VF_VIDEO_MAX_PIXELS, total_pixels / n * VF_VIDEO_FRAME_FACTOR), trunc(min_pixels * 1.05));
  if (options->max_pixels)
    max_pixels = (double)options->max_pixels;
  *budget = max_pixels;
  if (options->resized_height && options->resized_width)
    return vf_smart_resize(VF_SMART_RESIZE_QVU, options->resized_height, options->resized_width, VF_IMAGE_FACTOR,
                           VF_QVU_MIN_PIXELS, VF_QVU_MAX_PIXELS, out_height, out_width, error);
  return vf_smart_resize_f64(VF_SMART_RESIZE_QVU, height, width, VF_IMAGE_FACTOR, min_pixels, max_pixels, out_height,
                             out_width, error);
}

VfImageOptions
vf_video_frame_list_image_options(const VfMediaOptions *options)
{
  if (!options)
    options = &no_options;
  return (VfImageOptions){
      .min_pixels = options->min_pixels,
      .max_pixels = options->max_pixels,
      .resized_height = options->resized_height,
      .resized_width = options->resized_width,
  };
}

/* The processor's smart_resize of the qwen-vl-utils size, and the grid (spec §4.6). */
static gboolean
finish_plan(VfVideoPlan *plan, const VfImageProcessorConfig *config, GError **error)
{
  if (!vf_smart_resize(VF_SMART_RESIZE_HF, plan->fetch_height, plan->fetch_width, VF_IMAGE_FACTOR,
                       config->min_pixels, config->max_pixels, &plan->out_height, &plan->out_width, error))
    return FALSE;
  plan->grid = (VfGrid){
      .t = plan->n_frames / VF_TEMPORAL_PATCH,
      .h = plan->out_height / VF_PATCH_SIZE,
      .w = plan->out_width / VF_PATCH_SIZE,
  };
  uint64_t patches = (uint64_t)plan->grid.t * plan->grid.h * plan->grid.w;
  if (patches > UINT32_MAX / VF_PATCH_DIM) {
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_BAD_OPTIONS,
                "%u frames of %u×%u are too many patches for one video", plan->n_frames, plan->out_width,
                plan->out_height);
    return FALSE;
  }
  plan->n_patches = (uint32_t)patches;
  plan->n_tokens = vf_grid_token_count(plan->grid);
  return TRUE;
}

VfVideoPlan *
vf_video_plan_new(uint32_t width, uint32_t height, uint64_t total, double video_fps, const VfMediaOptions *options,
                  const VfImageProcessorConfig *config, GError **error)
{
  g_autoptr(VfVideoPlan) plan = g_new0(VfVideoPlan, 1);
  *plan = (VfVideoPlan){
      .kind = VF_VIDEO_SOURCE_FILE,
      .width = width,
      .height = height,
      .total_frames = total,
      .video_fps = video_fps,
  };
  if (!vf_video_frame_count(options, total, video_fps, &plan->n_frames, error))
    return NULL;
  plan->frame_indices = g_try_new(uint32_t, plan->n_frames);
  if (!plan->frame_indices) {
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_NO_MEMORY, "out of memory for %u frame indices", plan->n_frames);
    return NULL;
  }
  vf_video_frame_indices(total, plan->n_frames, plan->frame_indices);
  if (!vf_video_frame_size(options, height, width, plan->n_frames, &plan->budget, &plan->fetch_height,
                           &plan->fetch_width, error) ||
      !finish_plan(plan, config, error))
    return NULL;
  return g_steal_pointer(&plan);
}

VfVideoPlan *
vf_video_plan_new_for_list(uint32_t width, uint32_t height, uint32_t n_items, const VfMediaOptions *options,
                           const VfImageProcessorConfig *config, GError **error)
{
  if (n_items == 0) {
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_TOO_FEW_FRAMES, "the video's frame list is empty");
    return NULL;
  }
  g_autoptr(VfVideoPlan) plan = g_new0(VfVideoPlan, 1);
  *plan = (VfVideoPlan){
      .kind = VF_VIDEO_SOURCE_FRAME_LIST,
      .width = width,
      .height = height,
      .total_frames = n_items,
      /* ceil_by_factor(len, 2): an odd list gets one more copy of its last frame. */
      .n_frames = (n_items + 1) / VF_VIDEO_FRAME_FACTOR * VF_VIDEO_FRAME_FACTOR,
  };
  plan->frame_indices = g_new(uint32_t, plan->n_frames);
  for (uint32_t i = 0; i < plan->n_frames; i++)
    plan->frame_indices[i] = MIN(i, n_items - 1);
  /* Each frame goes through fetch_image; the first one's size decides the processor's target. */
  VfImageOptions image_options = vf_video_frame_list_image_options(options);
  VfImagePlan first;
  if (!vf_image_plan(width, height, &image_options, config, &first, error))
    return NULL;
  plan->fetch_width = first.fetch_width;
  plan->fetch_height = first.fetch_height;
  if (!finish_plan(plan, config, error))
    return NULL;
  return g_steal_pointer(&plan);
}

VfVideoPlan *
vf_video_plan_copy(const VfVideoPlan *plan)
{
  VfVideoPlan *copy = g_memdup2(plan, sizeof *plan);
  copy->frame_indices = g_memdup2(plan->frame_indices, (gsize)plan->n_frames * sizeof(uint32_t));
  return copy;
}

void
vf_video_plan_free(VfVideoPlan *plan)
{
  if (!plan)
    return;
  g_free(plan->frame_indices);
  g_free(plan);
}
