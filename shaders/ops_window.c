/* Windows of rows that each fit one storage binding. */
#define G_LOG_DOMAIN "vf-ops"

#include "ops_window.h"

uint64_t
vf_ops_gcd(uint64_t a, uint64_t b)
{
  while (b) {
    uint64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

uint64_t
vf_ops_row_step(uint64_t align, const uint64_t *row_bytes, uint32_t n)
{
  uint64_t step = 1;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t need = align / vf_ops_gcd(row_bytes[i] % align, align);
    step = step / vf_ops_gcd(step, need) * need;
  }
  return step;
}

uint32_t
vf_ops_window_rows(VfDevice *dev, uint32_t rows, const uint64_t *row_bytes, uint32_t nbuffers, uint64_t max_bytes)
{
  const VfDeviceInfo *info = vf_device_get_info(dev);
  if (max_bytes == 0 || max_bytes > info->max_storage_range)
    max_bytes = info->max_storage_range;
  uint64_t fit = rows; /* rows that fit every buffer's binding */
  for (uint32_t b = 0; b < nbuffers; b++) {
    g_assert(row_bytes[b] > 0);
    fit = MIN(fit, max_bytes / row_bytes[b]);
  }
  /* Window sizes must be multiples of this for aligned starts. */
  uint64_t step = vf_ops_row_step(info->storage_align ? info->storage_align : 1, row_bytes, nbuffers);
  if (fit >= rows)
    return rows;
  return (uint32_t)(fit / step * step);
}

VfBuffer
vf_ops_window(const VfBuffer *buf, uint64_t row_bytes, uint32_t first, uint32_t count)
{
  return vf_buffer_slice(buf, (uint64_t)first * row_bytes, (uint64_t)count * row_bytes);
}
