/* GPTQ / AWQ tensors into the op library's packed layout (vf_quant.h, ops_matmul_quant.h). */
#define G_LOG_DOMAIN "vf-model"

#include "vf_quant.h"

#include <string.h>

#include "vf_weights.h"

const char *const vf_quant_tensor_names[VF_QUANT_N_TENSORS] = {"qweight", "qzeros", "scales", "g_idx"};

/* AWQ's nibble for output column 8c + j of a word: the inverse of its order [0, 2, 4, 6, 1, 3, 5, 7]. */
static const uint32_t awq_nibble_of_column[8] = {0, 4, 1, 5, 2, 6, 3, 7};

bool
vf_quant_has_tensor(const VfQuantConfig *q, int which)
{
  return which != VF_QUANT_G_IDX || q->method == VF_QUANT_GPTQ;
}

uint32_t
vf_quant_tensor_shape(const VfQuantConfig *q, int which, uint32_t rows, uint32_t cols, uint64_t shape[2])
{
  uint64_t per_word = 32 / q->bits, groups = cols / vf_quant_group_width(q, cols);
  bool gptq = q->method == VF_QUANT_GPTQ;
  switch (which) {
  case VF_QUANT_QWEIGHT:
    shape[0] = gptq ? cols / per_word : cols;
    shape[1] = gptq ? rows : rows / per_word;
    return 2;
  case VF_QUANT_QZEROS:
    shape[0] = groups;
    shape[1] = rows / per_word;
    return 2;
  case VF_QUANT_SCALES:
    shape[0] = groups;
    shape[1] = rows;
    return 2;
  default:
    shape[0] = cols;
    return 1;
  }
}

static uint32_t
load_u32(const void *base, uint64_t index)
{
  uint32_t v;
  memcpy(&v, (const uint8_t *)base + 4 * index, 4);
  return GUINT32_FROM_LE(v);
}

static uint16_t
load_u16(const void *base, uint64_t index)
{
  uint16_t v;
  memcpy(&v, (const uint8_t *)base + 2 * index, 2);
  return GUINT16_FROM_LE(v);
}

gboolean
vf_quant_read_g_idx(const VfQuantConfig *q, uint32_t cols, const void *stored, uint32_t *g_idx, bool *act_order,
                    GError **error)
{
  const uint32_t width = vf_quant_group_width(q, cols), n_groups = cols / width;
  *act_order = false;
  for (uint32_t k = 0; k < cols; k++) {
    int32_t g = stored ? (int32_t)load_u32(stored, k) : (int32_t)(k / width);
    if (g < 0 || (uint32_t)g >= n_groups) {
      g_set_error(error, VF_WEIGHTS_ERROR, VF_WEIGHTS_ERROR_VALUE,
                  "g_idx[%u] = %d is outside the %u groups of %u inputs", k, g, n_groups, width);
      return FALSE;
    }
    if (g_idx)
      g_idx[k] = (uint32_t)g;
    *act_order |= (uint32_t)g != k / width;
  }
  return TRUE;
}

gboolean
vf_quant_repack(const VfQuantConfig *q, uint32_t rows, uint32_t cols, const VfQuantTensors *t, uint32_t *words,
                uint32_t *groups, uint32_t *g_idx, bool *act_order, GError **error)
{
  const uint32_t bits = q->bits, per_word = 32 / bits, mask = (1u << bits) - 1;
  const uint32_t width = vf_quant_group_width(q, cols), n_groups = cols / width;
  const uint32_t row_words = cols / per_word;
  bool gptq = q->method == VF_QUANT_GPTQ;

  if (!vf_quant_read_g_idx(q, cols, t->data[VF_QUANT_G_IDX], g_idx, act_order, error))
    return FALSE;

  if (gptq) {
    /* qweight [cols / P, rows] is the word array transposed: same inputs, same bit order in a word. */
    for (uint32_t t_row = 0; t_row < row_words; t_row++)
      for (uint32_t j = 0; j < rows; j++)
        words[(uint64_t)j * row_words + t_row] = load_u32(t->data[VF_QUANT_QWEIGHT], (uint64_t)t_row * rows + j);
  } else {
    /* qweight [cols, rows / 8]: gather each output's nibbles into words along the input. */
    for (uint32_t j = 0; j < rows; j++) {
      uint32_t shift = 4 * awq_nibble_of_column[j % 8];
      for (uint32_t w = 0; w < row_words; w++) {
        uint32_t word = 0;
        for (uint32_t i = 0; i < per_word; i++) {
          uint32_t k = w * per_word + i;
          uint32_t packed = load_u32(t->data[VF_QUANT_QWEIGHT], (uint64_t)k * (rows / 8) + j / 8);
          word |= ((packed >> shift) & mask) << (bits * i);
        }
        words[(uint64_t)j * row_words + w] = word;
      }
    }
  }

  for (uint32_t g = 0; g < n_groups; g++)
    for (uint32_t j = 0; j < rows; j++) {
      uint32_t zero_word = load_u32(t->data[VF_QUANT_QZEROS], (uint64_t)g * (rows / per_word) + j / per_word);
      /* GPTQ stores zero − 1 (the AutoGPTQ convention); AWQ the zero itself. */
      uint32_t zero = gptq ? ((zero_word >> (bits * (j % per_word))) & mask) + 1
                           : (zero_word >> (4 * awq_nibble_of_column[j % 8])) & mask;
      uint16_t scale = load_u16(t->data[VF_QUANT_SCALES], (uint64_t)g * rows + j);
      groups[(uint64_t)j * n_groups + g] = scale | zero << 16;
    }
  return TRUE;
}
