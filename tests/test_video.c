/* Video inputs against the reference pipeline (qwen-vl-utils fetch_video + torchvision/PyAV + the transformers
 * image processor, spec §4): the sampling and size tables (§4.2, §4.3), torchvision's antialiased bicubic, the
 * golden cases a05/b03 (frame lists), a06 and preproc_default (clip.mp4), and files made here with the ffmpeg
 * CLI: several containers and codecs, keyframe seeking against plain sequential decoding, a variable frame
 * rate, and broken inputs (each must fail with an error naming the file and the reason).
 *
 * Tolerances: frame lists go through Pillow's integer bicubic (exact) and the same float32 normalisation, so
 * pixel_values agree to 1e-5 (in practice bit for bit). Video files are resized in float32 like torch, whose
 * builds may contract into FMAs: a resized value may differ by one level, which moves a normalised value by
 * 1 / (255 · std) ≤ 1 / (255 · 0.26130258) = 0.01501; everywhere else pixel_values agree to 1e-5. */
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vf_config.h"
#include "vf_positions.h"
#include "vf_resample.h"
#include "vf_safetensors.h"
#include "vf_video.h"
#include "vf_video_resize.h"

/* One level of a resized u8 value after normalisation, for the smallest std (G): 1 / (255 · 0.26130258). */
#define ONE_LEVEL (1.0 / (255.0 * 0.26130258) + 1e-5)

/* ---- golden files ---------------------------------------------------------------------------------------- */

static char *
golden_path(const char *case_name, const char *file)
{
  const char *root = g_getenv("VF_TEST_DATA");
  g_assert_nonnull(root);
  return g_build_filename(root, "golden", "cases", case_name, file, NULL);
}

static JsonObject *
read_case(const char *case_name, JsonParser **parser)
{
  g_autofree char *path = golden_path(case_name, "case.json");
  *parser = json_parser_new();
  g_autoptr(GError) error = NULL;
  json_parser_load_from_file(*parser, path, &error);
  g_assert_no_error(error);
  return json_node_get_object(json_parser_get_root(*parser));
}

static VfSafetensors *
open_tensors(const char *case_name)
{
  g_autofree char *path = golden_path(case_name, "tensors.safetensors");
  g_autoptr(GError) error = NULL;
  VfSafetensors *st = vf_safetensors_open(path, &error);
  g_assert_no_error(error);
  return st;
}

/* A copy of a tensor (the data in the file need not be aligned), checking its dtype and element count. */
static void *
tensor_copy(const VfSafetensors *st, const char *name, VfStDtype dtype, uint64_t numel)
{
  const VfTensor *t = vf_safetensors_find(st, name);
  g_assert_nonnull(t);
  g_assert_cmpint(t->dtype, ==, dtype);
  g_assert_cmpuint(vf_tensor_numel(t), ==, numel);
  return g_memdup2(t->data, t->size);
}

/* The video element of a case's first message. */
static JsonObject *
video_element(JsonObject *c)
{
  JsonArray *messages = json_object_get_array_member(c, "messages");
  JsonArray *content = json_object_get_array_member(json_array_get_object_element(messages, 0), "content");
  for (guint i = 0; i < json_array_get_length(content); i++) {
    JsonObject *e = json_array_get_object_element(content, i);
    if (json_object_has_member(e, "video"))
      return e;
  }
  g_assert_not_reached();
}

static VfMediaOptions
element_options(JsonObject *e)
{
  VfMediaOptions o = {0};
  if (json_object_has_member(e, "min_pixels"))
    o.min_pixels = (uint64_t)json_object_get_int_member(e, "min_pixels");
  if (json_object_has_member(e, "max_pixels"))
    o.max_pixels = (uint64_t)json_object_get_int_member(e, "max_pixels");
  if (json_object_has_member(e, "fps"))
    o.fps = json_object_get_double_member(e, "fps");
  return o;
}

static VfImageProcessorConfig
default_config(void)
{
  VfImageProcessorConfig c;
  vf_image_processor_config_default(&c);
  return c;
}

/* Per-channel max and mean |a − b| of two RGB8 arrays of n pixels; returns the overall max. */
static int
rgb_diff(const char *what, const uint8_t *a, const uint8_t *b, size_t n_pixels, size_t *n_differ)
{
  int max[3] = {0};
  double sum[3] = {0};
  size_t differ = 0;
  for (size_t i = 0; i < n_pixels * 3; i++) {
    int d = abs((int)a[i] - (int)b[i]);
    max[i % 3] = MAX(max[i % 3], d);
    sum[i % 3] += d;
    differ += d != 0;
  }
  g_test_message("%s: max |diff| R %d G %d B %d, mean R %.5f G %.5f B %.5f, %zu of %zu values differ", what, max[0],
                 max[1], max[2], sum[0] / n_pixels, sum[1] / n_pixels, sum[2] / n_pixels, differ, n_pixels * 3);
  if (n_differ)
    *n_differ = differ;
  return MAX(max[0], MAX(max[1], max[2]));
}

static double
max_abs_diff(const float *a, const float *b, size_t n)
{
  double m = 0;
  for (size_t i = 0; i < n; i++)
    m = fmax(m, fabs((double)a[i] - b[i]));
  return m;
}

/* ---- sampling and size tables ------------------------------------------------------------------------------- */

/* Spec §4.2: frame counts and indices (fps mode, both qvu versions agree on these). */
static void
test_sampling_table(void)
{
  static const struct {
    uint64_t total;
    double fps;
    uint32_t n;
    uint32_t idx[20];
  } rows[] = {
      {30, 10, 6, {0, 6, 12, 17, 23, 29}},
      {75, 25, 6, {0, 15, 30, 44, 59, 74}},
      {31, 10, 6, {0, 6, 12, 18, 24, 30}},
      {7, 30, 4, {0, 2, 4, 6}},
      {300, 30, 20, {0, 16, 31, 47, 63, 79, 94, 110, 126, 142, 157, 173, 189, 205, 220, 236, 252, 268, 283, 299}},
      {100, 29.97, 6, {0, 20, 40, 59, 79, 99}},
  };
  for (size_t r = 0; r < G_N_ELEMENTS(rows); r++) {
    uint32_t n = 0;
    g_autoptr(GError) error = NULL;
    g_assert_true(vf_video_frame_count(NULL, rows[r].total, rows[r].fps, &n, &error));
    g_assert_cmpuint(n, ==, rows[r].n);
    uint32_t idx[20];
    vf_video_frame_indices(rows[r].total, n, idx);
    g_assert_cmpmem(idx, n * sizeof(uint32_t), rows[r].idx, n * sizeof(uint32_t));
  }

  /* Python's round() is half to even: 25 frames at 10 fps give 5 → round(2.5) = 2 → 4 frames; 35 give 7 →
   * round(3.5) = 4 → 8 frames (qvu 0.0.10 floors: 6). */
  uint32_t n;
  g_assert_true(vf_video_frame_count(NULL, 25, 10, &n, NULL));
  g_assert_cmpuint(n, ==, 4);
  g_assert_true(vf_video_frame_count(NULL, 35, 10, &n, NULL));
  g_assert_cmpuint(n, ==, 8);
  /* A 20-minute 30 fps video: 2400 frames at 2 fps, capped at 768. */
  g_assert_true(vf_video_frame_count(NULL, 36000, 30, &n, NULL));
  g_assert_cmpuint(n, ==, 768);
  /* Options: fps, min_frames (rounded up to even), max_frames (rounded down), nframes (rounded half even). */
  g_assert_true(vf_video_frame_count(&(VfMediaOptions){.fps = 1}, 300, 30, &n, NULL));
  g_assert_cmpuint(n, ==, 10);
  g_assert_true(vf_video_frame_count(&(VfMediaOptions){.min_frames = 9}, 30, 30, &n, NULL));
  g_assert_cmpuint(n, ==, 10);
  g_assert_true(vf_video_frame_count(&(VfMediaOptions){.max_frames = 9}, 300, 30, &n, NULL));
  g_assert_cmpuint(n, ==, 8);
  g_assert_true(vf_video_frame_count(&(VfMediaOptions){.nframes = 5}, 300, 30, &n, NULL));
  g_assert_cmpuint(n, ==, 4);
  g_assert_true(vf_video_frame_count(&(VfMediaOptions){.nframes = 7}, 300, 0, &n, NULL)); /* no fps needed */
  g_assert_cmpuint(n, ==, 8);
  /* Short videos: 3 frames give 2 (max_frames floors to 2), 1 frame fails. */
  g_assert_true(vf_video_frame_count(NULL, 3, 30, &n, NULL));
  g_assert_cmpuint(n, ==, 2);

  static const struct {
    VfMediaOptions o;
    uint64_t total;
    double fps;
    VfVideoError code;
    const char *message;
  } bad[] = {
      {{0}, 1, 30, VF_VIDEO_ERROR_TOO_FEW_FRAMES, "has 1 frame; sampling needs at least 2"},
      {{.nframes = 1}, 300, 30, VF_VIDEO_ERROR_TOO_FEW_FRAMES, "but it would be 0"},
      {{.nframes = 40}, 30, 30, VF_VIDEO_ERROR_TOO_FEW_FRAMES, "but it would be 40"},
      {{.nframes = 8, .fps = 2}, 300, 30, VF_VIDEO_ERROR_BAD_OPTIONS, "either fps or nframes"},
      {{0}, 300, 0, VF_VIDEO_ERROR_BAD_OPTIONS, "give nframes"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    g_assert_false(vf_video_frame_count(&bad[i].o, bad[i].total, bad[i].fps, &n, &error));
    g_assert_error(error, VF_VIDEO_ERROR, (int)bad[i].code);
    g_assert_nonnull(strstr(error->message, bad[i].message));
  }

  /* Every count up to 768 of long videos: first 0, last total − 1, ascending, within 1/2 of the exact spacing. */
  for (uint64_t total = 2; total < 100000; total = total * 3 + 1)
    for (uint32_t m = 2; m <= MIN(total, 768); m += 2) {
      g_autofree uint32_t *idx = g_new(uint32_t, m);
      vf_video_frame_indices(total, m, idx);
      g_assert_cmpuint(idx[0], ==, 0);
      g_assert_cmpuint(idx[m - 1], ==, total - 1);
      for (uint32_t i = 0; i < m; i++) {
        /* float32 linspace: a few roundings of values below `total`, each within total · 2^-24. */
        double exact = (double)(total - 1) * i / (m - 1);
        g_assert_cmpfloat(fabs(idx[i] - exact), <=, 0.5 + total * 0x1p-21);
        if (i > 0)
          g_assert_cmpuint(idx[i], >, idx[i - 1]);
      }
    }
}

/* Spec §4.3 examples and the per-video overrides. */
static void
test_frame_size_table(void)
{
  double budget;
  uint32_t h, w;
  /* 640×360, 6 frames: budget min(602112, 19267584 / 6 · 2) = 602112 → 364×644. */
  g_assert_true(vf_video_frame_size(NULL, 360, 640, 6, &budget, &h, &w, NULL));
  g_assert_cmpfloat(budget, ==, 602112);
  g_assert_cmpuint(h, ==, 364);
  g_assert_cmpuint(w, ==, 644);
  /* 1920×1080, 6 frames: 1092×1932 is over budget → beta scaling → 560×1008. */
  g_assert_true(vf_video_frame_size(NULL, 1080, 1920, 6, &budget, &h, &w, NULL));
  g_assert_cmpuint(h, ==, 560);
  g_assert_cmpuint(w, ==, 1008);
  /* 768 frames: 19267584 / 768 · 2 = 50176 < int(100352 · 1.05) = 105369 → the floor wins: 1280×720 → 224×420. */
  g_assert_true(vf_video_frame_size(NULL, 720, 1280, 768, &budget, &h, &w, NULL));
  g_assert_cmpfloat(budget, ==, 105369);
  g_assert_cmpuint(h, ==, 224);
  g_assert_cmpuint(w, ==, 420);
  /* 94 frames: the budget is a Python float, 19267584 / 94 · 2 = 409948.59…, not an integer. */
  g_assert_true(vf_video_frame_size(NULL, 720, 1280, 94, &budget, &h, &w, NULL));
  g_assert_cmpfloat(budget, ==, 19267584.0 / 94 * 2);
  g_assert_cmpuint(h, ==, 476);
  g_assert_cmpuint(w, ==, 840);
  /* Overrides: max_pixels replaces the budget (a06: 19000 on 160×120 → 112×168); min_pixels and total_pixels. */
  g_assert_true(vf_video_frame_size(&(VfMediaOptions){.min_pixels = 3136, .max_pixels = 19000}, 120, 160, 6, &budget,
                                    &h, &w, NULL));
  g_assert_cmpfloat(budget, ==, 19000);
  g_assert_cmpuint(h, ==, 112);
  g_assert_cmpuint(w, ==, 168);
  /* Default min_pixels 100352 upsizes 160×120 (preproc_default: 280×392). */
  g_assert_true(vf_video_frame_size(NULL, 120, 160, 6, &budget, &h, &w, NULL));
  g_assert_cmpuint(h, ==, 280);
  g_assert_cmpuint(w, ==, 392);
  g_assert_true(vf_video_frame_size(&(VfMediaOptions){.total_pixels = 602112}, 360, 640, 6, &budget, &h, &w, NULL));
  g_assert_cmpfloat(budget, ==, 200704); /* 602112 / 6 · 2 */
  /* resized_height + resized_width: smart_resize with the image limits, ignoring the video budget. */
  g_assert_true(vf_video_frame_size(&(VfMediaOptions){.resized_height = 100, .resized_width = 150, .max_pixels = 784},
                                    1080, 1920, 6, &budget, &h, &w, NULL));
  g_assert_cmpuint(h, ==, 112);
  g_assert_cmpuint(w, ==, 140);

  /* Spec §4.6 worked example: 3 s of 640×360 at 10 fps → frames 0 6 12 17 23 29 at 364×644, grid (3, 26, 46),
   * 3588 patches, 897 tokens. */
  VfImageProcessorConfig cfg = default_config();
  g_autoptr(GError) error = NULL;
  g_autoptr(VfVideoPlan) plan = vf_video_plan_new(640, 360, 30, 10, NULL, &cfg, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(plan->n_frames, ==, 6);
  g_assert_cmpuint(plan->frame_indices[3], ==, 17);
  g_assert_cmpuint(plan->out_height, ==, 364);
  g_assert_cmpuint(plan->out_width, ==, 644);
  g_assert_cmpuint(plan->grid.t, ==, 3);
  g_assert_cmpuint(plan->grid.h, ==, 26);
  g_assert_cmpuint(plan->grid.w, ==, 46);
  g_assert_cmpuint(plan->n_patches, ==, 3588);
  g_assert_cmpuint(plan->n_tokens, ==, 897);
  /* The processor's own limits apply after qwen-vl-utils' (a second resize when they are narrower). */
  VfImageProcessorConfig narrow = cfg;
  narrow.max_pixels = 100000;
  g_autoptr(VfVideoPlan) twice = vf_video_plan_new(640, 360, 30, 10, NULL, &narrow, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(twice->fetch_height, ==, 364);
  g_assert_cmpuint(twice->out_height, ==, 224);
  g_assert_cmpuint(twice->out_width, ==, 420);
  /* Frame lists: an odd list is padded with its last frame; image limits per frame. */
  g_autoptr(VfVideoPlan) list = vf_video_plan_new_for_list(150, 110, 3, &(VfMediaOptions){.max_pixels = 16000}, &cfg,
                                                           &error);
  g_assert_no_error(error);
  g_assert_cmpuint(list->n_frames, ==, 4);
  g_assert_cmpuint(list->frame_indices[3], ==, 2);
  g_assert_cmpuint(list->out_height, ==, 112);
  g_assert_cmpuint(list->out_width, ==, 140);
}

/* ---- torchvision's resize ------------------------------------------------------------------------------------- */

/* a06: the decoded frames the reference sampled (120×160) resized by our torchvision bicubic to 112×168 against
 * the reference's resized frames: within one level. */
static void
test_resize_golden(void)
{
  g_autoptr(VfSafetensors) st = open_tensors("a06_video_file");
  const size_t in_px = 120 * 160, out_px = 112 * 168;
  g_autofree uint8_t *decoded = tensor_copy(st, "video0.sampled_frames_decoded_u8", VF_ST_U8, 6 * in_px * 3);
  g_autofree uint8_t *want = tensor_copy(st, "video0.resized_rgb_u8", VF_ST_U8, 6 * out_px * 3);
  g_autofree uint8_t *got = g_new(uint8_t, 6 * out_px * 3);
  g_autoptr(GError) error = NULL;
  g_autoptr(VfFrameResizer) r = vf_frame_resizer_new(160, 120, 168, 112, &error);
  g_assert_no_error(error);
  /* Both arithmetic variants: with FMAs (torch's AVX2 kernels, our default on FMA CPUs) and without. */
  size_t differ = 0;
  for (int fused = 1; fused >= 0; fused--) {
    vf_frame_resizer_set_fused(r, fused);
    for (int t = 0; t < 6; t++)
      vf_frame_resizer_run(r, decoded + t * in_px * 3, 160 * 3, got + t * out_px * 3);
    g_autofree char *what = g_strdup_printf("a06 torchvision bicubic 160×120 → 168×112, %s",
                                            fused ? "fused multiply-add" : "multiply then add");
    size_t n;
    g_assert_cmpint(rgb_diff(what, got, want, 6 * out_px, &n), <=, 1);
    /* A value off by one lies within float rounding of .5: rare (measured 10 and 127 of 338688). */
    g_assert_cmpuint(n, <=, fused ? 40 : 400);
    differ = MAX(differ, n);
  }

  /* Pillow's fixed point is not this filter: on the same frames it differs from the reference more. */
  g_autofree uint8_t *pillow = g_new(uint8_t, out_px * 3);
  g_assert_true(vf_resample_bicubic_rgb8(decoded, 160, 120, pillow, 168, 112, NULL));
  size_t pillow_differ;
  rgb_diff("a06 Pillow bicubic on frame 0 (for comparison)", pillow, want, out_px, &pillow_differ);
  g_assert_cmpuint(pillow_differ, >, differ);
}

/* Weights: each output's taps sum to 1 (float), upscales use 4 taps, identity sizes copy. */
static void
test_resize_properties(void)
{
  static const uint32_t sizes[][2] = {{160, 168}, {120, 112}, {1280, 420}, {720, 224}, {37, 1000}, {1000, 37}, {5, 1}};
  for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
    g_autoptr(VfAaAxis) ax = vf_aa_axis_new(sizes[i][0], sizes[i][1]);
    for (uint32_t o = 0; o < ax->out_size; o++) {
      double sum = 0;
      for (uint32_t k = 0; k < ax->count[o]; k++)
        sum += ax->weights[o * ax->max_taps + k];
      /* count ≤ 2·ceil(support) + 1 terms, each rounded once in the division: |Σ − 1| ≤ count · 2^-24 · max|w|. */
      g_assert_cmpfloat(fabs(sum - 1.0), <=, ax->count[o] * 6e-8 * 1.5);
      g_assert_cmpuint(ax->first[o] + ax->count[o], <=, ax->in_size);
      if (ax->in_size < ax->out_size)
        g_assert_cmpuint(ax->count[o], <=, 4);
    }
  }
  /* Same size: a copy (torchvision returns the tensor as is). */
  enum { W = 29, H = 17 };
  g_autofree uint8_t *src = g_new(uint8_t, W * H * 3 + 5), *dst = g_new(uint8_t, W * H * 3);
  for (int i = 0; i < W * H * 3 + 5; i++)
    src[i] = (uint8_t)(i * 37 + 11);
  g_autoptr(VfFrameResizer) same = vf_frame_resizer_new(W, H, W, H, NULL);
  vf_frame_resizer_run(same, src, W * 3, dst);
  g_assert_cmpmem(dst, W * H * 3, src, W * H * 3);
  /* Only the height changes: no horizontal filtering; a constant image stays constant; strides are honoured. */
  memset(src, 200, W * H * 3 + 5);
  g_autofree uint8_t *tall = g_new(uint8_t, W * 40 * 3);
  g_autoptr(VfFrameResizer) up = vf_frame_resizer_new(W, H, W, 40, NULL);
  vf_frame_resizer_run(up, src, W * 3, tall);
  for (int i = 0; i < W * 40 * 3; i++)
    g_assert_cmpuint(tall[i], ==, 200);
}

/* ---- golden cases -------------------------------------------------------------------------------------------- */

/* a05 / b03: a video given as 4 PNG frames (150×110, max_pixels 16000 → 112×140 each, grid 2×8×10). */
static void
test_golden_frame_list(gconstpointer data)
{
  const char *case_name = data;
  g_autoptr(JsonParser) parser = NULL;
  JsonObject *c = read_case(case_name, &parser);
  JsonObject *e = video_element(c);
  JsonArray *list = json_object_get_array_member(e, "video");
  g_autoptr(GPtrArray) frames = g_ptr_array_new_with_free_func(g_free);
  for (guint i = 0; i < json_array_get_length(list); i++)
    g_ptr_array_add(frames, golden_path(case_name, json_array_get_string_element(list, i)));
  g_ptr_array_add(frames, NULL);
  VfMediaOptions options = element_options(e);
  VfImageProcessorConfig cfg = default_config();

  g_autoptr(GError) error = NULL;
  g_autoptr(VfVideoPlan) header_plan = vf_video_plan_frame_list((const char *const *)frames->pdata, &options, &cfg,
                                                                &error);
  g_assert_no_error(error);
  VfVideoRunOptions run = {.flags = VF_VIDEO_KEEP_FRAMES};
  g_autoptr(VfVideoInput) in =
      vf_video_input_new_from_frames((const char *const *)frames->pdata, &options, &cfg, &run, &error);
  g_assert_no_error(error);
  const VfVideoPlan *p = in->plan;
  g_assert_cmpuint(header_plan->n_patches, ==, p->n_patches);

  g_autoptr(VfSafetensors) st = open_tensors(case_name);
  g_autofree int64_t *grid = tensor_copy(st, "video_grid_thw", VF_ST_I64, 3);
  g_assert_cmpint(grid[0], ==, p->grid.t);
  g_assert_cmpint(grid[1], ==, p->grid.h);
  g_assert_cmpint(grid[2], ==, p->grid.w);
  size_t px = (size_t)p->out_width * p->out_height;
  g_autofree uint8_t *resized = tensor_copy(st, "video0.resized_rgb_u8", VF_ST_U8, p->n_frames * px * 3);
  g_assert_cmpint(rgb_diff("resized frames (Pillow)", in->frames, resized, p->n_frames * px, NULL), ==, 0);
  g_autofree float *pv = tensor_copy(st, "pixel_values_videos", VF_ST_F32, (uint64_t)p->n_patches * VF_PATCH_DIM);
  double d = max_abs_diff(in->pixel_values, pv, (size_t)p->n_patches * VF_PATCH_DIM);
  g_test_message("%s pixel_values_videos: max abs diff %g", case_name, d);
  g_assert_cmpfloat(d, <=, 1e-5);
  /* The token count of the prompt (<|video_pad|> is 151656, or 4093 in tiny-b's remapped ids). */
  int64_t pad = json_object_has_member(c, "id_mapping") ? 4093 : 151656, pads = 0;
  JsonArray *ids = json_object_get_array_member(c, "input_ids");
  for (guint i = 0; i < json_array_get_length(ids); i++)
    pads += json_array_get_int_element(ids, i) == pad;
  g_assert_cmpint(pads, ==, p->n_tokens);
}

typedef struct {
  uint8_t *frames; /* [n, h, w, 3] */
  uint32_t width, height;
} Collected;

static gboolean
collect_frame(uint32_t slot, const uint8_t *rgb, size_t stride, void *user, GError **error)
{
  Collected *c = user;
  for (uint32_t y = 0; y < c->height; y++)
    memcpy(c->frames + ((size_t)slot * c->height + y) * c->width * 3, rgb + y * stride, (size_t)c->width * 3);
  return TRUE;
}

/* The decoded RGB frames at `indices` of a file, through the decode layer alone. sequential: count by decoding
 * first, so the read cannot seek (the reference for the seeking path). */
static uint8_t *
decode_frames(const char *path, const uint32_t *indices, uint32_t n, gboolean sequential, VfVideoReadStats *stats)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VfVideoFile) f = vf_video_file_open(path, &error);
  g_assert_no_error(error);
  if (sequential)
    g_assert_true(vf_video_file_count_decoded(f, NULL, &error));
  else
    g_assert_true(vf_video_file_count_packets(f, NULL, &error));
  g_assert_no_error(error);
  const VfVideoInfo *info = vf_video_file_info(f);
  Collected c = {.width = info->width, .height = info->height};
  c.frames = g_new0(uint8_t, (size_t)n * c.width * c.height * 3);
  gboolean complete = FALSE;
  g_assert_true(vf_video_file_read_frames(f, indices, n, collect_frame, &c, NULL, &complete, stats, &error));
  g_assert_no_error(error);
  g_assert_true(complete);
  return c.frames;
}

/* a06: clip.mp4 (160×120, 10 fps, 30 frames, keyframes every 10) with fps 2, min_pixels 3136, max_pixels 19000:
 * indices, decoded frames (bit for bit: PyAV's swscale conversion), resized frames (one level), pixel_values. */
static void
test_golden_a06(void)
{
  g_autoptr(JsonParser) parser = NULL;
  JsonObject *c = read_case("a06_video_file", &parser);
  JsonObject *e = video_element(c);
  JsonObject *vf = json_object_get_object_member(c, "video_file");
  g_autofree char *path = golden_path("a06_video_file", json_object_get_string_member(e, "video"));
  VfMediaOptions options = element_options(e);
  VfImageProcessorConfig cfg = default_config();
  g_autoptr(VfSafetensors) st = open_tensors("a06_video_file");

  g_autoptr(GError) error = NULL;
  VfVideoRunOptions run = {.flags = VF_VIDEO_KEEP_FRAMES};
  g_autoptr(VfVideoInput) in = vf_video_input_new(path, &options, &cfg, &run, &error);
  g_assert_no_error(error);
  const VfVideoPlan *p = in->plan;
  g_assert_cmpuint(p->total_frames, ==, json_object_get_int_member(vf, "total_frames"));
  g_assert_cmpfloat(p->video_fps, ==, json_object_get_double_member(vf, "video_fps"));
  JsonArray *want_idx = json_object_get_array_member(vf, "sampled_frame_indices");
  g_assert_cmpuint(p->n_frames, ==, json_array_get_length(want_idx));
  for (uint32_t i = 0; i < p->n_frames; i++)
    g_assert_cmpint(p->frame_indices[i], ==, json_array_get_int_element(want_idx, i));
  g_assert_false(p->total_estimated);
  /* Keyframes at 0, 10, 20: reading frame 12 after frame 6 jumps over frames 7–9. */
  g_assert_cmpuint(in->stats.read.seeks, >=, 1);
  g_assert_cmpuint(in->stats.read.decoded, <, 30);

  /* Decoded frames: identical to PyAV's. */
  const size_t in_px = 120 * 160;
  g_autofree uint8_t *want_decoded = tensor_copy(st, "video0.sampled_frames_decoded_u8", VF_ST_U8, 6 * in_px * 3);
  g_autofree uint8_t *decoded = decode_frames(path, p->frame_indices, p->n_frames, FALSE, NULL);
  g_assert_cmpint(rgb_diff("a06 decoded frames vs PyAV", decoded, want_decoded, 6 * in_px, NULL), ==, 0);

  /* Resized frames: within one level. */
  size_t out_px = (size_t)p->out_width * p->out_height;
  g_autofree uint8_t *want_resized = tensor_copy(st, "video0.resized_rgb_u8", VF_ST_U8, 6 * out_px * 3);
  size_t differ;
  g_assert_cmpint(rgb_diff("a06 resized frames vs torchvision", in->frames, want_resized, 6 * out_px, &differ), <=,
                  1);

  /* pixel_values_videos and the grid. */
  g_autofree int64_t *grid = tensor_copy(st, "video_grid_thw", VF_ST_I64, 3);
  g_assert_cmpint(grid[0], ==, p->grid.t);
  g_assert_cmpint(grid[1], ==, p->grid.h);
  g_assert_cmpint(grid[2], ==, p->grid.w);
  size_t n = (size_t)p->n_patches * VF_PATCH_DIM;
  g_autofree float *want_pv = tensor_copy(st, "pixel_values_videos", VF_ST_F32, n);
  double d = max_abs_diff(in->pixel_values, want_pv, n);
  g_test_message("a06 pixel_values_videos: max abs diff %g", d);
  g_assert_cmpfloat(d, <=, differ ? ONE_LEVEL : 1e-5);
  /* From the reference's own resized frames, patchify gives its pixel_values exactly. */
  VfVideoInput copy = *in;
  copy.frames = want_resized;
  g_autofree float *pv = g_new(float, n);
  vf_video_input_patchify(&copy, &cfg, 0, p->grid.t, pv);
  g_assert_cmpfloat(max_abs_diff(pv, want_pv, n), <=, 1e-5);
}

/* preproc_default: clip_default.mp4 with no options (min_pixels 100352 upsizes 160×120 → 280×392): the grid and
 * the stored summaries of pixel_values_videos (per-patch sums, first and last 16 values). */
static void
test_golden_preproc_default_video(void)
{
  g_autoptr(JsonParser) parser = NULL;
  JsonObject *c = read_case("preproc_default", &parser);
  JsonObject *v = json_object_get_object_member(c, "video");
  g_autofree char *path = golden_path("preproc_default", json_object_get_string_member(v, "file"));
  VfImageProcessorConfig cfg = default_config();
  g_autoptr(VfSafetensors) st = open_tensors("preproc_default");

  g_autoptr(GError) error = NULL;
  g_autoptr(VfVideoInput) in = vf_video_input_new(path, NULL, &cfg, NULL, &error);
  g_assert_no_error(error);
  const VfVideoPlan *p = in->plan;
  JsonArray *want_idx = json_object_get_array_member(v, "sampled_frame_indices");
  for (uint32_t i = 0; i < p->n_frames; i++)
    g_assert_cmpint(p->frame_indices[i], ==, json_array_get_int_element(want_idx, i));
  g_autofree int64_t *grid = tensor_copy(st, "video0.video_grid_thw", VF_ST_I64, 3);
  g_assert_cmpint(grid[0], ==, 3);
  g_assert_cmpint(grid[1], ==, p->grid.h);
  g_assert_cmpint(grid[2], ==, p->grid.w);
  g_assert_cmpuint(p->n_patches, ==, json_object_get_int_member(v, "num_patches"));

  /* Decoded frames are PyAV's too (the same file as a06). */
  g_autofree uint8_t *want_decoded =
      tensor_copy(st, "video0.sampled_frames_decoded_u8", VF_ST_U8, 6 * (uint64_t)p->width * p->height * 3);
  g_autofree uint8_t *decoded = decode_frames(path, p->frame_indices, p->n_frames, FALSE, NULL);
  g_assert_cmpint(rgb_diff("preproc_default decoded frames vs PyAV", decoded, want_decoded,
                           6 * (size_t)p->width * p->height, NULL),
                  ==, 0);

  g_autofree float *sums = tensor_copy(st, "video0.pixel_values_patch_sums", VF_ST_F32, p->n_patches);
  double worst = 0;
  uint32_t rows_differ = 0;
  for (uint32_t r = 0; r < p->n_patches; r++) {
    double s = 0;
    for (int k = 0; k < VF_PATCH_DIM; k++)
      s += in->pixel_values[(size_t)r * VF_PATCH_DIM + k];
    double diff = fabs(s - sums[r]);
    worst = fmax(worst, diff);
    /* The reference sum is stored as float32: equal rows agree within half an ulp of |sum| (plus the order of an
     * f64 sum of 1176 terms, negligible). */
    rows_differ += diff > fabs(s) * 0x1p-23;
  }
  g_test_message("preproc_default video: per-patch sums max |diff| %g, %u of %u rows differ by more than float "
                 "rounding",
                 worst, rows_differ, p->n_patches);
  /* Resized values may be one level off in rare places (see the top): such a row moves by a few levels. */
  g_assert_cmpfloat(worst, <=, 8 * ONE_LEVEL);
  g_assert_cmpuint(rows_differ, <=, p->n_patches / 100);
  /* The first and last 16 patch rows in full. */
  size_t n16 = 16 * VF_PATCH_DIM;
  g_autofree float *first16 = tensor_copy(st, "video0.pixel_values_first16", VF_ST_F32, n16);
  g_autofree float *last16 = tensor_copy(st, "video0.pixel_values_last16", VF_ST_F32, n16);
  double d_first = max_abs_diff(in->pixel_values, first16, n16);
  double d_last = max_abs_diff(in->pixel_values + ((size_t)p->n_patches - 16) * VF_PATCH_DIM, last16, n16);
  g_test_message("preproc_default video: first 16 rows max abs diff %g, last 16 rows %g", d_first, d_last);
  g_assert_cmpfloat(d_first, <=, ONE_LEVEL);
  g_assert_cmpfloat(d_last, <=, ONE_LEVEL);
}

/* The video grids from our pipeline drive the rest of the model as in the reference (spec §7.3, §8.4, §12.2):
 * M-RoPE positions and rope_deltas of the golden prompts, and the vision tower's attention groups (one per
 * temporal slice of h·w patches). */
static void
test_golden_positions(gconstpointer data)
{
  const char *case_name = data;
  g_autoptr(JsonParser) parser = NULL;
  JsonObject *c = read_case(case_name, &parser);
  JsonObject *e = video_element(c);
  VfMediaOptions options = element_options(e);
  VfImageProcessorConfig cfg = default_config();
  g_autoptr(GError) error = NULL;
  g_autoptr(VfVideoInput) in = NULL;
  JsonNode *video = json_object_get_member(e, "video");
  if (JSON_NODE_HOLDS_ARRAY(video)) {
    JsonArray *list = json_node_get_array(video);
    g_autoptr(GPtrArray) frames = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < json_array_get_length(list); i++)
      g_ptr_array_add(frames, golden_path(case_name, json_array_get_string_element(list, i)));
    g_ptr_array_add(frames, NULL);
    in = vf_video_input_new_from_frames((const char *const *)frames->pdata, &options, &cfg, NULL, &error);
  } else {
    g_autofree char *path = golden_path(case_name, json_node_get_string(video));
    in = vf_video_input_new(path, &options, &cfg, NULL, &error);
  }
  g_assert_no_error(error);
  const VfGrid grid = in->plan->grid;

  /* tests/data/models/<model> from "shared/golden/models/<model>". */
  g_autofree char *model = g_path_get_basename(json_object_get_string_member(c, "model"));
  g_autofree char *dir = g_build_filename(g_getenv("VF_TEST_DATA"), "models", model, NULL);
  g_autoptr(VfConfig) config = vf_config_load(dir, &error);
  g_assert_no_error(error);
  g_autoptr(VfSafetensors) st = open_tensors(case_name);
  const VfTensor *ids_t = vf_safetensors_find(st, "input_ids");
  g_assert_nonnull(ids_t);
  uint32_t n = (uint32_t)ids_t->shape[1];
  g_autofree int64_t *ids64 = tensor_copy(st, "input_ids", VF_ST_I64, n);
  g_autofree int64_t *want = tensor_copy(st, "position_ids", VF_ST_I64, 3 * (uint64_t)n);
  g_autofree int64_t *want_delta = tensor_copy(st, "rope_deltas", VF_ST_I64, 1);
  g_autofree int32_t *ids = g_new(int32_t, n), *pos = g_new(int32_t, 3 * n);
  for (uint32_t i = 0; i < n; i++)
    ids[i] = (int32_t)ids64[i];
  int32_t delta = 0;
  uint32_t used = 0;
  g_assert_true(vf_positions_compute(config, ids, n, NULL, 0, &grid, 1, pos, &delta, NULL, &used, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(used, ==, 1);
  for (uint32_t i = 0; i < 3 * n; i++)
    g_assert_cmpint(pos[i], ==, want[i]);
  g_assert_cmpint(delta, ==, want_delta[0]);

  /* cu_seqlens: for each temporal slice, h·w patches. */
  g_autofree int64_t *cu = tensor_copy(st, "vision_videos.cu_seqlens", VF_ST_I64, grid.t + 1);
  for (uint32_t t = 0; t <= grid.t; t++)
    g_assert_cmpint(cu[t], ==, (int64_t)t * grid.h * grid.w);
}

/* ---- frame lists: padding, mixed sizes, slices ------------------------------------------------------------ */

static void
test_frame_list_padding_and_sizes(void)
{
  VfImageProcessorConfig cfg = default_config();
  VfMediaOptions options = {.max_pixels = 16000};
  g_autofree char *f0 = golden_path("a05_video_frames", "frame0.png");
  g_autofree char *f1 = golden_path("a05_video_frames", "frame1.png");
  g_autofree char *f2 = golden_path("a05_video_frames", "frame2.png");
  const char *root = g_getenv("VF_TEST_DATA");
  g_autofree char *other = g_build_filename(root, "images", "rgb_37x23.png", NULL);
  g_autoptr(GError) error = NULL;

  /* Three frames: padded to four with the last one; temporal slice 1 is (frame 2, frame 2). */
  const char *three[] = {f0, f1, f2, NULL};
  VfVideoRunOptions keep = {.flags = VF_VIDEO_KEEP_FRAMES};
  g_autoptr(VfVideoInput) in = vf_video_input_new_from_frames(three, &options, &cfg, &keep, &error);
  g_assert_no_error(error);
  const VfVideoPlan *p = in->plan;
  g_assert_cmpuint(p->n_frames, ==, 4);
  g_assert_cmpuint(p->grid.t, ==, 2);
  size_t fb = (size_t)p->out_width * p->out_height * 3;
  g_assert_cmpmem(in->frames + 3 * fb, fb, in->frames + 2 * fb, fb);
  /* Patchify by slices gives the same rows as the streamed pixel_values. */
  size_t slice = (size_t)p->grid.h * p->grid.w * VF_PATCH_DIM;
  g_autofree float *rows = g_new(float, slice);
  vf_video_input_patchify(in, &cfg, 1, 1, rows);
  g_assert_cmpmem(rows, slice * sizeof(float), in->pixel_values + slice, slice * sizeof(float));

  /* Mixed sizes, as the reference takes them: every frame through fetch_image at its own size (37×23 → 56×84
   * with the image minimum), then the processor resizes it to the size of the first frame (112×140). */
  const char *mixed[] = {f0, other, NULL};
  g_autoptr(VfVideoInput) mix = vf_video_input_new_from_frames(mixed, &options, &cfg, &keep, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(mix->plan->out_width, ==, 140);
  g_assert_cmpuint(mix->plan->out_height, ==, 112);
  g_autoptr(VfImage) small = vf_image_load(other, &error);
  g_assert_no_error(error);
  VfImagePlan item;
  VfImageOptions image_options = vf_video_frame_list_image_options(&options);
  g_assert_true(vf_image_plan(small->width, small->height, &image_options, &cfg, &item, NULL));
  g_assert_cmpuint(item.fetch_width, ==, 84);
  g_autofree uint8_t *fetched = g_new(uint8_t, item.fetch_width * item.fetch_height * 3);
  g_autofree uint8_t *want = g_new(uint8_t, fb);
  g_assert_true(vf_resample_bicubic_rgb8(small->rgb, small->width, small->height, fetched, item.fetch_width,
                                         item.fetch_height, NULL));
  g_assert_true(vf_resample_bicubic_rgb8(fetched, item.fetch_width, item.fetch_height, want, 140, 112, NULL));
  g_assert_cmpmem(mix->frames + fb, fb, want, fb);

  /* A frame that is missing, or not an image: the error names the frame and its file. */
  g_autofree char *missing = g_build_filename(root, "images", "no-such-frame.png", NULL);
  const char *bad[] = {f0, missing, NULL};
  g_autoptr(VfVideoInput) none = vf_video_input_new_from_frames(bad, &options, &cfg, NULL, &error);
  g_assert_null(none);
  g_assert_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_NOT_FOUND);
  g_assert_nonnull(strstr(error->message, "video frame 2"));
  g_assert_nonnull(strstr(error->message, "no-such-frame.png"));
  g_clear_error(&error);
  g_assert_null(vf_video_plan_frame_list(bad, &options, &cfg, &error));
  g_assert_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_NOT_FOUND);
  g_clear_error(&error);
  const char *empty[] = {NULL};
  g_assert_null(vf_video_input_new_from_frames(empty, &options, &cfg, NULL, &error));
  g_assert_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_TOO_FEW_FRAMES);
}

/* ---- files made with the ffmpeg CLI ------------------------------------------------------------------------- */

static char *fixture_dir;

/* Runs ffmpeg (or ffprobe) with `args`; FALSE (and the test skipped) when the CLI is not installed. */
static gboolean
run_tool(const char *tool, const char *args, char **out)
{
  g_autofree char *exe = g_find_program_in_path(tool);
  if (!exe) {
    g_test_skip("the ffmpeg CLI is not installed (scripts/deps.sh installs it)");
    return FALSE;
  }
  g_autofree char *cmd = g_strdup_printf("%s -v error%s %s", exe, strcmp(tool, "ffmpeg") ? "" : " -nostdin", args);
  g_autofree char *err = NULL;
  int status = 0;
  g_autoptr(GError) error = NULL;
  g_spawn_command_line_sync(cmd, out, &err, &status, &error);
  g_assert_no_error(error);
  if (!g_spawn_check_wait_status(status, NULL))
    g_error("%s failed: %s", cmd, err);
  return TRUE;
}

/* A testsrc2 clip in the fixture folder; `extra` are the encoder and container arguments. */
static char *
make_clip(const char *name, const char *source, const char *extra)
{
  char *path = g_build_filename(fixture_dir, name, NULL);
  if (g_file_test(path, G_FILE_TEST_EXISTS))
    return path;
  g_autofree char *args = g_strdup_printf("-y -f lavfi -i %s %s %s", source, extra, path);
  if (!run_tool("ffmpeg", args, NULL)) {
    g_free(path);
    return NULL;
  }
  return path;
}

static uint64_t
ffprobe_frames(const char *path)
{
  g_autofree char *args = g_strdup_printf(
      "-select_streams v:0 -count_frames -show_entries stream=nb_read_frames -of csv=p=0 %s", path);
  g_autofree char *out = NULL;
  g_assert_true(run_tool("ffprobe", args, &out));
  return g_ascii_strtoull(out, NULL, 10);
}

/* Frame `index` (decoder output order) converted by the ffmpeg CLI with bilinear swscale flags. */
static uint8_t *
ffmpeg_frame(const char *path, uint32_t index, uint32_t width, uint32_t height)
{
  g_autofree char *raw = g_build_filename(fixture_dir, "frame.rgb", NULL);
  g_autofree char *args =
      g_strdup_printf("-y -i %s -vf 'select=eq(n\\,%u)' -fps_mode passthrough -frames:v 1 -sws_flags bilinear "
                      "-pix_fmt rgb24 -f rawvideo %s",
                      path, index, raw);
  g_assert_true(run_tool("ffmpeg", args, NULL));
  gchar *data = NULL;
  gsize size = 0;
  g_assert_true(g_file_get_contents(raw, &data, &size, NULL));
  g_assert_cmpuint(size, ==, (gsize)width * height * 3);
  return (uint8_t *)data;
}

typedef struct {
  const char *file, *source, *args;
  gboolean header_counts; /* the container states its frame count */
} ContainerCase;

/* mp4 (H.264 with B-frames and short GOPs), mkv (H.264), webm (VP9), mov (MJPEG), avi (MPEG-4 part 2): the frame
 * count equals ffprobe's decoded count, the sampled frames read with keyframe seeks equal those of a plain
 * sequential decode, and a sampled frame equals the ffmpeg CLI's own decode of frame n. */
static void
test_containers(void)
{
  static const ContainerCase cases[] = {
      {"h264_bframes_gop7.mp4", "testsrc2=size=150x94:rate=25", "-t 12 -c:v libx264 -g 7 -bf 2 -pix_fmt yuv420p",
       TRUE},
      {"h264.mkv", "testsrc2=size=128x72:rate=30", "-t 5 -c:v libx264 -g 12 -pix_fmt yuv420p", FALSE},
      {"vp9.webm", "testsrc2=size=96x54:rate=24", "-t 4 -c:v libvpx-vp9 -g 10 -deadline realtime -cpu-used 8", FALSE},
      {"mjpeg.mov", "testsrc2=size=80x60:rate=15", "-t 4 -c:v mjpeg -q:v 5", TRUE},
      {"mpeg4.avi", "testsrc2=size=112x80:rate=20", "-t 5 -c:v mpeg4 -g 9 -q:v 5", TRUE},
  };
  VfImageProcessorConfig cfg = default_config();
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    const ContainerCase *k = &cases[i];
    g_autofree char *path = make_clip(k->file, k->source, k->args);
    if (!path)
      return;
    g_autoptr(GError) error = NULL;
    VfVideoInfo info;
    g_assert_true(vf_video_probe(path, &info, &error));
    g_assert_no_error(error);
    g_assert_cmpint(info.fps_source, ==, VF_VIDEO_RATE_AVERAGE);
    g_assert_cmpint(info.count_source, ==, k->header_counts ? VF_VIDEO_COUNT_HEADER : VF_VIDEO_COUNT_DURATION);

    uint64_t frames = ffprobe_frames(path);
    g_autoptr(VfVideoPlan) header = vf_video_plan_source(path, NULL, &cfg, FALSE, NULL, &error);
    g_assert_no_error(error);
    g_autoptr(VfVideoPlan) counted = vf_video_plan_source(path, NULL, &cfg, TRUE, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(counted->total_frames, ==, frames);
    g_assert_false(counted->total_estimated);
    g_assert_true(header->total_estimated);

    VfVideoRunOptions run = {.flags = VF_VIDEO_KEEP_FRAMES};
    g_autoptr(VfVideoInput) in = vf_video_input_new(path, NULL, &cfg, &run, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(in->plan->total_frames, ==, frames);
    g_assert_cmpuint(in->plan->n_patches, ==, counted->n_patches);
    g_assert_cmpint(in->stats.count_source, ==, VF_VIDEO_COUNT_PACKETS);
    g_assert_cmpuint(in->stats.decode_passes, ==, 1);
    g_test_message("%s: %s/%s %u×%u, %" G_GUINT64_FORMAT " frames, %u sampled, %u decoded, %u seeks", k->file,
                   info.container, info.codec, info.width, info.height, frames, in->plan->n_frames,
                   in->stats.read.decoded, in->stats.read.seeks);

    const VfVideoPlan *p = in->plan;
    VfVideoReadStats seek_stats, seq_stats;
    g_autofree uint8_t *seeking = decode_frames(path, p->frame_indices, p->n_frames, FALSE, &seek_stats);
    g_autofree uint8_t *sequential = decode_frames(path, p->frame_indices, p->n_frames, TRUE, &seq_stats);
    size_t frame_bytes = (size_t)info.width * info.height * 3;
    g_assert_cmpmem(seeking, p->n_frames * frame_bytes, sequential, p->n_frames * frame_bytes);
    g_assert_cmpuint(seq_stats.seeks, ==, 0);

    uint32_t s = p->n_frames / 2 + 1;
    g_autofree uint8_t *cli = ffmpeg_frame(path, p->frame_indices[s], info.width, info.height);
    g_autofree char *what = g_strdup_printf("%s frame %u vs the ffmpeg CLI", k->file, p->frame_indices[s]);
    g_assert_cmpint(rgb_diff(what, seeking + s * frame_bytes, cli, info.width * info.height, NULL), ==, 0);
  }
}

/* A long GOP and sparse sampling: the reader seeks over whole GOPs and decodes far fewer frames, with the same
 * result as decoding everything. */
static void
test_seeking(void)
{
  g_autofree char *path =
      make_clip("long_gop.mp4", "testsrc2=size=128x96:rate=30", "-t 40 -c:v libx264 -g 30 -bf 0 -pix_fmt yuv420p");
  if (!path)
    return;
  VfImageProcessorConfig cfg = default_config();
  VfMediaOptions options = {.fps = 0.5, .min_pixels = 3136, .max_pixels = 4000};
  g_autoptr(GError) error = NULL;
  VfVideoRunOptions run = {.flags = VF_VIDEO_KEEP_FRAMES};
  g_autoptr(VfVideoInput) in = vf_video_input_new(path, &options, &cfg, &run, &error);
  g_assert_no_error(error);
  const VfVideoPlan *p = in->plan;
  g_assert_cmpuint(p->total_frames, ==, 1200);
  g_assert_cmpuint(p->n_frames, ==, 20);
  g_test_message("long GOP: %u frames decoded for %u sampled of 1200, %u seeks", in->stats.read.decoded,
                 p->n_frames, in->stats.read.seeks);
  g_assert_cmpuint(in->stats.read.seeks, >=, 10);
  g_assert_cmpuint(in->stats.read.decoded, <, 1200 / 2);

  VfVideoReadStats st;
  g_autofree uint8_t *seeking = decode_frames(path, p->frame_indices, p->n_frames, FALSE, &st);
  g_autofree uint8_t *sequential = decode_frames(path, p->frame_indices, p->n_frames, TRUE, NULL);
  g_assert_cmpmem(seeking, (size_t)p->n_frames * 128 * 96 * 3, sequential, (size_t)p->n_frames * 128 * 96 * 3);
  /* A sampled frame against the ffmpeg CLI's decode of it; its neighbour differs (the pattern moves every frame
   * at this size), so a read that lands one frame off would show. */
  g_autofree uint8_t *cli = ffmpeg_frame(path, p->frame_indices[7], 128, 96);
  g_assert_cmpmem(seeking + 7 * 128 * 96 * 3, 128 * 96 * 3, cli, 128 * 96 * 3);
  g_autofree uint8_t *next = ffmpeg_frame(path, p->frame_indices[7] + 1, 128, 96);
  g_assert_true(memcmp(next, cli, 128 * 96 * 3) != 0);
}

/* Variable frame rate: frames 0–19 of a 10 fps source, then every fifth (2 fps) up to 4.4 s, with their original
 * timestamps: the sampling rate is the stream's average frame rate (ffprobe's avg_frame_rate), as in the
 * reference, and frames are found by pts. */
static void
test_variable_frame_rate(void)
{
  g_autofree char *path = make_clip(
      "vfr.mp4", "testsrc2=size=64x48:rate=10",
      "-t 4.4 -vf \"select='lt(n,20)+not(mod(n,5))'\" -fps_mode vfr -c:v libx264 -g 4 -pix_fmt yuv420p");
  if (!path)
    return;
  g_autofree char *out = NULL;
  g_autofree char *args =
      g_strdup_printf("-select_streams v:0 -show_entries stream=avg_frame_rate,r_frame_rate -of csv=p=0 %s", path);
  g_assert_true(run_tool("ffprobe", args, &out));
  g_autoptr(GError) error = NULL;
  VfVideoInfo info;
  g_assert_true(vf_video_probe(path, &info, &error));
  g_test_message("vfr: ffprobe r_frame_rate,avg_frame_rate = %s; ours %.6g fps (%d)", g_strstrip(out), info.fps,
                 info.fps_source);
  char **rates = g_strsplit(out, ",", 2);
  char **avg = g_strsplit(rates[1], "/", 2);
  double avg_fps = g_ascii_strtod(avg[0], NULL) / g_ascii_strtod(avg[1], NULL);
  g_strfreev(rates);
  g_strfreev(avg);
  g_assert_cmpfloat(fabs(info.fps - avg_fps), <, 1e-9);

  VfImageProcessorConfig cfg = default_config();
  VfVideoRunOptions run = {.flags = VF_VIDEO_KEEP_FRAMES};
  g_autoptr(VfVideoInput) in =
      vf_video_input_new(path, &(VfMediaOptions){.min_pixels = 3136, .max_pixels = 4000}, &cfg, &run, &error);
  g_assert_no_error(error);
  const VfVideoPlan *p = in->plan;
  g_assert_cmpuint(p->total_frames, ==, ffprobe_frames(path));
  uint32_t n;
  g_assert_true(vf_video_frame_count(NULL, p->total_frames, avg_fps, &n, NULL));
  g_assert_cmpuint(p->n_frames, ==, n);
  g_autofree uint8_t *seeking = decode_frames(path, p->frame_indices, p->n_frames, FALSE, NULL);
  g_autofree uint8_t *sequential = decode_frames(path, p->frame_indices, p->n_frames, TRUE, NULL);
  g_assert_cmpmem(seeking, (size_t)p->n_frames * 64 * 48 * 3, sequential, (size_t)p->n_frames * 64 * 48 * 3);
}

/* A copy of the first `fraction` of the bytes of `src`, in the fixture folder. */
static char *
truncated_copy(const char *src, const char *name, double fraction)
{
  gchar *data = NULL;
  gsize size = 0;
  g_assert_true(g_file_get_contents(src, &data, &size, NULL));
  char *path = g_build_filename(fixture_dir, name, NULL);
  g_assert_true(g_file_set_contents(path, data, (gssize)(size * fraction), NULL));
  g_free(data);
  return path;
}

static void
assert_video_error(const char *path, VfVideoError code, const char *reason)
{
  VfImageProcessorConfig cfg = default_config();
  g_autoptr(GError) error = NULL;
  g_autoptr(VfVideoInput) in = vf_video_input_new(path, NULL, &cfg, NULL, &error);
  g_assert_null(in);
  g_assert_nonnull(error);
  g_test_message("%s", error->message);
  g_assert_error(error, VF_VIDEO_ERROR, (int)code);
  g_assert_nonnull(strstr(error->message, path));
  g_assert_nonnull(strstr(error->message, reason));
}

/* Broken and unusable inputs: each fails with the file's name and the reason. */
static void
test_bad_files(void)
{
  g_autofree char *good = make_clip("good.mp4", "testsrc2=size=64x48:rate=10", "-t 3 -c:v libx264 -pix_fmt yuv420p");
  if (!good)
    return;
  g_autofree char *empty = g_build_filename(fixture_dir, "empty.mp4", NULL);
  g_assert_true(g_file_set_contents(empty, "", 0, NULL));
  assert_video_error(empty, VF_VIDEO_ERROR_EMPTY, "empty");

  g_autofree char *missing = g_build_filename(fixture_dir, "missing.mp4", NULL);
  assert_video_error(missing, VF_VIDEO_ERROR_NOT_FOUND, "cannot open");

  /* Random bytes named .mp4. */
  g_autofree char *random = g_build_filename(fixture_dir, "random.mp4", NULL);
  uint8_t noise[4096];
  GRand *rand = g_rand_new_with_seed(7);
  for (size_t i = 0; i < sizeof noise; i++)
    noise[i] = (uint8_t)g_rand_int(rand);
  g_rand_free(rand);
  g_assert_true(g_file_set_contents(random, (const char *)noise, sizeof noise, NULL));
  assert_video_error(random, VF_VIDEO_ERROR_UNKNOWN_FORMAT, "not a video file");

  /* An mp4 cut in half: its index (moov, written at the end) is gone. */
  g_autofree char *half = truncated_copy(good, "half.mp4", 0.5);
  assert_video_error(half, VF_VIDEO_ERROR_UNKNOWN_FORMAT, "not a video file");

  /* Audio only. */
  g_autofree char *audio = make_clip("audio.m4a", "sine=frequency=440:duration=1", "-c:a aac");
  assert_video_error(audio, VF_VIDEO_ERROR_NO_VIDEO, "no video stream (only audio)");

  /* An mp4 written with zero frames (ffmpeg leaves out the track). */
  g_autofree char *zero = make_clip("zero.mp4", "testsrc2=size=64x48:rate=10", "-frames:v 0 -c:v libx264");
  assert_video_error(zero, VF_VIDEO_ERROR_NO_VIDEO, "no video stream");

  /* One frame: too few to sample two. */
  g_autofree char *one = make_clip("one.mkv", "testsrc2=size=64x48:rate=10", "-frames:v 1 -c:v libx264");
  assert_video_error(one, VF_VIDEO_ERROR_TOO_FEW_FRAMES, "has 1 frame; sampling needs at least 2");

  /* An unsupported codec: an AVI whose MJPEG fourcc is replaced by one nobody decodes. */
  g_autofree char *mjpeg = make_clip("mjpeg.avi", "testsrc2=size=64x48:rate=10", "-t 1 -c:v mjpeg");
  gchar *data = NULL;
  gsize size = 0;
  g_assert_true(g_file_get_contents(mjpeg, &data, &size, NULL));
  for (gsize i = 0; i + 4 <= size; i++)
    if (!memcmp(data + i, "MJPG", 4))
      memcpy(data + i, "QQQQ", 4);
  g_autofree char *unknown = g_build_filename(fixture_dir, "unknown_codec.avi", NULL);
  g_assert_true(g_file_set_contents(unknown, data, (gssize)size, NULL));
  g_free(data);
  assert_video_error(unknown, VF_VIDEO_ERROR_UNSUPPORTED_CODEC, "no decoder");

  /* URLs are not fetched. */
  VfImageProcessorConfig cfg = default_config();
  g_autoptr(GError) error = NULL;
  g_assert_null(vf_video_input_new("https://example.com/a.mp4", NULL, &cfg, NULL, &error));
  g_assert_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_UNSUPPORTED);
}

/* A header that lies: an mp4 with its index first (faststart) cut short. The index lists 60 frames; the data
 * holds fewer. The header plan says 60 (and is marked as an estimate); decoding counts the frames that exist,
 * plans with them and matches a sequential decode. Cut right after the index, no frame exists at all. */
static void
test_lying_header(void)
{
  g_autofree char *full = make_clip("faststart.mp4", "testsrc2=size=64x48:rate=10",
                                    "-t 6 -c:v libx264 -g 10 -pix_fmt yuv420p -movflags +faststart");
  if (!full)
    return;
  g_autofree char *cut = truncated_copy(full, "faststart_cut.mp4", 0.45);
  VfImageProcessorConfig cfg = default_config();
  g_autoptr(GError) error = NULL;
  g_autoptr(VfVideoPlan) header = vf_video_plan_source(cut, NULL, &cfg, FALSE, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(header->total_frames, ==, 60);
  g_assert_true(header->total_estimated);

  VfVideoRunOptions run = {.flags = VF_VIDEO_KEEP_FRAMES};
  g_autoptr(VfVideoInput) in =
      vf_video_input_new(cut, &(VfMediaOptions){.min_pixels = 3136, .max_pixels = 4000}, &cfg, &run, &error);
  g_assert_no_error(error);
  const VfVideoPlan *p = in->plan;
  uint64_t exist = ffprobe_frames(cut);
  g_test_message("truncated faststart mp4: header 60 frames, %" G_GUINT64_FORMAT " decode (ffprobe), we use %" G_GUINT64_FORMAT
                 " (%u passes)",
                 exist, p->total_frames, in->stats.decode_passes);
  g_assert_cmpuint(p->total_frames, <, 60);
  g_assert_cmpuint(p->total_frames, ==, exist);
  g_assert_cmpuint(p->frame_indices[p->n_frames - 1], ==, p->total_frames - 1);
  /* The last packet is cut short and fails to decode: the demuxed count (one more) is replaced by a count of
   * decoded frames, and the frames are those of a plain sequential decode. */
  g_assert_cmpint(in->stats.count_source, ==, VF_VIDEO_COUNT_DECODED);
  g_assert_cmpuint(in->stats.decode_passes, ==, 2);
  g_autofree uint8_t *sequential = decode_frames(cut, p->frame_indices, p->n_frames, TRUE, NULL);
  g_autoptr(VfFrameResizer) resizer = vf_frame_resizer_new(64, 48, p->out_width, p->out_height, &error);
  g_assert_no_error(error);
  size_t out_bytes = (size_t)p->out_width * p->out_height * 3;
  g_autofree uint8_t *resized = g_new(uint8_t, out_bytes);
  for (uint32_t i = 0; i < p->n_frames; i++) {
    vf_frame_resizer_run(resizer, sequential + i * 64 * 48 * 3, 64 * 3, resized);
    g_assert_cmpmem(in->frames + i * out_bytes, out_bytes, resized, out_bytes);
  }

  /* Only the header survives. */
  gchar *data = NULL;
  gsize size = 0;
  g_assert_true(g_file_get_contents(full, &data, &size, NULL));
  const char *mdat = memmem(data, size, "mdat", 4);
  g_assert_nonnull(mdat);
  g_autofree char *bare = g_build_filename(fixture_dir, "header_only.mp4", NULL);
  g_assert_true(g_file_set_contents(bare, data, mdat + 4 - data, NULL));
  g_free(data);
  assert_video_error(bare, VF_VIDEO_ERROR_TOO_FEW_FRAMES, "has no frames");
}

typedef struct {
  GCancellable *cancellable;
  uint32_t calls, cancel_at, last_done, last_total;
} ProgressLog;

static void
on_progress(uint32_t done, uint32_t total, void *user)
{
  ProgressLog *log = user;
  log->calls++;
  g_assert_cmpuint(done, ==, log->last_done + 1);
  log->last_done = done;
  log->last_total = total;
  if (log->cancellable && done == log->cancel_at)
    g_cancellable_cancel(log->cancellable);
}

/* Progress counts every sampled frame; cancelling from the callback stops the read with G_IO_ERROR_CANCELLED. */
static void
test_progress_and_cancel(void)
{
  g_autofree char *path = golden_path("a06_video_file", "clip.mp4");
  VfImageProcessorConfig cfg = default_config();
  g_autoptr(GError) error = NULL;
  ProgressLog log = {0};
  VfVideoRunOptions run = {.progress = on_progress, .progress_user = &log};
  g_autoptr(VfVideoInput) in = vf_video_input_new(path, NULL, &cfg, &run, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(log.calls, ==, 6);
  g_assert_cmpuint(log.last_total, ==, 6);

  g_autoptr(GCancellable) cancellable = g_cancellable_new();
  ProgressLog cancel = {.cancellable = cancellable, .cancel_at = 2};
  VfVideoRunOptions stop = {.progress = on_progress, .progress_user = &cancel, .cancellable = cancellable};
  g_autoptr(VfVideoInput) none = vf_video_input_new(path, NULL, &cfg, &stop, &error);
  g_assert_null(none);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint(cancel.calls, ==, 2);
  g_clear_error(&error);
  /* Frame lists too. */
  g_autofree char *f0 = golden_path("a05_video_frames", "frame0.png");
  g_autofree char *f1 = golden_path("a05_video_frames", "frame1.png");
  const char *frames[] = {f0, f1, f0, f1, NULL};
  g_cancellable_reset(cancellable);
  cancel = (ProgressLog){.cancellable = cancellable, .cancel_at = 1};
  g_assert_null(vf_video_input_new_from_frames(frames, NULL, &cfg, &stop, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static void
remove_fixtures(void)
{
  if (!fixture_dir)
    return;
  GDir *dir = g_dir_open(fixture_dir, 0, NULL);
  const char *name;
  while (dir && (name = g_dir_read_name(dir))) {
    g_autofree char *p = g_build_filename(fixture_dir, name, NULL);
    g_remove(p);
  }
  if (dir)
    g_dir_close(dir);
  g_rmdir(fixture_dir);
  g_clear_pointer(&fixture_dir, g_free);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_autoptr(GError) error = NULL;
  fixture_dir = g_dir_make_tmp("vf-video-XXXXXX", &error);
  g_assert_no_error(error);
  g_test_add_func("/video/sampling-table", test_sampling_table);
  g_test_add_func("/video/frame-size-table", test_frame_size_table);
  g_test_add_func("/video/resize/golden", test_resize_golden);
  g_test_add_func("/video/resize/properties", test_resize_properties);
  g_test_add_data_func("/video/golden/a05_video_frames", "a05_video_frames", test_golden_frame_list);
  g_test_add_data_func("/video/golden/b03_video_frames", "b03_video_frames", test_golden_frame_list);
  g_test_add_func("/video/golden/a06_video_file", test_golden_a06);
  g_test_add_func("/video/golden/preproc_default", test_golden_preproc_default_video);
  g_test_add_data_func("/video/golden/positions/a05_video_frames", "a05_video_frames", test_golden_positions);
  g_test_add_data_func("/video/golden/positions/a06_video_file", "a06_video_file", test_golden_positions);
  g_test_add_data_func("/video/golden/positions/b03_video_frames", "b03_video_frames", test_golden_positions);
  g_test_add_func("/video/frame-list/padding-sizes-errors", test_frame_list_padding_and_sizes);
  g_test_add_func("/video/files/containers", test_containers);
  g_test_add_func("/video/files/seeking", test_seeking);
  g_test_add_func("/video/files/variable-frame-rate", test_variable_frame_rate);
  g_test_add_func("/video/files/bad", test_bad_files);
  g_test_add_func("/video/files/lying-header", test_lying_header);
  g_test_add_func("/video/progress-and-cancel", test_progress_and_cancel);
  int status = g_test_run();
  remove_fixtures();
  return status;
}
