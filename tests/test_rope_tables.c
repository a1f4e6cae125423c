/* Unit tests of model/vf_rope.c: inverse frequencies bit for bit as torch computes them (spec §12.5),
 * and the cos/sin tables vf_op_rope gathers. No GPU work. */
#include <math.h>
#include <string.h>

#include "vf_rope.h"
#include <glib.h>
#include <stdlib.h>

/* Spec §12.5, typed in from the spec independently of model/vf_rope.c: torch 1.13 float32 inv_freq. */
static const uint32_t spec_text[64] = {
  0x3f800000, 0x3f4e4bad, 0x3f263de0, 0x3f05f6ef, 0x3ed7e89b, 0x3eadfcff, 0x3e8c3504, 0x3e61f835,
  0x3e361887, 0x3e12bd91, 0x3dec7fd6, 0x3dbe94c6, 0x3d99940d, 0x3d778513, 0x3d47763f, 0x3d20bc1d,
  0x3d0186e3, 0x3cd0c1a8, 0x3ca8398b, 0x3c879008, 0x3c5a7bf2, 0x3c301052, 0x3c0de12d, 0x3be4aa46,
  0x3bb8449c, 0x3b947dae, 0x3b6f520e, 0x3b40dac5, 0x3b1b690d, 0x3afa78f0, 0x3ac9d75c, 0x3aa2a6f7,
  0x3a83126f, 0x3a533f28, 0x3a2a3b44, 0x3a092e02, 0x39dd1725, 0x39b229fb, 0x398f9272, 0x39676492,
  0x393a7753, 0x39164324, 0x38f22ce2, 0x38c327b5, 0x389d43a4, 0x387d75d4, 0x384c3fbe, 0x382497ab,
  0x3804a2b2, 0x37d5c441, 0x37ac431d, 0x378ad0ed, 0x375fba4f, 0x37344a0e, 0x371148e3, 0x36ea2732,
  0x36bcb0c1, 0x36980e02, 0x36751070, 0x36457bab, 0x361f23e4, 0x36003dec, 0x35ceaf79, 0x35a68e4c,
};
static const uint32_t spec_vision[20] = {
  0x3f800000, 0x3f21866b, 0x3ecbd4b4, 0x3e809bcc, 0x3e224b06, 0x3dcccccd, 0x3d813855, 0x3d231091,
  0x3ccdc613, 0x3c81d5a0, 0x3c23d70a, 0x3bcec089, 0x3b8273a4, 0x3b249e78, 0x3acfbc32, 0x3a83126f,
  0x3a2566d4, 0x39d0b907, 0x3983b1fa, 0x39263028,
};

static uint32_t
bits(float f)
{
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

static void
test_inv_freq_matches_torch(void)
{
  float text[64], vision[20];
  vf_rope_inv_freq(1000000.0f, 128, text);
  vf_rope_inv_freq(10000.0f, 40, vision);
  for (int j = 0; j < 64; j++)
    g_assert_cmphex(bits(text[j]), ==, spec_text[j]);
  for (int j = 0; j < 20; j++)
    g_assert_cmphex(bits(vision[j]), ==, spec_vision[j]);
  /* The spec's decimal spot checks. */
  g_assert_cmpfloat(text[1], ==, 0.80584222f);
  g_assert_cmpfloat(text[63], ==, 1.2409378e-06f);
}

/* Distance in units in the last place between two positive floats. */
static int64_t
ulps_apart(float a, float b)
{
  return llabs((int64_t)bits(a) - (int64_t)bits(b));
}

static void
test_inv_freq_formula(void)
{
  /* The formula used for configurations without published values: within 1 ulp of torch everywhere,
   * equal in all but the one value where torch's SLEEF powf and libm round differently (text j = 37). */
  float text[64], vision[20];
  vf_rope_inv_freq_formula(1000000.0f, 128, text);
  vf_rope_inv_freq_formula(10000.0f, 40, vision);
  int differ = 0;
  for (int j = 0; j < 64; j++) {
    float want;
    memcpy(&want, &spec_text[j], 4);
    g_assert_cmpint(ulps_apart(text[j], want), <=, 1);
    differ += text[j] != want;
  }
  for (int j = 0; j < 20; j++) {
    float want;
    memcpy(&want, &spec_vision[j], 4);
    g_assert_cmpint(ulps_apart(vision[j], want), <=, 1);
    differ += vision[j] != want;
  }
  g_assert_cmpint(differ, <=, 1);

  /* Other shapes (tiny-a: LLM head_dim 32, vision rotary dim 16) take the formula. Against
   * 1 / θ^e in double with torch's f32 exponent e = (float)(2j) / dim, only powf (glibc: under 1 ulp)
   * and the f32 division (½ ulp) round: under 2 ulp from the exact value, so at most 1 float apart
   * from its correct rounding. (The exponent's own rounding is torch's too, so it is not an error.) */
  const struct { float theta; uint32_t dim; } shapes[] = {{1000000.0f, 32}, {10000.0f, 16}, {10000.0f, 40}};
  for (size_t s = 0; s < G_N_ELEMENTS(shapes); s++) {
    float inv[64];
    vf_rope_inv_freq(shapes[s].theta, shapes[s].dim, inv);
    for (uint32_t j = 0; j < shapes[s].dim / 2; j++) {
      float exponent = (float)(2 * j) / (float)shapes[s].dim;
      float exact = (float)(1.0 / pow(shapes[s].theta, (double)exponent));
      g_assert_cmpint(ulps_apart(inv[j], exact), <=, 1);
    }
  }
}

/* The angle of position p and frequency `inv` (spec §8.3): the f32 product, then cos/sin in double, rounded
 * once. Written out here from the spec, with the frequencies taken from §12.5, not from vf_rope.c. */
static void
expect_entry(const VfRopeTables *t, uint32_t p, uint32_t j, uint32_t inv_bits)
{
  float inv;
  memcpy(&inv, &inv_bits, 4);
  float angle = (float)p * inv;
  g_assert_cmphex(bits(t->cos[(size_t)p * t->freqs + j]), ==, bits((float)cos((double)angle)));
  g_assert_cmphex(bits(t->sin[(size_t)p * t->freqs + j]), ==, bits((float)sin((double)angle)));
}

static void
test_llm_tables(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VfRopeTables) t = vf_rope_tables_llm(1000000.0f, 128, 32768, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(t->positions, ==, 32768);
  g_assert_cmpuint(t->freqs, ==, 64);
  for (uint32_t p = 0; p < 32768; p += 97)
    for (uint32_t j = 0; j < 64; j++)
      expect_entry(t, p, j, spec_text[j]);
  for (uint32_t j = 0; j < 64; j++)
    expect_entry(t, 32767, j, spec_text[j]);
  /* Values written out: p = 0 is the identity, p = 1 at j = 0 is cos/sin(1) (inv[0] = 1). */
  g_assert_cmpfloat(t->cos[0], ==, 1.0f);
  g_assert_cmpfloat(t->sin[0], ==, 0.0f);
  g_assert_cmphex(bits(t->cos[64]), ==, 0x3f0a5140); /* cos(1) = 0.540302306 */
  g_assert_cmphex(bits(t->sin[64]), ==, 0x3f576aa4); /* sin(1) = 0.841470985 */
}

static void
test_vision_tables(void)
{
  g_autoptr(GError) error = NULL;
  /* 2B/7B: head_dim 80, rotary dim 40, the §12.5 vision frequencies. */
  g_autoptr(VfRopeTables) t = vf_rope_tables_vision(10000.0f, 80, 300, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(t->freqs, ==, 40);
  for (uint32_t p = 0; p < 300; p++)
    for (uint32_t j = 0; j < 40; j++)
      /* The row half (j < 20) and the column half use the same 20 frequencies. */
      expect_entry(t, p, j, spec_vision[j % 20]);
  /* tiny-a: head_dim 32, no published table: the frequencies 1 / 10000^((float)(2j) / 16) in double, the
   * formula's 1 ulp from torch at most (see inv-freq-formula), so the entries agree to a few ulp · p. */
  g_autoptr(VfRopeTables) small = vf_rope_tables_vision(10000.0f, 32, 50, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(small->freqs, ==, 16);
  for (uint32_t p = 0; p < 50; p++)
    for (uint32_t j = 0; j < 16; j++) {
      double inv = 1.0 / pow(10000.0, (double)((float)(2 * (j % 8)) / 16.0f));
      double angle = p * inv;
      g_assert_cmpfloat_with_epsilon(small->cos[p * 16 + j], cos(angle), 2.5e-7 * (1 + p));
      g_assert_cmpfloat_with_epsilon(small->sin[p * 16 + j], sin(angle), 2.5e-7 * (1 + p));
    }
  const uint32_t head_dims[] = {80, 32};
  for (size_t k = 0; k < G_N_ELEMENTS(head_dims); k++) {
    uint32_t sections[3];
    vf_rope_vision_sections(head_dims[k], sections);
    g_assert_cmpuint(sections[0], ==, 0);
    g_assert_cmpuint(sections[1], ==, head_dims[k] / 4);
    g_assert_cmpuint(sections[2], ==, head_dims[k] / 4);
  }
}

static void
test_bad_shapes(void)
{
  GError *error = NULL;
  g_assert_null(vf_rope_tables_llm(1000000.0f, 31, 16, &error));
  g_assert_error(error, VF_ROPE_ERROR, VF_ROPE_ERROR_SHAPE);
  g_clear_error(&error);
  g_assert_null(vf_rope_tables_vision(10000.0f, 42, 16, &error));
  g_assert_error(error, VF_ROPE_ERROR, VF_ROPE_ERROR_SHAPE);
  g_clear_error(&error);
  g_assert_null(vf_rope_tables_llm(0.5f, 128, 16, &error));
  g_assert_error(error, VF_ROPE_ERROR, VF_ROPE_ERROR_SHAPE);
  g_clear_error(&error);
  g_assert_null(vf_rope_tables_llm(1000000.0f, 128, 0, &error));
  g_assert_error(error, VF_ROPE_ERROR, VF_ROPE_ERROR_SHAPE);
  g_clear_error(&error);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/unit/rope/inv-freq-torch", test_inv_freq_matches_torch);
  g_test_add_func("/unit/rope/inv-freq-formula", test_inv_freq_formula);
  g_test_add_func("/unit/rope/llm-tables", test_llm_tables);
  g_test_add_func("/unit/rope/vision-tables", test_vision_tables);
  g_test_add_func("/unit/rope/bad-shapes", test_bad_shapes);
  return g_test_run();
}
