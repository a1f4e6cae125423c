/* Rotary position embedding, rotate-half convention, in place, for the LLM's
 * M-RoPE and the vision tower's 2-D RoPE alike.
 *
 * X: f32, rows of `row_stride` floats; the `heads` heads to rotate are the
 * first heads·head_dim floats of each row (e.g. q and k side by side in a
 * fused qkv row). With F = head_dim / 2 frequencies, frequency j of head h:
 *
 *   stream(j) = 0 for j < sections[0], 1 for j < sections[0] + sections[1], else 2
 *   p         = positions[stream(j) · rows + r]          (int32 [3, rows], stream-major)
 *   c, s      = cos_table[p · F + j], sin_table[p · F + j] (f32 [max_position, F], host-computed)
 *   x'[j]     = x[j]·c − x[j+F]·s
 *   x'[j+F]   = x[j+F]·c + x[j]·s
 *
 * sections sum to F. LLM: F = 64, sections = mrope_section [16, 24, 24],
 * cos_table[p][j] = cos((float)p · inv[j]). Vision: F = 40, sections
 * [0, 20, 20], cos_table[p][j] = cos((float)p · inv_v[j mod 20]) with
 * streams 1 and 2 holding the patch's row and column. The host builds the
 * tables once (float32 products, as torch computes them) so the shader needs
 * no transcendental functions; positions live in a buffer so a recorded
 * decode step can be replayed with new positions.
 */
#pragma once

#include "ops_common.h"

typedef struct {
  uint32_t rows;
  uint32_t row_stride;   /* floats per row of X */
  uint32_t heads;        /* heads rotated, from column 0 */
  uint32_t head_dim;
  uint32_t sections[3];  /* frequencies per position stream, summing to head_dim / 2 */
  uint32_t max_position; /* rows of the cos/sin tables */
} VfRopeShape;

void vf_op_rope(VfCmd *cmd, const VfBuffer *x, const VfRopeShape *shape, const VfBuffer *positions,
                const VfBuffer *cos_table, const VfBuffer *sin_table);
