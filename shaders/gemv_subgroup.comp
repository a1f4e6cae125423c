#version 450
// GEMV, GPU style: each subgroup computes whole output columns (one weight row at a time). Its lanes
// stride along the row with 16-byte loads (8 bf16/f16 or 4 f32 weights per load), so a subgroup
// reads a row in contiguous, coalesced chunks and every weight is read once per 4 rows of X; the
// per-lane partial dot products are combined with subgroupAdd. For M = 1 each lane keeps four
// 16-byte loads in flight, so even a matrix with few rows (1536) has enough bytes in flight to
// stream at DRAM speed on a large GPU.
//
//   Y[r, col0 + j] = Σ_k X[r, k] · Wwin[j, k]   (+ bias, + residual; see matmul_common.glsl)
//
// VEC (specialization constant) selects the 16-byte path; the host sets it only when every row
// starts on a 16-byte boundary (K·dtype size % 16 == 0). Otherwise each lane reads single weights,
// which works for any K.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"
#include "matmul_common.glsl"
#include "matmul_ssbo.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint ROWS = 4; // weight rows per workgroup
layout(constant_id = 2) const bool VEC = true;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };

#if defined(WEIGHT_F32)
const uint GROUP = 4u; // weights per 16-byte load
void load_group(uint index, out vec4 lo, out vec4 hi) {
  lo = w4[index];
  hi = vec4(0.0);
}
float group_dot(uint r, uint g, vec4 lo, vec4 hi) { return dot(x4[r * (p.k / 4u) + g], lo); }
#else
const uint GROUP = 8u;
void load_group(uint index, out vec4 lo, out vec4 hi) { unpack8(w4[index], lo, hi); }
float group_dot(uint r, uint g, vec4 lo, vec4 hi) {
  uint t = r * (p.k / 4u) + 2u * g;
  return dot(x4[t], lo) + dot(x4[t + 1u], hi);
}
#endif

void main() {
  // Count the lanes that are really active: robust to partial subgroups.
  uint lanes = subgroupAdd(1u);
  uint lane = subgroupExclusiveAdd(1u);
  uint groups = p.k / GROUP; // 16-byte loads per row (VEC only)

  for (uint rw = gl_SubgroupID; rw < ROWS; rw += gl_NumSubgroups) {
    uint j = flat_group_index() * ROWS + rw; // uniform within the subgroup
    if (j >= p.n)
      break;
    uint r = 0;
    for (; r + 4u <= p.m; r += 4u) {
      float s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
      if (VEC) {
        for (uint g = lane; g < groups; g += lanes) {
          vec4 lo, hi;
          load_group(j * groups + g, lo, hi);
          s0 += group_dot(r, g, lo, hi);
          s1 += group_dot(r + 1u, g, lo, hi);
          s2 += group_dot(r + 2u, g, lo, hi);
          s3 += group_dot(r + 3u, g, lo, hi);
        }
      } else {
        for (uint k = lane; k < p.k; k += lanes) {
          float wv = weight_at(j * p.k + k);
          s0 = fma(x[r * p.k + k], wv, s0);
          s1 = fma(x[(r + 1u) * p.k + k], wv, s1);
          s2 = fma(x[(r + 2u) * p.k + k], wv, s2);
          s3 = fma(x[(r + 3u) * p.k + k], wv, s3);
        }
      }
      s0 = subgroupAdd(s0);
      s1 = subgroupAdd(s1);
      s2 = subgroupAdd(s2);
      s3 = subgroupAdd(s3);
      if (lane == 0u) {
        store_output(r, j, s0);
        store_output(r + 1u, j, s1);
        store_output(r + 2u, j, s2);
        store_output(r + 3u, j, s3);
      }
    }
    for (; r < p.m; r++) {
      float s = 0.0, t = 0.0; // two chains, four loads in flight per lane
      if (VEC) {
        uint g = lane;
        for (; g + 3u * lanes < groups; g += 4u * lanes) {
          vec4 lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3;
          load_group(j * groups + g, lo0, hi0);
          load_group(j * groups + g + lanes, lo1, hi1);
          load_group(j * groups + g + 2u * lanes, lo2, hi2);
          load_group(j * groups + g + 3u * lanes, lo3, hi3);
          s += group_dot(r, g, lo0, hi0) + group_dot(r, g + 2u * lanes, lo2, hi2);
          t += group_dot(r, g + lanes, lo1, hi1) + group_dot(r, g + 3u * lanes, lo3, hi3);
        }
        for (; g < groups; g += lanes) {
          vec4 lo, hi;
          load_group(j * groups + g, lo, hi);
          s += group_dot(r, g, lo, hi);
        }
      } else {
        for (uint k = lane; k < p.k; k += lanes)
          s = fma(x[r * p.k + k], weight_at(j * p.k + k), s);
      }
      s = subgroupAdd(s + t);
      if (lane == 0u)
        store_output(r, j, s);
    }
  }
}
