/* Attention with an online softmax (flash style): no [N, N] score matrix is
 * ever stored. f32 in and out, f32 accumulation, scale 1/sqrt(head_dim).
 * head_dim: any multiple of 8 up to 256.
 *
 * Limits: `out` must fit one storage-buffer binding. The texel variant reads q,
 * qkv and the cache through texel views (maxTexelBufferElements·16 bytes, 2 GiB
 * on lavapipe); the subgroup variant binds them as storage buffers
 * (maxStorageBufferRange), and AUTO switches to the texel variant when they are
 * larger than that.
 */
#pragma once

#include "ops_common.h"

/* KV cache of one layer: K and V each [kv_heads, capacity, head_dim] in `dtype`:
 *   VF_DTYPE_F32  one float per element (the zero value of the field)
 *   VF_DTYPE_F16  IEEE halves, two per 32-bit word, element 2i in the low half:
 *
 *     word w:  bits 31 ........ 16 | 15 ......... 0
 *              element 2w + 1      | element 2w
 *
 * The kernels widen what they read to f32 and accumulate in f32; only storage is 16-bit, so the cache
 * halves (a 7B 32k-token context: 3.7 GB → 1.9 GB). Stored with packHalf2x16 and read with
 * unpackHalf2x16, core GLSL: no 16-bit storage feature is needed. */
typedef struct {
  VfBuffer k;
  VfBuffer v;
  uint32_t kv_heads;
  uint32_t head_dim;
  uint32_t capacity; /* tokens */
  VfDType dtype;     /* VF_DTYPE_F32 or VF_DTYPE_F16 */
} VfKvCache;

/* The KV-cache dtype from VF_KV: "f32" (the default: the goldens' tolerances need it) or "f16" (half the
 * memory); an error for anything else. */
gboolean vf_ops_kv_dtype(VfDType *dtype, GError **error);
/* Bytes of K (or V) of one layer's cache. */
uint64_t vf_kv_cache_bytes(const VfKvCache *cache);

/* Where the new keys and values sit in the fused qkv rows. */
typedef struct {
  uint32_t rows;       /* tokens */
  uint32_t row_stride; /* floats per qkv row */
  uint32_t k_offset;   /* first column of k, kv_heads·head_dim wide */
  uint32_t v_offset;   /* first column of v, as wide */
} VfKvStoreShape;

/* Copies the new keys and values of `rows` tokens into the cache at token index seq[0] .. seq[0] + rows − 1.
 * seq: uint32 [1] in a buffer (so a recorded step can be replayed with a new length). Tokens at or past
 * the capacity are not stored (the host, which knows the length, checks it before submitting). */
void vf_op_kv_store(VfCmd *cmd, const VfBuffer *qkv, const VfKvStoreShape *shape, const VfKvCache *cache,
                    const VfBuffer *seq);

/* Causal attention of `rows` new queries over the cache (GQA: query head h uses kv head
 * h / (heads / kv_heads)). Query i is the token at index seq[0] + i and sees cache tokens
 * key_begin .. min(seq[0] + i, capacity − 1) (key_begin > 0 masks left padding); a query that sees no
 * token gets zeros. q: rows of `row_stride` floats, heads at column 0, heads·head_dim wide (q may be the
 * fused qkv buffer). out: [rows, heads·head_dim] contiguous. */
void vf_op_attention_causal(VfCmd *cmd, const VfBuffer *q, uint32_t rows, uint32_t row_stride, uint32_t heads,
                            const VfKvCache *cache, const VfBuffer *seq, uint32_t key_begin,
                            const VfBuffer *out);

/* Bidirectional attention inside groups (vision): rows r in [cu[g], cu[g+1]) attend only to each other.
 * qkv: [rows, row_stride] with q at column 0, k at heads·head_dim, v at 2·heads·head_dim;
 * cu_seqlens: int32 [groups + 1], cu[0] = 0, non-decreasing, cu[groups] = rows (values outside
 * [0, rows] are clamped, so a malformed buffer gives wrong rows but no read outside qkv).
 * out: [rows, heads·head_dim]. */
void vf_op_attention_groups(VfCmd *cmd, const VfBuffer *qkv, uint32_t rows, uint32_t row_stride, uint32_t heads,
                            uint32_t head_dim, const VfBuffer *cu_seqlens, uint32_t groups, const VfBuffer *out);

/* Kernel variants. The two ops above use VF_ATTENTION_AUTO; the _variant forms exist so the tests and the
 * bench can run every variant on any device. head_dim: a multiple of 8, at most 256 (both variants). */
typedef enum {
  VF_ATTENTION_AUTO,     /* the device policy (vf_ops_kernel_family), else whichever variant supports the shape */
  VF_ATTENTION_SUBGROUP, /* GPU: teams of 8 subgroup lanes split head_dim, storage-buffer loads; few query
                          * blocks (decode) split the keys over a workgroup and merge in shared memory */
  VF_ATTENTION_TEXEL,    /* CPU drivers: one lane per query block, q and output in registers, uniform texel
                          * buffer loads; few blocks (decode) split the keys over a subgroup */
  VF_ATTENTION_N_VARIANTS,
} VfAttentionVariant;

const char *vf_attention_variant_name(VfAttentionVariant v);

/* Whether `variant` runs on this device with this head_dim and q (or qkv) row stride in floats
 * (the texel variant reads 4 floats at a time, so it needs a row stride that is a multiple of 4). */
gboolean vf_attention_supports(VfDevice *dev, VfAttentionVariant variant, uint32_t head_dim, uint32_t row_stride);

/* The variant VF_ATTENTION_AUTO prefers for this shape (printed by the tests and the bench); buffers too
 * large for its bindings can still make AUTO take the other one (see Limits above). */
VfAttentionVariant vf_attention_choose(VfDevice *dev, uint32_t head_dim, uint32_t row_stride);

void vf_op_attention_causal_variant(VfCmd *cmd, VfAttentionVariant variant, const VfBuffer *q, uint32_t rows,
                                    uint32_t row_stride, uint32_t heads, const VfKvCache *cache,
                                    const VfBuffer *seq, uint32_t key_begin, const VfBuffer *out);

void vf_op_attention_groups_variant(VfCmd *cmd, VfAttentionVariant variant, const VfBuffer *qkv, uint32_t rows,
                                    uint32_t row_stride, uint32_t heads, uint32_t head_dim,
                                    const VfBuffer *cu_seqlens, uint32_t groups, const VfBuffer *out);

/* Part of a grouped attention, for sequences whose qkv is larger than one binding (a big image: the
 * vision tower runs its queries a chunk at a time). Rows are numbered over the whole sequence; qkv and
 * cu_seqlens are as in vf_op_attention_groups. The dispatch computes the queries
 * q_first .. q_first + rows − 1 (out: [rows, heads·head_dim], row i = query q_first + i) and reads only
 * the key and value rows kv_first .. kv_first + kv_rows − 1: a query sees the keys of its group that lie
 * in that window. A window that covers the queries' groups therefore gives exactly the rows of
 * vf_op_attention_groups. Only the rows read are bound (q of the queries, k and v of the window), so
 * each of those must fit one binding, not the whole qkv. variant may be VF_ATTENTION_AUTO. */
typedef struct {
  uint32_t q_first, rows;     /* queries */
  uint32_t kv_first, kv_rows; /* keys and values, kv_rows ≥ 1 */
} VfAttentionWindow;

void vf_op_attention_groups_window(VfCmd *cmd, VfAttentionVariant variant, const VfBuffer *qkv, uint32_t row_stride,
                                   uint32_t heads, uint32_t head_dim, const VfBuffer *cu_seqlens, uint32_t groups,
                                   const VfAttentionWindow *window, const VfBuffer *out);
