/* Logits processors and sampling in transformers' order. */
#define G_LOG_DOMAIN "vf-sampler"

#include "vf_sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct VfSampler {
  VfSamplerParams p;
  uint32_t vocab;
  uint8_t *seen;      /* [vocab] 1 when the id occurs in the context */
  GArray *seen_ids;   /* int32, each distinct id once */
  uint64_t rng[4];    /* xoshiro256** state */
  uint32_t *order;    /* [vocab] scratch for sorting */
};

static uint64_t
splitmix(uint64_t *x)
{
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint64_t
rotl(uint64_t x, int k)
{
  return (x << k) | (x >> (64 - k));
}

static double
next_uniform(VfSampler *s)
{
  uint64_t *r = s->rng;
  uint64_t result = rotl(r[1] * 5, 7) * 9, t = r[1] << 17;
  r[2] ^= r[0];
  r[3] ^= r[1];
  r[1] ^= r[2];
  r[0] ^= r[3];
  r[2] ^= t;
  r[3] = rotl(r[3], 45);
  return (double)(result >> 11) * (1.0 / 9007199254740992.0);
}

VfSampler *
vf_sampler_new(const VfSamplerParams *params, uint32_t vocab)
{
  VfSampler *s = g_new0(VfSampler, 1);
  s->p = *params;
  s->vocab = vocab;
  s->seen = g_new0(uint8_t, vocab);
  s->seen_ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
  s->order = g_new(uint32_t, vocab);
  uint64_t seed = params->seed;
  for (int i = 0; i < 4; i++)
    s->rng[i] = splitmix(&seed);
  return s;
}

void
vf_sampler_free(VfSampler *s)
{
  if (!s)
    return;
  g_free(s->seen);
  g_array_unref(s->seen_ids);
  g_free(s->order);
  g_free(s);
}

void
vf_sampler_observe(VfSampler *s, const int32_t *ids, uint32_t n)
{
  for (uint32_t i = 0; i < n; i++)
    if (ids[i] >= 0 && (uint32_t)ids[i] < s->vocab && !s->seen[ids[i]]) {
      s->seen[ids[i]] = 1;
      g_array_append_val(s->seen_ids, ids[i]);
    }
}

void
vf_sampler_reset(VfSampler *s)
{
  for (guint i = 0; i < s->seen_ids->len; i++)
    s->seen[g_array_index(s->seen_ids, int32_t, i)] = 0;
  g_array_set_size(s->seen_ids, 0);
}

bool
vf_sampler_is_plain_argmax(const VfSampler *s)
{
  return !s->p.do_sample && s->p.repetition_penalty == 1.0f;
}

int32_t
vf_argmax(const float *x, uint32_t n)
{
  uint32_t best = 0;
  for (uint32_t i = 1; i < n; i++)
    if (x[i] > x[best])
      best = i;
  return (int32_t)best;
}

static const float *sort_keys;

static int
ascending(const void *a, const void *b)
{
  float x = sort_keys[*(const uint32_t *)a], y = sort_keys[*(const uint32_t *)b];
  if (x != y)
    return x < y ? -1 : 1;
  /* Stable for equal scores: lower ids first, so among ties the highest id ends last (spec §9.4). */
  return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

int32_t
vf_sampler_pick(VfSampler *s, float *x)
{
  const VfSamplerParams *p = &s->p;
  /* 1. Repetition penalty on the raw logits, once per distinct id. */
  if (p->repetition_penalty != 1.0f && p->repetition_penalty > 0) {
    for (guint i = 0; i < s->seen_ids->len; i++) {
      int32_t t = g_array_index(s->seen_ids, int32_t, i);
      x[t] = x[t] < 0 ? x[t] * p->repetition_penalty : x[t] / p->repetition_penalty;
    }
  }
  if (!p->do_sample)
    return vf_argmax(x, s->vocab);

  /* 2. Temperature. */
  if (p->temperature > 0 && p->temperature != 1.0f)
    for (uint32_t i = 0; i < s->vocab; i++)
      x[i] = x[i] / p->temperature;

  /* 3. Top-k: everything below the k-th largest value goes; ties with it stay. */
  uint32_t n = 0;
  for (uint32_t i = 0; i < s->vocab; i++)
    if (x[i] != -INFINITY)
      s->order[n++] = i;
  sort_keys = x;
  qsort(s->order, n, sizeof(uint32_t), ascending);
  if (p->top_k > 0 && p->top_k < n) {
    float kth = x[s->order[n - p->top_k]];
    uint32_t first = 0;
    while (first < n && x[s->order[first]] < kth)
      x[s->order[first++]] = -INFINITY;
    memmove(s->order, s->order + first, (n - first) * sizeof(uint32_t));
    n -= first;
  }

  /* 4. Top-p over the ascending order: drop positions whose cumulative probability ≤ 1 − top_p, keep the last. */
  double max = x[s->order[n - 1]];
  if (p->top_p < 1.0f && n > 1) {
    double total = 0;
    for (uint32_t i = 0; i < n; i++)
      total += exp((double)x[s->order[i]] - max);
    double cum = 0;
    uint32_t first = 0;
    for (uint32_t i = 0; i + 1 < n; i++) {
      cum += exp((double)x[s->order[i]] - max) / total;
      if (cum <= 1.0 - p->top_p)
        first = i + 1;
      else
        break;
    }
    for (uint32_t i = 0; i < first; i++)
      x[s->order[i]] = -INFINITY;
    memmove(s->order, s->order + first, (n - first) * sizeof(uint32_t));
    n -= first;
  }

  /* 5. Softmax over what is left and one draw. */
  double total = 0;
  for (uint32_t i = 0; i < n; i++)
    total += exp((double)x[s->order[i]] - max);
  double u = next_uniform(s) * total, acc = 0;
  for (uint32_t i = n; i-- > 0;) {
    acc += exp((double)x[s->order[i]] - max);
    if (u < acc)
      return (int32_t)s->order[i];
  }
  return (int32_t)s->order[n - 1];
}
