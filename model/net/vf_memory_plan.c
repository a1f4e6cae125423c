/* Device memory of a model from its config (vf_memory_plan.h). */
#define G_LOG_DOMAIN "vf-model"

#include "vf_memory_plan.h"

#include <string.h>

#include "vf_ops.h"

G_DEFINE_QUARK(vf-plan-error-quark, vf_plan_error)

/* vf_llm_create's prefill chunk and vf_vision_encode's row chunk (their defaults). */
#define LLM_CHUNK 512u
#define VISION_CHUNK 2048u
/* Matrices are stored as the checkpoints do: 16 bits. */
#define DENSE_BYTES 2u

/* One decoder linear [rows, cols] as vf_weights_load uploads it; `parts` fused linears share it. */
static uint64_t
linear_bytes(const VfConfig *c, uint32_t rows, uint32_t cols, uint32_t parts)
{
  const VfQuantConfig *q = &c->quant;
  if (q->method == VF_QUANT_NONE)
    return (uint64_t)rows * cols * DENSE_BYTES;
  uint64_t g_idx = q->desc_act ? (uint64_t)parts * cols * 4 : 0;
  return vf_packed_words_bytes(q->bits, rows, cols) +
         vf_packed_groups_bytes(rows, cols, vf_quant_group_width(q, cols)) + g_idx;
}

uint64_t
vf_memory_plan_linear_bytes(const VfConfig *c)
{
  uint32_t H = c->hidden, K = c->kv_heads * c->head_dim, I = c->intermediate;
  return c->layers * (linear_bytes(c, H + 2 * K, H, 3) + linear_bytes(c, H, H, 1) + linear_bytes(c, 2 * I, H, 2) +
                      linear_bytes(c, H, I, 1));
}

static uint64_t
vision_weight_bytes(const VfConfig *c)
{
  const VfVisionConfig *v = &c->vision;
  uint64_t E = v->embed_dim, M = v->mlp_dim, E4 = E * v->merge_size * v->merge_size;
  uint64_t P = (uint64_t)v->in_channels * v->temporal_patch * v->patch_size * v->patch_size;
  uint64_t block = (3 * E * E + E * E + 2 * E * M) * DENSE_BYTES + (4 * E + 3 * E + E + M + E) * 4;
  return E * P * DENSE_BYTES + v->depth * block + 2 * E * 4 + (E4 * E4 + (uint64_t)c->hidden * E4) * DENSE_BYTES +
         (E4 + c->hidden) * 4;
}

/* vf_vision_encode's peak for N patches: x and qkv over all rows, chunks of the row-wise passes, the
 * merger output, positions. (The pixels [N, 1176] are released before qkv is allocated.) */
static uint64_t
vision_scratch_bytes(const VfConfig *c, uint64_t N)
{
  const VfVisionConfig *v = &c->vision;
  uint64_t E = v->embed_dim, unit = (uint64_t)v->merge_size * v->merge_size, C = MIN(N, VISION_CHUNK);
  uint64_t with_qkv = N * E * 4 + N * 3 * E * 4 + C * E * 4 * 2 + C * MAX((uint64_t)v->mlp_dim, E) * 4 +
                      N / unit * c->hidden * 4 + 3 * N * 4;
  uint64_t with_pixels = N * (uint64_t)v->in_channels * v->temporal_patch * v->patch_size * v->patch_size * 4 +
                         N * E * 4;
  return MAX(with_qkv, with_pixels);
}

void
vf_memory_plan(const VfConfig *c, uint32_t context, bool with_vision, VfMemoryPlan *p)
{
  uint64_t H = c->hidden, K = (uint64_t)c->kv_heads * c->head_dim, I = c->intermediate, V = c->vocab;
  *p = (VfMemoryPlan){.context = context};
  uint64_t table = V * H * DENSE_BYTES;
  bool table_on_host = !c->tie_embeddings && c->quant.method != VF_QUANT_NONE; /* as vf_weights_load does */
  p->host_weights = table_on_host ? table : 0;
  p->llm_weights = (c->tie_embeddings ? table : table_on_host ? table : 2 * table) + vf_memory_plan_linear_bytes(c) +
                   c->layers * (2 * H + H + 2 * K) * 4 + H * 4;
  p->kv_cache = 2ull * c->layers * K * context * 4;
  p->llm_scratch = (uint64_t)LLM_CHUNK * 4 * (3 * H + (H + 2 * K) + 3 * I) + V * 4 + vf_op_argmax_scratch_size(c->vocab) +
                   2ull * context * (c->head_dim / 2) * 4;
  if (with_vision) {
    p->vision_weights = vision_weight_bytes(c);
    /* The largest image a context holds: `context` merged tokens, within max_pixels. */
    uint64_t unit = (uint64_t)c->vision.merge_size * c->vision.merge_size;
    uint64_t patch_pixels = (uint64_t)c->vision.patch_size * c->vision.patch_size;
    uint64_t patches = MIN((uint64_t)context * unit, c->max_pixels / patch_pixels / unit * unit);
    p->vision_scratch = vision_scratch_bytes(c, patches);
  }
  p->total = p->llm_weights + p->vision_weights + p->kv_cache + p->llm_scratch + p->vision_scratch;
}

char *
vf_memory_plan_model_name(const char *dir)
{
  g_auto(GStrv) parts = g_strsplit(dir, G_DIR_SEPARATOR_S, -1);
  for (int i = g_strv_length(parts) - 1; i >= 0; i--)
    if (g_str_has_prefix(parts[i], "models--")) {
      const char *name = strstr(parts[i] + strlen("models--"), "--");
      return g_strdup(name ? name + 2 : parts[i] + strlen("models--"));
    }
  return g_path_get_basename(dir);
}

uint32_t
vf_memory_plan_fit(const VfConfig *config, uint64_t budget, uint32_t max_context, VfMemoryPlan *plan)
{
  /* Memory grows with the context (the KV cache, the vision scratch of the largest picture it holds), so the
   * longest context that fits is found by bisection over the steps. */
  uint32_t lo = 0, hi = max_context / VF_PLAN_FIT_STEP; /* steps: lo fits (or is 0), above hi does not */
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo + 1) / 2;
    VfMemoryPlan p;
    vf_memory_plan(config, mid * VF_PLAN_FIT_STEP, true, &p);
    if (p.total <= budget)
      lo = mid;
    else
      hi = mid - 1;
  }
  vf_memory_plan(config, MAX(lo, 1) * VF_PLAN_FIT_STEP, true, plan);
  return lo * VF_PLAN_FIT_STEP;
}

gboolean
vf_memory_plan_check(const VfConfig *c, const char *name, uint32_t context, uint64_t budget, GError **error)
{
  VfMemoryPlan plan;
  vf_memory_plan(c, context, true, &plan);
  if (plan.total <= budget)
    return TRUE;
  g_autoptr(GString) msg = g_string_new(NULL);
  g_string_append_printf(msg,
                         "%s needs %.1f GB (weights %.1f GB, KV cache for %u tokens %.1f GB, working memory %.1f GB); "
                         "this device has %.1f GB free.",
                         name, plan.total / 1e9, (plan.llm_weights + plan.vision_weights) / 1e9, context,
                         plan.kv_cache / 1e9, (plan.llm_scratch + plan.vision_scratch) / 1e9, budget / 1e9);
  /* The way out: the 4-bit checkpoint of the same model, when this is not one already. */
  if (c->quant.method == VF_QUANT_NONE || c->quant.bits > 4) {
    VfConfig q = *c;
    q.quant = (VfQuantConfig){.method = VF_QUANT_GPTQ, .bits = 4, .group_size = 128, .sym = true};
    VfMemoryPlan small;
    vf_memory_plan(&q, context, true, &small);
    g_autofree char *base = g_strdup(name);
    char *suffix = strstr(base, "-GPTQ-Int8");
    if (suffix)
      *suffix = '\0';
    g_string_append_printf(msg, " %s-GPTQ-Int4 needs %.1f GB%s.", base, small.total / 1e9,
                           small.total <= budget ? "" : ", which does not fit either");
  } else {
    g_string_append(msg, " A shorter context or a smaller model would need less.");
  }
  g_set_error_literal(error, VF_PLAN_ERROR, VF_PLAN_ERROR_TOO_BIG, msg->str);
  return FALSE;
}
