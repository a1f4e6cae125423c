#include "ref_rope.h"

uint32_t
ref_rope_stream(const uint32_t sections[3], uint32_t j)
{
  if (j < sections[0])
    return 0;
  if (j < sections[0] + sections[1])
    return 1;
  return 2;
}

void
ref_rope(float *x, uint32_t rows, uint32_t row_stride, uint32_t heads, uint32_t head_dim,
         const int32_t *positions, const uint32_t sections[3], const float *cos_table, const float *sin_table)
{
  uint32_t f = head_dim / 2;
  for (uint32_t r = 0; r < rows; r++) {
    for (uint32_t j = 0; j < f; j++) {
      int32_t p = positions[ref_rope_stream(sections, j) * rows + r];
      double c = cos_table[(size_t)p * f + j], s = sin_table[(size_t)p * f + j];
      for (uint32_t h = 0; h < heads; h++) {
        float *v = x + (size_t)r * row_stride + (size_t)h * head_dim;
        double a = v[j], b = v[j + f];
        v[j] = (float)(a * c - b * s);
        v[j + f] = (float)(b * c + a * s);
      }
    }
  }
}
