/* The Qwen2-VL vision tower as Vulkan graphs (spec §7), with device memory that grows linearly with the
 * number of patches N and no binding larger than one window.
 *
 * Scratch, planned once for the largest encode (`capacity` patches, from the memory plan), allocated at the
 * first encode and kept; each encode works in views of its own N rows (f32, row-major):
 *   x      [N, E]             residual stream
 *   qkv    [N, 3E]            q | k | v of the current block (q and k rotated in place); until the patch
 *                             embedding is done the same memory holds the pixels [N, 1176]
 *   xn     [C, E]             a chunk of normalised rows (LayerNorm 1 / 2 / merger)
 *   attn   [C, E]             a chunk of attention output
 *   hidden [C, max(M, E)]     a chunk of MLP activations; the merger's [C/4, 4E] hidden rows
 *   out    [N/4, H]           the merger output, handed to the caller
 * C = rows per chunk: every row-wise op (GEMMs, norms, activations) runs C rows at a time, so no
 * binding holds more than C rows of the widest activation. Attention runs a chunk of queries at a
 * time too, binding only the query rows and the key rows of their cu_seqlens groups (a group never
 * needs keys outside itself).
 *
 * Submits: the patch embedding, then one per block (so a long encode has natural progress points),
 * then the merger.
 */
#define G_LOG_DOMAIN "vf-vision"

#include "vf_vision.h"

#include "ops_window.h"

#include <string.h>

#include "vf_preprocess.h"
#include "vf_rope.h"

/* Rotary base of the vision tower (VisionRotaryEmbedding's theta; spec §7.2). */
#define VISION_ROPE_THETA 10000.0f
#define VISION_LN_EPS 1e-6f
/* Rows per chunk unless the binding limit asks for fewer: large enough that every GEMM keeps the
 * device busy, small enough that the chunk buffers stay a few tens of MiB in the 2B/7B shapes. */
#define DEFAULT_CHUNK_ROWS 2048u

struct VfVision {
  VfDevice *dev;
  const VfConfig *cfg;
  const VfWeights *w;
  uint32_t E;          /* embed_dim */
  uint32_t heads, head_dim;
  uint32_t M;          /* mlp_dim */
  uint32_t H;          /* merger output width */
  uint32_t unit;       /* patches per merged token: merge_size² */
  uint32_t patch_dim;  /* in_channels · temporal_patch · patch² = 1176 */
  uint32_t chunk_max;  /* 0: DEFAULT_CHUNK_ROWS */
  uint64_t scratch_bytes, scratch_in_use;

  /* The scratch plan: made at the first encode for `capacity` patches (or that encode's own size when
   * created with 0), again only for a larger encode or a new chunk size. */
  uint32_t capacity;   /* patches the scratch holds */
  uint32_t chunk;      /* rows per row-wise pass (a multiple of unit and of the alignment step) */
  uint32_t step;       /* window starts in x and qkv must be multiples of this many rows */
  uint32_t max_side;   /* rows of the rotary tables: the longest grid side `capacity` patches allow */
  uint32_t plans;      /* scratch plans made (for the tests) */
  struct {
    VfBuffer x, qkv, xn, attn, hidden, cu, positions, rope_cos, rope_sin;
  } scratch;
};

VfVision *
vf_vision_create(VfDevice *dev, const VfConfig *config, const VfWeights *weights, uint32_t max_patches,
                 GError **error)
{
  const VfVisionConfig *vc = &config->vision;
  if (!weights->blocks || !weights->patch_embed.buf.buffer) {
    g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_MISSING, "the weights hold no vision tower");
    return NULL;
  }
  uint32_t patch_dim = vc->in_channels * vc->temporal_patch * vc->patch_size * vc->patch_size;
  uint32_t head_dim = vc->num_heads ? vc->embed_dim / vc->num_heads : 0;
  if (vc->depth == 0 || head_dim == 0 || head_dim % 8 != 0 || vc->merge_size == 0 ||
      weights->patch_embed.cols != patch_dim || weights->patch_embed.rows != vc->embed_dim) {
    g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_UNSUPPORTED,
                "vision tower of depth %u, %u heads of %u, patch rows of %u: need a head_dim that is a multiple "
                "of 8 and a patch embedding of [%u, %u]",
                vc->depth, vc->num_heads, head_dim, weights->patch_embed.cols, vc->embed_dim, patch_dim);
    return NULL;
  }
  VfVision *v = g_new0(VfVision, 1);
  v->dev = dev;
  v->cfg = config;
  v->w = weights;
  v->E = vc->embed_dim;
  v->heads = vc->num_heads;
  v->head_dim = head_dim;
  v->M = vc->mlp_dim;
  v->H = vc->out_hidden;
  v->unit = vc->merge_size * vc->merge_size;
  v->patch_dim = patch_dim;
  v->capacity = max_patches / v->unit * v->unit;
  return v;
}

static void scratch_release(VfVision *v);

void
vf_vision_free(VfVision *vision)
{
  if (!vision)
    return;
  scratch_release(vision);
  g_free(vision);
}

void
vf_vision_set_chunk(VfVision *vision, uint32_t rows)
{
  if (rows == vision->chunk_max)
    return;
  vision->chunk_max = rows;
  scratch_release(vision); /* its chunk buffers were sized for the old chunk: the next encode plans again */
}

uint32_t
vf_vision_plans(const VfVision *vision)
{
  return vision->plans;
}

uint64_t
vf_vision_scratch_bytes(const VfVision *vision)
{
  return vision->scratch_bytes;
}

uint32_t
vf_vision_groups(const VfGrid *grids, uint32_t n_grids)
{
  uint32_t groups = 0;
  for (uint32_t i = 0; i < n_grids; i++)
    groups += grids[i].t;
  return groups;
}

/* ---- host-side plan: groups, positions, chunks ------------------------------------------------------ */

typedef struct {
  uint32_t n;          /* patches */
  uint32_t groups;
  int32_t *cu;         /* [groups + 1] cu_seqlens */
  int32_t *positions;  /* [3, n] stream-major: 0, the patch's row h, its column w (vf_op_rope's layout) */
  uint32_t max_side;   /* the longest grid side: rows of the rotary tables */
  uint32_t chunk;      /* rows per row-wise pass: the scratch plan's, at most n */
  uint32_t step;       /* the scratch plan's alignment step */
} Plan;

static void
plan_clear(Plan *p)
{
  g_free(p->cu);
  g_free(p->positions);
}

static gboolean
plan_build(VfVision *v, uint32_t n_patches, const VfGrid *grids, uint32_t n_grids, Plan *p, GError **error)
{
  const VfVisionConfig *vc = &v->cfg->vision;
  uint32_t ms = vc->merge_size;
  uint64_t total = 0;
  uint32_t max_side = 0;
  for (uint32_t i = 0; i < n_grids; i++) {
    const VfGrid *g = &grids[i];
    if (g->t == 0 || g->h == 0 || g->w == 0 || g->h % ms != 0 || g->w % ms != 0) {
      g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_MALFORMED,
                  "vision grid %u is %u×%u×%u: sides must be positive multiples of the merge size %u", i, g->t, g->h,
                  g->w, ms);
      return FALSE;
    }
    total += (uint64_t)g->t * g->h * g->w;
    max_side = MAX(max_side, MAX(g->h, g->w));
  }
  if (n_grids == 0 || total != n_patches || total > G_MAXINT32) {
    g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_MALFORMED,
                "%u patch rows given for %u grids of %" G_GUINT64_FORMAT " patches in all", n_patches, n_grids,
                (guint64)total);
    return FALSE;
  }
  p->n = n_patches;
  p->groups = vf_vision_groups(grids, n_grids);
  p->max_side = max_side;
  p->cu = g_new(int32_t, p->groups + 1);
  p->positions = g_new0(int32_t, 3 * (size_t)p->n);
  int32_t *row_h = p->positions + p->n, *col_w = p->positions + 2 * (size_t)p->n;
  uint32_t r = 0, group = 0;
  p->cu[0] = 0;
  for (uint32_t i = 0; i < n_grids; i++) {
    const VfGrid *g = &grids[i];
    /* Rows walk merge windows in raster order, and the window's patches in raster order (spec §3.7). */
    for (uint32_t t = 0; t < g->t; t++) {
      for (uint32_t bh = 0; bh < g->h / ms; bh++)
        for (uint32_t bw = 0; bw < g->w / ms; bw++)
          for (uint32_t mh = 0; mh < ms; mh++)
            for (uint32_t mw = 0; mw < ms; mw++, r++) {
              row_h[r] = (int32_t)(bh * ms + mh);
              col_w[r] = (int32_t)(bw * ms + mw);
            }
      group++;
      p->cu[group] = (int32_t)r;
    }
  }

  return TRUE;
}

/* The group holding row r: cu[g] <= r < cu[g + 1]. */
static uint32_t
group_of(const Plan *p, uint32_t r)
{
  uint32_t lo = 0, hi = p->groups; /* cu[lo] <= r < cu[hi] */
  while (hi - lo > 1) {
    uint32_t mid = (lo + hi) / 2;
    if ((uint32_t)p->cu[mid] <= r)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

/* The next chunk of queries from row `first`: at most `chunk` rows. A chunk that would end inside a group
 * that begins inside it ends before that group instead (at an aligned row), so the keys a chunk reads —
 * the groups of its rows — are never more than its first group and the chunk itself. */
static void
query_chunk(const Plan *p, uint32_t first, uint32_t *rows, VfAttentionWindow *window)
{
  uint32_t end = MIN(first + p->chunk, p->n);
  uint32_t last_group = group_of(p, end - 1);
  uint32_t last_begin = (uint32_t)p->cu[last_group];
  if ((uint32_t)p->cu[last_group + 1] > end && last_begin > first) {
    uint32_t cut = last_begin / p->step * p->step;
    if (cut > first)
      end = cut;
  }
  *rows = end - first;
  uint32_t kv_first = (uint32_t)p->cu[group_of(p, first)];
  uint32_t kv_end = (uint32_t)p->cu[group_of(p, end - 1) + 1];
  *window = (VfAttentionWindow){.q_first = first, .rows = end - first, .kv_first = kv_first,
                                .kv_rows = kv_end - kv_first};
}

/* ---- device buffers: the scratch plan, and the views of one encode ---------------------------------- */

typedef struct {
  VfBuffer pixels, x, qkv, xn, attn, hidden; /* views of the scratch (pixels and qkv share memory) */
  VfBuffer cu, positions, rope_cos, rope_sin;
  VfBuffer out; /* allocated for the encode and handed to the caller */
} Buffers;

static gboolean
alloc(VfVision *v, uint64_t bytes, VfBuffer *out, GError **error)
{
  if (!vf_buffer_alloc(v->dev, VF_MEMORY_DEVICE, bytes, out, error))
    return FALSE;
  v->scratch_in_use += out->size;
  v->scratch_bytes = MAX(v->scratch_bytes, v->scratch_in_use);
  return TRUE;
}

static void
release(VfVision *v, VfBuffer *buf)
{
  if (!buf->buffer)
    return;
  v->scratch_in_use -= buf->size;
  vf_buffer_release(v->dev, buf);
  memset(buf, 0, sizeof *buf);
}

static void
scratch_release(VfVision *v)
{
  VfBuffer *all[] = {&v->scratch.x, &v->scratch.qkv, &v->scratch.xn, &v->scratch.attn, &v->scratch.hidden,
                     &v->scratch.cu, &v->scratch.positions, &v->scratch.rope_cos, &v->scratch.rope_sin};
  for (size_t i = 0; i < G_N_ELEMENTS(all); i++)
    release(v, all[i]);
}

/* Chunk rows: whole merged tokens, window starts aligned in every buffer that is windowed by rows, and no
 * chunk binding over the device's limit for the widest row (pixels, qkv or the MLP). */
static gboolean
plan_chunk(VfVision *v, GError **error)
{
  const VfDeviceInfo *info = vf_device_get_info(v->dev);
  uint64_t align = MAX(MAX(info->storage_align, info->texel_align), 4);
  uint64_t rows_bytes[] = {(uint64_t)v->E * 4, 3ull * v->E * 4, (uint64_t)v->patch_dim * 4};
  v->step = (uint32_t)vf_ops_row_step(align, rows_bytes, G_N_ELEMENTS(rows_bytes));
  uint64_t out_bytes[] = {(uint64_t)v->H * 4};
  uint64_t merge_step = v->unit * vf_ops_row_step(align, out_bytes, 1); /* merger output rows per chunk start */
  uint64_t multiple = v->step / vf_ops_gcd(v->step, merge_step) * merge_step;
  uint64_t widest = MAX(MAX((uint64_t)v->patch_dim, 3ull * v->E), MAX((uint64_t)v->M, (uint64_t)v->E)) * 4;
  uint64_t fit = info->max_storage_range / widest;
  uint64_t want = MIN(v->chunk_max ? v->chunk_max : DEFAULT_CHUNK_ROWS, fit);
  v->chunk = (uint32_t)(want / multiple * multiple);
  if (v->chunk == 0) {
    g_set_error(error, VF_VK_ERROR, VF_VK_ERROR_LIMIT,
                "vision chunks must be multiples of %" G_GUINT64_FORMAT " rows, but only %" G_GUINT64_FORMAT
                " rows fit one binding (or the chunk size asked for is smaller)", multiple, want);
    return FALSE;
  }
  return TRUE;
}

/* Plans and allocates the scratch for `capacity` patches, with the rotary tables of every position such an
 * encode can have (a grid side is at most capacity / merge_size, the other side being at least that). */
static gboolean
plan_scratch(VfVision *v, uint32_t capacity, GError **error)
{
  scratch_release(v);
  v->plans++;
  if (!plan_chunk(v, error))
    return FALSE;
  uint64_t N = capacity, E = v->E, C = MIN(v->chunk, capacity);
  uint32_t ms = v->cfg->vision.merge_size;
  v->max_side = MAX(capacity / ms, ms);
  g_autoptr(VfRopeTables) t = vf_rope_tables_vision(VISION_ROPE_THETA, v->head_dim, v->max_side, error);
  uint64_t table_bytes = (uint64_t)v->max_side * (v->head_dim / 2) * 4;
  uint64_t hidden_floats = MAX((uint64_t)v->M, E); /* per chunk row: the MLP, or the merger's unit·E per unit rows */
  if (!t || !alloc(v, N * E * 4, &v->scratch.x, error) ||
      !alloc(v, N * MAX(3 * E, (uint64_t)v->patch_dim) * 4, &v->scratch.qkv, error) ||
      !alloc(v, C * E * 4, &v->scratch.xn, error) || !alloc(v, C * E * 4, &v->scratch.attn, error) ||
      !alloc(v, C * hidden_floats * 4, &v->scratch.hidden, error) ||
      !alloc(v, (N / v->unit + 1) * 4, &v->scratch.cu, error) || /* a group holds at least one merged token */
      !alloc(v, 3 * N * 4, &v->scratch.positions, error) || !alloc(v, table_bytes, &v->scratch.rope_cos, error) ||
      !alloc(v, table_bytes, &v->scratch.rope_sin, error) ||
      !vf_buffer_upload(v->dev, &v->scratch.rope_cos, 0, t->cos, table_bytes, error) ||
      !vf_buffer_upload(v->dev, &v->scratch.rope_sin, 0, t->sin, table_bytes, error)) {
    scratch_release(v);
    return FALSE;
  }
  v->capacity = capacity;
  return TRUE;
}

/* The scratch for an encode of `n` patches: the plan made once, unless this encode is larger than any
 * planned for (a VfVision created without a capacity, or an item past the memory plan's largest) or the
 * chunk size changed. A re-plan is logged: it is the exception the memory plan did not count. */
static gboolean
scratch_for(VfVision *v, uint32_t n, GError **error)
{
  if (v->scratch.x.buffer && n <= v->capacity)
    return TRUE;
  uint32_t capacity = MAX(n, v->capacity);
  if (v->plans > 0 && n > v->capacity)
    g_message("vision scratch planned again for %u patches (planned for %u)", n, v->capacity);
  return plan_scratch(v, capacity, error);
}

/* Views of the scratch for the encode planned in `p`, each as large as the encode needs (so every binding is
 * what it would be with buffers of the encode's own size). */
static void
buffers_view(VfVision *v, const Plan *p, Buffers *b)
{
  uint64_t N = p->n, E = v->E, C = p->chunk;
  uint64_t hidden_floats = MAX((uint64_t)v->M, E);
  uint64_t table_bytes = (uint64_t)p->max_side * (v->head_dim / 2) * 4;
  b->pixels = vf_buffer_slice(&v->scratch.qkv, 0, N * v->patch_dim * 4);
  b->x = vf_buffer_slice(&v->scratch.x, 0, N * E * 4);
  b->qkv = vf_buffer_slice(&v->scratch.qkv, 0, N * 3 * E * 4);
  b->xn = vf_buffer_slice(&v->scratch.xn, 0, C * E * 4);
  b->attn = vf_buffer_slice(&v->scratch.attn, 0, C * E * 4);
  b->hidden = vf_buffer_slice(&v->scratch.hidden, 0, C * hidden_floats * 4);
  b->cu = vf_buffer_slice(&v->scratch.cu, 0, (uint64_t)(p->groups + 1) * 4);
  b->positions = vf_buffer_slice(&v->scratch.positions, 0, 3 * N * 4);
  b->rope_cos = vf_buffer_slice(&v->scratch.rope_cos, 0, table_bytes);
  b->rope_sin = vf_buffer_slice(&v->scratch.rope_sin, 0, table_bytes);
}

static VfBuffer
rows_of(const VfBuffer *b, uint64_t row_floats, uint64_t first, uint64_t count)
{
  return vf_buffer_slice(b, first * row_floats * 4, count * row_floats * 4);
}

static gboolean
submit(VfCmd *cmd, GError **error)
{
  gboolean ok = vf_cmd_submit(cmd, error);
  vf_cmd_free(cmd);
  return ok;
}

/* ---- graphs ----------------------------------------------------------------------------------------- */

/* x = pixels · Wpatchᵀ (the Conv3d with stride = kernel is a GEMM over patch rows). */
static void
record_patch_embed(VfVision *v, VfCmd *cmd, const Plan *p, const Buffers *b)
{
  for (uint32_t first = 0; first < p->n; first += p->chunk) {
    uint32_t rows = MIN(p->chunk, p->n - first);
    VfBuffer px = rows_of(&b->pixels, v->patch_dim, first, rows);
    VfBuffer x = rows_of(&b->x, v->E, first, rows);
    vf_op_matmul(cmd, &px, rows, &v->w->patch_embed, NULL, NULL, &x);
  }
}

/* One block (spec §7.4): LayerNorm 1 and the qkv projection chunk by chunk; 2-D RoPE on q and k of all
 * rows; then per chunk of queries the grouped attention, proj + residual and the MLP + residual. */
static void
record_block(VfVision *v, VfCmd *cmd, const Plan *p, const Buffers *b, const VfVisionBlock *B)
{
  uint32_t E = v->E, M = v->M;
  for (uint32_t first = 0; first < p->n; first += p->chunk) {
    uint32_t rows = MIN(p->chunk, p->n - first);
    VfBuffer x = rows_of(&b->x, E, first, rows);
    VfBuffer xn = rows_of(&b->xn, E, 0, rows);
    VfBuffer qkv = rows_of(&b->qkv, 3 * E, first, rows);
    vf_op_layernorm(cmd, &x, &B->norm1_w, &B->norm1_b, &xn, rows, E, VISION_LN_EPS);
    vf_op_matmul(cmd, &xn, rows, &B->qkv, &B->qkv_bias, NULL, &qkv);
  }
  /* q and k heads sit side by side at the start of each qkv row: 2·heads heads to rotate. Streams 1 and
   * 2 of the positions are the patch's row and column; sections [0, F/2, F/2]. */
  VfRopeShape rope = {.rows = p->n, .row_stride = 3 * E, .heads = 2 * v->heads, .head_dim = v->head_dim,
                      .max_position = p->max_side};
  vf_rope_vision_sections(v->head_dim, rope.sections);
  vf_op_rope(cmd, &b->qkv, &rope, &b->positions, &b->rope_cos, &b->rope_sin);

  uint32_t rows;
  for (uint32_t first = 0; first < p->n; first += rows) {
    VfAttentionWindow window;
    query_chunk(p, first, &rows, &window);
    VfBuffer x = rows_of(&b->x, E, first, rows);
    VfBuffer xn = rows_of(&b->xn, E, 0, rows);
    VfBuffer attn = rows_of(&b->attn, E, 0, rows);
    VfBuffer hidden = rows_of(&b->hidden, M, 0, rows);
    vf_op_attention_groups_window(cmd, VF_ATTENTION_AUTO, &b->qkv, 3 * E, v->heads, v->head_dim, &b->cu, p->groups,
                                  &window, &attn);
    vf_op_matmul(cmd, &attn, rows, &B->proj, &B->proj_bias, &x, &x);
    vf_op_layernorm(cmd, &x, &B->norm2_w, &B->norm2_b, &xn, rows, E, VISION_LN_EPS);
    vf_op_matmul_act(cmd, VF_MATMUL_AUTO, &xn, rows, &B->fc1, &B->fc1_bias, NULL, VF_MATMUL_ACT_QUICK_GELU, &hidden);
    vf_op_matmul(cmd, &hidden, rows, &B->fc2, &B->fc2_bias, &x, &x);
  }
}

/* The merger (spec §7.5): LayerNorm, then `unit` consecutive rows read as one row of unit·E floats (a
 * plain view of the normalised chunk), fc1 + exact GELU + fc2. */
static void
record_merger(VfVision *v, VfCmd *cmd, const Plan *p, const Buffers *b)
{
  const VfWeights *w = v->w;
  uint32_t E = v->E, wide = v->unit * E;
  for (uint32_t first = 0; first < p->n; first += p->chunk) {
    uint32_t rows = MIN(p->chunk, p->n - first), tokens = rows / v->unit;
    VfBuffer x = rows_of(&b->x, E, first, rows);
    VfBuffer xn = rows_of(&b->xn, E, 0, rows);               /* [tokens, unit·E] */
    VfBuffer hidden = rows_of(&b->hidden, wide, 0, tokens);  /* [tokens, unit·E] */
    VfBuffer out = rows_of(&b->out, v->H, first / v->unit, tokens);
    vf_op_layernorm(cmd, &x, &w->merger_ln_w, &w->merger_ln_b, &xn, rows, E, VISION_LN_EPS);
    vf_op_matmul(cmd, &xn, tokens, &w->merger_fc1, &w->merger_fc1_bias, NULL, &hidden);
    vf_op_gelu(cmd, &hidden, &hidden, tokens * wide);
    vf_op_matmul(cmd, &hidden, tokens, &w->merger_fc2, &w->merger_fc2_bias, NULL, &out);
  }
}

/* rot_pos_emb as the reference computes it: float32 products of the position and inv_v (spec §7.2). */
static void
trace_rotary_angles(const VfVision *v, const Plan *p, float *angles)
{
  uint32_t quarter = v->head_dim / 4;
  float *inv = g_new(float, quarter);
  vf_rope_inv_freq(VISION_ROPE_THETA, v->head_dim / 2, inv);
  const int32_t *row_h = p->positions + p->n, *col_w = p->positions + 2 * (size_t)p->n;
  for (uint32_t r = 0; r < p->n; r++) {
    float *a = angles + (size_t)r * 2 * quarter;
    for (uint32_t j = 0; j < quarter; j++) {
      a[j] = (float)row_h[r] * inv[j];
      a[quarter + j] = (float)col_w[r] * inv[j];
    }
  }
  g_free(inv);
}

static gboolean
download(VfVision *v, const VfBuffer *buf, float *dst, uint64_t floats, GError **error)
{
  return !dst || vf_buffer_download(v->dev, buf, 0, dst, floats * 4, error);
}

gboolean
vf_vision_encode(VfVision *v, const float *pixels, uint32_t n_patches, const VfGrid *grids, uint32_t n_grids,
                 VfBuffer *out, const VfVisionTrace *trace, GError **error)
{
  return vf_vision_encode_run(v, pixels, n_patches, grids, n_grids, out, trace, NULL, error);
}

/* Between two submits: the stop request, then how far the encode is. */
static gboolean
between_submits(const VfVisionRun *run, uint32_t blocks_done, uint32_t blocks, GError **error)
{
  if (!run)
    return TRUE;
  if (g_cancellable_set_error_if_cancelled(run->cancellable, error))
    return FALSE;
  if (run->progress)
    run->progress(blocks_done, blocks, run->progress_user);
  return TRUE;
}

gboolean
vf_vision_encode_run(VfVision *v, const float *pixels, uint32_t n_patches, const VfGrid *grids, uint32_t n_grids,
                     VfBuffer *out, const VfVisionTrace *trace, const VfVisionRun *run, GError **error)
{
  Plan p = {0};
  Buffers b = {0};
  if (!plan_build(v, n_patches, grids, n_grids, &p, error) || !scratch_for(v, p.n, error))
    goto fail;
  /* A single chunk needs no aligned successor: small inputs bind only their own rows. */
  p.chunk = MIN(v->chunk, p.n);
  p.step = v->step;
  uint64_t N = p.n;
  if (trace && trace->cu_seqlens)
    memcpy(trace->cu_seqlens, p.cu, (p.groups + 1) * sizeof(int32_t));
  if (trace && trace->rot_pos_emb)
    trace_rotary_angles(v, &p, trace->rot_pos_emb);
  buffers_view(v, &p, &b);

  /* Patch embedding: the pixels live in qkv's memory only until x holds their embeddings. */
  if (!vf_buffer_upload(v->dev, &b.pixels, 0, pixels, N * v->patch_dim * 4, error))
    goto fail;
  VfCmd *cmd = vf_cmd_new(v->dev, error);
  if (!cmd)
    goto fail;
  record_patch_embed(v, cmd, &p, &b);
  uint32_t depth = v->cfg->vision.depth;
  if (!submit(cmd, error) || !download(v, &b.x, trace ? trace->patch_embed : NULL, N * v->E, error) ||
      !between_submits(run, 0, depth, error))
    goto fail;

  if (!alloc(v, N / v->unit * v->H * 4, &b.out, error) ||
      !vf_buffer_upload(v->dev, &b.cu, 0, p.cu, (uint64_t)(p.groups + 1) * 4, error) ||
      !vf_buffer_upload(v->dev, &b.positions, 0, p.positions, 3 * N * 4, error))
    goto fail;

  for (uint32_t l = 0; l < depth; l++) {
    cmd = vf_cmd_new(v->dev, error);
    if (!cmd)
      goto fail;
    record_block(v, cmd, &p, &b, &v->w->blocks[l]);
    if (!submit(cmd, error))
      goto fail;
    if (l == 0 && trace && !download(v, &b.x, trace->block0_out, N * v->E, error))
      goto fail;
    if (!between_submits(run, l + 1, depth, error))
      goto fail;
  }

  cmd = vf_cmd_new(v->dev, error);
  if (!cmd)
    goto fail;
  record_merger(v, cmd, &p, &b);
  if (!submit(cmd, error) ||
      !download(v, &b.out, trace ? trace->merger_out : NULL, N / v->unit * v->H, error))
    goto fail;

  *out = b.out;
  v->scratch_in_use -= out->size; /* the caller's now */
  plan_clear(&p);
  return TRUE;

fail:
  release(v, &b.out);
  plan_clear(&p);
  return FALSE;
}
