/* config.json, generation_config.json and preprocessor_config.json: the golden models, the other forms
 * real checkpoints use (text_config, later rope_scaling, reduced vision_config, size.shortest_edge), and
 * files that must be refused with an error naming the file and the field. */
#include <glib/gstdio.h>
#include <string.h>

#include "st_write.h"
#include "vf_config.h"

static VfConfig *
load_ok(const char *dir)
{
  g_autoptr(GError) error = NULL;
  VfConfig *c = vf_config_load(dir, &error);
  g_assert_no_error(error);
  g_assert_nonnull(c);
  return c;
}

static void
test_tiny_a(void)
{
  g_autofree char *dir = st_model_dir("tiny-a");
  g_autoptr(VfConfig) c = load_ok(dir);
  g_assert_cmpstr(c->model_type, ==, "qwen2_vl");
  g_assert_cmpuint(c->hidden, ==, 64);
  g_assert_cmpuint(c->intermediate, ==, 128);
  g_assert_cmpuint(c->layers, ==, 2);
  g_assert_cmpuint(c->heads, ==, 2);
  g_assert_cmpuint(c->kv_heads, ==, 1);
  g_assert_cmpuint(c->head_dim, ==, 32);
  g_assert_cmpuint(c->vocab, ==, 151936);
  g_assert_true(c->tie_embeddings);
  g_assert_cmpfloat(c->rms_eps, ==, 1e-6f);
  g_assert_cmpfloat(c->rope_theta, ==, 1e6f);
  g_assert_cmpuint(c->mrope_section[0], ==, 4);
  g_assert_cmpuint(c->mrope_section[1], ==, 6);
  g_assert_cmpuint(c->mrope_section[2], ==, 6);
  g_assert_cmpuint(c->max_positions, ==, 32768);
  g_assert_cmpint(c->bos_id, ==, 151643);
  g_assert_cmpint(c->eos_id, ==, 151645);
  g_assert_cmpint(c->vision_start_id, ==, 151652);
  g_assert_cmpint(c->vision_end_id, ==, 151653);
  g_assert_cmpint(c->vision_pad_id, ==, 151654);
  g_assert_cmpint(c->image_pad_id, ==, 151655);
  g_assert_cmpint(c->video_pad_id, ==, 151656);

  g_assert_cmpuint(c->vision.depth, ==, 2);
  g_assert_cmpuint(c->vision.embed_dim, ==, 64);
  g_assert_cmpuint(c->vision.num_heads, ==, 2);
  g_assert_cmpuint(c->vision.mlp_dim, ==, 256);
  g_assert_cmpuint(c->vision.out_hidden, ==, 64);
  g_assert_cmpuint(c->vision.patch_size, ==, 14);
  g_assert_cmpuint(c->vision.temporal_patch, ==, 2);
  g_assert_cmpuint(c->vision.merge_size, ==, 2);
  g_assert_cmpuint(c->vision.in_channels, ==, 3);

  g_assert_false(c->do_sample);
  g_assert_cmpuint(c->n_gen_eos, ==, 2);
  g_assert_cmpint(c->gen_eos_ids[0], ==, 151645);
  g_assert_cmpint(c->gen_eos_ids[1], ==, 151643);
  g_assert_cmpint(c->pad_id, ==, 151643);

  g_assert_cmpuint(c->min_pixels, ==, 3136);
  g_assert_cmpuint(c->max_pixels, ==, 12845056);
  g_assert_cmpfloat(c->image_mean[0], ==, 0.48145466f);
  g_assert_cmpfloat(c->image_std[2], ==, 0.27577711f);
}

static void
test_tiny_b(void)
{
  g_autofree char *dir = st_model_dir("tiny-b");
  g_autoptr(VfConfig) c = load_ok(dir);
  g_assert_cmpuint(c->hidden, ==, 256);
  g_assert_cmpuint(c->head_dim, ==, 128);
  g_assert_cmpuint(c->layers, ==, 3);
  g_assert_cmpuint(c->vocab, ==, 4096);
  g_assert_false(c->tie_embeddings);
  g_assert_cmpuint(c->mrope_section[0], ==, 16);
  g_assert_cmpuint(c->mrope_section[1], ==, 24);
  g_assert_cmpint(c->eos_id, ==, 4082);
  g_assert_cmpint(c->image_pad_id, ==, 4092);
  g_assert_cmpuint(c->vision.depth, ==, 3);
  g_assert_cmpuint(c->vision.embed_dim, ==, 160);
  g_assert_cmpuint(c->vision.embed_dim / c->vision.num_heads, ==, 80);
  g_assert_cmpuint(c->vision.mlp_dim, ==, 640);
  g_assert_cmpuint(c->vision.out_hidden, ==, 256);
  g_assert_cmpint(c->gen_eos_ids[0], ==, 4082);
  g_assert_cmpint(c->gen_eos_ids[1], ==, 4080);
}

/* ---- edited copies ---------------------------------------------------------------------------------- */

typedef void (*EditFunc)(JsonObject *root);

/* A temp folder with the configs of `model`, `file` (config.json etc.) passed through `edit`. */
static char *
edited_dir(const char *model, const char *file, EditFunc edit)
{
  g_autofree char *from = st_model_dir(model);
  char *dir = st_make_temp_dir();
  st_copy_configs(from, dir);
  if (edit) {
    g_autofree char *path = g_build_filename(dir, file, NULL);
    JsonNode *root = st_read_json(path);
    edit(json_node_get_object(root));
    st_write_json(path, root);
    json_node_unref(root);
  }
  return dir;
}

static void
expect_error(const char *dir, int code, const char *file, const char *const *needles, const char *what)
{
  g_autoptr(GError) error = NULL;
  VfConfig *c = vf_config_load(dir, &error);
  if (c || !error)
    g_error("%s: loaded without an error", what);
  g_assert_error(error, VF_CONFIG_ERROR, code);
  if (!strstr(error->message, file))
    g_error("%s: the message does not name %s: %s", what, file, error->message);
  for (int i = 0; i < 3 && needles[i]; i++)
    if (!strstr(error->message, needles[i]))
      g_error("%s: the message lacks \"%s\": %s", what, needles[i], error->message);
  g_test_message("%s -> %s", what, error->message);
}

static void set_llama(JsonObject *o) { json_object_set_string_member(o, "model_type", "llama"); }
static void drop_model_type(JsonObject *o) { json_object_remove_member(o, "model_type"); }
static void drop_hidden(JsonObject *o) { json_object_remove_member(o, "hidden_size"); }
static void hidden_as_string(JsonObject *o) { json_object_set_string_member(o, "hidden_size", "64"); }
static void hidden_as_float(JsonObject *o) { json_object_set_double_member(o, "hidden_size", 64.5); }
static void kv_heads_3(JsonObject *o) { json_object_set_int_member(o, "num_key_value_heads", 3); }
static void heads_3(JsonObject *o) { json_object_set_int_member(o, "num_attention_heads", 3); }
static void negative_layers(JsonObject *o) { json_object_set_int_member(o, "num_hidden_layers", -2); }
static void head_dim_wrong(JsonObject *o) { json_object_set_int_member(o, "head_dim", 64); }
static void head_dim_right(JsonObject *o) { json_object_set_int_member(o, "head_dim", 32); }
static void gelu(JsonObject *o) { json_object_set_string_member(o, "hidden_act", "gelu"); }
static void sliding(JsonObject *o) { json_object_set_boolean_member(o, "use_sliding_window", TRUE); }
static void tie_as_string(JsonObject *o) { json_object_set_string_member(o, "tie_word_embeddings", "yes"); }
static void image_id_past_vocab(JsonObject *o) { json_object_set_int_member(o, "image_token_id", 5000); }

static void
mrope_bad_sum(JsonObject *o)
{
  JsonArray *a = json_object_get_array_member(json_object_get_object_member(o, "rope_scaling"), "mrope_section");
  json_array_remove_element(a, 2);
  json_array_add_int_element(a, 7);
}

static void
mrope_two_entries(JsonObject *o)
{
  JsonArray *a = json_object_get_array_member(json_object_get_object_member(o, "rope_scaling"), "mrope_section");
  json_array_remove_element(a, 2);
}

static void
rope_yarn(JsonObject *o)
{
  json_object_set_string_member(json_object_get_object_member(o, "rope_scaling"), "type", "yarn");
}

static void drop_rope(JsonObject *o) { json_object_remove_member(o, "rope_scaling"); }


static void
vision_heads_3(JsonObject *o)
{
  json_object_set_int_member(json_object_get_object_member(o, "vision_config"), "num_heads", 3);
}

/* Issue 18's overflowing vision config: 16,000,000 × 1000 MLP channels (UBSan: 1.6e+10 outside uint32). */
static void
vision_mlp_overflow(JsonObject *o)
{
  JsonObject *v = json_object_get_object_member(o, "vision_config");
  json_object_set_int_member(v, "embed_dim", 16000000);
  json_object_set_int_member(v, "mlp_ratio", 1000);
}

static void
vision_width_wrong(JsonObject *o)
{
  json_object_set_int_member(json_object_get_object_member(o, "vision_config"), "hidden_size", 128);
}

/* The reduced block later transformers write: the 2B files state hidden_size; without it the class default
 * 3584 applies, which no longer matches a 64-wide model. */
static void
vision_reduced_without_width(JsonObject *o)
{
  JsonObject *v = json_object_new();
  json_object_set_int_member(v, "in_chans", 3);
  json_object_set_string_member(v, "model_type", "qwen2_vl");
  json_object_set_int_member(v, "spatial_patch_size", 14);
  json_object_set_object_member(o, "vision_config", v);
}

static void
vision_reduced(JsonObject *o)
{
  vision_reduced_without_width(o);
  json_object_set_int_member(json_object_get_object_member(o, "vision_config"), "hidden_size", 64);
}

/* Newest layout: text fields under text_config, rope_scaling in the later form, ids at the top level. */
static void
nest_text_config(JsonObject *o)
{
  const char *fields[] = {"hidden_size",  "intermediate_size", "num_hidden_layers", "num_attention_heads",
                          "num_key_value_heads", "vocab_size", "rms_norm_eps", "rope_theta",
                          "max_position_embeddings", "tie_word_embeddings", "bos_token_id", "eos_token_id",
                          "hidden_act"};
  JsonObject *text = json_object_new();
  for (size_t i = 0; i < G_N_ELEMENTS(fields); i++) {
    json_object_set_member(text, fields[i], json_node_copy(json_object_get_member(o, fields[i])));
    json_object_remove_member(o, fields[i]);
  }
  json_object_set_string_member(text, "model_type", "qwen2_vl_text");
  JsonObject *rope = json_object_new();
  JsonArray *section = json_array_new();
  json_array_add_int_element(section, 4);
  json_array_add_int_element(section, 6);
  json_array_add_int_element(section, 6);
  json_object_set_array_member(rope, "mrope_section", section);
  json_object_set_string_member(rope, "rope_type", "default");
  json_object_set_string_member(rope, "type", "default");
  json_object_set_object_member(text, "rope_scaling", rope);
  json_object_remove_member(o, "rope_scaling");
  json_object_set_object_member(o, "text_config", text);
}

static void
nested_kv_heads_3(JsonObject *o)
{
  nest_text_config(o);
  json_object_set_int_member(json_object_get_object_member(o, "text_config"), "num_key_value_heads", 3);
}

static void
test_config_errors(void)
{
  struct {
    const char *what;
    EditFunc edit;
    int code;
    const char *needles[3];
  } cases[] = {
    {"model_type llama", set_llama, VF_CONFIG_ERROR_UNSUPPORTED, {"model_type", "\"llama\"", "qwen2_vl"}},
    {"no model_type", drop_model_type, VF_CONFIG_ERROR_MISSING, {"model_type", "missing"}},
    {"no hidden_size", drop_hidden, VF_CONFIG_ERROR_MISSING, {"hidden_size", "missing"}},
    {"hidden_size a string", hidden_as_string, VF_CONFIG_ERROR_MALFORMED, {"hidden_size", "positive integer"}},
    {"hidden_size a fraction", hidden_as_float, VF_CONFIG_ERROR_MALFORMED, {"hidden_size"}},
    {"negative layer count", negative_layers, VF_CONFIG_ERROR_MALFORMED, {"num_hidden_layers"}},
    {"kv heads not dividing heads", kv_heads_3, VF_CONFIG_ERROR_MALFORMED, {"num_key_value_heads", "3"}},
    {"heads not dividing hidden", heads_3, VF_CONFIG_ERROR_MALFORMED, {"num_attention_heads", "hidden_size 64"}},
    {"head_dim contradicting hidden / heads", head_dim_wrong, VF_CONFIG_ERROR_UNSUPPORTED, {"head_dim", "32"}},
    {"activation other than silu", gelu, VF_CONFIG_ERROR_UNSUPPORTED, {"hidden_act", "gelu"}},
    {"sliding window", sliding, VF_CONFIG_ERROR_UNSUPPORTED, {"use_sliding_window"}},
    {"tie_word_embeddings a string", tie_as_string, VF_CONFIG_ERROR_MALFORMED, {"tie_word_embeddings"}},
    {"mrope_section not summing to head_dim / 2", mrope_bad_sum, VF_CONFIG_ERROR_MALFORMED,
     {"rope_scaling.mrope_section", "sums to 17", "head_dim / 2 = 16"}},
    {"mrope_section of two", mrope_two_entries, VF_CONFIG_ERROR_MALFORMED, {"rope_scaling.mrope_section", "3"}},
    {"rope type yarn", rope_yarn, VF_CONFIG_ERROR_UNSUPPORTED, {"rope_scaling.type", "yarn"}},
    {"no rope_scaling", drop_rope, VF_CONFIG_ERROR_MISSING, {"rope_scaling", "mrope_section"}},
    {"special id past the vocabulary", image_id_past_vocab, VF_CONFIG_ERROR_MALFORMED,
     {"image_token_id", "5000", "vocab_size"}},
    {"vision heads not dividing the width", vision_heads_3, VF_CONFIG_ERROR_MALFORMED, {"vision_config.num_heads"}},
    {"vision MLP wider than uint32", vision_mlp_overflow, VF_CONFIG_ERROR_MALFORMED,
     {"vision_config.mlp_ratio", "16000000000", "more than 4294967295"}},
    {"vision width unlike the LLM's", vision_width_wrong, VF_CONFIG_ERROR_MALFORMED,
     {"vision_config.hidden_size", "128"}},
    {"reduced vision_config without hidden_size", vision_reduced_without_width, VF_CONFIG_ERROR_MALFORMED,
     {"vision_config.hidden_size", "3584 (the default)"}},
    {"kv heads inside text_config", nested_kv_heads_3, VF_CONFIG_ERROR_MALFORMED,
     {"text_config.num_key_value_heads"}},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    const char *model = cases[i].edit == image_id_past_vocab ? "tiny-b" : "tiny-a";
    g_autofree char *dir = edited_dir(model, "config.json", cases[i].edit);
    expect_error(dir, cases[i].code, "config.json", cases[i].needles, cases[i].what);
    st_remove_dir(dir);
  }
}

static void
write_file(const char *dir, const char *name, const char *text)
{
  g_autofree char *path = g_build_filename(dir, name, NULL);
  g_assert_true(g_file_set_contents(path, text, -1, NULL));
}

static void
test_unreadable_files(void)
{
  g_autofree char *dir = st_make_temp_dir();
  expect_error(dir, VF_CONFIG_ERROR_MISSING, "config.json", (const char *[]){"missing", NULL}, "no config.json");

  g_autofree char *golden = st_model_dir("tiny-a");
  st_copy_configs(golden, dir);
  write_file(dir, "config.json", "{\"model_type\": \"qwen2_vl\", \"hidden_size\": 64,");
  expect_error(dir, VF_CONFIG_ERROR_MALFORMED, "config.json", (const char *[]){"not valid JSON", NULL},
               "malformed config.json");
  write_file(dir, "config.json", "[\"qwen2_vl\"]");
  expect_error(dir, VF_CONFIG_ERROR_MALFORMED, "config.json", (const char *[]){"not a JSON object", NULL},
               "config.json not an object");
  write_file(dir, "config.json", "");
  expect_error(dir, VF_CONFIG_ERROR_MALFORMED, "config.json", (const char *[]){NULL}, "empty config.json");

  st_copy_configs(golden, dir);
  write_file(dir, "generation_config.json", "{\"do_sample\": ");
  expect_error(dir, VF_CONFIG_ERROR_MALFORMED, "generation_config.json", (const char *[]){"not valid JSON", NULL},
               "malformed generation_config.json");
  write_file(dir, "generation_config.json", "{\"eos_token_id\": [1, 2, 3, 4, 5]}");
  expect_error(dir, VF_CONFIG_ERROR_UNSUPPORTED, "generation_config.json",
               (const char *[]){"eos_token_id", "more than 4", NULL}, "five stop tokens");
  write_file(dir, "generation_config.json", "{\"top_p\": 1.5}");
  expect_error(dir, VF_CONFIG_ERROR_MALFORMED, "generation_config.json", (const char *[]){"top_p", NULL},
               "top_p above 1");

  st_copy_configs(golden, dir);
  write_file(dir, "preprocessor_config.json", "{\"min_pixels\": 5000, \"max_pixels\": 4000}");
  expect_error(dir, VF_CONFIG_ERROR_MALFORMED, "preprocessor_config.json",
               (const char *[]){"min_pixels", "4000", NULL}, "min_pixels above max_pixels");
  write_file(dir, "preprocessor_config.json", "{\"merge_size\": 3}");
  expect_error(dir, VF_CONFIG_ERROR_MALFORMED, "preprocessor_config.json",
               (const char *[]){"merge_size", "spatial_merge_size", NULL}, "merge_size unlike the vision tower's");
  write_file(dir, "preprocessor_config.json", "{\"image_std\": [0.5, 0, 0.5]}");
  expect_error(dir, VF_CONFIG_ERROR_MALFORMED, "preprocessor_config.json", (const char *[]){"image_std", NULL},
               "zero image_std");
  write_file(dir, "preprocessor_config.json", "{\"size\": {\"shortest_edge\": \"big\"}}");
  expect_error(dir, VF_CONFIG_ERROR_MALFORMED, "preprocessor_config.json",
               (const char *[]){"size.shortest_edge", NULL}, "size.shortest_edge a string");
  st_remove_dir(dir);
}

/* ---- quantized checkpoints -------------------------------------------------------------------------- */

/* quantization_config as the official repos write it (spec §2.6), on tiny-b (hidden 256, intermediate 512). */
static JsonObject *
set_quant(JsonObject *o, const char *method, int bits, int group_size)
{
  JsonObject *q = json_object_new();
  json_object_set_string_member(q, "quant_method", method);
  json_object_set_int_member(q, "bits", bits);
  json_object_set_int_member(q, "group_size", group_size);
  if (strcmp(method, "awq") == 0) {
    json_object_set_string_member(q, "version", "gemm");
    json_object_set_boolean_member(q, "zero_point", TRUE);
    JsonArray *skip = json_array_new();
    json_array_add_string_element(skip, "visual");
    json_object_set_array_member(q, "modules_to_not_convert", skip);
  } else {
    json_object_set_boolean_member(q, "sym", TRUE);
    json_object_set_boolean_member(q, "desc_act", FALSE);
  }
  json_object_set_object_member(o, "quantization_config", q);
  return q;
}

static void gptq4(JsonObject *o) { set_quant(o, "gptq", 4, 128); }
static void gptq8_per_column(JsonObject *o) { set_quant(o, "gptq", 8, -1); }
static void gptq4_act_order(JsonObject *o)
{
  JsonObject *q = set_quant(o, "gptq", 4, 64);
  json_object_set_boolean_member(q, "desc_act", TRUE);
  json_object_set_boolean_member(q, "sym", FALSE);
}
static void awq(JsonObject *o) { set_quant(o, "awq", 4, 128); }
static void gptq3(JsonObject *o) { set_quant(o, "gptq", 3, 128); }
static void awq8(JsonObject *o) { set_quant(o, "awq", 8, 128); }
static void gptq_group_96(JsonObject *o) { set_quant(o, "gptq", 4, 96); }   /* divides neither 256 nor 512 */
static void gptq_group_zero(JsonObject *o) { set_quant(o, "gptq", 4, 0); }
static void gptq_marlin(JsonObject *o)
{
  json_object_set_string_member(set_quant(o, "gptq", 4, 128), "checkpoint_format", "marlin");
}
static void gptq_marlin_flag(JsonObject *o)
{
  json_object_set_boolean_member(set_quant(o, "gptq", 4, 128), "is_marlin_format", TRUE);
}
static void awq_gemv(JsonObject *o) { json_object_set_string_member(set_quant(o, "awq", 4, 128), "version", "gemv"); }
static void awq_gemv_fast(JsonObject *o)
{
  json_object_set_string_member(set_quant(o, "awq", 4, 128), "version", "gemv_fast");
}
static void awq_exllama(JsonObject *o)
{
  json_object_set_string_member(set_quant(o, "awq", 4, 128), "version", "exllama");
}
static void awq_skip_mlp(JsonObject *o)
{
  JsonObject *q = set_quant(o, "awq", 4, 128);
  json_array_add_string_element(json_object_get_array_member(q, "modules_to_not_convert"), "mlp.down_proj");
}
static void bitsandbytes(JsonObject *o)
{
  JsonObject *q = json_object_new();
  json_object_set_string_member(q, "quant_method", "bitsandbytes");
  json_object_set_boolean_member(q, "load_in_4bit", TRUE);
  json_object_set_object_member(o, "quantization_config", q);
}
static void fp8(JsonObject *o)
{
  JsonObject *q = json_object_new();
  json_object_set_string_member(q, "quant_method", "fp8");
  json_object_set_object_member(o, "quantization_config", q);
}
static void exl2(JsonObject *o) { set_quant(o, "exl2", 4, 128); }
static void no_method(JsonObject *o)
{
  json_object_remove_member(set_quant(o, "gptq", 4, 128), "quant_method");
}

static void
test_quantized_configs(void)
{
  struct {
    EditFunc edit;
    VfQuantMethod method;
    uint32_t bits, group_size;
    bool desc_act, sym;
    const char *name;
  } cases[] = {
    {gptq4, VF_QUANT_GPTQ, 4, 128, false, true, "GPTQ-Int4"},
    {gptq8_per_column, VF_QUANT_GPTQ, 8, 0, false, true, "GPTQ-Int8"},
    {gptq4_act_order, VF_QUANT_GPTQ, 4, 64, true, false, "GPTQ-Int4"},
    {awq, VF_QUANT_AWQ, 4, 128, false, true, "AWQ"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *dir = edited_dir("tiny-b", "config.json", cases[i].edit);
    g_autoptr(VfConfig) c = load_ok(dir);
    g_assert_cmpint(c->quant.method, ==, cases[i].method);
    g_assert_cmpuint(c->quant.bits, ==, cases[i].bits);
    g_assert_cmpuint(c->quant.group_size, ==, cases[i].group_size);
    g_assert_cmpuint(vf_quant_group_width(&c->quant, 512), ==, cases[i].group_size ? cases[i].group_size : 512);
    g_assert_cmpstr(vf_quant_format_name(&c->quant), ==, cases[i].name);
    if (cases[i].method == VF_QUANT_GPTQ) {
      g_assert_true(c->quant.desc_act == cases[i].desc_act);
      g_assert_true(c->quant.sym == cases[i].sym);
    } else {
      g_assert_true(c->quant.zero_point);
    }
    st_remove_dir(dir);
  }
  g_autofree char *plain = st_model_dir("tiny-b");
  g_autoptr(VfConfig) c = load_ok(plain);
  g_assert_cmpint(c->quant.method, ==, VF_QUANT_NONE);
  g_assert_cmpstr(vf_quant_format_name(&c->quant), ==, "16-bit");
}

/* Every refusal of issue 11 names the file, the field and the reason, before any weight is read. */
static void
test_quantized_refusals(void)
{
  struct {
    const char *what;
    EditFunc edit;
    int code;
    const char *needles[3];
  } cases[] = {
    {"3-bit GPTQ", gptq3, VF_CONFIG_ERROR_UNSUPPORTED, {"quantization_config.bits", "3-bit", "4 and 8"}},
    {"8-bit AWQ", awq8, VF_CONFIG_ERROR_UNSUPPORTED, {"quantization_config.bits", "8-bit AWQ"}},
    {"group size dividing no width", gptq_group_96, VF_CONFIG_ERROR_UNSUPPORTED,
     {"quantization_config.group_size", "96 does not divide hidden_size 256"}},
    {"group size 0", gptq_group_zero, VF_CONFIG_ERROR_MALFORMED, {"quantization_config.group_size", "-1"}},
    {"Marlin checkpoint format", gptq_marlin, VF_CONFIG_ERROR_UNSUPPORTED,
     {"quantization_config.checkpoint_format", "\"marlin\""}},
    {"Marlin flag", gptq_marlin_flag, VF_CONFIG_ERROR_UNSUPPORTED, {"quantization_config.is_marlin_format"}},
    {"AWQ gemv", awq_gemv, VF_CONFIG_ERROR_UNSUPPORTED, {"quantization_config.version", "\"gemv\"", "gemm"}},
    {"AWQ gemv_fast", awq_gemv_fast, VF_CONFIG_ERROR_UNSUPPORTED, {"quantization_config.version", "gemv_fast"}},
    {"AWQ exllama", awq_exllama, VF_CONFIG_ERROR_UNSUPPORTED, {"quantization_config.version", "exllama"}},
    {"AWQ leaving a decoder linear in 16 bits", awq_skip_mlp, VF_CONFIG_ERROR_UNSUPPORTED,
     {"quantization_config.modules_to_not_convert", "mlp.down_proj", "model.layers.0.mlp.down_proj"}},
    {"bitsandbytes", bitsandbytes, VF_CONFIG_ERROR_UNSUPPORTED,
     {"quantization_config.quant_method", "\"bitsandbytes\"", "gptq and awq"}},
    {"fp8", fp8, VF_CONFIG_ERROR_UNSUPPORTED, {"quantization_config.quant_method", "\"fp8\""}},
    {"exl2", exl2, VF_CONFIG_ERROR_UNSUPPORTED, {"quantization_config.quant_method", "\"exl2\""}},
    {"no quant_method", no_method, VF_CONFIG_ERROR_MISSING, {"quantization_config.quant_method", "missing"}},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *dir = edited_dir("tiny-b", "config.json", cases[i].edit);
    expect_error(dir, cases[i].code, "config.json", cases[i].needles, cases[i].what);
    st_remove_dir(dir);
  }
}

/* quantize_config.json: alone (older AutoGPTQ exports), beside a matching quantization_config, or
 * contradicting it. */
static void
test_quantize_config_json(void)
{
  g_autofree char *dir = edited_dir("tiny-b", "config.json", NULL);
  write_file(dir, "quantize_config.json",
             "{\"bits\": 8, \"group_size\": 64, \"desc_act\": true, \"sym\": true, \"damp_percent\": 0.01,"
             " \"true_sequential\": true, \"model_file_base_name\": \"model\", \"quant_method\": \"gptq\"}");
  {
    g_autoptr(VfConfig) c = load_ok(dir);
    g_assert_cmpint(c->quant.method, ==, VF_QUANT_GPTQ);
    g_assert_cmpuint(c->quant.bits, ==, 8);
    g_assert_cmpuint(c->quant.group_size, ==, 64);
    g_assert_true(c->quant.desc_act);
  }
  g_autofree char *config = g_build_filename(dir, "config.json", NULL);
  JsonNode *root = st_read_json(config);
  JsonObject *q = set_quant(json_node_get_object(root), "gptq", 8, 64);
  json_object_set_boolean_member(q, "desc_act", TRUE);
  st_write_json(config, root);
  {
    g_autoptr(VfConfig) c = load_ok(dir);
    g_assert_cmpuint(c->quant.bits, ==, 8);
  }
  json_object_set_int_member(q, "group_size", 128);
  st_write_json(config, root);
  json_node_unref(root);
  expect_error(dir, VF_CONFIG_ERROR_MALFORMED, "quantize_config.json",
               (const char *[]){"group_size", "differs from", "config.json"}, "quantize_config.json contradicting");

  write_file(dir, "quantize_config.json", "{\"bits\": 2, \"group_size\": 64}");
  expect_error(dir, VF_CONFIG_ERROR_UNSUPPORTED, "quantize_config.json", (const char *[]){"bits", "2-bit", NULL},
               "2-bit quantize_config.json");
  write_file(dir, "quantize_config.json", "{\"bits\": 4, ");
  expect_error(dir, VF_CONFIG_ERROR_MALFORMED, "quantize_config.json", (const char *[]){"not valid JSON", NULL},
               "broken quantize_config.json");
  st_remove_dir(dir);
}

/* ---- accepted variants ------------------------------------------------------------------------------ */

static void
test_text_config_and_later_rope(void)
{
  g_autofree char *golden = st_model_dir("tiny-a");
  g_autoptr(VfConfig) want = load_ok(golden);
  g_autofree char *dir = edited_dir("tiny-a", "config.json", nest_text_config);
  g_autoptr(VfConfig) got = load_ok(dir);
  g_assert_cmpuint(got->hidden, ==, want->hidden);
  g_assert_cmpuint(got->intermediate, ==, want->intermediate);
  g_assert_cmpuint(got->layers, ==, want->layers);
  g_assert_cmpuint(got->kv_heads, ==, want->kv_heads);
  g_assert_cmpuint(got->vocab, ==, want->vocab);
  g_assert_true(got->tie_embeddings);
  g_assert_cmpfloat(got->rms_eps, ==, want->rms_eps);
  g_assert_cmpint(got->eos_id, ==, want->eos_id);
  g_assert_cmpint(got->image_pad_id, ==, want->image_pad_id);
  g_assert_cmpmem(got->mrope_section, sizeof got->mrope_section, want->mrope_section, sizeof want->mrope_section);
  st_remove_dir(dir);
  g_free(dir);

  dir = edited_dir("tiny-a", "config.json", head_dim_right); /* a consistent head_dim is fine */
  g_autoptr(VfConfig) with_head_dim = load_ok(dir);
  g_assert_cmpuint(with_head_dim->head_dim, ==, 32);
  st_remove_dir(dir);
}

static void
test_reduced_vision_config(void)
{
  g_autofree char *dir = edited_dir("tiny-a", "config.json", vision_reduced);
  g_autoptr(VfConfig) c = load_ok(dir);
  /* The class defaults: the real vision tower's sizes. */
  g_assert_cmpuint(c->vision.depth, ==, 32);
  g_assert_cmpuint(c->vision.embed_dim, ==, 1280);
  g_assert_cmpuint(c->vision.num_heads, ==, 16);
  g_assert_cmpuint(c->vision.mlp_dim, ==, 5120);
  g_assert_cmpuint(c->vision.out_hidden, ==, 64);
  g_assert_cmpuint(c->vision.patch_size, ==, 14);
  g_assert_cmpuint(c->vision.temporal_patch, ==, 2);
  g_assert_cmpuint(c->vision.merge_size, ==, 2);
  g_assert_cmpuint(c->vision.in_channels, ==, 3);
  st_remove_dir(dir);
}

static void
test_generation_variants(void)
{
  g_autofree char *golden = st_model_dir("tiny-a");
  g_autofree char *dir = st_make_temp_dir();
  st_copy_configs(golden, dir);
  g_autofree char *gen = g_build_filename(dir, "generation_config.json", NULL);

  /* Absent: greedy, stopping at config.json's eos. */
  g_assert_cmpint(g_unlink(gen), ==, 0);
  {
    g_autoptr(VfConfig) c = load_ok(dir);
    g_assert_false(c->do_sample);
    g_assert_cmpuint(c->n_gen_eos, ==, 1);
    g_assert_cmpint(c->gen_eos_ids[0], ==, 151645);
    g_assert_cmpfloat(c->temperature, ==, 1.0f);
    g_assert_cmpfloat(c->top_p, ==, 1.0f);
    g_assert_cmpfloat(c->repetition_penalty, ==, 1.0f);
    g_assert_cmpint(c->pad_id, ==, -1);
  }
  /* The published 2B base file (spec §1.3), eos as one integer. */
  write_file(dir, "generation_config.json",
             "{\"bos_token_id\": 151643, \"do_sample\": true, \"eos_token_id\": 151645, \"pad_token_id\": 151643,"
             " \"repetition_penalty\": 1.05, \"temperature\": 0.1, \"top_k\": 1, \"top_p\": 0.001}");
  {
    g_autoptr(VfConfig) c = load_ok(dir);
    g_assert_true(c->do_sample);
    g_assert_cmpuint(c->n_gen_eos, ==, 1);
    g_assert_cmpint(c->gen_eos_ids[0], ==, 151645);
    g_assert_cmpfloat(c->temperature, ==, 0.1f);
    g_assert_cmpfloat(c->top_p, ==, 0.001f);
    g_assert_cmpuint(c->top_k, ==, 1);
    g_assert_cmpfloat(c->repetition_penalty, ==, 1.05f);
    g_assert_cmpint(c->pad_id, ==, 151643);
  }
  st_remove_dir(dir);
}

static void
test_preprocessor_variants(void)
{
  g_autofree char *golden = st_model_dir("tiny-a");
  g_autofree char *dir = st_make_temp_dir();
  st_copy_configs(golden, dir);
  g_autofree char *pre = g_build_filename(dir, "preprocessor_config.json", NULL);

  /* Absent: the processor class defaults. */
  g_assert_cmpint(g_unlink(pre), ==, 0);
  {
    g_autoptr(VfConfig) c = load_ok(dir);
    g_assert_cmpuint(c->min_pixels, ==, 56 * 56);
    g_assert_cmpuint(c->max_pixels, ==, 28 * 28 * 1280);
    g_assert_cmpfloat(c->image_mean[1], ==, 0.4578275f);
    g_assert_cmpfloat(c->image_std[0], ==, 0.26862954f);
  }
  /* The re-saved form of the quantized repos. */
  write_file(dir, "preprocessor_config.json",
             "{\"size\": {\"shortest_edge\": 200704, \"longest_edge\": 1003520}, \"patch_size\": 14,"
             " \"image_mean\": [0.5, 0.5, 0.5], \"image_std\": [0.25, 0.25, 0.25]}");
  {
    g_autoptr(VfConfig) c = load_ok(dir);
    g_assert_cmpuint(c->min_pixels, ==, 200704);
    g_assert_cmpuint(c->max_pixels, ==, 1003520);
    g_assert_cmpfloat(c->image_mean[2], ==, 0.5f);
    g_assert_cmpfloat(c->image_std[1], ==, 0.25f);
  }
  /* size in the min/max spelling, overridden by the top-level fields as in transformers. */
  write_file(dir, "preprocessor_config.json",
             "{\"size\": {\"min_pixels\": 3136, \"max_pixels\": 1003520}, \"max_pixels\": 802816}");
  {
    g_autoptr(VfConfig) c = load_ok(dir);
    g_assert_cmpuint(c->min_pixels, ==, 3136);
    g_assert_cmpuint(c->max_pixels, ==, 802816);
  }
  st_remove_dir(dir);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/config/tiny-a", test_tiny_a);
  g_test_add_func("/config/tiny-b", test_tiny_b);
  g_test_add_func("/config/errors", test_config_errors);
  g_test_add_func("/config/unreadable-files", test_unreadable_files);
  g_test_add_func("/config/quantized", test_quantized_configs);
  g_test_add_func("/config/quantized-refusals", test_quantized_refusals);
  g_test_add_func("/config/quantize-config-json", test_quantize_config_json);
  g_test_add_func("/config/text-config-and-later-rope", test_text_config_and_later_rope);
  g_test_add_func("/config/reduced-vision-config", test_reduced_vision_config);
  g_test_add_func("/config/generation-variants", test_generation_variants);
  g_test_add_func("/config/preprocessor-variants", test_preprocessor_variants);
  return g_test_run();
}
