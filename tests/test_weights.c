/* Loading checkpoints onto the device: every uploaded buffer of the golden models compared with the file
 * (fused q/k/v and gate/up rows, norms and biases widened to f32, tied and untied lm_head), sharded and
 * renamed copies, F16/F32 checkpoints, progress reporting, and failures that must leave nothing allocated
 * and the device ready for the next load. */
#include <string.h>
#include <unistd.h>

#include "quantize_model.h"
#include "ref/ref_common.h"
#include "st_write.h"
#include "vf_checkpoint.h"
#include "vf_test.h"
#include "vf_weights.h"

/* ---- helpers ---------------------------------------------------------------------------------------- */

typedef struct {
  GArray *done, *total; /* uint64_t per call */
} ProgressLog;

static void
record_progress(uint64_t done, uint64_t total, void *user)
{
  ProgressLog *log = user;
  g_array_append_val(log->done, done);
  g_array_append_val(log->total, total);
}

static uint64_t
device_in_use(void)
{
  VfArenaStats s;
  vf_arena_get_stats(vf_device_arena(vf_test_device()), &s);
  return s.device_bytes_in_use;
}

/* Device bytes the config implies, derived here from spec §2.3: matrices in the checkpoint dtype
 * (`matrix_size` bytes per element), 1-D tensors as f32. */
static uint64_t
expected_bytes(const VfConfig *c, bool tied, uint64_t matrix_size)
{
  uint64_t h = c->hidden, kv = (uint64_t)c->kv_heads * c->head_dim, in = c->intermediate, v = c->vocab;
  uint64_t mat = 0, vec = 0;
  mat += v * h * (tied ? 1 : 2);
  mat += c->layers * ((h + 2 * kv) * h + h * h + 2 * in * h + h * in);
  vec += c->layers * (h + (h + 2 * kv) + h);
  vec += h;
  uint64_t e = c->vision.embed_dim, m = c->vision.mlp_dim, g = 4 * e, out = c->vision.out_hidden;
  mat += e * 3 * 2 * 14 * 14;
  mat += c->vision.depth * (3 * e * e + e * e + m * e + e * m);
  vec += c->vision.depth * (2 * e + 3 * e + e + 2 * e + m + e);
  mat += g * g + out * g;
  vec += 2 * e + g + out;
  return mat * matrix_size + vec * 4;
}

static void
download(const VfBuffer *b, uint64_t offset, void *data, uint64_t size)
{
  g_autoptr(GError) error = NULL;
  g_assert_true(vf_buffer_download(vf_test_device(), b, offset, data, size, &error));
  g_assert_no_error(error);
}

/* `m` holds the named tensors' rows one after another, byte for byte. */
static void
check_matrix(const VfMatrix *m, const VfCheckpoint *ref, const char *const *names)
{
  uint64_t offset = 0, rows = 0;
  for (int i = 0; names[i]; i++) {
    const VfTensor *t = vf_checkpoint_find(ref, names[i]);
    g_assert_nonnull(t);
    VfDType dtype;
    g_assert_true(vf_st_dtype_to_vf(t->dtype, &dtype));
    g_assert_cmpint(m->dtype, ==, dtype);
    g_assert_cmpuint(m->cols, ==, vf_tensor_numel(t) / t->shape[0]);
    g_autofree uint8_t *got = g_malloc(t->size);
    download(&m->buf, offset, got, t->size);
    if (memcmp(got, t->data, t->size) != 0)
      g_error("%s: the device copy differs from the file", names[i]);
    offset += t->size;
    rows += t->shape[0];
  }
  g_assert_cmpuint(m->rows, ==, rows);
  g_assert_cmpuint(m->buf.size, >=, offset);
}

/* The file's value widened to f32, computed with the references' conversions. */
static float
ref_value(const VfTensor *t, uint64_t i)
{
  uint16_t h;
  float f;
  switch (t->dtype) {
  case VF_ST_BF16: memcpy(&h, t->data + 2 * i, 2); return ref_bf16_to_f32(h);
  case VF_ST_F16: memcpy(&h, t->data + 2 * i, 2); return ref_f16_to_f32(h);
  case VF_ST_F32: memcpy(&f, t->data + 4 * i, 4); return f;
  default: g_assert_not_reached();
  }
}

/* `b` holds the named 1-D tensors one after another as f32 (widening is exact: compare bits). */
static void
check_vector(const VfBuffer *b, const VfCheckpoint *ref, const char *const *names)
{
  uint64_t offset = 0;
  for (int i = 0; names[i]; i++) {
    const VfTensor *t = vf_checkpoint_find(ref, names[i]);
    g_assert_nonnull(t);
    uint64_t n = vf_tensor_numel(t);
    g_autofree float *got = g_new(float, n);
    g_autofree float *want = g_new(float, n);
    for (uint64_t k = 0; k < n; k++)
      want[k] = ref_value(t, k);
    download(b, offset, got, n * 4);
    if (memcmp(got, want, n * 4) != 0)
      g_error("%s: the f32 device copy differs from the file", names[i]);
    offset += n * 4;
  }
}

static const char *
name(GPtrArray *pool, const char *format, ...) G_GNUC_PRINTF(2, 3);

static const char *
name(GPtrArray *pool, const char *format, ...)
{
  va_list ap;
  va_start(ap, format);
  char *s = g_strdup_vprintf(format, ap);
  va_end(ap);
  g_ptr_array_add(pool, s);
  return s;
}

#define MAT(m, ...) check_matrix((m), ref, (const char *const[]){__VA_ARGS__, NULL})
#define VEC(b, ...) check_vector((b), ref, (const char *const[]){__VA_ARGS__, NULL})

/* Every buffer of `w` against the tensors of `ref`. */
static void
check_all(const VfWeights *w, const VfConfig *c, const VfCheckpoint *ref)
{
  g_autoptr(GPtrArray) pool = g_ptr_array_new_with_free_func(g_free);
  MAT(&w->embed, "model.embed_tokens.weight");
  for (uint32_t i = 0; i < c->layers; i++) {
    const VfLlmLayer *l = &w->layers[i];
#define L(suffix) name(pool, "model.layers.%u.%s", i, suffix)
    VEC(&l->attn_norm, L("input_layernorm.weight"));
    MAT(&l->qkv, L("self_attn.q_proj.weight"), L("self_attn.k_proj.weight"), L("self_attn.v_proj.weight"));
    VEC(&l->qkv_bias, L("self_attn.q_proj.bias"), L("self_attn.k_proj.bias"), L("self_attn.v_proj.bias"));
    MAT(&l->o, L("self_attn.o_proj.weight"));
    VEC(&l->mlp_norm, L("post_attention_layernorm.weight"));
    MAT(&l->gate_up, L("mlp.gate_proj.weight"), L("mlp.up_proj.weight"));
    MAT(&l->down, L("mlp.down_proj.weight"));
#undef L
    g_assert_cmpuint(l->qkv.rows, ==, c->hidden + 2 * c->kv_heads * c->head_dim);
    g_assert_cmpuint(l->gate_up.rows, ==, 2 * c->intermediate);
  }
  VEC(&w->final_norm, "model.norm.weight");

  MAT(&w->patch_embed, "visual.patch_embed.proj.weight");
  g_assert_cmpuint(w->patch_embed.cols, ==, 3 * 2 * 14 * 14);
  for (uint32_t j = 0; j < c->vision.depth; j++) {
    const VfVisionBlock *b = &w->blocks[j];
#define B(suffix) name(pool, "visual.blocks.%u.%s", j, suffix)
    VEC(&b->norm1_w, B("norm1.weight"));
    VEC(&b->norm1_b, B("norm1.bias"));
    MAT(&b->qkv, B("attn.qkv.weight"));
    VEC(&b->qkv_bias, B("attn.qkv.bias"));
    MAT(&b->proj, B("attn.proj.weight"));
    VEC(&b->proj_bias, B("attn.proj.bias"));
    VEC(&b->norm2_w, B("norm2.weight"));
    VEC(&b->norm2_b, B("norm2.bias"));
    MAT(&b->fc1, B("mlp.fc1.weight"));
    VEC(&b->fc1_bias, B("mlp.fc1.bias"));
    MAT(&b->fc2, B("mlp.fc2.weight"));
    VEC(&b->fc2_bias, B("mlp.fc2.bias"));
#undef B
  }
  VEC(&w->merger_ln_w, "visual.merger.ln_q.weight");
  VEC(&w->merger_ln_b, "visual.merger.ln_q.bias");
  MAT(&w->merger_fc1, "visual.merger.mlp.0.weight");
  VEC(&w->merger_fc1_bias, "visual.merger.mlp.0.bias");
  MAT(&w->merger_fc2, "visual.merger.mlp.2.weight");
  VEC(&w->merger_fc2_bias, "visual.merger.mlp.2.bias");
}

static void
check_tied(const VfWeights *w)
{
  g_assert_true(w->lm_head.buf.buffer == w->embed.buf.buffer);
  g_assert_cmpuint(w->lm_head.buf.offset, ==, w->embed.buf.offset);
  g_assert_cmpint(w->lm_head.buf.block, ==, -1); /* a view: freed once, with embed */
  g_assert_cmpuint(w->lm_head.rows, ==, w->embed.rows);
  g_assert_cmpuint(w->lm_head.cols, ==, w->embed.cols);
  g_assert_cmpint(w->lm_head.dtype, ==, w->embed.dtype);
}

static void
check_progress(const ProgressLog *log, uint64_t device_bytes)
{
  guint n = log->done->len;
  g_assert_cmpuint(n, >=, 2);
  g_assert_cmpuint(g_array_index(log->done, uint64_t, 0), ==, 0);
  for (guint i = 0; i < n; i++) {
    g_assert_cmpuint(g_array_index(log->total, uint64_t, i), ==, device_bytes);
    if (i)
      g_assert_cmpuint(g_array_index(log->done, uint64_t, i), >=, g_array_index(log->done, uint64_t, i - 1));
  }
  g_assert_cmpuint(g_array_index(log->done, uint64_t, n - 1), ==, device_bytes);
}

/* Loads `dir` with `config`, checks progress, arena accounting and every buffer against `ref_dir`'s
 * checkpoint, frees, and checks that everything went back. */
static void
load_and_check(const char *dir, const VfConfig *c, const char *ref_dir, bool tied, uint64_t matrix_size)
{
  uint64_t before = device_in_use();
  ProgressLog log = {g_array_new(FALSE, FALSE, 8), g_array_new(FALSE, FALSE, 8)};
  g_autoptr(GError) error = NULL;
  gint64 t0 = g_get_monotonic_time();
  VfWeights *w = vf_weights_load(vf_test_device(), c, dir, record_progress, &log, &error);
  double seconds = (g_get_monotonic_time() - t0) / 1e6;
  g_assert_no_error(error);
  g_assert_nonnull(w);
  g_test_message("%s: %.1f MB in %.3f s (%.0f MB/s), %u progress calls", dir, w->device_bytes / 1e6, seconds,
                 w->device_bytes / 1e6 / seconds, log.done->len);

  g_assert_cmpuint(w->device_bytes, ==, expected_bytes(c, tied, matrix_size));
  check_progress(&log, w->device_bytes);
  /* Slices are rounded up to VF_ARENA_ALIGN: at most one alignment unit of waste per buffer. */
  uint64_t buffers = 2 + 7 * c->layers + 1 + 1 + 12 * c->vision.depth + 6;
  g_assert_cmpuint(device_in_use() - before, >=, w->device_bytes);
  g_assert_cmpuint(device_in_use() - before, <=, w->device_bytes + buffers * VF_ARENA_ALIGN);

  g_autoptr(VfCheckpoint) ref = vf_checkpoint_open(ref_dir, &error);
  g_assert_no_error(error);
  check_all(w, c, ref);
  if (tied) {
    check_tied(w);
  } else {
    g_assert_true(w->lm_head.buf.buffer != w->embed.buf.buffer || w->lm_head.buf.offset != w->embed.buf.offset);
    MAT(&w->lm_head, "lm_head.weight");
  }
  vf_weights_free(w);
  g_assert_cmpuint(device_in_use(), ==, before);
  g_array_free(log.done, TRUE);
  g_array_free(log.total, TRUE);
}

static VfConfig *
config_of(const char *dir)
{
  g_autoptr(GError) error = NULL;
  VfConfig *c = vf_config_load(dir, &error);
  g_assert_no_error(error);
  return c;
}

/* ---- the golden models -------------------------------------------------------------------------------- */

static void
test_tiny_a(void)
{
  g_autofree char *dir = st_model_dir("tiny-a");
  g_autoptr(VfConfig) c = config_of(dir);
  load_and_check(dir, c, dir, true, 2);
}

static void
test_tiny_b(void)
{
  g_autofree char *dir = st_model_dir("tiny-b");
  g_autoptr(VfConfig) c = config_of(dir);
  load_and_check(dir, c, dir, false, 2);

  /* The untied lm_head really is lm_head.weight, not a copy of the embeddings. */
  g_autoptr(GError) error = NULL;
  VfWeights *w = vf_weights_load(vf_test_device(), c, dir, NULL, NULL, &error);
  g_assert_no_error(error);
  g_autofree uint8_t *head_row = g_malloc(c->hidden * 2);
  g_autofree uint8_t *embed_row = g_malloc(c->hidden * 2);
  uint64_t last = (uint64_t)(c->vocab - 1) * c->hidden * 2;
  download(&w->lm_head.buf, last, head_row, c->hidden * 2);
  download(&w->embed.buf, last, embed_row, c->hidden * 2);
  g_assert_true(memcmp(head_row, embed_row, c->hidden * 2) != 0);
  vf_weights_free(w);
}

/* tiny-a as two shards with the later-transformers names gives the same buffers. */
static void
test_sharded_renamed(void)
{
  g_autofree char *golden = st_model_dir("tiny-a");
  g_autofree char *dir = st_make_temp_dir();
  st_copy_configs(golden, dir);
  st_write_sharded(dir, NULL);
  g_autoptr(VfConfig) c = config_of(dir);
  load_and_check(dir, c, golden, true, 2);
  st_remove_dir(dir);
}

/* ---- edited copies of tiny-b -------------------------------------------------------------------------- */

typedef struct {
  StEntry *entries;
  size_t n;
  GPtrArray *owned; /* converted data */
} Edit;

static StEntry *
find_entry(Edit *e, const char *name)
{
  for (size_t i = 0; i < e->n; i++)
    if (strcmp(e->entries[i].name, name) == 0)
      return &e->entries[i];
  g_error("no tensor %s", name);
}

static void
drop_entry(Edit *e, const char *name)
{
  StEntry *x = find_entry(e, name);
  memmove(x, x + 1, (e->n - (size_t)(x - e->entries) - 1) * sizeof *x);
  e->n--;
}

typedef void (*EditFunc)(Edit *e);

/* A temp folder with the configs of the model in `source` and its tensors passed through `edit`. */
static char *
edited_copy(const char *source, EditFunc edit)
{
  g_autofree char *path = g_build_filename(source, "model.safetensors", NULL);
  char *dir = st_make_temp_dir();
  st_copy_configs(source, dir);
  g_autoptr(VfSafetensors) st = vf_safetensors_open(path, NULL);
  Edit e = {.owned = g_ptr_array_new_with_free_func(g_free)};
  e.entries = st_entries_from(st, &e.n);
  if (edit)
    edit(&e);
  g_autofree char *out = g_build_filename(dir, "model.safetensors", NULL);
  st_write(out, e.entries, e.n);
  g_free(e.entries);
  g_ptr_array_free(e.owned, TRUE);
  return dir;
}

/* tiny-b edited. */
static char *
edited_tiny_b(EditFunc edit)
{
  g_autofree char *golden = st_model_dir("tiny-b");
  return edited_copy(golden, edit);
}

static void drop_fc2_bias(Edit *e) { drop_entry(e, "visual.blocks.2.mlp.fc2.bias"); }
static void drop_lm_head(Edit *e) { drop_entry(e, "lm_head.weight"); }

static void
transpose_k(Edit *e)
{
  StEntry *k = find_entry(e, "model.layers.1.self_attn.k_proj.weight");
  uint64_t rows = k->shape[0];
  k->shape[0] = k->shape[1];
  k->shape[1] = rows;
}

static void
k_as_f16(Edit *e)
{
  find_entry(e, "model.layers.1.self_attn.k_proj.weight")->dtype = "F16";
}

static void
down_as_i16(Edit *e)
{
  find_entry(e, "model.layers.2.mlp.down_proj.weight")->dtype = "I16";
}

static void
bias_as_i16(Edit *e)
{
  find_entry(e, "visual.blocks.0.attn.proj.bias")->dtype = "I16";
}

/* Matrices as F16; 1-D tensors alternately F16 and F32 (every value converted from the bf16 original). */
static void
to_f16_and_f32(Edit *e)
{
  for (size_t i = 0; i < e->n; i++) {
    StEntry *x = &e->entries[i];
    uint64_t n = x->size / 2;
    bool f32 = x->rank == 1 && i % 2;
    uint8_t *data = g_malloc(n * (f32 ? 4 : 2));
    for (uint64_t k = 0; k < n; k++) {
      uint16_t h;
      memcpy(&h, (const uint8_t *)x->data + 2 * k, 2);
      float f = ref_bf16_to_f32(h);
      if (f32) {
        memcpy(data + 4 * k, &f, 4);
      } else {
        uint16_t half = ref_f32_to_f16(f);
        memcpy(data + 2 * k, &half, 2);
      }
    }
    g_ptr_array_add(e->owned, data);
    x->data = data;
    x->size = n * (f32 ? 4 : 2);
    x->dtype = f32 ? "F32" : "F16";
  }
}

static void
test_f16_and_f32(void)
{
  g_autofree char *dir = edited_tiny_b(to_f16_and_f32);
  g_autoptr(VfConfig) c = config_of(dir);
  load_and_check(dir, c, dir, false, 2);
  st_remove_dir(dir);
}

/* §2.4: no lm_head.weight means tied, whatever tie_word_embeddings says (tiny-b's says false). */
static void
test_missing_lm_head_ties(void)
{
  g_autofree char *dir = edited_tiny_b(drop_lm_head);
  g_autoptr(VfConfig) c = config_of(dir);
  g_assert_false(c->tie_embeddings);
  load_and_check(dir, c, dir, true, 2);
  st_remove_dir(dir);
}

/* tie_word_embeddings true: the file's lm_head.weight is not used (transformers ties it to the
 * embeddings). */
static void
test_tied_config_ignores_lm_head(void)
{
  g_autofree char *dir = edited_tiny_b(NULL);
  g_autoptr(VfConfig) c = config_of(dir);
  c->tie_embeddings = true;
  load_and_check(dir, c, dir, true, 2);
  st_remove_dir(dir);
}

/* ---- failures ---------------------------------------------------------------------------------------- */

static void
expect_load_error(const char *dir, const VfConfig *c, GQuark domain, int code, const char *const *needles,
                  const char *what)
{
  uint64_t before = device_in_use();
  ProgressLog log = {g_array_new(FALSE, FALSE, 8), g_array_new(FALSE, FALSE, 8)};
  g_autoptr(GError) error = NULL;
  VfWeights *w = vf_weights_load(vf_test_device(), c, dir, record_progress, &log, &error);
  if (w || !error)
    g_error("%s: loaded without an error", what);
  g_assert_error(error, domain, code);
  for (int i = 0; i < 3 && needles[i]; i++)
    if (!strstr(error->message, needles[i]))
      g_error("%s: the message lacks \"%s\": %s", what, needles[i], error->message);
  g_test_message("%s -> %s (%u progress calls)", what, error->message, log.done->len);
  /* Nothing stays allocated. */
  g_assert_cmpuint(device_in_use(), ==, before);
  g_array_free(log.done, TRUE);
  g_array_free(log.total, TRUE);
}

/* Broken checkpoints are refused before anything is uploaded, by name. */
static void
test_bad_checkpoints(void)
{
  struct {
    const char *what;
    EditFunc edit;
    int code;
    const char *needles[3];
  } cases[] = {
    {"missing tensor", drop_fc2_bias, VF_WEIGHTS_ERROR_MISSING,
     {"model.safetensors", "'visual.blocks.2.mlp.fc2.bias'"}},
    {"wrong shape", transpose_k, VF_WEIGHTS_ERROR_SHAPE,
     {"'model.layers.1.self_attn.k_proj.weight'", "[256, 128]", "[128, 256]"}},
    {"mixed dtypes in qkv", k_as_f16, VF_WEIGHTS_ERROR_DTYPE,
     {"'model.layers.1.self_attn.k_proj.weight' is F16", "'model.layers.1.self_attn.q_proj.weight' is BF16",
      "model.layers.1.self_attn.{q,k,v}_proj.weight"}},
    {"integer matrix", down_as_i16, VF_WEIGHTS_ERROR_DTYPE, {"'model.layers.2.mlp.down_proj.weight'", "I16"}},
    {"integer bias", bias_as_i16, VF_WEIGHTS_ERROR_DTYPE, {"'visual.blocks.0.attn.proj.bias'", "I16"}},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *dir = edited_tiny_b(cases[i].edit);
    g_autoptr(VfConfig) c = config_of(dir);
    expect_load_error(dir, c, VF_WEIGHTS_ERROR, cases[i].code, cases[i].needles, cases[i].what);
    st_remove_dir(dir);
  }

  /* Unreadable checkpoints: the safetensors errors come through. */
  g_autofree char *golden = st_model_dir("tiny-b");
  g_autoptr(VfConfig) c = config_of(golden);
  g_autofree char *dir = st_make_temp_dir();
  expect_load_error(dir, c, VF_SAFETENSORS_ERROR, VF_SAFETENSORS_ERROR_IO, (const char *[]){"model.safetensors", NULL},
                    "no checkpoint");
  g_autofree char *golden_file = g_build_filename(golden, "model.safetensors", NULL);
  g_autofree char *data = NULL;
  gsize size;
  g_assert_true(g_file_get_contents(golden_file, &data, &size, NULL));
  g_autofree char *cut = g_build_filename(dir, "model.safetensors", NULL);
  g_assert_true(g_file_set_contents(cut, data, (gssize)(size - 4096), NULL));
  expect_load_error(dir, c, VF_SAFETENSORS_ERROR, VF_SAFETENSORS_ERROR_FORMAT,
                    (const char *[]){cut, "past the end", NULL}, "truncated checkpoint");
  st_remove_dir(dir);
  g_free(dir);

  dir = st_make_temp_dir();
  st_write_sharded(dir, "\"extra.weight\":\"model-00003-of-00003.safetensors\"");
  expect_load_error(dir, c, VF_SAFETENSORS_ERROR, VF_SAFETENSORS_ERROR_MISSING,
                    (const char *[]){"model-00003-of-00003.safetensors", NULL}, "index naming a missing shard");
  st_remove_dir(dir);
}

/* Absurd layer counts (issue 18's reproducers) are refused against the checkpoint's inventory before anything
 * that scales with them is allocated: no 344 GB g_new0, no 5·10^6-layer plan. */
static void
test_absurd_layer_counts(void)
{
  g_autofree char *golden = st_model_dir("tiny-b");
  struct {
    const char *object, *field;
    int64_t value;
    const char *needles[3];
  } cases[] = {
    {NULL, "num_hidden_layers", 1000000000, {"num_hidden_layers is 1000000000", "has 3", "model.layers.2"}},
    {NULL, "num_hidden_layers", 5000000, {"num_hidden_layers is 5000000", "has 3"}},
    {"vision_config", "depth", 1000000000, {"vision_config.depth is 1000000000", "has 3", "visual.blocks.2"}},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *dir = st_make_temp_dir();
    st_copy_configs(golden, dir);
    st_copy_file(golden, dir, "model.safetensors");
    g_autofree char *config_path = g_build_filename(dir, "config.json", NULL);
    JsonNode *root = st_read_json(config_path);
    JsonObject *obj = json_node_get_object(root);
    if (cases[i].object)
      obj = json_object_get_object_member(obj, cases[i].object);
    json_object_set_int_member(obj, cases[i].field, cases[i].value);
    st_write_json(config_path, root);
    json_node_unref(root);

    g_autoptr(VfConfig) c = config_of(dir);
    gint64 start = g_get_monotonic_time();
    expect_load_error(dir, c, VF_WEIGHTS_ERROR, VF_WEIGHTS_ERROR_MISSING, cases[i].needles, cases[i].field);
    /* The inventory check is one pass over the tensor names. */
    g_assert_cmpint(g_get_monotonic_time() - start, <, 2 * G_USEC_PER_SEC);
    st_remove_dir(dir);
  }
}

/* The checkpoint shrinks while it loads (a download still running, a file replaced): issue 18's reproducer.
 * Reading the vanished pages through the mapping would SIGBUS; read with pread, the load fails with an
 * error naming the file and frees what it had uploaded. */
typedef struct {
  const char *path;
  gboolean truncated;
} Truncator;

static void
truncate_after_first_upload(uint64_t done, uint64_t total, void *user)
{
  Truncator *tr = user;
  if (done > 0 && !tr->truncated) {
    g_assert_cmpint(truncate(tr->path, 4096), ==, 0);
    tr->truncated = TRUE;
  }
}

static void
test_truncated_during_load(void)
{
  g_autofree char *golden = st_model_dir("tiny-b");
  g_autofree char *dir = st_make_temp_dir();
  st_copy_configs(golden, dir);
  st_copy_file(golden, dir, "model.safetensors");
  g_autofree char *path = g_build_filename(dir, "model.safetensors", NULL);
  g_autoptr(VfConfig) c = config_of(dir);
  uint64_t before = device_in_use();
  Truncator tr = {path, FALSE};
  g_autoptr(GError) error = NULL;
  VfWeights *w = vf_weights_load(vf_test_device(), c, dir, truncate_after_first_upload, &tr, &error);
  g_assert_null(w);
  g_assert_true(tr.truncated);
  g_assert_error(error, VF_SAFETENSORS_ERROR, VF_SAFETENSORS_ERROR_IO);
  g_assert_nonnull(strstr(error->message, path));
  g_assert_nonnull(strstr(error->message, "the file ends at byte 4096"));
  g_test_message("%s", error->message);
  g_assert_cmpuint(device_in_use(), ==, before);
  st_remove_dir(dir);
}

/* A failure after part of the model is on the device: tiny-b with an intermediate size whose fused
 * gate_up matrix exceeds the device's largest allocation. The big tensors are holes in a sparse file,
 * never read: the check passes, embed/lm_head/layer 0 attention are uploaded, then gate_up cannot be
 * allocated. Everything uploaded must be released. */
static void
test_failure_after_uploads(void)
{
  const VfDeviceInfo *info = vf_device_get_info(vf_test_device());
  g_autofree char *golden = st_model_dir("tiny-b");
  g_autoptr(VfConfig) c = config_of(golden);
  uint64_t inter = info->max_allocation / (2 * (uint64_t)c->hidden * 2) + 1;
  uint64_t sparse = 3 * c->layers * inter * c->hidden * 2;
  if (sparse > (64ull << 30)) {
    g_test_skip("the device's allocation limit is too large for a sparse test file");
    return;
  }
  c->intermediate = (uint32_t)inter;

  g_autofree char *dir = st_make_temp_dir();
  g_autofree char *path = g_build_filename(golden, "model.safetensors", NULL);
  g_autoptr(VfSafetensors) st = vf_safetensors_open(path, NULL);
  size_t n;
  g_autofree StEntry *e = st_entries_from(st, &n);
  for (size_t i = 0; i < n; i++)
    if (strstr(e[i].name, "_proj.weight") && strstr(e[i].name, ".mlp.")) {
      bool down = strstr(e[i].name, "down_proj") != NULL;
      e[i].shape[0] = down ? c->hidden : inter;
      e[i].shape[1] = down ? inter : c->hidden;
      e[i].data = NULL;
      e[i].size = inter * c->hidden * 2;
    }
  g_autofree char *out = g_build_filename(dir, "model.safetensors", NULL);
  st_write(out, e, n);

  expect_load_error(dir, c, VF_VK_ERROR, VF_VK_ERROR_LIMIT,
                    (const char *[]){"model.layers.0.mlp.{gate,up}_proj.weight", "exceeds", NULL},
                    "gate_up beyond the allocation limit");
  st_remove_dir(dir);
}


/* ---- quantized checkpoints ---------------------------------------------------------------------------- */

/* tiny-b quantized by the test-checkpoint tool into `qdir` (and its dequantized twin `ddir`). */
static void
quantized_tiny_b(const char *format, bool act_order, uint32_t group_size, char **qdir, char **ddir)
{
  g_autofree char *src = st_model_dir("tiny-b");
  char *root = st_make_temp_dir();
  *qdir = g_build_filename(root, "q", NULL);
  *ddir = g_build_filename(root, "d", NULL);
  g_free(root);
  VfQuantizeOptions opts;
  g_assert_true(vf_quantize_parse_format(format, &opts));
  opts.act_order = act_order;
  opts.zero_biases = act_order;
  opts.group_size = group_size;
  g_autoptr(GError) error = NULL;
  g_assert_true(vf_quantize_model(src, *qdir, *ddir, &opts, &error));
  g_assert_no_error(error);
}

static void
remove_quantized(char *qdir, char *ddir)
{
  g_autofree char *root = g_path_get_dirname(qdir);
  st_remove_dir(root);
  g_free(qdir);
  g_free(ddir);
}

/* A packed matrix on the device decoded as ops_matmul_quant.h draws it, against the dequantized twin's F32
 * rows (the parts stacked). */
static void
check_packed(const VfMatrix *m, const VfCheckpoint *twin, const char *const *parts, uint32_t n_parts)
{
  const VfPacking *q = &m->packing;
  uint32_t per = 32 / q->bits, groups = m->cols / q->group_width;
  g_assert_cmpint(m->dtype, ==, VF_DTYPE_I32);
  g_autofree uint32_t *words = g_new(uint32_t, (size_t)m->rows * m->cols / per);
  g_autofree uint32_t *gw = g_new(uint32_t, (size_t)m->rows * groups);
  g_autofree uint32_t *g_idx = g_new(uint32_t, (size_t)n_parts * m->cols);
  g_autoptr(GError) error = NULL;
  g_assert_true(vf_buffer_download(vf_test_device(), &m->buf, 0, words, (size_t)m->rows * m->cols / per * 4, &error));
  g_assert_true(vf_buffer_download(vf_test_device(), &q->groups, 0, gw, (size_t)m->rows * groups * 4, &error));
  if (q->g_idx.buffer)
    g_assert_true(vf_buffer_download(vf_test_device(), &q->g_idx, 0, g_idx, (size_t)n_parts * m->cols * 4, &error));
  uint32_t row = 0;
  for (uint32_t p = 0; p < n_parts; p++) {
    const VfTensor *t = vf_checkpoint_find(twin, parts[p]);
    g_assert_nonnull(t);
    g_assert_cmpuint(t->shape[1], ==, m->cols);
    if (p < 2)
      g_assert_cmpuint(q->g_idx_rows[p], ==, p + 1 < n_parts ? row + t->shape[0] : m->rows);
    for (uint32_t j = 0; j < t->shape[0]; j++, row++)
      for (uint32_t k = 0; k < m->cols; k++) {
        uint32_t g = q->g_idx.buffer ? g_idx[(size_t)p * m->cols + k] : k / q->group_width;
        uint32_t qv = (words[(size_t)row * (m->cols / per) + k / per] >> (q->bits * (k % per))) & ((1u << q->bits) - 1);
        uint32_t h = gw[(size_t)row * groups + g];
        float got = ref_f16_to_f32(h & 0xffff) * ((float)qv - (float)(h >> 16)), want;
        memcpy(&want, t->data + ((size_t)j * m->cols + k) * 4, 4);
        if (got != want)
          g_error("%s row %u input %u: packed %g, dequantized twin %g", parts[p], j, k, got, want);
      }
  }
  g_assert_cmpuint(row, ==, m->rows);
}

/* The three formats of tiny-b load packed: every decoder linear decodes to its dequantized twin, q/k/v and
 * gate/up fused (act-order g_idx one row per part), the rest of the model F16. */
static void
test_quantized(void)
{
  static const struct {
    const char *format;
    bool act_order;
    uint32_t group_size;
  } cases[] = {{"gptq-int4", true, 32}, {"gptq-int8", false, 0}, {"awq", false, 64}};
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    char *qdir, *ddir;
    quantized_tiny_b(cases[i].format, cases[i].act_order, cases[i].group_size, &qdir, &ddir);
    g_autoptr(VfConfig) c = config_of(qdir);
    uint64_t before = device_in_use();
    ProgressLog log = {g_array_new(FALSE, FALSE, 8), g_array_new(FALSE, FALSE, 8)};
    g_autoptr(GError) error = NULL;
    VfWeights *w = vf_weights_load(vf_test_device(), c, qdir, record_progress, &log, &error);
    g_assert_no_error(error);
    check_progress(&log, w->device_bytes);
    g_autoptr(VfCheckpoint) twin = vf_checkpoint_open(ddir, &error);
    g_assert_no_error(error);
    for (uint32_t l = 0; l < c->layers; l++) {
      const VfLlmLayer *layer = &w->layers[l];
      char names[4][3][96];
      const char *const modules[4][3] = {{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"},
                                         {"self_attn.o_proj"}, {"mlp.gate_proj", "mlp.up_proj"}, {"mlp.down_proj"}};
      const VfMatrix *mats[4] = {&layer->qkv, &layer->o, &layer->gate_up, &layer->down};
      const uint32_t n_parts[4] = {3, 1, 2, 1};
      for (int m = 0; m < 4; m++) {
        const char *parts[3];
        for (uint32_t p = 0; p < n_parts[m]; p++) {
          g_snprintf(names[m][p], sizeof names[m][p], "model.layers.%u.%s.weight", l, modules[m][p]);
          parts[p] = names[m][p];
        }
        g_assert_cmpuint(mats[m]->packing.bits, ==, c->quant.bits);
        g_assert_true((mats[m]->packing.g_idx.buffer != VK_NULL_HANDLE) == cases[i].act_order);
        check_packed(mats[m], twin, parts, n_parts[m]);
      }
    }
    g_assert_cmpint(w->embed.dtype, ==, VF_DTYPE_F16);
    g_assert_cmpint(w->blocks[0].qkv.dtype, ==, VF_DTYPE_F16);
    g_assert_cmpuint(w->blocks[0].qkv.packing.bits, ==, 0);
    vf_weights_free(w);
    g_assert_cmpuint(device_in_use(), ==, before);
    g_array_free(log.done, TRUE);
    g_array_free(log.total, TRUE);
    remove_quantized(qdir, ddir);
  }
}

/* Replaces an entry's data with an edited copy. */
static uint8_t *
own_copy(Edit *e, StEntry *x)
{
  uint8_t *data = g_memdup2(x->data, x->size);
  g_ptr_array_add(e->owned, data);
  x->data = data;
  return data;
}

static void drop_qzeros(Edit *e) { drop_entry(e, "model.layers.1.mlp.up_proj.qzeros"); }
static void drop_g_idx(Edit *e) { drop_entry(e, "model.layers.0.self_attn.k_proj.g_idx"); }
static void
qweight_short(Edit *e)
{
  StEntry *x = find_entry(e, "model.layers.2.mlp.down_proj.qweight");
  x->shape[0] /= 2;
  x->size /= 2;
}
static void scales_bf16(Edit *e) { find_entry(e, "model.layers.0.self_attn.o_proj.scales")->dtype = "BF16"; }
static void qweight_f32(Edit *e) { find_entry(e, "model.layers.0.mlp.gate_proj.qweight")->dtype = "F32"; }
static void
g_idx_past_groups(Edit *e)
{
  int32_t bad = 8; /* tiny-b: 256 inputs in groups of 32 */
  memcpy(own_copy(e, find_entry(e, "model.layers.1.self_attn.q_proj.g_idx")) + 4 * 17, &bad, 4);
}
static void
nonzero_bias(Edit *e)
{
  uint16_t one = 0x3c00;
  memcpy(own_copy(e, find_entry(e, "model.layers.2.self_attn.o_proj.bias")) + 2 * 5, &one, 2);
}
static void
negative_zero_bias(Edit *e)
{
  uint16_t minus_zero = 0x8000;
  memcpy(own_copy(e, find_entry(e, "model.layers.2.mlp.down_proj.bias")), &minus_zero, 2);
}

/* Broken quantized checkpoints are refused before any upload, naming the file, the tensor and the reason;
 * nothing stays allocated. A -0 in a zero bias is still zero. */
static void
test_quantized_refusals(void)
{
  char *qdir, *ddir;
  quantized_tiny_b("gptq-int4", true, 32, &qdir, &ddir); /* act-order, zero biases */
  struct {
    const char *what;
    EditFunc edit;
    int code;
    const char *needles[3];
  } cases[] = {
    {"missing qzeros", drop_qzeros, VF_WEIGHTS_ERROR_MISSING,
     {"model.safetensors", "'model.layers.1.mlp.up_proj.qzeros' is missing", "GPTQ-Int4"}},
    {"missing g_idx", drop_g_idx, VF_WEIGHTS_ERROR_MISSING, {"'model.layers.0.self_attn.k_proj.g_idx'"}},
    {"qweight of the wrong shape", qweight_short, VF_WEIGHTS_ERROR_SHAPE,
     {"'model.layers.2.mlp.down_proj.qweight'", "[32, 256]", "[64, 256]"}},
    {"BF16 scales", scales_bf16, VF_WEIGHTS_ERROR_DTYPE,
     {"'model.layers.0.self_attn.o_proj.scales' is BF16", "must be F16"}},
    {"F32 qweight", qweight_f32, VF_WEIGHTS_ERROR_DTYPE, {"'model.layers.0.mlp.gate_proj.qweight' is F32", "I32"}},
    {"g_idx past the groups", g_idx_past_groups, VF_WEIGHTS_ERROR_VALUE,
     {"'model.layers.1.self_attn.q_proj.g_idx'", "g_idx[17] = 8", "outside the 8 groups"}},
    {"non-zero bias where Qwen2 has none", nonzero_bias, VF_WEIGHTS_ERROR_VALUE,
     {"'model.layers.2.self_attn.o_proj.bias'", "non-zero entry at 5", "no bias"}},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *dir = edited_copy(qdir, cases[i].edit);
    g_autoptr(VfConfig) c = config_of(dir);
    expect_load_error(dir, c, VF_WEIGHTS_ERROR, cases[i].code, cases[i].needles, cases[i].what);
    st_remove_dir(dir);
  }
  g_autofree char *dir = edited_copy(qdir, negative_zero_bias);
  g_autoptr(VfConfig) c = config_of(dir);
  g_autoptr(GError) error = NULL;
  VfWeights *w = vf_weights_load(vf_test_device(), c, dir, NULL, NULL, &error);
  g_assert_no_error(error);
  vf_weights_free(w);
  st_remove_dir(dir);
  remove_quantized(qdir, ddir);
}

/* After every failure above, the same device still loads a good model. */
static void
test_load_after_failures(void)
{
  g_autofree char *dir = st_model_dir("tiny-a");
  g_autoptr(VfConfig) c = config_of(dir);
  load_and_check(dir, c, dir, true, 2);
}

int
main(int argc, char **argv)
{
  vf_test_init(&argc, &argv);
  g_test_add_func("/weights/tiny-a", test_tiny_a);
  g_test_add_func("/weights/tiny-b", test_tiny_b);
  g_test_add_func("/weights/sharded-renamed", test_sharded_renamed);
  g_test_add_func("/weights/f16-and-f32", test_f16_and_f32);
  g_test_add_func("/weights/missing-lm-head-ties", test_missing_lm_head_ties);
  g_test_add_func("/weights/tied-config-ignores-lm-head", test_tied_config_ignores_lm_head);
  g_test_add_func("/weights/bad-checkpoints", test_bad_checkpoints);
  g_test_add_func("/weights/quantized", test_quantized);
  g_test_add_func("/weights/quantized-refusals", test_quantized_refusals);
  g_test_add_func("/weights/absurd-layer-counts", test_absurd_layer_counts);
  g_test_add_func("/weights/truncated-during-load", test_truncated_during_load);
  g_test_add_func("/weights/failure-after-uploads", test_failure_after_uploads);
  g_test_add_func("/weights/load-after-failures", test_load_after_failures);
  return vf_test_finish();
}
