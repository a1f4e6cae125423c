#version 450
// Element-wise activations, f32, n elements (this dispatch's window); Y may alias X.
//   -DQUICK_GELU  y = x · sigmoid(1.702x)
//   -DGELU        y = 0.5 · x · (1 + erf(x/√2))   (exact GELU)
//   -DERF         y = erf(x)                      (the shader erf, checked against C's erf by the tests)
#include "common.glsl"
#include "erf.glsl"

layout(local_size_x = 256) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push { uint n; } p;

void main() {
  uint i = flat_group_index() * 256u + gl_LocalInvocationID.x;
  if (i >= p.n)
    return;
  float v = x[i];
#if defined(QUICK_GELU)
  y[i] = v / (1.0 + exp(-1.702 * v));
#elif defined(GELU)
  y[i] = gelu_f32(v);
#elif defined(ERF)
  y[i] = erf_f32(v);
#else
#error "define QUICK_GELU, GELU or ERF"
#endif
}
