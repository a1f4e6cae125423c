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

#define VF_PLAN_ERROR (vf_plan_error_quark())
GQuark vf_plan_error_quark(void);

typedef enum {
  VF_PLAN_ERROR_TOO_BIG, /* the model does not fit the device's memory budget */
} VfPlanError;

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

/* The name a user knows a checkpoint folder by: NAME of a Hugging Face cache path ".../models--ORG--NAME/
 * snapshots/REV", else the folder's own name. Free with g_free. */
char *vf_memory_plan_model_name(const char *dir);

/* The fit hint of a model not yet downloaded: the longest context, a multiple of VF_PLAN_FIT_STEP up to
 * max_context, at which `config` with its vision tower fits `budget` bytes, with its plan in *plan; 0 when not
 * even VF_PLAN_FIT_STEP tokens fit (then *plan is the plan at VF_PLAN_FIT_STEP tokens). */
#define VF_PLAN_FIT_STEP 1024u
uint32_t vf_memory_plan_fit(const VfConfig *config, uint64_t budget, uint32_t max_context, VfMemoryPlan *plan);

/* "Will it fit?": fails (VF_PLAN_ERROR_TOO_BIG) when `config` at `context` tokens, with its vision tower,
 * needs more than `budget` bytes, saying how much it needs, what the device has, and the way out (the
 * 4-bit repo of the same model with its size, or a shorter context). */
gboolean vf_memory_plan_check(const VfConfig *config, const char *name, uint32_t context, uint64_t budget,
                              GError **error);
