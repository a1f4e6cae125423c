/* `viewfinder-cli bench ops`: times the matrix-product ops on the Qwen2-VL 2B/7B shapes next to the
 * measured memory read bandwidth (the GEMV roofline). */
#pragma once

/* argv[0] is "ops"; options: --quick, --all-variants, --crossover. Returns a process exit status. */
int vf_bench_ops(int argc, char **argv);
