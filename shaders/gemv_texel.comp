#version 450
// GEMV, lavapipe style: one invocation per output column (one weight row), reading the row and the
// input vector through texel buffers, no shared memory and no cross-lane work. Each pass over the
// weights serves up to 4 rows of X, so small M reads the weights ceil(M/4) times.
//
//   Y[r, col0 + j] = Σ_k X[r, k] · Wwin[j, k]   (+ bias, + residual; see matmul_common.glsl)
//
// Needs K % 8 == 0 (16-bit weights) or K % 4 == 0 (f32 weights).
#include "common.glsl"
#include "matmul_common.glsl"
#include "matmul_texel.glsl"

layout(local_size_x_id = 0) in;

void main() {
  uint j = flat_group_index() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
  if (j >= p.n)
    return;
  uint k_texels = p.k / WEIGHTS_PER_TEXEL; // W row stride in texels
  uint steps = p.k / 8u;                   // whole 8-input steps
  bool tail4 = (p.k & 7u) != 0u;           // f32 weights only: K % 8 == 4 leaves one 4-input step

  uint r = 0;
  for (; r + 4u <= p.m; r += 4u) {
    vec4 acc0 = vec4(0.0), acc1 = vec4(0.0), acc2 = vec4(0.0), acc3 = vec4(0.0);
    for (uint s = 0; s < steps; s++) {
      vec4 wlo, whi, xlo, xhi;
      load_weights(j, s, k_texels, wlo, whi);
      load_inputs(r, s, xlo, xhi);
      acc0 = fma(xlo, wlo, fma(xhi, whi, acc0));
      load_inputs(r + 1u, s, xlo, xhi);
      acc1 = fma(xlo, wlo, fma(xhi, whi, acc1));
      load_inputs(r + 2u, s, xlo, xhi);
      acc2 = fma(xlo, wlo, fma(xhi, whi, acc2));
      load_inputs(r + 3u, s, xlo, xhi);
      acc3 = fma(xlo, wlo, fma(xhi, whi, acc3));
    }
#if defined(WEIGHT_F32)
    if (tail4) {
      uint t = 2u * steps;
      vec4 wv = texelFetch(w_texels, int(j * k_texels + t));
      acc0 = fma(texelFetch(x_texels, int(r * k_texels + t)), wv, acc0);
      acc1 = fma(texelFetch(x_texels, int((r + 1u) * k_texels + t)), wv, acc1);
      acc2 = fma(texelFetch(x_texels, int((r + 2u) * k_texels + t)), wv, acc2);
      acc3 = fma(texelFetch(x_texels, int((r + 3u) * k_texels + t)), wv, acc3);
    }
#endif
    store_output(r, j, dot(acc0, vec4(1.0)));
    store_output(r + 1u, j, dot(acc1, vec4(1.0)));
    store_output(r + 2u, j, dot(acc2, vec4(1.0)));
    store_output(r + 3u, j, dot(acc3, vec4(1.0)));
  }
  for (; r < p.m; r++) {
    vec4 acc = vec4(0.0);
    for (uint s = 0; s < steps; s++) {
      vec4 wlo, whi, xlo, xhi;
      load_weights(j, s, k_texels, wlo, whi);
      load_inputs(r, s, xlo, xhi);
      acc = fma(xlo, wlo, fma(xhi, whi, acc));
    }
#if defined(WEIGHT_F32)
    if (tail4) {
      uint t = 2u * steps;
      acc = fma(texelFetch(x_texels, int(r * k_texels + t)), texelFetch(w_texels, int(j * k_texels + t)), acc);
    }
#endif
    store_output(r, j, dot(acc, vec4(1.0)));
  }
}
