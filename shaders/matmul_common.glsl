// Shared by the matmul shaders (gemm_*.comp, gemv_*.comp):
//
//   Y[M, ldy] (columns col0 .. col0+n-1) = act(X[M, K] · Wwin[n, K]ᵀ (+ bias[col0 ..])) (+ residual[M, ldy])
//   act: identity, or QuickGELU x·sigmoid(1.702x) when flags & QUICK_GELU (the vision MLP's fc1)
//
// Wwin is one window of whole rows of the weight matrix (the host splits a matrix larger than one
// binding into windows and dispatches once per window). Bindings, in every variant:
//   0  X         f32 [M, K] row-major (storage buffer, or an RGBA32F texel view: 4 floats per texel)
//   1  W window  [n, K] row-major in the weight dtype (storage buffer, or a texel view)
//   2  bias      f32 [ldy]         (read only when flags & HAS_BIAS)
//   3  residual  f32 [M, ldy]      (read only when flags & HAS_RESIDUAL; may alias Y)
//   4  Y         f32 [M, ldy]
// Weight dtype by define: WEIGHT_BF16, WEIGHT_F16 (two per uint32, element 2i in the low half) or WEIGHT_F32.

#if !defined(WEIGHT_BF16) && !defined(WEIGHT_F16) && !defined(WEIGHT_F32)
#error "define WEIGHT_BF16, WEIGHT_F16 or WEIGHT_F32"
#endif

layout(push_constant) uniform Push {
  uint m;     // rows of X and Y
  uint n;     // rows of this weight window = output columns it produces
  uint k;     // inputs per row
  uint ldy;   // row stride of Y and residual, in floats (the full N)
  uint col0;  // the window's first output column
  uint flags; // HAS_BIAS | HAS_RESIDUAL | QUICK_GELU
} p;

const uint HAS_BIAS = 1u;
const uint HAS_RESIDUAL = 2u;
const uint QUICK_GELU = 4u;

layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) readonly buffer Residual { float residual[]; };
layout(std430, binding = 4) writeonly buffer Out { float y[]; };

// Stores one output: act(acc + bias) + residual. Residual may alias Y: each element is read and then
// written by the same invocation only. QuickGELU is written exactly as unary.comp computes it, so the
// fused epilogue gives what a separate quick_gelu pass over Y would.
void store_output(uint row, uint col, float acc) {
  uint out_col = p.col0 + col;
  if ((p.flags & HAS_BIAS) != 0u)
    acc += bias[out_col];
  if ((p.flags & QUICK_GELU) != 0u)
    acc = acc / (1.0 + exp(-1.702 * acc));
  uint i = row * p.ldy + out_col;
  if ((p.flags & HAS_RESIDUAL) != 0u)
    acc += residual[i];
  y[i] = acc;
}

// Eight 16-bit weights packed in a uvec4 (as read by one RGBA32UI texel or one uvec4 load), widened.
#if defined(WEIGHT_BF16)
void unpack8(uvec4 w, out vec4 lo, out vec4 hi) {
  lo = vec4(bf16_lo(w.x), bf16_hi(w.x), bf16_lo(w.y), bf16_hi(w.y));
  hi = vec4(bf16_lo(w.z), bf16_hi(w.z), bf16_lo(w.w), bf16_hi(w.w));
}
#elif defined(WEIGHT_F16)
void unpack8(uvec4 w, out vec4 lo, out vec4 hi) {
  lo = vec4(unpackHalf2x16(w.x), unpackHalf2x16(w.y));
  hi = vec4(unpackHalf2x16(w.z), unpackHalf2x16(w.w));
}
#endif
