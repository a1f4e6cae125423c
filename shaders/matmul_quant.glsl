// Shared by the packed-weight matmul shaders (gemv_*_q.comp, gemm_*_q.comp); the layout is drawn in
// ops_matmul_quant.h:
//
//   Y[M, ldy] (columns col0 .. col0+n-1) = X[M, K] · Wwin[n, K]ᵀ (+ bias[col0 ..]) (+ residual[M, ldy])
//   W[j][k] = s(j, g) · (q(j, k) − z(j, g))
//
// Bindings, in every variant (storage buffers, or texel views where TEXEL is defined):
//   0  X         f32 [M, K]            (RGBA32F view: 4 floats per texel)
//   1  words     u32 [n, K / P]        window rows of the packed words (RGBA32UI view: 4 words per texel)
//   2  bias      f32 [ldy]             (read only when flags & HAS_BIAS)
//   3  residual  f32 [M, ldy]          (read only when flags & HAS_RESIDUAL; may alias Y)
//   4  Y         f32 [M, ldy]
//   5  groups    u32 [n, G]            window rows: f16 scale | zero << 16 (R32UI view)
//   6  g_idx     u32 [parts, K]        (read only when flags & ACT_ORDER; R32UI view)
// BITS (define) is 4 or 8.

#if BITS != 4 && BITS != 8
#error "define BITS 4 or 8"
#endif

const uint P = 32u / BITS;          // inputs per word
const uint QMASK = (1u << BITS) - 1u;

layout(push_constant) uniform Push {
  uint m;           // rows of X and Y
  uint n;           // rows of this weight window = output columns it produces
  uint k;           // inputs per row
  uint ldy;         // row stride of Y and residual, in floats (the full N)
  uint col0;        // the window's first output column (= its first weight row)
  uint flags;       // HAS_BIAS | HAS_RESIDUAL | ACT_ORDER
  uint groups;      // G: groups per row
  uint group_width; // inputs per group (without g_idx)
  uint part_end0;   // weight rows (of the whole matrix) below this read g_idx row 0
  uint part_end1;   // ... below this row 1, the rest row 2
} p;

const uint HAS_BIAS = 1u;
const uint HAS_RESIDUAL = 2u;
const uint ACT_ORDER = 4u;      // groups come from g_idx
// Whether every block of inputs a variant dequantizes at once (a word, or a texel of 4 words) lies in one
// group (no g_idx, group_width a multiple of the block) is each variant's ONE_GROUP specialization constant.

layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) readonly buffer Residual { float residual[]; };
layout(std430, binding = 4) writeonly buffer Out { float y[]; };

#if defined(TEXEL)
layout(binding = 5) uniform usamplerBuffer group_texels;
layout(binding = 6) uniform usamplerBuffer gidx_texels;
uint group_word(uint e) { return texelFetch(group_texels, int(e)).x; }
uint gidx_at(uint e) { return texelFetch(gidx_texels, int(e)).x; }
#else
layout(std430, binding = 5) readonly buffer Groups { uint group_words[]; };
layout(std430, binding = 6) readonly buffer GIdx { uint gidx[]; };
uint group_word(uint e) { return group_words[e]; }
uint gidx_at(uint e) { return gidx[e]; }
#endif

// Stores one output: (acc + bias) + residual (residual may alias Y: read, then written, by one invocation).
void store_output(uint row, uint col, float acc) {
  uint out_col = p.col0 + col;
  if ((p.flags & HAS_BIAS) != 0u)
    acc += bias[out_col];
  uint i = row * p.ldy + out_col;
  if ((p.flags & HAS_RESIDUAL) != 0u)
    acc += residual[i];
  y[i] = acc;
}

// (s, s·z) of group g of window row j. s·z is exact (an f16 times an integer below 2^16 fits f32's
// mantissa), so fma(q, s, −s·z) = s·(q − z) exactly.
vec2 group_params(uint j, uint g) {
  uint h = group_word(j * p.groups + g);
  float s = unpackHalf2x16(h).x;
  return vec2(s, s * float(h >> 16));
}

// The group of input k for window row j.
uint group_of(uint j, uint k) {
  if ((p.flags & ACT_ORDER) == 0u)
    return k / p.group_width;
  uint row = p.col0 + j;
  uint part = (row >= p.part_end0 ? 1u : 0u) + (row >= p.part_end1 ? 1u : 0u);
  return gidx_at(part * p.k + k);
}

float dequant_one(uint q, vec2 sz) { return fma(float(q), sz.x, -sz.y); }

// The P weights of one word whose inputs start at k0, as vec4s (4 bits: lo = inputs k0..k0+3, hi =
// k0+4..k0+7; 8 bits: lo only), in one group with parameters `sz`. Each code is masked in place instead of
// shifted down: the masked integer q·2^(b·i) converts to float exactly, and the scale is divided by 2^(b·i)
// to match (exact too: a power of two), which saves a shift per weight (the CPU drivers are ALU-bound here).
// The codes of the top position are shifted, so every integer stays below 2^31 (a signed conversion).
#if BITS == 4
const vec4 POSITION_LO = vec4(1.0, 1.0 / 16.0, 1.0 / 256.0, 1.0 / 4096.0);
const vec4 POSITION_HI = vec4(1.0 / 65536.0, 1.0 / 1048576.0, 1.0 / 16777216.0, 1.0);
void dequant_word(uint word, vec2 sz, out vec4 lo, out vec4 hi) {
  ivec4 qlo = ivec4(uvec4(word) & uvec4(0xfu, 0xf0u, 0xf00u, 0xf000u));
  ivec4 qhi = ivec4(uvec4(word & 0xf0000u, word & 0xf00000u, word & 0xf000000u, word >> 28));
  lo = fma(vec4(qlo), sz.x * POSITION_LO, vec4(-sz.y));
  hi = fma(vec4(qhi), sz.x * POSITION_HI, vec4(-sz.y));
}
#else
const vec4 POSITION_LO = vec4(1.0, 1.0 / 256.0, 1.0 / 65536.0, 1.0);
void dequant_word(uint word, vec2 sz, out vec4 lo, out vec4 hi) {
  ivec4 q = ivec4(uvec4(word & 0xffu, word & 0xff00u, word & 0xff0000u, word >> 24));
  lo = fma(vec4(q), sz.x * POSITION_LO, vec4(-sz.y));
  hi = vec4(0.0);
}
#endif

// The slow path (act-order, or groups narrower than the block) is kept as a loop: unrolled inside the
// kernels' unrolled blocks it multiplied LLVM's compile time on lavapipe.
void dequant_word_each(uint word, uint j, uint k0, out vec4 lo, out vec4 hi) {
  float v[8] = float[8](0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
  [[dont_unroll]] for (uint i = 0; i < P; i++)
    v[i] = dequant_one((word >> (BITS * i)) & QMASK, group_params(j, group_of(j, k0 + i)));
  lo = vec4(v[0], v[1], v[2], v[3]);
  hi = vec4(v[4], v[5], v[6], v[7]);
}
