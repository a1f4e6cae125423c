/* Attention ops against their double-precision references (tests/ref/ref_attention.c), every kernel
 * variant on every shape.
 *
 * Tolerance: each output is compared with the bound the reference derives for it from the data (first
 * order in ε = 2^-24: the dot-product, exp2 and summation errors of an f32 kernel, written out in
 * ref_attention.c); the worst error/bound ratio is printed. Cache slots a kernel must never read (left
 * padding, tokens not yet stored) hold NaN, so reading one poisons the output and fails the test.
 */
#include <math.h>
#include <string.h>

#include "ref/ref_attention.h"
#include "ref/ref_common.h"
#include "vf_test.h"

static const VfAttentionVariant variants[] = {VF_ATTENTION_TEXEL, VF_ATTENTION_SUBGROUP};
/* KV-cache dtypes: every causal case runs with both. */
static const VfDType kv_dtypes[] = {VF_DTYPE_F32, VF_DTYPE_F16};

/* FALSE (recorded in `tv` with the reason) when the device cannot run `variant` for this shape. */
static gboolean
variant_runs(VfTestVariants *tv, VfAttentionVariant variant, uint32_t head_dim, uint32_t stride)
{
  if (vf_attention_supports(vf_test_device(), variant, head_dim, stride)) {
    tv->ran++;
    return TRUE;
  }
  g_autofree char *reason = g_strdup_printf("not supported for head_dim %u, row stride %u at subgroup size %u",
                                            head_dim, stride, vf_device_get_info(vf_test_device())->subgroup_size);
  vf_test_variant_skipped(tv, vf_attention_variant_name(variant), reason);
  return FALSE;
}

/* Fails the test where |got − want| > bound (or is NaN); reports the worst element and the ratio. */
static void
assert_within_bound(const char *what, const float *got, const float *want, const float *bound, size_t n)
{
  size_t bad = 0, worst = 0;
  double worst_ratio = 0;
  for (size_t i = 0; i < n; i++) {
    double err = fabs((double)got[i] - (double)want[i]);
    double ratio = err == 0 ? 0 : bound[i] > 0 ? err / bound[i] : INFINITY;
    if (isnan(err))
      ratio = INFINITY;
    if (!(err <= bound[i]))
      bad++;
    if (ratio > worst_ratio || (isinf(ratio) && !isinf(worst_ratio))) {
      worst_ratio = ratio;
      worst = i;
    }
  }
  g_test_message("%s: worst error/bound %.3g at %zu (got %.9g want %.9g bound %.3g)", what, worst_ratio, worst,
                 got[worst], want[worst], bound[worst]);
  if (bad) {
    g_printerr("%s: %zu of %zu values off; worst at %zu: got %.9g want %.9g bound %.3g\n", what, bad, n, worst,
               got[worst], want[worst], bound[worst]);
    g_test_fail();
  }
}

/* An output buffer full of NaN, so an output the kernel forgets to write fails the comparison. */
static VfBuffer
upload_poisoned(size_t floats)
{
  g_autofree float *poison = g_new(float, floats);
  for (size_t i = 0; i < floats; i++)
    poison[i] = NAN;
  return vf_test_upload(poison, floats * 4);
}

/* ---- causal: KV store + attention over the cache ---------------------------------------------------- */

typedef struct {
  uint32_t head_dim, heads, kv_heads;
  uint32_t seq0, rows, key_begin;
  uint32_t capacity; /* 0: exactly seq0 + rows */
  float q_range;     /* q uniform in ±q_range (large: peaky softmax, where single keys matter) */
} CausalCase;

typedef struct {
  CausalCase c;
  uint32_t capacity, stride; /* qkv row: q [heads·hd] | k [kv·hd] | v [kv·hd] */
  float *qkv;                /* [rows, stride] */
  float *k0, *v0;            /* cache before the step [kv, capacity, hd]: NaN where never valid */
  float *k1, *v1;            /* after the store */
  float *want, *bound;       /* [rows, heads·hd] */
  /* The same through an f16 cache: k1, v1 rounded to nearest even (NaN stays NaN), and the attention
   * over those values (the kernels widen each half exactly, so f32 bounds apply from there). */
  float *k1_f16, *v1_f16;
  float *want_f16, *bound_f16;
} CausalData;

/* Values as an f16 cache holds them. */
static float *
through_f16(const float *x, size_t n)
{
  float *y = g_new(float, n);
  for (size_t i = 0; i < n; i++)
    y[i] = isnan(x[i]) ? NAN : ref_f16_to_f32(ref_f32_to_f16(x[i]));
  return y;
}

static uint16_t *
to_f16_words(const float *x, size_t n)
{
  uint16_t *h = g_new(uint16_t, n);
  for (size_t i = 0; i < n; i++)
    h[i] = isnan(x[i]) ? 0x7e00u : ref_f32_to_f16(x[i]);
  return h;
}

static CausalData
causal_data(const CausalCase *c, uint32_t seed)
{
  CausalData d = {.c = *c};
  uint32_t hd = c->head_dim;
  d.capacity = c->capacity ? c->capacity : c->seq0 + c->rows;
  d.stride = (c->heads + 2 * c->kv_heads) * hd;
  d.qkv = vf_test_random((size_t)c->rows * d.stride, -1, 1, seed);
  for (uint32_t r = 0; r < c->rows; r++)
    for (uint32_t i = 0; i < c->heads * hd; i++)
      d.qkv[(size_t)r * d.stride + i] *= c->q_range;
  size_t cache = (size_t)c->kv_heads * d.capacity * hd;
  d.k0 = vf_test_random(cache, -1, 1, seed + 1);
  d.v0 = vf_test_random(cache, -1, 1, seed + 2);
  for (uint32_t g = 0; g < c->kv_heads; g++)
    for (uint32_t t = 0; t < d.capacity; t++)
      if (t < c->key_begin || t >= c->seq0)
        for (uint32_t i = 0; i < hd; i++) {
          d.k0[((size_t)g * d.capacity + t) * hd + i] = NAN;
          d.v0[((size_t)g * d.capacity + t) * hd + i] = NAN;
        }
  d.k1 = g_memdup2(d.k0, cache * 4);
  d.v1 = g_memdup2(d.v0, cache * 4);
  ref_kv_store(d.qkv, c->rows, d.stride, c->heads * hd, (c->heads + c->kv_heads) * hd, c->kv_heads, d.capacity,
               hd, c->seq0, d.k1, d.v1);
  size_t out = (size_t)c->rows * c->heads * hd;
  d.want = g_new(float, out);
  d.bound = g_new(float, out);
  ref_attention_causal(d.qkv, c->rows, d.stride, c->heads, d.k1, d.v1, c->kv_heads, d.capacity, hd, c->seq0,
                       c->key_begin, d.want, d.bound);
  d.k1_f16 = through_f16(d.k1, cache);
  d.v1_f16 = through_f16(d.v1, cache);
  d.want_f16 = g_new(float, out);
  d.bound_f16 = g_new(float, out);
  ref_attention_causal(d.qkv, c->rows, d.stride, c->heads, d.k1_f16, d.v1_f16, c->kv_heads, d.capacity, hd,
                       c->seq0, c->key_begin, d.want_f16, d.bound_f16);
  return d;
}

static void
causal_data_free(CausalData *d)
{
  g_free(d->qkv);
  g_free(d->k0);
  g_free(d->v0);
  g_free(d->k1);
  g_free(d->v1);
  g_free(d->want);
  g_free(d->bound);
  g_free(d->k1_f16);
  g_free(d->v1_f16);
  g_free(d->want_f16);
  g_free(d->bound_f16);
}

static VfKvCache
upload_cache(const CausalData *d, const float *k, const float *v, VfDType dtype)
{
  size_t n = (size_t)d->c.kv_heads * d->capacity * d->c.head_dim;
  VfKvCache cache = {
    .kv_heads = d->c.kv_heads,
    .head_dim = d->c.head_dim,
    .capacity = d->capacity,
    .dtype = dtype,
  };
  if (dtype == VF_DTYPE_F16) {
    g_autofree uint16_t *kh = to_f16_words(k, n);
    g_autofree uint16_t *vh = to_f16_words(v, n);
    cache.k = vf_test_upload(kh, n * 2);
    cache.v = vf_test_upload(vh, n * 2);
  } else {
    cache.k = vf_test_upload(k, n * 4);
    cache.v = vf_test_upload(v, n * 4);
  }
  return cache;
}

/* The cache after the store: f32 a copy, bit for bit (NaN slots included); f16 each value rounded to nearest
 * even, word for word. */
static void
check_cache(const CausalData *d, const VfKvCache *cache, const float *want_k, const float *want_v)
{
  size_t n = (size_t)d->c.kv_heads * d->capacity * d->c.head_dim;
  size_t bytes = n * vf_dtype_size(cache->dtype);
  g_autofree void *k = g_malloc(bytes);
  g_autofree void *v = g_malloc(bytes);
  vf_test_download(&cache->k, k, bytes);
  vf_test_download(&cache->v, v, bytes);
  if (cache->dtype == VF_DTYPE_F16) {
    g_autofree uint16_t *kh = to_f16_words(want_k, n);
    g_autofree uint16_t *vh = to_f16_words(want_v, n);
    g_assert_cmpmem(k, bytes, kh, bytes);
    g_assert_cmpmem(v, bytes, vh, bytes);
  } else {
    g_assert_true(memcmp(k, want_k, bytes) == 0);
    g_assert_true(memcmp(v, want_v, bytes) == 0);
  }
}

static void
record_step(VfCmd *cmd, VfAttentionVariant variant, const CausalData *d, const VfBuffer *qkv,
            const VfKvCache *cache, const VfBuffer *seq, const VfBuffer *out)
{
  const CausalCase *c = &d->c;
  uint32_t hd = c->head_dim;
  VfKvStoreShape store = {
    .rows = c->rows, .row_stride = d->stride, .k_offset = c->heads * hd, .v_offset = (c->heads + c->kv_heads) * hd};
  vf_op_kv_store(cmd, qkv, &store, cache, seq);
  vf_op_attention_causal_variant(cmd, variant, qkv, c->rows, d->stride, c->heads, cache, seq, c->key_begin, out);
}

static void
check_causal(const CausalCase *c)
{
  static uint32_t seed = 100;
  CausalData d = causal_data(c, seed += 10);
  size_t out_floats = (size_t)c->rows * c->heads * c->head_dim;
  VfTestVariants tv = {0};
  for (size_t x = 0; x < G_N_ELEMENTS(variants) * G_N_ELEMENTS(kv_dtypes); x++) {
    VfAttentionVariant variant = variants[x / G_N_ELEMENTS(kv_dtypes)];
    VfDType dtype = kv_dtypes[x % G_N_ELEMENTS(kv_dtypes)];
    bool f16 = dtype == VF_DTYPE_F16;
    if (!variant_runs(&tv, variant, c->head_dim, d.stride))
      continue;
    VfBuffer qkv = vf_test_upload(d.qkv, (size_t)c->rows * d.stride * 4);
    VfBuffer seq = vf_test_upload(&c->seq0, 4);
    VfBuffer out = upload_poisoned(out_floats);
    VfKvCache cache = upload_cache(&d, d.k0, d.v0, dtype);
    VfCmd *cmd = vf_test_cmd();
    record_step(cmd, variant, &d, &qkv, &cache, &seq, &out);
    vf_test_submit(cmd);

    check_cache(&d, &cache, d.k1, d.v1);
    g_autofree float *got = g_new(float, out_floats);
    vf_test_download(&out, got, out_floats * 4);
    g_autofree char *what =
      g_strdup_printf("causal %s %s cache hd %u heads %u/%u rows %u at %u key_begin %u",
                      vf_attention_variant_name(variant), vf_dtype_name(dtype), c->head_dim, c->heads, c->kv_heads,
                      c->rows, c->seq0, c->key_begin);
    assert_within_bound(what, got, f16 ? d.want_f16 : d.want, f16 ? d.bound_f16 : d.bound, out_floats);
    vf_test_release(&qkv);
    vf_test_release(&seq);
    vf_test_release(&out);
    vf_test_release(&cache.k);
    vf_test_release(&cache.v);
  }
  causal_data_free(&d);
  vf_test_variants_done(&tv);
}

static void
test_causal_decode(void)
{
  /* One new token over KV lengths 1 … 4096: Qwen2-VL-2B's 12/2 heads of 128, the 7B's GQA ratio 7
   * (28/4 heads, here 80 wide), and tiny models' 32-wide heads without GQA. */
  static const uint32_t lengths[] = {1, 2, 17, 300, 1000, 4096};
  for (size_t i = 0; i < G_N_ELEMENTS(lengths); i++)
    check_causal(&(CausalCase){128, 12, 2, lengths[i] - 1, 1, 0, 0, 1});
  check_causal(&(CausalCase){80, 28, 4, 16, 1, 0, 0, 2});
  check_causal(&(CausalCase){80, 28, 4, 999, 1, 0, 0, 1});
  check_causal(&(CausalCase){32, 4, 4, 1, 1, 0, 0, 1});
  check_causal(&(CausalCase){32, 4, 4, 299, 1, 0, 0, 3});
}

static void
test_causal_prefill(void)
{
  /* Whole prompts and chunks that continue a filled cache. */
  check_causal(&(CausalCase){128, 12, 2, 0, 2, 0, 0, 1});
  check_causal(&(CausalCase){128, 12, 2, 0, 17, 0, 0, 2});
  check_causal(&(CausalCase){128, 12, 2, 0, 300, 0, 0, 1});
  check_causal(&(CausalCase){128, 12, 2, 900, 100, 0, 0, 1});
  check_causal(&(CausalCase){128, 12, 2, 4032, 64, 0, 0, 1});
  check_causal(&(CausalCase){80, 28, 4, 263, 37, 0, 0, 2});
  check_causal(&(CausalCase){32, 4, 4, 0, 300, 0, 0, 3});
  check_causal(&(CausalCase){32, 6, 1, 5, 12, 0, 0, 1});
}

static void
test_causal_key_begin(void)
{
  /* Left padding: keys before key_begin are NaN in the cache and must never be read; queries before
   * key_begin see no key at all and give zeros. */
  check_causal(&(CausalCase){128, 12, 2, 10, 20, 12, 0, 1});
  check_causal(&(CausalCase){128, 12, 2, 299, 1, 7, 0, 2});
  check_causal(&(CausalCase){80, 28, 4, 0, 33, 5, 0, 3});
  check_causal(&(CausalCase){32, 4, 4, 3, 17, 3, 0, 1});
}

static void
test_causal_capacity(void)
{
  /* Spare capacity (NaN past the stored tokens), and a chunk that runs past the end of the cache: the
   * store drops those tokens and their queries see the whole cache. */
  check_causal(&(CausalCase){32, 4, 2, 40, 9, 0, 100, 1});
  check_causal(&(CausalCase){32, 4, 2, 15, 8, 0, 20, 1});
}

/* ---- decode replay ------------------------------------------------------------------------------------ */

static void
test_causal_replay(void)
{
  /* One recorded decode step (store + attention), submitted three times; between submits only the contents
   * of seq and qkv change, as in the decode loop. */
  VfTestVariants tv = {0};
  for (size_t i = 0; i < G_N_ELEMENTS(variants); i++) {
    CausalCase c = {128, 12, 2, 200, 1, 0, 260, 1};
    CausalData d = causal_data(&c, 7);
    if (!variant_runs(&tv, variants[i], c.head_dim, d.stride)) {
      causal_data_free(&d);
      continue;
    }
    uint32_t hd = c.head_dim;
    size_t out_floats = (size_t)c.heads * hd;
    VfBuffer qkv = vf_test_upload(d.qkv, (size_t)d.stride * 4);
    VfBuffer seq = vf_test_upload(&c.seq0, 4);
    VfBuffer out = upload_poisoned(out_floats);
    VfKvCache cache = upload_cache(&d, d.k0, d.v0, VF_DTYPE_F32);
    g_autoptr(GError) error = NULL;
    VfCmd *cmd = vf_test_cmd();
    record_step(cmd, variants[i], &d, &qkv, &cache, &seq, &out);
    g_autofree float *got = g_new(float, out_floats);

    for (uint32_t step = 0; step < 3; step++) {
      if (step > 0) {
        /* The next token: new q/k/v at the next cache index; d.k1/d.v1 carry the cache forward. */
        uint32_t seq0 = c.seq0 + step;
        g_free(d.qkv);
        d.qkv = vf_test_random(d.stride, -1, 1, 1000 + step);
        ref_kv_store(d.qkv, 1, d.stride, c.heads * hd, (c.heads + c.kv_heads) * hd, c.kv_heads, d.capacity, hd,
                     seq0, d.k1, d.v1);
        ref_attention_causal(d.qkv, 1, d.stride, c.heads, d.k1, d.v1, c.kv_heads, d.capacity, hd, seq0, 0, d.want,
                             d.bound);
        g_assert_true(vf_buffer_upload(vf_test_device(), &qkv, 0, d.qkv, (size_t)d.stride * 4, &error));
        g_assert_true(vf_buffer_upload(vf_test_device(), &seq, 0, &seq0, 4, &error));
      }
      g_assert_true(vf_cmd_submit(cmd, &error));
      g_assert_no_error(error);
      check_cache(&d, &cache, d.k1, d.v1);
      vf_test_download(&out, got, out_floats * 4);
      g_autofree char *what = g_strdup_printf("replay %s step %u", vf_attention_variant_name(variants[i]), step);
      assert_within_bound(what, got, d.want, d.bound, out_floats);
    }
    vf_cmd_free(cmd);
    vf_test_release(&qkv);
    vf_test_release(&seq);
    vf_test_release(&out);
    vf_test_release(&cache.k);
    vf_test_release(&cache.v);
    causal_data_free(&d);
  }
  vf_test_variants_done(&tv);
}

/* ---- vision: attention inside cu_seqlens groups --------------------------------------------------------- */

static void
check_groups(uint32_t heads, uint32_t hd, uint32_t stride_pad, const uint32_t *sizes, uint32_t groups,
             float q_range)
{
  g_autofree int32_t *cu = g_new(int32_t, groups + 1);
  cu[0] = 0;
  for (uint32_t g = 0; g < groups; g++)
    cu[g + 1] = cu[g] + (int32_t)sizes[g];
  uint32_t rows = (uint32_t)cu[groups];
  uint32_t width = heads * hd, stride = 3 * width + stride_pad;
  g_autofree float *qkv = vf_test_random((size_t)rows * stride, -1, 1, rows + heads);
  for (uint32_t r = 0; r < rows; r++)
    for (uint32_t i = 0; i < width; i++)
      qkv[(size_t)r * stride + i] *= q_range;
  size_t out_floats = (size_t)rows * width;
  g_autofree float *want = g_new(float, out_floats);
  g_autofree float *bound = g_new(float, out_floats);
  g_autofree float *got = g_new(float, out_floats);
  ref_attention_groups(qkv, rows, stride, heads, hd, cu, groups, want, bound);

  VfTestVariants tv = {0};
  for (size_t i = 0; i < G_N_ELEMENTS(variants); i++) {
    if (!variant_runs(&tv, variants[i], hd, stride))
      continue;
    VfBuffer b_qkv = vf_test_upload(qkv, (size_t)rows * stride * 4);
    VfBuffer b_cu = vf_test_upload(cu, (groups + 1) * 4);
    VfBuffer b_out = upload_poisoned(out_floats);
    VfCmd *cmd = vf_test_cmd();
    vf_op_attention_groups_variant(cmd, variants[i], &b_qkv, rows, stride, heads, hd, &b_cu, groups, &b_out);
    vf_test_submit(cmd);
    vf_test_download(&b_out, got, out_floats * 4);
    g_autofree char *what = g_strdup_printf("groups %s %u heads x %u, %u groups, %u rows",
                                            vf_attention_variant_name(variants[i]), heads, hd, groups, rows);
    assert_within_bound(what, got, want, bound, out_floats);
    vf_test_release(&b_qkv);
    vf_test_release(&b_cu);
    vf_test_release(&b_out);
  }
  vf_test_variants_done(&tv);
}

static void
test_groups(void)
{
  static const uint32_t three[] = {64, 196, 37};
  check_groups(16, 80, 0, three, 3, 1);  /* Qwen2-VL vision: 16 heads of 80 */
  check_groups(2, 32, 4, three, 3, 3);   /* tiny model, padded rows */
  static const uint32_t small[] = {1, 5, 8, 2};
  check_groups(3, 32, 0, small, 4, 2);
  /* The widest head_dim supported; enough rows that both variants give every block its own lanes (the
   * key-split form of a 256-wide head takes llvmpipe 5–10 s to compile). */
  static const uint32_t two[] = {347, 253};
  check_groups(1, 256, 0, two, 2, 1);
}

static void
test_groups_odd_stride(void)
{
  /* A row stride that is not a multiple of 4 floats: the texel kernel declines, AUTO still runs. */
  VfDevice *dev = vf_test_device();
  g_assert_false(vf_attention_supports(dev, VF_ATTENTION_TEXEL, 32, 3 * 64 + 2));
  g_assert_true(vf_attention_supports(dev, VF_ATTENTION_AUTO, 32, 3 * 64 + 2));
  static const uint32_t sizes[] = {10, 7};
  check_groups(2, 32, 2, sizes, 2, 1);
}

/* ---- vision, a window at a time (sequences larger than one binding) ------------------------------------ */

typedef struct {
  uint32_t q_first, rows, kv_first, kv_rows;
} Window;

/* qkv rows outside the window hold NaN where the dispatch must not read (q of rows that are not its
 * queries, k and v of rows outside the key window), so a read past the bound windows poisons the output. */
static void
check_groups_window(uint32_t heads, uint32_t hd, uint32_t stride_pad, const uint32_t *sizes, uint32_t groups,
                    const Window *w)
{
  g_autofree int32_t *cu = g_new(int32_t, groups + 1);
  cu[0] = 0;
  for (uint32_t g = 0; g < groups; g++)
    cu[g + 1] = cu[g] + (int32_t)sizes[g];
  uint32_t total = (uint32_t)cu[groups];
  uint32_t width = heads * hd, stride = 3 * width + stride_pad;
  g_autofree float *qkv = vf_test_random((size_t)total * stride, -1, 1, total + w->q_first + w->kv_first);
  for (uint32_t r = 0; r < total; r++) {
    bool query = r >= w->q_first && r < w->q_first + w->rows;
    bool key = r >= w->kv_first && r < w->kv_first + w->kv_rows;
    for (uint32_t i = 0; i < 3 * width; i++)
      if (i < width ? !query : !key)
        qkv[(size_t)r * stride + i] = NAN;
  }
  size_t out_floats = (size_t)w->rows * width;
  g_autofree float *want = g_new(float, out_floats);
  g_autofree float *bound = g_new(float, out_floats);
  g_autofree float *got = g_new(float, out_floats);
  ref_attention_groups_window(qkv, stride, heads, hd, cu, groups, w->q_first, w->rows, w->kv_first, w->kv_rows,
                              want, bound);
  VfTestVariants tv = {0};
  for (size_t i = 0; i < G_N_ELEMENTS(variants); i++) {
    if (!variant_runs(&tv, variants[i], hd, stride))
      continue;
    VfBuffer b_qkv = vf_test_upload(qkv, (size_t)total * stride * 4);
    VfBuffer b_cu = vf_test_upload(cu, (groups + 1) * 4);
    g_autofree float *poison = g_new(float, out_floats);
    for (size_t j = 0; j < out_floats; j++)
      poison[j] = NAN;
    VfBuffer b_out = vf_test_upload(poison, out_floats * 4);
    VfCmd *cmd = vf_test_cmd();
    VfAttentionWindow window = {w->q_first, w->rows, w->kv_first, w->kv_rows};
    vf_op_attention_groups_window(cmd, variants[i], &b_qkv, stride, heads, hd, &b_cu, groups, &window, &b_out);
    vf_test_submit(cmd);
    vf_test_download(&b_out, got, out_floats * 4);
    g_autofree char *what = g_strdup_printf("window %s %u heads × %u, queries %u+%u, keys %u+%u of %u rows",
                                            vf_attention_variant_name(variants[i]), heads, hd, w->q_first,
                                            w->rows, w->kv_first, w->kv_rows, total);
    assert_within_bound(what, got, want, bound, out_floats);
    vf_test_release(&b_qkv);
    vf_test_release(&b_cu);
    vf_test_release(&b_out);
  }
  vf_test_variants_done(&tv);
}

static void
test_groups_window(void)
{
  /* Two images of 48 and 60 patches (the tiny model's a04 case), rows of 196 floats (784 bytes, so the
   * windows start inside 256-byte blocks and the kernels see non-zero offsets). */
  static const uint32_t two[] = {48, 60};
  static const Window tiny[] = {
    {40, 20, 0, 108},  /* queries across the group boundary, all keys */
    {48, 12, 48, 60},  /* exactly the second group */
    {10, 21, 0, 48},   /* inside the first group, odd count */
    {40, 16, 30, 40},  /* a key window cutting both groups: only the keys inside count */
    {0, 8, 48, 60},    /* no key of their group in the window: zeros */
    {107, 1, 48, 60},  /* the last row alone */
  };
  for (size_t i = 0; i < G_N_ELEMENTS(tiny); i++)
    check_groups_window(2, 32, 4, two, 2, &tiny[i]);
  /* Qwen2-VL heads; a video-like run of equal groups. */
  static const uint32_t frames[] = {64, 64, 64, 64};
  static const Window real[] = {{100, 90, 64, 192}, {0, 256, 0, 256}};
  for (size_t i = 0; i < G_N_ELEMENTS(real); i++)
    check_groups_window(16, 80, 0, frames, 4, &real[i]);
}

/* ---- errors --------------------------------------------------------------------------------------------- */

static void
expect_error(VfCmd *cmd, const char *fragment)
{
  g_autoptr(GError) error = NULL;
  g_assert_false(vf_cmd_submit(cmd, &error));
  g_assert_nonnull(error);
  g_assert_nonnull(strstr(error->message, fragment));
  vf_cmd_free(cmd);
}

static void
test_errors(void)
{
  VfBuffer small = vf_test_upload(NULL, 1024);
  VfBuffer big = vf_test_upload(NULL, 1 << 20);
  VfKvCache cache = {.k = big, .v = big, .kv_heads = 2, .head_dim = 64, .capacity = 16};

  VfCmd *cmd = vf_test_cmd();
  vf_op_attention_causal(cmd, &big, 1, 5 * 64, 5, &cache, &small, 0, &big); /* 5 heads over 2 kv heads */
  expect_error(cmd, "attention_causal");

  cmd = vf_test_cmd();
  VfKvCache odd = cache;
  odd.head_dim = 12;
  vf_op_attention_causal(cmd, &big, 1, 4 * 12, 4, &odd, &small, 0, &big);
  expect_error(cmd, "head_dim");

  cmd = vf_test_cmd();
  vf_op_attention_causal(cmd, &big, 4, 4 * 64, 4, &cache, &small, 0, &small); /* out too small */
  expect_error(cmd, "do not fit");

  cmd = vf_test_cmd();
  VfKvStoreShape past = {.rows = 2, .row_stride = 100, .k_offset = 0, .v_offset = 64}; /* v past the row */
  vf_op_kv_store(cmd, &big, &past, &cache, &small);
  expect_error(cmd, "kv_store");

  cmd = vf_test_cmd();
  vf_op_attention_groups(cmd, &big, 100, 3 * 64, 1, 64, &small, 1000, &big); /* cu_seqlens too small */
  expect_error(cmd, "attention_groups");

  cmd = vf_test_cmd();
  VfAttentionWindow past_end = {.q_first = 0, .rows = 10, .kv_first = 1360, .kv_rows = 10};
  vf_op_attention_groups_window(cmd, VF_ATTENTION_AUTO, &big, 3 * 64, 1, 64, &small, 1, &past_end, &small);
  expect_error(cmd, "keys 1360..1370");

  cmd = vf_test_cmd();
  VfAttentionWindow no_keys = {.q_first = 0, .rows = 10, .kv_first = 0, .kv_rows = 0};
  vf_op_attention_groups_window(cmd, VF_ATTENTION_AUTO, &big, 3 * 64, 1, 64, &small, 1, &no_keys, &small);
  expect_error(cmd, "attention_groups");

  vf_test_release(&small);
  vf_test_release(&big);
}

int
main(int argc, char **argv)
{
  vf_test_init(&argc, &argv);
  g_test_add_func("/ops/attention/causal/decode", test_causal_decode);
  g_test_add_func("/ops/attention/causal/prefill", test_causal_prefill);
  g_test_add_func("/ops/attention/causal/key_begin", test_causal_key_begin);
  g_test_add_func("/ops/attention/causal/capacity", test_causal_capacity);
  g_test_add_func("/ops/attention/causal/replay", test_causal_replay);
  g_test_add_func("/ops/attention/groups", test_groups);
  g_test_add_func("/ops/attention/groups/odd_stride", test_groups_odd_stride);
  g_test_add_func("/ops/attention/groups/window", test_groups_window);
  g_test_add_func("/ops/attention/errors", test_errors);
  return vf_test_finish();
}
