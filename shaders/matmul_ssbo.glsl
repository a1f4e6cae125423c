// Weight access for the storage-buffer matmul variants (binding 1), any K (rows need not be aligned).
// Element e of the window is W[e / K][e % K]; 16-bit weights are packed two per uint32.

#if defined(WEIGHT_F32)
layout(std430, binding = 1) readonly buffer Weights { float w[]; };
layout(std430, binding = 1) readonly buffer Weights4 { vec4 w4[]; }; // same memory, 16-byte loads

float weight_at(uint e) { return w[e]; }
#else
layout(std430, binding = 1) readonly buffer Weights { uint w[]; };
layout(std430, binding = 1) readonly buffer Weights4 { uvec4 w4[]; }; // same memory: 8 weights per load

float weight_at(uint e) {
  uint word = w[e >> 1];
#if defined(WEIGHT_BF16)
  return (e & 1u) != 0u ? bf16_hi(word) : bf16_lo(word);
#else
  return unpackHalf2x16(word)[e & 1u];
#endif
}
#endif
