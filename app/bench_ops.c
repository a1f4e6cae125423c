/* The ops benchmark: memory read bandwidth (device and, on CPU drivers, the host itself), then
 * every matmul shape of Qwen2-VL 2B and 7B that matters for speed, with the variant the policy
 * picks (or all of them), time, GFLOP/s, effective weight GB/s and GEMV % of the read roofline.
 *
 * Times are the best of several submits of one recorded command list, from GPU timestamps when
 * the device has them (VF_PROFILE is switched on for this), else wall clock. Weights and inputs
 * are filled on the device with constant bit patterns: the kernels' speed does not depend on the
 * values, and a 467 MB random upload would dominate the run time on a CPU driver.
 */
#define G_LOG_DOMAIN "viewfinder-bench"

#include "bench_ops.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "vf_ops.h"

typedef struct {
  bool quick;
  bool all_variants;
  bool crossover;
  bool gpu_clock;  /* GPU timestamps, else wall clock */
  int runs;        /* best of this many submits ... */
  double budget_s; /* ... or of as many as fit this much time (at least one) */
} BenchOptions;

typedef struct {
  double device_gbs; /* best of the device read paths */
  double host_gbs;   /* plain C on all host threads; 0 when not measured */
} Roofline;

/* ---- timing ---------------------------------------------------------------------------------------- */

/* Submits `cmd` once; returns the elapsed seconds (GPU or wall), or a negative value on error. */
static double
timed_submit(VfCmd *cmd, const BenchOptions *o, GError **error)
{
  vf_profile_reset();
  gint64 t0 = g_get_monotonic_time();
  if (!vf_cmd_submit(cmd, error))
    return -1;
  double wall = (g_get_monotonic_time() - t0) * 1e-6;
  return o->gpu_clock ? vf_profile_total_ns(NULL) * 1e-9 : wall;
}

/* Best of o->runs submits, fewer when they would take longer than o->budget_s. The first submit
 * counts: GPU timestamps do not include pipeline creation. On a shared machine the best run is
 * the one least disturbed by other work. */
static double
best_time(VfCmd *cmd, const BenchOptions *o, GError **error)
{
  double best = -1;
  gint64 start = g_get_monotonic_time();
  for (int r = 0; r < o->runs; r++) {
    double t = timed_submit(cmd, o, error);
    if (t < 0)
      return -1;
    if (best < 0 || t < best)
      best = t;
    double spent = (g_get_monotonic_time() - start) * 1e-6;
    if (spent + spent / (r + 1) > o->budget_s)
      break;
  }
  return best;
}

/* ---- memory read bandwidth ------------------------------------------------------------------------ */

typedef uint32_t u32x4 __attribute__((vector_size(16)));

typedef struct {
  const u32x4 *data;
  size_t count;
  uint32_t result;
} HostReadSlice;

static gpointer
host_read_slice(gpointer p)
{
  HostReadSlice *s = p;
  u32x4 a = {0}, b = {0}, c = {0}, d = {0};
  size_t i = 0;
  for (; i + 4 <= s->count; i += 4) {
    a ^= s->data[i];
    b ^= s->data[i + 1];
    c ^= s->data[i + 2];
    d ^= s->data[i + 3];
  }
  for (; i < s->count; i++)
    a ^= s->data[i];
  a ^= b ^ c ^ d;
  s->result = a[0] ^ a[1] ^ a[2] ^ a[3];
  return NULL;
}

/* The host's own read bandwidth over `bytes` with plain C on `threads` threads, best of `runs`. */
static double
host_read_gbs(const u32x4 *data, size_t bytes, int threads, int runs)
{
  size_t count = bytes / sizeof(u32x4);
  double best = 0;
  uint32_t sink = 0;
  for (int r = 0; r < runs; r++) {
    HostReadSlice slices[64];
    GThread *th[64];
    threads = CLAMP(threads, 1, 64);
    gint64 t0 = g_get_monotonic_time();
    for (int t = 0; t < threads; t++) {
      size_t begin = count * t / threads, end = count * (t + 1) / threads;
      slices[t] = (HostReadSlice){data + begin, end - begin, 0};
      th[t] = t ? g_thread_new("bench-read", host_read_slice, &slices[t]) : NULL;
    }
    host_read_slice(&slices[0]);
    for (int t = 1; t < threads; t++)
      g_thread_join(th[t]);
    double s = (g_get_monotonic_time() - t0) * 1e-6;
    for (int t = 0; t < threads; t++)
      sink ^= slices[t].result;
    best = MAX(best, bytes / s / 1e9);
  }
  /* Keep the reads observable. */
  if (sink == 0x9e3779b9u)
    g_debug("unlikely checksum");
  return best;
}

static double
device_read_gbs(VfDevice *dev, VfMemreadPath path, const VfBuffer *src, const VfBuffer *out,
                const BenchOptions *o, GError **error)
{
  VfCmd *cmd = vf_cmd_new(dev, error);
  if (!cmd)
    return -1;
  vf_op_memread_xor(cmd, path, src, out);
  double t = best_time(cmd, o, error);
  vf_cmd_free(cmd);
  return t > 0 ? src->size / t / 1e9 : -1;
}

static gboolean
measure_bandwidth(VfDevice *dev, const BenchOptions *o, Roofline *roof, GError **error)
{
  const VfDeviceInfo *info = vf_device_get_info(dev);
  uint64_t bytes = MIN(o->quick ? 256ull << 20 : 1024ull << 20, info->max_allocation);
  VfBuffer src, out;
  if (!vf_buffer_alloc(dev, VF_MEMORY_DEVICE, bytes, &src, error))
    return FALSE;
  if (!vf_buffer_alloc(dev, VF_MEMORY_DEVICE, 16, &out, error)) {
    vf_buffer_release(dev, &src);
    return FALSE;
  }
  VfCmd *fill = vf_cmd_new(dev, error);
  gboolean ok = fill != NULL;
  if (ok) {
    vf_cmd_fill(fill, &src, 0x5a5a1234u);
    ok = vf_cmd_submit(fill, error);
    vf_cmd_free(fill);
  }
  double storage = ok ? device_read_gbs(dev, VF_MEMREAD_STORAGE, &src, &out, o, error) : -1;
  double texel = storage > 0 ? device_read_gbs(dev, VF_MEMREAD_TEXEL, &src, &out, o, error) : -1;
  vf_buffer_release(dev, &out);
  vf_buffer_release(dev, &src);
  if (storage < 0 || texel < 0)
    return FALSE;

  printf("memory read bandwidth (%" G_GUINT64_FORMAT " MiB buffer)\n", bytes >> 20);
  printf("  device, storage-buffer loads   %7.1f GB/s\n", storage);
  printf("  device, texel fetches          %7.1f GB/s\n", texel);
  roof->device_gbs = MAX(storage, texel);
  roof->host_gbs = 0;
  if (info->kind == VF_DEVICE_KIND_CPU) {
    /* The device is this machine's CPU: its own bandwidth is the real ceiling. */
    int threads = (int)g_get_num_processors();
    u32x4 *host = g_malloc(bytes);
    memset(host, 0x5a, bytes);
    double one = host_read_gbs(host, bytes, 1, 3);
    double all = host_read_gbs(host, bytes, threads, 3);
    g_free(host);
    printf("  host, plain C, 1 thread        %7.1f GB/s\n", one);
    printf("  host, plain C, %d threads%*s%7.1f GB/s\n", threads, threads < 10 ? 7 : 6, "", all);
    roof->host_gbs = MAX(one, all);
  }
  printf("roofline for GEMV: device %.1f GB/s", roof->device_gbs);
  if (roof->host_gbs > 0)
    printf(", host %.1f GB/s", roof->host_gbs);
  printf("\n\n");
  return TRUE;
}

/* ---- matmul shapes ---------------------------------------------------------------------------------- */

typedef struct {
  const char *label; /* what the shape is in the model */
  uint32_t m, k, n;
  bool quick; /* part of --quick */
} Shape;

static const Shape shapes[] = {
  {"2B gate/up", 1, 1536, 8960, true},
  {"2B down", 1, 8960, 1536, true},
  {"2B q/o", 1, 1536, 1536, false},
  {"2B k/v", 1, 1536, 256, false},
  {"2B lm_head", 1, 1536, 151936, true},
  {"7B gate/up", 1, 3584, 18944, false},
  {"7B down", 1, 18944, 3584, false},
  {"7B q/o", 1, 3584, 3584, false},
  {"7B k/v", 1, 3584, 512, false},
  {"2B prefill q/o", 512, 1536, 1536, true},
  {"2B prefill gate/up", 512, 1536, 8960, false},
  {"2B prefill down", 512, 8960, 1536, false},
  {"vision fc1", 1024, 1280, 5120, true},
};

static void
print_header(void)
{
  printf("%-19s %5s %6s %7s %-5s %-14s %9s %8s %7s %6s %6s\n", "shape", "M", "K", "N", "dtype", "variant",
         "time ms", "GFLOP/s", "GB/s", "%dev", "%host");
}

/* Times one variant on a prepared problem and prints a row. */
static gboolean
bench_variant(VfDevice *dev, const Shape *s, VfMatmulVariant v, bool chosen, const VfBuffer *x, const VfMatrix *w,
              const VfBuffer *y, const Roofline *roof, const BenchOptions *o, GError **error)
{
  VfCmd *cmd = vf_cmd_new(dev, error);
  if (!cmd)
    return FALSE;
  vf_op_matmul_variant(cmd, v, x, s->m, w, NULL, NULL, y);
  double t = best_time(cmd, o, error);
  vf_cmd_free(cmd);
  if (t < 0)
    return FALSE;
  double flops = 2.0 * s->m * (double)s->n * s->k;
  double weight_gbs = (double)s->n * s->k * vf_dtype_size(w->dtype) / t / 1e9;
  char variant[32];
  g_snprintf(variant, sizeof variant, "%s%s", vf_matmul_variant_name(v), chosen && o->all_variants ? "*" : "");
  printf("%-19s %5u %6u %7u %-5s %-14s %9.3f %8.1f %7.1f", s->label, s->m, s->k, s->n, vf_dtype_name(w->dtype),
         variant, t * 1e3, flops / t / 1e9, weight_gbs);
  if (s->m < vf_matmul_gemv_threshold(dev)) {
    printf(" %5.0f%%", 100 * weight_gbs / roof->device_gbs);
    if (roof->host_gbs > 0)
      printf(" %5.0f%%", 100 * weight_gbs / roof->host_gbs);
  }
  printf("\n");
  fflush(stdout);
  return TRUE;
}

typedef struct {
  VfBuffer x; /* f32 [M, K] */
  VfBuffer y; /* f32 [M, N] */
  VfMatrix w; /* bf16 [N, K] */
} Problem;

static void
problem_free(VfDevice *dev, Problem *p)
{
  vf_buffer_release(dev, &p->x);
  vf_buffer_release(dev, &p->y);
  vf_buffer_release(dev, &p->w.buf);
}

/* Device buffers for one shape, filled with constant patterns (X = 1.0, W = 2^-7 in bf16). */
static gboolean
problem_new(VfDevice *dev, const Shape *s, VfDType dtype, Problem *p, GError **error)
{
  memset(p, 0, sizeof *p);
  p->w = (VfMatrix){.dtype = dtype, .rows = s->n, .cols = s->k};
  p->x.block = p->y.block = p->w.buf.block = -1; /* nothing to release yet */
  uint64_t w_bytes = (uint64_t)s->n * s->k * vf_dtype_size(dtype);
  if (!vf_buffer_alloc(dev, VF_MEMORY_DEVICE, w_bytes, &p->w.buf, error) ||
      !vf_buffer_alloc(dev, VF_MEMORY_DEVICE, (uint64_t)s->m * s->k * 4, &p->x, error) ||
      !vf_buffer_alloc(dev, VF_MEMORY_DEVICE, (uint64_t)s->m * s->n * 4, &p->y, error)) {
    problem_free(dev, p);
    return FALSE;
  }
  VfCmd *fill = vf_cmd_new(dev, error);
  if (!fill) {
    problem_free(dev, p);
    return FALSE;
  }
  vf_cmd_fill(fill, &p->x, 0x3f800000u);
  vf_cmd_fill(fill, &p->w.buf, dtype == VF_DTYPE_F32 ? 0x3c000000u : dtype == VF_DTYPE_F16 ? 0x20002000u : 0x3c003c00u);
  gboolean ok = vf_cmd_submit(fill, error);
  vf_cmd_free(fill);
  if (!ok)
    problem_free(dev, p);
  return ok;
}

static gboolean
bench_shape(VfDevice *dev, const Shape *s, const Roofline *roof, const BenchOptions *o, GError **error)
{
  Problem p;
  if (!problem_new(dev, s, VF_DTYPE_BF16, &p, error))
    return FALSE;
  VfMatmulVariant chosen = vf_matmul_choose(dev, &p.w, s->m);
  gboolean ok = TRUE;
  if (o->all_variants) {
    for (int v = VF_MATMUL_AUTO + 1; v < VF_MATMUL_N_VARIANTS && ok; v++)
      if (vf_matmul_supports(dev, v, &p.w, s->m))
        ok = bench_variant(dev, s, v, v == (int)chosen, &p.x, &p.w, &p.y, roof, o, error);
  } else {
    ok = bench_variant(dev, s, chosen, TRUE, &p.x, &p.w, &p.y, roof, o, error);
  }
  problem_free(dev, &p);
  return ok;
}

/* GEMV against GEMM as M grows, in the device's preferred family: where the policy's threshold
 * comes from. */
static gboolean
bench_crossover(VfDevice *dev, const Roofline *roof, const BenchOptions *o, GError **error)
{
  static const uint32_t rows[] = {1, 2, 3, 4, 6, 8, 12, 16};
  bool cpu = vf_ops_kernel_family(dev) == VF_KERNELS_CPU;
  VfMatmulVariant gemv = cpu ? VF_MATMUL_GEMV_TEXEL : VF_MATMUL_GEMV_SUBGROUP;
  VfMatmulVariant gemm = cpu ? VF_MATMUL_GEMM_TEXEL : VF_MATMUL_GEMM_TILED;
  printf("\nGEMV against GEMM as M grows (1536 → 8960 bf16; AUTO uses GEMV for M < %u)\n",
         vf_matmul_gemv_threshold(dev));
  print_header();
  for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
    Shape s = {"crossover", rows[i], 1536, 8960, true};
    Problem p;
    if (!problem_new(dev, &s, VF_DTYPE_BF16, &p, error))
      return FALSE;
    gboolean ok = bench_variant(dev, &s, gemv, FALSE, &p.x, &p.w, &p.y, roof, o, error) &&
                  bench_variant(dev, &s, gemm, FALSE, &p.x, &p.w, &p.y, roof, o, error);
    problem_free(dev, &p);
    if (!ok)
      return FALSE;
  }
  return TRUE;
}

int
vf_bench_ops(int argc, char **argv)
{
  BenchOptions o = {.runs = 20, .budget_s = 3.0};
  for (int i = 1; i < argc; i++) {
    if (g_str_equal(argv[i], "--quick"))
      o.quick = true;
    else if (g_str_equal(argv[i], "--all-variants"))
      o.all_variants = true;
    else if (g_str_equal(argv[i], "--crossover"))
      o.crossover = true;
    else {
      fprintf(stderr, "viewfinder-cli bench ops: unknown option '%s'\n", argv[i]);
      return 2;
    }
  }
  if (o.quick)
    o.runs = 5, o.budget_s = 1.0;

  /* GPU timestamps per dispatch (unless the user switched profiling off explicitly). */
  g_setenv("VF_PROFILE", "1", FALSE);
  g_autoptr(GError) error = NULL;
  VfDevice *dev = vf_device_create(NULL, &error);
  if (!dev) {
    fprintf(stderr, "viewfinder-cli: %s\n", error->message);
    return 1;
  }
  const VfDeviceInfo *info = vf_device_get_info(dev);
  o.gpu_clock = vf_profile_enabled() && info->timestamp_period > 0;
  printf("%s\n%s\n", info->summary, vf_ops_policy_summary(dev));
  printf("timing: %s, best of %d runs (fewer when they would take over %.0f s)\n\n",
         o.gpu_clock ? "GPU timestamps" : "wall clock", o.runs, o.budget_s);
  fflush(stdout);

  Roofline roof;
  gboolean ok = measure_bandwidth(dev, &o, &roof, &error);
  if (ok) {
    printf("matmul, Y[M, N] = X[M, K] · W[N, K]ᵀ; GB/s = weight bytes / time; %%dev and %%host: GEMV share of the "
           "read roofline%s\n",
           o.all_variants ? "; * = the policy's choice" : "");
    print_header();
    for (size_t i = 0; i < G_N_ELEMENTS(shapes) && ok; i++)
      if (!o.quick || shapes[i].quick)
        ok = bench_shape(dev, &shapes[i], &roof, &o, &error);
  }
  if (ok && o.crossover)
    ok = bench_crossover(dev, &roof, &o, &error);
  vf_device_free(dev);
  if (!ok) {
    fprintf(stderr, "viewfinder-cli bench: %s\n", error->message);
    return 1;
  }
  return 0;
}
