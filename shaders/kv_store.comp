#version 450
// Appends the keys and values of `rows` new tokens to one layer's KV cache:
//   K[h, seq[0] + r, d] = qkv[r · row_stride + k_offset + h · head_dim + d]
//   V[h, seq[0] + r, d] = qkv[r · row_stride + v_offset + h · head_dim + d]
// qkv: [rows, row_stride] f32; K, V: [kv_heads, capacity, head_dim] in the cache dtype:
//   f32        one float per element, one invocation per (r, h, d)
//   KV_F16     two halves per uint32 (element 2i in the low half, packHalf2x16), one invocation per
//              (r, h, d pair), so no two invocations write the same word; head_dim is even.
// Tokens at or past `capacity` are not stored (the host checks the length before it records a step).
#include "common.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer Qkv { float qkv[]; };
layout(std430, binding = 1) readonly buffer Seq { uint seq[]; };
#if defined(KV_F16)
layout(std430, binding = 2) writeonly buffer K { uint k_cache[]; };
layout(std430, binding = 3) writeonly buffer V { uint v_cache[]; };
const uint PER_WORD = 2u;
#else
layout(std430, binding = 2) writeonly buffer K { float k_cache[]; };
layout(std430, binding = 3) writeonly buffer V { float v_cache[]; };
const uint PER_WORD = 1u;
#endif

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
  uint width = p.kv_heads * p.head_dim / PER_WORD; // cache words per token
  if (i >= p.rows * width)
    return;
  uint r = i / width, c = (i % width) * PER_WORD;
  uint h = c / p.head_dim, d = c % p.head_dim;
  uint t = seq[0] + r;
  if (t >= p.capacity)
    return;
  uint dst = ((h * p.capacity + t) * p.head_dim + d) / PER_WORD;
  uint src = r * p.row_stride + c;
#if defined(KV_F16)
  k_cache[dst] = packHalf2x16(vec2(qkv[src + p.k_offset], qkv[src + p.k_offset + 1u]));
  v_cache[dst] = packHalf2x16(vec2(qkv[src + p.v_offset], qkv[src + p.v_offset + 1u]));
#else
  k_cache[dst] = qkv[src + p.k_offset];
  v_cache[dst] = qkv[src + p.v_offset];
#endif
}
