/* Image preprocessing against the reference pipeline: Pillow's bicubic coefficients (spec §12.3), smart_resize
 * (§3.3), normalisation (§3.6), patch order (§3.7), pad counts (§6.2), and the golden tensors written by
 * transformers 4.45.2 + qwen-vl-utils + Pillow 9.4 (tests/data/golden/cases: preproc_default, a02, a03, a04,
 * a07, a08, b02).
 *
 * The golden tensors are read by a minimal safetensors reader local to this test (U8, I64, F32 only). */
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "vf_preprocess.h"
#include "vf_resample.h"

/* ---- golden files ---------------------------------------------------------------------------------- */

static char *
golden_path(const char *case_name, const char *file)
{
  const char *root = g_getenv("VF_TEST_DATA");
  g_assert_nonnull(root);
  return g_build_filename(root, "golden", "cases", case_name, file, NULL);
}

static JsonNode *
read_case_json(const char *case_name)
{
  g_autofree char *path = golden_path(case_name, "case.json");
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) error = NULL;
  json_parser_load_from_file(parser, path, &error);
  g_assert_no_error(error);
  return json_node_copy(json_parser_get_root(parser));
}

/* safetensors: u64 LE header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}},
 * then the data; offsets are relative to the end of the header. */
typedef struct {
  GMappedFile *file;
  JsonNode *header;
  const uint8_t *data;
  size_t data_size;
} Tensors;

static Tensors *
tensors_open(const char *case_name)
{
  g_autofree char *path = golden_path(case_name, "tensors.safetensors");
  g_autoptr(GError) error = NULL;
  Tensors *t = g_new0(Tensors, 1);
  t->file = g_mapped_file_new(path, FALSE, &error);
  g_assert_no_error(error);
  const uint8_t *bytes = (const uint8_t *)g_mapped_file_get_contents(t->file);
  size_t size = g_mapped_file_get_length(t->file);
  g_assert_cmpuint(size, >=, 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--)
    n = n << 8 | bytes[i];
  g_assert_cmpuint(n, <=, size - 8);
  g_autoptr(JsonParser) parser = json_parser_new();
  json_parser_load_from_data(parser, (const char *)bytes + 8, (gssize)n, &error);
  g_assert_no_error(error);
  t->header = json_node_copy(json_parser_get_root(parser));
  t->data = bytes + 8 + n;
  t->data_size = size - 8 - n;
  return t;
}

static void
tensors_close(Tensors *t)
{
  json_node_unref(t->header);
  g_mapped_file_unref(t->file);
  g_free(t);
}

/* A copy of tensor `name` (the file's data need not be aligned for its type), checking its dtype; shape[]
 * gets up to 4 dims, *rank their count. Free with g_free. */
static void *
tensor_get(const Tensors *t, const char *name, const char *dtype, int64_t shape[4], guint *rank)
{
  JsonObject *root = json_node_get_object(t->header);
  g_assert_true(json_object_has_member(root, name));
  JsonObject *info = json_object_get_object_member(root, name);
  g_assert_cmpstr(json_object_get_string_member(info, "dtype"), ==, dtype);
  JsonArray *dims = json_object_get_array_member(info, "shape");
  *rank = json_array_get_length(dims);
  g_assert_cmpuint(*rank, <=, 4);
  size_t count = 1;
  for (guint i = 0; i < *rank; i++) {
    shape[i] = json_array_get_int_element(dims, i);
    count *= (size_t)shape[i];
  }
  JsonArray *offsets = json_object_get_array_member(info, "data_offsets");
  size_t begin = (size_t)json_array_get_int_element(offsets, 0), end = (size_t)json_array_get_int_element(offsets, 1);
  size_t element = !strcmp(dtype, "U8") ? 1 : !strcmp(dtype, "F32") ? 4 : 8;
  g_assert_cmpuint(end - begin, ==, count * element);
  g_assert_cmpuint(end, <=, t->data_size);
  return g_memdup2(t->data + begin, end - begin);
}

/* ---- unit vectors ---------------------------------------------------------------------------------- */

typedef struct {
  uint32_t out, first, count;
  int32_t w[5];
} CoeffCase;

static void
check_coeffs(uint32_t in, uint32_t out, const CoeffCase *cases, size_t n)
{
  g_autoptr(VfResampleAxis) ax = vf_resample_axis_new(in, out);
  g_assert_cmpuint(ax->out_size, ==, out);
  for (size_t i = 0; i < n; i++) {
    const CoeffCase *c = &cases[i];
    g_assert_cmpuint(ax->first[c->out], ==, c->first);
    g_assert_cmpuint(ax->count[c->out], ==, c->count);
    for (uint32_t k = 0; k < c->count; k++)
      g_assert_cmpint(ax->weights[c->out * ax->max_taps + k], ==, c->w[k]);
  }
}

/* Spec §12.3: Pillow's fixed-point weights, including rows that do not sum to 2^22. */
static void
test_bicubic_coefficients(void)
{
  static const CoeffCase up[] = {
      {0, 0, 2, {4298149, -103845}},
      {1, 0, 3, {521939, 3907232, -234867}},
      {2, 0, 4, {-110162, 1042689, 3562887, -301110}},
      {56, 48, 4, {-5696, 135455, 4165178, -100633}},
      {111, 98, 2, {-103845, 4298149}},
  };
  check_coeffs(100, 112, up, G_N_ELEMENTS(up));
  static const CoeffCase down[] = {
      {0, 0, 3, {3403189, 1008933, -217818}},
      {1, 0, 4, {-134390, 2706056, 1866532, -243893}},
      {2, 1, 5, {-244765, 1873200, 2715724, -134870, -14986}},
      {28, 33, 5, {-106506, 231608, 3301683, 978840, -211321}},
      {55, 67, 3, {-217818, 1008933, 3403189}},
  };
  check_coeffs(70, 56, down, G_N_ELEMENTS(down));
}

/* Spec §3.3 table (W×H input → H×W) and its HF column. */
static void
test_smart_resize_table(void)
{
  static const struct {
    uint32_t w, h, qh, qw;
    gboolean hf_error;
  } cases[] = {
      {100, 70, 56, 112, FALSE},     {640, 480, 476, 644, FALSE},     {500, 375, 364, 504, FALSE},
      {1920, 1080, 1092, 1932, FALSE}, {4000, 3000, 2996, 4004, FALSE}, {3024, 4032, 4032, 3024, FALSE},
      {8192, 8192, 3584, 3584, FALSE}, {28, 28, 56, 56, FALSE},       {42, 42, 56, 56, FALSE},
      {70, 70, 56, 56, FALSE},         {20, 20, 56, 56, TRUE},         {30, 20, 56, 84, TRUE},
      {1000, 10, 28, 1008, TRUE},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    uint32_t h = 0, w = 0;
    g_autoptr(GError) error = NULL;
    g_assert_true(vf_smart_resize(VF_SMART_RESIZE_QVU, cases[i].h, cases[i].w, 28, VF_QVU_MIN_PIXELS,
                                  VF_QVU_MAX_PIXELS, &h, &w, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(h, ==, cases[i].qh);
    g_assert_cmpuint(w, ==, cases[i].qw);
    gboolean ok =
        vf_smart_resize(VF_SMART_RESIZE_HF, cases[i].h, cases[i].w, 28, 3136, 12845056, &h, &w, &error);
    if (cases[i].hf_error) {
      g_assert_false(ok);
      g_assert_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_BAD_SIZE);
      g_assert_nonnull(strstr(error->message, "must be larger than factor:28"));
    } else {
      g_assert_true(ok);
      g_assert_cmpuint(h, ==, cases[i].qh);
      g_assert_cmpuint(w, ==, cases[i].qw);
    }
  }
  /* Token counts of the table: (H/28)·(W/28). */
  VfImageProcessorConfig cfg;
  vf_image_processor_config_default(&cfg);
  VfImagePlan plan;
  g_assert_true(vf_image_plan(4000, 3000, NULL, &cfg, &plan, NULL));
  g_assert_cmpuint(plan.grid.t, ==, 1);
  g_assert_cmpuint(plan.grid.h, ==, 214);
  g_assert_cmpuint(plan.grid.w, ==, 286);
  g_assert_cmpuint(plan.n_tokens, ==, 15301);
  g_assert_true(vf_image_plan(8192, 8192, NULL, &cfg, &plan, NULL));
  g_assert_cmpuint(plan.n_tokens, ==, 16384);

  /* Ratio 200 passes, just over fails; the message is qwen-vl-utils'. */
  uint32_t h, w;
  g_assert_true(vf_smart_resize(VF_SMART_RESIZE_QVU, 20, 4000, 28, 3136, 12845056, &h, &w, NULL));
  g_autoptr(GError) error = NULL;
  g_assert_false(vf_smart_resize(VF_SMART_RESIZE_QVU, 20, 4001, 28, 3136, 12845056, &h, &w, &error));
  g_assert_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_ASPECT_RATIO);
  g_assert_nonnull(strstr(error->message, "absolute aspect ratio must be smaller than 200"));
  g_clear_error(&error);
  /* A max_pixels too small for the shape floors a side to 0. */
  g_assert_false(vf_smart_resize(VF_SMART_RESIZE_QVU, 41, 997, 28, 784, 3136, &h, &w, &error));
  g_assert_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_BAD_SIZE);
}

/* Per-image options as qwen-vl-utils reads them, and the processor's second resize (spec §3.5). */
static void
test_plan_options(void)
{
  VfImageProcessorConfig cfg;
  vf_image_processor_config_default(&cfg);
  VfImagePlan plan;
  /* a03: resized_height 100, resized_width 150 on a 640×427 photo → 112×140 (min/max ignored). */
  VfImageOptions o = {.resized_height = 100, .resized_width = 150, .max_pixels = 3136};
  g_assert_true(vf_image_plan(640, 427, &o, &cfg, &plan, NULL));
  g_assert_cmpuint(plan.out_height, ==, 112);
  g_assert_cmpuint(plan.out_width, ==, 140);
  g_assert_cmpuint(plan.n_tokens, ==, 20);
  /* Only one of the two: ignored, like qwen-vl-utils. */
  VfImageOptions one = {.resized_height = 100};
  g_assert_true(vf_image_plan(640, 427, &one, &cfg, &plan, NULL));
  g_assert_cmpuint(plan.out_height, ==, 420);
  g_assert_cmpuint(plan.out_width, ==, 644);
  /* a02: max_pixels 20000 on 451×300 → 112×168. */
  VfImageOptions a02 = {.min_pixels = 3136, .max_pixels = 20000};
  g_assert_true(vf_image_plan(451, 300, &a02, &cfg, &plan, NULL));
  g_assert_cmpuint(plan.fetch_height, ==, 112);
  g_assert_cmpuint(plan.fetch_width, ==, 168);
  g_assert_cmpuint(plan.out_height, ==, 112);
  g_assert_cmpuint(plan.n_patches, ==, 96);
  /* A processor narrower than the message resizes a second time: 20000 px of qvu, then 6000 of HF. */
  VfImageProcessorConfig narrow = cfg;
  narrow.max_pixels = 6000;
  g_assert_true(vf_image_plan(451, 300, &a02, &narrow, &plan, NULL));
  g_assert_cmpuint(plan.fetch_height, ==, 112);
  g_assert_cmpuint(plan.fetch_width, ==, 168);
  g_assert_cmpuint(plan.out_height, ==, 56);
  g_assert_cmpuint(plan.out_width, ==, 84);
  g_assert_cmpuint(plan.n_tokens, ==, 6);
}

/* The processor's second resize runs on the qwen-vl-utils result, not on the source (spec §3.5): a processor
 * limit of 6000 px after a message limit of 20000 px resamples 451×300 → 168×112 → 84×56. */
static void
test_second_resize(void)
{
  g_autofree char *path = golden_path("a02_image_photo", "chelsea.png");
  VfImageProcessorConfig narrow;
  vf_image_processor_config_default(&narrow);
  narrow.max_pixels = 6000;
  VfImageOptions opt = {.min_pixels = 3136, .max_pixels = 20000};
  g_autoptr(GError) error = NULL;
  g_autoptr(VfImageInput) in = vf_image_input_new(path, &opt, &narrow, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(in->resized->width, ==, 84);
  g_assert_cmpuint(in->resized->height, ==, 56);
  g_assert_cmpuint(in->plan.n_patches, ==, 24);

  g_autoptr(VfImage) decoded = vf_image_load(path, &error);
  g_assert_no_error(error);
  g_autofree uint8_t *fetched = g_new(uint8_t, 168 * 112 * 3), *twice = g_new(uint8_t, 84 * 56 * 3),
                     *once = g_new(uint8_t, 84 * 56 * 3);
  g_assert_true(vf_resample_bicubic_rgb8(decoded->rgb, 451, 300, fetched, 168, 112, NULL));
  g_assert_true(vf_resample_bicubic_rgb8(fetched, 168, 112, twice, 84, 56, NULL));
  g_assert_cmpmem(in->resized->rgb, 84 * 56 * 3, twice, 84 * 56 * 3);
  /* Resampling twice is not resampling once: the test would notice a pipeline that skipped the first. */
  g_assert_true(vf_resample_bicubic_rgb8(decoded->rgb, 451, 300, once, 84, 56, NULL));
  g_assert_true(memcmp(once, twice, 84 * 56 * 3) != 0);
}

/* Spec §3.6 table: float32 bit patterns and values. */
static void
test_normalize_values(void)
{
  VfImageProcessorConfig cfg;
  vf_image_processor_config_default(&cfg);
  VfNormalizeTable t;
  vf_normalize_table_init(&t, &cfg);
  static const uint32_t bits0[3] = {0xbfe568dc, 0xbfe044b8, 0xbfbd77d8};
  static const uint32_t bits255[3] = {0x3ff71541, 0x4004cae5, 0x40095660};
  for (int c = 0; c < 3; c++) {
    uint32_t b0, b255;
    memcpy(&b0, &t.value[c][0], 4);
    memcpy(&b255, &t.value[c][255], 4);
    g_assert_cmphex(b0, ==, bits0[c]);
    g_assert_cmphex(b255, ==, bits255[c]);
  }
  static const struct {
    int u;
    float v[3];
  } rows[] = {
      {1, {-1.7776641f, -1.7370893f, -1.4659997f}},
      {127, {0.0617376f, 0.1538894f, 0.3257286f}},
      {128, {0.0763361f, 0.1688973f, 0.3399488f}},
  };
  /* The table prints 8 significant digits: agreement to 1e-7 relative. */
  for (size_t i = 0; i < G_N_ELEMENTS(rows); i++)
    for (int c = 0; c < 3; c++)
      g_assert_cmpfloat_with_epsilon(t.value[c][rows[i].u], rows[i].v[c], 2e-7);
}

/* Spec §3.7: rows walk 2×2 merge windows; columns are (channel, temporal, py, px). A 56×112 frame whose pixels
 * encode their own patch and position shows where each value lands; a second frame checks the temporal
 * column order. */
static void
test_patch_order(void)
{
  enum { H = 56, W = 112 };
  g_autofree uint8_t *f0 = g_new(uint8_t, H * W * 3), *f1 = g_new(uint8_t, H * W * 3);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      uint8_t *p = f0 + (y * W + x) * 3, *q = f1 + (y * W + x) * 3;
      p[0] = (uint8_t)(y / 14 * 8 + x / 14); /* patch index in the 4×8 grid */
      p[1] = (uint8_t)(y % 14 * 14 + x % 14); /* position inside the patch: 0…195 */
      p[2] = 7;
      q[0] = p[0];
      q[1] = p[1];
      q[2] = 9;
    }
  /* Identity "normalisation" to read the bytes back. */
  VfNormalizeTable id;
  for (int c = 0; c < 3; c++)
    for (int u = 0; u < 256; u++)
      id.value[c][u] = (float)u;
  const uint8_t *frames[2] = {f0, f1};
  g_autofree float *pv = g_new(float, 32 * VF_PATCH_DIM);
  vf_patchify_rgb8(frames, 2, H, W, &id, pv);
  static const int hw[32][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3},
                                {0, 4}, {0, 5}, {1, 4}, {1, 5}, {0, 6}, {0, 7}, {1, 6}, {1, 7},
                                {2, 0}, {2, 1}, {3, 0}, {3, 1}, {2, 2}, {2, 3}, {3, 2}, {3, 3},
                                {2, 4}, {2, 5}, {3, 4}, {3, 5}, {2, 6}, {2, 7}, {3, 6}, {3, 7}};
  for (int r = 0; r < 32; r++) {
    const float *row = pv + r * VF_PATCH_DIM;
    for (int tp = 0; tp < 2; tp++)
      for (int k = 0; k < 196; k++) {
        g_assert_cmpfloat(row[(0 * 2 + tp) * 196 + k], ==, hw[r][0] * 8 + hw[r][1]);
        g_assert_cmpfloat(row[(1 * 2 + tp) * 196 + k], ==, k);
        g_assert_cmpfloat(row[(2 * 2 + tp) * 196 + k], ==, tp ? 9 : 7);
      }
  }
  /* Four frames: temporal slice gt takes frames 2gt, 2gt+1, and its rows follow all rows of gt − 1. */
  const uint8_t *four[4] = {f0, f1, f1, f0};
  g_autofree float *pv4 = g_new(float, 64 * VF_PATCH_DIM);
  vf_patchify_rgb8(four, 4, H, W, &id, pv4);
  g_assert_cmpmem(pv4, 32 * VF_PATCH_DIM * sizeof(float), pv, 32 * VF_PATCH_DIM * sizeof(float));
  g_assert_cmpfloat(pv4[32 * VF_PATCH_DIM + 4 * 196], ==, 9); /* row 32, channel 2, tp 0: frame 2 = f1 */
  g_assert_cmpfloat(pv4[32 * VF_PATCH_DIM + 5 * 196], ==, 7); /* tp 1: frame 3 = f0 */
}

/* Spec §6.2 and the example of §12.1. */
static void
test_grid_token_count(void)
{
  g_assert_cmpuint(vf_grid_token_count((VfGrid){1, 4, 8}), ==, 8);
  g_assert_cmpuint(vf_grid_token_count((VfGrid){3, 26, 46}), ==, 897);
  g_assert_cmpuint(vf_grid_token_count((VfGrid){1, 2, 72}), ==, 36);
}

/* ---- golden ------------------------------------------------------------------------------------------ */

static void
assert_u8_equal(const char *what, const uint8_t *got, const uint8_t *want, size_t n)
{
  size_t diff = 0, first = n;
  for (size_t i = 0; i < n; i++)
    if (got[i] != want[i]) {
      diff++;
      if (first == n)
        first = i;
    }
  if (diff)
    g_error("%s: %zu of %zu bytes differ, first at %zu: %u vs %u", what, diff, n, first, got[first], want[first]);
}

static double
max_abs_diff(const float *a, const float *b, size_t n)
{
  double m = 0;
  for (size_t i = 0; i < n; i++)
    m = fmax(m, fabs((double)a[i] - b[i]));
  return m;
}

/* Preprocessing alone, default settings, six images of every mode (RGB JPEG, RGBA, P, L, a 997×41 strip and
 * a 20×30 image the HF path alone would refuse): the decode, the resize and pixel_values. */
static void
test_golden_preproc_default(void)
{
  g_autoptr(JsonNode) root = read_case_json("preproc_default");
  Tensors *t = tensors_open("preproc_default");
  JsonArray *images = json_object_get_array_member(json_node_get_object(root), "images");
  VfImageProcessorConfig cfg;
  vf_image_processor_config_default(&cfg);
  g_assert_cmpuint(json_array_get_length(images), ==, 6);
  for (guint k = 0; k < json_array_get_length(images); k++) {
    JsonObject *img = json_array_get_object_element(images, k);
    g_autofree char *path = golden_path("preproc_default", json_object_get_string_member(img, "file"));
    int64_t shape[4];
    guint rank;
    g_autofree char *name = g_strdup_printf("img%u.decoded_rgb_u8", k);
    g_autofree uint8_t *decoded = tensor_get(t, name, "U8", shape, &rank);
    g_autoptr(GError) error = NULL;
    g_autoptr(VfImage) image = vf_image_load(path, &error);
    g_assert_no_error(error);
    g_assert_cmpint(image->height, ==, shape[0]);
    g_assert_cmpint(image->width, ==, shape[1]);
    assert_u8_equal(name, image->rgb, decoded, (size_t)image->width * image->height * 3);

    g_autoptr(VfImageInput) in = vf_image_input_new(path, NULL, &cfg, &error);
    g_assert_no_error(error);
    g_free(name);
    name = g_strdup_printf("img%u.resized_rgb_u8", k);
    g_autofree uint8_t *resized = tensor_get(t, name, "U8", shape, &rank);
    g_assert_cmpint(in->resized->height, ==, shape[0]);
    g_assert_cmpint(in->resized->width, ==, shape[1]);
    assert_u8_equal(name, in->resized->rgb, resized, (size_t)shape[0] * shape[1] * 3);

    g_free(name);
    name = g_strdup_printf("img%u.image_grid_thw", k);
    g_autofree int64_t *grid = tensor_get(t, name, "I64", shape, &rank);
    g_assert_cmpint(grid[0], ==, in->plan.grid.t);
    g_assert_cmpint(grid[1], ==, in->plan.grid.h);
    g_assert_cmpint(grid[2], ==, in->plan.grid.w);
    JsonArray *thw = json_object_get_array_member(img, "image_grid_thw");
    g_assert_cmpint(json_array_get_int_element(thw, 1), ==, in->plan.grid.h);
    g_assert_cmpint(json_object_get_int_member(img, "num_llm_tokens"), ==, in->plan.n_tokens);

    g_free(name);
    name = g_strdup_printf("img%u.pixel_values", k);
    g_autofree float *pv = tensor_get(t, name, "F32", shape, &rank);
    g_assert_cmpint(shape[0], ==, in->plan.n_patches);
    g_assert_cmpint(shape[1], ==, VF_PATCH_DIM);
    /* Same u8 input, same float32 operations in the same order: the tolerance of the brief (1e-5) is met
     * with room; in practice the values are bit-identical. */
    double d = max_abs_diff(in->pixel_values, pv, (size_t)shape[0] * shape[1]);
    g_test_message("%s: max abs diff %g", name, d);
    g_assert_cmpfloat(d, <=, 1e-5);

    /* The plan from the header alone agrees with the decoded pipeline. */
    VfImagePlan plan;
    g_assert_true(vf_image_plan_source(path, NULL, &cfg, &plan, &error));
    g_assert_cmpmem(&plan, sizeof plan, &in->plan, sizeof plan);
  }
  tensors_close(t);
}

/* The image elements of a qwen-vl-utils conversation (or batch of them) in order (spec §6.3). */
static void
collect_images(JsonNode *messages, GPtrArray *out)
{
  JsonArray *list = json_node_get_array(messages);
  for (guint i = 0; i < json_array_get_length(list); i++) {
    JsonNode *item = json_array_get_element(list, i);
    if (JSON_NODE_HOLDS_ARRAY(item)) { /* a batch: one conversation per row */
      collect_images(item, out);
      continue;
    }
    JsonObject *msg = json_node_get_object(item);
    JsonNode *content = json_object_get_member(msg, "content");
    if (!JSON_NODE_HOLDS_ARRAY(content))
      continue;
    JsonArray *parts = json_node_get_array(content);
    for (guint j = 0; j < json_array_get_length(parts); j++) {
      JsonObject *part = json_array_get_object_element(parts, j);
      if (json_object_has_member(part, "image"))
        g_ptr_array_add(out, part);
    }
  }
}

static int64_t
count_id(JsonArray *ids, int64_t id)
{
  int64_t n = 0;
  for (guint i = 0; i < json_array_get_length(ids); i++) {
    JsonNode *e = json_array_get_element(ids, i);
    if (JSON_NODE_HOLDS_ARRAY(e))
      n += count_id(json_node_get_array(e), id);
    else
      n += json_node_get_int(e) == id;
  }
  return n;
}

/* A model-forward case: every image element with its own options, the resized images, the concatenated
 * pixel_values, the grids and the number of image pad tokens in input_ids. */
static void
test_golden_case(gconstpointer data)
{
  const char *case_name = data;
  g_autoptr(JsonNode) root = read_case_json(case_name);
  JsonObject *c = json_node_get_object(root);
  Tensors *t = tensors_open(case_name);
  g_autoptr(GPtrArray) elements = g_ptr_array_new();
  collect_images(json_object_get_member(c, "messages"), elements);
  g_assert_cmpuint(elements->len, >, 0);

  int64_t shape[4];
  guint rank;
  g_autofree float *pv = tensor_get(t, "pixel_values", "F32", shape, &rank);
  int64_t total_rows = shape[0];
  g_autofree int64_t *grids = tensor_get(t, "image_grid_thw", "I64", shape, &rank);
  g_assert_cmpint(shape[0], ==, elements->len);

  VfImageProcessorConfig cfg;
  vf_image_processor_config_default(&cfg);
  int64_t row = 0, tokens = 0;
  for (guint k = 0; k < elements->len; k++) {
    JsonObject *e = elements->pdata[k];
    VfImageOptions opt = {0};
    if (json_object_has_member(e, "min_pixels"))
      opt.min_pixels = (uint64_t)json_object_get_int_member(e, "min_pixels");
    if (json_object_has_member(e, "max_pixels"))
      opt.max_pixels = (uint64_t)json_object_get_int_member(e, "max_pixels");
    if (json_object_has_member(e, "resized_height"))
      opt.resized_height = (uint32_t)json_object_get_int_member(e, "resized_height");
    if (json_object_has_member(e, "resized_width"))
      opt.resized_width = (uint32_t)json_object_get_int_member(e, "resized_width");
    g_autofree char *path = golden_path(case_name, json_object_get_string_member(e, "image"));
    g_autoptr(GError) error = NULL;
    g_autoptr(VfImageInput) in = vf_image_input_new(path, &opt, &cfg, &error);
    g_assert_no_error(error);

    g_autofree char *name = g_strdup_printf("image%u.resized_rgb_u8", k);
    g_autofree uint8_t *resized = tensor_get(t, name, "U8", shape, &rank);
    g_assert_cmpint(in->resized->height, ==, shape[0]);
    g_assert_cmpint(in->resized->width, ==, shape[1]);
    assert_u8_equal(name, in->resized->rgb, resized, (size_t)shape[0] * shape[1] * 3);

    g_assert_cmpint(grids[3 * k + 0], ==, in->plan.grid.t);
    g_assert_cmpint(grids[3 * k + 1], ==, in->plan.grid.h);
    g_assert_cmpint(grids[3 * k + 2], ==, in->plan.grid.w);
    g_assert_cmpint(row + in->plan.n_patches, <=, total_rows);
    double d = max_abs_diff(in->pixel_values, pv + row * VF_PATCH_DIM, (size_t)in->plan.n_patches * VF_PATCH_DIM);
    g_test_message("%s image %u: pixel_values max abs diff %g", case_name, k, d);
    g_assert_cmpfloat(d, <=, 1e-5);
    row += in->plan.n_patches;
    tokens += vf_grid_token_count(in->plan.grid);
  }
  g_assert_cmpint(row, ==, total_rows);
  /* tiny-b cases remap the special ids: <|image_pad|> 151655 → 4092. */
  int64_t pad = json_object_has_member(c, "id_mapping") ? 4092 : 151655;
  g_assert_cmpint(count_id(json_object_get_array_member(c, "input_ids"), pad), ==, tokens);
  tensors_close(t);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/preprocess/bicubic-coefficients", test_bicubic_coefficients);
  g_test_add_func("/preprocess/smart-resize-table", test_smart_resize_table);
  g_test_add_func("/preprocess/plan-options", test_plan_options);
  g_test_add_func("/preprocess/second-resize", test_second_resize);
  g_test_add_func("/preprocess/normalize-values", test_normalize_values);
  g_test_add_func("/preprocess/patch-order", test_patch_order);
  g_test_add_func("/preprocess/grid-token-count", test_grid_token_count);
  g_test_add_func("/preprocess/golden/preproc-default", test_golden_preproc_default);
  static const char *const cases[] = {"a02_image_photo",   "a03_image_resized_hw", "a04_two_images_vision_id",
                                      "a07_multi_turn",    "a08_batch_padding",    "b02_image"};
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *path = g_strdup_printf("/preprocess/golden/%s", cases[i]);
    g_test_add_data_func(path, cases[i], test_golden_case);
  }
  return g_test_run();
}
