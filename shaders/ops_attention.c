/* Attention ops: KV-cache append, causal attention over the cache (text), grouped bidirectional
 * attention (vision). The kernels and their work split are described in attention_common.glsl,
 * attention_texel.comp and attention_subgroup.comp; this file checks shapes, picks the variant and
 * its specialisation (head_dim, queries per block, key split) and records the dispatch. */
#define G_LOG_DOMAIN "vf-ops"

#include "ops_attention.h"

#define MAX_HEAD_DIM 256u

/* Must match `Push` in attention_common.glsl. */
typedef struct {
  uint32_t rows;
  uint32_t q_stride;
  uint32_t heads;
  uint32_t kv_heads;
  uint32_t capacity;
  uint32_t key_begin;
  uint32_t groups;
  uint32_t q_offset;
  uint32_t k_offset;
  uint32_t v_offset;
  uint32_t kv_blocks;
  uint32_t q_first;
  uint32_t kv_first;
  uint32_t kv_rows;
} AttentionPush;

/* Must match `Push` in kv_store.comp. */
typedef struct {
  uint32_t rows;
  uint32_t row_stride;
  uint32_t k_offset;
  uint32_t v_offset;
  uint32_t kv_heads;
  uint32_t head_dim;
  uint32_t capacity;
} KvStorePush;

/* What the shaders need to know about one call, whichever op it came from. */
typedef struct {
  bool causal;
  uint32_t head_dim;
  uint32_t ratio; /* query heads per kv head */
  AttentionPush push;
} AttentionShape;

const char *
vf_attention_variant_name(VfAttentionVariant v)
{
  switch (v) {
  case VF_ATTENTION_AUTO: return "auto";
  case VF_ATTENTION_SUBGROUP: return "subgroup";
  case VF_ATTENTION_TEXEL: return "texel";
  case VF_ATTENTION_N_VARIANTS: break;
  }
  return "?";
}

/* Both kernels use subgroup shuffles and reductions (the SPIR-V declares the capabilities even where a
 * specialisation leaves them unused). */
static gboolean
has_subgroup_operations(VfDevice *dev)
{
  VkPhysicalDeviceSubgroupProperties subgroup = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceProperties2 props = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &subgroup};
  vkGetPhysicalDeviceProperties2(vf_device_physical(dev), &props);
  VkSubgroupFeatureFlags need = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT |
                                VK_SUBGROUP_FEATURE_SHUFFLE_BIT;
  return (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) && (subgroup.supportedOperations & need) == need;
}

gboolean
vf_attention_supports(VfDevice *dev, VfAttentionVariant variant, uint32_t head_dim, uint32_t row_stride)
{
  const VfDeviceInfo *info = vf_device_get_info(dev);
  if (head_dim == 0 || head_dim % 8 != 0 || head_dim > MAX_HEAD_DIM || !has_subgroup_operations(dev))
    return FALSE;
  switch (variant) {
  case VF_ATTENTION_AUTO:
    return vf_attention_supports(dev, VF_ATTENTION_SUBGROUP, head_dim, row_stride) ||
           vf_attention_supports(dev, VF_ATTENTION_TEXEL, head_dim, row_stride);
  case VF_ATTENTION_SUBGROUP:
    /* Teams are aligned groups of min(8, subgroup size) lanes inside one subgroup (subgroup sizes are powers
     * of two, so a team divides it, and head_dim); a workgroup holds whole subgroups. */
    return info->subgroup_size >= 1 && info->subgroup_size <= 64 &&
           (info->subgroup_size & (info->subgroup_size - 1)) == 0;
  case VF_ATTENTION_TEXEL:
    /* 4 floats a fetch: q, k and v must start on multiples of 4 in every row. */
    return row_stride % 4 == 0;
  case VF_ATTENTION_N_VARIANTS:
    break;
  }
  return FALSE;
}

VfAttentionVariant
vf_attention_choose(VfDevice *dev, uint32_t head_dim, uint32_t row_stride)
{
  VfAttentionVariant preferred =
    vf_ops_kernel_family(dev) == VF_KERNELS_CPU ? VF_ATTENTION_TEXEL : VF_ATTENTION_SUBGROUP;
  VfAttentionVariant other = preferred == VF_ATTENTION_TEXEL ? VF_ATTENTION_SUBGROUP : VF_ATTENTION_TEXEL;
  if (vf_attention_supports(dev, preferred, head_dim, row_stride))
    return preferred;
  return other;
}

static uint32_t
div_up(uint64_t a, uint64_t b)
{
  return (uint32_t)((a + b - 1) / b);
}

/* Query slots per block: at most `most`, and spread evenly, so that e.g. a decode step's 6 GQA heads
 * become 2 blocks of 3 rather than 4 + 2. */
static uint32_t
slots_per_block(const AttentionShape *s, uint32_t most)
{
  uint64_t slots = (uint64_t)s->push.rows * s->ratio;
  uint64_t blocks = (slots + most - 1) / most;
  return (uint32_t)((slots + blocks - 1) / blocks);
}

static void
record_texel(VfCmd *cmd, const char *shader, const AttentionShape *s, VfBinding *bindings, uint32_t nbindings)
{
  VfDevice *dev = vf_cmd_device(cmd);
  const VfDeviceInfo *info = vf_device_get_info(dev);
  AttentionPush push = s->push;
  /* A lane holds BQ·head_dim floats of q and as many of output. Measured on llvmpipe (head_dim 80 and
   * 128): BQ 1 → 11, 2 → 19, 4 → 27, 6 → 30 GFLOP/s per core, while the pipeline's first compile grows
   * from 0.4 s to 1–3 s (5–12 s for the key-split form); 4 is the compromise. */
  uint32_t bq = slots_per_block(s, CLAMP(512 / s->head_dim, 1, 4));
  push.kv_blocks = div_up((uint64_t)push.rows * s->ratio, bq);
  uint64_t blocks = (uint64_t)push.kv_heads * push.kv_blocks;
  /* Fewer blocks than ~16 SIMD rows of lanes (a decode step, a short chunk): a whole subgroup shares each
   * block's keys, so the work spreads over the CPU threads. */
  uint32_t split = blocks < 128 && info->subgroup_size > 1;
  uint32_t wg = split ? info->subgroup_size : 64;
  uint64_t groups = split ? blocks : div_up(blocks, wg);
  uint32_t specs[] = {wg, s->head_dim, bq, split, 4};
  VfPipeline *p = vf_ops_pipeline(cmd, shader, "ttttw", sizeof push, specs, G_N_ELEMENTS(specs));
  if (!p)
    return;
  uint32_t gx, gy;
  vf_ops_grid(cmd, groups, &gx, &gy);
  vf_cmd_dispatch(cmd, p, bindings, nbindings, &push, gx, gy, 1);
}

static void
record_subgroup(VfCmd *cmd, const char *shader, const AttentionShape *s, VfBinding *bindings, uint32_t nbindings)
{
  VfDevice *dev = vf_cmd_device(cmd);
  const VfDeviceInfo *info = vf_device_get_info(dev);
  AttentionPush push = s->push;
  /* Lanes per team: 8, or the whole subgroup when it is smaller (no kernel may assume 8). A lane holds
   * BQ·head_dim/team floats of q and as many of output: at most 64 each. */
  uint32_t team = MIN(8u, MAX(info->subgroup_size, 1u));
  uint32_t bq = slots_per_block(s, CLAMP(64 / (s->head_dim / team), 1, 8));
  push.kv_blocks = div_up((uint64_t)push.rows * s->ratio, bq);
  uint64_t blocks = (uint64_t)push.kv_heads * push.kv_blocks;
  /* Few blocks (a decode step): all teams of a workgroup share one block's keys. Teams per workgroup:
   * whole subgroups, and the merge buffers must fit shared memory. */
  uint32_t min_teams = MAX(1u, info->subgroup_size / team);
  uint32_t split = blocks < 256 ? 1 : 0;
  uint32_t teams = split ? 32 : 8;
  while (teams > min_teams && ((uint64_t)teams * (s->head_dim + 2 * bq) * 4 > info->shared_memory ||
                               teams * team > info->max_workgroup_invocations))
    teams /= 2;
  teams = MAX(teams, min_teams);
  uint64_t groups = split ? blocks : div_up(blocks, teams);
  uint32_t specs[] = {teams * team, s->head_dim, bq, split, 4, teams, team};
  VfPipeline *p = vf_ops_pipeline(cmd, shader, "rrrrw", sizeof push, specs, G_N_ELEMENTS(specs));
  if (!p)
    return;
  uint32_t gx, gy;
  vf_ops_grid(cmd, groups, &gx, &gy);
  vf_cmd_dispatch(cmd, p, bindings, nbindings, &push, gx, gy, 1);
}

static bool
fits(const VfBuffer *buf, uint64_t floats)
{
  return buf && buf->buffer && floats * 4 <= buf->size;
}

gboolean
vf_ops_kv_dtype(VfDType *dtype, GError **error)
{
  /* f32 by default: with f16 every golden case keeps its greedy tokens, but layer outputs drift 10–33× past
   * the fp32 golden tolerances (f16 keeps 11 bits; see docs/performance.md). */
  const char *v = vf_env("VF_KV");
  if (!v || !*v || g_str_equal(v, "f32")) {
    *dtype = VF_DTYPE_F32;
    return TRUE;
  }
  if (g_str_equal(v, "f16")) {
    *dtype = VF_DTYPE_F16;
    return TRUE;
  }
  g_set_error(error, VF_VK_ERROR, VF_VK_ERROR_LIMIT, "VF_KV=%s: the KV cache is f16 or f32", v);
  return FALSE;
}

uint64_t
vf_kv_cache_bytes(const VfKvCache *cache)
{
  return (uint64_t)cache->kv_heads * cache->capacity * cache->head_dim * vf_dtype_size(cache->dtype);
}

static bool
cache_fits(const VfKvCache *cache)
{
  uint64_t bytes = vf_kv_cache_bytes(cache);
  return (cache->dtype == VF_DTYPE_F32 || cache->dtype == VF_DTYPE_F16) && cache->k.buffer && cache->v.buffer &&
         bytes <= cache->k.size && bytes <= cache->v.size;
}

void
vf_op_kv_store(VfCmd *cmd, const VfBuffer *qkv, const VfKvStoreShape *shape, const VfKvCache *cache,
               const VfBuffer *seq)
{
  uint32_t rows = shape->rows, row_stride = shape->row_stride, k_offset = shape->k_offset;
  uint32_t v_offset = shape->v_offset;
  if (rows == 0)
    return;
  uint32_t width = cache->kv_heads * cache->head_dim;
  bool f16 = cache->dtype == VF_DTYPE_F16;
  if (width == 0 || (uint64_t)k_offset + width > row_stride || (uint64_t)v_offset + width > row_stride ||
      (f16 && cache->head_dim % 2 != 0)) {
    vf_ops_fail(cmd, "kv_store", "k at column %u and v at column %u, %u wide, do not fit rows of %u", k_offset,
                v_offset, width, row_stride);
    return;
  }
  if (!fits(qkv, (uint64_t)(rows - 1) * row_stride + MAX(k_offset, v_offset) + width) ||
      !cache_fits(cache) || !fits(seq, 1)) {
    vf_ops_fail(cmd, "kv_store", "%u rows of %u floats or a %s cache of %u×%u×%u do not fit the buffers", rows,
                row_stride, vf_dtype_name(cache->dtype), cache->kv_heads, cache->capacity, cache->head_dim);
    return;
  }
  VfPipeline *p = vf_ops_pipeline(cmd, f16 ? "kv_store_f16" : "kv_store", "rrww", sizeof(KvStorePush), NULL, 0);
  if (!p)
    return;
  KvStorePush push = {
    .rows = rows,
    .row_stride = row_stride,
    .k_offset = k_offset,
    .v_offset = v_offset,
    .kv_heads = cache->kv_heads,
    .head_dim = cache->head_dim,
    .capacity = cache->capacity,
  };
  uint32_t gx, gy;
  vf_ops_grid(cmd, div_up((uint64_t)rows * width / (f16 ? 2 : 1), 256), &gx, &gy);
  VfBinding bindings[] = {{*qkv}, {*seq}, {cache->k}, {cache->v}};
  vf_cmd_dispatch(cmd, p, bindings, G_N_ELEMENTS(bindings), &push, gx, gy, 1);
}

/* Whether the buffers can be bound for `variant`: storage buffers within maxStorageBufferRange, texel
 * views within maxTexelBufferElements. `inputs`: what the kernel reads (q, K, V or qkv). */
static gboolean
bindings_fit(VfDevice *dev, VfAttentionVariant variant, const VfBuffer *const *inputs, uint32_t n,
             const VfBuffer *out)
{
  const VfDeviceInfo *info = vf_device_get_info(dev);
  for (uint32_t i = 0; i < n; i++) {
    if (variant == VF_ATTENTION_TEXEL ? inputs[i]->size / 16 > info->max_texel_elements
                                      : inputs[i]->size > info->max_storage_range)
      return FALSE;
  }
  return out->size <= info->max_storage_range;
}

/* AUTO: the device's preferred family, unless only the other variant can run this shape or bind these
 * buffers (e.g. a qkv larger than one storage binding, which the texel variant reads through a view). */
static VfAttentionVariant
resolve(VfCmd *cmd, const char *op, VfAttentionVariant variant, uint32_t head_dim, uint32_t row_stride,
        const VfBuffer *const *inputs, uint32_t n, const VfBuffer *out)
{
  VfDevice *dev = vf_cmd_device(cmd);
  if (variant == VF_ATTENTION_AUTO) {
    VfAttentionVariant preferred = vf_attention_choose(dev, head_dim, row_stride);
    VfAttentionVariant other = preferred == VF_ATTENTION_TEXEL ? VF_ATTENTION_SUBGROUP : VF_ATTENTION_TEXEL;
    variant = preferred;
    if (!bindings_fit(dev, preferred, inputs, n, out) && vf_attention_supports(dev, other, head_dim, row_stride) &&
        bindings_fit(dev, other, inputs, n, out))
      variant = other;
  }
  if (!vf_attention_supports(dev, variant, head_dim, row_stride)) {
    vf_ops_fail(cmd, op, "the %s kernel cannot run head_dim %u with rows of %u floats on this device",
                vf_attention_variant_name(variant), head_dim, row_stride);
    return VF_ATTENTION_N_VARIANTS;
  }
  return variant;
}

void
vf_op_attention_causal_variant(VfCmd *cmd, VfAttentionVariant variant, const VfBuffer *q, uint32_t rows,
                               uint32_t row_stride, uint32_t heads, const VfKvCache *cache,
                               const VfBuffer *seq, uint32_t key_begin, const VfBuffer *out)
{
  const char *op = "attention_causal";
  if (rows == 0)
    return;
  uint32_t hd = cache->head_dim;
  if (cache->kv_heads == 0 || heads % cache->kv_heads != 0 || hd % 8 != 0 || hd > MAX_HEAD_DIM) {
    vf_ops_fail(cmd, op, "%u heads over %u kv heads of head_dim %u: need a whole GQA ratio and a head_dim that is "
                "a multiple of 8 up to %u", heads, cache->kv_heads, hd, MAX_HEAD_DIM);
    return;
  }
  if ((uint64_t)heads * hd > row_stride || !fits(q, (uint64_t)(rows - 1) * row_stride + (uint64_t)heads * hd) ||
      !fits(out, (uint64_t)rows * heads * hd) || !cache_fits(cache) || !fits(seq, 1)) {
    vf_ops_fail(cmd, op, "%u rows × %u heads × %u (row stride %u) or a cache of %u tokens do not fit the buffers",
                rows, heads, hd, row_stride, cache->capacity);
    return;
  }
  const VfBuffer *inputs[] = {q, &cache->k, &cache->v};
  variant = resolve(cmd, op, variant, hd, row_stride, inputs, G_N_ELEMENTS(inputs), out);
  AttentionShape s = {
    .causal = true,
    .head_dim = hd,
    .ratio = heads / cache->kv_heads,
    .push = {
      .rows = rows,
      .q_stride = row_stride,
      .heads = heads,
      .kv_heads = cache->kv_heads,
      .capacity = cache->capacity,
      .key_begin = key_begin,
    },
  };
  bool f16 = cache->dtype == VF_DTYPE_F16;
  if (variant == VF_ATTENTION_TEXEL) {
    VkFormat f = VK_FORMAT_R32G32B32A32_SFLOAT, kv = f16 ? VK_FORMAT_R32G32B32A32_UINT : f;
    VfBinding b[] = {{*q, f}, {cache->k, kv}, {cache->v, kv}, {*seq, VK_FORMAT_R32_UINT}, {*out}};
    record_texel(cmd, f16 ? "attention_causal_texel_f16" : "attention_causal_texel", &s, b, G_N_ELEMENTS(b));
  } else if (variant == VF_ATTENTION_SUBGROUP) {
    VfBinding b[] = {{*q}, {cache->k}, {cache->v}, {*seq}, {*out}};
    record_subgroup(cmd, f16 ? "attention_causal_subgroup_f16" : "attention_causal_subgroup", &s, b,
                    G_N_ELEMENTS(b));
  }
}

void
vf_op_attention_causal(VfCmd *cmd, const VfBuffer *q, uint32_t rows, uint32_t row_stride, uint32_t heads,
                       const VfKvCache *cache, const VfBuffer *seq, uint32_t key_begin, const VfBuffer *out)
{
  vf_op_attention_causal_variant(cmd, VF_ATTENTION_AUTO, q, rows, row_stride, heads, cache, seq, key_begin, out);
}

/* Floats [first, first + n) of `buf` as a binding whose start is aligned for storage and texel bindings
 * alike; *skip: the floats before `first` in it. The start is aligned to at least VF_ARENA_ALIGN (more than
 * most devices need) so that the offsets the kernels add are exercised everywhere, lavapipe included. */
static VfBuffer
float_window(VfDevice *dev, const VfBuffer *buf, uint64_t first, uint64_t n, uint32_t *skip)
{
  const VfDeviceInfo *info = vf_device_get_info(dev);
  uint64_t align = MAX(MAX(info->storage_align, info->texel_align), VF_ARENA_ALIGN);
  uint64_t want = buf->offset + first * 4;
  uint64_t start = MAX(want / align * align, buf->offset) - buf->offset;
  *skip = (uint32_t)((first * 4 - start) / 4);
  return vf_buffer_slice(buf, start, first * 4 + n * 4 - start);
}

void
vf_op_attention_groups_window(VfCmd *cmd, VfAttentionVariant variant, const VfBuffer *qkv, uint32_t row_stride,
                              uint32_t heads, uint32_t head_dim, const VfBuffer *cu_seqlens, uint32_t groups,
                              const VfAttentionWindow *window, const VfBuffer *out)
{
  const char *op = "attention_groups";
  const VfAttentionWindow *w = window;
  if (w->rows == 0)
    return;
  if (heads == 0 || head_dim % 8 != 0 || head_dim == 0 || head_dim > MAX_HEAD_DIM || groups == 0) {
    vf_ops_fail(cmd, op, "%u heads of head_dim %u in %u groups: need a head_dim that is a multiple of 8 up to %u",
                heads, head_dim, groups, MAX_HEAD_DIM);
    return;
  }
  uint64_t width = (uint64_t)heads * head_dim;
  uint64_t q_end = (uint64_t)w->q_first + w->rows, kv_end = (uint64_t)w->kv_first + w->kv_rows;
  if (3 * width > row_stride || w->kv_rows == 0 || !fits(qkv, (q_end - 1) * row_stride + 3 * width) ||
      !fits(qkv, (kv_end - 1) * row_stride + 3 * width) || !fits(out, w->rows * width) ||
      !fits(cu_seqlens, (uint64_t)groups + 1)) {
    vf_ops_fail(cmd, op, "queries %u..%" G_GUINT64_FORMAT " and keys %u..%" G_GUINT64_FORMAT " × 3 × %u heads × %u "
                "(row stride %u) or %u groups do not fit the buffers", w->q_first, q_end, w->kv_first, kv_end,
                heads, head_dim, row_stride, groups);
    return;
  }
  /* Only the rows the dispatch reads are bound: the queries' q, the window's k and v. */
  VfDevice *dev = vf_cmd_device(cmd);
  uint32_t q_skip, k_skip, v_skip;
  uint64_t q_floats = (uint64_t)(w->rows - 1) * row_stride + width;
  uint64_t kv_floats = (uint64_t)(w->kv_rows - 1) * row_stride + width;
  VfBuffer q = float_window(dev, qkv, (uint64_t)w->q_first * row_stride, q_floats, &q_skip);
  VfBuffer k = float_window(dev, qkv, (uint64_t)w->kv_first * row_stride + width, kv_floats, &k_skip);
  VfBuffer v = float_window(dev, qkv, (uint64_t)w->kv_first * row_stride + 2 * width, kv_floats, &v_skip);
  const VfBuffer *inputs[] = {&q, &k, &v};
  variant = resolve(cmd, op, variant, head_dim, row_stride, inputs, G_N_ELEMENTS(inputs), out);
  AttentionShape s = {
    .causal = false,
    .head_dim = head_dim,
    .ratio = 1,
    .push = {
      .rows = w->rows,
      .q_stride = row_stride,
      .heads = heads,
      .kv_heads = heads,
      .groups = groups,
      .q_offset = q_skip,
      .k_offset = k_skip,
      .v_offset = v_skip,
      .q_first = w->q_first,
      .kv_first = w->kv_first,
      .kv_rows = w->kv_rows,
    },
  };
  if (variant == VF_ATTENTION_TEXEL) {
    VkFormat f = VK_FORMAT_R32G32B32A32_SFLOAT;
    VfBinding b[] = {{q, f}, {k, f}, {v, f}, {*cu_seqlens, VK_FORMAT_R32_SINT}, {*out}};
    record_texel(cmd, "attention_groups_texel", &s, b, G_N_ELEMENTS(b));
  } else if (variant == VF_ATTENTION_SUBGROUP) {
    VfBinding b[] = {{q}, {k}, {v}, {*cu_seqlens}, {*out}};
    record_subgroup(cmd, "attention_groups_subgroup", &s, b, G_N_ELEMENTS(b));
  }
}

void
vf_op_attention_groups_variant(VfCmd *cmd, VfAttentionVariant variant, const VfBuffer *qkv, uint32_t rows,
                               uint32_t row_stride, uint32_t heads, uint32_t head_dim,
                               const VfBuffer *cu_seqlens, uint32_t groups, const VfBuffer *out)
{
  VfAttentionWindow all = {.q_first = 0, .rows = rows, .kv_first = 0, .kv_rows = rows};
  vf_op_attention_groups_window(cmd, variant, qkv, row_stride, heads, head_dim, cu_seqlens, groups, &all, out);
}

void
vf_op_attention_groups(VfCmd *cmd, const VfBuffer *qkv, uint32_t rows, uint32_t row_stride, uint32_t heads,
                       uint32_t head_dim, const VfBuffer *cu_seqlens, uint32_t groups, const VfBuffer *out)
{
  vf_op_attention_groups_variant(cmd, VF_ATTENTION_AUTO, qkv, rows, row_stride, heads, head_dim, cu_seqlens,
                                 groups, out);
}
