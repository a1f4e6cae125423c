/* GPTQ / AWQ packing: hand-made vectors for AWQ's [0,2,4,6,1,3,5,7] nibble order, GPTQ's stored zero − 1
 * and an act-order g_idx, checked through the independent CPU dequantizer (tests/ref/ref_quant.c) and
 * through vf_quant_repack followed by a decode of the packed layout as ops_matmul_quant.h draws it. */
#include <string.h>

#include "ref/ref_common.h"
#include "ref/ref_quant.h"
#include "vf_quant.h"
#include "vf_test.h"
#include "vf_weights.h"

#define F16_ONE 0x3c00u
#define F16_HALF 0x3800u
#define F16_TWO 0x4000u

/* W [rows, cols] from the packed layout: words [rows, cols/P], groups [rows, G], g_idx [cols]. */
static void
decode_packed(uint32_t bits, uint32_t rows, uint32_t cols, uint32_t n_groups, const uint32_t *words,
              const uint32_t *groups, const uint32_t *g_idx, float *w)
{
  uint32_t per = 32 / bits;
  for (uint32_t j = 0; j < rows; j++)
    for (uint32_t k = 0; k < cols; k++) {
      uint32_t q = (words[(size_t)j * (cols / per) + k / per] >> (bits * (k % per))) & ((1u << bits) - 1);
      uint32_t h = groups[(size_t)j * n_groups + g_idx[k]];
      w[(size_t)j * cols + k] = ref_f16_to_f32(h & 0xffff) * ((float)q - (float)(h >> 16));
    }
}

typedef struct {
  VfQuantConfig config;
  uint32_t rows, cols;
  const uint32_t *qweight, *qzeros;
  const uint16_t *scales;
  const int32_t *g_idx;
} Linear;

/* Repacks and decodes `l` into w; returns whether the repack said act-order. */
static bool
repack_decode(const Linear *l, float *w)
{
  uint32_t per = 32 / l->config.bits, groups = l->cols / vf_quant_group_width(&l->config, l->cols);
  g_autofree uint32_t *words = g_new(uint32_t, (size_t)l->rows * l->cols / per);
  g_autofree uint32_t *gw = g_new(uint32_t, (size_t)l->rows * groups);
  g_autofree uint32_t *gi = g_new(uint32_t, l->cols);
  VfQuantTensors t = {{l->qweight, l->qzeros, l->scales, l->g_idx}};
  bool act_order;
  g_autoptr(GError) error = NULL;
  g_assert_true(vf_quant_repack(&l->config, l->rows, l->cols, &t, words, gw, gi, &act_order, &error));
  g_assert_no_error(error);
  decode_packed(l->config.bits, l->rows, l->cols, groups, words, gw, gi, w);
  return act_order;
}

static void
expect_weights(const char *what, const float *got, const float *want, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (got[i] != want[i])
      g_error("%s: W[%zu] = %g, want %g", what, i, got[i], want[i]);
}

/* One AWQ word 0x76543210 holds nibble n = n: column 8c + order[n] gets n, so reading columns 0..7 gives
 * 0 4 1 5 2 6 3 7. The same word as qzeros gives those zeros. */
static void
test_awq_nibble_order(void)
{
  const float by_column[8] = {0, 4, 1, 5, 2, 6, 3, 7};
  uint32_t qweight[8], qzeros[1] = {0};
  uint16_t scales[8];
  for (int i = 0; i < 8; i++)
    qweight[i] = 0x76543210u, scales[i] = F16_ONE;
  Linear l = {.config = {.method = VF_QUANT_AWQ, .bits = 4, .group_size = 8, .zero_point = true},
              .rows = 8, .cols = 8, .qweight = qweight, .qzeros = qzeros, .scales = scales};
  float want[64], ref[64], got[64];
  for (int o = 0; o < 8; o++)
    for (int i = 0; i < 8; i++)
      want[o * 8 + i] = by_column[o];
  ref_awq_dequant(8, 8, 1, qweight, qzeros, scales, ref);
  expect_weights("AWQ reference, nibble order", ref, want, 64);
  g_assert_false(repack_decode(&l, got));
  expect_weights("AWQ repacked, nibble order", got, want, 64);

  /* Zeros in the same order: q = 8 everywhere, zero word 0x76543210. */
  for (int i = 0; i < 8; i++)
    qweight[i] = 0x88888888u;
  qzeros[0] = 0x76543210u;
  for (int o = 0; o < 8; o++)
    for (int i = 0; i < 8; i++)
      want[o * 8 + i] = 8 - by_column[o];
  ref_awq_dequant(8, 8, 1, qweight, qzeros, scales, ref);
  expect_weights("AWQ reference, zero order", ref, want, 64);
  repack_decode(&l, got);
  expect_weights("AWQ repacked, zero order", got, want, 64);
}

/* GPTQ word 0x76543210 in qweight[0][o] holds inputs 0..7 = 0..7; qzeros 0x77777777 stores 7 = zero − 1,
 * so the zero is 8 (sym 4-bit); scale 0.5: W[o][i] = (i − 8) / 2. 8 bits: words 0x03020100, 0x07060504,
 * qzeros 0x7f7f7f7f (zero 128). */
static void
test_gptq_zero_minus_one(void)
{
  for (uint32_t bits = 4; bits <= 8; bits += 4) {
    const uint32_t rows = 8, cols = 8, per = 32 / bits;
    uint32_t qweight[16], qzeros[2];
    uint16_t scales[8];
    int32_t g_idx[8];
    for (uint32_t r = 0; r < cols / per; r++)
      for (uint32_t o = 0; o < rows; o++)
        qweight[r * rows + o] = bits == 4 ? 0x76543210u : (r == 0 ? 0x03020100u : 0x07060504u);
    for (uint32_t c = 0; c < rows / per; c++)
      qzeros[c] = bits == 4 ? 0x77777777u : 0x7f7f7f7fu;
    for (uint32_t i = 0; i < 8; i++)
      scales[i] = F16_HALF, g_idx[i] = 0;
    float want[64], ref[64], got[64];
    float zero = bits == 4 ? 8 : 128;
    for (uint32_t o = 0; o < rows; o++)
      for (uint32_t i = 0; i < cols; i++)
        want[o * cols + i] = ((float)i - zero) * 0.5f;
    ref_gptq_dequant(bits, rows, cols, 1, qweight, qzeros, scales, g_idx, ref);
    expect_weights("GPTQ reference, zero - 1", ref, want, 64);
    Linear l = {.config = {.method = VF_QUANT_GPTQ, .bits = bits, .group_size = 0, .sym = true},
                .rows = rows, .cols = cols, .qweight = qweight, .qzeros = qzeros, .scales = scales, .g_idx = g_idx};
    g_assert_false(repack_decode(&l, got));
    expect_weights("GPTQ repacked, zero - 1", got, want, 64);
  }
}

/* Act-order: 16 inputs in two groups of 8, g_idx alternating 1, 0, 1, 0 ... Group 0: zero 8, scale 1;
 * group 1: zero 4, scale 2; every q = 10. W = 2 for inputs of group 0, 12 for group 1. */
static void
test_gptq_act_order(void)
{
  const uint32_t rows = 8, cols = 16;
  uint32_t qweight[2 * 8], qzeros[2] = {0x77777777u, 0x33333333u};
  uint16_t scales[16];
  int32_t g_idx[16];
  for (int i = 0; i < 16; i++)
    qweight[i] = 0xaaaaaaaau, g_idx[i] = (i + 1) % 2;
  for (int o = 0; o < 8; o++)
    scales[o] = F16_ONE, scales[8 + o] = F16_TWO;
  float want[128], ref[128], got[128];
  for (uint32_t o = 0; o < rows; o++)
    for (uint32_t i = 0; i < cols; i++)
      want[o * cols + i] = g_idx[i] == 0 ? 2 : 12;
  ref_gptq_dequant(4, rows, cols, 2, qweight, qzeros, scales, g_idx, ref);
  expect_weights("GPTQ reference, act-order", ref, want, 128);
  Linear l = {.config = {.method = VF_QUANT_GPTQ, .bits = 4, .group_size = 8, .desc_act = true},
              .rows = rows, .cols = cols, .qweight = qweight, .qzeros = qzeros, .scales = scales, .g_idx = g_idx};
  g_assert_true(repack_decode(&l, got));
  expect_weights("GPTQ repacked, act-order", got, want, 128);

  /* A g_idx entry outside the two groups is refused, naming it. */
  g_idx[5] = 2;
  uint32_t words[16], gw[16], gi[16];
  VfQuantTensors t = {{qweight, qzeros, scales, g_idx}};
  bool act_order;
  g_autoptr(GError) error = NULL;
  g_assert_false(vf_quant_repack(&l.config, rows, cols, &t, words, gw, gi, &act_order, &error));
  g_assert_error(error, VF_WEIGHTS_ERROR, VF_WEIGHTS_ERROR_VALUE);
  g_assert_nonnull(strstr(error->message, "g_idx[5] = 2"));
  g_clear_error(&error);
  g_idx[5] = -1;
  g_assert_false(vf_quant_repack(&l.config, rows, cols, &t, words, gw, gi, &act_order, &error));
  g_assert_nonnull(strstr(error->message, "g_idx[5] = -1"));
}

/* Random weights in every format and a few group widths (including -1 and an odd group count): the
 * reference and the repacked layout agree bit for bit. */
static void
test_random_round_trip(void)
{
  static const struct {
    VfQuantMethod method;
    uint32_t bits, group_size; /* 0: -1 */
    bool shuffled;             /* GPTQ act-order: a permuted g_idx */
  } cases[] = {
    {VF_QUANT_GPTQ, 4, 32, false}, {VF_QUANT_GPTQ, 8, 32, false}, {VF_QUANT_GPTQ, 4, 0, false},
    {VF_QUANT_GPTQ, 4, 48, true},  {VF_QUANT_GPTQ, 8, 96, true},  {VF_QUANT_AWQ, 4, 32, false},
    {VF_QUANT_AWQ, 4, 0, false},   {VF_QUANT_AWQ, 4, 96, false},
  };
  const uint32_t rows = 40, cols = 288;
  for (size_t c = 0; c < G_N_ELEMENTS(cases); c++) {
    VfQuantConfig qc = {.method = cases[c].method, .bits = cases[c].bits, .group_size = cases[c].group_size};
    uint32_t width = vf_quant_group_width(&qc, cols), groups = cols / width, per = 32 / qc.bits;
    uint32_t levels = 1u << qc.bits;
    GRand *rand = g_rand_new_with_seed(100 + (uint32_t)c);
    g_autofree uint8_t *q = g_new(uint8_t, rows * cols);
    g_autofree uint16_t *zero = g_new(uint16_t, groups * rows), *scales = g_new(uint16_t, groups * rows);
    g_autofree int32_t *g_idx = g_new(int32_t, cols);
    for (uint32_t i = 0; i < rows * cols; i++)
      q[i] = (uint8_t)g_rand_int_range(rand, 0, levels);
    g_autofree float *s = vf_test_random(groups * rows, 0.001f, 0.05f, 7 + (uint32_t)c);
    g_autofree uint16_t *s16 = vf_test_to_f16(s, groups * rows);
    for (uint32_t i = 0; i < groups * rows; i++) {
      bool gptq = qc.method == VF_QUANT_GPTQ;
      zero[i] = (uint16_t)(gptq ? g_rand_int_range(rand, 1, levels + 1) : g_rand_int_range(rand, 0, 16));
      scales[i] = (uint16_t)(g_rand_boolean(rand) ? s16[i] : s16[i] | 0x8000u);
    }
    for (uint32_t i = 0; i < cols; i++)
      g_idx[i] = (int32_t)(i / width);
    if (cases[c].shuffled)
      for (uint32_t i = cols - 1; i > 0; i--) {
        uint32_t j = g_rand_int_range(rand, 0, i + 1);
        int32_t t = g_idx[i];
        g_idx[i] = g_idx[j], g_idx[j] = t;
      }
    g_rand_free(rand);

    uint32_t qwords = rows * cols / (qc.method == VF_QUANT_GPTQ ? per : 8);
    g_autofree uint32_t *qweight = g_new(uint32_t, qwords), *qzeros = g_new(uint32_t, groups * rows / per);
    g_autofree float *ref = g_new(float, rows * cols), *got = g_new(float, rows * cols);
    if (qc.method == VF_QUANT_GPTQ) {
      ref_gptq_pack(qc.bits, rows, cols, groups, q, zero, qweight, qzeros);
      ref_gptq_dequant(qc.bits, rows, cols, groups, qweight, qzeros, scales, g_idx, ref);
    } else {
      ref_awq_pack(rows, cols, groups, q, zero, qweight, qzeros);
      ref_awq_dequant(rows, cols, groups, qweight, qzeros, scales, ref);
    }
    /* The reference against the integers directly. */
    for (uint32_t o = 0; o < rows; o++)
      for (uint32_t i = 0; i < cols; i++) {
        uint32_t g = (uint32_t)g_idx[i];
        float want = ref_f16_to_f32(scales[g * rows + o]) * ((float)q[o * cols + i] - (float)zero[g * rows + o]);
        g_assert_cmpfloat(ref[o * cols + i], ==, want);
      }
    Linear l = {.config = qc, .rows = rows, .cols = cols, .qweight = qweight, .qzeros = qzeros, .scales = scales,
                .g_idx = qc.method == VF_QUANT_GPTQ ? g_idx : NULL};
    g_assert_true(repack_decode(&l, got) == cases[c].shuffled);
    g_autofree char *what = g_strdup_printf("%s %u-bit group %u%s", vf_quant_format_name(&qc), qc.bits, width,
                                            cases[c].shuffled ? " act-order" : "");
    expect_weights(what, got, ref, rows * cols);
  }
}

/* The stored shapes of spec §2.6 for a 7B-sized linear. */
static void
test_stored_shapes(void)
{
  VfQuantConfig gptq = {.method = VF_QUANT_GPTQ, .bits = 4, .group_size = 128};
  VfQuantConfig awq = {.method = VF_QUANT_AWQ, .bits = 4, .group_size = 128};
  uint64_t s[2];
  g_assert_cmpuint(vf_quant_tensor_shape(&gptq, VF_QUANT_QWEIGHT, 18944, 3584, s), ==, 2);
  g_assert_cmpuint(s[0], ==, 448);
  g_assert_cmpuint(s[1], ==, 18944);
  vf_quant_tensor_shape(&gptq, VF_QUANT_QZEROS, 18944, 3584, s);
  g_assert_cmpuint(s[0], ==, 28);
  g_assert_cmpuint(s[1], ==, 2368);
  vf_quant_tensor_shape(&gptq, VF_QUANT_SCALES, 18944, 3584, s);
  g_assert_cmpuint(s[0], ==, 28);
  g_assert_cmpuint(s[1], ==, 18944);
  g_assert_cmpuint(vf_quant_tensor_shape(&gptq, VF_QUANT_G_IDX, 18944, 3584, s), ==, 1);
  g_assert_cmpuint(s[0], ==, 3584);
  vf_quant_tensor_shape(&awq, VF_QUANT_QWEIGHT, 18944, 3584, s);
  g_assert_cmpuint(s[0], ==, 3584);
  g_assert_cmpuint(s[1], ==, 2368);
  g_assert_false(vf_quant_has_tensor(&awq, VF_QUANT_G_IDX));
  gptq.bits = 8;
  vf_quant_tensor_shape(&gptq, VF_QUANT_QWEIGHT, 3584, 18944, s);
  g_assert_cmpuint(s[0], ==, 4736);
  g_assert_cmpuint(s[1], ==, 3584);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/quant/awq-nibble-order", test_awq_nibble_order);
  g_test_add_func("/quant/gptq-zero-minus-one", test_gptq_zero_minus_one);
  g_test_add_func("/quant/gptq-act-order", test_gptq_act_order);
  g_test_add_func("/quant/random-round-trip", test_random_round_trip);
  g_test_add_func("/quant/stored-shapes", test_stored_shapes);
  return g_test_run();
}
