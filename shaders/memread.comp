#version 450
// Memory read bandwidth probe: folds every 32-bit word of a buffer window into one value with XOR,
// so no load can be optimised away and the result is checkable on the host.
//
//   out[0] ^= XOR of src[0 .. n_texels) (16-byte texels)
//
// Workgroup g reads texels [g·CHUNK, (g+1)·CHUNK): adjacent invocations read adjacent texels, so
// each workgroup streams one contiguous range (good for GPUs and for CPU drivers alike).
// READ_TEXEL: read through an RGBA32UI uniform texel view instead of a storage buffer.
#include "common.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const uint CHUNK = 16384; // texels per workgroup, a multiple of 64

#if defined(READ_TEXEL)
layout(binding = 0) uniform usamplerBuffer src;
uvec4 load(uint i) { return texelFetch(src, int(i)); }
#else
layout(std430, binding = 0) readonly buffer Src { uvec4 src[]; };
uvec4 load(uint i) { return src[i]; }
#endif
layout(std430, binding = 1) buffer Out { uint result[]; };

layout(push_constant) uniform Push { uint n_texels; } p;

void main() {
  uint begin = flat_group_index() * CHUNK;
  uint end = min(begin + CHUNK, p.n_texels);
  uvec4 a = uvec4(0u), b = uvec4(0u), c = uvec4(0u), d = uvec4(0u);
  uint i = begin + gl_LocalInvocationID.x;
  for (; i + 192u < end; i += 256u) { // four loads in flight
    a ^= load(i);
    b ^= load(i + 64u);
    c ^= load(i + 128u);
    d ^= load(i + 192u);
  }
  for (; i < end; i += 64u)
    a ^= load(i);
  a ^= b ^ c ^ d;
  uint folded = a.x ^ a.y ^ a.z ^ a.w;
  if (folded != 0u)
    atomicXor(result[0], folded);
}
