/* viewfinder-cli bench vision: the vision tower on synthetic weights in the real model's shape.
 *
 *   viewfinder-cli bench vision [--size 2b|7b] [--image WxH]... [--chunk ROWS] [--depth BLOCKS]
 *
 * Each image size goes through smart_resize (qwen-vl-utils defaults) to a grid; random patch rows of that
 * grid are encoded once and timed (wall clock; with VF_PROFILE=1 also GPU time per pipeline). Printed per
 * size: grid, patches, tokens, time, an estimate of the arithmetic rate, and device memory: the encode's
 * own scratch (peak, output included) and the arena's peak, to show that memory grows linearly with the
 * patch count. Default sizes: 500×500 and 1000×1000. A 224×224 encode runs first, untimed, so that
 * pipeline compilation stays out of the numbers. --depth runs fewer blocks than the model has (every block
 * costs the same), to try very large images in reasonable time.
 */
#define G_LOG_DOMAIN "viewfinder-cli"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "vf_preprocess.h"
#include "vf_synthetic.h"
#include "vf_vision.h"

/* Multiply-adds ×2 of one encode: the GEMMs of every row plus attention inside each group. */
static double
encode_flops(const VfVisionConfig *vc, uint32_t patch_dim, const VfGrid *grid)
{
  double n = (double)grid->t * grid->h * grid->w, group = (double)grid->h * grid->w;
  double e = vc->embed_dim, m = vc->mlp_dim, wide = e * vc->merge_size * vc->merge_size;
  double per_row = patch_dim * e + vc->depth * (4 * e * e + 2 * e * m);
  double merger = n / (vc->merge_size * vc->merge_size) * (wide * wide + wide * vc->out_hidden);
  double attention = vc->depth * 2.0 * grid->t * group * group * e; /* q·k and p·v */
  return 2 * (n * per_row + merger + attention);
}

float *
vf_cli_random_patches(uint32_t n, uint64_t seed)
{
  float *pixels = g_new(float, (size_t)n * VF_PATCH_DIM);
  uint64_t s = 0x9e3779b97f4a7c15ull ^ seed;
  for (size_t i = 0; i < (size_t)n * VF_PATCH_DIM; i++) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    pixels[i] = (float)((s >> 40) * (4.0 / 16777216.0) - 2.0);
  }
  return pixels;
}

static gboolean
parse_size(const char *text, uint32_t *width, uint32_t *height)
{
  char *end;
  guint64 w = g_ascii_strtoull(text, &end, 10);
  if (end == text || (*end != 'x' && *end != 'X'))
    return FALSE;
  const char *rest = end + 1;
  guint64 h = g_ascii_strtoull(rest, &end, 10);
  if (end == rest || *end || w == 0 || h == 0 || w > 100000 || h > 100000)
    return FALSE;
  *width = (uint32_t)w;
  *height = (uint32_t)h;
  return TRUE;
}

static int
bench_one(VfDevice *dev, VfVision *vision, const VfConfig *config, const VfWeights *weights, uint32_t width,
          uint32_t height, gboolean quiet)
{
  g_autoptr(GError) error = NULL;
  VfImageProcessorConfig pc;
  vf_image_processor_config_default(&pc);
  VfImagePlan plan;
  if (!vf_image_plan(width, height, NULL, &pc, &plan, &error)) {
    fprintf(stderr, "viewfinder-cli bench vision: %ux%u: %s\n", width, height, error->message);
    return 1;
  }
  uint32_t n = plan.n_patches;
  float *pixels = vf_cli_random_patches(n, n);

  vf_profile_reset();
  VfBuffer out = {0};
  gint64 t0 = g_get_monotonic_time();
  gboolean ok = vf_vision_encode(vision, pixels, n, &plan.grid, 1, &out, NULL, &error);
  double seconds = (g_get_monotonic_time() - t0) / 1e6;
  g_free(pixels);
  if (!ok) {
    fprintf(stderr, "viewfinder-cli bench vision: %s\n", error->message);
    return 1;
  }
  vf_buffer_release(dev, &out);
  if (quiet) {
    fprintf(stderr, "warm-up %ux%u (%u patches, pipeline compilation included): %.2f s\n", width, height, n,
            seconds);
    return 0;
  }

  VfArenaStats stats;
  vf_arena_get_stats(vf_device_arena(dev), &stats);
  uint64_t scratch = vf_vision_scratch_bytes(vision);
  double gflop = encode_flops(&config->vision, VF_PATCH_DIM, &plan.grid) / 1e9;
  printf("image %ux%u -> %ux%u, grid %ux%ux%u: %u patches, %u tokens, %u blocks\n", width, height,
         plan.out_width, plan.out_height, plan.grid.t, plan.grid.h, plan.grid.w, n, plan.n_tokens,
         config->vision.depth);
  printf("  encode %.2f s wall, %.0f GFLOP (%.1f GFLOP/s)\n", seconds, gflop, gflop / seconds);
  printf("  scratch peak %.1f MiB (%.1f KiB per patch); arena peak %.1f MiB of which weights %.1f MiB\n",
         scratch / 1048576.0, scratch / 1024.0 / n, stats.device_bytes_peak / 1048576.0,
         weights->device_bytes / 1048576.0);
  if (vf_profile_enabled())
    vf_profile_print(stdout);
  fflush(stdout);
  return 0;
}

int
vf_cli_bench_vision(int argc, char **argv)
{
  g_autofree char *size = NULL;
  g_auto(GStrv) images = NULL;
  int chunk = 0, depth = 0;
  GOptionEntry entries[] = {
    {"size", 0, 0, G_OPTION_ARG_STRING, &size, "model shape: 2b (default) or 7b", "SIZE"},
    {"image", 0, 0, G_OPTION_ARG_STRING_ARRAY, &images,
     "image size before smart_resize, repeatable (default: 500x500 and 1000x1000)", "WxH"},
    {"chunk", 0, 0, G_OPTION_ARG_INT, &chunk, "rows per row-wise pass (default: the tower's choice)", "ROWS"},
    {"depth", 0, 0, G_OPTION_ARG_INT, &depth, "vision blocks to run (default: all of the model's)", "BLOCKS"},
    {NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("— time the vision tower on synthetic weights");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
    fprintf(stderr, "viewfinder-cli bench vision: %s\n", error->message);
    return 2;
  }
  static const char *default_images[] = {"500x500", "1000x1000", NULL};
  const char *const *list = images ? (const char *const *)images : default_images;
  uint32_t widths[16], heights[16], count = 0;
  for (; list[count]; count++) {
    if (count == G_N_ELEMENTS(widths) || !parse_size(list[count], &widths[count], &heights[count])) {
      fprintf(stderr, "viewfinder-cli bench vision: --image wants WIDTHxHEIGHT (at most %zu of them), not '%s'\n",
              G_N_ELEMENTS(widths), list[count]);
      return 2;
    }
  }
  if (chunk < 0 || depth < 0) {
    fprintf(stderr, "viewfinder-cli bench vision: --chunk and --depth must be positive\n");
    return 2;
  }

  g_autoptr(VfConfig) config = vf_config_synthetic(size ? size : "2b", &error);
  if (!config) {
    fprintf(stderr, "viewfinder-cli bench vision: %s\n", error->message);
    return 2;
  }
  if (depth > 0 && (uint32_t)depth < config->vision.depth)
    config->vision.depth = (uint32_t)depth;
  g_autoptr(VfDevice) dev = vf_cli_device(&error);
  if (!dev) {
    fprintf(stderr, "viewfinder-cli bench vision: %s\n", error->message);
    return 1;
  }
  fprintf(stderr, "making synthetic %s weights...\n", size ? size : "2b");
  VfWeights *weights = vf_weights_synthetic(dev, config, TRUE, 1, vf_cli_progress, NULL, &error);
  if (!weights) {
    fprintf(stderr, "viewfinder-cli bench vision: %s\n", error->message);
    return 1;
  }
  VfVision *vision = vf_vision_create(dev, config, weights, 0, &error);
  int rc = vision ? 0 : 1;
  if (!vision)
    fprintf(stderr, "viewfinder-cli bench vision: %s\n", error->message);
  else
    vf_vision_set_chunk(vision, (uint32_t)chunk);
  if (rc == 0)
    rc = bench_one(dev, vision, config, weights, 224, 224, TRUE);
  for (uint32_t i = 0; i < count && rc == 0; i++)
    rc = bench_one(dev, vision, config, weights, widths[i], heights[i], FALSE);
  vf_vision_free(vision);
  vf_weights_free(weights);
  return rc;
}
