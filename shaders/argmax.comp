#version 450
// Argmax in two passes (torch.argmax semantics: the lowest index among equal maxima; NaN counts as
// the largest value, so the first NaN wins).
//   default:  pass 1. Workgroup g scans x[g·chunk, (g+1)·chunk) and writes its best (key, index) to
//             partial[2g], partial[2g + 1].
//   -DFINAL:  pass 2. One workgroup reduces the `n` partial pairs and writes out[0] = the index.
//   x        f32 [n]
//   partial  uint [2 · groups]
//   out      uint [1]
#define REDUCE_ARGMAX
#include "common.glsl"
#include "reduce.glsl"

#ifdef FINAL
layout(std430, binding = 0) readonly buffer Partial { uint partial[]; };
layout(std430, binding = 1) writeonly buffer Out { uint result[]; };
#else
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Partial { uint partial[]; };
#endif

layout(push_constant) uniform Push {
  uint n;      // pass 1: elements of x; pass 2: partial pairs
  uint chunk;  // pass 1: elements per workgroup
} p;

// Orders floats as unsigned integers: negatives reversed below positives, −0 equal to +0 (torch
// compares them equal), every NaN above +inf.
uint argmax_key(float v) {
  if (isnan(v))
    return 0xffffffffu;
  uint u = v == 0.0 ? 0u : floatBitsToUint(v);
  return (u & 0x80000000u) != 0u ? ~u : u | 0x80000000u;
}

void main() {
  uint t = gl_LocalInvocationID.x;
  uint wg = gl_WorkGroupSize.x;
  // Below every real key (the smallest, −inf, maps to 0x007fffff); loses every comparison.
  uint key = 0u;
  uint idx = 0xffffffffu;
#ifdef FINAL
  for (uint g = t; g < p.n; g += wg) {
    uint k = partial[2u * g], i = partial[2u * g + 1u];
    if (argmax_better(k, i, key, idx)) {
      key = k;
      idx = i;
    }
  }
  workgroup_argmax(key, idx);
  if (t == 0u)
    result[0] = idx;
#else
  uint g = flat_group_index();
  uint begin = g * p.chunk;
  uint end = min(begin + p.chunk, p.n);
  // Indices rise along each invocation's walk, so keeping the first strict maximum keeps the lowest index.
  for (uint i = begin + t; i < end; i += wg) {
    uint k = argmax_key(x[i]);
    if (k > key) {
      key = k;
      idx = i;
    }
  }
  workgroup_argmax(key, idx);
  if (t == 0u) {
    partial[2u * g] = key;
    partial[2u * g + 1u] = idx;
  }
#endif
}
