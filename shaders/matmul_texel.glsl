// Texel-buffer reads for the lavapipe-style matmul variants. CPU drivers turn texelFetch into
// vectorised gathers, while storage-buffer and shared-memory loads become per-lane scalar loops
// (platform-notes §3), so these variants read X and W only through uniform texel buffers.
//
//   binding 0  X  RGBA32F view: texel t of row r = X[r, 4t .. 4t+3]                  (K % 4 == 0)
//   binding 1  W  bf16/f16: RGBA32UI view, texel t of row j = W[j, 8t .. 8t+7]        (K % 8 == 0)
//                 f32:      RGBA32F view,  texel t of row j = W[j, 4t .. 4t+3]        (K % 4 == 0)
// WEIGHTS_PER_TEXEL and load_weights() hide the difference: one step covers 8 inputs either way
// (two f32 texels or one 16-bit texel).

layout(binding = 0) uniform samplerBuffer x_texels;

#if defined(WEIGHT_F32)
layout(binding = 1) uniform samplerBuffer w_texels;
const uint WEIGHTS_PER_TEXEL = 4u;
// Weights k = 8s .. 8s+7 of row j (row stride in texels: k_texels).
void load_weights(uint j, uint s, uint k_texels, out vec4 lo, out vec4 hi) {
  uint t = j * k_texels + 2u * s;
  lo = texelFetch(w_texels, int(t));
  hi = texelFetch(w_texels, int(t + 1u));
}
#else
layout(binding = 1) uniform usamplerBuffer w_texels;
const uint WEIGHTS_PER_TEXEL = 8u;
void load_weights(uint j, uint s, uint k_texels, out vec4 lo, out vec4 hi) {
  unpack8(texelFetch(w_texels, int(j * k_texels + s)), lo, hi);
}
#endif

// Inputs k = 8s .. 8s+7 of row r of X (row stride in texels: k/4).
void load_inputs(uint r, uint s, out vec4 lo, out vec4 hi) {
  uint t = r * (p.k / 4u) + 2u * s;
  lo = texelFetch(x_texels, int(t));
  hi = texelFetch(x_texels, int(t + 1u));
}
