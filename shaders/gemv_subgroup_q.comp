#version 450
// GEMV over packed weights, GPU style (see gemv_subgroup.comp): each subgroup computes whole output
// columns, one weight row at a time; its lanes stride along the row one word (P inputs) at a time, so
// a subgroup reads a row's words and group words in contiguous chunks, and serves up to 4 rows of X
// per pass over the weights. Partial dot products are combined with subgroupAdd.
//
//   Y[r, col0 + j] = Σ_k X[r, k] · W[j, k]   (+ bias, + residual; see matmul_quant.glsl)
//
// Needs K % P == 0 (every packed matrix has it).
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"
#include "matmul_quant.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint ROWS = 4; // weight rows per workgroup
// Every word lies in one group: the per-input path is compiled out (see gemv_texel_q.comp).
layout(constant_id = 2) const bool ONE_GROUP = true;

layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 1) readonly buffer Words { uint words[]; };

// Σ over one word of row r of X: inputs k0 .. k0 + P − 1 (k0 a multiple of 4: 16-byte loads of X).
float word_dot(uint r, uint k0, vec4 lo, vec4 hi) {
  uint t = (r * p.k + k0) / 4u;
#if BITS == 4
  return dot(x4[t], lo) + dot(x4[t + 1u], hi);
#else
  return dot(x4[t], lo);
#endif
}

void main() {
  uint lanes = subgroupAdd(1u); // the lanes really active: robust to partial subgroups
  uint lane = subgroupExclusiveAdd(1u);
  uint row_words = p.k / P;

  for (uint rw = gl_SubgroupID; rw < ROWS; rw += gl_NumSubgroups) {
    uint j = flat_group_index() * ROWS + rw; // uniform within the subgroup
    if (j >= p.n)
      break;
    for (uint r = 0; r < p.m; r += 4u) {
      uint rows = min(p.m - r, 4u);
      float s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
      for (uint t = lane; t < row_words; t += lanes) {
        uint k0 = t * P;
        vec4 lo, hi;
        if (ONE_GROUP)
          dequant_word(words[j * row_words + t], group_params(j, k0 / p.group_width), lo, hi);
        else
          dequant_word_each(words[j * row_words + t], j, k0, lo, hi);
        s0 += word_dot(r, k0, lo, hi);
        if (rows > 1u)
          s1 += word_dot(r + 1u, k0, lo, hi);
        if (rows > 2u)
          s2 += word_dot(r + 2u, k0, lo, hi);
        if (rows > 3u)
          s3 += word_dot(r + 3u, k0, lo, hi);
      }
      s0 = subgroupAdd(s0);
      s1 = subgroupAdd(s1);
      s2 = subgroupAdd(s2);
      s3 = subgroupAdd(s3);
      if (lane == 0u) {
        store_output(r, j, s0);
        if (rows > 1u)
          store_output(r + 1u, j, s1);
        if (rows > 2u)
          store_output(r + 2u, j, s2);
        if (rows > 3u)
          store_output(r + 3u, j, s3);
      }
    }
  }
}
