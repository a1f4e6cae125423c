#version 450
// GEMM, lavapipe style: each invocation computes a 4×4 register block of Y (4 rows of X × 4 weight
// rows), reading X and W through texel buffers; no shared memory, no barriers. Per 8-input step it
// fetches 4 weight texels and 8 input texels for 128 multiply-adds.
//
//   Y[r, col0 + j] = Σ_k X[r, k] · Wwin[j, k]   (+ bias, + residual; see matmul_common.glsl)
//
// Grid: x over blocks of 4 output columns, y over blocks of 4 rows. Edge blocks clamp their reads
// to the last row/column and skip the stores outside Y.
// Needs K % 8 == 0 (16-bit weights) or K % 4 == 0 (f32 weights).
#include "common.glsl"
#include "matmul_common.glsl"
#include "matmul_texel.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1) in;

void main() {
  uint j0 = gl_GlobalInvocationID.x * 4u;
  uint r0 = gl_GlobalInvocationID.y * 4u;
  if (j0 >= p.n || r0 >= p.m)
    return;
  uint k_texels = p.k / WEIGHTS_PER_TEXEL;
  uint steps = p.k / 8u;

  uint jj[4], rr[4];
  [[unroll]] for (uint i = 0; i < 4u; i++) {
    jj[i] = min(j0 + i, p.n - 1u);
    rr[i] = min(r0 + i, p.m - 1u);
  }

  float acc[16];
  [[unroll]] for (uint i = 0; i < 16u; i++)
    acc[i] = 0.0;

  for (uint s = 0; s < steps; s++) {
    vec4 wlo[4], whi[4];
    [[unroll]] for (uint c = 0; c < 4u; c++)
      load_weights(jj[c], s, k_texels, wlo[c], whi[c]);
    [[unroll]] for (uint r = 0; r < 4u; r++) {
      vec4 xlo, xhi;
      load_inputs(rr[r], s, xlo, xhi);
      [[unroll]] for (uint c = 0; c < 4u; c++)
        acc[r * 4u + c] += dot(xlo, wlo[c]) + dot(xhi, whi[c]);
    }
  }
#if defined(WEIGHT_F32)
  if ((p.k & 7u) != 0u) { // K % 8 == 4: one last 4-input step
    uint t = 2u * steps;
    vec4 wv[4];
    [[unroll]] for (uint c = 0; c < 4u; c++)
      wv[c] = texelFetch(w_texels, int(jj[c] * k_texels + t));
    [[unroll]] for (uint r = 0; r < 4u; r++) {
      vec4 xv = texelFetch(x_texels, int(rr[r] * k_texels + t));
      [[unroll]] for (uint c = 0; c < 4u; c++)
        acc[r * 4u + c] += dot(xv, wv[c]);
    }
  }
#endif

  [[unroll]] for (uint r = 0; r < 4u; r++)
    [[unroll]] for (uint c = 0; c < 4u; c++)
      if (r0 + r < p.m && j0 + c < p.n)
        store_output(r0 + r, j0 + c, acc[r * 4u + c]);
}
