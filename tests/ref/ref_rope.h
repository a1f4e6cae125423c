/* CPU reference of vf_op_rope (rotate-half RoPE over sections of frequencies), in double. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* In place on x: rows of row_stride floats, the first heads·head_dim of each rotated.
 * positions int32 [3, rows]; cos_table, sin_table f32 [max_position, head_dim / 2]. Positions must be
 * inside the table. */
void ref_rope(float *x, uint32_t rows, uint32_t row_stride, uint32_t heads, uint32_t head_dim,
              const int32_t *positions, const uint32_t sections[3], const float *cos_table, const float *sin_table);

/* The frequency index j's stream (0, 1 or 2) under `sections`. */
uint32_t ref_rope_stream(const uint32_t sections[3], uint32_t j);
