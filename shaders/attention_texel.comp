#version 450
// Flash attention for CPU Vulkan drivers (lavapipe): one lane owns a whole slot block (BQ queries that
// share a kv head, see attention_common.glsl) with its q and output rows held in registers, and walks
// the keys BK at a time with an online softmax (running max m and sum l per query, f32). Every load
// goes through uniform texel buffers (RGBA32F, 4 floats a fetch), which llvmpipe vectorises; there is
// no shared memory and no barrier. The work per fetched K/V texel is BQ dot-product or axpy steps.
//
// SPLIT = 1 (few blocks, e.g. a decode step): a whole subgroup works on one block, its lanes taking
// consecutive shares of the key range, and the partial (m, l, acc) are merged with shuffles.
// SPLIT = 0: one lane per block.
//
// Code size matters on llvmpipe: its compile time grows faster than linearly with the unrolled body
// (BQ·HD/4·BK vec4 steps) and the number of basic blocks, so the loops over head dimensions are unrolled
// but BQ and BK stay small (see ops_attention.c for the measured trade-off).
//
// Bindings, CAUSAL: 0 q (t), 1 K cache (t), 2 V cache (t), 3 seq (t, R32_UINT), 4 out (w).
//           GROUPS: 0 q, 1 k, 2 v (t, windows of qkv), 3 cu_seqlens (t, R32_SINT), 4 out (w).
// out: [rows, heads·HD] f32. K and V are RGBA32F views (4 floats a texel), or with KV_F16 (CAUSAL only:
// an f16 cache, see kv_store.comp) RGBA32UI views of 8 halves a texel, widened to f32 as they are read.
#extension GL_KHR_shader_subgroup_basic : enable
#extension GL_KHR_shader_subgroup_arithmetic : enable
#extension GL_KHR_shader_subgroup_shuffle : enable
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint HD = 128;  // head_dim: a multiple of 8, at most 256
layout(constant_id = 2) const uint BQ = 4;    // query slots per block
layout(constant_id = 3) const uint SPLIT = 0; // 1: a subgroup shares a block (see above)
layout(constant_id = 4) const uint BK = 4;    // keys per step
const uint HD4 = HD / 4u;

#define META_TEXEL
#include "attention_common.glsl"

layout(binding = 0) uniform samplerBuffer q_tex;
layout(std430, binding = 4) writeonly buffer Out { vec4 out4[]; };

// Elements 4d .. 4d+7 of a K or V row whose first element is element 0 of texel `base`, as two vec4
// (d even: the loops below take head dimensions 8 at a time, whatever the storage).
#if defined(KV_F16)
layout(binding = 1) uniform usamplerBuffer k_tex;
layout(binding = 2) uniform usamplerBuffer v_tex;
const uint KV_PER_TEXEL = 8u;
void unpack_halves(uvec4 w, out vec4 lo, out vec4 hi) {
  lo = vec4(unpackHalf2x16(w.x), unpackHalf2x16(w.y));
  hi = vec4(unpackHalf2x16(w.z), unpackHalf2x16(w.w));
}
void load_k8(int base, uint d, out vec4 lo, out vec4 hi) { unpack_halves(texelFetch(k_tex, base + int(d / 2u)), lo, hi); }
void load_v8(int base, uint d, out vec4 lo, out vec4 hi) { unpack_halves(texelFetch(v_tex, base + int(d / 2u)), lo, hi); }
#else
layout(binding = 1) uniform samplerBuffer k_tex;
layout(binding = 2) uniform samplerBuffer v_tex;
const uint KV_PER_TEXEL = 4u;
void load_k8(int base, uint d, out vec4 lo, out vec4 hi) {
  lo = texelFetch(k_tex, base + int(d));
  hi = texelFetch(k_tex, base + int(d) + 1);
}
void load_v8(int base, uint d, out vec4 lo, out vec4 hi) {
  lo = texelFetch(v_tex, base + int(d));
  hi = texelFetch(v_tex, base + int(d) + 1);
}
#endif

void main() {
  uint block, part, parts;
  if (SPLIT != 0u) {
    block = flat_group_index() * gl_NumSubgroups + gl_SubgroupID;
    // The butterfly merge below needs every lane of the subgroup. Should a device run a partly filled
    // subgroup (a subgroup wider than the workgroup), its first lane takes the whole block instead.
    bool full = subgroupAdd(1u) == gl_SubgroupSize;
    parts = full ? gl_SubgroupSize : 1u;
    part = full ? gl_SubgroupInvocationID : (subgroupElect() ? 0u : 1u);
  } else {
    block = flat_group_index() * gl_WorkGroupSize.x + gl_LocalInvocationIndex;
    parts = 1u;
    part = 0u;
  }
  uint kvh = kv_head_of(block);

  // Per slot: q (pre-scaled, log2 units), the visible key range, running max / sum / output.
  vec4 q[BQ * HD4];
  vec4 acc[BQ * HD4];
  float m[BQ], l[BQ];
  uint lo[BQ], hi[BQ];
  block_keys(block, lo, hi);
  uint begin = 0xffffffffu, end = 0u;
  float qscale = inversesqrt(float(HD)) * LOG2E;
  [[unroll]] for (uint i = 0u; i < BQ; i++) {
    uint row, head;
    bool in_use = slot_of(block, i, row, head);
    bool any_key = lo[i] < hi[i];
    begin = any_key ? min(begin, lo[i]) : begin;
    end = any_key ? max(end, hi[i]) : end;
    int qbase = int(q_index(in_use ? row : 0u, in_use ? head : 0u) / 4u);
    [[unroll]] for (uint d = 0u; d < HD4; d++) {
      q[i * HD4 + d] = texelFetch(q_tex, qbase + int(d)) * qscale;
      acc[i * HD4 + d] = vec4(0.0);
    }
    m[i] = NO_SCORE;
    l[i] = 0.0;
  }
  if (begin >= end)
    begin = end = 0u;

  // This lane's share of the block's keys.
  uint share = (end - begin + parts - 1u) / parts;
  uint t_begin = min(end, begin + part * share);
  uint t_end = min(end, t_begin + share);

  for (uint t0 = t_begin; t0 < t_end; t0 += BK) {
    int kbase[BK], vbase[BK];
    [[unroll]] for (uint j = 0u; j < BK; j++) {
      uint t = min(t0 + j, t_end - 1u);  // past the end: a valid key, masked below
      kbase[j] = int(k_index(t, kvh) / KV_PER_TEXEL);
      vbase[j] = int(v_index(t, kvh) / KV_PER_TEXEL);
    }
    float s[BQ * BK];
    [[unroll]] for (uint x = 0u; x < BQ * BK; x++)
      s[x] = 0.0;
    [[unroll]] for (uint d = 0u; d < HD4; d += 2u) {
      vec4 k_lo[BK], k_hi[BK];
      [[unroll]] for (uint j = 0u; j < BK; j++)
        load_k8(kbase[j], d, k_lo[j], k_hi[j]);
      [[unroll]] for (uint i = 0u; i < BQ; i++)
        [[unroll]] for (uint j = 0u; j < BK; j++) {
          s[i * BK + j] += dot(q[i * HD4 + d], k_lo[j]);
          s[i * BK + j] += dot(q[i * HD4 + d + 1u], k_hi[j]);
        }
    }

    // Online softmax: s becomes the weights p = 2^(s − m_new); alpha rescales the old sums.
    float alpha[BQ];
    [[unroll]] for (uint i = 0u; i < BQ; i++) {
      float m_new = m[i];
      [[unroll]] for (uint j = 0u; j < BK; j++) {
        uint t = t0 + j;
        bool seen = t < t_end && t >= lo[i] && t < hi[i];
        s[i * BK + j] = seen ? s[i * BK + j] : NO_SCORE;
        m_new = max(m_new, s[i * BK + j]);
      }
      alpha[i] = exp2(m[i] - m_new);
      float sum = 0.0;
      [[unroll]] for (uint j = 0u; j < BK; j++) {
        float w = s[i * BK + j] == NO_SCORE ? 0.0 : exp2(s[i * BK + j] - m_new);
        s[i * BK + j] = w;
        sum += w;
      }
      l[i] = l[i] * alpha[i] + sum;
      m[i] = m_new;
    }

    [[unroll]] for (uint d = 0u; d < HD4; d += 2u) {
      vec4 v_lo[BK], v_hi[BK];
      [[unroll]] for (uint j = 0u; j < BK; j++)
        load_v8(vbase[j], d, v_lo[j], v_hi[j]);
      [[unroll]] for (uint i = 0u; i < BQ; i++) {
        vec4 a = acc[i * HD4 + d] * alpha[i];
        vec4 b = acc[i * HD4 + d + 1u] * alpha[i];
        [[unroll]] for (uint j = 0u; j < BK; j++) {
          a += s[i * BK + j] * v_lo[j];
          b += s[i * BK + j] * v_hi[j];
        }
        acc[i * HD4 + d] = a;
        acc[i * HD4 + d + 1u] = b;
      }
    }
  }

  if (parts > 1u) {
    // Merge the lanes' partial results pairwise (butterfly): rescale both to the common max, then add.
    // Shuffles rather than subgroupAdd: on llvmpipe they compile to much less code.
    for (uint mask = 1u; mask < parts; mask <<= 1) {
      [[unroll]] for (uint i = 0u; i < BQ; i++) {
        float m_other = subgroupShuffleXor(m[i], mask);
        float m_all = max(m[i], m_other);
        float a = exp2(m[i] - m_all), b = exp2(m_other - m_all);
        l[i] = l[i] * a + subgroupShuffleXor(l[i], mask) * b;
        m[i] = m_all;
        [[unroll]] for (uint d = 0u; d < HD4; d++)
          acc[i * HD4 + d] = acc[i * HD4 + d] * a + subgroupShuffleXor(acc[i * HD4 + d], mask) * b;
      }
    }
  }

  if (part == 0u) {
    [[unroll]] for (uint i = 0u; i < BQ; i++) {
      uint row, head;
      if (!slot_of(block, i, row, head))
        continue;
      // A query with no visible key (all masked) gets zeros rather than 0/0.
      float inv = l[i] > 0.0 ? 1.0 / l[i] : 0.0;
      uint obase = (row * p.heads + head) * HD4;
      [[unroll]] for (uint d = 0u; d < HD4; d++)
        out4[obase + d] = acc[i * HD4 + d] * inv;
    }
  }
}
