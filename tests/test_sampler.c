/* The sampler against hand-worked cases of transformers' logits processors (spec §9). */
#include <math.h>

#include "vf_sampler.h"
#include <glib.h>

static void
test_argmax_lowest_tie(void)
{
  float x[] = {1, 5, 3, 5, -2};
  g_assert_cmpint(vf_argmax(x, 5), ==, 1);
}

static void
test_repetition_penalty(void)
{
  VfSamplerParams p = {.repetition_penalty = 2.0f};
  g_autoptr(VfSampler) s = vf_sampler_new(&p, 4);
  int32_t ctx[] = {0, 2, 2};
  vf_sampler_observe(s, ctx, 3);
  /* Seen positive logits are divided, seen negative ones multiplied; each id once. */
  float x[] = {4.0f, 3.0f, -1.0f, 2.5f};
  g_assert_cmpint(vf_sampler_pick(s, x), ==, 1); /* 4/2 = 2 < 3 */
  g_assert_cmpfloat(x[0], ==, 2.0f);
  g_assert_cmpfloat(x[2], ==, -2.0f);
  g_assert_cmpfloat(x[3], ==, 2.5f);
  g_assert_false(vf_sampler_is_plain_argmax(s));
  vf_sampler_reset(s);
  float y[] = {4.0f, 3.0f, -1.0f, 2.5f};
  g_assert_cmpint(vf_sampler_pick(s, y), ==, 0);
}

static void
test_top_k_one_is_greedy(void)
{
  /* The shipped defaults (do_sample, top_k 1, top_p 0.001) reduce to argmax; among tied maxima the highest
   * id survives top-p (spec §9.4). */
  VfSamplerParams p = {.do_sample = true, .temperature = 0.01f, .top_k = 1, .top_p = 0.001f, .seed = 3,
                       .repetition_penalty = 1.0f};
  g_autoptr(VfSampler) s = vf_sampler_new(&p, 6);
  for (int i = 0; i < 20; i++) {
    float x[] = {0.5f, 7.0f, 1.0f, 6.9f, 7.0f, -3.0f};
    g_assert_cmpint(vf_sampler_pick(s, x), ==, 4);
  }
}

static void
test_top_p_keeps_the_nucleus(void)
{
  /* Probabilities ≈ {0.643, 0.237, 0.087, 0.032}; top_p 0.8: ascending cumulative sums are 0.032, 0.119,
   * 0.356, 1.0 and those ≤ 0.2 go, so ids 0 and 1 can be drawn, never 2 or 3. */
  VfSamplerParams p = {.do_sample = true, .top_p = 0.8f, .repetition_penalty = 1.0f, .seed = 11};
  g_autoptr(VfSampler) s = vf_sampler_new(&p, 4);
  int counts[4] = {0};
  for (int i = 0; i < 2000; i++) {
    float x[] = {3.0f, 2.0f, 1.0f, 0.0f};
    counts[vf_sampler_pick(s, x)]++;
  }
  g_assert_cmpint(counts[2] + counts[3], ==, 0);
  /* Renormalised: 0.643 / 0.880 = 0.731 for id 0; 2000 draws put it within ±5 %. */
  g_assert_cmpint(counts[0], >, 1350);
  g_assert_cmpint(counts[0], <, 1570);
}

static void
test_seed_reproducible(void)
{
  VfSamplerParams p = {.do_sample = true, .temperature = 1.5f, .repetition_penalty = 1.0f, .seed = 42};
  g_autoptr(VfSampler) a = vf_sampler_new(&p, 50);
  g_autoptr(VfSampler) b = vf_sampler_new(&p, 50);
  int differ = 0;
  for (int i = 0; i < 100; i++) {
    float x[50], y[50];
    for (int j = 0; j < 50; j++)
      x[j] = y[j] = sinf((float)(i * 50 + j));
    differ += vf_sampler_pick(a, x) != vf_sampler_pick(b, y);
  }
  g_assert_cmpint(differ, ==, 0);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/sampler/argmax-lowest-tie", test_argmax_lowest_tie);
  g_test_add_func("/sampler/repetition-penalty", test_repetition_penalty);
  g_test_add_func("/sampler/top-k-one-is-greedy", test_top_k_one_is_greedy);
  g_test_add_func("/sampler/top-p-keeps-the-nucleus", test_top_p_keeps_the_nucleus);
  g_test_add_func("/sampler/seed-reproducible", test_seed_reproducible);
  return g_test_run();
}
