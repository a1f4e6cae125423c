/* Random weights in the exact shapes of Qwen2-VL-2B / 7B, built in memory (no files), for benchmarks.
 * They go through the same VfWeights and graphs a real checkpoint does. */
#pragma once

#include <glib.h>

#include "vf_config.h"
#include "vf_weights.h"

/* "2b", "7b" or "72b": the configuration of the Instruct checkpoints (spec §1.1). */
VfConfig *vf_config_synthetic(const char *size, GError **error);

/* "bf16", "gptq-int4", "gptq-int8" or "awq": sets config->quant as the official repos do (group 128; 72B's
 * padded intermediate_size 29696 for the quantized ones). */
gboolean vf_config_synthetic_weights(VfConfig *config, const char *weights, GError **error);

/* bf16 weights (the decoder linears packed when config->quant says so) with values of a realistic scale (uniform, 1/sqrt(fan_in)), norms 1, small biases.
 * with_vision: also the vision tower and merger. */
VfWeights *vf_weights_synthetic(VfDevice *dev, const VfConfig *config, gboolean with_vision, uint64_t seed,
                                VfProgressFunc progress, void *user, GError **error);
