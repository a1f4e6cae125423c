/* viewfinder-cli bench first-answer: time to the first answer token for a picture and a question, on
 * synthetic weights in the real model's shape, once from a cold start and once from a warm one.
 *
 *   viewfinder-cli bench first-answer --synthetic 2b|7b [--image WxH] [--prompt N]
 *
 * Each start is a fresh process (this program run again with --child), so nothing stays in memory between
 * them; both use caches in a new temporary folder: the pipeline cache (VF_PIPELINE_CACHE) and Mesa's shader
 * cache (MESA_SHADER_CACHE_DIR, which is where a Mesa driver such as lavapipe keeps its compiled shaders).
 * The cold start finds both empty, the warm start finds what the cold one saved. Timed parts, in order:
 *
 *   device open       vf_device_create
 *   weights           synthetic weights generated on the host and uploaded (a checkpoint would be read)
 *   pipelines         every pipeline the answer uses, created and run once on a one-layer twin of the model
 *                     (same widths and heads, tiny depth and vocabulary) through a 4×4- and an 8×8-patch
 *                     picture, prefills of 22 and 66 tokens and a decode step after each. Drivers may compile at creation or at the first dispatch
 *                     (lavapipe compiles with LLVM at the first dispatch), so both are in this part; the
 *                     twin's arithmetic is negligible next to it.
 *   vision encode     the picture's patches through the tower
 *   prefill           the prompt (text, the picture's tokens, text) through the language model, to the
 *                     logits of the first answer token
 *   first decode step the step after it (records the decode command list, then runs it)
 *
 * Pipelines created after the twin's run are counted and reported (they would mean a part of the answer's
 * graph the twin does not cover).
 */
#define G_LOG_DOMAIN "viewfinder-cli"

#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "vf_llm.h"
#include "vf_positions.h"
#include "vf_preprocess.h"
#include "vf_sampler.h"
#include "vf_synthetic.h"
#include "vf_vision.h"

enum { PART_DEVICE, PART_WEIGHTS, PART_PIPELINES, PART_VISION, PART_PREFILL, PART_DECODE, N_PARTS };

static const char *const part_names[N_PARTS] = {"device open", "weights", "pipelines", "vision encode", "prefill",
                                                "first decode step"};
static const char *const part_keys[N_PARTS] = {"device", "weights", "pipelines", "vision", "prefill", "decode"};

typedef struct {
  double seconds[N_PARTS];
  uint32_t pipelines;         /* created in the pipelines part */
  double create_seconds;      /* of which in vkCreateComputePipelines */
  uint32_t late_pipelines;    /* created after it */
  uint32_t patches, tokens, prompt;
} Timings;

static double
since(gint64 t0)
{
  return (g_get_monotonic_time() - t0) / 1e6;
}

/* One answer's graph: vision encode of `grid`, prefill of `text_before` tokens + the picture + `text_after`,
 * one decode step. `positions_from_grid`: M-RoPE positions as get_rope_index makes them (needs the real
 * special ids in the vocabulary); otherwise sequential positions (the twin, whose vocabulary is tiny). */
static gboolean
run_answer(VfDevice *dev, const VfConfig *config, const VfWeights *weights, const VfGrid *grid, uint32_t text_before,
           uint32_t text_after, gboolean positions_from_grid, double *vision_s, double *prefill_s, double *decode_s,
           GError **error)
{
  uint32_t patches = grid->t * grid->h * grid->w;
  uint32_t tokens = patches / (config->vision.merge_size * config->vision.merge_size);
  uint32_t n = text_before + 2 + tokens + text_after;
  g_autofree int32_t *ids = g_new(int32_t, n);
  g_autofree int32_t *positions = g_new(int32_t, 3 * (size_t)n);
  uint64_t s = 12345;
  uint32_t text_vocab = MIN(config->vocab, 151643u);
  for (uint32_t i = 0; i < n; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    ids[i] = (int32_t)((s >> 33) % text_vocab);
  }
  uint32_t first_pad = text_before + 1;
  if (positions_from_grid) {
    ids[text_before] = config->vision_start_id;
    for (uint32_t i = 0; i < tokens; i++)
      ids[first_pad + i] = config->image_pad_id;
    ids[first_pad + tokens] = config->vision_end_id;
    int32_t delta;
    uint32_t used_images, used_videos;
    if (!vf_positions_compute(config, ids, n, grid, 1, NULL, 0, positions, &delta, &used_images, &used_videos,
                              error))
      return FALSE;
  } else {
    for (uint32_t i = 0; i < n; i++)
      positions[i] = positions[n + i] = positions[2 * n + i] = (int32_t)i;
  }

  VfLlmOptions opts = {.context = n + 16};
  VfVision *vision = vf_vision_create(dev, config, weights, error);
  VfLlm *llm = vision ? vf_llm_create(dev, config, weights, &opts, error) : NULL;
  VfLlmSequence *seq = llm ? vf_llm_sequence_new(llm, error) : NULL;
  gboolean ok = seq != NULL;
  VfBuffer embeds = {.block = -1};
  g_autofree float *logits = g_new(float, config->vocab);
  if (ok) {
    g_autofree float *pixels = vf_cli_random_patches(patches, patches);
    gint64 t0 = g_get_monotonic_time();
    ok = vf_vision_encode(vision, pixels, patches, grid, 1, &embeds, NULL, error);
    *vision_s = since(t0);
  }
  if (ok) {
    VfLlmSplice splice = {.row = first_pad, .rows = tokens, .embeds = embeds};
    VfLlmInput in = {.ids = ids, .positions = positions, .n = n, .splices = &splice, .nsplices = 1};
    gint64 t0 = g_get_monotonic_time();
    ok = vf_llm_prefill(llm, seq, &in, logits, NULL, error);
    *prefill_s = since(t0);
  }
  if (ok) {
    int32_t token = vf_argmax(logits, config->vocab), next;
    int32_t position = positions_from_grid ? positions[n - 1] + 1 : (int32_t)n;
    gint64 t0 = g_get_monotonic_time();
    ok = vf_llm_decode(llm, seq, token, position, NULL, &next, error);
    *decode_s = since(t0);
  }
  if (embeds.block >= 0)
    vf_buffer_release(dev, &embeds);
  vf_llm_sequence_free(seq);
  vf_llm_free(llm);
  vf_vision_free(vision);
  return ok;
}

/* The twin: the real widths and heads (so the same kernels and specialisations), one layer, one vision block,
 * narrow MLPs, a small vocabulary. */
static VfConfig *
twin_config(const char *size, GError **error)
{
  VfConfig *c = vf_config_synthetic(size, error);
  if (!c)
    return NULL;
  c->layers = 1;
  c->intermediate = 256;
  c->vocab = 4096;
  c->vision.depth = 1;
  c->vision.mlp_dim = 256;
  return c;
}

/* One start, in this process: the parts above, printed as one "first-answer:" line of key=seconds. */
static int
child(const char *size, uint32_t width, uint32_t height, uint32_t prompt)
{
  g_autoptr(GError) error = NULL;
  Timings t = {0};
  g_autoptr(VfConfig) config = vf_config_synthetic(size, &error);
  g_autoptr(VfConfig) twin = config ? twin_config(size, &error) : NULL;
  if (!twin) {
    fprintf(stderr, "viewfinder-cli bench first-answer: %s\n", error->message);
    return 2;
  }
  VfImageProcessorConfig pc;
  vf_image_processor_config_default(&pc);
  VfImagePlan plan;
  if (!vf_image_plan(width, height, NULL, &pc, &plan, &error)) {
    fprintf(stderr, "viewfinder-cli bench first-answer: %ux%u: %s\n", width, height, error->message);
    return 2;
  }

  gint64 t0 = g_get_monotonic_time();
  g_autoptr(VfDevice) dev = vf_cli_device(&error);
  t.seconds[PART_DEVICE] = since(t0);
  if (!dev) {
    fprintf(stderr, "viewfinder-cli bench first-answer: %s\n", error->message);
    return 1;
  }

  t0 = g_get_monotonic_time();
  VfWeights *weights = vf_weights_synthetic(dev, config, TRUE, 1, vf_cli_progress, NULL, &error);
  t.seconds[PART_WEIGHTS] = since(t0);
  VfWeights *twin_weights = weights ? vf_weights_synthetic(dev, twin, TRUE, 2, NULL, NULL, &error) : NULL;
  int rc = twin_weights ? 0 : 1;

  if (rc == 0) {
    /* Kernels specialise on size classes (attention splits the keys of short inputs across a subgroup,
     * not of long ones; GEMV below 4 rows): a short and a longer answer cover both sides. */
    VfGrid small = {1, 4, 4}, larger = {1, 8, 8};
    double v, p, d;
    t0 = g_get_monotonic_time();
    if (!run_answer(dev, twin, twin_weights, &small, 4, 2, FALSE, &v, &p, &d, &error) ||
        !run_answer(dev, twin, twin_weights, &larger, 40, 8, FALSE, &v, &p, &d, &error))
      rc = 1;
    t.seconds[PART_PIPELINES] = since(t0);
    VfPipelineStats ps = vf_pipeline_stats(dev);
    t.pipelines = ps.built;
    t.create_seconds = ps.build_seconds;
  }
  vf_weights_free(twin_weights);

  uint32_t text = prompt > 2 ? prompt - 2 : 0;
  if (rc == 0 && !run_answer(dev, config, weights, &plan.grid, text - text / 3, text / 3, TRUE,
                             &t.seconds[PART_VISION], &t.seconds[PART_PREFILL], &t.seconds[PART_DECODE], &error))
    rc = 1;
  if (rc == 0) {
    t.late_pipelines = vf_pipeline_stats(dev).built - t.pipelines;
    t.patches = plan.n_patches;
    t.tokens = plan.n_tokens;
    t.prompt = text + 2 + plan.n_tokens;
    printf("first-answer:");
    for (int i = 0; i < N_PARTS; i++)
      printf(" %s=%.3f", part_keys[i], t.seconds[i]);
    printf(" pipelines_built=%u create=%.3f late=%u patches=%u tokens=%u prompt=%u\n", t.pipelines,
           t.create_seconds, t.late_pipelines, t.patches, t.tokens, t.prompt);
  } else {
    fprintf(stderr, "viewfinder-cli bench first-answer: %s\n", error->message);
  }
  vf_weights_free(weights);
  return rc;
}

static gboolean
parse_child_line(const char *out, Timings *t)
{
  const char *line = strstr(out, "first-answer:");
  if (!line)
    return FALSE;
  g_auto(GStrv) words = g_strsplit_set(line + strlen("first-answer:"), " \n", -1);
  int found = 0;
  for (guint i = 0; words[i]; i++) {
    char *eq = strchr(words[i], '=');
    if (!eq)
      continue;
    *eq = 0;
    double v = g_ascii_strtod(eq + 1, NULL);
    for (int p = 0; p < N_PARTS; p++)
      if (g_str_equal(words[i], part_keys[p]))
        t->seconds[p] = v, found++;
    if (g_str_equal(words[i], "pipelines_built"))
      t->pipelines = (uint32_t)v;
    else if (g_str_equal(words[i], "create"))
      t->create_seconds = v;
    else if (g_str_equal(words[i], "late"))
      t->late_pipelines = (uint32_t)v;
    else if (g_str_equal(words[i], "patches"))
      t->patches = (uint32_t)v;
    else if (g_str_equal(words[i], "tokens"))
      t->tokens = (uint32_t)v;
    else if (g_str_equal(words[i], "prompt"))
      t->prompt = (uint32_t)v;
  }
  return found == N_PARTS;
}

/* Runs one start as a child process with its caches in `cache_dir`. */
static gboolean
run_start(char **child_argv, const char *cache_dir, Timings *t, GError **error)
{
  g_auto(GStrv) env = g_get_environ();
  g_autofree char *ours = g_build_filename(cache_dir, "viewfinder", NULL);
  g_autofree char *mesa = g_build_filename(cache_dir, "mesa", NULL);
  env = g_environ_setenv(env, "VF_PIPELINE_CACHE", ours, TRUE);
  env = g_environ_setenv(env, "MESA_SHADER_CACHE_DIR", mesa, TRUE);
  env = g_environ_unsetenv(env, "MESA_SHADER_CACHE_DISABLE");
  g_autofree char *out = NULL;
  int status = 0;
  if (!g_spawn_sync(NULL, child_argv, env, G_SPAWN_DEFAULT, NULL, NULL, &out, NULL, &status, error))
    return FALSE;
  if (!g_spawn_check_wait_status(status, error)) {
    g_prefix_error(error, "the timed start failed: ");
    return FALSE;
  }
  if (!parse_child_line(out, t)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "the timed start printed no timings");
    return FALSE;
  }
  return TRUE;
}

static void
remove_tree(const char *path)
{
  GDir *dir = g_dir_open(path, 0, NULL);
  if (dir) {
    const char *name;
    while ((name = g_dir_read_name(dir))) {
      g_autofree char *child = g_build_filename(path, name, NULL);
      remove_tree(child);
    }
    g_dir_close(dir);
    g_rmdir(path);
  } else {
    g_unlink(path);
  }
}

int
vf_cli_bench_first_answer(int argc, char **argv)
{
  g_autofree char *size = NULL, *image = NULL;
  int prompt = 32;
  gboolean is_child = FALSE;
  GOptionEntry entries[] = {
    {"synthetic", 0, 0, G_OPTION_ARG_STRING, &size, "random weights in the shape of Qwen2-VL-2B or 7B", "2b|7b"},
    {"image", 0, 0, G_OPTION_ARG_STRING, &image, "picture size before smart_resize (1000x1000)", "WxH"},
    {"prompt", 0, 0, G_OPTION_ARG_INT, &prompt, "text tokens around the picture (32)", "N"},
    {"child", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &is_child, "one timed start (internal)", NULL},
    {NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("— time to the first answer, cold and warm start");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_autoptr(GError) error = NULL;
  uint32_t width = 1000, height = 1000;
  if (!g_option_context_parse(ctx, &argc, &argv, &error) || !size || prompt < 0 || prompt > 100000 ||
      (image && !vf_cli_parse_size(image, &width, &height))) {
    fprintf(stderr, "viewfinder-cli bench first-answer: %s\n",
            error ? error->message : "usage: bench first-answer --synthetic 2b|7b [--image WxH] [--prompt N]");
    return 2;
  }
  if (is_child)
    return child(size, width, height, (uint32_t)prompt);

  g_autofree char *self = g_file_read_link("/proc/self/exe", &error);
  g_autofree char *cache_dir = self ? g_dir_make_tmp("vf-first-answer-XXXXXX", &error) : NULL;
  if (!cache_dir) {
    fprintf(stderr, "viewfinder-cli bench first-answer: %s\n", error->message);
    return 1;
  }
  g_autofree char *size_arg = g_strdup_printf("--synthetic=%s", size);
  g_autofree char *image_arg = g_strdup_printf("--image=%ux%u", width, height);
  g_autofree char *prompt_arg = g_strdup_printf("--prompt=%d", prompt);
  char *child_argv[] = {self, "bench", "first-answer", size_arg, image_arg, prompt_arg, "--child", NULL};

  Timings runs[2] = {{{0}}};
  static const char *const labels[2] = {"cold", "warm"};
  int rc = 0;
  for (int r = 0; r < 2 && rc == 0; r++) {
    fprintf(stderr, "%s start...\n", labels[r]);
    if (!run_start(child_argv, cache_dir, &runs[r], &error)) {
      fprintf(stderr, "viewfinder-cli bench first-answer: %s start: %s\n", labels[r], error->message);
      rc = 1;
    }
  }
  remove_tree(cache_dir);
  if (rc)
    return rc;

  const Timings *c = &runs[0], *w = &runs[1];
  printf("first answer, synthetic Qwen2-VL-%s: picture %ux%u (%u patches, %u tokens), prompt %u tokens\n", size,
         width, height, c->patches, c->tokens, c->prompt);
  printf("caches: a new folder (pipeline cache and Mesa's shader cache), empty for the cold start\n\n");
  printf("%-20s %10s %10s %8s\n", "part", "cold s", "warm s", "cold/warm");
  double total[2] = {0, 0};
  for (int p = 0; p < N_PARTS; p++) {
    printf("%-20s %10.2f %10.2f %8.1f\n", part_names[p], c->seconds[p], w->seconds[p],
           c->seconds[p] / MAX(w->seconds[p], 1e-6));
    if (p != PART_DECODE) {
      total[0] += c->seconds[p];
      total[1] += w->seconds[p];
    }
  }
  printf("%-20s %10.2f %10.2f %8.1f\n", "to the first token", total[0], total[1], total[0] / MAX(total[1], 1e-6));
  printf("\npipelines: %u (cold) / %u (warm) created, of which vkCreateComputePipelines %.2f s / %.2f s; "
         "created later in the answer: %u / %u\n",
         c->pipelines, w->pipelines, c->create_seconds, w->create_seconds, c->late_pipelines, w->late_pipelines);
  return 0;
}
