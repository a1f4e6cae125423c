/* smart_resize, plans, normalisation and patchify for Qwen2-VL images (spec §3.3, §3.5–3.7, §6.2). */
#define G_LOG_DOMAIN "vf-preprocess"

#include "vf_preprocess.h"

#include <math.h>

#include "vf_resample.h"

gboolean
vf_smart_resize(VfSmartResizeVariant variant, uint32_t height, uint32_t width, uint32_t factor,
                uint64_t min_pixels, uint64_t max_pixels, uint32_t *out_height, uint32_t *out_width,
                GError **error)
{
  /* Limits below 2^53 are exact in double. */
  return vf_smart_resize_f64(variant, height, width, factor, (double)min_pixels, (double)max_pixels, out_height,
                             out_width, error);
}

gboolean
vf_smart_resize_f64(VfSmartResizeVariant variant, uint32_t height, uint32_t width, uint32_t factor,
                    double min_pixels, double max_pixels, uint32_t *out_height, uint32_t *out_width,
                    GError **error)
{
  g_assert(factor > 0);
  if (height == 0 || width == 0) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_BAD_SIZE, "cannot resize a %u×%u image", width, height);
    return FALSE;
  }
  if (variant == VF_SMART_RESIZE_HF && (height < factor || width < factor)) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_BAD_SIZE, "height:%u or width:%u must be larger than factor:%u",
                height, width, factor);
    return FALSE;
  }
  double h = height, w = width, f = factor;
  if (fmax(h, w) / fmin(h, w) > VF_MAX_ASPECT_RATIO) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_ASPECT_RATIO,
                "absolute aspect ratio must be smaller than %d, got %g (%u×%u)", VF_MAX_ASPECT_RATIO,
                fmax(h, w) / fmin(h, w), width, height);
    return FALSE;
  }
  /* Python's round() is half to even: nearbyint under the default rounding mode. */
  double h_bar = nearbyint(h / f) * f, w_bar = nearbyint(w / f) * f;
  if (variant == VF_SMART_RESIZE_QVU) {
    h_bar = fmax(f, h_bar);
    w_bar = fmax(f, w_bar);
  }
  /* Sides < 2^17 and pixel limits < 2^53: products and comparisons are exact in double, as in Python. */
  if (h_bar * w_bar > max_pixels) {
    double beta = sqrt((h * w) / max_pixels);
    h_bar = floor(h / beta / f) * f;
    w_bar = floor(w / beta / f) * f;
  } else if (h_bar * w_bar < min_pixels) {
    double beta = sqrt(min_pixels / (h * w));
    h_bar = ceil(h * beta / f) * f;
    w_bar = ceil(w * beta / f) * f;
  }
  if (h_bar < 1 || w_bar < 1 || h_bar > UINT32_MAX || w_bar > UINT32_MAX) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_BAD_SIZE,
                "a %u×%u image cannot be resized to a multiple of %u within %.15g…%.15g pixels (got %.0f×%.0f)",
                width, height, factor, min_pixels, max_pixels, w_bar, h_bar);
    return FALSE;
  }
  *out_height = (uint32_t)h_bar;
  *out_width = (uint32_t)w_bar;
  return TRUE;
}

void
vf_image_processor_config_default(VfImageProcessorConfig *config)
{
  *config = (VfImageProcessorConfig){
      .min_pixels = 3136,
      .max_pixels = 12845056,
      .image_mean = {0.48145466f, 0.4578275f, 0.40821073f},
      .image_std = {0.26862954f, 0.26130258f, 0.27577711f},
  };
}

gboolean
vf_image_plan(uint32_t width, uint32_t height, const VfImageOptions *options, const VfImageProcessorConfig *config,
              VfImagePlan *plan, GError **error)
{
  VfImageOptions none = {0};
  if (!options)
    options = &none;
  *plan = (VfImagePlan){.width = width, .height = height};
  gboolean ok;
  /* qwen-vl-utils fetch_image. */
  if (options->resized_height && options->resized_width)
    ok = vf_smart_resize(VF_SMART_RESIZE_QVU, options->resized_height, options->resized_width, VF_IMAGE_FACTOR,
                         VF_QVU_MIN_PIXELS, VF_QVU_MAX_PIXELS, &plan->fetch_height, &plan->fetch_width, error);
  else
    ok = vf_smart_resize(VF_SMART_RESIZE_QVU, height, width, VF_IMAGE_FACTOR,
                         options->min_pixels ? options->min_pixels : VF_QVU_MIN_PIXELS,
                         options->max_pixels ? options->max_pixels : VF_QVU_MAX_PIXELS, &plan->fetch_height,
                         &plan->fetch_width, error);
  /* The processor's own resize (spec §3.5): the identity unless its limits are narrower than the message's. */
  if (ok)
    ok = vf_smart_resize(VF_SMART_RESIZE_HF, plan->fetch_height, plan->fetch_width, VF_IMAGE_FACTOR,
                         config->min_pixels, config->max_pixels, &plan->out_height, &plan->out_width, error);
  if (!ok)
    return FALSE;
  plan->grid = (VfGrid){.t = 1, .h = plan->out_height / VF_PATCH_SIZE, .w = plan->out_width / VF_PATCH_SIZE};
  uint64_t patches = (uint64_t)plan->grid.t * plan->grid.h * plan->grid.w;
  /* Only an absurd max_pixels in the options or config can get here (the pixel_values would be > 2^32 rows). */
  if (patches > UINT32_MAX / VF_PATCH_DIM) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_BAD_SIZE, "a %u×%u target is too large", plan->out_width,
                plan->out_height);
    return FALSE;
  }
  plan->n_patches = (uint32_t)patches;
  plan->n_tokens = vf_grid_token_count(plan->grid);
  return TRUE;
}

gboolean
vf_image_plan_source(const char *source, const VfImageOptions *options, const VfImageProcessorConfig *config,
                     VfImagePlan *plan, GError **error)
{
  g_autoptr(VfImageFile) file = vf_image_file_open(source, error);
  if (!file)
    return FALSE;
  if (!vf_image_plan(vf_image_file_width(file), vf_image_file_height(file), options, config, plan, error)) {
    g_prefix_error(error, "%s: ", vf_image_file_name(file));
    return FALSE;
  }
  return TRUE;
}

uint32_t
vf_grid_token_count(VfGrid grid)
{
  return grid.t * grid.h * grid.w / (VF_MERGE_SIZE * VF_MERGE_SIZE);
}

void
vf_normalize_table_init(VfNormalizeTable *table, const VfImageProcessorConfig *config)
{
  const double rescale = 1.0 / 255.0; /* Python's 1 / 255 */
  for (int c = 0; c < 3; c++) {
    float mean = config->image_mean[c], std = config->image_std[c];
    for (int u = 0; u < 256; u++) {
      float x = (float)((double)u * rescale);
      float centred = x - mean; /* float32 subtraction, then float32 division */
      table->value[c][u] = centred / std;
    }
  }
}

void
vf_patchify_rgb8(const uint8_t *const *frames, uint32_t n_frames, uint32_t height, uint32_t width,
                 const VfNormalizeTable *norm, float *pixel_values)
{
  g_assert(n_frames >= 2 && n_frames % VF_TEMPORAL_PATCH == 0);
  g_assert(height % VF_IMAGE_FACTOR == 0 && width % VF_IMAGE_FACTOR == 0);
  const uint32_t P = VF_PATCH_SIZE, M = VF_MERGE_SIZE;
  uint32_t grid_h = height / P, grid_w = width / P;
  float *row = pixel_values;
  for (uint32_t gt = 0; gt < n_frames / VF_TEMPORAL_PATCH; gt++)
    for (uint32_t bh = 0; bh < grid_h / M; bh++)
      for (uint32_t bw = 0; bw < grid_w / M; bw++)
        for (uint32_t mh = 0; mh < M; mh++)
          for (uint32_t mw = 0; mw < M; mw++) {
            uint32_t y0 = (bh * M + mh) * P, x0 = (bw * M + mw) * P;
            /* One patch row: [channel][temporal][py][px]. */
            for (uint32_t ch = 0; ch < 3; ch++) {
              const float *lut = norm->value[ch];
              for (uint32_t tp = 0; tp < VF_TEMPORAL_PATCH; tp++) {
                const uint8_t *frame = frames[gt * VF_TEMPORAL_PATCH + tp];
                for (uint32_t py = 0; py < P; py++) {
                  const uint8_t *src = frame + ((size_t)(y0 + py) * width + x0) * 3 + ch;
                  for (uint32_t px = 0; px < P; px++)
                    *row++ = lut[src[3 * px]];
                }
              }
            }
          }
}

/* The processor's part: from qwen-vl-utils' resized image `fetched` (taken) to pixel_values. */
static VfImageInput *
input_from_fetched(VfImageInput *input_in, VfImage *fetched_in, const VfImageProcessorConfig *config, GError **error)
{
  g_autoptr(VfImageInput) input = input_in;
  g_autoptr(VfImage) fetched = fetched_in;
  const VfImagePlan *plan = &input->plan;
  if (plan->out_width == plan->fetch_width && plan->out_height == plan->fetch_height) {
    input->resized = g_steal_pointer(&fetched);
  } else {
    input->resized = vf_image_new(plan->out_width, plan->out_height, error);
    if (!input->resized || !vf_resample_bicubic_rgb8(fetched->rgb, fetched->width, fetched->height,
                                                     input->resized->rgb, plan->out_width, plan->out_height, error))
      return NULL;
    g_clear_pointer(&fetched, vf_image_free);
  }

  input->pixel_values = g_try_malloc((size_t)plan->n_patches * VF_PATCH_DIM * sizeof(float));
  if (!input->pixel_values) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_NO_MEMORY, "out of memory for %u patches", plan->n_patches);
    return NULL;
  }
  VfNormalizeTable norm;
  vf_normalize_table_init(&norm, config);
  /* A still image is its own temporal pair. */
  const uint8_t *frames[VF_TEMPORAL_PATCH] = {input->resized->rgb, input->resized->rgb};
  vf_patchify_rgb8(frames, VF_TEMPORAL_PATCH, plan->out_height, plan->out_width, &norm, input->pixel_values);
  return g_steal_pointer(&input);
}

VfImageInput *
vf_image_input_new_from_image(const VfImage *decoded, const VfImageOptions *options,
                              const VfImageProcessorConfig *config, GError **error)
{
  g_autoptr(VfImageInput) input = g_new0(VfImageInput, 1);
  VfImagePlan *plan = &input->plan;
  if (!vf_image_plan(decoded->width, decoded->height, options, config, plan, error))
    return NULL;
  /* qwen-vl-utils' resize, then the processor's (a copy when the size is unchanged). */
  g_autoptr(VfImage) fetched = vf_image_new(plan->fetch_width, plan->fetch_height, error);
  if (!fetched || !vf_resample_bicubic_rgb8(decoded->rgb, decoded->width, decoded->height, fetched->rgb,
                                            plan->fetch_width, plan->fetch_height, error))
    return NULL;
  return input_from_fetched(g_steal_pointer(&input), g_steal_pointer(&fetched), config, error);
}

VfImageInput *
vf_image_input_new(const char *source, const VfImageOptions *options, const VfImageProcessorConfig *config,
                   GError **error)
{
  g_autoptr(VfImageFile) file = vf_image_file_open(source, error);
  if (!file)
    return NULL;
  /* Plan first: a bad shape (aspect ratio) is reported before anything is decoded. */
  g_autoptr(VfImageInput) input = g_new0(VfImageInput, 1);
  VfImagePlan *plan = &input->plan;
  if (!vf_image_plan(vf_image_file_width(file), vf_image_file_height(file), options, config, plan, error)) {
    g_prefix_error(error, "%s: ", vf_image_file_name(file));
    return NULL;
  }
  /* qwen-vl-utils' resize while decoding: the full-size picture never exists. */
  VfImage *fetched = vf_image_file_decode_resized(file, plan->fetch_width, plan->fetch_height, error);
  if (!fetched)
    return NULL;
  input->damage = g_strdup(vf_image_file_damage(file));
  VfImageInput *done = input_from_fetched(g_steal_pointer(&input), fetched, config, error);
  if (!done)
    g_prefix_error(error, "%s: ", vf_image_file_name(file));
  return done;
}

void
vf_image_input_free(VfImageInput *input)
{
  if (!input)
    return;
  vf_image_free(input->resized);
  g_free(input->pixel_values);
  g_free(input->damage);
  g_free(input);
}
