/* "Will it fit?": vf_memory_plan against what the loaders really allocate on the test models (16-bit and
 * quantized), the refusal message, and vf_model_load refusing before any weight is read. */
#include <string.h>

#include "quantize_model.h"
#include "st_write.h"
#include "vf_memory_plan.h"
#include "vf_model.h"
#include "vf_test.h"

static uint64_t
device_in_use(void)
{
  VfArenaStats s;
  vf_arena_get_stats(vf_device_arena(vf_test_device()), &s);
  return s.device_bytes_in_use;
}

/* The plan's weights equal vf_weights_load's uploads byte for byte; KV cache and scratch equal what
 * vf_llm_create allocates, up to the arena's rounding of each buffer. */
static void
check_plan_against_load(const char *dir)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VfConfig) c = vf_config_load(dir, &error);
  g_assert_no_error(error);
  const uint32_t context = 1000;
  VfMemoryPlan plan;
  vf_memory_plan(c, context, true, &plan);
  uint64_t before = device_in_use();
  VfWeights *w = vf_weights_load(vf_test_device(), c, dir, NULL, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(w->host_bytes, ==, plan.host_weights);
  g_assert_cmpuint(w->device_bytes - w->host_bytes, ==, plan.llm_weights + plan.vision_weights);
  uint64_t weights = device_in_use() - before;
  VfLlmOptions opts = {.context = context};
  VfLlm *llm = vf_llm_create(vf_test_device(), c, w, &opts, &error);
  g_assert_no_error(error);
  uint64_t runtime = device_in_use() - before - weights;
  g_assert_cmpuint(vf_llm_cache_bytes(llm), ==, plan.kv_cache);
  const uint64_t buffers = 16 + 2 * c->layers;
  g_assert_cmpuint(runtime, >=, plan.kv_cache + plan.llm_scratch);
  g_assert_cmpuint(runtime, <=, plan.kv_cache + plan.llm_scratch + buffers * VF_ARENA_ALIGN);
  g_test_message("%s: planned %.3f MB of weights, %.3f MB of KV cache and scratch; allocated %.3f / %.3f MB", dir,
                 (plan.llm_weights + plan.vision_weights) / 1e6, (plan.kv_cache + plan.llm_scratch) / 1e6,
                 weights / 1e6, runtime / 1e6);
  vf_llm_free(llm);
  vf_weights_free(w);
}

static void
test_plan_matches_load(void)
{
  g_autofree char *a = st_model_dir("tiny-a"), *b = st_model_dir("tiny-b");
  check_plan_against_load(a);
  check_plan_against_load(b);
  g_autofree char *root = st_make_temp_dir();
  const char *formats[] = {"gptq-int4", "gptq-int8", "awq"};
  for (size_t i = 0; i < G_N_ELEMENTS(formats); i++) {
    g_autofree char *q = g_build_filename(root, formats[i], NULL), *d = g_build_filename(root, "d", NULL);
    VfQuantizeOptions opts;
    g_assert_true(vf_quantize_parse_format(formats[i], &opts));
    opts.act_order = i == 0;
    g_autoptr(GError) error = NULL;
    g_assert_true(vf_quantize_model(b, q, d, &opts, &error));
    check_plan_against_load(q);
  }
  st_remove_dir(root);
}

/* The published shapes: 7B GPTQ-Int4 with its vision tower fits 7.0 GB at 4096 tokens, 72B AWQ 46 GB. */
static void
test_plan_published_models(void)
{
  /* 7B: hidden 3584, intermediate 18944, 28 layers, 28 heads, 4 KV heads, vocab 152064, untied. */
  VfConfig c = {.hidden = 3584, .intermediate = 18944, .layers = 28, .heads = 28, .kv_heads = 4, .head_dim = 128,
                .vocab = 152064, .max_pixels = 12845056,
                .vision = {.depth = 32, .embed_dim = 1280, .num_heads = 16, .mlp_dim = 5120, .out_hidden = 3584,
                           .patch_size = 14, .temporal_patch = 2, .merge_size = 2, .in_channels = 3},
                .quant = {.method = VF_QUANT_GPTQ, .bits = 4, .group_size = 128, .sym = true}};
  VfMemoryPlan p;
  vf_memory_plan(&c, 4096, true, &p);
  g_test_message("7B GPTQ-Int4 + vision at 4096: %.2f GB (host: %.2f GB)", p.total / 1e9, p.host_weights / 1e9);
  g_assert_cmpuint(p.total, <=, 7000000000u);
  g_assert_cmpuint(p.host_weights, ==, 152064ull * 3584 * 2);
  /* 72B AWQ: hidden 8192, intermediate padded to 29696, 80 layers, 64 heads, 8 KV heads. */
  c.hidden = c.vision.out_hidden = 8192, c.intermediate = 29696, c.layers = 80, c.heads = 64, c.kv_heads = 8;
  c.quant = (VfQuantConfig){.method = VF_QUANT_AWQ, .bits = 4, .group_size = 128, .zero_point = true};
  vf_memory_plan(&c, 4096, false, &p);
  g_test_message("72B AWQ at 4096: %.2f GB", p.total / 1e9);
  g_assert_cmpuint(p.total, <=, 46000000000u);
}

static void
test_refusal_message(void)
{
  g_autofree char *name = vf_memory_plan_model_name(
    "/home/u/.cache/huggingface/hub/models--Qwen--Qwen2-VL-7B-Instruct/snapshots/0123abcd");
  g_assert_cmpstr(name, ==, "Qwen2-VL-7B-Instruct");
  g_autofree char *plain = vf_memory_plan_model_name("/models/tiny-b");
  g_assert_cmpstr(plain, ==, "tiny-b");

  VfConfig c = {.hidden = 3584, .intermediate = 18944, .layers = 28, .heads = 28, .kv_heads = 4, .head_dim = 128,
                .vocab = 152064, .max_pixels = 12845056,
                .vision = {.depth = 32, .embed_dim = 1280, .num_heads = 16, .mlp_dim = 5120, .out_hidden = 3584,
                           .patch_size = 14, .temporal_patch = 2, .merge_size = 2, .in_channels = 3}};
  g_autoptr(GError) error = NULL;
  g_assert_false(vf_memory_plan_check(&c, name, 2048, 7600000000u, &error));
  g_assert_error(error, VF_PLAN_ERROR, VF_PLAN_ERROR_TOO_BIG);
  g_test_message("%s", error->message);
  const char *needles[] = {"Qwen2-VL-7B-Instruct needs 17.", "this device has 7.6 GB free",
                           "Qwen2-VL-7B-Instruct-GPTQ-Int4 needs 6."};
  for (size_t i = 0; i < G_N_ELEMENTS(needles); i++)
    if (!strstr(error->message, needles[i]))
      g_error("the message lacks \"%s\": %s", needles[i], error->message);
  g_clear_error(&error);
  g_assert_true(vf_memory_plan_check(&c, name, 2048, 20000000000u, &error));
  c.quant = (VfQuantConfig){.method = VF_QUANT_AWQ, .bits = 4, .group_size = 128};
  g_assert_false(vf_memory_plan_check(&c, "Qwen2-VL-7B-Instruct-AWQ", 2048, 4000000000u, &error));
  g_assert_nonnull(strstr(error->message, "shorter context or a smaller model"));
}

/* The fit hint: the longest context that fits is one whose plan fits while the next step's does not. */
static void
test_fit_hint(void)
{
  VfConfig c = {.hidden = 3584, .intermediate = 18944, .layers = 28, .heads = 28, .kv_heads = 4, .head_dim = 128,
                .vocab = 152064, .max_pixels = 12845056,
                .vision = {.depth = 32, .embed_dim = 1280, .num_heads = 16, .mlp_dim = 5120, .out_hidden = 3584,
                           .patch_size = 14, .temporal_patch = 2, .merge_size = 2, .in_channels = 3},
                .quant = {.method = VF_QUANT_GPTQ, .bits = 4, .group_size = 128, .sym = true}};
  const uint64_t budget = 8000000000u; /* an 8 GB card */
  VfMemoryPlan fit, next;
  uint32_t context = vf_memory_plan_fit(&c, budget, 32768, &fit);
  vf_memory_plan(&c, context + VF_PLAN_FIT_STEP, true, &next);
  g_test_message("7B GPTQ-Int4 on 8 GB: %u tokens (%.2f GB; %u tokens would need %.2f GB)", context, fit.total / 1e9,
                 context + VF_PLAN_FIT_STEP, next.total / 1e9);
  g_assert_cmpuint(context % VF_PLAN_FIT_STEP, ==, 0);
  g_assert_cmpuint(context, >=, 4096); /* the 7B-on-8-GB promise */
  g_assert_cmpuint(fit.context, ==, context);
  g_assert_cmpuint(fit.total, <=, budget);
  if (context < 32768)
    g_assert_cmpuint(next.total, >, budget);
  /* Plenty of memory: capped at the longest context asked for. */
  g_assert_cmpuint(vf_memory_plan_fit(&c, 200000000000u, 32768, &fit), ==, 32768);
  /* 16-bit 7B (about 17 GB) does not fit 8 GB at any context: 0, with the smallest plan to quote. */
  c.quant = (VfQuantConfig){0};
  g_assert_cmpuint(vf_memory_plan_fit(&c, budget, 32768, &fit), ==, 0);
  g_assert_cmpuint(fit.context, ==, VF_PLAN_FIT_STEP);
  g_assert_cmpuint(fit.total, >, budget);
}

/* vf_model_load refuses a model the budget cannot hold before reading any weight, and the same device then
 * loads it once the budget allows. */
static void
test_model_load_refuses(void)
{
  VfDeviceInfo *info = (VfDeviceInfo *)vf_device_get_info(vf_test_device());
  uint64_t saved = info->memory_budget;
  g_autofree char *dir = st_model_dir("tiny-b");
  info->memory_budget = 1000000; /* tiny-b needs about 12 MB */
  uint64_t before = device_in_use();
  g_autoptr(GError) error = NULL;
  VfModel *m = vf_model_load(vf_test_device(), dir, NULL, NULL, NULL, &error);
  info->memory_budget = saved;
  g_assert_null(m);
  g_assert_error(error, VF_PLAN_ERROR, VF_PLAN_ERROR_TOO_BIG);
  g_assert_nonnull(strstr(error->message, "tiny-b needs"));
  g_assert_cmpuint(device_in_use(), ==, before);
  g_clear_error(&error);
  m = vf_model_load(vf_test_device(), dir, NULL, NULL, NULL, &error);
  g_assert_no_error(error);
  vf_model_free(m);
}

int
main(int argc, char **argv)
{
  vf_test_init(&argc, &argv);
  g_test_add_func("/memory-plan/matches-load", test_plan_matches_load);
  g_test_add_func("/memory-plan/published-models", test_plan_published_models);
  g_test_add_func("/memory-plan/refusal-message", test_refusal_message);
  g_test_add_func("/memory-plan/fit-hint", test_fit_hint);
  g_test_add_func("/memory-plan/model-load-refuses", test_model_load_refuses);
  return vf_test_finish();
}
