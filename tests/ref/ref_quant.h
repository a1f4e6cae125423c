/* CPU reference for GPTQ and AWQ weights (spec §2.6), written from the formats' definitions and sharing
 * no code with model/vf_quant.c: packing integer weights into the stored tensors (for tests and the
 * test-checkpoint tool) and dequantizing stored tensors into a dense f32 W [rows, cols] = [out, in].
 *
 *   q     u8  [rows, cols]   the unsigned quantized weights (0 … 2^bits − 1)
 *   zero  u16 [G, rows]      the real zero of each group (GPTQ stores zero − 1, so 1 … 2^bits; AWQ 0 … 15)
 *   scale u16 [G, rows]      f16 bits
 *   g_idx i32 [cols]         GPTQ: each input's group
 *   W[o][i] = f32(scale[g][o]) · (q[o][i] − zero[g][o]),  g = g_idx[i] (GPTQ) or i / (cols / G) (AWQ)
 */
#pragma once

#include <stdint.h>

/* GPTQ: qweight u32 [cols·bits/32, rows], qzeros u32 [G, rows·bits/32]. */
void ref_gptq_pack(uint32_t bits, uint32_t rows, uint32_t cols, uint32_t groups, const uint8_t *q,
                   const uint16_t *zero, uint32_t *qweight, uint32_t *qzeros);
void ref_gptq_dequant(uint32_t bits, uint32_t rows, uint32_t cols, uint32_t groups, const uint32_t *qweight,
                      const uint32_t *qzeros, const uint16_t *scales, const int32_t *g_idx, float *w);
/* Row o of W only: w_row f32 [cols]. */
void ref_gptq_dequant_row(uint32_t bits, uint32_t rows, uint32_t cols, const uint32_t *qweight, const uint32_t *qzeros,
                          const uint16_t *scales, const int32_t *g_idx, uint32_t o, float *w_row);

/* AWQ (4 bits): qweight u32 [cols, rows/8], qzeros u32 [G, rows/8], nibble order [0,2,4,6,1,3,5,7]. */
void ref_awq_pack(uint32_t rows, uint32_t cols, uint32_t groups, const uint8_t *q, const uint16_t *zero,
                  uint32_t *qweight, uint32_t *qzeros);
void ref_awq_dequant(uint32_t rows, uint32_t cols, uint32_t groups, const uint32_t *qweight, const uint32_t *qzeros,
                     const uint16_t *scales, float *w);
void ref_awq_dequant_row(uint32_t rows, uint32_t cols, uint32_t groups, const uint32_t *qweight,
                         const uint32_t *qzeros, const uint16_t *scales, uint32_t o, float *w_row);
