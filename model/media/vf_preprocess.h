/* Qwen2-VL image preprocessing on the CPU, exactly as the reference pipeline (spec §3):
 *
 *   source ─► header (size) ─► plan: smart_resize (qwen-vl-utils limits or requested size)
 *                                    then smart_resize again with the processor's limits (normally a no-op)
 *          ─► decode to RGB8 ─► Pillow BICUBIC to the qvu size ─► (again to the processor size if different)
 *          ─► rescale + CLIP normalise (f32) ─► duplicate along time ─► patch rows of 1176
 *
 * The plan (grid and visual token count) needs only the header, so the UI can show it before any pixel is
 * decoded. Patchify is written for T frames (T even) so videos reuse it with real temporal pairs. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "vf_image.h"
#include "vf_grid.h"

#define VF_PATCH_SIZE 14     /* pixels per patch side */
#define VF_MERGE_SIZE 2      /* patches per merge-window side (one LLM token per 2×2 patches) */
#define VF_TEMPORAL_PATCH 2  /* frames per temporal slice */
#define VF_IMAGE_FACTOR 28   /* patch · merge: sizes are multiples of this */
#define VF_PATCH_DIM 1176    /* 3 channels · 2 frames · 14 · 14 */
#define VF_MAX_ASPECT_RATIO 200
/* qwen-vl-utils' image defaults (MIN_PIXELS, MAX_PIXELS). */
#define VF_QVU_MIN_PIXELS 3136u     /* 4 · 28 · 28 */
#define VF_QVU_MAX_PIXELS 12845056u /* 16384 · 28 · 28 */

/* qwen-vl-utils' smart_resize, or transformers' (which also refuses a side under 28 px); spec §3.3. */
typedef enum {
  VF_SMART_RESIZE_QVU,
  VF_SMART_RESIZE_HF,
} VfSmartResizeVariant;

/* The target size: multiples of `factor` near height × width, scaled into [min_pixels, max_pixels], rounding
 * half to even, all in double as Python computes it. Errors: VF_IMAGE_ERROR_ASPECT_RATIO when the longer side
 * is more than 200 times the shorter; VF_IMAGE_ERROR_BAD_SIZE for a zero input side, a side under `factor`
 * (HF variant), or a result with a zero side (max_pixels too small for the shape). */
gboolean vf_smart_resize(VfSmartResizeVariant variant, uint32_t height, uint32_t width, uint32_t factor,
                         uint64_t min_pixels, uint64_t max_pixels, uint32_t *out_height, uint32_t *out_width,
                         GError **error);
/* The same with limits that need not be integers: qwen-vl-utils' video budget `total_pixels / nframes · 2` is a
 * Python float, and beta = sqrt(h·w / max_pixels) uses it unrounded (spec §4.3). */
gboolean vf_smart_resize_f64(VfSmartResizeVariant variant, uint32_t height, uint32_t width, uint32_t factor,
                             double min_pixels, double max_pixels, uint32_t *out_height, uint32_t *out_width,
                             GError **error);

/* The per-image keys of a qwen-vl-utils image element; zero means absent. When both resized_height and
 * resized_width are given, the target is smart_resize(resized_height, resized_width) with the default limits
 * and min/max_pixels are ignored; one of the two alone is ignored (qvu needs both). */
typedef struct {
  uint64_t min_pixels, max_pixels; /* 0: VF_QVU_MIN_PIXELS / VF_QVU_MAX_PIXELS */
  uint32_t resized_height, resized_width;
} VfImageOptions;

/* The image processor's settings (preprocessor_config.json; VfConfig carries the same fields). */
typedef struct {
  uint64_t min_pixels, max_pixels; /* 3136, 12845056 in every Qwen2-VL checkpoint */
  float image_mean[3], image_std[3];
} VfImageProcessorConfig;

/* The values every Qwen2-VL checkpoint ships (spec §1.2). */
void vf_image_processor_config_default(VfImageProcessorConfig *config);

/* What an image becomes, known from its size alone. */
typedef struct {
  uint32_t width, height;             /* the source */
  uint32_t fetch_width, fetch_height; /* after qwen-vl-utils' fetch_image resize */
  uint32_t out_width, out_height;     /* after the processor's own smart_resize: what is patchified */
  VfGrid grid;                        /* (1, out_height / 14, out_width / 14) */
  uint32_t n_patches;                 /* rows of pixel_values: grid.t · grid.h · grid.w */
  uint32_t n_tokens;                  /* visual tokens in the LLM (<|image_pad|> copies): n_patches / 4 */
} VfImagePlan;

/* options may be NULL (defaults). */
gboolean vf_image_plan(uint32_t width, uint32_t height, const VfImageOptions *options,
                       const VfImageProcessorConfig *config, VfImagePlan *plan, GError **error);
/* The same from a source's header only (no pixel data is decoded). */
gboolean vf_image_plan_source(const char *source, const VfImageOptions *options,
                              const VfImageProcessorConfig *config, VfImagePlan *plan, GError **error);

/* How many <|image_pad|> (<|video_pad|>) tokens the processor puts for one grid: t·h·w / merge² (spec §6.2). */
uint32_t vf_grid_token_count(VfGrid grid);

/* Rescale and normalise as transformers (spec §3.6), one float32 per channel and 8-bit value:
 * x = (float)(u8 · (1/255 in double)); v = (x − (float)mean[c]) / (float)std[c] in float32. */
typedef struct {
  float value[3][256];
} VfNormalizeTable;

void vf_normalize_table_init(VfNormalizeTable *table, const VfImageProcessorConfig *config);

/* pixel_values [T/2 · (height/14) · (width/14), 1176] f32 from T frames, frames[t] RGB8 [height, width, 3]
 * (height, width multiples of 28; T even: a still image passes its frame twice). Row
 * r = ((gt·(h/2) + bh)·(w/2) + bw)·4 + mh·2 + mw (2×2 merge windows in raster order), column
 * c = ((ch·2 + tp)·14 + py)·14 + px; value = norm(frames[2·gt + tp] at row (2·bh + mh)·14 + py,
 * column (2·bw + mw)·14 + px, channel ch)   (spec §3.7). */
void vf_patchify_rgb8(const uint8_t *const *frames, uint32_t n_frames, uint32_t height, uint32_t width,
                      const VfNormalizeTable *norm, float *pixel_values);

/* One image, preprocessed. */
typedef struct {
  VfImagePlan plan;
  VfImage *resized;    /* [out_height, out_width, 3] RGB8: what the processor normalises */
  float *pixel_values; /* [plan.n_patches, 1176] f32 */
  char *damage;        /* vf_image_file_damage() of the source, or NULL */
} VfImageInput;

/* The whole pipeline for one source (path, file:// or data: URI); options may be NULL. The source is
 * decoded and resized to the fetch size in bands (vf_image_file_decode_resized). */
VfImageInput *vf_image_input_new(const char *source, const VfImageOptions *options,
                                 const VfImageProcessorConfig *config, GError **error);
/* The pipeline from an already decoded image (a video frame list reuses it per frame). */
VfImageInput *vf_image_input_new_from_image(const VfImage *decoded, const VfImageOptions *options,
                                            const VfImageProcessorConfig *config, GError **error);
void vf_image_input_free(VfImageInput *input);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfImageInput, vf_image_input_free)
