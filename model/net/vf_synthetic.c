/* Synthetic Qwen2-VL weights for benchmarks. */
#define G_LOG_DOMAIN "vf-synthetic"

#include "vf_synthetic.h"

#include <math.h>
#include <string.h>

VfConfig *
vf_config_synthetic(const char *size, GError **error)
{
  gboolean is_2b = g_ascii_strcasecmp(size, "2b") == 0, is_7b = g_ascii_strcasecmp(size, "7b") == 0;
  gboolean is_72b = g_ascii_strcasecmp(size, "72b") == 0;
  if (!is_2b && !is_7b && !is_72b) {
    g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_UNSUPPORTED, "synthetic model size '%s': use 2b, 7b or 72b",
                size);
    return NULL;
  }
  VfConfig *c = g_new0(VfConfig, 1);
  c->model_type = g_strdup("qwen2_vl");
  c->hidden = is_2b ? 1536 : is_7b ? 3584 : 8192;
  c->intermediate = is_2b ? 8960 : is_7b ? 18944 : 29568;
  c->layers = is_72b ? 80 : 28;
  c->heads = is_2b ? 12 : is_7b ? 28 : 64;
  c->kv_heads = is_2b ? 2 : is_7b ? 4 : 8;
  c->head_dim = 128;
  c->vocab = is_2b ? 151936 : 152064;
  c->tie_embeddings = is_2b;
  c->rms_eps = 1e-6f;
  c->rope_theta = 1000000.0f;
  c->mrope_section[0] = 16;
  c->mrope_section[1] = 24;
  c->mrope_section[2] = 24;
  c->max_positions = 32768;
  c->bos_id = 151643;
  c->eos_id = 151645;
  c->vision_start_id = 151652;
  c->vision_end_id = 151653;
  c->vision_pad_id = 151654;
  c->image_pad_id = 151655;
  c->video_pad_id = 151656;
  c->vision = (VfVisionConfig){
    .depth = 32, .embed_dim = 1280, .num_heads = 16, .mlp_dim = 5120, .out_hidden = c->hidden,
    .patch_size = 14, .temporal_patch = 2, .merge_size = 2, .in_channels = 3,
  };
  c->temperature = 1.0f;
  c->top_p = 1.0f;
  c->repetition_penalty = 1.0f;
  c->gen_eos_ids[0] = 151645;
  c->gen_eos_ids[1] = 151643;
  c->n_gen_eos = 2;
  c->pad_id = 151643;
  c->min_pixels = 3136;
  c->max_pixels = 12845056;
  const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f}, std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
  memcpy(c->image_mean, mean, sizeof mean);
  memcpy(c->image_std, std, sizeof std);
  return c;
}

gboolean
vf_config_synthetic_weights(VfConfig *c, const char *weights, GError **error)
{
  static const struct {
    const char *name;
    VfQuantMethod method;
    uint32_t bits;
  } formats[] = {{"bf16", VF_QUANT_NONE, 0}, {"gptq-int4", VF_QUANT_GPTQ, 4}, {"gptq-int8", VF_QUANT_GPTQ, 8},
                 {"awq", VF_QUANT_AWQ, 4}};
  for (size_t i = 0; i < G_N_ELEMENTS(formats); i++)
    if (g_ascii_strcasecmp(weights, formats[i].name) == 0) {
      c->quant = (VfQuantConfig){.method = formats[i].method, .bits = formats[i].bits, .group_size = 128,
                                 .sym = true, .zero_point = true};
      /* The quantized 72B repos pad intermediate_size to 29696 (spec §2.6). */
      if (formats[i].method != VF_QUANT_NONE && c->intermediate == 29568)
        c->intermediate = 29696;
      if (formats[i].method == VF_QUANT_NONE)
        c->quant.group_size = 0;
      return TRUE;
    }
  g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_UNSUPPORTED,
              "synthetic weights '%s': use bf16, gptq-int4, gptq-int8 or awq", weights);
  return FALSE;
}

typedef struct {
  VfDevice *dev;
  uint64_t rng;
  uint64_t done, total;
  VfProgressFunc progress;
  void *user;
  uint16_t *chunk; /* host staging for generated bf16 values */
} Maker;

#define CHUNK_ELEMENTS (4u << 20)

static inline uint32_t
next_u32(Maker *mk)
{
  mk->rng ^= mk->rng << 13;
  mk->rng ^= mk->rng >> 7;
  mk->rng ^= mk->rng << 17;
  return (uint32_t)(mk->rng >> 32);
}

/* A bf16 [rows, cols] matrix of uniform values in [−scale, scale), in `memory`. */
static gboolean
make_matrix_in(Maker *mk, VfMemoryKind memory, uint32_t rows, uint32_t cols, float scale, VfMatrix *out,
               GError **error)
{
  uint64_t n = (uint64_t)rows * cols;
  out->dtype = VF_DTYPE_BF16;
  out->rows = rows;
  out->cols = cols;
  if (!vf_buffer_alloc(mk->dev, memory, n * 2, &out->buf, error))
    return FALSE;
  for (uint64_t at = 0; at < n; at += CHUNK_ELEMENTS) {
    uint64_t count = MIN(CHUNK_ELEMENTS, n - at);
    for (uint64_t i = 0; i < count; i++) {
      float v = ((float)(next_u32(mk) >> 8) * (1.0f / 8388608.0f) - 1.0f) * scale;
      uint32_t bits;
      memcpy(&bits, &v, 4);
      mk->chunk[i] = (uint16_t)(bits >> 16);
    }
    if (!vf_buffer_upload(mk->dev, &out->buf, at * 2, mk->chunk, count * 2, error))
      return FALSE;
    mk->done += count * 2;
    if (mk->progress)
      mk->progress(mk->done, mk->total, mk->user);
  }
  return TRUE;
}

static gboolean
make_matrix(Maker *mk, uint32_t rows, uint32_t cols, float scale, VfMatrix *out, GError **error)
{
  return make_matrix_in(mk, VF_MEMORY_DEVICE, rows, cols, scale, out, error);
}

/* A packed [rows, cols] matrix (ops_matmul_quant.h) of uniform random codes, group width `width`, every
 * group's zero the middle code and its scale such that weights span [−scale, scale). */
static gboolean
make_packed(Maker *mk, const VfQuantConfig *q, uint32_t rows, uint32_t cols, float scale, VfMatrix *out,
            GError **error)
{
  uint32_t levels = 1u << q->bits, width = vf_quant_group_width(q, cols);
  *out = (VfMatrix){.dtype = VF_DTYPE_I32, .rows = rows, .cols = cols,
                    .packing = {.bits = q->bits, .group_width = width, .g_idx_rows = {rows, rows}}};
  uint64_t words = vf_packed_words_bytes(q->bits, rows, cols) / 4;
  uint64_t groups = vf_packed_groups_bytes(rows, cols, width) / 4;
  if (!vf_buffer_alloc(mk->dev, VF_MEMORY_DEVICE, words * 4, &out->buf, error) ||
      !vf_buffer_alloc(mk->dev, VF_MEMORY_DEVICE, groups * 4, &out->packing.groups, error))
    return FALSE;
  uint32_t *chunk = (uint32_t *)mk->chunk; /* CHUNK_ELEMENTS 16-bit slots = CHUNK_ELEMENTS / 2 words */
  const uint64_t per_chunk = CHUNK_ELEMENTS / 2;
  for (uint64_t at = 0; at < words; at += per_chunk) {
    uint64_t count = MIN(per_chunk, words - at);
    for (uint64_t i = 0; i < count; i++)
      chunk[i] = next_u32(mk);
    if (!vf_buffer_upload(mk->dev, &out->buf, at * 4, chunk, count * 4, error))
      return FALSE;
    mk->done += count * 4;
    if (mk->progress)
      mk->progress(mk->done, mk->total, mk->user);
  }
  /* f16 bits of 2·scale / levels (normal range: exponent field 1..30) with the zero levels / 2 above them. */
  float step = 2 * scale / (float)levels;
  int exponent;
  float mantissa = frexpf(step, &exponent); /* step = mantissa · 2^exponent, mantissa in [0.5, 1) */
  uint32_t f16 = (uint32_t)(exponent + 14) << 10 | ((uint32_t)((mantissa * 2 - 1) * 1024) & 0x3ff);
  uint32_t group_word = f16 | (levels / 2) << 16;
  for (uint64_t at = 0; at < groups; at += per_chunk) {
    uint64_t count = MIN(per_chunk, groups - at);
    for (uint64_t i = 0; i < count; i++)
      chunk[i] = group_word;
    if (!vf_buffer_upload(mk->dev, &out->packing.groups, at * 4, chunk, count * 4, error))
      return FALSE;
    mk->done += count * 4;
  }
  return TRUE;
}

/* A decoder linear: packed when the config says the checkpoint is quantized, else bf16. */
static gboolean
make_linear(Maker *mk, const VfConfig *c, uint32_t rows, uint32_t cols, VfMatrix *out, GError **error)
{
  float scale = 1.0f / sqrtf((float)cols);
  return c->quant.method != VF_QUANT_NONE ? make_packed(mk, &c->quant, rows, cols, scale, out, error)
                                          : make_matrix(mk, rows, cols, scale, out, error);
}

/* An f32 vector of `base` plus uniform noise in [−noise, noise). */
static gboolean
make_vector(Maker *mk, uint32_t n, float base, float noise, VfBuffer *out, GError **error)
{
  g_autofree float *v = g_new(float, n);
  for (uint32_t i = 0; i < n; i++)
    v[i] = base + ((float)(next_u32(mk) >> 8) * (1.0f / 8388608.0f) - 1.0f) * noise;
  return vf_buffer_alloc(mk->dev, VF_MEMORY_DEVICE, (uint64_t)n * 4, out, error) &&
         vf_buffer_upload(mk->dev, out, 0, v, (uint64_t)n * 4, error);
}

VfWeights *
vf_weights_synthetic(VfDevice *dev, const VfConfig *c, gboolean with_vision, uint64_t seed, VfProgressFunc progress,
                     void *user, GError **error)
{
  uint32_t H = c->hidden, K = c->kv_heads * c->head_dim, I = c->intermediate, V = c->vocab;
  const VfVisionConfig *vc = &c->vision;
  uint32_t E = vc->embed_dim, M = vc->mlp_dim, P = vc->in_channels * vc->temporal_patch * vc->patch_size * vc->patch_size;
  uint32_t E4 = E * vc->merge_size * vc->merge_size;

  Maker mk = {.dev = dev, .rng = seed * 0x9e3779b97f4a7c15ull + 1, .progress = progress, .user = user};
  uint64_t per_layer = (uint64_t)(H + 2 * K) * H + (uint64_t)H * H + 3ull * I * H;
  /* Bytes per decoder weight: 2 (bf16), or bits / 8 plus one 4-byte group word per group. */
  double linear_bytes = c->quant.method != VF_QUANT_NONE ? c->quant.bits / 8.0 + 4.0 / c->quant.group_size : 2;
  mk.total = 2 * (uint64_t)V * H * (c->tie_embeddings ? 1 : 2) + (uint64_t)(linear_bytes * per_layer) * c->layers;
  if (with_vision)
    mk.total += 2 * ((uint64_t)E * P + vc->depth * (4ull * E * E + 2ull * E * M) + (uint64_t)E4 * E4 + (uint64_t)H * E4);
  mk.chunk = g_new(uint16_t, CHUNK_ELEMENTS);

  VfWeights *w = g_new0(VfWeights, 1);
  w->dev = dev;
  w->config = c;
  w->layers = g_new0(VfLlmLayer, c->layers);
  /* Where vf_weights_load keeps the table: host memory for quantized untied models. */
  bool embed_on_host = !c->tie_embeddings && c->quant.method != VF_QUANT_NONE;
  gboolean ok = make_matrix_in(&mk, embed_on_host ? VF_MEMORY_HOST : VF_MEMORY_DEVICE, V, H, 0.05f, &w->embed, error);
  if (ok && embed_on_host)
    w->host_bytes = (uint64_t)V * H * 2;
  if (ok && c->tie_embeddings) {
    /* A view that owns nothing, as vf_weights_load makes for tied embeddings. */
    w->lm_head = w->embed;
    w->lm_head.buf = vf_buffer_slice(&w->embed.buf, 0, w->embed.buf.size);
  }
  else if (ok)
    ok = make_matrix(&mk, V, H, 1.0f / sqrtf((float)H), &w->lm_head, error);
  for (uint32_t l = 0; ok && l < c->layers; l++) {
    VfLlmLayer *L = &w->layers[l];
    ok = make_vector(&mk, H, 1.0f, 0.05f, &L->attn_norm, error) &&
         make_linear(&mk, c, H + 2 * K, H, &L->qkv, error) &&
         make_vector(&mk, H + 2 * K, 0.0f, 0.02f, &L->qkv_bias, error) &&
         make_linear(&mk, c, H, H, &L->o, error) &&
         make_vector(&mk, H, 1.0f, 0.05f, &L->mlp_norm, error) &&
         make_linear(&mk, c, 2 * I, H, &L->gate_up, error) &&
         make_linear(&mk, c, H, I, &L->down, error);
  }
  if (ok)
    ok = make_vector(&mk, H, 1.0f, 0.05f, &w->final_norm, error);
  if (ok && with_vision) {
    w->blocks = g_new0(VfVisionBlock, vc->depth);
    ok = make_matrix(&mk, E, P, 1.0f / sqrtf((float)P), &w->patch_embed, error);
    for (uint32_t b = 0; ok && b < vc->depth; b++) {
      VfVisionBlock *B = &w->blocks[b];
      ok = make_vector(&mk, E, 1.0f, 0.05f, &B->norm1_w, error) && make_vector(&mk, E, 0.0f, 0.02f, &B->norm1_b, error) &&
           make_matrix(&mk, 3 * E, E, 1.0f / sqrtf((float)E), &B->qkv, error) &&
           make_vector(&mk, 3 * E, 0.0f, 0.02f, &B->qkv_bias, error) &&
           make_matrix(&mk, E, E, 1.0f / sqrtf((float)E), &B->proj, error) &&
           make_vector(&mk, E, 0.0f, 0.02f, &B->proj_bias, error) &&
           make_vector(&mk, E, 1.0f, 0.05f, &B->norm2_w, error) && make_vector(&mk, E, 0.0f, 0.02f, &B->norm2_b, error) &&
           make_matrix(&mk, M, E, 1.0f / sqrtf((float)E), &B->fc1, error) &&
           make_vector(&mk, M, 0.0f, 0.02f, &B->fc1_bias, error) &&
           make_matrix(&mk, E, M, 1.0f / sqrtf((float)M), &B->fc2, error) &&
           make_vector(&mk, E, 0.0f, 0.02f, &B->fc2_bias, error);
    }
    ok = ok && make_vector(&mk, E, 1.0f, 0.05f, &w->merger_ln_w, error) &&
         make_vector(&mk, E, 0.0f, 0.02f, &w->merger_ln_b, error) &&
         make_matrix(&mk, E4, E4, 1.0f / sqrtf((float)E4), &w->merger_fc1, error) &&
         make_vector(&mk, E4, 0.0f, 0.02f, &w->merger_fc1_bias, error) &&
         make_matrix(&mk, H, E4, 1.0f / sqrtf((float)E4), &w->merger_fc2, error) &&
         make_vector(&mk, H, 0.0f, 0.02f, &w->merger_fc2_bias, error);
  }
  g_free(mk.chunk);
  w->device_bytes = mk.done;
  if (!ok) {
    vf_weights_free(w);
    return NULL;
  }
  return w;
}
