/* VfDownloadDialog: "Get Models" — the Qwen2-VL checkpoints with their sizes from the Hugging Face Hub and
 * what this computer's cache already holds of each, and one download at a time with per-file and total
 * progress, speed, time left, Pause and Resume (the partial file stays in the cache, so a download also
 * resumes after the app restarts). Downloads go through vf_hub (model/hub) into the standard cache layout;
 * the endpoint and token come from HF_ENDPOINT / HF_TOKEN as huggingface_hub reads them. When a download
 * completes the dialog emits "downloaded" with the snapshot folder and closes. */
#pragma once

#include <adwaita.h>
#include <json-glib/json-glib.h>

#include "vf_engine.h"

G_BEGIN_DECLS

#define VF_TYPE_DOWNLOAD_DIALOG (vf_download_dialog_get_type())
G_DECLARE_FINAL_TYPE(VfDownloadDialog, vf_download_dialog, VF, DOWNLOAD_DIALOG, AdwWindow)

/* `engine` says which GPU the models would run on, for each row's fit hint ("fits with a 32768-token
 * context", "too large for this GPU"), planned from the repository's config.json (vf_memory_plan_fit). */
VfDownloadDialog *vf_download_dialog_new(GtkWindow *parent, VfEngine *engine);

/* Starts (or resumes) downloading `repo_id`, as its row's button does. Nothing happens while another
 * download runs. */
void vf_download_dialog_start(VfDownloadDialog *self, const char *repo_id);

/* The dialog's state for the window's test dump: {"repo", "state", "file", "done", "total", "error", "rows":
 * [{"repo", "subtitle", "fit"}]}. */
void vf_download_dialog_dump(VfDownloadDialog *self, JsonBuilder *b);

G_END_DECLS
