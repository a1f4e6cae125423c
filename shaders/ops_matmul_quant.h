/* Matrix products against packed 4- and 8-bit weights (GPTQ and AWQ, repacked at upload):
 *
 *   Y[M, N] = X[M, K] · W[N, K]ᵀ  (+ bias[N])  (+ residual[M, N])
 *
 * X, Y, bias, residual as in ops_matmul.h (f32). W is dequantized in registers, one weight at a time,
 * exactly: s · (q − z) with an f16 scale and integer q, z has at most 20 significant bits, so it is the
 * f32 value a dequantized 32-bit copy of the matrix would hold, and the kernels accumulate in f32 like
 * the dense ones.
 *
 * The packed layout (b = 4 or 8 bits, P = 32 / b inputs per word, G = K / group_width groups):
 *
 *   words   u32 [N, K / P]  row j = output j, K-contiguous like a dense matrix; word t holds inputs
 *                           P·t … P·t + P − 1, input P·t + i in bits b·i … b·i + b − 1, unsigned
 *
 *       b = 4:  bits   31..28  27..24  23..20  19..16  15..12  11..8  7..4  3..0
 *               input  8t+7    8t+6    8t+5    8t+4    8t+3    8t+2   8t+1  8t+0
 *       b = 8:  bits   31..24  23..16  15..8   7..0
 *               input  4t+3    4t+2    4t+1    4t+0
 *
 *   groups  u32 [N, G]      word (j, g):  bits 31..16 zero z (unsigned integer)  |  bits 15..0 f16 scale s
 *   g_idx   u32 [parts, K]  the group of each input (GPTQ act-order), one row per fused part; without
 *                           it input k is in group k / group_width
 *
 *   W[j][k] = s(j, g) · (q(j, k) − z(j, g)),   g = g_idx[part(j)][k]  or  k / group_width
 *
 * GPTQ's qweight [K/P, N] is this word array transposed (same sequential order inside a word); AWQ's
 * interleaved nibbles and both formats' zeros and scales are rearranged into it at upload (vf_quant.h).
 *
 * Variants: the four of ops_matmul.h, same policy and names (shaders gemv_texel_q4 … gemm_tiled_q8).
 * A matrix larger than one binding is split into windows of whole rows as for dense weights.
 */
#pragma once

#include "ops_matmul.h"

/* Bytes of the word array / the group array of a packed [rows, cols] matrix. */
uint64_t vf_packed_words_bytes(uint32_t bits, uint32_t rows, uint32_t cols);
uint64_t vf_packed_groups_bytes(uint32_t rows, uint32_t cols, uint32_t group_width);

/* Why `variant` (concrete) cannot run this packed shape here, or NULL. */
const char *vf_matmul_quant_unsupported(VfDevice *dev, VfMatmulVariant variant, const VfMatrix *w, uint32_t m);

/* Called by vf_op_matmul_variant for packed matrices; `variant` is concrete. */
void vf_op_matmul_quant(VfCmd *cmd, VfMatmulVariant variant, const VfBuffer *x, uint32_t m, const VfMatrix *w,
                        const VfBuffer *bias, const VfBuffer *residual, const VfBuffer *y);
