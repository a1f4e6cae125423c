/* Host-side tables for rotary position embeddings (spec §7.2, §8.3, §12.5): the inverse frequencies,
 * exactly as torch computes them in float32, and the cos/sin tables that vf_op_rope gathers by
 * position.
 *
 *   LLM (M-RoPE):  F = head_dim / 2 columns, inv = vf_rope_inv_freq(rope_theta, head_dim)
 *                  cos[p][j] = cos((float)p · inv[j]),  p < max_position
 *                  sections = mrope_section from the config, e.g. [16, 24, 24]
 *   Vision 2-D:    F = head_dim / 2 columns, inv_v = vf_rope_inv_freq(10000, head_dim / 2)  (F/2 values)
 *                  cos[p][j] = cos((float)p · inv_v[j mod F/2]),  p < max_side (the longer grid side)
 *                  sections = [0, F/2, F/2]: columns j < F/2 take the patch row, the rest the column
 *
 * The product (float)p · inv[j] is rounded to float32 as in torch; cos and sin of that float are
 * evaluated in double and rounded once, so the tables are as close to torch's values as a float can
 * be (torch's own float32 cos/sin are within an ulp of these).
 */
#pragma once

#include <glib.h>
#include <stdint.h>

#define VF_ROPE_ERROR (vf_rope_error_quark())
GQuark vf_rope_error_quark(void);

typedef enum {
  VF_ROPE_ERROR_SHAPE, /* a head_dim, theta or table size the tables cannot be built for */
} VfRopeError;

typedef struct {
  uint32_t positions; /* rows: max_position (LLM) or max_side (vision) */
  uint32_t freqs;     /* F = head_dim / 2 columns */
  float *cos;         /* f32 [positions, freqs], row-major */
  float *sin;         /* f32 [positions, freqs], row-major */
} VfRopeTables;

/* inv[j] = 1 / theta^((float)(2j) / dim) for j < dim / 2, float32 bit for bit as torch computes it
 * (`1.0 / (base ** (arange(0, dim, 2).float() / dim))`). dim must be even. */
void vf_rope_inv_freq(float theta, uint32_t dim, float *inv);

/* The float32 formula alone: the exponent (float)(2j) / dim and the division rounded to float32,
 * theta^e by libm's powf. It agrees with torch except where torch's vectorised powf (SLEEF, within
 * 1 ulp) rounds differently; vf_rope_inv_freq therefore returns torch's published values for the
 * configurations it knows (spec §12.5) and this formula otherwise. */
void vf_rope_inv_freq_formula(float theta, uint32_t dim, float *inv);

/* The LLM tables: [max_position, head_dim / 2]. */
VfRopeTables *vf_rope_tables_llm(float theta, uint32_t head_dim, uint32_t max_position, GError **error);

/* The vision tables: [max_side, head_dim / 2], column j using inv_v[j mod (head_dim / 4)] with
 * inv_v = vf_rope_inv_freq(theta, head_dim / 2). head_dim must be a multiple of 4. */
VfRopeTables *vf_rope_tables_vision(float theta, uint32_t head_dim, uint32_t max_side, GError **error);

/* The vision sections for vf_op_rope: [0, head_dim / 4, head_dim / 4]. */
void vf_rope_vision_sections(uint32_t head_dim, uint32_t sections[3]);

void vf_rope_tables_free(VfRopeTables *tables);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfRopeTables, vf_rope_tables_free)
