/* Quantized linear layers of GPTQ and AWQ checkpoints (spec §2.6): the tensors each format stores, and
 * their rearrangement into the op library's packed layout (drawn in ops_matmul_quant.h) at upload.
 *
 * A linear with `rows` outputs and `cols` inputs, b bits, P = 32 / b, G = cols / group width:
 *
 *   GPTQ  qweight I32 [cols / P, rows]  packed along the input, sequentially
 *         qzeros  I32 [G, rows / P]     packed along the output, sequentially; stored zero − 1
 *         scales  F16 [G, rows]
 *         g_idx   I32 [cols]            each input's group (act-order: any order)
 *   AWQ   qweight I32 [cols, rows / 8]  packed along the output, nibble i = column 8c + [0,2,4,6,1,3,5,7][i]
 *         qzeros  I32 [G, rows / 8]     the same packing; zero as stored
 *         scales  F16 [G, rows]
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "vf_config.h"

enum { VF_QUANT_QWEIGHT, VF_QUANT_QZEROS, VF_QUANT_SCALES, VF_QUANT_G_IDX, VF_QUANT_N_TENSORS };

/* Tensor suffixes: "qweight", "qzeros", "scales", "g_idx". */
extern const char *const vf_quant_tensor_names[VF_QUANT_N_TENSORS];

/* Whether `q`'s format stores tensor `which` (AWQ has no g_idx). */
bool vf_quant_has_tensor(const VfQuantConfig *q, int which);

/* The stored shape of tensor `which` for a [rows, cols] linear; returns the rank (1 or 2). */
uint32_t vf_quant_tensor_shape(const VfQuantConfig *q, int which, uint32_t rows, uint32_t cols, uint64_t shape[2]);

/* One linear's checkpoint bytes (little-endian, any alignment), as the shapes above. g_idx is NULL for AWQ. */
typedef struct {
  const void *data[VF_QUANT_N_TENSORS];
} VfQuantTensors;

/* Reads and checks a stored g_idx (I32 [cols]; NULL: AWQ, k / group width) into g_idx (may be NULL);
 * *act_order: some entry differs from k / group width. Fails (VF_WEIGHTS_ERROR_VALUE) for an entry outside
 * the groups, naming it. */
gboolean vf_quant_read_g_idx(const VfQuantConfig *q, uint32_t cols, const void *stored, uint32_t *g_idx,
                             bool *act_order, GError **error);

/* Rearranges one linear into the packed layout:
 *   words  u32 [rows, cols / P]      groups u32 [rows, G] (f16 scale | zero << 16)
 *   g_idx  u32 [cols]                each input's group; *act_order is false when it is k / group width
 *                                    for every k (the kernels then compute it)
 * Fails (VF_WEIGHTS_ERROR_VALUE) when a g_idx entry falls outside the G groups, naming the entry. */
gboolean vf_quant_repack(const VfQuantConfig *q, uint32_t rows, uint32_t cols, const VfQuantTensors *t,
                         uint32_t *words, uint32_t *groups, uint32_t *g_idx, bool *act_order, GError **error);
