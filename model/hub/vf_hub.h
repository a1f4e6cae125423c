/* VfHub: downloading a model repository from the Hugging Face Hub into the standard cache layout, so
 * huggingface-cli, transformers and Viewfinder share one copy.
 *
 *   $HF_HUB_CACHE (else $HF_HOME/hub, else ~/.cache/huggingface/hub)/
 *     models--Qwen--Qwen2-VL-2B-Instruct/
 *       refs/main                          the commit the revision resolved to ("a1b2…", no newline)
 *       blobs/<etag>                       one file per distinct content: the LFS sha256, or the git blob sha1
 *       blobs/<etag>.incomplete            a download in progress (kept when paused, cancelled or cut off)
 *       snapshots/<commit>/config.json  →  ../../blobs/<etag>          (relative symbolic links)
 *       snapshots/<commit>/sub/file     →  ../../../blobs/<etag>
 *
 * The protocol is huggingface_hub's:
 *   GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true
 *       → {"sha": commit, "siblings": [{"rfilename", "blobId", "size", "lfs": {"sha256", "size"}}]}
 *   GET {endpoint}/{repo}/resolve/{commit}/{file}   (redirects to a CDN for LFS files; Range honoured)
 * The token (`Authorization: Bearer`) goes only to the endpoint's own origin, never along a redirect to
 * another host. Endpoint: $HF_ENDPOINT, else https://huggingface.co. Token: $HF_TOKEN, else the file
 * $HF_TOKEN_PATH, else $HF_HOME/token (~/.cache/huggingface/token), as huggingface_hub reads them.
 *
 * A file is written to blobs/<etag>.incomplete, resumed with an HTTP Range request from its length (after
 * a dropped connection at once, up to VF_HUB_RESUME_TRIES times; after a pause or a restart of the app on
 * the next call), verified (SHA-256 for LFS files, the git blob SHA-1 otherwise) and only then renamed into
 * place and linked from the snapshot: nothing unverified ever appears under snapshots/. A checksum mismatch
 * is downloaded again once from the start, then reported. The disk space all missing files need is
 * checked before the first byte is fetched.
 *
 *   VfHubOptions opts = {0};                            // endpoint, token and cache from the environment
 *   g_autofree char *dir = vf_hub_download("Qwen/Qwen2-VL-2B-Instruct", "main", &opts, on_progress, self,
 *                                          cancellable, &error);
 *   // dir: .../models--Qwen--Qwen2-VL-2B-Instruct/snapshots/<commit>, ready for vf_model_load()
 *
 * Synchronous (run it on a worker thread); GLib, GIO, json-glib and libsoup only. */
#pragma once

#include <gio/gio.h>
#include <glib.h>
#include <stdint.h>

#include "vf_config.h"

G_BEGIN_DECLS

#define VF_HUB_ERROR (vf_hub_error_quark())
GQuark vf_hub_error_quark(void);

typedef enum {
  VF_HUB_ERROR_NETWORK,   /* no connection, a connection that failed for good, a timeout */
  VF_HUB_ERROR_HTTP,      /* the server answered with an unexpected status */
  VF_HUB_ERROR_NOT_FOUND, /* no such repository, revision or file */
  VF_HUB_ERROR_AUTH,      /* 401/403: gated or private, and no (valid) token */
  VF_HUB_ERROR_FORMAT,    /* the repository listing is not what the hub sends */
  VF_HUB_ERROR_CHECKSUM,  /* a file's content does not match its checksum, twice */
  VF_HUB_ERROR_DISK_FULL, /* not enough free space for the missing files */
  VF_HUB_ERROR_IO,        /* the cache folder cannot be written */
  VF_HUB_ERROR_BUSY,      /* another process is downloading the same file */
} VfHubError;

/* Connection losses resumed at once, per file, before the download gives up (a later call resumes again). */
#define VF_HUB_RESUME_TRIES 5

typedef struct {
  const char *endpoint;  /* NULL: $HF_ENDPOINT, else https://huggingface.co */
  const char *token;     /* NULL: from the environment or the token file (none is fine for public repos) */
  const char *cache_dir; /* NULL: vf_hub_cache_dir() */
  guint64 reserve_bytes; /* free space to leave on the cache's file system after the download */
  guint timeout_s;       /* per connect / read wait; 0: 30 s */
} VfHubOptions;

typedef struct {
  const char *file;      /* the file being fetched (repository path) */
  guint file_index;      /* from 0 */
  guint n_files;
  guint64 file_done, file_size;
  guint64 done, total;   /* all files of the repository, bytes already in the cache included */
  double bytes_per_second; /* smoothed over the last seconds; 0 before it is known */
  double seconds_left;   /* −1 while unknown */
} VfHubProgress;

typedef void (*VfHubProgressFunc)(const VfHubProgress *progress, void *user);

/* The hub cache: $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, else
 * $XDG_CACHE_HOME/huggingface/hub. */
char *vf_hub_cache_dir(void);
/* "Qwen/Qwen2-VL-2B-Instruct" → "<cache>/models--Qwen--Qwen2-VL-2B-Instruct". */
char *vf_hub_repo_dir(const char *cache_dir, const char *repo_id);

/* "4.4 GB", "20.1 MB" (decimal units, a plain space), and "1 min 30 s left" / "time left unknown" (< 0),
 * for progress lines. */
char *vf_hub_format_bytes(guint64 bytes);
char *vf_hub_format_time_left(double seconds);

/* Downloads every file of `repo_id` at `revision` (NULL: "main") that is not in the cache yet and returns
 * the snapshot folder. Progress comes at most every 100 ms and at the end of each file. Cancelling is a
 * pause: the partial file stays and the next call resumes it (G_IO_ERROR_CANCELLED). */
char *vf_hub_download(const char *repo_id, const char *revision, const VfHubOptions *options,
                      VfHubProgressFunc progress, void *user, GCancellable *cancellable, GError **error);

/* What a repository holds, for a "Get models" list: its size and what the cache still lacks of it. */
typedef struct {
  char *commit;
  guint n_files;
  guint64 total_bytes;
  guint64 missing_bytes; /* 0: complete in the cache */
  VfConfig *config;      /* its config.json (with quantize/generation/preprocessor configs), for "will it fit?";
                          * NULL when it has none or it does not parse: config_problem says why */
  char *config_problem;
} VfHubListing;

void vf_hub_listing_free(VfHubListing *listing);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfHubListing, vf_hub_listing_free)

/* Lists `repo_id` at `revision` (NULL: "main") without downloading anything into the cache (its few small
 * config files are read into a scratch folder and parsed). */
VfHubListing *vf_hub_list(const char *repo_id, const char *revision, const VfHubOptions *options,
                          GCancellable *cancellable, GError **error);

/* A repository in the cache with a download that did not finish. */
typedef struct {
  char *repo_id;       /* "Qwen/Qwen2-VL-2B-Instruct" */
  char *repo_dir;
  guint64 partial_bytes; /* in blobs/ *.incomplete */
} VfHubIncomplete;

void vf_hub_incomplete_free(VfHubIncomplete *incomplete);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfHubIncomplete, vf_hub_incomplete_free)

/* The repositories under `cache_dir` (NULL: vf_hub_cache_dir()) holding a partial download
 * (VfHubIncomplete *, sorted by repository). Never NULL. */
GPtrArray *vf_hub_find_incomplete(const char *cache_dir);

G_END_DECLS
