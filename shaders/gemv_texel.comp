#version 450
// GEMV, lavapipe style: texel-buffer reads, no shared memory. A subgroup computes RW output columns
// (RW weight rows) at a time: its lanes split K (lane l takes the 8-input steps l, l + lanes, ...),
// each lane keeps RW partial sums, and one subgroupAdd per column combines them.
//
//   Y[r, col0 + j] = Σ_k X[r, k] · Wwin[j, k]   (+ bias, + residual; see matmul_common.glsl)
//
// Why this shape (measured on lavapipe, platform-notes §3): a CPU driver pays about the same for
// every lane's texel fetch wherever it points, so the cost is the number of fetches. Each step
// fetches 2 input texels, shared by the RW weight rows, and RW weight texels: 1.25 fetches per
// weight texel at RW = 8 instead of 3 with one row per invocation. Splitting K over the lanes keeps
// the subgroup on RW contiguous row streams (one row per lane would be 8·RW streams, which thrashed
// the prefetchers as RW grew). Each pass over the weights serves one row of X, so M rows of X read
// the weights M times (from cache when the RW rows fit in it).
//
// Needs K % 8 == 0 (16-bit weights) or K % 4 == 0 (f32 weights).
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"
#include "matmul_common.glsl"
#include "matmul_texel.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint ROWS = 64; // weight rows per workgroup, a multiple of RW
layout(constant_id = 2) const uint RW = 8;    // weight rows per subgroup pass

void main() {
  // Count the lanes that are really active: robust to partial subgroups.
  uint lanes = subgroupAdd(1u);
  uint lane = subgroupExclusiveAdd(1u);
  uint k_texels = p.k / WEIGHTS_PER_TEXEL; // W row stride in texels
  uint steps = p.k / 8u;                   // whole 8-input steps

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
        vec4 xlo, xhi;
        load_inputs(r, s, xlo, xhi);
        [[unroll]] for (uint c = 0; c < RW; c++) {
          vec4 wlo, whi;
          load_weights(jj[c], s, k_texels, wlo, whi);
          acc[c] += dot(xlo, wlo) + dot(xhi, whi);
        }
      }
#if defined(WEIGHT_F32)
      if ((p.k & 7u) != 0u && lane == 0u) { // K % 8 == 4: one last 4-input step
        uint t = 2u * steps;
        vec4 xv = texelFetch(x_texels, int(r * k_texels + t));
        [[unroll]] for (uint c = 0; c < RW; c++)
          acc[c] += dot(xv, texelFetch(w_texels, int(jj[c] * k_texels + t)));
      }
#endif
      [[unroll]] for (uint c = 0; c < RW; c++) {
        float sum = subgroupAdd(acc[c]);
        if (lane == 0u && j0 + c < p.n)
          store_output(r, j0 + c, sum);
      }
    }
  }
}
