#version 450
// Flash attention for GPUs: a team of TEAM neighbouring subgroup lanes (8, or the whole subgroup when it is
// smaller: lavapipe at 128 bits has 4) owns a slot block (BQ queries that share a kv head, see
// attention_common.glsl); lane l holds head dimensions l, l + TEAM, l + 2·TEAM, … of q and of the output, so
// each load of a K or V row is TEAM consecutive floats across the team, and a score's partial dot products
// are summed with log2(TEAM) subgroupShuffleXor steps. Keys go BK at a time through an online softmax
// (running max m and sum l per query, f32).
//
// SPLIT = 0 (many blocks, prefill and vision): every team of the workgroup has its own block.
// SPLIT = 1 (few blocks, e.g. a decode step): all TEAMS teams of a workgroup share one block, each
// taking a consecutive share of its keys, and the partial results are merged through shared memory
// (flash-decoding inside one workgroup).
//
// Bindings, CAUSAL: 0 q (r), 1 K cache (r), 2 V cache (r), 3 seq (r), 4 out (w).
//           GROUPS: 0 q, 1 k, 2 v (r, windows of qkv), 3 cu_seqlens (r), 4 out (w).
// out: [rows, heads·HD] f32. TEAM must divide the subgroup size and HD (both powers of two up to 8 here).
#extension GL_KHR_shader_subgroup_basic : enable
#extension GL_KHR_shader_subgroup_arithmetic : enable
#extension GL_KHR_shader_subgroup_shuffle : enable
#include "common.glsl"

layout(local_size_x_id = 0) in;               // TEAMS · TEAM
layout(constant_id = 1) const uint HD = 128;  // head_dim: a multiple of 8, at most 256
layout(constant_id = 2) const uint BQ = 4;    // query slots per block
layout(constant_id = 3) const uint SPLIT = 0; // 1: the workgroup's teams share a block
layout(constant_id = 4) const uint BK = 4;    // keys per step
layout(constant_id = 5) const uint TEAMS = 8; // teams per workgroup
layout(constant_id = 6) const uint TEAM = 8;  // lanes per team: min(8, subgroup size)
const uint DPL = HD / TEAM;                   // head dimensions per lane

#include "attention_common.glsl"

layout(std430, binding = 0) readonly buffer Q { float q_buf[]; };
// K and V element i: f32, or with KV_F16 (CAUSAL only: an f16 cache, see kv_store.comp) halves packed two
// per uint32, element 2w in the low half of word w.
#if defined(KV_F16)
layout(std430, binding = 1) readonly buffer K { uint k_words[]; };
layout(std430, binding = 2) readonly buffer V { uint v_words[]; };
float half_at(uint word, uint i) { vec2 h = unpackHalf2x16(word); return (i & 1u) != 0u ? h.y : h.x; }
float load_k(uint i) { return half_at(k_words[i / 2u], i); }
float load_v(uint i) { return half_at(v_words[i / 2u], i); }
#else
layout(std430, binding = 1) readonly buffer K { float k_buf[]; };
layout(std430, binding = 2) readonly buffer V { float v_buf[]; };
float load_k(uint i) { return k_buf[i]; }
float load_v(uint i) { return v_buf[i]; }
#endif
layout(std430, binding = 4) writeonly buffer Out { float out_buf[]; };

// SPLIT merge: per team the running max and sum of every slot, then one slot's outputs at a time.
shared float merge_m[TEAMS * BQ];
shared float merge_l[TEAMS * BQ];
shared float merge_acc[TEAMS * HD];

void main() {
  // Teams are aligned groups of TEAM lanes of one subgroup, so the shuffles below stay inside a team.
  uint wg_lane = gl_SubgroupID * gl_SubgroupSize + gl_SubgroupInvocationID;
  uint team = wg_lane / TEAM;
  uint lane = gl_SubgroupInvocationID % TEAM;
  uint block, part, parts;
  if (SPLIT != 0u) {
    block = flat_group_index();
    part = team;
    parts = TEAMS;
  } else {
    block = flat_group_index() * TEAMS + team;
    part = 0u;
    parts = 1u;
  }
  uint kvh = kv_head_of(block);

  float q[BQ * DPL];
  float acc[BQ * DPL];
  float m[BQ], l[BQ];
  uint lo[BQ], hi[BQ];
  block_keys(block, lo, hi);
  uint begin = 0xffffffffu, end = 0u;
  float qscale = inversesqrt(float(HD)) * LOG2E;
  [[unroll]] for (uint i = 0u; i < BQ; i++) {
    uint row, head;
    bool in_use = slot_of(block, i, row, head);
    if (lo[i] < hi[i]) {
      begin = min(begin, lo[i]);
      end = max(end, hi[i]);
    }
    uint qbase = q_index(in_use ? row : 0u, in_use ? head : 0u) + lane;
    [[unroll]] for (uint e = 0u; e < DPL; e++) {
      q[i * DPL + e] = q_buf[qbase + e * TEAM] * qscale;
      acc[i * DPL + e] = 0.0;
    }
    m[i] = NO_SCORE;
    l[i] = 0.0;
  }
  if (begin >= end)
    begin = end = 0u;

  uint share = (end - begin + parts - 1u) / parts;
  uint t_begin = min(end, begin + part * share);
  uint t_end = min(end, t_begin + share);
  // The trip count is made the same for the whole subgroup so the shuffles always run in uniform
  // control flow; a team past its own keys masks every score.
  uint steps = subgroupMax((t_end - t_begin + BK - 1u) / BK);

  for (uint step = 0u; step < steps; step++) {
    uint t0 = t_begin + step * BK;
    float s[BQ * BK];
    uint vbase[BK];
    [[unroll]] for (uint j = 0u; j < BK; j++) {
      uint t = t_end > t_begin ? min(t0 + j, t_end - 1u) : 0u;
      uint kbase = k_index(t, kvh) + lane;
      vbase[j] = v_index(t, kvh) + lane;
      float k[DPL];
      [[unroll]] for (uint e = 0u; e < DPL; e++)
        k[e] = load_k(kbase + e * TEAM);
      [[unroll]] for (uint i = 0u; i < BQ; i++) {
        float dot_part = 0.0;
        [[unroll]] for (uint e = 0u; e < DPL; e++)
          dot_part += q[i * DPL + e] * k[e];
        s[i * BK + j] = dot_part;
      }
    }
    [[unroll]] for (uint x = 0u; x < BQ * BK; x++)
      [[unroll]] for (uint mask = 1u; mask < TEAM; mask <<= 1u)
        s[x] += subgroupShuffleXor(s[x], mask);
    // A team past its own keys only keeps the shuffles company. It must not accumulate: its loads may be
    // unwritten rows (a block whose queries see no key reads key 0, left padding that can hold NaN), and a
    // weight of 0 times NaN is NaN. Only a subgroup wider than one team gets here (issue 18: subgroup 16).
    if (t0 >= t_end)
      continue;

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

    [[unroll]] for (uint i = 0u; i < BQ; i++)
      [[unroll]] for (uint e = 0u; e < DPL; e++)
        acc[i * DPL + e] *= alpha[i];
    [[unroll]] for (uint j = 0u; j < BK; j++) {
      [[unroll]] for (uint e = 0u; e < DPL; e++) {
        float v = load_v(vbase[j] + e * TEAM);
        [[unroll]] for (uint i = 0u; i < BQ; i++)
          acc[i * DPL + e] += s[i * BK + j] * v;
      }
    }
  }

  if (SPLIT == 0u) {
    [[unroll]] for (uint i = 0u; i < BQ; i++) {
      uint row, head;
      if (!slot_of(block, i, row, head))
        continue;
      float inv = l[i] > 0.0 ? 1.0 / l[i] : 0.0;
      uint obase = (row * p.heads + head) * HD + lane;
      [[unroll]] for (uint e = 0u; e < DPL; e++)
        out_buf[obase + e * TEAM] = acc[i * DPL + e] * inv;
    }
    return;
  }

  // SPLIT: merge the teams' partial results. First the common max of every slot ...
  if (lane == 0u) {
    [[unroll]] for (uint i = 0u; i < BQ; i++) {
      merge_m[team * BQ + i] = m[i];
    }
  }
  barrier();
  float scale[BQ];
  [[unroll]] for (uint i = 0u; i < BQ; i++) {
    float m_all = NO_SCORE;
    for (uint t = 0u; t < TEAMS; t++)
      m_all = max(m_all, merge_m[t * BQ + i]);
    scale[i] = exp2(m[i] - m_all);
  }
  if (lane == 0u) {
    [[unroll]] for (uint i = 0u; i < BQ; i++)
      merge_l[team * BQ + i] = l[i] * scale[i];
  }
  // ... then, slot by slot, the rescaled sums of all teams.
  [[unroll]] for (uint i = 0u; i < BQ; i++) {
    [[unroll]] for (uint e = 0u; e < DPL; e++)
      merge_acc[team * HD + e * TEAM + lane] = acc[i * DPL + e] * scale[i];
    barrier();
    uint row, head;
    if (slot_of(block, i, row, head)) {
      float l_all = 0.0;
      for (uint t = 0u; t < TEAMS; t++)
        l_all += merge_l[t * BQ + i];
      float inv = l_all > 0.0 ? 1.0 / l_all : 0.0;
      for (uint d = gl_LocalInvocationIndex; d < HD; d += TEAMS * TEAM) {
        float sum = 0.0;
        for (uint t = 0u; t < TEAMS; t++)
          sum += merge_acc[t * HD + d];
        out_buf[(row * p.heads + head) * HD + d] = sum * inv;
      }
    }
    barrier();
  }
}
