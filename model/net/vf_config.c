/* Reading config.json, generation_config.json and preprocessor_config.json (spec §1.1–1.3). */
#define G_LOG_DOMAIN "vf-model"

#include "vf_config.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

G_DEFINE_QUARK(vf-config-error-quark, vf_config_error)

/* transformers' class defaults, used for fields a file leaves out (Qwen2VLConfig, Qwen2VLVisionConfig,
 * Qwen2VLImageProcessor, GenerationConfig). Real 2B/7B/72B files state most of them. */
#define DEFAULT_RMS_EPS 1e-5f
#define DEFAULT_ROPE_THETA 1000000.0f
#define DEFAULT_MAX_POSITIONS 32768u
#define DEFAULT_VISION_START_ID 151652
#define DEFAULT_VISION_END_ID 151653
#define DEFAULT_VISION_PAD_ID 151654
#define DEFAULT_IMAGE_PAD_ID 151655
#define DEFAULT_VIDEO_PAD_ID 151656
/* Reduced vision_config blocks written by later transformers omit most fields; the class defaults are
 * the real model's, except hidden_size whose default is the 7B width (spec §1.1). */
#define DEFAULT_VISION_DEPTH 32u
#define DEFAULT_VISION_EMBED 1280u
#define DEFAULT_VISION_HEADS 16u
#define DEFAULT_VISION_MLP_RATIO 4.0
#define DEFAULT_VISION_OUT_HIDDEN 3584u
#define DEFAULT_PATCH 14u
#define DEFAULT_TEMPORAL_PATCH 2u
#define DEFAULT_MERGE 2u
#define DEFAULT_IN_CHANNELS 3u
#define DEFAULT_MIN_PIXELS (56u * 56u)
#define DEFAULT_MAX_PIXELS (28u * 28u * 1280u)
#define DEFAULT_TOP_K 50u
static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
static const float clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

/* Where fields are read from: an object, optionally backed by a second one that is consulted when the
 * first lacks a field (text fields: text_config first, then the top level). `prefix` spells the object
 * in messages ("vision_config."). */
typedef struct {
  const char *path;
  JsonObject *obj;
  const char *prefix;
  JsonObject *fallback;
  const char *fallback_prefix;
} Fields;

static const char *field_prefix(const Fields *f, const char *field);

/* "<file>: <prefix><field>: <what>". A NULL prefix: the prefix of the object the field is read from. */
static gboolean
field_error(GError **error, VfConfigError code, const Fields *f, const char *prefix, const char *field,
            const char *format, ...) G_GNUC_PRINTF(6, 7);

static gboolean
field_error(GError **error, VfConfigError code, const Fields *f, const char *prefix, const char *field,
            const char *format, ...)
{
  va_list ap;
  va_start(ap, format);
  g_autofree char *what = g_strdup_vprintf(format, ap);
  va_end(ap);
  g_set_error(error, VF_CONFIG_ERROR, code, "%s: %s%s: %s", f->path, prefix ? prefix : field_prefix(f, field),
              field, what);
  return FALSE;
}

/* The field's node (NULL when absent or JSON null) and the prefix of the object it came from. */
static JsonNode *
field_node(const Fields *f, const char *field, const char **prefix)
{
  JsonNode *n = f->obj ? json_object_get_member(f->obj, field) : NULL;
  *prefix = f->prefix;
  if ((!n || JSON_NODE_HOLDS_NULL(n)) && f->fallback) {
    n = json_object_get_member(f->fallback, field);
    *prefix = f->fallback_prefix;
  }
  return n && !JSON_NODE_HOLDS_NULL(n) ? n : NULL;
}

static const char *
field_prefix(const Fields *f, const char *field)
{
  const char *prefix;
  field_node(f, field, &prefix);
  return prefix ? prefix : "";
}

static gboolean
is_int(JsonNode *n)
{
  return JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_INT64;
}

static gboolean
is_number(JsonNode *n)
{
  return JSON_NODE_HOLDS_VALUE(n) &&
         (json_node_get_value_type(n) == G_TYPE_INT64 || json_node_get_value_type(n) == G_TYPE_DOUBLE);
}

/* A positive integer that fits uint32. Absent: `def`, or an error when `def` is 0 (required). */
static gboolean
get_count(const Fields *f, const char *field, uint32_t def, uint32_t *out, GError **error)
{
  const char *prefix;
  JsonNode *n = field_node(f, field, &prefix);
  if (!n) {
    if (!def)
      return field_error(error, VF_CONFIG_ERROR_MISSING, f, prefix, field, "missing");
    *out = def;
    return TRUE;
  }
  if (!is_int(n) || json_node_get_int(n) <= 0 || json_node_get_int(n) > UINT32_MAX)
    return field_error(error, VF_CONFIG_ERROR_MALFORMED, f, prefix, field, "expected a positive integer");
  *out = (uint32_t)json_node_get_int(n);
  return TRUE;
}

/* A token id: a non-negative integer, or a list of them (first taken). Absent: `def` (-1: none). */
static gboolean
get_id(const Fields *f, const char *field, int32_t def, int32_t *out, GError **error)
{
  const char *prefix;
  JsonNode *n = field_node(f, field, &prefix);
  if (n && JSON_NODE_HOLDS_ARRAY(n) && json_array_get_length(json_node_get_array(n)) > 0)
    n = json_array_get_element(json_node_get_array(n), 0);
  if (!n) {
    *out = def;
    return TRUE;
  }
  if (!is_int(n) || json_node_get_int(n) < 0 || json_node_get_int(n) > INT32_MAX)
    return field_error(error, VF_CONFIG_ERROR_MALFORMED, f, prefix, field, "expected a token id");
  *out = (int32_t)json_node_get_int(n);
  return TRUE;
}

/* A finite number (integer or float) in [lo, hi]. */
static gboolean
get_number(const Fields *f, const char *field, double def, double lo, double hi, double *out, GError **error)
{
  const char *prefix;
  JsonNode *n = field_node(f, field, &prefix);
  if (!n) {
    *out = def;
    return TRUE;
  }
  double v = is_number(n) ? json_node_get_double(n) : NAN;
  if (!(v >= lo && v <= hi))
    return field_error(error, VF_CONFIG_ERROR_MALFORMED, f, prefix, field, "expected a number in [%g, %g]", lo, hi);
  *out = v;
  return TRUE;
}

static gboolean
get_float(const Fields *f, const char *field, float def, double lo, double hi, float *out, GError **error)
{
  double v;
  if (!get_number(f, field, def, lo, hi, &v, error))
    return FALSE;
  *out = (float)v;
  return TRUE;
}

static gboolean
get_bool(const Fields *f, const char *field, bool def, bool *out, GError **error)
{
  const char *prefix;
  JsonNode *n = field_node(f, field, &prefix);
  if (!n) {
    *out = def;
    return TRUE;
  }
  if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN)
    return field_error(error, VF_CONFIG_ERROR_MALFORMED, f, prefix, field, "expected true or false");
  *out = json_node_get_boolean(n);
  return TRUE;
}

/* A string field; NULL when absent. A present non-string is an error. */
static gboolean
get_string(const Fields *f, const char *field, const char **out, GError **error)
{
  const char *prefix;
  JsonNode *n = field_node(f, field, &prefix);
  *out = NULL;
  if (!n)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
    return field_error(error, VF_CONFIG_ERROR_MALFORMED, f, prefix, field, "expected a string");
  *out = json_node_get_string(n);
  return TRUE;
}

/* An object field; NULL when absent. */
static gboolean
get_object(const Fields *f, const char *field, JsonObject **out, GError **error)
{
  const char *prefix;
  JsonNode *n = field_node(f, field, &prefix);
  *out = NULL;
  if (!n)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT(n))
    return field_error(error, VF_CONFIG_ERROR_MALFORMED, f, prefix, field, "expected an object");
  *out = json_node_get_object(n);
  return TRUE;
}

/* Parses `path` into `parser`; the root must be an object. `required`: absence is an error; otherwise an
 * absent file gives *root = NULL. */
static gboolean
load_json(JsonParser *parser, const char *path, bool required, JsonObject **root, GError **error)
{
  *root = NULL;
  if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
    if (required)
      g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_MISSING, "%s: missing", path);
    return !required;
  }
  g_autoptr(GError) parse_error = NULL;
  if (!json_parser_load_from_mapped_file(parser, path, &parse_error)) {
    g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_MALFORMED, "%s: not valid JSON: %s", path,
                parse_error->message);
    return FALSE;
  }
  JsonNode *node = json_parser_get_root(parser);
  if (!node || !JSON_NODE_HOLDS_OBJECT(node)) {
    g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_MALFORMED, "%s: not a JSON object", path);
    return FALSE;
  }
  *root = json_node_get_object(node);
  return TRUE;
}

/* ---- config.json --------------------------------------------------------------------------------- */

/* rope_scaling {"type": "mrope", "mrope_section": [16, 24, 24]}, or the later form
 * {"rope_type": "default", "type": "default", "mrope_section": [...]}, or (newest) rope_parameters with the
 * same keys plus rope_theta. Only the section split is used; no frequency scaling exists in Qwen2-VL. */
static gboolean
parse_rope(VfConfig *c, const Fields *text, GError **error)
{
  JsonObject *rope;
  const char *field = "rope_scaling";
  if (!get_object(text, field, &rope, error))
    return FALSE;
  if (!rope) {
    field = "rope_parameters";
    if (!get_object(text, field, &rope, error))
      return FALSE;
  }
  if (!rope)
    return field_error(error, VF_CONFIG_ERROR_MISSING, text, text->prefix, "rope_scaling",
                       "missing (Qwen2-VL needs rope_scaling.mrope_section)");
  g_autofree char *prefix = g_strconcat(field_prefix(text, field), field, ".", NULL);
  Fields r = {.path = text->path, .obj = rope, .prefix = prefix};
  const char *kinds[] = {"type", "rope_type"};
  for (int i = 0; i < 2; i++) {
    const char *kind;
    if (!get_string(&r, kinds[i], &kind, error))
      return FALSE;
    if (kind && strcmp(kind, "mrope") != 0 && strcmp(kind, "default") != 0)
      return field_error(error, VF_CONFIG_ERROR_UNSUPPORTED, &r, prefix, kinds[i],
                         "\"%s\" is not supported (only mrope / default)", kind);
  }
  if (!get_float(&r, "rope_theta", c->rope_theta, 1e-6, 1e30, &c->rope_theta, error))
    return FALSE;

  const char *unused;
  JsonNode *n = field_node(&r, "mrope_section", &unused);
  if (!n)
    return field_error(error, VF_CONFIG_ERROR_MISSING, &r, prefix, "mrope_section", "missing");
  JsonArray *a = JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
  if (!a || json_array_get_length(a) != 3)
    return field_error(error, VF_CONFIG_ERROR_MALFORMED, &r, prefix, "mrope_section",
                       "expected 3 integers (temporal, height, width)");
  uint32_t sum = 0;
  for (int i = 0; i < 3; i++) {
    JsonNode *e = json_array_get_element(a, i);
    if (!is_int(e) || json_node_get_int(e) < 0 || json_node_get_int(e) > UINT16_MAX)
      return field_error(error, VF_CONFIG_ERROR_MALFORMED, &r, prefix, "mrope_section",
                         "entry %d is not a non-negative integer", i);
    c->mrope_section[i] = (uint32_t)json_node_get_int(e);
    sum += c->mrope_section[i];
  }
  if (sum != c->head_dim / 2)
    return field_error(error, VF_CONFIG_ERROR_MALFORMED, &r, prefix, "mrope_section",
                       "[%u, %u, %u] sums to %u, but head_dim / 2 = %u", c->mrope_section[0], c->mrope_section[1],
                       c->mrope_section[2], sum, c->head_dim / 2);
  return TRUE;
}

static gboolean
parse_text(VfConfig *c, const Fields *text, GError **error)
{
  if (!get_count(text, "hidden_size", 0, &c->hidden, error) ||
      !get_count(text, "intermediate_size", 0, &c->intermediate, error) ||
      !get_count(text, "num_hidden_layers", 0, &c->layers, error) ||
      !get_count(text, "num_attention_heads", 0, &c->heads, error) ||
      !get_count(text, "num_key_value_heads", c->heads, &c->kv_heads, error) ||
      !get_count(text, "vocab_size", 0, &c->vocab, error) ||
      !get_count(text, "max_position_embeddings", DEFAULT_MAX_POSITIONS, &c->max_positions, error) ||
      !get_bool(text, "tie_word_embeddings", false, &c->tie_embeddings, error) ||
      !get_float(text, "rms_norm_eps", DEFAULT_RMS_EPS, 0, 1, &c->rms_eps, error) ||
      !get_float(text, "rope_theta", DEFAULT_ROPE_THETA, 1e-6, 1e30, &c->rope_theta, error))
    return FALSE;

  const char *prefix;
  if (c->hidden % c->heads)
    return field_error(error, VF_CONFIG_ERROR_MALFORMED, text, NULL, "num_attention_heads",
                       "%u does not divide hidden_size %u", c->heads, c->hidden);
  c->head_dim = c->hidden / c->heads;
  if (c->head_dim % 2)
    return field_error(error, VF_CONFIG_ERROR_UNSUPPORTED, text, NULL, "num_attention_heads",
                       "head_dim %u (hidden_size / num_attention_heads) is odd; rotary embedding needs pairs",
                       c->head_dim);
  JsonNode *hd = field_node(text, "head_dim", &prefix);
  if (hd && (!is_int(hd) || json_node_get_int(hd) != c->head_dim))
    return field_error(error, VF_CONFIG_ERROR_UNSUPPORTED, text, prefix, "head_dim",
                       "differs from hidden_size / num_attention_heads = %u", c->head_dim);
  if (c->kv_heads > c->heads || c->heads % c->kv_heads)
    return field_error(error, VF_CONFIG_ERROR_MALFORMED, text, NULL, "num_key_value_heads",
                       "%u does not divide num_attention_heads %u", c->kv_heads, c->heads);

  const char *act;
  if (!get_string(text, "hidden_act", &act, error))
    return FALSE;
  if (act && strcmp(act, "silu") != 0)
    return field_error(error, VF_CONFIG_ERROR_UNSUPPORTED, text, NULL, "hidden_act",
                       "\"%s\" is not supported (Qwen2-VL uses silu)", act);
  bool sliding;
  if (!get_bool(text, "use_sliding_window", false, &sliding, error))
    return FALSE;
  if (sliding)
    return field_error(error, VF_CONFIG_ERROR_UNSUPPORTED, text, NULL, "use_sliding_window",
                       "sliding-window attention is not supported");
  return parse_rope(c, text, error);
}

static gboolean
parse_special_ids(VfConfig *c, const Fields *text, GError **error)
{
  struct {
    const char *field;
    int32_t def;
    int32_t *out;
  } ids[] = {
    {"bos_token_id", -1, &c->bos_id},
    {"eos_token_id", -1, &c->eos_id},
    {"vision_start_token_id", DEFAULT_VISION_START_ID, &c->vision_start_id},
    {"vision_end_token_id", DEFAULT_VISION_END_ID, &c->vision_end_id},
    {"vision_token_id", DEFAULT_VISION_PAD_ID, &c->vision_pad_id},
    {"image_token_id", DEFAULT_IMAGE_PAD_ID, &c->image_pad_id},
    {"video_token_id", DEFAULT_VIDEO_PAD_ID, &c->video_pad_id},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(ids); i++) {
    if (!get_id(text, ids[i].field, ids[i].def, ids[i].out, error))
      return FALSE;
    /* Every special id indexes the embedding table. */
    const char *prefix;
    bool stated = field_node(text, ids[i].field, &prefix) != NULL;
    if (*ids[i].out >= (int32_t)c->vocab)
      return field_error(error, VF_CONFIG_ERROR_MALFORMED, text, prefix, ids[i].field,
                         "%d%s is not below vocab_size %u", *ids[i].out, stated ? "" : " (the default)", c->vocab);
  }
  return TRUE;
}

static gboolean
parse_vision(VfConfig *c, const Fields *top, GError **error)
{
  JsonObject *obj;
  if (!get_object(top, "vision_config", &obj, error))
    return FALSE;
  /* An absent block means the class defaults (which then fail the width check unless H = 3584). */
  Fields f = {.path = top->path, .obj = obj, .prefix = "vision_config."};
  VfVisionConfig *v = &c->vision;
  double mlp_ratio;
  if (!get_count(&f, "depth", DEFAULT_VISION_DEPTH, &v->depth, error) ||
      !get_count(&f, "embed_dim", DEFAULT_VISION_EMBED, &v->embed_dim, error) ||
      !get_count(&f, "num_heads", DEFAULT_VISION_HEADS, &v->num_heads, error) ||
      !get_number(&f, "mlp_ratio", DEFAULT_VISION_MLP_RATIO, 1e-3, 1e3, &mlp_ratio, error) ||
      !get_count(&f, "hidden_size", DEFAULT_VISION_OUT_HIDDEN, &v->out_hidden, error) ||
      !get_count(&f, "patch_size", DEFAULT_PATCH, &v->patch_size, error) ||
      !get_count(&f, "temporal_patch_size", DEFAULT_TEMPORAL_PATCH, &v->temporal_patch, error) ||
      !get_count(&f, "spatial_merge_size", DEFAULT_MERGE, &v->merge_size, error) ||
      /* transformers reads in_channels; the in_chans written in the files is ignored. */
      !get_count(&f, "in_channels", DEFAULT_IN_CHANNELS, &v->in_channels, error))
    return FALSE;
  /* int(embed_dim * mlp_ratio), as transformers sizes the MLP; range-checked before the conversion (a
   * double outside uint32's range converts to anything). */
  double mlp_dim = floor(v->embed_dim * mlp_ratio);
  if (mlp_dim < 1)
    return field_error(error, VF_CONFIG_ERROR_MALFORMED, &f, f.prefix, "mlp_ratio", "gives an empty MLP");
  if (mlp_dim > UINT32_MAX)
    return field_error(error, VF_CONFIG_ERROR_MALFORMED, &f, f.prefix, "mlp_ratio",
                       "%g × embed_dim %u = %.0f MLP channels, more than %u", mlp_ratio, v->embed_dim, mlp_dim,
                       UINT32_MAX);
  v->mlp_dim = (uint32_t)mlp_dim;

  if (v->embed_dim % v->num_heads)
    return field_error(error, VF_CONFIG_ERROR_MALFORMED, &f, f.prefix, "num_heads",
                       "%u does not divide embed_dim %u", v->num_heads, v->embed_dim);
  /* The 2-D rotary embedding splits head_dim / 2 frequencies evenly between rows and columns. */
  if ((v->embed_dim / v->num_heads) % 4)
    return field_error(error, VF_CONFIG_ERROR_UNSUPPORTED, &f, f.prefix, "num_heads",
                       "vision head_dim %u is not a multiple of 4", v->embed_dim / v->num_heads);
  const char *prefix;
  if (v->out_hidden != c->hidden)
    return field_error(error, VF_CONFIG_ERROR_MALFORMED, &f, f.prefix, "hidden_size",
                       "%u%s differs from the language model's hidden_size %u (the merger projects to it)",
                       v->out_hidden, field_node(&f, "hidden_size", &prefix) ? "" : " (the default)", c->hidden);
  if (v->in_channels != 3)
    return field_error(error, VF_CONFIG_ERROR_UNSUPPORTED, &f, f.prefix, "in_channels",
                       "%u channels; only RGB (3) is supported", v->in_channels);
  const char *act;
  if (!get_string(&f, "hidden_act", &act, error))
    return FALSE;
  if (act && strcmp(act, "quick_gelu") != 0)
    return field_error(error, VF_CONFIG_ERROR_UNSUPPORTED, &f, f.prefix, "hidden_act",
                       "\"%s\" is not supported (Qwen2-VL uses quick_gelu)", act);
  return TRUE;
}

/* ---- quantization_config / quantize_config.json (spec §2.6) -------------------------------------- */

/* The linear layers a quantized checkpoint packs: the 7 of every decoder layer, nothing else. */
static const char *const quantized_linears[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                                "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                                "mlp.down_proj"};

/* group_size: a positive integer, or -1 for one group per column (stored as 0). */
static gboolean
get_group_size(const Fields *f, uint32_t *out, GError **error)
{
  const char *prefix;
  JsonNode *n = field_node(f, "group_size", &prefix);
  if (!n)
    return field_error(error, VF_CONFIG_ERROR_MISSING, f, prefix, "group_size", "missing");
  if (!is_int(n) || json_node_get_int(n) == 0 || json_node_get_int(n) < -1 || json_node_get_int(n) > UINT32_MAX)
    return field_error(error, VF_CONFIG_ERROR_MALFORMED, f, prefix, "group_size",
                       "expected a positive integer or -1");
  *out = json_node_get_int(n) == -1 ? 0 : (uint32_t)json_node_get_int(n);
  return TRUE;
}

/* The group size must divide the input width of every quantized linear: hidden (q, k, v, o, gate, up)
 * and intermediate (down). */
static gboolean
check_group_size(const VfConfig *c, const Fields *f, GError **error)
{
  uint32_t g = c->quant.group_size;
  if (g && c->hidden % g)
    return field_error(error, VF_CONFIG_ERROR_UNSUPPORTED, f, NULL, "group_size",
                       "%u does not divide hidden_size %u (the input width of q/k/v/o/gate/up_proj)", g, c->hidden);
  if (g && c->intermediate % g)
    return field_error(error, VF_CONFIG_ERROR_UNSUPPORTED, f, NULL, "group_size",
                       "%u does not divide intermediate_size %u (the input width of down_proj)", g, c->intermediate);
  /* Packed words hold 32 / bits consecutive inputs (GPTQ qweight). */
  uint32_t per_word = 32 / c->quant.bits;
  if (c->hidden % per_word || c->intermediate % per_word)
    return field_error(error, VF_CONFIG_ERROR_UNSUPPORTED, f, NULL, "bits",
                       "%u-bit words hold %u inputs, which does not divide hidden_size %u and intermediate_size %u",
                       c->quant.bits, per_word, c->hidden, c->intermediate);
  return TRUE;
}

static gboolean
parse_gptq(VfConfig *c, const Fields *q, GError **error)
{
  VfQuantConfig *qc = &c->quant;
  qc->method = VF_QUANT_GPTQ;
  if (!get_count(q, "bits", 0, &qc->bits, error) || !get_group_size(q, &qc->group_size, error) ||
      !get_bool(q, "sym", true, &qc->sym, error) || !get_bool(q, "desc_act", false, &qc->desc_act, error))
    return FALSE;
  if (qc->bits != 4 && qc->bits != 8)
    return field_error(error, VF_CONFIG_ERROR_UNSUPPORTED, q, NULL, "bits",
                       "%u-bit GPTQ is not supported (only 4 and 8)", qc->bits);
  /* Other packings of GPTQ weights (Marlin's tiles, gptq_v2's real zeros) are other layouts. */
  const char *format;
  if (!get_string(q, "checkpoint_format", &format, error))
    return FALSE;
  if (format && strcmp(format, "gptq") != 0)
    return field_error(error, VF_CONFIG_ERROR_UNSUPPORTED, q, NULL, "checkpoint_format",
                       "\"%s\" is not supported (only the AutoGPTQ \"gptq\" packing)", format);
  bool is_marlin;
  if (!get_bool(q, "is_marlin_format", false, &is_marlin, error))
    return FALSE;
  if (is_marlin)
    return field_error(error, VF_CONFIG_ERROR_UNSUPPORTED, q, NULL, "is_marlin_format",
                       "Marlin-packed GPTQ weights are not supported (only the AutoGPTQ \"gptq\" packing)");
  return check_group_size(c, q, error);
}

/* AutoAWQ skips a module when any entry of modules_to_not_convert is a substring of its name: an entry
 * that would leave a decoder linear in 16 bits is a layout we do not load. */
static gboolean
check_not_converted(const VfConfig *c, const Fields *q, GError **error)
{
  const char *prefix;
  JsonNode *n = field_node(q, "modules_to_not_convert", &prefix);
  if (!n)
    return TRUE;
  JsonArray *a = JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
  if (!a)
    return field_error(error, VF_CONFIG_ERROR_MALFORMED, q, prefix, "modules_to_not_convert",
                       "expected a list of module names");
  for (guint i = 0; i < json_array_get_length(a); i++) {
    JsonNode *e = json_array_get_element(a, i);
    if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING)
      return field_error(error, VF_CONFIG_ERROR_MALFORMED, q, prefix, "modules_to_not_convert",
                         "entry %u is not a string", i);
    const char *module = json_node_get_string(e);
    for (uint32_t l = 0; l < c->layers; l++)
      for (size_t k = 0; k < G_N_ELEMENTS(quantized_linears); k++) {
        char name[96];
        g_snprintf(name, sizeof name, "model.layers.%u.%s", l, quantized_linears[k]);
        if (*module && strstr(name, module))
          return field_error(error, VF_CONFIG_ERROR_UNSUPPORTED, q, prefix, "modules_to_not_convert",
                             "\"%s\" keeps %s unquantized; only checkpoints that quantize every decoder linear "
                             "are supported",
                             module, name);
      }
  }
  return TRUE;
}

static gboolean
parse_awq(VfConfig *c, const Fields *q, GError **error)
{
  VfQuantConfig *qc = &c->quant;
  qc->method = VF_QUANT_AWQ;
  if (!get_count(q, "bits", 0, &qc->bits, error) || !get_group_size(q, &qc->group_size, error) ||
      !get_bool(q, "zero_point", true, &qc->zero_point, error))
    return FALSE;
  if (qc->bits != 4)
    return field_error(error, VF_CONFIG_ERROR_UNSUPPORTED, q, NULL, "bits",
                       "%u-bit AWQ is not supported (only 4)", qc->bits);
  const char *version;
  if (!get_string(q, "version", &version, error))
    return FALSE;
  if (version && g_ascii_strcasecmp(version, "gemm") != 0)
    return field_error(error, VF_CONFIG_ERROR_UNSUPPORTED, q, NULL, "version",
                       "AWQ \"%s\" packing is not supported (only \"gemm\")", version);
  return check_group_size(c, q, error) && check_not_converted(c, q, error);
}

/* Which of the GPTQ settings two files state differently. */
static gboolean
check_same_gptq(const VfQuantConfig *a, const char *a_path, const VfQuantConfig *b, const char *b_path,
                GError **error)
{
  const char *field = a->bits != b->bits ? "bits"
                      : a->group_size != b->group_size ? "group_size"
                      : a->desc_act != b->desc_act     ? "desc_act"
                      : a->sym != b->sym               ? "sym"
                                                       : NULL;
  if (!field)
    return TRUE;
  g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_MALFORMED, "%s: %s differs from %s's quantization_config.%s",
              b_path, field, a_path, field);
  return FALSE;
}

/* config.json's quantization_config; for GPTQ also quantize_config.json, which older AutoGPTQ exports have
 * instead (and newer ones beside it: then both must agree). */
static gboolean
parse_quantization(VfConfig *c, const Fields *top, GError **error)
{
  JsonObject *quant;
  if (!get_object(top, "quantization_config", &quant, error))
    return FALSE;
  g_autofree char *dir = g_path_get_dirname(top->path);
  g_autofree char *gptq_path = g_build_filename(dir, "quantize_config.json", NULL);
  g_autoptr(JsonParser) parser = json_parser_new_immutable();
  JsonObject *gptq_root = NULL;
  if (!load_json(parser, gptq_path, false, &gptq_root, error))
    return FALSE;
  Fields gptq_file = {.path = gptq_path, .obj = gptq_root, .prefix = ""};

  if (!quant) {
    if (!gptq_root)
      return TRUE; /* 16-bit weights */
    const char *method;
    if (!get_string(&gptq_file, "quant_method", &method, error))
      return FALSE;
    if (method && strcmp(method, "gptq") != 0)
      return field_error(error, VF_CONFIG_ERROR_UNSUPPORTED, &gptq_file, "", "quant_method",
                         "\"%s\" is not supported (quantize_config.json describes GPTQ weights)", method);
    return parse_gptq(c, &gptq_file, error);
  }

  Fields q = {.path = top->path, .obj = quant, .prefix = "quantization_config."};
  const char *method;
  if (!get_string(&q, "quant_method", &method, error))
    return FALSE;
  if (!method)
    return field_error(error, VF_CONFIG_ERROR_MISSING, &q, NULL, "quant_method", "missing");
  if (strcmp(method, "awq") == 0)
    return parse_awq(c, &q, error);
  if (strcmp(method, "gptq") != 0)
    return field_error(error, VF_CONFIG_ERROR_UNSUPPORTED, &q, NULL, "quant_method",
                       "\"%s\" checkpoints are not supported (only gptq and awq)", method);
  if (!parse_gptq(c, &q, error))
    return FALSE;
  if (!gptq_root)
    return TRUE;
  VfQuantConfig from_config = c->quant;
  memset(&c->quant, 0, sizeof c->quant);
  return parse_gptq(c, &gptq_file, error) && check_same_gptq(&from_config, top->path, &c->quant, gptq_path, error);
}

const char *
vf_quant_format_name(const VfQuantConfig *q)
{
  switch (q->method) {
  case VF_QUANT_GPTQ:
    return q->bits == 8 ? "GPTQ-Int8" : "GPTQ-Int4";
  case VF_QUANT_AWQ:
    return "AWQ";
  default:
    return "16-bit";
  }
}

char *
vf_config_describe(const VfConfig *c)
{
  static const struct {
    uint32_t hidden;
    const char *size;
  } published[] = {{1536, "2B"}, {3584, "7B"}, {8192, "72B"}};
  const char *format = vf_quant_format_name(&c->quant);
  for (size_t i = 0; i < G_N_ELEMENTS(published); i++)
    if (c->hidden == published[i].hidden)
      return g_strdup_printf("%s · %s", published[i].size, format);
  /* Other shapes (test models): embeddings and decoder layers, in millions. */
  double params = (double)c->vocab * c->hidden * (c->tie_embeddings ? 1 : 2) +
                  (double)c->layers * ((double)c->hidden * (c->hidden + 2.0 * c->kv_heads * c->head_dim) +
                                       (double)c->hidden * c->hidden + 3.0 * c->intermediate * c->hidden);
  return g_strdup_printf("%.0fM · %s", params / 1e6, format);
}

uint32_t
vf_quant_group_width(const VfQuantConfig *q, uint32_t cols)
{
  return q->group_size ? q->group_size : cols;
}

static gboolean
parse_config(VfConfig *c, const char *path, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable();
  JsonObject *root;
  if (!load_json(parser, path, true, &root, error))
    return FALSE;
  Fields top = {.path = path, .obj = root, .prefix = ""};

  const char *model_type;
  if (!get_string(&top, "model_type", &model_type, error))
    return FALSE;
  if (!model_type)
    return field_error(error, VF_CONFIG_ERROR_MISSING, &top, "", "model_type", "missing");
  if (strcmp(model_type, "qwen2_vl") != 0)
    return field_error(error, VF_CONFIG_ERROR_UNSUPPORTED, &top, "", "model_type",
                       "\"%s\" is not supported; Viewfinder runs qwen2_vl", model_type);
  c->model_type = g_strdup(model_type);

  /* Newer files nest the text model's fields in text_config; older ones keep them at the top level. */
  JsonObject *text_config;
  if (!get_object(&top, "text_config", &text_config, error))
    return FALSE;
  Fields text = text_config ? (Fields){.path = path, .obj = text_config, .prefix = "text_config.",
                                       .fallback = root, .fallback_prefix = ""}
                            : top;
  return parse_text(c, &text, error) && parse_special_ids(c, &text, error) && parse_vision(c, &top, error) &&
         parse_quantization(c, &top, error);
}

/* ---- generation_config.json ---------------------------------------------------------------------- */

static gboolean
parse_generation(VfConfig *c, const char *path, GError **error)
{
  /* Without the file: greedy decoding, stopping at the model's eos. */
  c->do_sample = false;
  c->temperature = 1.0f;
  c->top_p = 1.0f;
  c->top_k = DEFAULT_TOP_K;
  c->repetition_penalty = 1.0f;
  c->pad_id = -1;
  c->n_gen_eos = 0;
  if (c->eos_id >= 0)
    c->gen_eos_ids[c->n_gen_eos++] = c->eos_id;

  g_autoptr(JsonParser) parser = json_parser_new_immutable();
  JsonObject *root;
  if (!load_json(parser, path, false, &root, error))
    return FALSE;
  if (!root)
    return TRUE;
  Fields f = {.path = path, .obj = root, .prefix = ""};
  double top_k;
  if (!get_bool(&f, "do_sample", false, &c->do_sample, error) ||
      !get_float(&f, "temperature", 1.0f, 0, 1e6, &c->temperature, error) ||
      !get_float(&f, "top_p", 1.0f, 0, 1, &c->top_p, error) ||
      !get_number(&f, "top_k", DEFAULT_TOP_K, 0, UINT32_MAX, &top_k, error) ||
      !get_float(&f, "repetition_penalty", 1.0f, 1e-6, 1e6, &c->repetition_penalty, error) ||
      !get_id(&f, "pad_token_id", -1, &c->pad_id, error))
    return FALSE;
  if (top_k != floor(top_k))
    return field_error(error, VF_CONFIG_ERROR_MALFORMED, &f, "", "top_k", "expected an integer");
  c->top_k = (uint32_t)top_k; /* get_number checked [0, UINT32_MAX] */

  const char *unused;
  JsonNode *eos = field_node(&f, "eos_token_id", &unused);
  if (eos) {
    JsonArray *list = JSON_NODE_HOLDS_ARRAY(eos) ? json_node_get_array(eos) : NULL;
    uint32_t n = list ? json_array_get_length(list) : 1;
    if (n > G_N_ELEMENTS(c->gen_eos_ids))
      return field_error(error, VF_CONFIG_ERROR_UNSUPPORTED, &f, "", "eos_token_id", "more than %u stop tokens",
                         (unsigned)G_N_ELEMENTS(c->gen_eos_ids));
    c->n_gen_eos = 0;
    for (uint32_t i = 0; i < n; i++) {
      JsonNode *e = list ? json_array_get_element(list, i) : eos;
      if (!is_int(e) || json_node_get_int(e) < 0 || json_node_get_int(e) >= c->vocab)
        return field_error(error, VF_CONFIG_ERROR_MALFORMED, &f, "", "eos_token_id",
                           "entry %u is not a token id below vocab_size %u", i, c->vocab);
      c->gen_eos_ids[c->n_gen_eos++] = (int32_t)json_node_get_int(e);
    }
  }
  return TRUE;
}

/* ---- preprocessor_config.json -------------------------------------------------------------------- */

static gboolean
get_rgb(const Fields *f, const char *field, const float *def, bool positive, float *out, GError **error)
{
  const char *prefix;
  JsonNode *n = field_node(f, field, &prefix);
  if (!n) {
    memcpy(out, def, 3 * sizeof *out);
    return TRUE;
  }
  JsonArray *a = JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
  if (!a || json_array_get_length(a) != 3)
    return field_error(error, VF_CONFIG_ERROR_MALFORMED, f, prefix, field, "expected 3 numbers (R, G, B)");
  for (int i = 0; i < 3; i++) {
    JsonNode *e = json_array_get_element(a, i);
    double v = is_number(e) ? json_node_get_double(e) : NAN;
    if (!isfinite(v) || (positive && v <= 0))
      return field_error(error, VF_CONFIG_ERROR_MALFORMED, f, prefix, field, "entry %d is not a %s number", i,
                         positive ? "positive" : "finite");
    out[i] = (float)v;
  }
  return TRUE;
}

/* A preprocessor field that must agree with vision_config when present. */
static gboolean
check_same(const Fields *f, const char *field, uint32_t want, const char *vision_field, GError **error)
{
  uint32_t v;
  if (!get_count(f, field, want, &v, error))
    return FALSE;
  if (v != want)
    return field_error(error, VF_CONFIG_ERROR_MALFORMED, f, "", field, "%u differs from config.json's %s %u", v,
                       vision_field, want);
  return TRUE;
}

static gboolean
parse_preprocessor(VfConfig *c, const char *path, GError **error)
{
  c->min_pixels = DEFAULT_MIN_PIXELS;
  c->max_pixels = DEFAULT_MAX_PIXELS;
  memcpy(c->image_mean, clip_mean, sizeof clip_mean);
  memcpy(c->image_std, clip_std, sizeof clip_std);

  g_autoptr(JsonParser) parser = json_parser_new_immutable();
  JsonObject *root;
  if (!load_json(parser, path, false, &root, error))
    return FALSE;
  if (!root)
    return TRUE;
  Fields f = {.path = path, .obj = root, .prefix = ""};

  /* Re-saved processors write size {"shortest_edge", "longest_edge"} (or {"min_pixels", "max_pixels"});
   * top-level min_pixels / max_pixels override them, as in transformers. */
  JsonObject *size;
  if (!get_object(&f, "size", &size, error))
    return FALSE;
  if (size) {
    Fields s = {.path = path, .obj = size, .prefix = "size."};
    if (!get_count(&s, "shortest_edge", c->min_pixels, &c->min_pixels, error) ||
        !get_count(&s, "longest_edge", c->max_pixels, &c->max_pixels, error) ||
        !get_count(&s, "min_pixels", c->min_pixels, &c->min_pixels, error) ||
        !get_count(&s, "max_pixels", c->max_pixels, &c->max_pixels, error))
      return FALSE;
  }
  if (!get_count(&f, "min_pixels", c->min_pixels, &c->min_pixels, error) ||
      !get_count(&f, "max_pixels", c->max_pixels, &c->max_pixels, error) ||
      !get_rgb(&f, "image_mean", clip_mean, false, c->image_mean, error) ||
      !get_rgb(&f, "image_std", clip_std, true, c->image_std, error) ||
      !check_same(&f, "patch_size", c->vision.patch_size, "vision_config.patch_size", error) ||
      !check_same(&f, "temporal_patch_size", c->vision.temporal_patch, "vision_config.temporal_patch_size", error) ||
      !check_same(&f, "merge_size", c->vision.merge_size, "vision_config.spatial_merge_size", error))
    return FALSE;
  if (c->min_pixels > c->max_pixels)
    return field_error(error, VF_CONFIG_ERROR_MALFORMED, &f, "", "min_pixels", "%u is more than max_pixels %u",
                       c->min_pixels, c->max_pixels);
  return TRUE;
}

VfConfig *
vf_config_load(const char *dir, GError **error)
{
  g_autoptr(VfConfig) c = g_new0(VfConfig, 1);
  g_autofree char *config = g_build_filename(dir, "config.json", NULL);
  g_autofree char *generation = g_build_filename(dir, "generation_config.json", NULL);
  g_autofree char *preprocessor = g_build_filename(dir, "preprocessor_config.json", NULL);
  if (!parse_config(c, config, error) || !parse_generation(c, generation, error) ||
      !parse_preprocessor(c, preprocessor, error))
    return NULL;
  return g_steal_pointer(&c);
}

void
vf_config_free(VfConfig *config)
{
  if (!config)
    return;
  g_free(config->model_type);
  g_free(config);
}
