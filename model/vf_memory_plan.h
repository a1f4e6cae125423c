/* "Will it fit?": the device memory a model needs, from its config alone (nothing is read or allocated),
 * so a model can be planned on a machine too small to hold it (bench --plan) and refused with numbers
 * before its weights are read (vf_model_load).
 *
 * The sizes follow what the loaders and runtimes allocate (vf_weights_load, vf_llm_create,
 * vf_vision_encode); tests/test_memory_plan.c holds them to the arena's own counts on the test models. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "vf_config.h"

typedef struct {
  uint64_t host_weights;   /* kept in host-visible memory: the embedding table of quantized untied models */
  uint64_t llm_weights;    /* device: embeddings (unless on the host), decoder layers, norms, lm_head */
  uint64_t vision_weights; /* the vision tower and merger (0 without) */
  uint64_t kv_cache;       /* K and V of every layer at `context` tokens */
  uint64_t llm_scratch;    /* one prefill chunk's activations, logits, rotary tables */
  uint64_t vision_scratch; /* one encode of the largest image `context` tokens can hold (0 without vision) */
  uint64_t total;          /* device memory: everything but host_weights */
  uint32_t context;
} VfMemoryPlan;

/* Plans `config` at `context` tokens, one sequence, with or without the vision tower. */
void vf_memory_plan(const VfConfig *config, uint32_t context, bool with_vision, VfMemoryPlan *plan);

/* Bytes of the language model's decoder weights alone (the 7 linears of every layer, as stored). */
uint64_t vf_memory_plan_linear_bytes(const VfConfig *config);
