#version 450
// Memory read bandwidth probe: folds every 32-bit word of a buffer window into one value with XOR,
// so no load can be optimised away and the result is checkable on the host.
//
//   out[0] ^= XOR of src[0 .. n_texels) (16-byte texels)
//
// Workgroup g reads texels [g·CHUNK, (g+1)·CHUNK), split into one contiguous range per subgroup,
// and a subgroup's lanes read adjacent texels. (CPU drivers run a workgroup's subgroups one after
// the other: with lanes interleaved over the whole workgroup instead, each subgroup would stride
// through memory touching one texel in eight.)
// READ_TEXEL: read through an RGBA32UI uniform texel view instead of a storage buffer.
#extension GL_KHR_shader_subgroup_basic : require
#include "common.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const uint CHUNK = 65536; // texels per workgroup

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
  uint per_subgroup = (CHUNK + gl_NumSubgroups - 1u) / gl_NumSubgroups;
  uint begin = flat_group_index() * CHUNK + gl_SubgroupID * per_subgroup;
  uint end = min(min(begin + per_subgroup, (flat_group_index() + 1u) * CHUNK), p.n_texels);
  uint lanes = gl_SubgroupSize;
  uvec4 a = uvec4(0u), b = uvec4(0u), c = uvec4(0u), d = uvec4(0u);
  uint i = begin + gl_SubgroupInvocationID;
  for (; i + 3u * lanes < end; i += 4u * lanes) { // four loads in flight
    a ^= load(i);
    b ^= load(i + lanes);
    c ^= load(i + 2u * lanes);
    d ^= load(i + 3u * lanes);
  }
  for (; i < end; i += lanes)
    a ^= load(i);
  a ^= b ^ c ^ d;
  uint folded = a.x ^ a.y ^ a.z ^ a.w;
  if (folded != 0u)
    atomicXor(result[0], folded);
}
