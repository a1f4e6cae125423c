#version 450
// SwiGLU gate: Y[r, i] = silu(X[r, gate + i]) · X[r, up + i], silu(u) = u / (1 + exp(−u)).
//   X  f32 rows of row_stride floats (this dispatch's window; gate and up are column offsets)
//   Y  f32 [rows, width] contiguous
#include "common.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
  uint rows;
  uint row_stride;
  uint gate;
  uint up;
  uint width;
} p;

void main() {
  uint i = flat_group_index() * 256u + gl_LocalInvocationID.x;
  if (i >= p.rows * p.width)
    return;
  uint r = i / p.width;
  uint c = i - r * p.width;
  uint base = r * p.row_stride;
  float u = x[base + p.gate + c];
  // exp(−u) overflows to +inf for u < −88.7; u / inf = −0, which is the right limit.
  y[i] = u / (1.0 + exp(-u)) * x[base + p.up + c];
}
