#version 450
// RMSNorm (default) or LayerNorm (-DLAYERNORM) over the rows of X, one workgroup per row.
//
//   X, Y    f32 [rows, width] (this dispatch's window of rows); Y may alias X
//   weight  f32 [width];  bias f32 [width] (LayerNorm only)
//
// RMSNorm:   y = (x · rsqrt(mean(x²) + eps)) · weight              (HF order: normalise, then scale)
// LayerNorm: y = ((x − mean) · rsqrt(mean((x − mean)²) + eps)) · weight + bias   (biased variance)
//
// Statistics are f32. LayerNorm takes two passes (mean, then the centred sum of squares) instead of
// E[x²] − mean², which cancels catastrophically when |mean| ≫ std (vision activations have that).
// Each invocation touches only the elements i ≡ its index (mod workgroup size) in every pass, so an
// in-place Y never overwrites what another invocation still has to read.
#include "common.glsl"
#include "reduce.glsl"

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 1) readonly buffer W4 { vec4 w4[]; };
#ifdef LAYERNORM
layout(std430, binding = 2) readonly buffer B { float b[]; };
layout(std430, binding = 2) readonly buffer B4 { vec4 b4[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(std430, binding = 3) writeonly buffer Y4 { vec4 y4[]; };
#else
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(std430, binding = 2) writeonly buffer Y4 { vec4 y4[]; };
#endif

layout(push_constant) uniform Push {
  uint rows;
  uint width;
  float eps;
} p;

void main() {
  uint row = flat_group_index();
  if (row >= p.rows)
    return;  // uniform per workgroup: the whole group leaves together
  uint t = gl_LocalInvocationID.x;
  uint wg = gl_WorkGroupSize.x;
  float n = float(p.width);

  // vec4 loads when rows are whole vec4s (every real model width); scalar otherwise.
  if ((p.width & 3u) == 0u) {
    uint w4n = p.width / 4u;
    uint base = row * w4n;
#ifdef LAYERNORM
    vec4 s = vec4(0.0);
    for (uint i = t; i < w4n; i += wg)
      s += x4[base + i];
    float mean = workgroup_sum((s.x + s.y) + (s.z + s.w)) / n;
    vec4 q = vec4(0.0);
    for (uint i = t; i < w4n; i += wg) {
      vec4 d = x4[base + i] - mean;
      q += d * d;
    }
    float r = inversesqrt(workgroup_sum((q.x + q.y) + (q.z + q.w)) / n + p.eps);
    for (uint i = t; i < w4n; i += wg)
      y4[base + i] = ((x4[base + i] - mean) * r) * w4[i] + b4[i];
#else
    vec4 q = vec4(0.0);
    for (uint i = t; i < w4n; i += wg) {
      vec4 v = x4[base + i];
      q += v * v;
    }
    float r = inversesqrt(workgroup_sum((q.x + q.y) + (q.z + q.w)) / n + p.eps);
    for (uint i = t; i < w4n; i += wg)
      y4[base + i] = (x4[base + i] * r) * w4[i];
#endif
  } else {
    uint base = row * p.width;
#ifdef LAYERNORM
    float s = 0.0;
    for (uint i = t; i < p.width; i += wg)
      s += x[base + i];
    float mean = workgroup_sum(s) / n;
    float q = 0.0;
    for (uint i = t; i < p.width; i += wg) {
      float d = x[base + i] - mean;
      q += d * d;
    }
    float r = inversesqrt(workgroup_sum(q) / n + p.eps);
    for (uint i = t; i < p.width; i += wg)
      y[base + i] = ((x[base + i] - mean) * r) * w[i] + b[i];
#else
    float q = 0.0;
    for (uint i = t; i < p.width; i += wg) {
      float v = x[base + i];
      q += v * v;
    }
    float r = inversesqrt(workgroup_sum(q) / n + p.eps);
    for (uint i = t; i < p.width; i += wg)
      y[base + i] = (x[base + i] * r) * w[i];
#endif
  }
}
