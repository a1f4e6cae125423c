/* Test checkpoints in the quantized formats, made from a 16-bit model folder (tiny-a, tiny-b):
 *
 *   qdir  the official repos' layout (spec §2.6): config.json with quantization_config, the 7 linears
 *         of every decoder layer as qweight/qzeros/scales(/g_idx), everything else F16
 *   ddir  the same weights for today's 16/32-bit path: the same F16 tensors, each quantized linear
 *         dequantized exactly into an F32 [out, in] weight, no quantization_config
 *
 * Quantization is round-to-nearest per group of inputs, as the formats define it: GPTQ symmetric
 * (zero 2^(b−1), stored zero − 1) or asymmetric, AWQ asymmetric with zero points; scales are rounded
 * to F16 first and the integers computed with the rounded scale. act_order draws g_idx from a fixed
 * permutation of the inputs. Packing goes through tests/ref/ref_quant.c. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "vf_config.h"

typedef struct {
  VfQuantMethod method;
  uint32_t bits;
  uint32_t group_size;  /* 0: -1 (one group per column) */
  bool sym;             /* GPTQ */
  bool act_order;       /* GPTQ desc_act with a permuted g_idx */
  bool zero_biases;     /* GPTQ: write zero biases for o/gate/up/down, like the first uploads */
} VfQuantizeOptions;

/* Parses "gptq-int4", "gptq-int8" or "awq" into opts (defaults: group 32, sym GPTQ). */
gboolean vf_quantize_parse_format(const char *name, VfQuantizeOptions *opts);

/* Writes qdir and ddir (created; files replaced). Errors name the file. */
gboolean vf_quantize_model(const char *src, const char *qdir, const char *ddir, const VfQuantizeOptions *opts,
                           GError **error);
