#include "ref_quant.h"

#include "ref_common.h"

/* AutoAWQ's order: nibble i of a word holds output column 8c + awq_order[i]. */
static const uint32_t awq_order[8] = {0, 2, 4, 6, 1, 3, 5, 7};

void
ref_gptq_pack(uint32_t bits, uint32_t rows, uint32_t cols, uint32_t groups, const uint8_t *q, const uint16_t *zero,
              uint32_t *qweight, uint32_t *qzeros)
{
  uint32_t per = 32 / bits;
  for (uint32_t r = 0; r < cols / per; r++)
    for (uint32_t o = 0; o < rows; o++) {
      uint32_t word = 0;
      for (uint32_t i = 0; i < per; i++)
        word |= (uint32_t)q[(uint64_t)o * cols + r * per + i] << (bits * i);
      qweight[(uint64_t)r * rows + o] = word;
    }
  for (uint32_t g = 0; g < groups; g++)
    for (uint32_t c = 0; c < rows / per; c++) {
      uint32_t word = 0;
      for (uint32_t i = 0; i < per; i++)
        word |= (uint32_t)(zero[(uint64_t)g * rows + c * per + i] - 1) << (bits * i);
      qzeros[(uint64_t)g * (rows / per) + c] = word;
    }
}

void
ref_gptq_dequant_row(uint32_t bits, uint32_t rows, uint32_t cols, const uint32_t *qweight, const uint32_t *qzeros,
                     const uint16_t *scales, const int32_t *g_idx, uint32_t o, float *w_row)
{
  uint32_t per = 32 / bits, mask = (1u << bits) - 1;
  for (uint32_t i = 0; i < cols; i++) {
    uint32_t g = (uint32_t)g_idx[i];
    uint32_t qv = (qweight[(uint64_t)(i / per) * rows + o] >> (bits * (i % per))) & mask;
    uint32_t zv = ((qzeros[(uint64_t)g * (rows / per) + o / per] >> (bits * (o % per))) & mask) + 1;
    double s = ref_f16_to_f32(scales[(uint64_t)g * rows + o]);
    w_row[i] = (float)(s * ((double)qv - (double)zv));
  }
}

void
ref_gptq_dequant(uint32_t bits, uint32_t rows, uint32_t cols, uint32_t groups, const uint32_t *qweight,
                 const uint32_t *qzeros, const uint16_t *scales, const int32_t *g_idx, float *w)
{
  for (uint32_t o = 0; o < rows; o++)
    ref_gptq_dequant_row(bits, rows, cols, qweight, qzeros, scales, g_idx, o, w + (uint64_t)o * cols);
  (void)groups;
}

void
ref_awq_pack(uint32_t rows, uint32_t cols, uint32_t groups, const uint8_t *q, const uint16_t *zero,
             uint32_t *qweight, uint32_t *qzeros)
{
  for (uint32_t i = 0; i < cols; i++)
    for (uint32_t c = 0; c < rows / 8; c++) {
      uint32_t word = 0;
      for (uint32_t n = 0; n < 8; n++)
        word |= (uint32_t)q[(uint64_t)(8 * c + awq_order[n]) * cols + i] << (4 * n);
      qweight[(uint64_t)i * (rows / 8) + c] = word;
    }
  for (uint32_t g = 0; g < groups; g++)
    for (uint32_t c = 0; c < rows / 8; c++) {
      uint32_t word = 0;
      for (uint32_t n = 0; n < 8; n++)
        word |= (uint32_t)zero[(uint64_t)g * rows + 8 * c + awq_order[n]] << (4 * n);
      qzeros[(uint64_t)g * (rows / 8) + c] = word;
    }
}

void
ref_awq_dequant_row(uint32_t rows, uint32_t cols, uint32_t groups, const uint32_t *qweight, const uint32_t *qzeros,
                    const uint16_t *scales, uint32_t o, float *w_row)
{
  uint32_t width = cols / groups;
  /* Find the nibble holding column o by searching the order (not by its inverse table). */
  uint32_t nibble = 0;
  while (awq_order[nibble] != o % 8)
    nibble++;
  for (uint32_t i = 0; i < cols; i++) {
    uint32_t g = i / width;
    uint32_t qv = (qweight[(uint64_t)i * (rows / 8) + o / 8] >> (4 * nibble)) & 15u;
    uint32_t zv = (qzeros[(uint64_t)g * (rows / 8) + o / 8] >> (4 * nibble)) & 15u;
    double s = ref_f16_to_f32(scales[(uint64_t)g * rows + o]);
    w_row[i] = (float)(s * ((double)qv - (double)zv));
  }
}

void
ref_awq_dequant(uint32_t rows, uint32_t cols, uint32_t groups, const uint32_t *qweight, const uint32_t *qzeros,
                const uint16_t *scales, float *w)
{
  for (uint32_t o = 0; o < rows; o++)
    ref_awq_dequant_row(rows, cols, groups, qweight, qzeros, scales, o, w + (uint64_t)o * cols);
}
