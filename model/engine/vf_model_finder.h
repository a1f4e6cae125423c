/* Finding Qwen2-VL checkpoints the user already has: the Hugging Face hub cache and the ModelScope cache.
 *
 *   Hugging Face   $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub (~/.cache/...):
 *                    models--Qwen--Qwen2-VL-2B-Instruct/snapshots/<commit>/{config.json, *.safetensors}
 *                  the snapshot named by refs/main is preferred when a repository holds several.
 *   ModelScope     $MODELSCOPE_CACHE, else ~/.cache/modelscope/hub:
 *                    Qwen/Qwen2-VL-2B-Instruct/  and (newer clients)  models/Qwen/Qwen2-VL-2B-Instruct/
 *
 * A folder counts as a checkpoint when its config.json says model_type "qwen2_vl" and every weight file
 * it needs is there (a download in progress is not offered). No GTK: tested as a unit. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  char *dir;    /* the checkpoint folder */
  char *name;   /* "Qwen2-VL-2B-Instruct" */
  char *source; /* "Hugging Face cache", "ModelScope cache" */
} VfFoundModel;

void vf_found_model_free(VfFoundModel *model);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfFoundModel, vf_found_model_free)

/* The checkpoints in both caches (VfFoundModel *), sorted by name, then folder. Never NULL. */
GPtrArray *vf_model_finder_scan(void);

/* The folders vf_model_finder_scan() looks in (whether or not they exist), for the welcome page. */
char *vf_model_finder_hf_cache(void);
char *vf_model_finder_modelscope_cache(void);

/* Whether `dir` holds a loadable Qwen2-VL checkpoint; the error says what is missing. */
gboolean vf_model_dir_check(const char *dir, GError **error);

/* A short name for a model folder: the repository name for a hub snapshot
 * (".../models--Qwen--Qwen2-VL-2B-Instruct/snapshots/abc" → "Qwen2-VL-2B-Instruct"), else the folder name. */
char *vf_model_display_name(const char *dir);

G_END_DECLS
