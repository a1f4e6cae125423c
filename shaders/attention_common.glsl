// Shared by the attention kernels (attention_texel.comp, attention_subgroup.comp): which queries a
// lane works on and which keys each of them may see. Compiled with exactly one of:
//   CAUSAL  text: queries q [rows, q_stride] at column 0; keys and values in the KV cache
//           K, V [kv_heads, capacity, HD]; query row i is token seq[0] + i and sees cache tokens
//           key_begin .. seq[0] + i.
//   GROUPS  vision: q, k, v side by side in the rows of one qkv buffer [total rows, q_stride]. The
//           dispatch computes the queries q_first .. q_first + rows − 1 and may read only the key rows
//           kv_first .. kv_first + kv_rows − 1 (a window, so a sequence larger than one binding runs a
//           window at a time); a query sees the keys of its cu_seqlens group inside that window, both
//           directions. The q, k and v bindings are windows of the qkv buffer: q_offset, k_offset and
//           v_offset are the float indices of query 0's q, key kv_first's k and its v in them.
// The including shader declares HD (head_dim) and BQ (query slots per block) before including this.
//
// Work unit: a "slot block" of BQ query slots, a slot being one (row, head) pair. The slots of a block
// share one kv head, so every K/V row a lane loads serves all BQ of them (GQA heads of a row in text,
// neighbouring rows of one head in vision). Blocks are numbered with the kv head slowest, so neighbouring
// lanes read the same K/V rows (cache-friendly):
//   kv head = block / kv_blocks,  slot i = (block % kv_blocks)·BQ + i  among that kv head's rows·ratio
//   slots, ordered (row, head within the group).   (GROUPS: kv_heads = heads, ratio = 1.)
// Key indices t inside the kernels are CAUSAL: cache tokens; GROUPS: rows of the key window (t = 0 is
// row kv_first).

layout(push_constant) uniform Push {
  uint rows;      // query rows
  uint q_stride;  // floats from one q (or qkv) row to the next
  uint heads;     // query heads
  uint kv_heads;  // kv heads (GROUPS: = heads)
  uint capacity;  // CAUSAL: tokens in the cache
  uint key_begin; // CAUSAL: first visible cache token (left padding before it)
  uint groups;    // GROUPS: number of cu_seqlens groups
  uint q_offset;  // float index of query 0's q in the q binding (CAUSAL: 0)
  uint k_offset;  // GROUPS: float index of key kv_first's k in the k binding
  uint v_offset;  // GROUPS: float index of key kv_first's v in the v binding
  uint kv_blocks; // slot blocks per kv head (kv_heads·kv_blocks in all)
  uint q_first;   // GROUPS: sequence row of query 0
  uint kv_first;  // GROUPS: sequence row of key 0 of the window
  uint kv_rows;   // GROUPS: rows in the key window
} p;

// META_TEXEL: seq and cu_seqlens are read through texel buffers (R32_UINT / R32_SINT views) rather than
// storage buffers; on llvmpipe a storage-buffer load inside a loop is a per-lane loop of its own, which
// made the group search below cost more to compile and to run than the attention itself.
#if defined(CAUSAL) && defined(META_TEXEL)
layout(binding = 3) uniform usamplerBuffer seq_tex; // [0]: cache index of query row 0
uint seq0() { return texelFetch(seq_tex, 0).x; }
#elif defined(CAUSAL)
layout(std430, binding = 3) readonly buffer Seq { uint seq[]; }; // [0]: cache index of query row 0
uint seq0() { return seq[0]; }
#elif defined(GROUPS) && defined(META_TEXEL)
layout(binding = 3) uniform isamplerBuffer cu_tex; // [groups + 1], cumulative
int cu_seqlens(uint g) { return texelFetch(cu_tex, int(g)).x; }
#elif defined(GROUPS)
layout(std430, binding = 3) readonly buffer Cu { int cu[]; }; // [groups + 1], cumulative
int cu_seqlens(uint g) { return cu[g]; }
#else
#error "compile with -DCAUSAL or -DGROUPS"
#endif

uint kv_head_of(uint block) { return min(block / p.kv_blocks, p.kv_heads - 1u); }

// Query slot i of `block`: its row and head; false when past the last row.
bool slot_of(uint block, uint i, out uint row, out uint head) {
  uint ratio = p.heads / p.kv_heads;
  uint kvh = block / p.kv_blocks;
  uint s = (block % p.kv_blocks) * BQ + i;
  row = s / ratio;
  head = kvh * ratio + s % ratio;
  return kvh < p.kv_heads && row < p.rows;
}

// The keys each slot of `block` sees: [lo[i], hi[i]), empty (lo = hi = 0) for slots past the last row.
void block_keys(uint block, out uint lo[BQ], out uint hi[BQ]) {
  uint rows[BQ];
  bool in_use[BQ];
  [[unroll]] for (uint i = 0u; i < BQ; i++) {
    uint head;
    in_use[i] = slot_of(block, i, rows[i], head);
  }
#if defined(CAUSAL)
  uint first = seq0();
  [[unroll]] for (uint i = 0u; i < BQ; i++) {
    lo[i] = in_use[i] ? p.key_begin : 0u;
    hi[i] = in_use[i] ? min(first + rows[i] + 1u, p.capacity) : 0u;  // up to the query's own token
  }
#else
  // A query's group is [largest boundary <= its row, smallest boundary > its row), intersected with the
  // key window. One pass over the boundaries, at the same index in every lane, serves all slots; it is
  // cheap next to the keys of a group, and it compiled ten times faster on llvmpipe than a per-lane
  // binary search. The intersection keeps every key index inside the window even when cu_seqlens is
  // malformed (unsorted, negative, past the end).
  uint seq_row[BQ];
  [[unroll]] for (uint i = 0u; i < BQ; i++) {
    seq_row[i] = p.q_first + rows[i];
    lo[i] = 0u;
    hi[i] = 0xffffffffu;
  }
  for (uint g = 1u; g < p.groups; g++) {
    uint boundary = uint(max(cu_seqlens(g), 0));
    [[unroll]] for (uint i = 0u; i < BQ; i++) {
      lo[i] = boundary <= seq_row[i] ? max(lo[i], boundary) : lo[i];
      hi[i] = boundary > seq_row[i] ? min(hi[i], boundary) : hi[i];
    }
  }
  uint window_end = p.kv_first + p.kv_rows;
  [[unroll]] for (uint i = 0u; i < BQ; i++) {
    uint first = max(lo[i], p.kv_first), last = min(hi[i], window_end);
    bool any = in_use[i] && first < last;
    lo[i] = any ? first - p.kv_first : 0u;
    hi[i] = any ? last - p.kv_first : 0u;
  }
#endif
}

// Float index of element 0 of q for (row, head), and of K / V for (key t, kv head).
uint q_index(uint row, uint head) { return p.q_offset + row * p.q_stride + head * HD; }
#if defined(CAUSAL)
uint k_index(uint t, uint kvh) { return (kvh * p.capacity + t) * HD; }
uint v_index(uint t, uint kvh) { return (kvh * p.capacity + t) * HD; }
#else
uint k_index(uint t, uint kvh) { return p.k_offset + t * p.q_stride + kvh * HD; }
uint v_index(uint t, uint kvh) { return p.v_offset + t * p.q_stride + kvh * HD; }
#endif

// Scores are kept in log2 units: q is multiplied by 1/sqrt(HD)·log2(e) once, so exp2 gives the softmax
// weights.
const float LOG2E = 1.4426950408889634;
// "No key seen yet": a finite stand-in for −∞ so that exp2(m_old − m_new) never meets ∞ − ∞.
const float NO_SCORE = -1.0e30;
