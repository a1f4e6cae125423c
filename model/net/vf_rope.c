/* Rotary-embedding tables: inverse frequencies as torch computes them, cos/sin tables by position. */
#define G_LOG_DOMAIN "vf-model"

#include "vf_rope.h"

#include <math.h>
#include <string.h>

G_DEFINE_QUARK(vf-rope-error-quark, vf_rope_error)

/* torch 1.13's float32 inv_freq for the configurations of the Qwen2-VL checkpoints (spec §12.5), as
 * bit patterns. torch evaluates base ** exponent with SLEEF's vectorised powf, which rounds one of
 * these (text j = 37) differently from libm; shipping the values keeps the tables bit-identical. */
typedef struct {
  float theta;
  uint32_t dim;
  const uint32_t *bits; /* [dim / 2] */
} KnownInvFreq;

static const uint32_t text_1e6_128[64] = {
  0x3f800000, 0x3f4e4bad, 0x3f263de0, 0x3f05f6ef, 0x3ed7e89b, 0x3eadfcff, 0x3e8c3504, 0x3e61f835,
  0x3e361887, 0x3e12bd91, 0x3dec7fd6, 0x3dbe94c6, 0x3d99940d, 0x3d778513, 0x3d47763f, 0x3d20bc1d,
  0x3d0186e3, 0x3cd0c1a8, 0x3ca8398b, 0x3c879008, 0x3c5a7bf2, 0x3c301052, 0x3c0de12d, 0x3be4aa46,
  0x3bb8449c, 0x3b947dae, 0x3b6f520e, 0x3b40dac5, 0x3b1b690d, 0x3afa78f0, 0x3ac9d75c, 0x3aa2a6f7,
  0x3a83126f, 0x3a533f28, 0x3a2a3b44, 0x3a092e02, 0x39dd1725, 0x39b229fb, 0x398f9272, 0x39676492,
  0x393a7753, 0x39164324, 0x38f22ce2, 0x38c327b5, 0x389d43a4, 0x387d75d4, 0x384c3fbe, 0x382497ab,
  0x3804a2b2, 0x37d5c441, 0x37ac431d, 0x378ad0ed, 0x375fba4f, 0x37344a0e, 0x371148e3, 0x36ea2732,
  0x36bcb0c1, 0x36980e02, 0x36751070, 0x36457bab, 0x361f23e4, 0x36003dec, 0x35ceaf79, 0x35a68e4c,
};

static const uint32_t vision_1e4_40[20] = {
  0x3f800000, 0x3f21866b, 0x3ecbd4b4, 0x3e809bcc, 0x3e224b06, 0x3dcccccd, 0x3d813855, 0x3d231091,
  0x3ccdc613, 0x3c81d5a0, 0x3c23d70a, 0x3bcec089, 0x3b8273a4, 0x3b249e78, 0x3acfbc32, 0x3a83126f,
  0x3a2566d4, 0x39d0b907, 0x3983b1fa, 0x39263028,
};

static const KnownInvFreq known[] = {
  {1000000.0f, 128, text_1e6_128},
  {10000.0f, 40, vision_1e4_40},
};

void
vf_rope_inv_freq_formula(float theta, uint32_t dim, float *inv)
{
  g_assert(dim > 0 && dim % 2 == 0);
  for (uint32_t j = 0; j < dim / 2; j++) {
    float exponent = (float)(2 * j) / (float)dim;
    inv[j] = 1.0f / powf(theta, exponent);
  }
}

void
vf_rope_inv_freq(float theta, uint32_t dim, float *inv)
{
  for (size_t k = 0; k < G_N_ELEMENTS(known); k++) {
    if (known[k].theta == theta && known[k].dim == dim) {
      memcpy(inv, known[k].bits, dim / 2 * sizeof(float));
      return;
    }
  }
  vf_rope_inv_freq_formula(theta, dim, inv);
}

void
vf_rope_tables_free(VfRopeTables *tables)
{
  if (!tables)
    return;
  g_free(tables->cos);
  g_free(tables->sin);
  g_free(tables);
}

/* Rows [0, positions) of cos/sin((float)p · inv[j mod period]), F columns. */
static VfRopeTables *
build(const char *what, uint32_t positions, uint32_t freqs, const float *inv, uint32_t period, GError **error)
{
  uint64_t count = (uint64_t)positions * freqs;
  if (positions == 0 || count > G_MAXINT32 / sizeof(float)) {
    g_set_error(error, VF_ROPE_ERROR, VF_ROPE_ERROR_SHAPE, "%s RoPE table of %u positions × %u frequencies is "
                "empty or too large", what, positions, freqs);
    return NULL;
  }
  VfRopeTables *t = g_new0(VfRopeTables, 1);
  t->positions = positions;
  t->freqs = freqs;
  t->cos = g_try_new(float, count);
  t->sin = g_try_new(float, count);
  if (!t->cos || !t->sin) {
    vf_rope_tables_free(t);
    g_set_error(error, VF_ROPE_ERROR, VF_ROPE_ERROR_SHAPE, "out of memory for a %s RoPE table of %u × %u", what,
                positions, freqs);
    return NULL;
  }
  for (uint32_t p = 0; p < positions; p++) {
    for (uint32_t j = 0; j < freqs; j++) {
      float angle = (float)p * inv[j % period]; /* the float32 product torch forms */
      t->cos[(uint64_t)p * freqs + j] = (float)cos((double)angle);
      t->sin[(uint64_t)p * freqs + j] = (float)sin((double)angle);
    }
  }
  return t;
}

static gboolean
check_theta(float theta, GError **error)
{
  if (!(theta > 1.0f) || isinf(theta)) {
    g_set_error(error, VF_ROPE_ERROR, VF_ROPE_ERROR_SHAPE, "rope theta %g is not a finite number above 1",
                (double)theta);
    return FALSE;
  }
  return TRUE;
}

VfRopeTables *
vf_rope_tables_llm(float theta, uint32_t head_dim, uint32_t max_position, GError **error)
{
  if (!check_theta(theta, error))
    return NULL;
  if (head_dim == 0 || head_dim % 2 != 0) {
    g_set_error(error, VF_ROPE_ERROR, VF_ROPE_ERROR_SHAPE, "LLM head_dim %u is not a positive even number",
                head_dim);
    return NULL;
  }
  g_autofree float *inv = g_new(float, head_dim / 2);
  vf_rope_inv_freq(theta, head_dim, inv);
  return build("LLM", max_position, head_dim / 2, inv, head_dim / 2, error);
}

VfRopeTables *
vf_rope_tables_vision(float theta, uint32_t head_dim, uint32_t max_side, GError **error)
{
  if (!check_theta(theta, error))
    return NULL;
  if (head_dim == 0 || head_dim % 4 != 0) {
    g_set_error(error, VF_ROPE_ERROR, VF_ROPE_ERROR_SHAPE, "vision head_dim %u is not a positive multiple of 4",
                head_dim);
    return NULL;
  }
  /* The vision rotary embedding has dim head_dim / 2, hence head_dim / 4 frequencies, used once for
   * the patch row (columns [0, F/2)) and once for the patch column (columns [F/2, F)). */
  g_autofree float *inv_v = g_new(float, head_dim / 4);
  vf_rope_inv_freq(theta, head_dim / 2, inv_v);
  return build("vision", max_side, head_dim / 2, inv_v, head_dim / 4, error);
}

void
vf_rope_vision_sections(uint32_t head_dim, uint32_t sections[3])
{
  sections[0] = 0;
  sections[1] = head_dim / 4;
  sections[2] = head_dim / 4;
}
