/* The vision tower (model/vf_vision.c) against the reference tensors of the golden cases: the stored
 * pixel_values and image_grid_thw go in, and the case's vision_images.* tensors must come out.
 *
 * Tolerances (tests/data/golden/README.md, "fp32 implementation"):
 *   cu_seqlens              exact (integers)
 *   rot_pos_emb             exact: the same float32 products pos · inv_v as torch (vf_rope_inv_freq is
 *                           torch's inv_freq bit for bit)
 *   patch_embed, block0_out, merger_out   |got − want| ≤ 1e-4 · max|want|. Each value is a chain of f32
 *                           dot products of K ≤ 1176 terms (first-order error ≤ K·2^-24·Σ|terms| ≈ 7e-5·Σ|terms|
 *                           in the worst case, ~√K·2^-24 ≈ 2e-6 relative typically) on both sides; the README's
 *                           1e-4 of max|x| leaves room for the reference's own f32 rounding. The measured
 *                           ratio is printed.
 *
 * Every case runs in several configurations: the device's kernel policy with one chunk, small chunks that
 * cross chunk and group boundaries (windowed attention, cut chunks), and the other kernel family
 * (VF_KERNELS=gpu / cpu: tiled vs texel GEMMs, subgroup vs texel attention, shared vs subgroup
 * reductions), so every variant the tower can reach runs against the reference.
 */
#include <math.h>
#include <string.h>

#include "vf_safetensors.h"
#include "vf_test.h"
#include "vf_vision.h"

static char *
data_path(const char *a, const char *b, const char *c)
{
  return g_build_filename(g_getenv("VF_TEST_DATA"), a, b, c, NULL);
}

typedef struct {
  VfConfig *config;
  VfWeights *weights;
} Model;

/* Loaded per test (the weights must be gone before vf_test_finish frees the device). */
static Model
model_load(const char *name)
{
  Model m;
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = data_path("models", name, NULL);
  m.config = vf_config_load(dir, &error);
  g_assert_no_error(error);
  m.weights = vf_weights_load(vf_test_device(), m.config, dir, NULL, NULL, &error);
  g_assert_no_error(error);
  return m;
}

static void
model_free(Model *m)
{
  vf_weights_free(m->weights);
  vf_config_free(m->config);
}

/* A tensor of the case: its dtype and shape checked, copied out of the (unaligned) mapping. */
static void *
tensor(const VfSafetensors *st, const char *name, VfStDtype dtype, uint32_t rank, const uint64_t *shape)
{
  const VfTensor *t = vf_safetensors_find(st, name);
  g_assert_nonnull(t);
  g_assert_cmpint(t->dtype, ==, dtype);
  g_assert_cmpuint(t->rank, ==, rank);
  for (uint32_t i = 0; i < rank; i++)
    if (shape[i])
      g_assert_cmpuint(t->shape[i], ==, shape[i]);
  return g_memdup2(t->data, t->size);
}

typedef struct {
  uint32_t n, groups, E, H, F; /* patches, groups, widths; F = head_dim / 2 */
  VfGrid *grids;
  uint32_t n_grids;
  float *pixels;               /* [n, 1176] */
  int64_t *cu;                 /* [groups + 1] */
  float *rot, *patch, *block0, *merger; /* rot_pos_emb [n, F], patch_embed / block0_out [n, E], merger_out [n/4, H] */
} Case;

/* kind: "images" or "videos" — which of the case's vision inputs (the tower runs once on each). */
static void
case_load(const char *name, const char *kind, const VfConfig *cfg, Case *c)
{
  memset(c, 0, sizeof *c);
  g_autoptr(GError) error = NULL;
  g_autofree char *path = data_path("golden", "cases", name);
  g_autofree char *file = g_build_filename(path, "tensors.safetensors", NULL);
  g_autoptr(VfSafetensors) st = vf_safetensors_open(file, &error);
  g_assert_no_error(error);
  c->E = cfg->vision.embed_dim;
  c->H = cfg->vision.out_hidden;
  c->F = c->E / cfg->vision.num_heads / 2;
  gboolean videos = g_str_equal(kind, "videos");
  const char *grid_name = videos ? "video_grid_thw" : "image_grid_thw";
  const char *pixels_name = videos ? "pixel_values_videos" : "pixel_values";

  const VfTensor *grid = vf_safetensors_find(st, grid_name);
  g_assert_nonnull(grid);
  c->n_grids = (uint32_t)grid->shape[0];
  g_autofree int64_t *thw = tensor(st, grid_name, VF_ST_I64, 2, (uint64_t[]){c->n_grids, 3});
  c->grids = g_new(VfGrid, c->n_grids);
  for (uint32_t i = 0; i < c->n_grids; i++)
    c->grids[i] = (VfGrid){(uint32_t)thw[3 * i], (uint32_t)thw[3 * i + 1], (uint32_t)thw[3 * i + 2]};
  c->n = (uint32_t)vf_safetensors_find(st, pixels_name)->shape[0];
  c->groups = vf_vision_groups(c->grids, c->n_grids);
  c->pixels = tensor(st, pixels_name, VF_ST_F32, 2, (uint64_t[]){c->n, 1176});
#define NAME(suffix) (g_snprintf(tname, sizeof tname, "vision_%s.%s", kind, suffix), tname)
  char tname[64];
  c->cu = tensor(st, NAME("cu_seqlens"), VF_ST_I64, 1, (uint64_t[]){c->groups + 1});
  c->rot = tensor(st, NAME("rot_pos_emb"), VF_ST_F32, 2, (uint64_t[]){c->n, c->F});
  c->patch = tensor(st, NAME("patch_embed"), VF_ST_F32, 2, (uint64_t[]){c->n, c->E});
  c->block0 = tensor(st, NAME("block0_out"), VF_ST_F32, 2, (uint64_t[]){c->n, c->E});
  c->merger = tensor(st, NAME("merger_out"), VF_ST_F32, 2, (uint64_t[]){c->n / 4, c->H});
#undef NAME
}

static void
case_clear(Case *c)
{
  g_free(c->grids);
  g_free(c->pixels);
  g_free(c->cu);
  g_free(c->rot);
  g_free(c->patch);
  g_free(c->block0);
  g_free(c->merger);
}

/* |got − want| ≤ rel · max|want| everywhere; prints the measured ratio. */
static void
assert_rel_max(const char *what, const float *got, const float *want, size_t n, double rel)
{
  double scale = vf_test_max_abs(want, n), worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    double err = fabs((double)got[i] - want[i]);
    if (!(err <= worst)) { /* NaN counts as worst */
      worst = isnan(err) ? INFINITY : err;
      at = i;
    }
  }
  g_test_message("%s: max error %.3g = %.3g of max|want| %.4g (at %zu)", what, worst, worst / scale, scale, at);
  if (!(worst <= rel * scale)) {
    g_printerr("%s: error %.3g at %zu (got %.9g want %.9g) exceeds %.3g · max|want| = %.3g\n", what, worst, at,
               got[at], want[at], rel, rel * scale);
    g_test_fail();
  }
}

typedef struct {
  const char *name;
  const char *kernels; /* VF_KERNELS for this run; NULL: the device's own policy (or the caller's VF_KERNELS) */
  uint32_t chunk;      /* vf_vision_set_chunk; 0: the default */
} Config;

static void
run_case(const Case *c, const Model *m, const Config *config)
{
  g_autofree char *saved = g_strdup(g_getenv("VF_KERNELS"));
  if (config->kernels)
    g_setenv("VF_KERNELS", config->kernels, TRUE);
  g_autoptr(GError) error = NULL;
  VfVision *vision = vf_vision_create(vf_test_device(), m->config, m->weights, 0, &error);
  g_assert_no_error(error);
  vf_vision_set_chunk(vision, config->chunk);

  size_t ne = (size_t)c->n * c->E, nm = (size_t)c->n / 4 * c->H;
  g_autofree float *patch = g_new(float, ne);
  g_autofree float *block0 = g_new(float, ne);
  g_autofree float *merger = g_new(float, nm);
  g_autofree float *merger_out = g_new(float, nm);
  g_autofree float *rot = g_new(float, (size_t)c->n * c->F);
  g_autofree int32_t *cu = g_new(int32_t, c->groups + 1);
  VfVisionTrace trace = {.patch_embed = patch, .rot_pos_emb = rot, .cu_seqlens = cu, .block0_out = block0,
                         .merger_out = merger};
  VfBuffer out = {0};
  gboolean ok = vf_vision_encode(vision, c->pixels, c->n, c->grids, c->n_grids, &out, &trace, &error);
  g_assert_no_error(error);
  g_assert_true(ok);
  /* The returned buffer holds what the trace saw. */
  g_assert_cmpuint(out.size, >=, nm * 4);
  g_autoptr(GError) dl_error = NULL;
  g_assert_true(vf_buffer_download(vf_test_device(), &out, 0, merger_out, nm * 4, &dl_error));
  g_assert_cmpmem(merger_out, nm * 4, merger, nm * 4);
  vf_buffer_release(vf_test_device(), &out);

  for (uint32_t g = 0; g <= c->groups; g++)
    g_assert_cmpint(cu[g], ==, c->cu[g]);
  g_assert_cmpmem(rot, (size_t)c->n * c->F * 4, c->rot, (size_t)c->n * c->F * 4);
  g_autofree char *prefix = g_strdup_printf("%s [%u patches]", config->name, c->n);
  g_autofree char *w1 = g_strconcat(prefix, " patch_embed", NULL);
  g_autofree char *w2 = g_strconcat(prefix, " block0_out", NULL);
  g_autofree char *w3 = g_strconcat(prefix, " merger_out", NULL);
  assert_rel_max(w1, patch, c->patch, ne, 1e-4);
  assert_rel_max(w2, block0, c->block0, ne, 1e-4);
  assert_rel_max(w3, merger, c->merger, nm, 1e-4);
  g_test_message("%s: scratch %.2f MiB", prefix, vf_vision_scratch_bytes(vision) / 1048576.0);
  vf_vision_free(vision);
  if (saved)
    g_setenv("VF_KERNELS", saved, TRUE);
  else
    g_unsetenv("VF_KERNELS");
}

static const Config configs[] = {
  {"policy", NULL, 0},
  /* 16 rows: three or more chunks per image, chunks that end at a group start, windowed attention. */
  {"chunk 16", NULL, 16},
  {"gpu kernels, chunk 20", "gpu", 20},
  {"cpu kernels", "cpu", 0},
};

static void
test_case(gconstpointer data)
{
  const char *const *spec = data; /* {case, model, kind} */
  Model m = model_load(spec[1]);
  Case c;
  case_load(spec[0], spec[2], m.config, &c);
  for (size_t i = 0; i < G_N_ELEMENTS(configs); i++)
    run_case(&c, &m, &configs[i]);
  case_clear(&c);
  model_free(&m);
}

/* Bad inputs are errors, never crashes, and leave no device memory behind. */
static void
test_errors(void)
{
  Model m = model_load("tiny-a");
  g_autoptr(GError) error = NULL;
  VfVision *vision = vf_vision_create(vf_test_device(), m.config, m.weights, 0, &error);
  g_assert_no_error(error);
  g_autofree float *pixels = vf_test_random(16 * 1176, -1, 1, 3);
  VfArenaStats before, after;
  vf_arena_get_stats(vf_device_arena(vf_test_device()), &before);
  VfBuffer out = {0};

  VfGrid odd = {1, 3, 4}; /* a side that is not a multiple of the merge size */
  g_assert_false(vf_vision_encode(vision, pixels, 12, &odd, 1, &out, NULL, &error));
  g_assert_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_MALFORMED);
  g_clear_error(&error);

  VfGrid grid = {1, 4, 4}; /* 16 patches, but 12 given */
  g_assert_false(vf_vision_encode(vision, pixels, 12, &grid, 1, &out, NULL, &error));
  g_assert_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_MALFORMED);
  g_clear_error(&error);

  g_assert_false(vf_vision_encode(vision, pixels, 0, &grid, 0, &out, NULL, &error));
  g_assert_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_MALFORMED);
  g_clear_error(&error);
  g_assert_null(out.buffer);

  vf_arena_get_stats(vf_device_arena(vf_test_device()), &after);
  g_assert_cmpuint(after.device_bytes_in_use, ==, before.device_bytes_in_use);
  vf_vision_free(vision);
  model_free(&m);
}

/* Groups from grids: t per grid (spec §7.3 examples). */
static void
test_groups(void)
{
  VfGrid two[] = {{1, 4, 8}, {1, 2, 2}};
  g_assert_cmpuint(vf_vision_groups(two, 2), ==, 2);
  VfGrid video[] = {{3, 26, 46}};
  g_assert_cmpuint(vf_vision_groups(video, 1), ==, 3);
}

/* A video-like input (several temporal slices, so several groups per grid) next to an image, with
 * chunks that straddle the groups: the output must not depend on the chunking. */
static void
test_video_groups(void)
{
  Model model = model_load("tiny-b");
  const Model *m = &model;
  VfGrid grids[] = {{3, 4, 6}, {1, 6, 4}}; /* 72 + 24 patches, 4 groups */
  uint32_t n = 96, nm = n / 4 * m->config->vision.out_hidden;
  g_autofree float *pixels = vf_test_random((size_t)n * 1176, -2, 2, 11);
  g_autofree float *want = g_new(float, nm);
  g_autofree float *got = g_new(float, nm);
  int32_t cu[5];
  const uint32_t chunks[] = {0, 8, 28};
  for (size_t i = 0; i < G_N_ELEMENTS(chunks); i++) {
    g_autoptr(GError) error = NULL;
    VfVision *vision = vf_vision_create(vf_test_device(), m->config, m->weights, 0, &error);
    g_assert_no_error(error);
    vf_vision_set_chunk(vision, chunks[i]);
    VfVisionTrace trace = {.merger_out = i == 0 ? want : got, .cu_seqlens = cu};
    VfBuffer out = {0};
    g_assert_true(vf_vision_encode(vision, pixels, n, grids, 2, &out, &trace, &error));
    g_assert_no_error(error);
    vf_buffer_release(vf_test_device(), &out);
    vf_vision_free(vision);
    int32_t want_cu[] = {0, 24, 48, 72, 96};
    g_assert_cmpmem(cu, sizeof cu, want_cu, sizeof want_cu);
    if (i > 0) {
      g_autofree char *what = g_strdup_printf("chunk %u vs one chunk", chunks[i]);
      assert_rel_max(what, got, want, nm, 1e-5);
    }
  }
  /* And encoding each item alone gives the same rows (groups never see each other). */
  g_autoptr(GError) error = NULL;
  VfVision *vision = vf_vision_create(vf_test_device(), m->config, m->weights, 0, &error);
  g_assert_no_error(error);
  VfVisionTrace trace = {.merger_out = got};
  VfBuffer out = {0};
  g_assert_true(vf_vision_encode(vision, pixels + 72 * 1176, 24, &grids[1], 1, &out, &trace, &error));
  vf_buffer_release(vf_test_device(), &out);
  vf_vision_free(vision);
  uint32_t H = m->config->vision.out_hidden;
  assert_rel_max("second item alone", got, want + 18 * H, 6 * H, 1e-6);
  model_free(&model);
}

/* Scratch grows linearly with the patch count: 8 times the patches must cost about 8 times the scratch
 * (a quadratic score matrix would cost 64 times). */
static void
test_scratch_linear(void)
{
  Model model = model_load("tiny-a");
  const Model *m = &model;
  VfGrid small = {1, 16, 16}, large = {1, 32, 64};
  uint64_t bytes[2];
  VfGrid grids[] = {small, large};
  for (int i = 0; i < 2; i++) {
    uint32_t n = grids[i].h * grids[i].w;
    g_autofree float *pixels = vf_test_random((size_t)n * 1176, -2, 2, 5);
    g_autoptr(GError) error = NULL;
    VfVision *vision = vf_vision_create(vf_test_device(), m->config, m->weights, 0, &error);
    VfBuffer out = {0};
    g_assert_true(vf_vision_encode(vision, pixels, n, &grids[i], 1, &out, NULL, &error));
    g_assert_no_error(error);
    vf_buffer_release(vf_test_device(), &out);
    bytes[i] = vf_vision_scratch_bytes(vision);
    vf_vision_free(vision);
  }
  g_test_message("scratch: %" G_GUINT64_FORMAT " bytes for 256 patches, %" G_GUINT64_FORMAT " for 2048",
                 bytes[0], bytes[1]);
  g_assert_cmpuint(bytes[1], <, 9 * bytes[0]); /* 8× plus alignment slack */
  g_assert_cmpuint(bytes[1], >, bytes[0]);
  model_free(&model);
}

/* Encodes `grid` of random pixels (seed) with `vision`; the merger output comes back in a new array. */
static float *
encode_random(VfVision *vision, const Model *m, VfGrid grid, uint64_t seed)
{
  uint32_t n = grid.t * grid.h * grid.w;
  size_t nm = (size_t)n / 4 * m->config->vision.out_hidden;
  g_autofree float *pixels = vf_test_random((size_t)n * 1176, -2, 2, seed);
  float *merger = g_new(float, nm);
  VfVisionTrace trace = {.merger_out = merger};
  VfBuffer out = {0};
  g_autoptr(GError) error = NULL;
  g_assert_true(vf_vision_encode(vision, pixels, n, &grid, 1, &out, &trace, &error));
  g_assert_no_error(error);
  vf_buffer_release(vf_test_device(), &out);
  return merger;
}

/* The scratch is planned once per tower, for the largest item: encodes of different sizes within it plan
 * nothing again and give bit for bit what a tower planned for each alone gives; only a larger item plans
 * again. */
static void
test_scratch_planned_once(void)
{
  Model model = model_load("tiny-a");
  const Model *m = &model;
  VfGrid grids[] = {{1, 16, 16}, {1, 8, 12}, {2, 4, 8}, {1, 32, 64}};
  size_t H = m->config->vision.out_hidden;
  g_autoptr(GError) error = NULL;
  VfVision *vision = vf_vision_create(vf_test_device(), m->config, m->weights, 1024, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(vf_vision_plans(vision), ==, 0);
  for (size_t i = 0; i < G_N_ELEMENTS(grids); i++) {
    VfGrid g = grids[i];
    uint32_t n = g.t * g.h * g.w;
    g_autofree float *got = encode_random(vision, m, g, 20 + i);
    g_assert_cmpuint(vf_vision_plans(vision), ==, n <= 1024 ? 1 : 2);
    VfVision *alone = vf_vision_create(vf_test_device(), m->config, m->weights, 0, &error);
    g_assert_no_error(error);
    g_autofree float *want = encode_random(alone, m, g, 20 + i);
    g_assert_cmpuint(vf_vision_plans(alone), ==, 1);
    vf_vision_free(alone);
    g_assert_cmpmem(got, n / 4 * H * 4, want, n / 4 * H * 4);
  }
  g_test_message("%u scratch plans for %zu encodes (the last past the planned 1024 patches)",
                 vf_vision_plans(vision), G_N_ELEMENTS(grids));
  vf_vision_free(vision);
  model_free(&model);
}

int
main(int argc, char **argv)
{
  vf_test_init(&argc, &argv);
  /* Every case of tests/data with vision tensors. (The video cases a05, a06 and b03 of the full golden set
   * run the same way with kind "videos" once their folders are copied here.) */
  static const char *cases[][3] = {
    {"a02_image_photo", "tiny-a", "images"},          {"a03_image_resized_hw", "tiny-a", "images"},
    {"a04_two_images_vision_id", "tiny-a", "images"}, {"a07_multi_turn", "tiny-a", "images"},
    {"a08_batch_padding", "tiny-a", "images"},        {"b02_image", "tiny-b", "images"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *path = g_strdup_printf("/vision/golden/%s", cases[i][0]);
    g_test_add_data_func(path, cases[i], test_case);
  }
  g_test_add_func("/vision/groups", test_groups);
  g_test_add_func("/vision/video_groups", test_video_groups);
  g_test_add_func("/vision/scratch_linear", test_scratch_linear);
  g_test_add_func("/vision/scratch_planned_once", test_scratch_planned_once);
  g_test_add_func("/vision/errors", test_errors);
  return vf_test_finish();
}
