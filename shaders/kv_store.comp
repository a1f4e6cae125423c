#version 450
// Appends the keys and values of `rows` new tokens to one layer's KV cache:
//   K[h, seq[0] + r, d] = qkv[r · row_stride + k_offset + h · head_dim + d]
//   V[h, seq[0] + r, d] = qkv[r · row_stride + v_offset + h · head_dim + d]
// qkv: [rows, row_stride] f32; K, V: [kv_heads, capacity, head_dim] f32. One invocation per (r, h, d);
// tokens at or past `capacity` are not stored (the host checks the length before it records a step).
#include "common.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer Qkv { float qkv[]; };
layout(std430, binding = 1) readonly buffer Seq { uint seq[]; };
layout(std430, binding = 2) writeonly buffer K { float k_cache[]; };
layout(std430, binding = 3) writeonly buffer V { float v_cache[]; };

layout(push_constant) uniform Push {
  uint rows;
  uint row_stride;
  uint k_offset;
  uint v_offset;
  uint kv_heads;
  uint head_dim;
  uint capacity;
} p;

void main() {
  uint i = flat_group_index() * 256u + gl_LocalInvocationID.x;
  uint width = p.kv_heads * p.head_dim;
  if (i >= p.rows * width)
    return;
  uint r = i / width, c = i % width;
  uint h = c / p.head_dim, d = c % p.head_dim;
  uint t = seq[0] + r;
  if (t >= p.capacity)
    return;
  uint dst = (h * p.capacity + t) * p.head_dim + d;
  k_cache[dst] = qkv[r * p.row_stride + p.k_offset + c];
  v_cache[dst] = qkv[r * p.row_stride + p.v_offset + c];
}
