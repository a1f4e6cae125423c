#version 450
// GEMM over packed weights, GPU style (see gemm_tiled.comp): one workgroup computes a BM×BN tile of Y,
// staging BK-wide slices of X and of the weights in shared memory; the weight slice is dequantized as
// it is staged (one word and one group word per weight, from cache for the neighbours), so the tiles
// and the inner loop are the dense kernel's.
//
//   Y[M, col0 + j] = Σ_k X[M, k] · W[j, k]   (+ bias, + residual; see matmul_quant.glsl)
//
// Works for any M, n and K % P == 0 (edges are zero-padded in the shared tiles).
#include "common.glsl"
#include "matmul_quant.glsl"

layout(constant_id = 0) const uint BM = 64;
layout(constant_id = 1) const uint BN = 64;
layout(constant_id = 2) const uint BK = 16;
layout(constant_id = 3) const uint TM = 4;
layout(constant_id = 4) const uint TN = 4;
layout(local_size_x_id = 5) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Words { uint words[]; };

shared float x_tile[BK * BM]; // k-major: x_tile[kk * BM + r]
shared float w_tile[BK * BN]; // k-major: w_tile[kk * BN + c]

float weight_at(uint j, uint k) {
  uint q = (words[j * (p.k / P) + k / P] >> (BITS * (k % P))) & QMASK;
  return dequant_one(q, group_params(j, group_of(j, k)));
}

void main() {
  const uint threads_n = BN / TN;
  const uint threads = (BM / TM) * threads_n;
  uint tid = gl_LocalInvocationID.x;
  uint tn = tid % threads_n;
  uint tm = tid / threads_n;
  uint row0 = gl_WorkGroupID.y * BM;
  uint col0 = gl_WorkGroupID.x * BN;

  float acc[TM * TN];
  [[unroll]] for (uint i = 0; i < TM * TN; i++)
    acc[i] = 0.0;

  for (uint k0 = 0; k0 < p.k; k0 += BK) {
    for (uint t = tid; t < BM * BK; t += threads) {
      uint r = t / BK, kk = t % BK;
      uint row = row0 + r, k = k0 + kk;
      x_tile[kk * BM + r] = (row < p.m && k < p.k) ? x[row * p.k + k] : 0.0;
    }
    for (uint t = tid; t < BN * BK; t += threads) {
      uint c = t / BK, kk = t % BK;
      uint col = col0 + c, k = k0 + kk;
      w_tile[kk * BN + c] = (col < p.n && k < p.k) ? weight_at(col, k) : 0.0;
    }
    barrier();

    for (uint kk = 0; kk < BK; kk++) {
      float a[TM], b[TN];
      [[unroll]] for (uint i = 0; i < TM; i++)
        a[i] = x_tile[kk * BM + tm + i * (BM / TM)];
      [[unroll]] for (uint j = 0; j < TN; j++)
        b[j] = w_tile[kk * BN + tn + j * threads_n];
      [[unroll]] for (uint i = 0; i < TM; i++)
        [[unroll]] for (uint j = 0; j < TN; j++)
          acc[i * TN + j] = fma(a[i], b[j], acc[i * TN + j]);
    }
    barrier();
  }

  [[unroll]] for (uint i = 0; i < TM; i++) {
    uint row = row0 + tm + i * (BM / TM);
    [[unroll]] for (uint j = 0; j < TN; j++) {
      uint col = col0 + tn + j * threads_n;
      if (row < p.m && col < p.n)
        store_output(row, col, acc[i * TN + j]);
    }
  }
}
