/* viewfinder-cli bench attention: both attention kernels (texel, subgroup) on three shapes — a 1024-patch
 * vision image (16 heads × 80), a 512-token prefill and one decode step over 4096 cached keys (12/2 heads ×
 * 128) — best of two submits each, with GFLOP/s or K/V GB/s. Random inputs (the speed does not depend on
 * them). What used to be the /ops/attention/timing test, which asserted nothing. */
#define G_LOG_DOMAIN "viewfinder-bench"

#include <math.h>
#include <stdio.h>

#include "cli.h"
#include "vf_ops.h"

/* A device buffer of `floats` values uniform in [−1, 1) (fixed seed), or zeros when `seed` is 0. */
static gboolean
random_buffer(VfDevice *dev, size_t floats, uint32_t seed, VfBuffer *out, GError **error)
{
  if (!vf_buffer_alloc(dev, VF_MEMORY_DEVICE, floats * 4, out, error))
    return FALSE;
  if (!seed)
    return vf_buffer_zero(dev, out, error);
  g_autoptr(GRand) rand = g_rand_new_with_seed(seed);
  g_autofree float *values = g_new(float, floats);
  for (size_t i = 0; i < floats; i++)
    values[i] = (float)g_rand_double_range(rand, -1, 1);
  return vf_buffer_upload(dev, out, 0, values, floats * 4, error);
}

static gboolean
buffer_of(VfDevice *dev, const void *data, size_t bytes, VfBuffer *out, GError **error)
{
  return vf_buffer_alloc(dev, VF_MEMORY_DEVICE, bytes, out, error) && vf_buffer_upload(dev, out, 0, data, bytes, error);
}

/* Best of two submits of `cmd` (NULL: creating it failed), ms, or NaN with `error`; frees it. */
static double
time_submit(VfCmd *cmd, GError **error)
{
  double best = cmd ? INFINITY : NAN;
  for (int i = 0; cmd && i < 2; i++) {
    gint64 t0 = g_get_monotonic_time();
    if (!vf_cmd_submit(cmd, error)) {
      best = NAN;
      break;
    }
    best = MIN(best, (g_get_monotonic_time() - t0) / 1e3);
  }
  if (cmd)
    vf_cmd_free(cmd);
  return best;
}

static gboolean
bench_variant(VfDevice *dev, VfAttentionVariant v, GError **error)
{
  const char *name = vf_attention_variant_name(v);
  gboolean ok = TRUE;
  {
    uint32_t rows = 1024, width = 16 * 80, stride = 3 * width;
    int32_t cu[] = {0, (int32_t)rows};
    VfBuffer qkv = {0}, cu_buf = {0}, out = {0};
    ok = random_buffer(dev, (size_t)rows * stride, 5, &qkv, error) && buffer_of(dev, cu, sizeof cu, &cu_buf, error) &&
         random_buffer(dev, (size_t)rows * width, 0, &out, error);
    if (ok) {
      VfCmd *cmd = vf_cmd_new(dev, error);
      if (cmd)
        vf_op_attention_groups_variant(cmd, v, &qkv, rows, stride, 16, 80, &cu_buf, 1, &out);
      double ms = time_submit(cmd, error);
      ok = !isnan(ms);
      if (ok)
        printf("%-9s vision 1024 patches x 16 heads x 80:            %8.1f ms  %6.1f GFLOP/s\n", name, ms,
               4.0 * rows * rows * width / ms / 1e6);
    }
    VfBuffer *bufs[] = {&qkv, &cu_buf, &out};
    for (size_t i = 0; i < G_N_ELEMENTS(bufs); i++)
      if (bufs[i]->buffer)
        vf_buffer_release(dev, bufs[i]);
  }
  if (!ok)
    return FALSE;
  uint32_t hd = 128, heads = 12, kv = 2, capacity = 4096, stride = (heads + 2 * kv) * hd, rows = 512;
  uint32_t zero = 0, last = capacity - 1;
  VfBuffer qkv = {0}, out = {0}, seq_prefill = {0}, seq_decode = {0};
  VfKvCache cache = {.kv_heads = kv, .head_dim = hd, .capacity = capacity};
  ok = random_buffer(dev, (size_t)rows * stride, 6, &qkv, error) &&
       random_buffer(dev, (size_t)kv * capacity * hd, 7, &cache.k, error) &&
       random_buffer(dev, (size_t)kv * capacity * hd, 8, &cache.v, error) &&
       buffer_of(dev, &zero, 4, &seq_prefill, error) && buffer_of(dev, &last, 4, &seq_decode, error) &&
       random_buffer(dev, (size_t)rows * heads * hd, 0, &out, error);
  if (ok) {
    VfCmd *cmd = vf_cmd_new(dev, error);
    if (cmd)
      vf_op_attention_causal_variant(cmd, v, &qkv, rows, stride, heads, &cache, &seq_prefill, 0, &out);
    double ms = time_submit(cmd, error);
    ok = !isnan(ms);
    if (ok)
      printf("%-9s prefill 512 rows x 12/2 heads x 128:            %8.1f ms  %6.1f GFLOP/s\n", name, ms,
             4.0 * rows * (rows + 1) / 2 * heads * hd / ms / 1e6);
  }
  if (ok) {
    VfCmd *cmd = vf_cmd_new(dev, error);
    if (cmd)
      vf_op_attention_causal_variant(cmd, v, &qkv, 1, stride, heads, &cache, &seq_decode, 0, &out);
    double ms = time_submit(cmd, error);
    ok = !isnan(ms);
    if (ok)
      printf("%-9s decode 1 row over 4096 keys, 12/2 heads x 128:  %8.2f ms  %6.1f GB/s K/V\n", name, ms,
             2.0 * kv * capacity * hd * 4 / ms / 1e6);
  }
  VfBuffer *bufs[] = {&qkv, &out, &seq_prefill, &seq_decode, &cache.k, &cache.v};
  for (size_t i = 0; i < G_N_ELEMENTS(bufs); i++)
    if (bufs[i]->buffer)
      vf_buffer_release(dev, bufs[i]);
  return ok;
}

int
vf_cli_bench_attention(int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VfDevice) dev = vf_cli_device(&error);
  if (!dev) {
    fprintf(stderr, "viewfinder-cli bench attention: %s\n", error->message);
    return 1;
  }
  const VfAttentionVariant variants[] = {VF_ATTENTION_TEXEL, VF_ATTENTION_SUBGROUP};
  for (size_t i = 0; i < G_N_ELEMENTS(variants); i++) {
    if (!vf_attention_supports(dev, variants[i], 128, 2048)) {
      printf("%-9s not supported on this device\n", vf_attention_variant_name(variants[i]));
      continue;
    }
    if (!bench_variant(dev, variants[i], &error)) {
      fprintf(stderr, "viewfinder-cli bench attention: %s: %s\n", vf_attention_variant_name(variants[i]),
              error->message);
      return 1;
    }
  }
  printf("automatic choice here: %s\n", vf_attention_variant_name(vf_attention_choose(dev, 128, 2048)));
  return 0;
}
