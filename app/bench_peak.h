/* The host CPU's fp32 arithmetic peak, measured: the ceiling the GEMM rows of the benchmarks are compared
 * with on a CPU driver (as the memory read bandwidth is for GEMV rows). */
#pragma once

#include <stdbool.h>

/* Best GFLOP/s of independent fp32 multiply-add chains on every core at once (FMA instructions where the
 * CPU has them; 2 FLOP each), over a few passes of about `seconds` each. `*fma` tells which was used. */
double vf_bench_host_fma_peak(double seconds, bool *fma);
