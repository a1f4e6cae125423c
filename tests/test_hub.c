/* Model downloads (vf_hub.h) against a local imitation of the Hugging Face Hub that this test runs on
 * 127.0.0.1: the API listing, /resolve/ with a redirect of LFS files to a "CDN" on another port, ETags,
 * Range requests, a connection that drops mid-file, corrupt bytes, a token, 404s. The tiny-a model lands in
 * the cache layout huggingface_hub writes and loads on the device; a dropped connection resumes at its
 * offset (the server's log shows the Range); a pause resumes on the next call; a wrong checksum is fetched
 * again once, then reported, leaving nothing in snapshots/; a disk without room is reported before any
 * file is fetched. No traffic leaves the loopback interface. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

#include "vf_hub.h"
#include "vf_model.h"
#include "vf_model_finder.h"
#include "vf_test.h"
#include "vf_test_data.h"
#include "vf_test_hub.h"

#define REPO "Qwen/Qwen2-VL-Tiny"
#define COMMIT "0123456789abcdef0123456789abcdef01234567"
#define TOKEN VF_TEST_HUB_TOKEN

static VfTestHub *hub;

/* ---- helpers ------------------------------------------------------------------------------------------ */

/* A fresh cache folder, and the imitation's log and faults cleared. */
static char *
fresh_cache(void)
{
  vf_test_hub_reset(hub);
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp("vf-hub-XXXXXX", &error);
  g_assert_no_error(error);
  return dir;
}

static void
remove_tree(const char *path)
{
  g_autoptr(GFile) file = g_file_new_for_path(path);
  g_autoptr(GFileEnumerator) children =
    g_file_enumerate_children(file, G_FILE_ATTRIBUTE_STANDARD_NAME, G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, NULL);
  for (GFileInfo *info; children && (info = g_file_enumerator_next_file(children, NULL, NULL));) {
    g_autofree char *child = g_build_filename(path, g_file_info_get_name(info), NULL);
    if (g_file_info_get_file_type(info) == G_FILE_TYPE_DIRECTORY)
      remove_tree(child);
    else
      g_unlink(child);
    g_object_unref(info);
  }
  g_rmdir(path);
}

static guint
log_count(const char *needle)
{
  return vf_test_hub_log_count(hub, needle);
}

static VfHubOptions
options_for(const char *cache)
{
  static char *endpoint;
  if (!endpoint)
    endpoint = vf_test_hub_endpoint(hub);
  return (VfHubOptions){.endpoint = endpoint, .cache_dir = cache, .timeout_s = 10};
}

typedef struct {
  guint calls;
  guint64 last_done, total;
  gboolean went_back; /* done ever decreased */
} ProgressLog;

static void
on_progress(const VfHubProgress *p, void *user)
{
  ProgressLog *log = user;
  log->calls++;
  if (p->done < log->last_done)
    log->went_back = TRUE;
  log->last_done = p->done;
  log->total = p->total;
  g_assert_cmpuint(p->file_done, <=, p->file_size);
  g_assert_cmpuint(p->done, <=, p->total);
}

/* Cancels `cancellable` once the file at `path` holds `size` bytes (a user pressing Pause mid-file). */
typedef struct {
  char *path;
  guint64 size;
  GCancellable *cancellable;
} PauseWhen;

static gpointer
pause_when_thread(gpointer data)
{
  PauseWhen *when = data;
  for (int i = 0; i < 1000; i++) {
    GStatBuf st;
    if (g_stat(when->path, &st) == 0 && (guint64)st.st_size >= when->size)
      break;
    g_usleep(10 * 1000);
  }
  g_cancellable_cancel(when->cancellable);
  return NULL;
}

/* Every file of the repository is in the snapshot as a relative link to its blob, with the right bytes. */
static void
assert_snapshot_complete(const char *cache, const char *snapshot)
{
  g_autofree char *repo_dir = vf_hub_repo_dir(cache, REPO);
  g_autofree char *expected = g_build_filename(repo_dir, "snapshots", COMMIT, NULL);
  g_assert_cmpstr(snapshot, ==, expected);
  for (guint i = 0; i < vf_test_hub_n_files(hub); i++) {
    const char *path, *etag;
    GBytes *bytes = vf_test_hub_file(hub, i, &path, &etag);
    g_autofree char *link = g_build_filename(snapshot, path, NULL);
    g_autofree char *target = g_file_read_link(link, NULL);
    g_autofree char *want_target = g_strdup_printf("../../blobs/%s", etag);
    g_assert_cmpstr(target, ==, want_target);
    char *contents = NULL;
    gsize n = 0;
    g_assert_true(g_file_get_contents(link, &contents, &n, NULL));
    g_autoptr(GBytes) got = g_bytes_new_take(contents, n);
    g_assert_true(g_bytes_equal(got, bytes));
  }
  g_autofree char *ref_path = g_build_filename(repo_dir, "refs", "main", NULL);
  g_autofree char *ref = NULL;
  g_assert_true(g_file_get_contents(ref_path, &ref, NULL, NULL));
  g_assert_cmpstr(ref, ==, COMMIT);
  g_autoptr(GPtrArray) incomplete = vf_hub_find_incomplete(cache);
  g_assert_cmpuint(incomplete->len, ==, 0);
}

/* The LFS file of the repository, and its etag (SHA-256). */
static GBytes *
weights(const char **etag)
{
  return vf_test_hub_find(hub, "model.safetensors", etag);
}

/* ---- tests ---------------------------------------------------------------------------------------------- */

/* The whole model lands in the cache layout, the token goes to the hub but not to the CDN, the model finder
 * offers it and it loads on the device; a second call fetches nothing. */
static void
test_complete_download_loads(void)
{
  g_autofree char *cache = fresh_cache();
  vf_test_hub_require_token(hub, TRUE);
  VfHubOptions opts = options_for(cache);
  opts.token = TOKEN;
  ProgressLog progress = {0};
  g_autoptr(GError) error = NULL;
  guint64 repo_bytes = 0;
  for (guint i = 0; i < vf_test_hub_n_files(hub); i++)
    repo_bytes += g_bytes_get_size(vf_test_hub_file(hub, i, NULL, NULL));
  g_autoptr(VfHubListing) before = vf_hub_list(REPO, NULL, &opts, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(before->commit, ==, COMMIT);
  g_assert_cmpuint(before->n_files, ==, vf_test_hub_n_files(hub));
  g_assert_cmpuint(before->total_bytes, ==, repo_bytes);
  g_assert_cmpuint(before->missing_bytes, ==, repo_bytes);
  vf_test_hub_clear_log(hub);
  g_autofree char *snapshot = vf_hub_download(REPO, NULL, &opts, on_progress, &progress, NULL, &error);
  vf_test_hub_print_log(hub);
  g_assert_no_error(error);
  assert_snapshot_complete(cache, snapshot);
  g_assert_false(progress.went_back);
  g_assert_cmpuint(progress.last_done, ==, progress.total);
  g_assert_cmpuint(progress.total, ==, repo_bytes);
  /* Every hub request carried the token, the CDN request (another origin) did not. */
  g_assert_cmpuint(log_count("cdn GET"), ==, 1);
  g_assert_cmpuint(log_count("auth=none"), ==, log_count("cdn GET"));
  g_assert_cmpuint(log_count("auth=token"), ==, log_count("hub GET"));
  g_assert_cmpuint(log_count("hub GET"), ==, 1 + 3 + 1); /* listing, 3 small files, the weights' redirect */
  g_autoptr(VfHubListing) after = vf_hub_list(REPO, NULL, &opts, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(after->missing_bytes, ==, 0);

  /* The model finder lists it from the cache, and it loads. */
  g_setenv("HF_HUB_CACHE", cache, TRUE);
  g_autoptr(GPtrArray) found = vf_model_finder_scan();
  g_unsetenv("HF_HUB_CACHE");
  gboolean listed = FALSE;
  for (guint i = 0; i < found->len; i++)
    listed |= g_str_equal(((VfFoundModel *)found->pdata[i])->dir, snapshot);
  g_assert_true(listed);
  g_autoptr(VfModel) model = vf_model_load(vf_test_device(), snapshot, NULL, NULL, NULL, &error);
  g_assert_no_error(error);
  g_assert_nonnull(model);

  /* Again: only the listing is fetched. */
  vf_test_hub_clear_log(hub);
  g_autofree char *again = vf_hub_download(REPO, "main", &opts, NULL, NULL, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(again, ==, snapshot);
  g_assert_cmpuint(log_count("GET"), ==, 1);
  remove_tree(cache);
}

/* A connection that drops mid-file is resumed from the byte where it broke. */
static void
test_dropped_connection_resumes(void)
{
  g_autofree char *cache = fresh_cache();
  const char *etag;
  guint64 cut = g_bytes_get_size(weights(&etag)) / 3;
  vf_test_hub_drop(hub, "model.safetensors", cut);
  VfHubOptions opts = options_for(cache);
  g_autoptr(GError) error = NULL;
  g_autofree char *snapshot = vf_hub_download(REPO, NULL, &opts, NULL, NULL, NULL, &error);
  vf_test_hub_print_log(hub);
  g_assert_no_error(error);
  assert_snapshot_complete(cache, snapshot);
  g_autofree char *resumed = g_strdup_printf("cdn GET /blobs/%s range=bytes=%" G_GUINT64_FORMAT "-", etag, cut);
  g_assert_cmpuint(log_count("cdn GET /blobs/"), ==, 2);
  g_assert_cmpuint(log_count(resumed), ==, 1);
  remove_tree(cache);
}

/* Cancelling is a pause: the partial file stays, is listed as incomplete, and the next call resumes it. */
static void
test_pause_and_resume(void)
{
  g_autofree char *cache = fresh_cache();
  VfHubOptions opts = options_for(cache);
  guint64 stall = 4 << 20;
  const char *etag;
  guint64 size = g_bytes_get_size(weights(&etag));
  vf_test_hub_stall(hub, "model.safetensors", stall);
  g_autoptr(GCancellable) cancellable = g_cancellable_new();
  g_autofree char *repo_dir = vf_hub_repo_dir(cache, REPO);
  PauseWhen when = {.path = g_strdup_printf("%s/blobs/%s.incomplete", repo_dir, etag), .size = stall,
                    .cancellable = cancellable};
  GThread *pauser = g_thread_new("pause", pause_when_thread, &when);
  g_autoptr(GError) error = NULL;
  g_assert_null(vf_hub_download(REPO, NULL, &opts, NULL, NULL, cancellable, &error));
  g_thread_join(pauser);
  g_free(when.path);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error(&error);

  g_autoptr(GPtrArray) incomplete = vf_hub_find_incomplete(cache);
  g_assert_cmpuint(incomplete->len, ==, 1);
  VfHubIncomplete *inc = incomplete->pdata[0];
  g_assert_cmpstr(inc->repo_id, ==, REPO);
  guint64 partial = inc->partial_bytes;
  g_assert_cmpuint(partial, ==, stall);
  g_autoptr(VfHubListing) listing = vf_hub_list(REPO, NULL, &opts, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(listing->missing_bytes, ==, size - stall);
  g_autofree char *weights_link = g_build_filename(inc->repo_dir, "snapshots", COMMIT, "model.safetensors", NULL);
  g_assert_false(g_file_test(weights_link, G_FILE_TEST_EXISTS)); /* nothing unverified in the snapshot */

  g_autofree char *snapshot = vf_hub_download(REPO, NULL, &opts, NULL, NULL, NULL, &error);
  vf_test_hub_print_log(hub);
  g_assert_no_error(error);
  assert_snapshot_complete(cache, snapshot);
  g_autofree char *resumed =
    g_strdup_printf("cdn GET /blobs/%s range=bytes=%" G_GUINT64_FORMAT "-", etag, partial);
  g_assert_cmpuint(log_count(resumed), ==, 1);
  remove_tree(cache);
}

/* A file that fails its checksum once is fetched again and lands; one that always fails is reported after
 * the second try, and neither a blob, a partial file nor a snapshot link is left for it. */
static void
test_checksums(void)
{
  g_autofree char *cache = fresh_cache();
  vf_test_hub_corrupt(hub, "config.json", 1);
  VfHubOptions opts = options_for(cache);
  g_autoptr(GError) error = NULL;
  g_autofree char *snapshot = vf_hub_download(REPO, NULL, &opts, NULL, NULL, NULL, &error);
  g_assert_no_error(error);
  assert_snapshot_complete(cache, snapshot);
  g_assert_cmpuint(log_count("GET /" REPO "/resolve/" COMMIT "/config.json"), ==, 2);
  remove_tree(cache);

  g_free(cache);
  cache = fresh_cache();
  opts = options_for(cache); /* the old options pointed at the freed folder name (ASan: use after free) */
  vf_test_hub_corrupt(hub, "model.safetensors", G_MAXUINT);
  const char *etag;
  weights(&etag);
  g_assert_null(vf_hub_download(REPO, NULL, &opts, NULL, NULL, NULL, &error));
  g_test_message("error: %s", error->message);
  g_assert_error(error, VF_HUB_ERROR, VF_HUB_ERROR_CHECKSUM);
  g_assert_nonnull(strstr(error->message, "model.safetensors is corrupt"));
  g_assert_nonnull(strstr(error->message, etag));
  g_assert_cmpuint(log_count("cdn GET /blobs/"), ==, 2);
  g_autofree char *repo_dir = vf_hub_repo_dir(cache, REPO);
  g_autofree char *blob = g_build_filename(repo_dir, "blobs", etag, NULL);
  g_autofree char *partial = g_strconcat(blob, ".incomplete", NULL);
  g_autofree char *link = g_build_filename(repo_dir, "snapshots", COMMIT, "model.safetensors", NULL);
  g_assert_false(g_file_test(blob, G_FILE_TEST_EXISTS));
  g_assert_false(g_file_test(partial, G_FILE_TEST_EXISTS));
  g_assert_false(g_file_test(link, G_FILE_TEST_EXISTS));
  remove_tree(cache);
}

/* Not enough room (here: a reserve larger than any disk) is reported before any file is fetched. */
static void
test_disk_space_checked_first(void)
{
  g_autofree char *cache = fresh_cache();
  VfHubOptions opts = options_for(cache);
  opts.reserve_bytes = G_MAXUINT64 / 2;
  g_autoptr(GError) error = NULL;
  g_assert_null(vf_hub_download(REPO, NULL, &opts, NULL, NULL, NULL, &error));
  g_test_message("error: %s", error->message);
  g_assert_error(error, VF_HUB_ERROR, VF_HUB_ERROR_DISK_FULL);
  g_assert_true(g_str_has_prefix(error->message, REPO " needs 20."));
  g_assert_nonnull(strstr(error->message, "MB more on disk and"));
  g_assert_cmpuint(log_count("GET"), ==, 1); /* the listing alone */
  g_autofree char *repo_dir = vf_hub_repo_dir(cache, REPO);
  g_assert_false(g_file_test(repo_dir, G_FILE_TEST_EXISTS));
  remove_tree(cache);
}

/* Each failure says what went wrong and, where there is one, the way out. */
static void
test_errors(void)
{
  g_autofree char *cache = fresh_cache();
  VfHubOptions opts = options_for(cache);
  g_autoptr(GError) error = NULL;

  g_assert_null(vf_hub_download("Qwen/No-Such-Model", NULL, &opts, NULL, NULL, NULL, &error));
  g_assert_error(error, VF_HUB_ERROR, VF_HUB_ERROR_NOT_FOUND);
  g_assert_cmpstr(error->message, ==, "Qwen/No-Such-Model (revision main): not found on the hub (404)");
  g_clear_error(&error);

  g_assert_null(vf_hub_download("no-owner", NULL, &opts, NULL, NULL, NULL, &error));
  g_assert_error(error, VF_HUB_ERROR, VF_HUB_ERROR_NOT_FOUND);
  g_assert_nonnull(strstr(error->message, "owner/name"));
  g_clear_error(&error);

  vf_test_hub_require_token(hub, TRUE);
  g_assert_null(vf_hub_download(REPO, NULL, &opts, NULL, NULL, NULL, &error));
  g_assert_error(error, VF_HUB_ERROR, VF_HUB_ERROR_AUTH);
  g_assert_nonnull(strstr(error->message, "needs a token: set HF_TOKEN"));
  g_clear_error(&error);
  opts.token = "hf_wrong";
  g_assert_null(vf_hub_download(REPO, NULL, &opts, NULL, NULL, NULL, &error));
  g_assert_error(error, VF_HUB_ERROR, VF_HUB_ERROR_AUTH);
  g_assert_nonnull(strstr(error->message, "the token does not grant it"));
  g_clear_error(&error);

  /* The token file of huggingface-cli login ($HF_HOME/token) is read when no token is given. */
  opts.token = NULL;
  g_autofree char *home = g_build_filename(cache, "hf-home", NULL);
  g_autofree char *token_file = g_build_filename(home, "token", NULL);
  g_assert_cmpint(g_mkdir_with_parents(home, 0700), ==, 0);
  g_assert_true(g_file_set_contents(token_file, TOKEN "\n", -1, NULL));
  g_setenv("HF_HOME", home, TRUE);
  g_autofree char *snapshot = vf_hub_download(REPO, NULL, &opts, NULL, NULL, NULL, &error);
  g_unsetenv("HF_HOME");
  g_assert_no_error(error);
  g_assert_nonnull(snapshot);
  vf_test_hub_require_token(hub, FALSE);

  /* Nothing listens: a network error naming the host. */
  VfHubOptions closed = opts;
  closed.endpoint = "http://127.0.0.1:9"; /* discard: closed on test machines */
  g_assert_null(vf_hub_download(REPO, NULL, &closed, NULL, NULL, NULL, &error));
  g_assert_error(error, VF_HUB_ERROR, VF_HUB_ERROR_NETWORK);
  g_assert_nonnull(strstr(error->message, "cannot reach 127.0.0.1"));
  g_clear_error(&error);
  remove_tree(cache);
}

int
main(int argc, char **argv)
{
  vf_test_init(&argc, &argv);
  g_unsetenv("HF_TOKEN");
  g_unsetenv("HF_TOKEN_PATH");
  g_autoptr(GError) error = NULL;
  g_autofree char *home = g_dir_make_tmp("vf-hub-home-XXXXXX", &error);
  g_setenv("HF_HOME", home, TRUE); /* no real token file is read */
  g_autofree char *tiny = vf_test_data_path("models/tiny-a");
  g_autofree char *config = g_build_filename(tiny, "config.json", NULL);
  g_autofree char *generation = g_build_filename(tiny, "generation_config.json", NULL);
  g_autofree char *preprocessor = g_build_filename(tiny, "preprocessor_config.json", NULL);
  g_autofree char *weights_file = g_build_filename(tiny, "model.safetensors", NULL);
  const char *files[] = {"config.json", config, "generation_config.json", generation,
                         "preprocessor_config.json", preprocessor, "model.safetensors", weights_file, NULL};
  hub = vf_test_hub_start(REPO, COMMIT, files);

  g_test_add_func("/hub/complete-download-loads", test_complete_download_loads);
  g_test_add_func("/hub/dropped-connection-resumes", test_dropped_connection_resumes);
  g_test_add_func("/hub/pause-and-resume", test_pause_and_resume);
  g_test_add_func("/hub/checksums", test_checksums);
  g_test_add_func("/hub/disk-space-checked-first", test_disk_space_checked_first);
  g_test_add_func("/hub/errors", test_errors);
  int rc = vf_test_finish();
  vf_test_hub_stop(hub);
  g_rmdir(home);
  return rc;
}
