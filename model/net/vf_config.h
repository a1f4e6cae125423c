/* Model configuration: config.json, generation_config.json and preprocessor_config.json of a
 * Hugging Face Qwen2-VL checkpoint folder (spec §1). */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define VF_CONFIG_ERROR (vf_config_error_quark())
GQuark vf_config_error_quark(void);

typedef enum {
  VF_CONFIG_ERROR_MISSING,     /* a file or a required field is missing */
  VF_CONFIG_ERROR_MALFORMED,   /* not JSON, or a field of the wrong type/range */
  VF_CONFIG_ERROR_UNSUPPORTED, /* a model_type or setting Viewfinder does not run */
} VfConfigError;

typedef struct {
  uint32_t depth;             /* 32 */
  uint32_t embed_dim;         /* E = 1280 */
  uint32_t num_heads;         /* 16 → head_dim 80 */
  uint32_t mlp_dim;           /* embed_dim · mlp_ratio = 5120 */
  uint32_t out_hidden;        /* merger output width = LLM hidden (vision_config.hidden_size) */
  uint32_t patch_size;        /* 14 */
  uint32_t temporal_patch;    /* 2 */
  uint32_t merge_size;        /* 2 */
  uint32_t in_channels;       /* 3 */
} VfVisionConfig;

/* How the decoder's linear layers are stored (spec §2.6). */
typedef enum {
  VF_QUANT_NONE, /* 16/32-bit weights */
  VF_QUANT_GPTQ, /* AutoGPTQ: qweight packed along the input, zeros stored as zero − 1, g_idx */
  VF_QUANT_AWQ,  /* AutoAWQ GEMM: qweight packed along the output in the order [0, 2, 4, 6, 1, 3, 5, 7] */
} VfQuantMethod;

typedef struct {
  VfQuantMethod method;
  uint32_t bits;        /* 4 or 8 (AWQ: 4) */
  uint32_t group_size;  /* inputs per scale/zero group; 0: one group per column (group_size -1) */
  bool sym;             /* GPTQ: symmetric (zeros are still read as stored) */
  bool desc_act;        /* GPTQ act-order: g_idx is read and honoured either way */
  bool zero_point;      /* AWQ: zeros as stored in qzeros */
} VfQuantConfig;

typedef struct {
  char *model_type;           /* "qwen2_vl" */
  uint32_t hidden;            /* H */
  uint32_t intermediate;      /* I */
  uint32_t layers;
  uint32_t heads;
  uint32_t kv_heads;
  uint32_t head_dim;          /* hidden / heads */
  uint32_t vocab;             /* embedding rows */
  bool tie_embeddings;
  float rms_eps;
  float rope_theta;
  uint32_t mrope_section[3];  /* sums to head_dim / 2 */
  uint32_t max_positions;
  /* special ids */
  int32_t bos_id, eos_id, vision_start_id, vision_end_id, vision_pad_id, image_pad_id, video_pad_id;
  VfVisionConfig vision;
  VfQuantConfig quant;        /* quantization_config (and GPTQ's quantize_config.json); method NONE without */

  /* generation_config.json (defaults when the file is absent: greedy, eos = {eos_id}) */
  bool do_sample;
  float temperature, top_p, repetition_penalty;
  uint32_t top_k;
  int32_t gen_eos_ids[4];
  uint32_t n_gen_eos;
  int32_t pad_id;

  /* preprocessor_config.json */
  uint32_t min_pixels, max_pixels;
  float image_mean[3], image_std[3];
} VfConfig;

/* Reads the three files of `dir` (generation/preprocessor configs are optional). Errors name the file and
 * the field. */
VfConfig *vf_config_load(const char *dir, GError **error);
void vf_config_free(VfConfig *config);

/* "GPTQ-Int4", "GPTQ-Int8", "AWQ", or "16-bit" (the header and the bench print it). */
const char *vf_quant_format_name(const VfQuantConfig *q);
/* "7B · GPTQ-Int4": the model's size (2B, 7B, 72B by their hidden width, else a parameter count) and its weight
 * format, as the window's header shows it. Free with g_free. */
char *vf_config_describe(const VfConfig *c);

/* Inputs per group of a quantized linear with `cols` inputs (cols itself for group_size -1). */
uint32_t vf_quant_group_width(const VfQuantConfig *q, uint32_t cols);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfConfig, vf_config_free)
