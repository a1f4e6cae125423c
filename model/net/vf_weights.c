/* Loading a checkpoint onto the device: plan every destination from the config, check every tensor
 * against the plan, then read the tensors from the files into the arena (spec §2.2–2.4) with pread, so that
 * a file that shrinks during the load is an error, not a SIGBUS. */
#define G_LOG_DOMAIN "vf-model"

#include "vf_weights.h"

#include <math.h>
#include <string.h>

#include "vf_checkpoint.h"
#include "vf_quant.h"

G_DEFINE_QUARK(vf-weights-error-quark, vf_weights_error)

/* Bytes copied per upload call: small enough for a smooth progress bar, large enough that the per-call
 * queue wait does not matter. */
#define UPLOAD_CHUNK (16ull << 20)

#define MAX_PARTS 3
#define MAX_EXPECTED_RANK 5

/* One checkpoint tensor that fills rows [first, first + rows) of a destination; for a packed matrix, one
 * quantized linear (its qweight, qzeros, scales and g_idx, and the zero bias early GPTQ uploads carry). */
typedef struct {
  const char *name;                  /* original Qwen2-VL name; a packed linear's module name */
  uint32_t rank;
  uint64_t shape[MAX_EXPECTED_RANK]; /* what the config implies; a packed linear: [outputs, inputs] */
  const VfTensor *tensor;            /* found by check_plan() */
  const VfTensor *quant[VF_QUANT_N_TENSORS];
} Part;

/* One device buffer: a matrix in the checkpoint dtype, or an f32 vector widened on the host. The parts
 * are stacked along the first dimension (q, k, v rows into qkv). */
typedef struct {
  const char *label;  /* the destination's name in messages */
  VfMatrix *matrix;   /* NULL for a vector */
  VfBuffer *vector;   /* NULL for a matrix */
  uint64_t cols;      /* matrix columns (product of the trailing dims); 1 for a vector */
  Part parts[MAX_PARTS];
  uint32_t n_parts;
  VfDType dtype;      /* matrix: the checkpoint dtype; vector: f32 */
  uint64_t bytes;     /* on the device (a packed matrix: words, groups and g_idx) */
  const VfQuantConfig *quant; /* a packed matrix (the parts are quantized linears), else NULL */
  VfMemoryKind memory; /* device-local, or host-visible (the embedding table of quantized untied models) */
  bool act_order;     /* packed: some part's g_idx is not k / group width */
} Slot;

typedef struct {
  GPtrArray *slots;     /* Slot* */
  GStringChunk *names;
} Plan;

static Slot *
add_slot(Plan *p, const char *label, VfMatrix *matrix, VfBuffer *vector)
{
  Slot *s = g_new0(Slot, 1);
  s->label = g_string_chunk_insert(p->names, label);
  s->matrix = matrix;
  s->vector = vector;
  g_ptr_array_add(p->slots, s);
  return s;
}

static void
add_part(Plan *p, Slot *s, const char *name, uint32_t rank, const uint64_t *shape)
{
  g_assert(s->n_parts < MAX_PARTS && rank <= MAX_EXPECTED_RANK && rank >= 1);
  Part *part = &s->parts[s->n_parts++];
  part->name = g_string_chunk_insert(p->names, name);
  part->rank = rank;
  memcpy(part->shape, shape, rank * sizeof *shape);
  uint64_t cols = 1;
  for (uint32_t i = 1; i < rank; i++)
    cols *= shape[i];
  g_assert(s->n_parts == 1 || s->cols == cols);
  s->cols = cols;
}

/* A matrix [rows, cols] from one tensor of the same shape. */
static void
plan_matrix(Plan *p, VfMatrix *m, const char *name, uint64_t rows, uint64_t cols)
{
  add_part(p, add_slot(p, name, m, NULL), name, 2, (uint64_t[]){rows, cols});
}

/* An f32 vector [n] from one 1-D tensor. */
static void
plan_vector(Plan *p, VfBuffer *b, const char *name, uint64_t n)
{
  add_part(p, add_slot(p, name, NULL, b), name, 1, (uint64_t[]){n});
}

static void
plan_llm_layer(Plan *p, const VfConfig *c, uint32_t i, VfLlmLayer *l)
{
  uint64_t h = c->hidden, kv = (uint64_t)c->kv_heads * c->head_dim, inter = c->intermediate;
  char prefix[64], name[128];
  g_snprintf(prefix, sizeof prefix, "model.layers.%u.", i);
#define NAME(suffix) (g_snprintf(name, sizeof name, "%s%s", prefix, suffix), name)
  /* Quantized checkpoints store each linear as module.{qweight,qzeros,scales,g_idx}: the parts are
   * named by module, with shape [outputs, inputs]. */
  const VfQuantConfig *quant = c->quant.method != VF_QUANT_NONE ? &c->quant : NULL;
#define LINEAR(module) NAME(quant ? module : module ".weight")

  plan_vector(p, &l->attn_norm, NAME("input_layernorm.weight"), h);

  Slot *qkv = add_slot(p, LINEAR("self_attn.{q,k,v}_proj"), &l->qkv, NULL);
  add_part(p, qkv, LINEAR("self_attn.q_proj"), 2, (uint64_t[]){h, h});
  add_part(p, qkv, LINEAR("self_attn.k_proj"), 2, (uint64_t[]){kv, h});
  add_part(p, qkv, LINEAR("self_attn.v_proj"), 2, (uint64_t[]){kv, h});
  Slot *qkv_bias = add_slot(p, NAME("self_attn.{q,k,v}_proj.bias"), NULL, &l->qkv_bias);
  add_part(p, qkv_bias, NAME("self_attn.q_proj.bias"), 1, (uint64_t[]){h});
  add_part(p, qkv_bias, NAME("self_attn.k_proj.bias"), 1, (uint64_t[]){kv});
  add_part(p, qkv_bias, NAME("self_attn.v_proj.bias"), 1, (uint64_t[]){kv});

  Slot *o = add_slot(p, LINEAR("self_attn.o_proj"), &l->o, NULL);
  add_part(p, o, LINEAR("self_attn.o_proj"), 2, (uint64_t[]){h, h});
  plan_vector(p, &l->mlp_norm, NAME("post_attention_layernorm.weight"), h);

  Slot *gate_up = add_slot(p, LINEAR("mlp.{gate,up}_proj"), &l->gate_up, NULL);
  add_part(p, gate_up, LINEAR("mlp.gate_proj"), 2, (uint64_t[]){inter, h});
  add_part(p, gate_up, LINEAR("mlp.up_proj"), 2, (uint64_t[]){inter, h});
  Slot *down = add_slot(p, LINEAR("mlp.down_proj"), &l->down, NULL);
  add_part(p, down, LINEAR("mlp.down_proj"), 2, (uint64_t[]){h, inter});
  Slot *linears[] = {qkv, o, gate_up, down};
  for (size_t k = 0; k < G_N_ELEMENTS(linears); k++)
    linears[k]->quant = quant;
#undef LINEAR
#undef NAME
}

static void
plan_vision_block(Plan *p, const VfConfig *c, uint32_t j, VfVisionBlock *b)
{
  uint64_t e = c->vision.embed_dim, m = c->vision.mlp_dim;
  char name[128];
#define NAME(suffix) (g_snprintf(name, sizeof name, "visual.blocks.%u.%s", j, suffix), name)
  plan_vector(p, &b->norm1_w, NAME("norm1.weight"), e);
  plan_vector(p, &b->norm1_b, NAME("norm1.bias"), e);
  plan_matrix(p, &b->qkv, NAME("attn.qkv.weight"), 3 * e, e);
  plan_vector(p, &b->qkv_bias, NAME("attn.qkv.bias"), 3 * e);
  plan_matrix(p, &b->proj, NAME("attn.proj.weight"), e, e);
  plan_vector(p, &b->proj_bias, NAME("attn.proj.bias"), e);
  plan_vector(p, &b->norm2_w, NAME("norm2.weight"), e);
  plan_vector(p, &b->norm2_b, NAME("norm2.bias"), e);
  plan_matrix(p, &b->fc1, NAME("mlp.fc1.weight"), m, e);
  plan_vector(p, &b->fc1_bias, NAME("mlp.fc1.bias"), m);
  plan_matrix(p, &b->fc2, NAME("mlp.fc2.weight"), e, m);
  plan_vector(p, &b->fc2_bias, NAME("mlp.fc2.bias"), e);
#undef NAME
}

/* Every destination of `w` and the tensors that fill it, with the shapes the config implies. */
static void
build_plan(Plan *p, const VfConfig *c, VfWeights *w, bool tied)
{
  uint64_t h = c->hidden, v = c->vocab;
  plan_matrix(p, &w->embed, "model.embed_tokens.weight", v, h);
  /* Only the prompt's rows of the embedding table are ever read: models that fit a small GPU by being
   * quantized keep it in host memory (1.09 GB for 7B) unless it is also the lm_head. */
  if (!tied && c->quant.method != VF_QUANT_NONE)
    ((Slot *)p->slots->pdata[p->slots->len - 1])->memory = VF_MEMORY_HOST;
  if (!tied)
    plan_matrix(p, &w->lm_head, "lm_head.weight", v, h);
  for (uint32_t i = 0; i < c->layers; i++)
    plan_llm_layer(p, c, i, &w->layers[i]);
  plan_vector(p, &w->final_norm, "model.norm.weight", h);

  const VfVisionConfig *vc = &c->vision;
  uint64_t e = vc->embed_dim, merged = e * vc->merge_size * vc->merge_size;
  /* Conv3d weight [E, C, T, P, P]; flattened, a row matches one pixel_values row (spec §2.2). */
  Slot *patch = add_slot(p, "visual.patch_embed.proj.weight", &w->patch_embed, NULL);
  add_part(p, patch, "visual.patch_embed.proj.weight", 5,
           (uint64_t[]){e, vc->in_channels, vc->temporal_patch, vc->patch_size, vc->patch_size});
  for (uint32_t j = 0; j < vc->depth; j++)
    plan_vision_block(p, c, j, &w->blocks[j]);
  plan_vector(p, &w->merger_ln_w, "visual.merger.ln_q.weight", e);
  plan_vector(p, &w->merger_ln_b, "visual.merger.ln_q.bias", e);
  plan_matrix(p, &w->merger_fc1, "visual.merger.mlp.0.weight", merged, merged);
  plan_vector(p, &w->merger_fc1_bias, "visual.merger.mlp.0.bias", merged);
  plan_matrix(p, &w->merger_fc2, "visual.merger.mlp.2.weight", vc->out_hidden, merged);
  plan_vector(p, &w->merger_fc2_bias, "visual.merger.mlp.2.bias", vc->out_hidden);
}

static void
plan_free(Plan *p)
{
  g_ptr_array_free(p->slots, TRUE);
  g_string_chunk_free(p->names);
}

/* ---- checking -------------------------------------------------------------------------------------- */

static gboolean
check_shape(const VfTensor *t, uint32_t rank, const uint64_t *shape, GError **error)
{
  bool same = t->rank == rank;
  for (uint32_t i = 0; same && i < t->rank; i++)
    same = t->shape[i] == shape[i];
  if (!same) {
    g_autofree char *got = vf_shape_string(t->rank, t->shape);
    g_autofree char *want = vf_shape_string(rank, shape);
    g_set_error(error, VF_WEIGHTS_ERROR, VF_WEIGHTS_ERROR_SHAPE,
                "%s: tensor '%s' has shape %s, but config.json implies %s", t->path, t->name, got, want);
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_part(const VfCheckpoint *ck, const Slot *s, Part *part, GError **error)
{
  const VfTensor *t = vf_checkpoint_find(ck, part->name);
  if (!t) {
    g_set_error(error, VF_WEIGHTS_ERROR, VF_WEIGHTS_ERROR_MISSING, "%s: tensor '%s' is missing",
                vf_checkpoint_source(ck), part->name);
    return FALSE;
  }
  if (!check_shape(t, part->rank, part->shape, error))
    return FALSE;
  VfDType dtype;
  bool usable = vf_st_dtype_to_vf(t->dtype, &dtype) &&
                (dtype == VF_DTYPE_BF16 || dtype == VF_DTYPE_F16 || dtype == VF_DTYPE_F32);
  if (!usable) {
    g_set_error(error, VF_WEIGHTS_ERROR, VF_WEIGHTS_ERROR_DTYPE,
                "%s: tensor '%s' is %s; weights must be BF16, F16 or F32", t->path, t->name,
                vf_st_dtype_name(t->dtype));
    return FALSE;
  }
  part->tensor = t;
  return TRUE;
}

/* The bias tensors the first GPTQ uploads carried for Qwen2's bias-free linears (o, gate, up, down):
 * accepted when they are all zero, as they were; any other value would change the model. */
static gboolean
check_zero_bias(const VfCheckpoint *ck, const Part *part, GError **error)
{
  g_autofree char *name = g_strconcat(part->name, ".bias", NULL);
  const VfTensor *t = vf_checkpoint_find(ck, name);
  if (!t)
    return TRUE;
  VfDType dtype;
  if (!check_shape(t, 1, part->shape, error))
    return FALSE;
  if (!vf_st_dtype_to_vf(t->dtype, &dtype) || (dtype != VF_DTYPE_F16 && dtype != VF_DTYPE_BF16 && dtype != VF_DTYPE_F32)) {
    g_set_error(error, VF_WEIGHTS_ERROR, VF_WEIGHTS_ERROR_DTYPE, "%s: tensor '%s' is %s; biases must be F16, BF16 or F32",
                t->path, t->name, vf_st_dtype_name(t->dtype));
    return FALSE;
  }
  /* ±0 in every float format: all bits but the sign clear. */
  size_t width = vf_dtype_size(dtype);
  for (uint64_t i = 0; i < t->size; i += width) {
    uint32_t bits = 0;
    memcpy(&bits, t->data + i, width);
    if (bits & ~(1u << (8 * width - 1))) {
      g_set_error(error, VF_WEIGHTS_ERROR, VF_WEIGHTS_ERROR_VALUE,
                  "%s: tensor '%s' has a non-zero entry at %" G_GUINT64_FORMAT
                  "; Qwen2-VL's %s has no bias (only zero biases of early GPTQ uploads are accepted)",
                  t->path, t->name, i / width, part->name);
      return FALSE;
    }
  }
  return TRUE;
}

/* A quantized linear: its stored tensors with the shapes and dtypes of its format, and its g_idx. */
static gboolean
check_packed_part(const VfCheckpoint *ck, const Slot *s, Part *part, bool *act_order, GError **error)
{
  const VfQuantConfig *q = s->quant;
  uint32_t rows = (uint32_t)part->shape[0], cols = (uint32_t)part->shape[1];
  for (int which = 0; which < VF_QUANT_N_TENSORS; which++) {
    if (!vf_quant_has_tensor(q, which))
      continue;
    g_autofree char *name = g_strconcat(part->name, ".", vf_quant_tensor_names[which], NULL);
    const VfTensor *t = vf_checkpoint_find(ck, name);
    if (!t) {
      g_set_error(error, VF_WEIGHTS_ERROR, VF_WEIGHTS_ERROR_MISSING, "%s: tensor '%s' is missing (%s checkpoint)",
                  vf_checkpoint_source(ck), name, vf_quant_format_name(q));
      return FALSE;
    }
    uint64_t shape[2];
    uint32_t rank = vf_quant_tensor_shape(q, which, rows, cols, shape);
    if (!check_shape(t, rank, shape, error))
      return FALSE;
    VfStDtype want = which == VF_QUANT_SCALES ? VF_ST_F16 : VF_ST_I32;
    if (t->dtype != want) {
      g_set_error(error, VF_WEIGHTS_ERROR, VF_WEIGHTS_ERROR_DTYPE, "%s: tensor '%s' is %s; %s %s must be %s", t->path,
                  t->name, vf_st_dtype_name(t->dtype), vf_quant_format_name(q), vf_quant_tensor_names[which],
                  vf_st_dtype_name(want));
      return FALSE;
    }
    part->quant[which] = t;
  }
  bool part_act_order;
  const VfTensor *g_idx = part->quant[VF_QUANT_G_IDX];
  if (!vf_quant_read_g_idx(q, cols, g_idx ? g_idx->data : NULL, NULL, &part_act_order, error)) {
    g_prefix_error(error, "%s: tensor '%s': ", g_idx->path, g_idx->name);
    return FALSE;
  }
  *act_order |= part_act_order;
  bool has_bias = g_str_has_suffix(part->name, "q_proj") || g_str_has_suffix(part->name, "k_proj") ||
                  g_str_has_suffix(part->name, "v_proj");
  return has_bias || check_zero_bias(ck, part, error);
}

/* A packed destination: every part checked, sizes of the word, group and g_idx arrays. */
static gboolean
check_packed_slot(const VfCheckpoint *ck, Slot *s, GError **error)
{
  uint64_t rows = 0;
  for (uint32_t k = 0; k < s->n_parts; k++) {
    if (!check_packed_part(ck, s, &s->parts[k], &s->act_order, error))
      return FALSE;
    rows += s->parts[k].shape[0];
  }
  uint32_t cols = (uint32_t)s->cols, width = vf_quant_group_width(s->quant, cols);
  VfMatrix *m = s->matrix;
  *m = (VfMatrix){.dtype = VF_DTYPE_I32, .rows = (uint32_t)rows, .cols = cols,
                  .packing = {.bits = s->quant->bits, .group_width = width}};
  /* Rows where g_idx rows 1 and 2 take over: the ends of the first two parts. */
  uint32_t end = 0;
  for (uint32_t k = 0; k < 2; k++) {
    end += k + 1 < s->n_parts ? (uint32_t)s->parts[k].shape[0] : 0;
    m->packing.g_idx_rows[k] = k + 1 < s->n_parts ? end : (uint32_t)rows;
  }
  s->bytes = vf_packed_words_bytes(m->packing.bits, m->rows, cols) +
             vf_packed_groups_bytes(m->rows, cols, width) + (s->act_order ? (uint64_t)s->n_parts * cols * 4 : 0);
  return TRUE;
}

/* Finds every tensor and checks shape and dtype; fills each slot's dtype and size. Touches no device. */
static gboolean
check_plan(const VfCheckpoint *ck, Plan *p, GError **error)
{
  for (guint i = 0; i < p->slots->len; i++) {
    Slot *s = p->slots->pdata[i];
    if (s->quant) {
      if (!check_packed_slot(ck, s, error))
        return FALSE;
      continue;
    }
    uint64_t rows = 0;
    for (uint32_t k = 0; k < s->n_parts; k++) {
      if (!check_part(ck, s, &s->parts[k], error))
        return FALSE;
      rows += s->parts[k].shape[0];
    }
    if (s->vector) {
      s->dtype = VF_DTYPE_F32;
      s->bytes = rows * sizeof(float);
      continue;
    }
    /* The parts of a fused matrix are read by one kernel with one dtype. */
    const VfTensor *first = s->parts[0].tensor;
    for (uint32_t k = 1; k < s->n_parts; k++) {
      const VfTensor *t = s->parts[k].tensor;
      if (t->dtype != first->dtype) {
        g_set_error(error, VF_WEIGHTS_ERROR, VF_WEIGHTS_ERROR_DTYPE,
                    "%s: tensor '%s' is %s but '%s' is %s; they are fused into one matrix (%s) and must match",
                    t->path, t->name, vf_st_dtype_name(t->dtype), first->name, vf_st_dtype_name(first->dtype),
                    s->label);
        return FALSE;
      }
    }
    vf_st_dtype_to_vf(first->dtype, &s->dtype);
    if (rows > UINT32_MAX || s->cols > UINT32_MAX) {
      g_set_error(error, VF_WEIGHTS_ERROR, VF_WEIGHTS_ERROR_SHAPE, "%s: tensor '%s' is too large", first->path,
                  first->name);
      return FALSE;
    }
    s->matrix->dtype = s->dtype;
    s->matrix->rows = (uint32_t)rows;
    s->matrix->cols = (uint32_t)s->cols;
    s->bytes = rows * s->cols * vf_dtype_size(s->dtype);
  }
  return TRUE;
}

/* ---- uploading ------------------------------------------------------------------------------------- */

typedef struct {
  VfProgressFunc func;
  void *user;
  uint64_t done, total;
} Progress;

static void
progress_add(Progress *pr, uint64_t bytes)
{
  pr->done += bytes;
  if (pr->func)
    pr->func(pr->done, pr->total, pr->user);
}

static float
f16_to_f32(uint16_t h)
{
  uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  float v;
  if (exp == 0)
    v = ldexpf((float)mant, -24); /* zero or subnormal */
  else if (exp == 31)
    v = mant ? NAN : INFINITY;
  else
    v = ldexpf((float)(mant | 0x400), (int)exp - 25);
  return sign ? -v : v;
}

/* Widens `n` elements of a BF16/F16/F32 tensor (its bytes as read from the file) to f32. */
static void
widen_to_f32(const VfTensor *t, const uint8_t *bytes, uint64_t n, float *out)
{
  if (t->dtype == VF_ST_F32) {
    memcpy(out, bytes, n * sizeof(float));
    return;
  }
  for (uint64_t i = 0; i < n; i++) {
    uint16_t h;
    memcpy(&h, bytes + 2 * i, 2);
    if (t->dtype == VF_ST_BF16) {
      uint32_t bits = (uint32_t)h << 16;
      memcpy(&out[i], &bits, 4);
    } else {
      out[i] = f16_to_f32(h);
    }
  }
}

/* A packed matrix: each part repacked on the host (vf_quant_repack) into its rows of the word and group
 * arrays, and its g_idx row when the matrix needs one. */
static gboolean
upload_packed_slot(VfDevice *dev, Slot *s, Progress *pr, GError **error)
{
  VfMatrix *m = s->matrix;
  VfPacking *q = &m->packing;
  uint64_t word_row = vf_packed_words_bytes(q->bits, 1, m->cols);
  uint64_t group_row = vf_packed_groups_bytes(1, m->cols, q->group_width);
  if (!vf_buffer_alloc(dev, VF_MEMORY_DEVICE, m->rows * word_row, &m->buf, error) ||
      !vf_buffer_alloc(dev, VF_MEMORY_DEVICE, m->rows * group_row, &q->groups, error) ||
      (s->act_order && !vf_buffer_alloc(dev, VF_MEMORY_DEVICE, (uint64_t)s->n_parts * m->cols * 4, &q->g_idx, error))) {
    g_prefix_error(error, "%s (%" G_GUINT64_FORMAT " bytes): ", s->label, (guint64)s->bytes);
    return FALSE;
  }
  uint64_t row = 0;
  for (uint32_t k = 0; k < s->n_parts; k++) {
    const Part *part = &s->parts[k];
    uint32_t rows = (uint32_t)part->shape[0];
    /* Read with pread, not through the mapping (see upload_slot). */
    VfQuantTensors t = {{0}};
    void *read_back[VF_QUANT_N_TENSORS] = {NULL};
    gboolean read_ok = TRUE;
    for (int which = 0; which < VF_QUANT_N_TENSORS && read_ok; which++)
      if (part->quant[which]) {
        read_back[which] = g_malloc(part->quant[which]->size);
        read_ok = vf_tensor_read(part->quant[which], 0, read_back[which], part->quant[which]->size, error);
        t.data[which] = read_back[which];
      }
    if (!read_ok) {
      for (int which = 0; which < VF_QUANT_N_TENSORS; which++)
        g_free(read_back[which]);
      return FALSE;
    }
    g_autofree uint32_t *words = g_malloc(rows * word_row);
    g_autofree uint32_t *groups = g_malloc(rows * group_row);
    g_autofree uint32_t *g_idx = g_new(uint32_t, m->cols);
    bool act_order;
    gboolean repacked = vf_quant_repack(s->quant, rows, m->cols, &t, words, groups, g_idx, &act_order, error);
    for (int which = 0; which < VF_QUANT_N_TENSORS; which++)
      g_free(read_back[which]);
    if (!repacked) {
      g_prefix_error(error, "%s: ", part->name);
      return FALSE;
    }
    if (!vf_buffer_upload(dev, &m->buf, row * word_row, words, rows * word_row, error) ||
        !vf_buffer_upload(dev, &q->groups, row * group_row, groups, rows * group_row, error) ||
        (s->act_order && !vf_buffer_upload(dev, &q->g_idx, (uint64_t)k * m->cols * 4, g_idx, m->cols * 4, error)))
      return FALSE;
    progress_add(pr, rows * (word_row + group_row) + (s->act_order ? m->cols * 4 : 0));
    row += rows;
    for (int which = 0; which < VF_QUANT_N_TENSORS; which++)
      if (part->quant[which])
        vf_tensor_drop_pages(part->quant[which]);
  }
  return TRUE;
}

/* `staging` is UPLOAD_CHUNK bytes: tensors are read from the file with pread (vf_tensor_read), not through the
 * mapping, so a checkpoint that shrinks during the load is an error instead of a SIGBUS. */
static gboolean
upload_slot(VfDevice *dev, Slot *s, uint8_t *staging, Progress *pr, GError **error)
{
  if (s->quant)
    return upload_packed_slot(dev, s, pr, error);
  VfBuffer *buf = s->matrix ? &s->matrix->buf : s->vector;
  if (!vf_buffer_alloc(dev, s->memory, s->bytes, buf, error)) {
    g_prefix_error(error, "%s (%" G_GUINT64_FORMAT " bytes): ", s->label, (guint64)s->bytes);
    return FALSE;
  }
  uint64_t offset = 0;
  for (uint32_t k = 0; k < s->n_parts; k++) {
    const VfTensor *t = s->parts[k].tensor;
    if (s->matrix) {
      /* From the file to the device a chunk at a time: no host copy of the whole tensor. */
      for (uint64_t done = 0; done < t->size;) {
        uint64_t n = MIN(UPLOAD_CHUNK, t->size - done);
        if (!vf_tensor_read(t, done, staging, n, error) ||
            !vf_buffer_upload(dev, buf, offset + done, staging, n, error))
          return FALSE;
        done += n;
        progress_add(pr, n);
      }
      offset += t->size;
    } else {
      /* 1-D tensors are at most a few thousand elements: widen on the host. */
      uint64_t n = vf_tensor_numel(t);
      g_autofree uint8_t *bytes = g_malloc(t->size);
      if (!vf_tensor_read(t, 0, bytes, t->size, error))
        return FALSE;
      g_autofree float *wide = g_new(float, n);
      widen_to_f32(t, bytes, n, wide);
      if (!vf_buffer_upload(dev, buf, offset, wide, n * sizeof(float), error))
        return FALSE;
      progress_add(pr, n * sizeof(float));
      offset += n * sizeof(float);
    }
    vf_tensor_drop_pages(t);
  }
  g_assert(offset == s->bytes);
  return TRUE;
}

/* How many numbered groups "<prefix>N." the checkpoint holds: the highest N + 1 (0 when none). */
static uint64_t
count_numbered(const VfCheckpoint *ck, const char *prefix)
{
  size_t len = strlen(prefix);
  uint64_t count = 0;
  for (uint32_t i = 0; i < vf_checkpoint_count(ck); i++) {
    const char *name;
    vf_checkpoint_tensor(ck, i, &name);
    if (strncmp(name, prefix, len) != 0 || !g_ascii_isdigit(name[len]))
      continue;
    char *end;
    uint64_t n = g_ascii_strtoull(name + len, &end, 10);
    if (*end == '.' && n < UINT32_MAX)
      count = MAX(count, n + 1);
  }
  return count;
}

/* The layer counts of config.json against the checkpoint's inventory, before anything that scales with them
 * is allocated or planned: a config claiming 10^9 layers is an error here, not a 344 GB allocation. */
static gboolean
check_counts(const VfCheckpoint *ck, const VfConfig *config, GError **error)
{
  struct {
    const char *field, *prefix;
    uint32_t want;
  } counts[] = {
    {"num_hidden_layers", "model.layers.", config->layers},
    {"vision_config.depth", "visual.blocks.", config->vision.depth},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(counts); i++) {
    uint64_t have = count_numbered(ck, counts[i].prefix);
    if (counts[i].want > have) {
      if (have)
        g_set_error(error, VF_WEIGHTS_ERROR, VF_WEIGHTS_ERROR_MISSING,
                    "%s: config.json's %s is %u, but the checkpoint has %" G_GUINT64_FORMAT
                    " (%s0 to %s%" G_GUINT64_FORMAT ")",
                    vf_checkpoint_source(ck), counts[i].field, counts[i].want, (guint64)have, counts[i].prefix,
                    counts[i].prefix, (guint64)(have - 1));
      else
        g_set_error(error, VF_WEIGHTS_ERROR, VF_WEIGHTS_ERROR_MISSING,
                    "%s: config.json's %s is %u, but the checkpoint has no %sN tensors", vf_checkpoint_source(ck),
                    counts[i].field, counts[i].want, counts[i].prefix);
      return FALSE;
    }
  }
  return TRUE;
}

VfWeights *
vf_weights_load(VfDevice *dev, const VfConfig *config, const char *dir, VfProgressFunc progress, void *user,
                GError **error)
{
  g_autoptr(VfCheckpoint) ck = vf_checkpoint_open(dir, error);
  if (!ck || !check_counts(ck, config, error))
    return NULL;
  g_autofree uint8_t *staging = NULL; /* declared before the first goto fail */

  VfWeights *w = g_new0(VfWeights, 1);
  w->dev = dev;
  w->config = config;
  w->layers = g_new0(VfLlmLayer, config->layers);
  w->blocks = g_new0(VfVisionBlock, config->vision.depth);

  /* Tied as in transformers when the config says so; tied as well when there is no lm_head to load (the
   * 2B checkpoint, spec §2.4). */
  bool tied = config->tie_embeddings || !vf_checkpoint_find(ck, "lm_head.weight");
  Plan plan = {g_ptr_array_new_with_free_func(g_free), g_string_chunk_new(4096)};
  build_plan(&plan, config, w, tied);
  if (!check_plan(ck, &plan, error))
    goto fail;

  Progress pr = {progress, user, 0, 0};
  for (guint i = 0; i < plan.slots->len; i++)
    pr.total += ((Slot *)plan.slots->pdata[i])->bytes;
  if (progress)
    progress(0, pr.total, user);
  vf_checkpoint_advise_sequential(ck);
  staging = g_malloc(UPLOAD_CHUNK);
  for (guint i = 0; i < plan.slots->len; i++)
    if (!upload_slot(dev, plan.slots->pdata[i], staging, &pr, error))
      goto fail;
  g_assert(pr.done == pr.total);
  w->device_bytes = pr.total;
  for (guint i = 0; i < plan.slots->len; i++)
    if (((Slot *)plan.slots->pdata[i])->memory == VF_MEMORY_HOST)
      w->host_bytes += ((Slot *)plan.slots->pdata[i])->bytes;

  if (tied) {
    /* A view of the embedding table that owns nothing: vf_weights_free releases the buffer once. */
    w->lm_head = w->embed;
    w->lm_head.buf = vf_buffer_slice(&w->embed.buf, 0, w->embed.buf.size);
  }
  uint32_t used = 0;
  for (guint i = 0; i < plan.slots->len; i++)
    used += ((Slot *)plan.slots->pdata[i])->n_parts;
  g_debug("%s: %u tensors in %u file(s), %u used in %u buffers, %" G_GUINT64_FORMAT " bytes on the device%s",
          dir, vf_checkpoint_count(ck), vf_checkpoint_n_files(ck), used, plan.slots->len,
          (guint64)w->device_bytes, tied ? ", tied lm_head" : "");
  plan_free(&plan);
  return w;

fail:
  plan_free(&plan);
  vf_weights_free(w);
  return NULL;
}

gboolean
vf_weights_check(const VfConfig *config, const char *dir, GError **error)
{
  g_autoptr(VfCheckpoint) ck = vf_checkpoint_open(dir, error);
  if (!ck)
    return FALSE;
  /* The same plan as a load, pointing into weights that are never uploaded. */
  VfWeights w = {.config = config};
  w.layers = g_new0(VfLlmLayer, config->layers);
  w.blocks = g_new0(VfVisionBlock, config->vision.depth);
  bool tied = config->tie_embeddings || !vf_checkpoint_find(ck, "lm_head.weight");
  Plan plan = {g_ptr_array_new_with_free_func(g_free), g_string_chunk_new(4096)};
  build_plan(&plan, config, &w, tied);
  gboolean ok = check_plan(ck, &plan, error);
  plan_free(&plan);
  g_free(w.layers);
  g_free(w.blocks);
  return ok;
}

/* ---- freeing --------------------------------------------------------------------------------------- */

/* Releases a buffer this load allocated; skips never-allocated ones and views (the tied lm_head). */
static void
release(VfDevice *dev, VfBuffer *b)
{
  if (b->buffer != VK_NULL_HANDLE && b->block >= 0)
    vf_buffer_release(dev, b);
}

void
vf_weights_free(VfWeights *w)
{
  if (!w)
    return;
  VfDevice *dev = w->dev;
  release(dev, &w->embed.buf);
  release(dev, &w->lm_head.buf);
  for (uint32_t i = 0; w->layers && i < w->config->layers; i++) {
    VfLlmLayer *l = &w->layers[i];
    VfBuffer *bufs[] = {&l->attn_norm,        &l->qkv.buf,         &l->qkv.packing.groups, &l->qkv.packing.g_idx,
                        &l->qkv_bias,         &l->o.buf,           &l->o.packing.groups,   &l->o.packing.g_idx,
                        &l->mlp_norm,         &l->gate_up.buf,     &l->gate_up.packing.groups,
                        &l->gate_up.packing.g_idx, &l->down.buf,   &l->down.packing.groups, &l->down.packing.g_idx};
    for (size_t k = 0; k < G_N_ELEMENTS(bufs); k++)
      release(dev, bufs[k]);
  }
  release(dev, &w->final_norm);
  release(dev, &w->patch_embed.buf);
  for (uint32_t j = 0; w->blocks && j < w->config->vision.depth; j++) {
    VfVisionBlock *b = &w->blocks[j];
    VfBuffer *bufs[] = {&b->norm1_w, &b->norm1_b, &b->qkv.buf, &b->qkv_bias, &b->proj.buf, &b->proj_bias,
                        &b->norm2_w, &b->norm2_b, &b->fc1.buf, &b->fc1_bias, &b->fc2.buf, &b->fc2_bias};
    for (size_t k = 0; k < G_N_ELEMENTS(bufs); k++)
      release(dev, bufs[k]);
  }
  VfBuffer *merger[] = {&w->merger_ln_w, &w->merger_ln_b, &w->merger_fc1.buf, &w->merger_fc1_bias,
                        &w->merger_fc2.buf, &w->merger_fc2_bias};
  for (size_t k = 0; k < G_N_ELEMENTS(merger); k++)
    release(dev, merger[k]);
  g_free(w->layers);
  g_free(w->blocks);
  g_free(w);
}
