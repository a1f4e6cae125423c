#version 450
// y[i] = a[i] + b[i], f32, i < n.
#include "common.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push { uint n; } p;

void main() {
  uint i = flat_group_index() * 256u + gl_LocalInvocationID.x;
  if (i < p.n)
    y[i] = a[i] + b[i];
}
