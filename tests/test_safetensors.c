/* safetensors files and checkpoint folders: the golden models, sharded and renamed copies, edge cases that
 * must be accepted, and broken files that must be refused with an error naming the file and tensor. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "st_write.h"
#include "vf_checkpoint.h"

static char *
model_file(const char *model)
{
  g_autofree char *dir = st_model_dir(model);
  return g_build_filename(dir, "model.safetensors", NULL);
}

/* The header length and size of a file, read here without the library. */
static void
file_layout(const char *path, uint64_t *header, uint64_t *size)
{
  g_autofree char *data = NULL;
  gsize len;
  g_assert_true(g_file_get_contents(path, &data, &len, NULL));
  g_assert_cmpuint(len, >=, 8);
  *header = 0;
  for (int i = 7; i >= 0; i--)
    *header = *header << 8 | (uint8_t)data[i];
  *size = len;
}

/* Every tensor lies inside the data area, in ascending order, and together they cover it exactly (the
 * golden files are densely packed). */
static void
check_packed(const VfSafetensors *st, uint64_t header, uint64_t size)
{
  uint64_t sum = 0;
  const VfTensor *first = vf_safetensors_tensor(st, 0);
  for (uint32_t i = 0; i < vf_safetensors_count(st); i++) {
    const VfTensor *t = vf_safetensors_tensor(st, i);
    g_assert_true(t->data == first->data + sum);
    g_assert_cmpuint(t->size, ==, vf_tensor_numel(t) * vf_st_dtype_bits(t->dtype) / 8);
    sum += t->size;
  }
  g_assert_cmpuint(sum, ==, size - 8 - header);
}

static float
bf16_at(const VfTensor *t, uint64_t i)
{
  uint16_t h;
  memcpy(&h, t->data + 2 * i, 2);
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

static void
test_tiny_a(void)
{
  g_autofree char *path = model_file("tiny-a");
  g_autoptr(GError) error = NULL;
  g_autoptr(VfSafetensors) st = vf_safetensors_open(path, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(vf_safetensors_count(st), ==, 57);
  g_assert_cmpstr(vf_safetensors_metadata(st, "format"), ==, "pt");
  uint64_t header, size;
  file_layout(path, &header, &size);
  check_packed(st, header, size);

  const VfTensor *embed = vf_safetensors_find(st, "model.embed_tokens.weight");
  g_assert_nonnull(embed);
  g_assert_cmpint(embed->dtype, ==, VF_ST_BF16);
  g_assert_cmpuint(embed->rank, ==, 2);
  g_assert_cmpuint(embed->shape[0], ==, 151936);
  g_assert_cmpuint(embed->shape[1], ==, 64);
  g_assert_cmpstr(embed->path, ==, path);
  const VfTensor *patch = vf_safetensors_find(st, "visual.patch_embed.proj.weight");
  g_assert_nonnull(patch);
  g_assert_cmpuint(patch->rank, ==, 5);
  uint64_t want[] = {64, 3, 2, 14, 14};
  for (int i = 0; i < 5; i++)
    g_assert_cmpuint(patch->shape[i], ==, want[i]);
  g_assert_null(vf_safetensors_find(st, "lm_head.weight")); /* tied, as in the 2B checkpoint */

  /* The golden final norm is 2 + N(0, 0.15²) and the layer norms 1 + N(0, 0.15²) (golden README): the
   * bytes read through the data pointer are the weights, not some neighbour's. */
  const VfTensor *norm = vf_safetensors_find(st, "model.norm.weight");
  const VfTensor *ln = vf_safetensors_find(st, "model.layers.1.input_layernorm.weight");
  double mean_norm = 0, mean_ln = 0;
  for (int i = 0; i < 64; i++) {
    mean_norm += bf16_at(norm, i) / 64;
    mean_ln += bf16_at(ln, i) / 64;
  }
  g_assert_cmpfloat(fabs(mean_norm - 2), <, 0.1);
  g_assert_cmpfloat(fabs(mean_ln - 1), <, 0.1);
}

static void
test_tiny_b(void)
{
  g_autofree char *path = model_file("tiny-b");
  g_autoptr(GError) error = NULL;
  g_autoptr(VfSafetensors) st = vf_safetensors_open(path, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(vf_safetensors_count(st), ==, 82);
  uint64_t header, size;
  file_layout(path, &header, &size);
  check_packed(st, header, size);
  const VfTensor *lm_head = vf_safetensors_find(st, "lm_head.weight");
  g_assert_nonnull(lm_head);
  g_assert_cmpuint(lm_head->shape[0], ==, 4096);
  g_assert_cmpuint(lm_head->shape[1], ==, 256);
  const VfTensor *qkv = vf_safetensors_find(st, "visual.blocks.2.attn.qkv.weight");
  g_assert_nonnull(qkv);
  g_assert_cmpuint(qkv->shape[0], ==, 480);
  g_assert_cmpuint(qkv->shape[1], ==, 160);
}

/* ---- edge cases that are valid ---------------------------------------------------------------------- */

static void
test_valid_edge_cases(void)
{
  g_autofree char *dir = st_make_temp_dir();
  g_autofree char *path = g_build_filename(dir, "edge.safetensors", NULL);
  /* Unaligned BF16 at byte 1, an empty tensor, a scalar, a packed 4-bit tensor, a gap, trailing spaces. */
  const char *header = "{\"odd\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[1,5]},"
                       "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[3,3]},"
                       "\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[8,12]},"
                       "\"nibbles\":{\"dtype\":\"F4\",\"shape\":[4],\"data_offsets\":[20,22]}}     ";
  uint64_t hlen = strlen(header);
  uint8_t data[24] = {0};
  data[1] = 0x80, data[2] = 0x3f; /* bf16 1.0 */
  data[3] = 0x00, data[4] = 0xc0; /* bf16 -2.0 */
  float three = 3.0f;
  memcpy(data + 8, &three, 4);
  g_autofree uint8_t *file = g_malloc(8 + hlen + sizeof data);
  for (int i = 0; i < 8; i++)
    file[i] = (uint8_t)(hlen >> (8 * i));
  memcpy(file + 8, header, hlen);
  memcpy(file + 8 + hlen, data, sizeof data);
  g_assert_true(g_file_set_contents(path, (const char *)file, (gssize)(8 + hlen + sizeof data), NULL));

  g_autoptr(GError) error = NULL;
  g_autoptr(VfSafetensors) st = vf_safetensors_open(path, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(vf_safetensors_count(st), ==, 4);
  const VfTensor *odd = vf_safetensors_find(st, "odd");
  g_assert_cmpfloat(bf16_at(odd, 0), ==, 1.0f);
  g_assert_cmpfloat(bf16_at(odd, 1), ==, -2.0f);
  const VfTensor *scalar = vf_safetensors_find(st, "scalar");
  g_assert_cmpuint(scalar->rank, ==, 0);
  g_assert_cmpuint(vf_tensor_numel(scalar), ==, 1);
  float got;
  memcpy(&got, scalar->data, 4);
  g_assert_cmpfloat(got, ==, 3.0f);
  g_assert_cmpuint(vf_safetensors_find(st, "empty")->size, ==, 0);
  g_assert_cmpuint(vf_safetensors_find(st, "nibbles")->size, ==, 2);
  /* Data order. */
  g_assert_cmpstr(vf_safetensors_tensor(st, 0)->name, ==, "odd");
  g_assert_cmpstr(vf_safetensors_tensor(st, 3)->name, ==, "nibbles");
  st_remove_dir(dir);
}

/* ---- broken files ----------------------------------------------------------------------------------- */

typedef struct {
  const char *what;
  const char *header;
  uint64_t declared; /* header length written; 0: the real length */
  uint64_t data_size;
  int code;
  const char *needles[3]; /* substrings the message must contain (besides the path) */
} BadFile;

static const BadFile bad_files[] = {
  {"header length past the end", "{}", 4096, 0, VF_SAFETENSORS_ERROR_FORMAT, {"header length 4096", "past the end"}},
  {"offsets past the end", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 0, 8,
   VF_SAFETENSORS_ERROR_FORMAT, {"'w'", "past the end"}},
  {"overlapping offsets",
   "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
   "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
   0, 24, VF_SAFETENSORS_ERROR_FORMAT, {"'a'", "'b'", "overlap"}},
  {"identical offsets",
   "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
   "\"b\":{\"dtype\":\"I32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
   0, 16, VF_SAFETENSORS_ERROR_FORMAT, {"overlap"}},
  {"end before begin", "{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[16,0]}}", 0, 16,
   VF_SAFETENSORS_ERROR_FORMAT, {"'w'", "end before begin"}},
  {"one offset", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0]}}", 0, 16,
   VF_SAFETENSORS_ERROR_FORMAT, {"'w'", "data_offsets"}},
  {"three offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16,32]}}", 0, 32,
   VF_SAFETENSORS_ERROR_FORMAT, {"'w'", "data_offsets"}},
  {"string offset", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,\"16\"]}}", 0, 16,
   VF_SAFETENSORS_ERROR_FORMAT, {"'w'", "data_offsets"}},
  {"negative offset", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[-16,0]}}", 0, 16,
   VF_SAFETENSORS_ERROR_FORMAT, {"'w'", "data_offsets"}},
  {"fractional offset", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16.5]}}", 0, 17,
   VF_SAFETENSORS_ERROR_FORMAT, {"'w'", "data_offsets"}},
  {"no offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4]}}", 0, 16, VF_SAFETENSORS_ERROR_FORMAT,
   {"'w'", "data_offsets"}},
  {"byte count does not match the shape", "{\"w\":{\"dtype\":\"F32\",\"shape\":[5],\"data_offsets\":[0,16]}}", 0,
   16, VF_SAFETENSORS_ERROR_FORMAT, {"'w'", "holds 16 bytes", "needs 20"}},
  {"shape overflows", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,16]}}", 0,
   16, VF_SAFETENSORS_ERROR_FORMAT, {"'w'", "too large"}},
  {"unknown dtype", "{\"w\":{\"dtype\":\"Q4\",\"shape\":[4],\"data_offsets\":[0,2]}}", 0, 2,
   VF_SAFETENSORS_ERROR_DTYPE, {"'w'", "\"Q4\""}},
  {"dtype not a string", "{\"w\":{\"dtype\":16,\"shape\":[4],\"data_offsets\":[0,8]}}", 0, 8,
   VF_SAFETENSORS_ERROR_FORMAT, {"'w'", "dtype"}},
  {"malformed JSON header", "{\"w\":{\"dtype\":\"F32\",", 0, 16, VF_SAFETENSORS_ERROR_FORMAT, {"not valid JSON"}},
  {"JSON not an object", "[1, 2]", 0, 0, VF_SAFETENSORS_ERROR_FORMAT, {"not a JSON object"}},
  {"entry not an object", "{\"w\":[1]}", 0, 0, VF_SAFETENSORS_ERROR_FORMAT, {"'w'", "not an object"}},
  {"shape not an array", "{\"w\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,16]}}", 0, 16,
   VF_SAFETENSORS_ERROR_FORMAT, {"'w'", "shape"}},
  {"negative dimension", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", 0, 16,
   VF_SAFETENSORS_ERROR_FORMAT, {"'w'", "shape entry 0"}},
  {"rank above the maximum", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 0,
   1, VF_SAFETENSORS_ERROR_FORMAT, {"'w'", "rank 9"}},
  {"4-bit tensor of odd length", "{\"w\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 0, 2,
   VF_SAFETENSORS_ERROR_FORMAT, {"'w'", "whole bytes"}},
  {"metadata not an object", "{\"__metadata__\":\"pt\"}", 0, 0, VF_SAFETENSORS_ERROR_FORMAT, {"__metadata__"}},
  {"metadata value not a string", "{\"__metadata__\":{\"format\":1}}", 0, 0, VF_SAFETENSORS_ERROR_FORMAT,
   {"__metadata__", "format"}},
};

static void
expect_open_error(const char *path, int code, const char *const *needles, const char *what)
{
  g_autoptr(GError) error = NULL;
  VfSafetensors *st = vf_safetensors_open(path, &error);
  if (st || !error)
    g_error("%s: opened without an error", what);
  g_assert_error(error, VF_SAFETENSORS_ERROR, code);
  if (!strstr(error->message, path))
    g_error("%s: the message does not name the file: %s", what, error->message);
  for (int i = 0; i < 3 && needles[i]; i++)
    if (!strstr(error->message, needles[i]))
      g_error("%s: the message lacks \"%s\": %s", what, needles[i], error->message);
  g_test_message("%s -> %s", what, error->message);
}

static void
test_bad_headers(void)
{
  g_autofree char *dir = st_make_temp_dir();
  g_autofree char *path = g_build_filename(dir, "bad.safetensors", NULL);
  for (size_t i = 0; i < G_N_ELEMENTS(bad_files); i++) {
    const BadFile *b = &bad_files[i];
    st_write_raw(path, b->declared ? b->declared : strlen(b->header), b->header, b->data_size);
    expect_open_error(path, b->code, b->needles, b->what);
  }
  st_remove_dir(dir);
}

static void
test_truncated_files(void)
{
  g_autofree char *dir = st_make_temp_dir();
  g_autofree char *path = g_build_filename(dir, "cut.safetensors", NULL);
  g_autofree char *golden = model_file("tiny-b");
  g_autofree char *data = NULL;
  gsize size;
  g_assert_true(g_file_get_contents(golden, &data, &size, NULL));
  uint64_t header, unused;
  file_layout(golden, &header, &unused);

  /* Shorter than the length field itself. */
  g_assert_true(g_file_set_contents(path, data, 5, NULL));
  expect_open_error(path, VF_SAFETENSORS_ERROR_FORMAT, (const char *[]){"truncated", NULL}, "5-byte file");
  /* An empty file cannot even be mapped: still a clean error. */
  g_assert_true(g_file_set_contents(path, data, 0, NULL));
  expect_open_error(path, VF_SAFETENSORS_ERROR_FORMAT, (const char *[]){"truncated", NULL}, "empty file");
  /* Cut inside the header. */
  g_assert_true(g_file_set_contents(path, data, (gssize)(8 + header / 2), NULL));
  expect_open_error(path, VF_SAFETENSORS_ERROR_FORMAT, (const char *[]){"header length", "past the end", NULL},
                    "cut inside the header");
  /* Cut inside the data: the tensors beyond the cut are refused by name; the last one in data order is
   * certainly among them. */
  g_assert_true(g_file_set_contents(path, data, (gssize)(size / 2), NULL));
  expect_open_error(path, VF_SAFETENSORS_ERROR_FORMAT, (const char *[]){"tensor '", "past the end", "truncated?"},
                    "cut inside the data");
  /* One byte short. */
  g_assert_true(g_file_set_contents(path, data, (gssize)(size - 1), NULL));
  {
    g_autoptr(VfSafetensors) whole = vf_safetensors_open(golden, NULL);
    const VfTensor *last = vf_safetensors_tensor(whole, vf_safetensors_count(whole) - 1);
    g_autofree char *needle = g_strdup_printf("'%s'", last->name);
    expect_open_error(path, VF_SAFETENSORS_ERROR_FORMAT, (const char *[]){needle, "past the end", NULL},
                      "one byte short");
  }
  /* No such file. */
  g_autofree char *nothing = g_build_filename(dir, "nothing.safetensors", NULL);
  expect_open_error(nothing, VF_SAFETENSORS_ERROR_IO, (const char *[]){"cannot open", NULL}, "no file");
  st_remove_dir(dir);
}

/* ---- checkpoint folders ----------------------------------------------------------------------------- */

static void
test_checkpoint_single(void)
{
  g_autofree char *dir = st_model_dir("tiny-a");
  g_autofree char *path = model_file("tiny-a");
  g_autoptr(GError) error = NULL;
  g_autoptr(VfCheckpoint) ck = vf_checkpoint_open(dir, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(vf_checkpoint_count(ck), ==, 57);
  g_assert_cmpuint(vf_checkpoint_n_files(ck), ==, 1);
  g_assert_cmpstr(vf_checkpoint_source(ck), ==, path);
  const VfTensor *t = vf_checkpoint_find(ck, "visual.merger.mlp.2.weight");
  g_assert_nonnull(t);
  g_assert_cmpuint(t->shape[0], ==, 64);
  g_assert_cmpuint(t->shape[1], ==, 256);
  g_assert_null(vf_checkpoint_find(ck, "lm_head.weight"));
}

static void
test_canonical_names(void)
{
  const char *cases[][2] = {
    {"model.language_model.layers.3.mlp.up_proj.weight", "model.layers.3.mlp.up_proj.weight"},
    {"model.language_model.embed_tokens.weight", "model.embed_tokens.weight"},
    {"model.visual.blocks.0.attn.qkv.bias", "visual.blocks.0.attn.qkv.bias"},
    {"model.norm.weight", "model.norm.weight"},
    {"visual.merger.ln_q.weight", "visual.merger.ln_q.weight"},
    {"lm_head.weight", "lm_head.weight"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *got = vf_checkpoint_canonical_name(cases[i][0]);
    g_assert_cmpstr(got, ==, cases[i][1]);
  }
}

static void
test_checkpoint_sharded(void)
{
  g_autofree char *dir = st_make_temp_dir();
  st_write_sharded(dir, NULL);
  g_autofree char *golden_dir = st_model_dir("tiny-a");
  g_autoptr(GError) error = NULL;
  g_autoptr(VfCheckpoint) sharded = vf_checkpoint_open(dir, &error);
  g_assert_no_error(error);
  g_autoptr(VfCheckpoint) single = vf_checkpoint_open(golden_dir, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(vf_checkpoint_n_files(sharded), ==, 2);
  g_assert_true(g_str_has_suffix(vf_checkpoint_source(sharded), "model.safetensors.index.json"));
  g_assert_cmpuint(vf_checkpoint_count(sharded), ==, vf_checkpoint_count(single));
  /* Every tensor is found under its original name, with the same bytes. */
  for (uint32_t i = 0; i < vf_checkpoint_count(single); i++) {
    const char *name;
    const VfTensor *want = vf_checkpoint_tensor(single, i, &name);
    const VfTensor *got = vf_checkpoint_find(sharded, name);
    g_assert_nonnull(got);
    g_autofree char *spelled = st_later_name(name);
    g_assert_cmpstr(got->name, ==, spelled);
    g_assert_cmpuint(got->size, ==, want->size);
    g_assert_true(memcmp(got->data, want->data, want->size) == 0);
  }
  st_remove_dir(dir);
}

static void
expect_checkpoint_error(const char *dir, int code, const char *const *needles, const char *what)
{
  g_autoptr(GError) error = NULL;
  VfCheckpoint *ck = vf_checkpoint_open(dir, &error);
  if (ck || !error)
    g_error("%s: opened without an error", what);
  g_assert_error(error, VF_SAFETENSORS_ERROR, code);
  for (int i = 0; i < 3 && needles[i]; i++)
    if (!strstr(error->message, needles[i]))
      g_error("%s: the message lacks \"%s\": %s", what, needles[i], error->message);
  g_test_message("%s -> %s", what, error->message);
}

static void
test_checkpoint_errors(void)
{
  g_autofree char *empty = st_make_temp_dir();
  expect_checkpoint_error(empty, VF_SAFETENSORS_ERROR_IO, (const char *[]){"model.safetensors.index.json", NULL},
                          "empty folder");
  st_remove_dir(empty);

  struct {
    const char *what, *extra;
    int code;
    const char *needles[3];
  } cases[] = {
    {"index naming a missing shard", "\"extra.weight\":\"model-00003-of-00003.safetensors\"",
     VF_SAFETENSORS_ERROR_MISSING, {"model-00003-of-00003.safetensors", "'extra.weight'", "index.json"}},
    {"index naming a tensor its shard lacks", "\"extra.weight\":\"model-00001-of-00002.safetensors\"",
     VF_SAFETENSORS_ERROR_MISSING, {"'extra.weight'", "model-00001-of-00002.safetensors"}},
    {"shard outside the folder", "\"extra.weight\":\"../model-00001-of-00002.safetensors\"",
     VF_SAFETENSORS_ERROR_FORMAT, {"'extra.weight'", "plain file name"}},
    {"shard name not a string", "\"extra.weight\":1", VF_SAFETENSORS_ERROR_FORMAT, {"'extra.weight'"}},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *dir = st_make_temp_dir();
    st_write_sharded(dir, cases[i].extra);
    expect_checkpoint_error(dir, cases[i].code, cases[i].needles, cases[i].what);
    st_remove_dir(dir);
  }

  /* Both spellings really present: a single file holding model.norm.weight twice. */
  {
    g_autofree char *dir = st_make_temp_dir();
    g_autofree char *path = g_build_filename(dir, "model.safetensors", NULL);
    float one[4] = {1, 1, 1, 1};
    StEntry e[2] = {
      {"model.norm.weight", "F32", 1, {4}, one, sizeof one},
      {"model.language_model.norm.weight", "F32", 1, {4}, one, sizeof one},
    };
    st_write(path, e, 2);
    expect_checkpoint_error(dir, VF_SAFETENSORS_ERROR_FORMAT,
                            (const char *[]){"'model.norm.weight'", "twice", "model.language_model.norm.weight"},
                            "one tensor stored twice");
    st_remove_dir(dir);
  }

  /* Index files that are not what they claim. */
  const char *indexes[][2] = {
    {"{\"metadata\":{}}", "weight_map"},
    {"{\"weight_map\": [", "not valid JSON"},
    {"[]", "weight_map"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(indexes); i++) {
    g_autofree char *dir = st_make_temp_dir();
    g_autofree char *path = g_build_filename(dir, "model.safetensors.index.json", NULL);
    g_assert_true(g_file_set_contents(path, indexes[i][0], -1, NULL));
    expect_checkpoint_error(dir, VF_SAFETENSORS_ERROR_FORMAT, (const char *[]){path, indexes[i][1], NULL},
                            indexes[i][0]);
    st_remove_dir(dir);
  }

  /* A broken shard: its own error, naming the shard. */
  {
    g_autofree char *dir = st_make_temp_dir();
    st_write_sharded(dir, NULL);
    g_autofree char *shard = g_build_filename(dir, "model-00002-of-00002.safetensors", NULL);
    st_write_raw(shard, 2, "{}", 0);
    g_assert_true(truncate(shard, 6) == 0);
    expect_checkpoint_error(dir, VF_SAFETENSORS_ERROR_FORMAT, (const char *[]){shard, "truncated", NULL},
                            "truncated shard");
    st_remove_dir(dir);
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/safetensors/tiny-a", test_tiny_a);
  g_test_add_func("/safetensors/tiny-b", test_tiny_b);
  g_test_add_func("/safetensors/valid-edge-cases", test_valid_edge_cases);
  g_test_add_func("/safetensors/bad-headers", test_bad_headers);
  g_test_add_func("/safetensors/truncated", test_truncated_files);
  g_test_add_func("/checkpoint/single", test_checkpoint_single);
  g_test_add_func("/checkpoint/canonical-names", test_canonical_names);
  g_test_add_func("/checkpoint/sharded-renamed", test_checkpoint_sharded);
  g_test_add_func("/checkpoint/errors", test_checkpoint_errors);
  return g_test_run();
}
