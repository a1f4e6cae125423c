/* The tensors of a checkpoint folder, whole or sharded (spec §2.1, §2.2).
 *
 *   dir/model.safetensors                         one file holds every tensor
 *   dir/model.safetensors.index.json              or an index naming the shard of each tensor:
 *       { "metadata": { "total_size": ... },
 *         "weight_map": { "model.norm.weight": "model-00002-of-00002.safetensors", ... } }
 *
 * When both exist the single file wins (as in transformers). Each shard is mapped once however many
 * tensors it holds. Names are looked up in the original Qwen2-VL form: checkpoints saved by later
 * transformers versions say "model.language_model.X" for "model.X" and "model.visual.X" for "visual.X";
 * both spellings of one tensor in the same checkpoint is an error.
 */
#pragma once

#include "vf_safetensors.h"

typedef struct VfCheckpoint VfCheckpoint;

/* Opens and validates every file; errors name the file (and the tensor or shard at fault). */
VfCheckpoint *vf_checkpoint_open(const char *dir, GError **error);
void vf_checkpoint_free(VfCheckpoint *ck);

/* The file that lists the tensors (model.safetensors or the index): what "missing tensor" errors name. */
const char *vf_checkpoint_source(const VfCheckpoint *ck);
/* Looks a tensor up by its original Qwen2-VL name; NULL when absent. */
const VfTensor *vf_checkpoint_find(const VfCheckpoint *ck, const char *name);
uint32_t vf_checkpoint_count(const VfCheckpoint *ck);
/* Tensor `index` and its original Qwen2-VL name (which may differ from tensor->name). */
const VfTensor *vf_checkpoint_tensor(const VfCheckpoint *ck, uint32_t index, const char **name);
uint32_t vf_checkpoint_n_files(const VfCheckpoint *ck);
/* Read-ahead hint for every file (best effort). */
void vf_checkpoint_advise_sequential(const VfCheckpoint *ck);

/* "model.language_model.X" → "model.X", "model.visual.X" → "visual.X", anything else unchanged.
 * Free with g_free. */
char *vf_checkpoint_canonical_name(const char *name);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfCheckpoint, vf_checkpoint_free)
