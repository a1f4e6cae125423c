#version 450
// GEMM over packed weights, lavapipe style (see gemm_texel.comp): each invocation computes a BR×BC
// register block of Y. Per texel step (4 words = 4P inputs) it fetches BC word texels and, when the
// step lies in one group, BC group words; then word by word it dequantizes the BC columns in
// registers once and uses them for all BR rows of X.
//
//   Y[r, col0 + j] = Σ_k X[r, k] · W[j, k]   (+ bias, + residual; see matmul_quant.glsl)
//
// Grid: x over blocks of BC output columns, y over blocks of BR rows; edge blocks clamp their reads
// and skip the stores outside Y. Needs K % 4P == 0.
#define TEXEL
#include "common.glsl"
#include "matmul_quant.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1) in;
layout(constant_id = 2) const uint BR = 4; // rows of X per invocation
layout(constant_id = 3) const uint BC = 4; // weight rows (output columns) per invocation
// Every texel step lies in one group (see gemv_texel_q.comp): the per-input path is compiled out.
layout(constant_id = 4) const bool ONE_GROUP = true;

layout(binding = 0) uniform samplerBuffer x_texels;
layout(binding = 1) uniform usamplerBuffer w_texels;

void main() {
  uint j0 = gl_GlobalInvocationID.x * BC;
  uint r0 = gl_GlobalInvocationID.y * BR;
  if (j0 >= p.n || r0 >= p.m)
    return;
  uint steps = p.k / (4u * P);
  uint x_row_texels = p.k / 4u;

  uint jj[BC], rr[BR];
  [[unroll]] for (uint c = 0; c < BC; c++)
    jj[c] = min(j0 + c, p.n - 1u);
  [[unroll]] for (uint r = 0; r < BR; r++)
    rr[r] = min(r0 + r, p.m - 1u);

  float acc[BR * BC];
  [[unroll]] for (uint i = 0; i < BR * BC; i++)
    acc[i] = 0.0;

  for (uint s = 0; s < steps; s++) {
    uint k0 = s * 4u * P;
    uvec4 wt[BC];
    vec2 sz[BC];
    [[unroll]] for (uint c = 0; c < BC; c++) {
      wt[c] = texelFetch(w_texels, int(jj[c] * steps + s));
      sz[c] = ONE_GROUP ? group_params(jj[c], k0 / p.group_width) : vec2(0.0);
    }
    [[unroll]] for (uint u = 0; u < 4u; u++) {
      vec4 wlo[BC], whi[BC];
      if (ONE_GROUP) {
        [[unroll]] for (uint c = 0; c < BC; c++)
          dequant_word(wt[c][u], sz[c], wlo[c], whi[c]);
      } else {
        [[dont_unroll]] for (uint c = 0; c < BC; c++)
          dequant_word_each(wt[c][u], jj[c], k0 + u * P, wlo[c], whi[c]);
      }
      [[unroll]] for (uint r = 0; r < BR; r++) {
#if BITS == 4
        uint t = rr[r] * x_row_texels + s * P + 2u * u;
        vec4 xlo = texelFetch(x_texels, int(t)), xhi = texelFetch(x_texels, int(t + 1u));
        [[unroll]] for (uint c = 0; c < BC; c++)
          acc[r * BC + c] += dot(xlo, wlo[c]) + dot(xhi, whi[c]);
#else
        vec4 xv = texelFetch(x_texels, int(rr[r] * x_row_texels + s * P + u));
        [[unroll]] for (uint c = 0; c < BC; c++)
          acc[r * BC + c] += dot(xv, wlo[c]);
#endif
      }
    }
  }

  [[unroll]] for (uint r = 0; r < BR; r++)
    [[unroll]] for (uint c = 0; c < BC; c++)
      if (r0 + r < p.m && j0 + c < p.n)
        store_output(r0 + r, j0 + c, acc[r * BC + c]);
}
