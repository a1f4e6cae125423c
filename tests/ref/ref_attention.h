/* CPU references for the attention ops (shaders/ops_attention.h): scores, softmax and weighted sums in
 * double. Besides each output they give its error bound for an f32 kernel (see ref_attention.c), so a
 * test can compare element by element against a tolerance derived from the data. */
#pragma once

#include <stdint.h>

/* K[h, seq0 + r, d] = qkv[r·row_stride + k_offset + h·head_dim + d], V likewise from v_offset, for tokens
 * below capacity. k_cache, v_cache: [kv_heads, capacity, head_dim]. */
void ref_kv_store(const float *qkv, uint32_t rows, uint32_t row_stride, uint32_t k_offset, uint32_t v_offset,
                  uint32_t kv_heads, uint32_t capacity, uint32_t head_dim, uint32_t seq0, float *k_cache,
                  float *v_cache);

/* Causal GQA attention over the cache. q: [rows, row_stride], heads at column 0; query row i is token
 * seq0 + i and sees tokens key_begin .. min(seq0 + i, capacity − 1). out, bound: [rows, heads·head_dim].
 * A query that sees no key gives 0 (bound 0). */
void ref_attention_causal(const float *q, uint32_t rows, uint32_t row_stride, uint32_t heads,
                          const float *k_cache, const float *v_cache, uint32_t kv_heads, uint32_t capacity,
                          uint32_t head_dim, uint32_t seq0, uint32_t key_begin, float *out, float *bound);

/* Bidirectional attention inside cu_seqlens groups. qkv: [rows, row_stride] with q, k, v at columns 0,
 * heads·head_dim, 2·heads·head_dim. cu_seqlens: [groups + 1]. out, bound: [rows, heads·head_dim]. */
void ref_attention_groups(const float *qkv, uint32_t rows, uint32_t row_stride, uint32_t heads,
                          uint32_t head_dim, const int32_t *cu_seqlens, uint32_t groups, float *out,
                          float *bound);

/* The window form (vf_op_attention_groups_window): queries q_first .. q_first + rows − 1, each seeing the
 * keys of its group (cu_seqlens[g] <= row < cu_seqlens[g + 1]) that lie in kv_first .. kv_first + kv_rows − 1.
 * out, bound: [rows, heads·head_dim]; a query with no key in the window gives 0. */
void ref_attention_groups_window(const float *qkv, uint32_t row_stride, uint32_t heads, uint32_t head_dim,
                                 const int32_t *cu_seqlens, uint32_t groups, uint32_t q_first, uint32_t rows,
                                 uint32_t kv_first, uint32_t kv_rows, float *out, float *bound);
