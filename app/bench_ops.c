/* The ops benchmark: memory read bandwidth (device and, on CPU drivers, the host itself), then
 * every matmul shape of Qwen2-VL 2B and 7B that matters for speed (bf16, and the decoder linears packed
 * at 4 and 8 bits as GPTQ/AWQ checkpoints load, 72B's included), with the variant the policy
 * picks (or all of them), time, GFLOP/s, effective weight GB/s and GEMV % of the read roofline.
 *
 * Every measurement is prepared first (buffers, recorded command lists), then they are sampled
 * round-robin and each row reports its best sample: on a shared machine the load from other work
 * comes and goes over seconds, and spreading every row's samples over the whole run keeps the
 * rows (and the roofline they are compared with) from being measured in different conditions.
 * Device times come from GPU timestamps when the device has them (VF_PROFILE is switched on for
 * this), else from the wall clock. Weights and inputs are filled on the device with constant bit
 * patterns: the kernels' speed does not depend on the values, and a 467 MB random upload would
 * dominate the run time on a CPU driver.
 */
#define G_LOG_DOMAIN "viewfinder-bench"

#include "bench_ops.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "bench_peak.h"
#include "vf_ops.h"

typedef struct {
  bool quick;
  bool all_variants;
  bool crossover;
  bool gpu_clock;  /* GPU timestamps, else wall clock */
  int runs;        /* samples per row, at most ... */
  double budget_s; /* ... and no more than fit this much time (at least one) */
} BenchOptions;

/* ---- host reads ---------------------------------------------------------------------------------- */

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

/* Reads `bytes` of `data` with plain C on `threads` threads; returns the seconds it took. */
static double
host_read_once(const u32x4 *data, size_t bytes, int threads)
{
  size_t count = bytes / sizeof(u32x4);
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
  uint32_t sum = 0;
  for (int t = 0; t < threads; t++)
    sum ^= slices[t].result;
  if (sum == 0x9e3779b9u) /* keeps the reads observable */
    g_debug("unlikely checksum");
  return s;
}

/* ---- what is measured ------------------------------------------------------------------------------ */

typedef struct {
  const char *label; /* what the shape is in the model */
  uint32_t m, k, n;
  bool quick; /* part of --quick */
  uint32_t bits; /* packed 4/8-bit weights in groups of 128 (ops_matmul_quant.h); 0: bf16 */
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
  {"2B gate/up", 1, 1536, 8960, true, 4},
  {"2B down", 1, 8960, 1536, true, 4},
  {"2B gate/up", 1, 1536, 8960, false, 8},
  {"7B gate/up", 1, 3584, 18944, false, 4},
  {"7B down", 1, 18944, 3584, false, 4},
  {"72B gate", 1, 8192, 29696, false, 4},
  {"72B down", 1, 29696, 8192, false, 4},
  {"2B prefill gate/up", 512, 1536, 8960, true, 4},
  {"2B prefill down", 512, 8960, 1536, false, 4},
};

/* M values of the GEMV/GEMM crossover table (1536 → 8960). */
static const uint32_t crossover_rows[] = {1, 2, 3, 4, 6, 8, 12, 16};

typedef struct {
  Shape shape;
  VfBuffer x; /* f32 [M, K] */
  VfBuffer y; /* f32 [M, N] */
  VfMatrix w; /* bf16 [N, K] */
} Problem;

typedef enum {
  ITEM_DEVICE_READ,
  ITEM_HOST_READ,
  ITEM_HOST_FMA, /* best_s: seconds per GFLOP */
  ITEM_MATMUL,
} ItemKind;

typedef struct {
  ItemKind kind;
  const char *label;
  VfCmd *cmd;              /* device items: submitted once per sample */
  const u32x4 *host_data;  /* host reads */
  int threads;             /* host reads */
  uint64_t bytes;          /* bytes read per sample (matmul: weight bytes) */
  const Problem *problem;  /* matmul */
  VfMatmulVariant variant; /* matmul */
  bool chosen;             /* matmul: the policy's choice */
  bool crossover;          /* matmul: a row of the crossover table */
  double best_s;           /* best sample, < 0 until measured */
  double spent_s;
  int samples;
} Item;

typedef struct {
  VfDevice *dev;
  BenchOptions o;
  GArray *items;       /* Item */
  GPtrArray *problems; /* Problem* */
  VfBuffer read_src, read_out;
  u32x4 *host_buffer;
  bool host_fma; /* the FMA peak used FMA instructions (else multiply + add) */
} Bench;

/* ---- preparation -------------------------------------------------------------------------------------- */

static void
problem_free(VfDevice *dev, Problem *p)
{
  vf_buffer_release(dev, &p->x);
  vf_buffer_release(dev, &p->y);
  vf_buffer_release(dev, &p->w.buf);
  vf_buffer_release(dev, &p->w.packing.groups);
  g_free(p);
}

/* Bytes of the weights a product reads (packed: words and group words). */
static uint64_t
weight_bytes(const VfMatrix *w)
{
  if (w->packing.bits)
    return vf_packed_words_bytes(w->packing.bits, w->rows, w->cols) +
           vf_packed_groups_bytes(w->rows, w->cols, w->packing.group_width);
  return (uint64_t)w->rows * w->cols * vf_dtype_size(w->dtype);
}

static const char *
weight_format(const VfMatrix *w)
{
  return w->packing.bits == 4 ? "q4" : w->packing.bits == 8 ? "q8" : vf_dtype_name(w->dtype);
}

/* Device buffers for one shape, filled with constant patterns (X = 1.0, W = 2^-7 in bf16; packed: every code
 * 8, zero 8, scale 2^-7). */
static Problem *
problem_new(VfDevice *dev, const Shape *s, GError **error)
{
  Problem *p = g_new0(Problem, 1);
  p->shape = *s;
  p->w = (VfMatrix){.dtype = s->bits ? VF_DTYPE_I32 : VF_DTYPE_BF16, .rows = s->n, .cols = s->k,
                    .packing = {.bits = s->bits, .group_width = 128, .g_idx_rows = {s->n, s->n}}};
  p->x.block = p->y.block = p->w.buf.block = p->w.packing.groups.block = -1; /* nothing to release yet */
  uint64_t group_bytes = s->bits ? vf_packed_groups_bytes(s->n, s->k, 128) : 0;
  if (!vf_buffer_alloc(dev, VF_MEMORY_DEVICE, weight_bytes(&p->w) - group_bytes, &p->w.buf, error) ||
      (s->bits && !vf_buffer_alloc(dev, VF_MEMORY_DEVICE, group_bytes, &p->w.packing.groups, error)) ||
      !vf_buffer_alloc(dev, VF_MEMORY_DEVICE, (uint64_t)s->m * s->k * 4, &p->x, error) ||
      !vf_buffer_alloc(dev, VF_MEMORY_DEVICE, (uint64_t)s->m * s->n * 4, &p->y, error)) {
    problem_free(dev, p);
    return NULL;
  }
  VfCmd *fill = vf_cmd_new(dev, error);
  gboolean ok = fill != NULL;
  if (ok) {
    vf_cmd_fill(fill, &p->x, 0x3f800000u);
    vf_cmd_fill(fill, &p->w.buf, s->bits == 4 ? 0x88888888u : s->bits == 8 ? 0x08080808u : 0x3c003c00u);
    if (s->bits)
      vf_cmd_fill(fill, &p->w.packing.groups, 8u << 16 | 0x2000u);
    ok = vf_cmd_submit(fill, error);
    vf_cmd_free(fill);
  }
  if (!ok) {
    problem_free(dev, p);
    return NULL;
  }
  return p;
}

static gboolean
add_matmul(Bench *b, const Problem *p, VfMatmulVariant v, bool chosen, bool crossover, GError **error)
{
  VfCmd *cmd = vf_cmd_new(b->dev, error);
  if (!cmd)
    return FALSE;
  vf_op_matmul_variant(cmd, v, &p->x, p->shape.m, &p->w, NULL, NULL, &p->y);
  Item it = {
    .kind = ITEM_MATMUL,
    .label = p->shape.label,
    .cmd = cmd,
    .bytes = weight_bytes(&p->w),
    .problem = p,
    .variant = v,
    .chosen = chosen,
    .crossover = crossover,
    .best_s = -1,
  };
  g_array_append_val(b->items, it);
  return TRUE;
}

static gboolean
add_shape(Bench *b, const Shape *s, bool crossover, GError **error)
{
  Problem *p = problem_new(b->dev, s, error);
  if (!p)
    return FALSE;
  g_ptr_array_add(b->problems, p);
  VfMatmulVariant chosen = vf_matmul_choose(b->dev, &p->w, s->m);
  if (crossover) {
    bool cpu = vf_ops_kernel_family(b->dev) == VF_KERNELS_CPU;
    return add_matmul(b, p, cpu ? VF_MATMUL_GEMV_TEXEL : VF_MATMUL_GEMV_SUBGROUP, false, true, error) &&
           add_matmul(b, p, cpu ? VF_MATMUL_GEMM_TEXEL : VF_MATMUL_GEMM_TILED, false, true, error);
  }
  if (!b->o.all_variants)
    return add_matmul(b, p, chosen, true, false, error);
  for (int v = VF_MATMUL_AUTO + 1; v < VF_MATMUL_N_VARIANTS; v++)
    if (vf_matmul_supports(b->dev, v, &p->w, s->m) && !add_matmul(b, p, v, v == (int)chosen, false, error))
      return FALSE;
  return TRUE;
}

static gboolean
add_reads(Bench *b, GError **error)
{
  const VfDeviceInfo *info = vf_device_get_info(b->dev);
  uint64_t bytes = MIN(b->o.quick ? 256ull << 20 : 1024ull << 20, info->max_allocation);
  if (!vf_buffer_alloc(b->dev, VF_MEMORY_DEVICE, bytes, &b->read_src, error) ||
      !vf_buffer_alloc(b->dev, VF_MEMORY_DEVICE, 16, &b->read_out, error))
    return FALSE;
  VfCmd *fill = vf_cmd_new(b->dev, error);
  if (!fill)
    return FALSE;
  vf_cmd_fill(fill, &b->read_src, 0x5a5a1234u);
  gboolean ok = vf_cmd_submit(fill, error);
  vf_cmd_free(fill);
  if (!ok)
    return FALSE;
  static const struct {
    VfMemreadPath path;
    const char *label;
  } paths[] = {{VF_MEMREAD_STORAGE, "device, storage-buffer loads"}, {VF_MEMREAD_TEXEL, "device, texel fetches"}};
  for (size_t i = 0; i < G_N_ELEMENTS(paths); i++) {
    VfCmd *cmd = vf_cmd_new(b->dev, error);
    if (!cmd)
      return FALSE;
    vf_op_memread_xor(cmd, paths[i].path, &b->read_src, &b->read_out);
    Item it = {.kind = ITEM_DEVICE_READ, .label = paths[i].label, .cmd = cmd, .bytes = bytes, .best_s = -1};
    g_array_append_val(b->items, it);
  }
  Item fma = {.kind = ITEM_HOST_FMA, .label = "host fp32 FMA peak", .best_s = -1};
  g_array_append_val(b->items, fma);
  if (info->kind == VF_DEVICE_KIND_CPU) {
    /* The device is this machine's CPU: its own bandwidth is the real ceiling. */
    b->host_buffer = g_malloc(bytes);
    memset(b->host_buffer, 0x5a, bytes);
    int all = (int)g_get_num_processors();
    int counts[] = {1, all};
    for (int i = 0; i < (all > 1 ? 2 : 1); i++) {
      Item it = {.kind = ITEM_HOST_READ, .label = "host, plain C", .host_data = b->host_buffer,
                 .threads = counts[i], .bytes = bytes, .best_s = -1};
      g_array_append_val(b->items, it);
    }
  }
  return TRUE;
}

/* ---- sampling ------------------------------------------------------------------------------------------ */

/* One sample of `it`; returns FALSE on a device error. */
static gboolean
sample(Bench *b, Item *it, GError **error)
{
  double s;
  if (it->kind == ITEM_HOST_READ) {
    s = host_read_once(it->host_data, it->bytes, it->threads);
    it->spent_s += s;
  } else if (it->kind == ITEM_HOST_FMA) {
    gint64 t0 = g_get_monotonic_time();
    s = 1.0 / vf_bench_host_fma_peak(0.1, &b->host_fma);
    it->spent_s += (g_get_monotonic_time() - t0) * 1e-6;
  } else {
    vf_profile_reset();
    gint64 t0 = g_get_monotonic_time();
    if (!vf_cmd_submit(it->cmd, error))
      return FALSE;
    double wall = (g_get_monotonic_time() - t0) * 1e-6;
    s = b->o.gpu_clock ? vf_profile_total_ns(NULL) * 1e-9 : wall;
    it->spent_s += wall;
  }
  it->samples++;
  if (it->best_s < 0 || s < it->best_s)
    it->best_s = s;
  return TRUE;
}

/* Round-robin until every item has its samples or has used its time budget. Each device item is submitted
 * once untimed first: drivers may compile a pipeline at its first dispatch (lavapipe does). */
static gboolean
sample_all(Bench *b, GError **error)
{
  for (guint i = 0; i < b->items->len; i++) {
    Item *it = &g_array_index(b->items, Item, i);
    if (it->cmd && !vf_cmd_submit(it->cmd, error))
      return FALSE;
  }
  for (int round = 0; round < b->o.runs; round++) {
    bool any = false;
    for (guint i = 0; i < b->items->len; i++) {
      Item *it = &g_array_index(b->items, Item, i);
      if (it->samples > 0 && it->spent_s + it->spent_s / it->samples > b->o.budget_s)
        continue;
      if (!sample(b, it, error))
        return FALSE;
      any = true;
    }
    if (!any)
      break;
  }
  return TRUE;
}

/* ---- report ---------------------------------------------------------------------------------------------- */

static double
item_gbs(const Item *it)
{
  return it->bytes / it->best_s / 1e9;
}

static void
print_matmul_header(void)
{
  printf("%-19s %5s %6s %7s %-5s %-14s %9s %8s %7s %6s %6s %6s\n", "shape", "M", "K", "N", "dtype", "variant",
         "time ms", "GFLOP/s", "GB/s", "%dev", "%host", "%fma");
}

/* fma_gflops: the host's FMA peak when it is the device's ceiling (a CPU driver), else 0. */
static void
print_matmul(const Bench *b, const Item *it, double device_gbs, double host_gbs, double fma_gflops)
{
  const Shape *s = &it->problem->shape;
  double flops = 2.0 * s->m * (double)s->n * s->k;
  char variant[32];
  g_snprintf(variant, sizeof variant, "%s%s", vf_matmul_variant_name(it->variant),
             it->chosen && b->o.all_variants ? "*" : "");
  printf("%-19s %5u %6u %7u %-5s %-14s %9.3f %8.1f %7.1f", s->label, s->m, s->k, s->n,
         weight_format(&it->problem->w), variant, it->best_s * 1e3, flops / it->best_s / 1e9, item_gbs(it));
  if (s->m < vf_matmul_gemv_threshold(b->dev)) {
    printf(" %5.0f%%", 100 * item_gbs(it) / device_gbs);
    if (host_gbs > 0)
      printf(" %5.0f%%", 100 * item_gbs(it) / host_gbs);
  } else if (fma_gflops > 0) {
    printf(" %6s %6s %5.0f%%", "", "", 100 * flops / it->best_s / 1e9 / fma_gflops);
  }
  printf("\n");
}

static void
report(const Bench *b)
{
  double device_gbs = 0, host_gbs = 0;
  printf("memory read bandwidth (%" G_GUINT64_FORMAT " MiB buffer)\n", (guint64)(b->read_src.size >> 20));
  for (guint i = 0; i < b->items->len; i++) {
    const Item *it = &g_array_index(b->items, Item, i);
    if (it->kind == ITEM_DEVICE_READ) {
      printf("  %-32s %7.1f GB/s\n", it->label, item_gbs(it));
      device_gbs = MAX(device_gbs, item_gbs(it));
    } else if (it->kind == ITEM_HOST_READ) {
      g_autofree char *label = g_strdup_printf("%s, %d thread%s", it->label, it->threads, it->threads > 1 ? "s" : "");
      printf("  %-32s %7.1f GB/s\n", label, item_gbs(it));
      host_gbs = MAX(host_gbs, item_gbs(it));
    }
  }
  printf("roofline for GEMV: device %.1f GB/s", device_gbs);
  if (host_gbs > 0)
    printf(", host %.1f GB/s", host_gbs);
  double fma_gflops = 0;
  for (guint i = 0; i < b->items->len; i++) {
    const Item *it = &g_array_index(b->items, Item, i);
    if (it->kind == ITEM_HOST_FMA)
      fma_gflops = 1.0 / it->best_s;
  }
  printf("\nhost fp32 FMA peak: %.0f GFLOP/s (%u threads, %s)\n", fma_gflops, g_get_num_processors(),
         b->host_fma ? "AVX2 FMA" : "vector multiply + add");
  /* The host's arithmetic is the GEMM ceiling only when the device is the host. */
  if (vf_device_get_info(b->dev)->kind != VF_DEVICE_KIND_CPU)
    fma_gflops = 0;
  printf("\nmatmul, Y[M, N] = X[M, K] · W[N, K]ᵀ; GB/s = weight bytes / time; %%dev and %%host: GEMV share of the "
         "read roofline; %%fma: GEMM share of the host FMA peak%s\n",
         b->o.all_variants ? "; * = the policy's choice" : "");
  print_matmul_header();
  for (guint i = 0; i < b->items->len; i++) {
    const Item *it = &g_array_index(b->items, Item, i);
    if (it->kind == ITEM_MATMUL && !it->crossover)
      print_matmul(b, it, device_gbs, host_gbs, fma_gflops);
  }
  if (b->o.crossover) {
    printf("\nGEMV against GEMM as M grows (AUTO uses GEMV for M < %u)\n", vf_matmul_gemv_threshold(b->dev));
    print_matmul_header();
    for (guint i = 0; i < b->items->len; i++) {
      const Item *it = &g_array_index(b->items, Item, i);
      if (it->kind == ITEM_MATMUL && it->crossover)
        print_matmul(b, it, device_gbs, host_gbs, fma_gflops);
    }
  }
}

/* ---- entry point ------------------------------------------------------------------------------------------ */

/* Releases what the bench allocated (not the device). */
static void
bench_release(Bench *b)
{
  for (guint i = 0; i < b->items->len; i++)
    vf_cmd_free(g_array_index(b->items, Item, i).cmd);
  g_array_unref(b->items);
  for (guint i = 0; i < b->problems->len; i++)
    problem_free(b->dev, b->problems->pdata[i]);
  g_ptr_array_unref(b->problems);
  vf_buffer_release(b->dev, &b->read_src);
  vf_buffer_release(b->dev, &b->read_out);
  g_free(b->host_buffer);
}

gboolean
vf_bench_peaks(VfDevice *dev, double *device_gbs, double *host_gbs, double *fma_gflops, GError **error)
{
  Bench b = {.dev = dev, .o = {.runs = 5, .budget_s = 2.0}};
  b.items = g_array_new(FALSE, FALSE, sizeof(Item));
  b.problems = g_ptr_array_new();
  b.read_src.block = b.read_out.block = -1;
  gboolean ok = add_reads(&b, error) && sample_all(&b, error);
  *device_gbs = *host_gbs = *fma_gflops = 0;
  for (guint i = 0; ok && i < b.items->len; i++) {
    const Item *it = &g_array_index(b.items, Item, i);
    double *best = it->kind == ITEM_HOST_READ ? host_gbs : device_gbs;
    if (it->kind == ITEM_HOST_FMA)
      *fma_gflops = 1.0 / it->best_s;
    else
      *best = MAX(*best, item_gbs(it));
  }
  bench_release(&b);
  return ok;
}

int
vf_bench_ops(int argc, char **argv)
{
  Bench b = {.o = {.runs = 20, .budget_s = 3.0}};
  for (int i = 1; i < argc; i++) {
    if (g_str_equal(argv[i], "--quick"))
      b.o.quick = true;
    else if (g_str_equal(argv[i], "--all-variants"))
      b.o.all_variants = true;
    else if (g_str_equal(argv[i], "--crossover"))
      b.o.crossover = true;
    else {
      fprintf(stderr, "viewfinder-cli bench ops: unknown option '%s'\n", argv[i]);
      return 2;
    }
  }
  if (b.o.quick)
    b.o.runs = 5, b.o.budget_s = 1.0;

  /* GPU timestamps per dispatch (unless the user switched profiling off explicitly). */
  g_setenv("VF_PROFILE", "1", FALSE);
  g_autoptr(GError) error = NULL;
  b.dev = vf_device_create(NULL, &error);
  if (!b.dev) {
    fprintf(stderr, "viewfinder-cli: %s\n", error->message);
    return 1;
  }
  const VfDeviceInfo *info = vf_device_get_info(b.dev);
  b.o.gpu_clock = vf_profile_enabled() && info->timestamp_period > 0;
  b.items = g_array_new(FALSE, FALSE, sizeof(Item));
  b.problems = g_ptr_array_new();
  b.read_src.block = b.read_out.block = -1;
  printf("%s\n%s\n%s\n", info->summary, vf_ops_policy_summary(b.dev), vf_pipeline_cache_summary(b.dev));
  printf("timing: %s; every row sampled round-robin, best of %d (fewer past %.0f s per row)\n\n",
         b.o.gpu_clock ? "GPU timestamps" : "wall clock", b.o.runs, b.o.budget_s);
  fflush(stdout);

  gboolean ok = add_reads(&b, &error);
  for (size_t i = 0; i < G_N_ELEMENTS(shapes) && ok; i++)
    if (!b.o.quick || shapes[i].quick)
      ok = add_shape(&b, &shapes[i], false, &error);
  for (size_t i = 0; i < G_N_ELEMENTS(crossover_rows) && ok && b.o.crossover; i++) {
    Shape s = {"crossover", crossover_rows[i], 1536, 8960, true};
    ok = add_shape(&b, &s, true, &error);
  }
  ok = ok && sample_all(&b, &error);
  if (ok)
    report(&b);
  VfPipelineStats ps = vf_pipeline_stats(b.dev);
  printf("\npipelines: %u created in %.2f s\n", ps.built, ps.build_seconds);
  bench_release(&b);
  vf_device_free(b.dev);
  if (!ok) {
    fprintf(stderr, "viewfinder-cli bench: %s\n", error->message);
    return 1;
  }
  return 0;
}
