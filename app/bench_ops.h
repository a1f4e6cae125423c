/* `viewfinder-cli bench ops`: times the matrix-product ops on the Qwen2-VL 2B/7B shapes next to the
 * measured memory read bandwidth (the GEMV roofline). */
#pragma once

/* argv[0] is "ops"; options: --quick, --all-variants, --crossover. Returns a process exit status. */
int vf_bench_ops(int argc, char **argv);

#include "vf_ops.h"

/* The best read bandwidth of the device (GB/s) over a large buffer and, on a CPU device, of the host with
 * plain C (else 0): the memory roofline; and the host's fp32 FMA peak on all cores (GFLOP/s, bench_peak.h).
 * Wall-clock timed, best of a few passes sampled round-robin. */
gboolean vf_bench_peaks(VfDevice *dev, double *device_gbs, double *host_gbs, double *fma_gflops, GError **error);
