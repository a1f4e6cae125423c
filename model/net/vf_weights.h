/* Weights of a Qwen2-VL checkpoint on the device, as the graphs use them.
 *
 * Matrices keep the checkpoint dtype and the [out, in] layout. Some are fused
 * at upload time (each part is streamed to its offset; no host copy):
 *   qkv     = rows of q_proj (H), k_proj (K), v_proj (K)  → [H + 2K, H]
 *   gate_up = rows of gate_proj (I), up_proj (I)           → [2I, H]
 * 1-D tensors (norm weights, biases) are widened to f32 on upload.
 * Tied embeddings: lm_head shares embed's buffer.
 * Quantized checkpoints (config->quant): the 7 linears of every decoder layer are packed matrices
 * (ops_matmul_quant.h), fused the same way; an untied embedding table stays in host-visible memory.
 */
#pragma once

#include <glib.h>

#include "vf_config.h"
#include "vf_ops.h"

#define VF_WEIGHTS_ERROR (vf_weights_error_quark())
GQuark vf_weights_error_quark(void);

/* Checkpoint contents that do not fit the config. (Unreadable or malformed files give
 * VF_SAFETENSORS_ERROR, device failures VF_VK_ERROR.) */
typedef enum {
  VF_WEIGHTS_ERROR_MISSING, /* a tensor the config calls for is not in the checkpoint */
  VF_WEIGHTS_ERROR_SHAPE,   /* a tensor's shape differs from what the config implies */
  VF_WEIGHTS_ERROR_DTYPE,   /* a dtype the engine cannot use there, or mixed dtypes in one fused matrix */
  VF_WEIGHTS_ERROR_VALUE,   /* values the engine cannot use: a g_idx outside the groups, a non-zero bias where the
                             * model has none */
} VfWeightsError;

typedef struct {
  VfBuffer attn_norm;   /* f32 [H] input_layernorm */
  VfMatrix qkv;         /* [H + 2K, H] */
  VfBuffer qkv_bias;    /* f32 [H + 2K] */
  VfMatrix o;           /* [H, H], no bias */
  VfBuffer mlp_norm;    /* f32 [H] post_attention_layernorm */
  VfMatrix gate_up;     /* [2I, H], no bias */
  VfMatrix down;        /* [H, I], no bias */
} VfLlmLayer;

typedef struct {
  VfBuffer norm1_w, norm1_b;  /* f32 [E] */
  VfMatrix qkv;               /* [3E, E] rows q, k, v; heads of head_dim consecutive in each */
  VfBuffer qkv_bias;          /* f32 [3E] */
  VfMatrix proj;              /* [E, E] */
  VfBuffer proj_bias;         /* f32 [E] */
  VfBuffer norm2_w, norm2_b;  /* f32 [E] */
  VfMatrix fc1;               /* [M, E] */
  VfBuffer fc1_bias;          /* f32 [M] */
  VfMatrix fc2;               /* [E, M] */
  VfBuffer fc2_bias;          /* f32 [E] */
} VfVisionBlock;

typedef struct {
  VfDevice *dev;
  const VfConfig *config;
  /* Language model */
  VfMatrix embed;        /* [V, H] */
  VfMatrix lm_head;      /* [V, H]; same buffer as embed when tied */
  VfLlmLayer *layers;    /* [config->layers] */
  VfBuffer final_norm;   /* f32 [H] */
  /* Vision tower */
  VfMatrix patch_embed;  /* [E, 3·2·14·14 = 1176] (Conv3d weight flattened) */
  VfVisionBlock *blocks; /* [config->vision.depth] */
  VfBuffer merger_ln_w, merger_ln_b; /* f32 [E] */
  VfMatrix merger_fc1;   /* [4E, 4E] merger.mlp.0 (4 = merge_size²) */
  VfBuffer merger_fc1_bias; /* f32 [4E] */
  VfMatrix merger_fc2;   /* [H, 4E] merger.mlp.2 */
  VfBuffer merger_fc2_bias; /* f32 [H] */
  uint64_t device_bytes;  /* total uploaded */
  uint64_t host_bytes;    /* of which in host-visible memory (the embedding table of quantized untied models) */
} VfWeights;

/* Progress of an upload: bytes copied so far and in all. Called from the loading thread. */
typedef void (*VfProgressFunc)(uint64_t done, uint64_t total, void *user);

/* Opens the checkpoint in `dir` (model.safetensors or model.safetensors.index.json + shards), checks every
 * tensor name, dtype and shape against `config` before uploading anything, then streams the tensors to the
 * device. Errors name the file and the tensor. On failure nothing stays allocated on the device.
 * `config` is borrowed: it must outlive the weights. `progress` may be NULL; its last call has
 * done == total == device_bytes. Matrices may be BF16, F16 or F32; tensors the config does not call for
 * (and lm_head.weight when the embeddings are tied) are ignored. */
VfWeights *vf_weights_load(VfDevice *dev, const VfConfig *config, const char *dir, VfProgressFunc progress,
                           void *user, GError **error);
void vf_weights_free(VfWeights *weights);
/* The checks of vf_weights_load (every tensor's name, dtype and shape against `config`) without a device or an
 * upload: whether a folder would load, asked before the working model is released. */
gboolean vf_weights_check(const VfConfig *config, const char *dir, GError **error);
