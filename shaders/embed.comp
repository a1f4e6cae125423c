#version 450
// Embedding gather over one window of table rows:
//   Y[i, :] = float(table[ids[i], :]) for the ids with row_begin ≤ id < row_begin + row_count.
// A table larger than one storage binding is gathered by several dispatches, one per window; each
// writes only the rows whose id falls in its window. The dispatch with zero_outside set also writes
// zero rows for ids outside the whole table.
//
//   table  -DTABLE_BF16 / -DTABLE_F16: uint words, two 16-bit values each (low half first);
//          -DTABLE_F32: floats. [row_count, width] starting at the window's first row.
//   ids    int32 [n]
//   Y      f32 [n, width]
// One workgroup per output row.
#include "common.glsl"

layout(local_size_x = 64) in;

#if defined(TABLE_F32)
layout(std430, binding = 0) readonly buffer Table { float table[]; };
#else
layout(std430, binding = 0) readonly buffer Table { uint table[]; };
#endif
layout(std430, binding = 1) readonly buffer Ids { int ids[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
  uint n;
  uint width;
  uint row_begin;
  uint row_count;
  uint table_rows;
  uint zero_outside;
} p;

float table_value(uint e) {
#if defined(TABLE_F32)
  return table[e];
#elif defined(TABLE_BF16)
  uint w = table[e >> 1];
  return (e & 1u) != 0u ? bf16_hi(w) : bf16_lo(w);
#elif defined(TABLE_F16)
  return unpackHalf2x16(table[e >> 1])[e & 1u];
#else
#error "define TABLE_BF16, TABLE_F16 or TABLE_F32"
#endif
}

void main() {
  uint i = flat_group_index();
  if (i >= p.n)
    return;
  int id = ids[i];
  uint t = gl_LocalInvocationID.x;
  uint out_base = i * p.width;
  if (id < 0 || uint(id) >= p.table_rows) {
    if (p.zero_outside != 0u)
      for (uint c = t; c < p.width; c += 64u)
        y[out_base + c] = 0.0;
    return;
  }
  uint local = uint(id) - p.row_begin;  // wraps to a huge value below the window
  if (local >= p.row_count)
    return;
  uint in_base = local * p.width;
  for (uint c = t; c < p.width; c += 64u)
    y[out_base + c] = table_value(in_base + c);
}
