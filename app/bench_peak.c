/* Host fp32 FMA peak: each thread runs CHAINS independent vector multiply-add chains (enough in flight to
 * cover the FMA latency of two pipes), so the loop is bound by the FMA throughput, not by latency or
 * memory. acc = acc·m + a with m just below 1 stays finite and away from denormals for any run length. */
#define G_LOG_DOMAIN "viewfinder-bench"

#include "bench_peak.h"

#include <glib.h>
#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#define CHAINS 12 /* independent chains per thread: 2 pipes × 4-5 cycles of latency, with room */
#define INNER 256 /* multiply-adds per chain between loop checks */

typedef float f32x8 __attribute__((vector_size(32)));

typedef struct {
  uint64_t steps; /* outer iterations */
  bool use_fma;
  float result;
} PeakThread;

/* The chains are named variables, not an array, so the compiler keeps all twelve in registers. */
#define CHAIN_VARS(T, init) T c0 = init(1), c1 = init(2), c2 = init(3), c3 = init(4), c4 = init(5), c5 = init(6), \
                                c6 = init(7), c7 = init(8), c8 = init(9), c9 = init(10), c10 = init(11), c11 = init(12)
#define CHAIN_STEP(op)                                                                                         \
  c0 = op(c0), c1 = op(c1), c2 = op(c2), c3 = op(c3), c4 = op(c4), c5 = op(c5), c6 = op(c6), c7 = op(c7),       \
  c8 = op(c8), c9 = op(c9), c10 = op(c10), c11 = op(c11)
#define CHAIN_SUM (c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11)

/* Portable form: the compiler may or may not contract a·b + c; counted as 2 FLOP either way. */
#define PLAIN_INIT(i) ((f32x8){0, 0, 0, 0, 0, 0, 0, 0} + 1e-7f * (i))
#define PLAIN_OP(x) ((x) * 0.9999999f + 1e-7f)
static float
chains_plain(uint64_t steps)
{
  CHAIN_VARS(f32x8, PLAIN_INIT);
  for (uint64_t s = 0; s < steps; s++)
    for (int i = 0; i < INNER; i++)
      CHAIN_STEP(PLAIN_OP);
  f32x8 sum = CHAIN_SUM;
  return sum[0] + sum[1] + sum[2] + sum[3] + sum[4] + sum[5] + sum[6] + sum[7];
}

#if defined(__x86_64__) || defined(__i386__)
#define FMA_INIT(i) _mm256_set1_ps(1e-7f * (i))
#define FMA_OP(x) _mm256_fmadd_ps((x), m, a)
__attribute__((target("avx2,fma"))) static float
chains_fma(uint64_t steps)
{
  const __m256 m = _mm256_set1_ps(0.9999999f), a = _mm256_set1_ps(1e-7f);
  CHAIN_VARS(__m256, FMA_INIT);
  for (uint64_t s = 0; s < steps; s++)
    for (int i = 0; i < INNER; i++)
      CHAIN_STEP(FMA_OP);
  __m256 sum = CHAIN_SUM;
  float lanes[8];
  _mm256_storeu_ps(lanes, sum);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7];
}
#endif

static gpointer
peak_thread(gpointer p)
{
  PeakThread *t = p;
#if defined(__x86_64__) || defined(__i386__)
  if (t->use_fma) {
    t->result = chains_fma(t->steps);
    return NULL;
  }
#endif
  t->result = chains_plain(t->steps);
  return NULL;
}

static bool
cpu_has_fma(void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

/* Seconds for `steps` outer iterations on `threads` threads at once. */
static double
run_once(int threads, uint64_t steps, bool use_fma)
{
  PeakThread slots[256];
  GThread *th[256];
  threads = CLAMP(threads, 1, 256);
  gint64 t0 = g_get_monotonic_time();
  for (int i = 0; i < threads; i++) {
    slots[i] = (PeakThread){.steps = steps, .use_fma = use_fma};
    th[i] = i ? g_thread_new("bench-fma", peak_thread, &slots[i]) : NULL;
  }
  peak_thread(&slots[0]);
  for (int i = 1; i < threads; i++)
    g_thread_join(th[i]);
  double s = (g_get_monotonic_time() - t0) * 1e-6;
  float sum = 0;
  for (int i = 0; i < threads; i++)
    sum += slots[i].result;
  if (sum == 12345.0f) /* keeps the arithmetic observable */
    g_debug("unlikely sum");
  return s;
}

double
vf_bench_host_fma_peak(double seconds, bool *fma)
{
  bool use_fma = cpu_has_fma();
  if (fma)
    *fma = use_fma;
  int threads = (int)g_get_num_processors();
  const double flops_per_step = 2.0 * 8 * CHAINS * INNER;
  /* Calibrate the pass length on one short run, then take the best of three. */
  uint64_t steps = 256;
  double s = run_once(threads, steps, use_fma);
  steps = MAX(steps, (uint64_t)(steps * seconds / MAX(s, 1e-6)));
  double best = 0;
  for (int pass = 0; pass < 3; pass++) {
    s = run_once(threads, steps, use_fma);
    best = MAX(best, flops_per_step * steps * threads / s / 1e9);
  }
  return best;
}
