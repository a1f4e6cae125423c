#version 450
// GEMM, GPU style: one workgroup computes a BM×BN tile of Y, staging BK-wide slices of X and of the
// weight window in shared memory; each invocation accumulates a TM×TN register block.
//
//   Y[M, col0 + j] = Σ_k X[M, k] · Wwin[j, k]   (+ bias, + residual; see matmul_common.glsl)
//
// Works for any M, n, K (edges are zero-padded in the shared tiles). Tile sizes are specialization
// constants chosen by the host from the device limits; local size = (BM/TM)·(BN/TN).
#include "common.glsl"
#include "matmul_common.glsl"
#include "matmul_ssbo.glsl"

layout(constant_id = 0) const uint BM = 64;
layout(constant_id = 1) const uint BN = 64;
layout(constant_id = 2) const uint BK = 16;
layout(constant_id = 3) const uint TM = 4;
layout(constant_id = 4) const uint TN = 4;
layout(local_size_x_id = 5) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };

// Tiles stored k-major so the inner loop reads consecutive rows/columns: xs[kk][r], ws[kk][c].
shared float x_tile[BK * BM];
shared float w_tile[BK * BN];

void main() {
  const uint threads_n = BN / TN;
  const uint threads = (BM / TM) * threads_n;
  uint tid = gl_LocalInvocationID.x;
  uint tn = tid % threads_n; // column lane: outputs tn + j·threads_n (consecutive lanes, consecutive columns)
  uint tm = tid / threads_n; // row lane: outputs tm + i·(BM/TM)
  uint row0 = gl_WorkGroupID.y * BM;
  uint col0 = gl_WorkGroupID.x * BN;

  float acc[TM * TN];
  [[unroll]] for (uint i = 0; i < TM * TN; i++)
    acc[i] = 0.0;

  for (uint k0 = 0; k0 < p.k; k0 += BK) {
    // Consecutive invocations load consecutive k of one row: coalesced reads of X and W.
    for (uint t = tid; t < BM * BK; t += threads) {
      uint r = t / BK, kk = t % BK;
      uint row = row0 + r, k = k0 + kk;
      x_tile[kk * BM + r] = (row < p.m && k < p.k) ? x[row * p.k + k] : 0.0;
    }
    for (uint t = tid; t < BN * BK; t += threads) {
      uint c = t / BK, kk = t % BK;
      uint col = col0 + c, k = k0 + kk;
      w_tile[kk * BN + c] = (col < p.n && k < p.k) ? weight_at(col * p.k + k) : 0.0;
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
