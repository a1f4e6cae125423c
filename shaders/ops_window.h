/* Running an op over windows of rows when its buffers are larger than one storage binding
 * (maxStorageBufferRange: 128 MiB on lavapipe, often 4 GiB on GPUs). */
#pragma once

#include "ops_common.h"

/* Rows per window such that, for each of the `nbuffers` buffers with row_bytes[b] bytes per row, a
 * window of rows fits one storage binding of at most `max_bytes` (0: the device's
 * maxStorageBufferRange) and every window starts at a multiple of minStorageBufferOffsetAlignment
 * from the buffer's start. Returns `rows` when everything fits at once, 0 when not even one aligned
 * window fits. */
uint32_t vf_ops_window_rows(VfDevice *dev, uint32_t rows, const uint64_t *row_bytes, uint32_t nbuffers,
                            uint64_t max_bytes);

/* Greatest common divisor. */
uint64_t vf_ops_gcd(uint64_t a, uint64_t b);

/* The least number of rows whose byte size, for every row size given, is a multiple of `align`
 * (so windows of a multiple of it start aligned in every buffer). */
uint64_t vf_ops_row_step(uint64_t align, const uint64_t *row_bytes, uint32_t n);

/* Rows [first, first + count) of a buffer of `row_bytes`-byte rows. The caller has checked the size. */
VfBuffer vf_ops_window(const VfBuffer *buf, uint64_t row_bytes, uint32_t first, uint32_t count);
