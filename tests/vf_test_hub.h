/* A local imitation of the Hugging Face Hub for tests, on two servers of 127.0.0.1: the hub (the
 * api/models/REPO/revision/main listing and REPO/resolve/COMMIT/FILE; LFS files, the *.safetensors, redirect
 * to the second server) and a "CDN" (blobs/SHA256, another origin, so a token must not reach it). Files are
 * served with their ETag and honour Range requests; faults can be asked for per file. Every request is
 * logged as "hub GET /path range=bytes=N- auth=token" (auth: none, token, or the header as sent). */
#pragma once

#include <glib.h>

typedef struct VfTestHub VfTestHub;

#define VF_TEST_HUB_TOKEN "hf_test_token"

/* files: pairs of (repository path, local file), NULL-terminated. */
VfTestHub *vf_test_hub_start(const char *repo, const char *commit, const char *const *files);
void vf_test_hub_stop(VfTestHub *hub);
/* "http://127.0.0.1:PORT", for VfHubOptions.endpoint or HF_ENDPOINT. */
char *vf_test_hub_endpoint(VfTestHub *hub);

/* Clears the log and every fault. */
void vf_test_hub_reset(VfTestHub *hub);
void vf_test_hub_clear_log(VfTestHub *hub);
/* Hub requests without "Authorization: Bearer " VF_TEST_HUB_TOKEN get 401. */
void vf_test_hub_require_token(VfTestHub *hub, gboolean required);
/* The next GET of `file` sends `after` bytes and closes the connection. */
void vf_test_hub_drop(VfTestHub *hub, const char *file, guint64 after);
/* The next GET of `file` sends `after` bytes, then nothing more (the connection stays open). */
void vf_test_hub_stall(VfTestHub *hub, const char *file, guint64 after);
/* GETs of `file` serve one flipped byte, `times` times (G_MAXUINT: always). */
void vf_test_hub_corrupt(VfTestHub *hub, const char *file, guint times);
/* GETs of `file` send `piece` bytes every `interval_ms` (ignoring Range). */
void vf_test_hub_slow(VfTestHub *hub, const char *file, gsize piece, guint interval_ms);

/* Requests whose log line contains `needle`. */
guint vf_test_hub_log_count(VfTestHub *hub, const char *needle);
void vf_test_hub_print_log(VfTestHub *hub);

guint vf_test_hub_n_files(VfTestHub *hub);
/* File i's bytes (owned by the hub), repository path and etag. */
GBytes *vf_test_hub_file(VfTestHub *hub, guint i, const char **path, const char **etag);
GBytes *vf_test_hub_find(VfTestHub *hub, const char *path, const char **etag);
