#version 450
// Rotary position embedding, rotate-half convention, in place (see ops_rope.h for the full contract).
//
//   X          f32 rows of row_stride floats (this dispatch's window of rows); heads·head_dim rotated
//   positions  int32 [3, total_rows], stream-major (the whole buffer; row_base locates the window)
//   cos, sin   f32 [max_position, F], F = head_dim / 2, host-computed: no transcendentals here
//
// One invocation per (row, frequency j): it gathers cos/sin once and rotates the pair (j, j + F) of
// every head of the row, so the table lookups are shared by all heads.
#include "common.glsl"

layout(local_size_x = 64) in;

layout(std430, binding = 0) buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Positions { int positions[]; };
layout(std430, binding = 2) readonly buffer Cos { float cos_table[]; };
layout(std430, binding = 3) readonly buffer Sin { float sin_table[]; };

layout(push_constant) uniform Push {
  uint rows;          // rows in this window
  uint row_base;      // index of the window's first row among all rows
  uint total_rows;    // stride between the position streams
  uint row_stride;    // floats per row of X
  uint heads;
  uint head_dim;
  uint section0;      // frequencies [0, section0) use stream 0 (temporal)
  uint section01;     // [section0, section01) stream 1 (height), [section01, F) stream 2 (width)
  uint max_position;  // rows of the tables
} p;

void main() {
  uint freqs = p.head_dim / 2u;
  uint item = flat_group_index() * 64u + gl_LocalInvocationID.x;
  if (item >= p.rows * freqs)
    return;
  uint r = item / freqs;
  uint j = item - r * freqs;
  uint stream = j < p.section0 ? 0u : (j < p.section01 ? 1u : 2u);
  int pos = positions[stream * p.total_rows + p.row_base + r];
  // The host keeps positions inside the table; the clamp only keeps a bad one from reading out of bounds.
  uint pc = uint(clamp(pos, 0, int(p.max_position) - 1));
  float c = cos_table[pc * freqs + j];
  float s = sin_table[pc * freqs + j];
  uint base = r * p.row_stride + j;
  for (uint h = 0; h < p.heads; h++) {
    uint i = base + h * p.head_dim;
    float a = x[i];
    float b = x[i + freqs];
    x[i] = a * c - b * s;
    x[i + freqs] = b * c + a * s;
  }
}
