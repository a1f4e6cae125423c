/* VfModel: everything loaded from one checkpoint folder — config, device weights and the language-model
 * runtime with its KV cache. The tokenizer is loaded separately (a folder may lack one, e.g. test models). */
#pragma once

#include <glib.h>

#include "vf_config.h"
#include "vf_llm.h"
#include "vf_vision.h"
#include "vf_weights.h"

typedef struct {
  VfDevice *dev; /* not owned */
  char *dir;
  VfConfig *config;
  VfWeights *weights;
  VfLlm *llm;
  VfVision *vision; /* NULL when the checkpoint has no vision tower */
} VfModel;

VfModel *vf_model_load(VfDevice *dev, const char *dir, const VfLlmOptions *options, VfProgressFunc progress,
                       void *user, GError **error);
void vf_model_free(VfModel *model);
/* Whether `dir` would load: its config and its tensor inventory (names, dtypes, shapes), read without a device. */
gboolean vf_model_check(const char *dir, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfModel, vf_model_free)
