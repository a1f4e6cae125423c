#version 450
// GEMM, lavapipe style: each invocation computes a BR×BC register block of Y (BR rows of X × BC
// weight rows), reading X and W through texel buffers; no shared memory, no barriers. Per 8-input
// step it fetches BC weight texels and 2·BR input texels for 16·BR·BC flops (on a CPU driver each
// lane's fetch costs about the same whatever the address, so bigger blocks mean fewer fetches per
// flop, until the accumulators spill).
//
//   Y[r, col0 + j] = Σ_k X[r, k] · Wwin[j, k]   (+ bias, + residual; see matmul_common.glsl)
//
// Grid: x over blocks of BC output columns, y over blocks of BR rows. Edge blocks clamp their reads
// to the last row/column and skip the stores outside Y.
// Needs K % 8 == 0 (16-bit weights) or K % 4 == 0 (f32 weights).
#include "common.glsl"
#include "matmul_common.glsl"
#include "matmul_texel.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1) in;
layout(constant_id = 2) const uint BR = 4; // rows of X per invocation
layout(constant_id = 3) const uint BC = 4; // weight rows (output columns) per invocation

void main() {
  uint j0 = gl_GlobalInvocationID.x * BC;
  uint r0 = gl_GlobalInvocationID.y * BR;
  if (j0 >= p.n || r0 >= p.m)
    return;
  uint k_texels = p.k / WEIGHTS_PER_TEXEL;
  uint steps = p.k / 8u;

  uint jj[BC], rr[BR];
  [[unroll]] for (uint c = 0; c < BC; c++)
    jj[c] = min(j0 + c, p.n - 1u);
  [[unroll]] for (uint r = 0; r < BR; r++)
    rr[r] = min(r0 + r, p.m - 1u);

  float acc[BR * BC];
  [[unroll]] for (uint i = 0; i < BR * BC; i++)
    acc[i] = 0.0;

  for (uint s = 0; s < steps; s++) {
    vec4 wlo[BC], whi[BC];
    [[unroll]] for (uint c = 0; c < BC; c++)
      load_weights(jj[c], s, k_texels, wlo[c], whi[c]);
    [[unroll]] for (uint r = 0; r < BR; r++) {
      vec4 xlo, xhi;
      load_inputs(rr[r], s, xlo, xhi);
      [[unroll]] for (uint c = 0; c < BC; c++)
        acc[r * BC + c] += dot(xlo, wlo[c]) + dot(xhi, whi[c]);
    }
  }
#if defined(WEIGHT_F32)
  if ((p.k & 7u) != 0u) { // K % 8 == 4: one last 4-input step
    uint t = 2u * steps;
    vec4 wv[BC];
    [[unroll]] for (uint c = 0; c < BC; c++)
      wv[c] = texelFetch(w_texels, int(jj[c] * k_texels + t));
    [[unroll]] for (uint r = 0; r < BR; r++) {
      vec4 xv = texelFetch(x_texels, int(rr[r] * k_texels + t));
      [[unroll]] for (uint c = 0; c < BC; c++)
        acc[r * BC + c] += dot(xv, wv[c]);
    }
  }
#endif

  [[unroll]] for (uint r = 0; r < BR; r++)
    [[unroll]] for (uint c = 0; c < BC; c++)
      if (r0 + r < p.m && j0 + c < p.n)
        store_output(r0 + r, j0 + c, acc[r * BC + c]);
}
