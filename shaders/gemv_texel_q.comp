#version 450
// GEMV over packed weights, lavapipe style (see gemv_texel.comp for the shape): a subgroup computes RW
// output columns at a time, its lanes splitting K into texel steps (4 words = 4P inputs: 32 at 4 bits,
// 16 at 8 bits), each lane keeping RW partial sums that one subgroupAdd per column combines. Per step
// a lane fetches the step's 4P/4 input texels once for the RW rows, then per row one word texel and
// (when the step lies in one group) one group word, and dequantizes in registers.
//
//   Y[r, col0 + j] = Σ_k X[r, k] · W[j, k]   (+ bias, + residual; see matmul_quant.glsl)
//
// Needs K % 4P == 0.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#define TEXEL
#include "common.glsl"
#include "matmul_quant.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint ROWS = 64; // weight rows per workgroup, a multiple of RW
layout(constant_id = 2) const uint RW = 8;    // weight rows per subgroup pass
// Every texel step lies in one group (no g_idx, group width a multiple of 4P): a constant, so the per-input
// path is compiled out
// of the fast kernel (as a run-time branch it made lavapipe's kernel ~20x slower).
layout(constant_id = 3) const bool ONE_GROUP = true;

layout(binding = 0) uniform samplerBuffer x_texels;
layout(binding = 1) uniform usamplerBuffer w_texels;

const uint XT = P; // input texels per step: 4P inputs / 4

// Σ over one step of one row: word texel `wt` of row j, inputs k0 .. k0 + 4P − 1 in xv.
float step_dot(uint j, uint k0, uvec4 wt, vec4 xv[XT]) {
  float acc = 0.0;
  vec2 sz = ONE_GROUP ? group_params(j, k0 / p.group_width) : vec2(0.0);
  [[unroll]] for (uint u = 0; u < 4u; u++) {
    vec4 lo, hi;
    if (ONE_GROUP)
      dequant_word(wt[u], sz, lo, hi);
    else
      dequant_word_each(wt[u], j, k0 + u * P, lo, hi);
#if BITS == 4
    acc += dot(xv[2u * u], lo) + dot(xv[2u * u + 1u], hi);
#else
    acc += dot(xv[u], lo);
#endif
  }
  return acc;
}

void main() {
  uint lanes = subgroupAdd(1u); // the lanes really active: robust to partial subgroups
  uint lane = subgroupExclusiveAdd(1u);
  uint steps = p.k / (4u * P); // = W row stride in texels
  uint x_row_texels = p.k / 4u;

  for (uint b = gl_SubgroupID * RW; b < ROWS; b += gl_NumSubgroups * RW) {
    uint j0 = flat_group_index() * ROWS + b; // uniform within the subgroup
    if (j0 >= p.n)
      break;
    uint jj[RW]; // rows past the window's end re-read the last row; their sums are not stored
    [[unroll]] for (uint c = 0; c < RW; c++)
      jj[c] = min(j0 + c, p.n - 1u);

    for (uint r = 0; r < p.m; r++) {
      float acc[RW];
      [[unroll]] for (uint c = 0; c < RW; c++)
        acc[c] = 0.0;
      for (uint s = lane; s < steps; s += lanes) {
        vec4 xv[XT];
        [[unroll]] for (uint i = 0; i < XT; i++)
          xv[i] = texelFetch(x_texels, int(r * x_row_texels + s * XT + i));
        [[unroll]] for (uint c = 0; c < RW; c++)
          acc[c] += step_dot(jj[c], s * 4u * P, texelFetch(w_texels, int(jj[c] * steps + s)), xv);
      }
      [[unroll]] for (uint c = 0; c < RW; c++) {
        float sum = subgroupAdd(acc[c]);
        if (lane == 0u && j0 + c < p.n)
          store_output(r, j0 + c, sum);
      }
    }
  }
}
