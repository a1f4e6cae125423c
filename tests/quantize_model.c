/* Making GPTQ / AWQ test checkpoints (quantize_model.h). */
#include "quantize_model.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "ref/ref_common.h"
#include "ref/ref_quant.h"
#include "st_write.h"
#include "vf_checkpoint.h"

static const char *const linears[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                      "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};

gboolean
vf_quantize_parse_format(const char *name, VfQuantizeOptions *opts)
{
  *opts = (VfQuantizeOptions){.group_size = 32, .sym = true};
  if (strcmp(name, "gptq-int4") == 0)
    opts->method = VF_QUANT_GPTQ, opts->bits = 4;
  else if (strcmp(name, "gptq-int8") == 0)
    opts->method = VF_QUANT_GPTQ, opts->bits = 8;
  else if (strcmp(name, "awq") == 0)
    opts->method = VF_QUANT_AWQ, opts->bits = 4, opts->sym = false;
  else
    return FALSE;
  return TRUE;
}

/* A tensor widened to f32 (BF16, F16 or F32). */
static float *
widen(const VfTensor *t)
{
  uint64_t n = vf_tensor_numel(t);
  float *out = g_new(float, n ? n : 1);
  for (uint64_t i = 0; i < n; i++) {
    uint16_t h;
    if (t->dtype == VF_ST_F32) {
      memcpy(&out[i], t->data + 4 * i, 4);
      continue;
    }
    memcpy(&h, t->data + 2 * i, 2);
    out[i] = t->dtype == VF_ST_BF16 ? ref_bf16_to_f32(h) : ref_f16_to_f32(h);
  }
  return out;
}

static uint16_t *
to_f16(const float *x, uint64_t n)
{
  uint16_t *h = g_new(uint16_t, n ? n : 1);
  for (uint64_t i = 0; i < n; i++)
    h[i] = ref_f32_to_f16(x[i]);
  return h;
}

/* The tensors being written; their data is owned by `blobs`. */
typedef struct {
  GArray *entries; /* StEntry */
  GPtrArray *blobs;
  GStringChunk *names;
} Out;

static void
out_add(Out *o, const char *name, const char *dtype, uint32_t rank, const uint64_t *shape, void *data, uint64_t size)
{
  StEntry e = {.name = g_string_chunk_insert(o->names, name), .dtype = dtype, .rank = rank, .data = data, .size = size};
  memcpy(e.shape, shape, rank * sizeof *shape);
  g_array_append_val(o->entries, e);
  g_ptr_array_add(o->blobs, data);
}

static void
out_init(Out *o)
{
  o->entries = g_array_new(FALSE, FALSE, sizeof(StEntry));
  o->blobs = g_ptr_array_new_with_free_func(g_free);
  o->names = g_string_chunk_new(4096);
}

static void
out_clear(Out *o)
{
  g_array_free(o->entries, TRUE);
  g_ptr_array_free(o->blobs, TRUE);
  g_string_chunk_free(o->names);
}

/* One linear W f32 [rows, cols] quantized: q [rows, cols], zero and f16 scale [G, rows], g_idx [cols]. */
static void
quantize_linear(const VfQuantizeOptions *opts, const float *w, uint32_t rows, uint32_t cols, uint8_t *q,
                uint16_t *zero, uint16_t *scale, int32_t *g_idx)
{
  uint32_t width = opts->group_size ? opts->group_size : cols, groups = cols / width;
  uint32_t maxq = (1u << opts->bits) - 1;
  for (uint32_t i = 0; i < cols; i++)
    g_idx[i] = (int32_t)(i / width);
  if (opts->act_order) /* a fixed permutation: input i takes the group of input (i · 7 + 3) mod cols */
    for (uint32_t i = 0; i < cols; i++)
      g_idx[i] = (int32_t)(((uint64_t)i * 7 + 3) % cols / width);
  for (uint32_t g = 0; g < groups; g++)
    for (uint32_t o = 0; o < rows; o++) {
      float lo = INFINITY, hi = -INFINITY;
      for (uint32_t i = 0; i < cols; i++)
        if ((uint32_t)g_idx[i] == g)
          lo = fminf(lo, w[(uint64_t)o * cols + i]), hi = fmaxf(hi, w[(uint64_t)o * cols + i]);
      float s;
      uint32_t z;
      if (opts->method == VF_QUANT_GPTQ && opts->sym) {
        float amax = fmaxf(fabsf(lo), fabsf(hi));
        s = amax > 0 ? 2 * amax / (float)maxq : 1;
        z = (maxq + 1) / 2;
      } else {
        lo = fminf(lo, 0), hi = fmaxf(hi, 0);
        s = hi > lo ? (hi - lo) / (float)maxq : 1;
        z = (uint32_t)fminf(fmaxf(nearbyintf(-lo / ref_f16_to_f32(ref_f32_to_f16(s))), 0), (float)maxq);
      }
      uint16_t s16 = ref_f32_to_f16(s);
      float sr = ref_f16_to_f32(s16);
      /* GPTQ stores zero − 1: a zero of 0 cannot be written, so asymmetric GPTQ zeros start at 1. */
      if (opts->method == VF_QUANT_GPTQ && z == 0)
        z = 1;
      scale[(uint64_t)g * rows + o] = s16;
      zero[(uint64_t)g * rows + o] = (uint16_t)z;
      for (uint32_t i = 0; i < cols; i++)
        if ((uint32_t)g_idx[i] == g) {
          float v = nearbyintf(w[(uint64_t)o * cols + i] / sr) + (float)z;
          q[(uint64_t)o * cols + i] = (uint8_t)fminf(fmaxf(v, 0), (float)maxq);
        }
    }
}

static bool
is_quantized_linear(const char *name, char **module)
{
  if (!g_str_has_prefix(name, "model.layers.") || !g_str_has_suffix(name, ".weight"))
    return false;
  for (size_t k = 0; k < G_N_ELEMENTS(linears); k++) {
    g_autofree char *suffix = g_strconcat(".", linears[k], ".weight", NULL);
    if (g_str_has_suffix(name, suffix)) {
      *module = g_strndup(name, strlen(name) - strlen(".weight"));
      return true;
    }
  }
  return false;
}

static void
add_linear(Out *qo, Out *dout, const VfQuantizeOptions *opts, const char *module, const VfTensor *t)
{
  uint32_t rows = (uint32_t)t->shape[0], cols = (uint32_t)t->shape[1];
  uint32_t width = opts->group_size ? opts->group_size : cols, groups = cols / width, per = 32 / opts->bits;
  g_autofree float *w = widen(t);
  g_autofree uint8_t *q = g_new(uint8_t, (uint64_t)rows * cols);
  uint16_t *zero = g_new(uint16_t, (uint64_t)groups * rows), *scale = g_new(uint16_t, (uint64_t)groups * rows);
  int32_t *g_idx = g_new(int32_t, cols);
  quantize_linear(opts, w, rows, cols, q, zero, scale, g_idx);

  bool gptq = opts->method == VF_QUANT_GPTQ;
  uint64_t qw_shape[2] = {gptq ? cols / per : cols, gptq ? rows : rows / per};
  uint64_t qz_shape[2] = {groups, rows / per}, s_shape[2] = {groups, rows}, gi_shape[1] = {cols};
  uint32_t *qweight = g_new(uint32_t, qw_shape[0] * qw_shape[1]), *qzeros = g_new(uint32_t, qz_shape[0] * qz_shape[1]);
  float *dequant = g_new(float, (uint64_t)rows * cols);
  if (gptq) {
    ref_gptq_pack(opts->bits, rows, cols, groups, q, zero, qweight, qzeros);
    ref_gptq_dequant(opts->bits, rows, cols, groups, qweight, qzeros, scale, g_idx, dequant);
  } else {
    ref_awq_pack(rows, cols, groups, q, zero, qweight, qzeros);
    ref_awq_dequant(rows, cols, groups, qweight, qzeros, scale, dequant);
  }
  char name[256];
  g_snprintf(name, sizeof name, "%s.qweight", module);
  out_add(qo, name, "I32", 2, qw_shape, qweight, qw_shape[0] * qw_shape[1] * 4);
  g_snprintf(name, sizeof name, "%s.qzeros", module);
  out_add(qo, name, "I32", 2, qz_shape, qzeros, qz_shape[0] * qz_shape[1] * 4);
  g_snprintf(name, sizeof name, "%s.scales", module);
  out_add(qo, name, "F16", 2, s_shape, scale, s_shape[0] * s_shape[1] * 2);
  if (gptq) {
    g_snprintf(name, sizeof name, "%s.g_idx", module);
    out_add(qo, name, "I32", 1, gi_shape, g_idx, cols * 4);
  } else {
    g_free(g_idx);
  }
  bool has_bias = g_str_has_suffix(module, "q_proj") || g_str_has_suffix(module, "k_proj") ||
                  g_str_has_suffix(module, "v_proj");
  if (gptq && opts->zero_biases && !has_bias) {
    g_snprintf(name, sizeof name, "%s.bias", module);
    out_add(qo, name, "F16", 1, (uint64_t[]){rows}, g_malloc0(rows * 2), rows * 2);
  }
  g_free(zero);
  g_snprintf(name, sizeof name, "%s.weight", module);
  out_add(dout, name, "F32", 2, t->shape, dequant, (uint64_t)rows * cols * 4);
}

static gboolean
write_config(const char *src, const char *dir, const VfQuantizeOptions *opts, GError **error)
{
  if (g_mkdir_with_parents(dir, 0755) != 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: cannot create", dir);
    return FALSE;
  }
  const char *files[] = {"generation_config.json", "preprocessor_config.json"};
  for (size_t i = 0; i < G_N_ELEMENTS(files); i++)
    st_copy_file(src, dir, files[i]);
  g_autofree char *from = g_build_filename(src, "config.json", NULL);
  g_autofree char *to = g_build_filename(dir, "config.json", NULL);
  JsonNode *root = st_read_json(from);
  JsonObject *o = json_node_get_object(root);
  json_object_set_string_member(o, "torch_dtype", opts ? "float16" : "float32");
  if (opts) {
    JsonObject *q = json_object_new();
    bool gptq = opts->method == VF_QUANT_GPTQ;
    json_object_set_string_member(q, "quant_method", gptq ? "gptq" : "awq");
    json_object_set_int_member(q, "bits", opts->bits);
    json_object_set_int_member(q, "group_size", opts->group_size ? (int64_t)opts->group_size : -1);
    if (gptq) {
      json_object_set_boolean_member(q, "sym", opts->sym);
      json_object_set_boolean_member(q, "desc_act", opts->act_order);
    } else {
      json_object_set_string_member(q, "version", "gemm");
      json_object_set_boolean_member(q, "zero_point", TRUE);
      JsonArray *skip = json_array_new();
      json_array_add_string_element(skip, "visual");
      json_object_set_array_member(q, "modules_to_not_convert", skip);
    }
    json_object_set_object_member(o, "quantization_config", q);
  }
  st_write_json(to, root);
  json_node_unref(root);
  return TRUE;
}

gboolean
vf_quantize_model(const char *src, const char *qdir, const char *ddir, const VfQuantizeOptions *opts, GError **error)
{
  g_autoptr(VfCheckpoint) ck = vf_checkpoint_open(src, error);
  if (!ck || !write_config(src, qdir, opts, error) || !write_config(src, ddir, NULL, error))
    return FALSE;
  Out qo, dout;
  out_init(&qo);
  out_init(&dout);
  for (uint32_t i = 0; i < vf_checkpoint_count(ck); i++) {
    const char *name;
    const VfTensor *t = vf_checkpoint_tensor(ck, i, &name);
    g_autofree char *module = NULL;
    if (is_quantized_linear(name, &module)) {
      add_linear(&qo, &dout, opts, module, t);
      continue;
    }
    /* Everything else F16, in both folders (the 16-bit path reads F16 as it is). */
    uint64_t n = vf_tensor_numel(t);
    g_autofree float *wide = widen(t);
    out_add(&qo, name, "F16", t->rank, t->shape, to_f16(wide, n), n * 2);
    out_add(&dout, name, "F16", t->rank, t->shape, to_f16(wide, n), n * 2);
  }
  g_autofree char *qfile = g_build_filename(qdir, "model.safetensors", NULL);
  g_autofree char *dfile = g_build_filename(ddir, "model.safetensors", NULL);
  st_write(qfile, (const StEntry *)qo.entries->data, qo.entries->len);
  st_write(dfile, (const StEntry *)dout.entries->data, dout.entries->len);
  out_clear(&qo);
  out_clear(&dout);
  return TRUE;
}
