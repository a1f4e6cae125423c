/* viewfinder-cli bench --synthetic 2b|7b|72b [--weights bf16|gptq-int4|gptq-int8|awq]: the language model in
 * the exact Qwen2-VL shapes with random weights (no files; quantized ones packed as a GPTQ/AWQ checkpoint
 * loads): prefill tok/s for a prompt, decode tok/s, peak device memory, the decode roofline (weight bytes
 * read per token / measured read bandwidth) and, with VF_PROFILE=1, GPU time per shader. --plan prints the
 * memory the model needs (vf_memory_plan.h) without allocating anything; --vision adds the vision tower. */
#define G_LOG_DOMAIN "viewfinder-cli"

#include <stdio.h>
#include <string.h>

#include "bench_ops.h"
#include "cli.h"
#include "vf_llm.h"
#include "vf_memory_plan.h"
#include "vf_sampler.h"
#include "vf_synthetic.h"

/* Weights of the decoder linears (each does 2 FLOP per weight per row). */
static uint64_t
linear_params(const VfConfig *c)
{
  uint64_t H = c->hidden, K = (uint64_t)c->kv_heads * c->head_dim, I = c->intermediate;
  return c->layers * ((H + 2 * K) * H + H * H + 3 * I * H);
}

/* Bytes of one matrix as a decode step reads it (a packed one: its words and group words). */
static uint64_t
matrix_bytes(const VfMatrix *m)
{
  return m->buf.size + m->packing.groups.size + m->packing.g_idx.size;
}

/* Bytes of weights one decode step reads: every layer's matrices, the norms and the lm_head. */
static uint64_t
decode_weight_bytes(const VfConfig *c, const VfWeights *w)
{
  uint64_t bytes = 0;
  for (uint32_t l = 0; l < c->layers; l++) {
    const VfLlmLayer *L = &w->layers[l];
    bytes += matrix_bytes(&L->qkv) + matrix_bytes(&L->o) + matrix_bytes(&L->gate_up) + matrix_bytes(&L->down);
    bytes += L->attn_norm.size + L->mlp_norm.size + L->qkv_bias.size;
  }
  return bytes + w->lm_head.buf.size + w->final_norm.size + (uint64_t)c->hidden * 2 /* one embedding row */;
}

static void
print_plan(const char *size, const VfConfig *c, const VfMemoryPlan *p)
{
  printf("plan: synthetic Qwen2-VL-%s, %s: %.2f GB in all at %u tokens of context\n", size,
         vf_quant_format_name(&c->quant), p->total / 1e9, p->context);
  printf("  language-model weights %.2f GB (decoder linears %.2f GB), vision tower %.2f GB; in host memory: "
         "embedding table %.2f GB\n",
         p->llm_weights / 1e9, vf_memory_plan_linear_bytes(c) / 1e9, p->vision_weights / 1e9, p->host_weights / 1e9);
  printf("  KV cache %.2f GB, language-model scratch %.2f GB, vision scratch %.2f GB\n", p->kv_cache / 1e9,
         p->llm_scratch / 1e9, p->vision_scratch / 1e9);
}

int
vf_cli_bench_model(int argc, char **argv)
{
  g_autofree char *size = NULL, *weights = NULL;
  int prompt = 512, decode = 64, context = 0;
  gboolean plan_only = FALSE, with_vision = FALSE;
  GOptionEntry entries[] = {
    {"synthetic", 0, 0, G_OPTION_ARG_STRING, &size, "random weights in the shape of Qwen2-VL-2B, 7B or 72B",
     "2b|7b|72b"},
    {"weights", 0, 0, G_OPTION_ARG_STRING, &weights, "how the decoder linears are stored (bf16)",
     "bf16|gptq-int4|gptq-int8|awq"},
    {"prompt", 0, 0, G_OPTION_ARG_INT, &prompt, "prompt tokens to prefill (512)", "N"},
    {"decode", 0, 0, G_OPTION_ARG_INT, &decode, "tokens to decode (64)", "N"},
    {"context", 0, 0, G_OPTION_ARG_INT, &context, "KV cache capacity (prompt + decode + 16; --plan: 4096)", "N"},
    {"vision", 0, 0, G_OPTION_ARG_NONE, &with_vision, "also the vision tower (its weights are allocated)", NULL},
    {"plan", 0, 0, G_OPTION_ARG_NONE, &plan_only, "print the memory needed without allocating anything", NULL},
    {NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("— benchmark the language model");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error) || !size || prompt < 1 || decode < 1 || context < 0) {
    fprintf(stderr, "viewfinder-cli bench: %s\n",
            error ? error->message
                  : "usage: bench --synthetic 2b|7b|72b [--weights bf16|gptq-int4|gptq-int8|awq] [--prompt N] "
                    "[--decode N] [--context N] [--vision] [--plan]");
    return 2;
  }
  g_autoptr(VfConfig) config = vf_config_synthetic(size, &error);
  if (!config || !vf_config_synthetic_weights(config, weights ? weights : "bf16", &error)) {
    fprintf(stderr, "viewfinder-cli bench: %s\n", error->message);
    return 2;
  }
  if (!context)
    context = plan_only ? 4096 : prompt + decode + 16;
  VfMemoryPlan plan;
  vf_memory_plan(config, (uint32_t)context, with_vision, &plan);
  print_plan(size, config, &plan);
  if (plan_only)
    return 0;
  g_autoptr(VfDevice) dev = vf_cli_device(&error);
  if (!dev) {
    fprintf(stderr, "viewfinder-cli bench: %s\n", error->message);
    return 1;
  }

  int64_t t0 = g_get_monotonic_time();
  VfWeights *w = vf_weights_synthetic(dev, config, with_vision, 1, vf_cli_progress, NULL, &error);
  if (!w) {
    fprintf(stderr, "viewfinder-cli bench: %s\n", error->message);
    return 1;
  }
  printf("model: synthetic Qwen2-VL-%s language model%s, %.2f GB of %s weights (made in %.1f s)\n", size,
         with_vision ? " and vision tower" : "", w->device_bytes / 1e9, weights ? weights : "bf16",
         (g_get_monotonic_time() - t0) / 1e6);

  VfLlmOptions opts = {.context = (uint32_t)context};
  VfLlm *llm = vf_llm_create(dev, config, w, &opts, &error);
  VfLlmSequence *seq = llm ? vf_llm_sequence_new(llm, &error) : NULL;
  if (!seq) {
    fprintf(stderr, "viewfinder-cli bench: %s\n", error->message);
    vf_llm_free(llm);
    vf_weights_free(w);
    return 1;
  }

  int status = 1;
  g_autofree int32_t *ids = g_new(int32_t, prompt);
  g_autofree int32_t *pos = g_new(int32_t, 3 * (size_t)prompt);
  uint64_t s = 12345;
  for (int i = 0; i < prompt; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    ids[i] = (int32_t)((s >> 33) % 151643);
    pos[i] = pos[prompt + i] = pos[2 * prompt + i] = i;
  }
  g_autofree float *logits = g_new(float, config->vocab);

  vf_profile_reset();
  VfLlmInput in = {.ids = ids, .positions = pos, .n = (uint32_t)prompt};
  int64_t t1 = g_get_monotonic_time();
  if (!vf_llm_prefill(llm, seq, &in, logits, NULL, &error))
    goto out;
  double prefill_s = (g_get_monotonic_time() - t1) / 1e6;
  if (vf_profile_enabled()) {
    printf("\nprefill, GPU time per shader:\n");
    vf_profile_print(stdout);
  }

  vf_profile_reset();
  int32_t token = vf_argmax(logits, config->vocab);
  /* The first decode step records the command list; time the steady state after it. */
  if (!vf_llm_decode(llm, seq, token, prompt, NULL, &token, &error))
    goto out;
  int64_t t2 = g_get_monotonic_time();
  for (int k = 1; k < decode; k++)
    if (!vf_llm_decode(llm, seq, token, prompt + k, NULL, &token, &error))
      goto out;
  double decode_s = (g_get_monotonic_time() - t2) / 1e6;
  int steps = decode - 1;
  if (vf_profile_enabled()) {
    printf("\ndecode (%d steps), GPU time per shader:\n", decode);
    vf_profile_print(stdout);
  }

  VfArenaStats st;
  vf_arena_get_stats(vf_device_arena(dev), &st);
  uint64_t per_token = decode_weight_bytes(config, w);
  double device_gbs = 0, host_gbs = 0, fma_gflops = 0;
  if (!vf_bench_peaks(dev, &device_gbs, &host_gbs, &fma_gflops, &error))
    goto out;
  /* On a CPU device the host's own read rate is the ceiling. */
  double bandwidth = MAX(device_gbs, host_gbs);
  double roofline_s = per_token / (bandwidth * 1e9);
  double step_s = steps > 0 ? decode_s / steps : 0;
  /* Prefill runs every layer's matrices on every row (the lm_head only on the last): 2 FLOP per weight. */
  double layer_params = (double)linear_params(config);
  double prefill_gflops = 2.0 * layer_params * prompt / prefill_s / 1e9;
  printf("\nhost fp32 FMA peak: %.0f GFLOP/s (%u threads)\n", fma_gflops, g_get_num_processors());
  printf("prefill: %d tokens in %.2f s = %.1f tok/s (%.1f GFLOP/s in the linear layers", prompt, prefill_s,
         prompt / prefill_s, prefill_gflops);
  if (vf_device_get_info(dev)->kind == VF_DEVICE_KIND_CPU)
    printf(", %.0f %% of the host FMA peak", 100.0 * prefill_gflops / fma_gflops);
  printf(")\n");
  printf("decode:  %d steps in %.2f s = %.3f s/token, %.2f tok/s (cache of %d..%d tokens)\n", steps, decode_s,
         step_s, steps / decode_s, prompt + 1, prompt + decode);
  printf("roofline: %.2f GB of weights per token / %.1f GB/s measured read bandwidth = %.3f s/token; "
         "decode reaches %.0f %% of it\n",
         per_token / 1e9, bandwidth, roofline_s, 100.0 * roofline_s / step_s);
  printf("memory: peak device %.2f GB (weights %.2f GB, KV cache %.1f MB, context %u; %.2f GB of weights in host "
         "memory); planned %.2f GB without vision scratch\n",
         st.device_bytes_peak / 1e9, (w->device_bytes - w->host_bytes) / 1e9, vf_llm_cache_bytes(llm) / 1e6,
         vf_llm_context(llm), w->host_bytes / 1e9, (plan.total - plan.vision_scratch) / 1e9);
  status = 0;
out:
  if (status)
    fprintf(stderr, "viewfinder-cli bench: %s\n", error ? error->message : "failed");
  vf_llm_sequence_free(seq);
  vf_llm_free(llm);
  vf_weights_free(w);
  return status;
}
