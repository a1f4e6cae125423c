/* Choosing the next token from logits, as transformers' generate does (spec §9):
 * repetition penalty → temperature → top-k → top-p → softmax → draw, or argmax
 * (lowest id among equal maxima) when not sampling. Seedable. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
  bool do_sample;
  float temperature;        /* ≤ 0 or 1: off */
  uint32_t top_k;           /* 0: off */
  float top_p;              /* ≥ 1: off */
  float repetition_penalty; /* 1: off */
  uint64_t seed;
} VfSamplerParams;

typedef struct VfSampler VfSampler;

VfSampler *vf_sampler_new(const VfSamplerParams *params, uint32_t vocab);
void vf_sampler_free(VfSampler *s);

/* Adds tokens to the context the repetition penalty looks at (the whole prompt and every generated token). */
void vf_sampler_observe(VfSampler *s, const int32_t *ids, uint32_t n);
/* Forgets the context (a new conversation). */
void vf_sampler_reset(VfSampler *s);

/* True when the choice is a plain argmax of the raw logits, which the device can compute. */
bool vf_sampler_is_plain_argmax(const VfSampler *s);

/* Picks the next token. `logits` [vocab] is modified in place (the processed scores). */
int32_t vf_sampler_pick(VfSampler *s, float *logits);

/* Lowest index of the largest value. */
int32_t vf_argmax(const float *x, uint32_t n);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfSampler, vf_sampler_free)
