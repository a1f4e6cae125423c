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
#include "vf_test_server.h"

#define REPO "Qwen/Qwen2-VL-Tiny"
#define COMMIT "0123456789abcdef0123456789abcdef01234567"
#define TOKEN "hf_test_token"

typedef struct {
  char *path;   /* in the repository */
  GBytes *bytes;
  gboolean lfs; /* big files are LFS: their etag is the SHA-256, and /resolve/ redirects them */
  char *etag;
} RepoFile;

/* What the imitation serves and what it saw. Touched by the server thread and the test: under `lock`. */
static struct {
  GMutex lock;
  GPtrArray *files; /* RepoFile * */
  GPtrArray *log;   /* char *: "hub GET /path range=bytes=N- auth=yes" */
  gboolean require_token;
  char *drop_file;       /* the next GET of this file sends drop_after bytes and closes the connection */
  guint64 drop_after;
  char *stall_file;      /* the next GET of this file sends stall_after bytes, then nothing more */
  guint64 stall_after;
  char *corrupt_file;    /* GETs of this file serve one flipped byte ... */
  guint corrupt_times;   /* ... this many times (G_MAXUINT: always) */
  VfTestServer *hub, *cdn;
} imitation;

static char *
git_blob_sha1(GBytes *bytes)
{
  g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA1);
  g_autofree char *head = g_strdup_printf("blob %zu", g_bytes_get_size(bytes));
  g_checksum_update(sum, (const guchar *)head, strlen(head) + 1);
  g_checksum_update(sum, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
  return g_strdup(g_checksum_get_string(sum));
}

static void
add_repo_file(const char *model_dir, const char *name)
{
  g_autofree char *path = g_build_filename(model_dir, name, NULL);
  char *contents = NULL;
  gsize n = 0;
  g_autoptr(GError) error = NULL;
  g_assert_true(g_file_get_contents(path, &contents, &n, &error));
  RepoFile *f = g_new0(RepoFile, 1);
  f->path = g_strdup(name);
  f->bytes = g_bytes_new_take(contents, n);
  f->lfs = g_str_has_suffix(name, ".safetensors");
  f->etag = f->lfs ? g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, f->bytes) : git_blob_sha1(f->bytes);
  g_ptr_array_add(imitation.files, f);
}

static RepoFile *
find_file(const char *path, gboolean by_etag)
{
  for (guint i = 0; i < imitation.files->len; i++) {
    RepoFile *f = imitation.files->pdata[i];
    if (g_str_equal(by_etag ? f->etag : f->path, path))
      return f;
  }
  return NULL;
}

static void
log_request(const char *who, SoupServerMessage *msg, const char *path)
{
  SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
  const char *range = soup_message_headers_get_one(h, "Range");
  const char *auth = soup_message_headers_get_one(h, "Authorization");
  g_ptr_array_add(imitation.log, g_strdup_printf("%s GET %s range=%s auth=%s", who, path, range ? range : "none",
                                                 auth ? (g_str_equal(auth, "Bearer " TOKEN) ? "token" : auth) : "none"));
}

/* Takes the connection and writes a 200 head announcing the whole file but only `n` bytes of it. */
static void
send_and_drop(SoupServerMessage *msg, GBytes *bytes, guint64 n)
{
  g_autoptr(GIOStream) stream = soup_server_message_steal_connection(msg);
  GOutputStream *out = g_io_stream_get_output_stream(stream);
  g_autofree char *head = g_strdup_printf("HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                                          g_bytes_get_size(bytes));
  g_assert_true(g_output_stream_write_all(out, head, strlen(head), NULL, NULL, NULL));
  g_assert_true(g_output_stream_write_all(out, g_bytes_get_data(bytes, NULL), n, NULL, NULL, NULL));
  g_io_stream_close(stream, NULL, NULL);
}

/* The file's bytes, honouring a Range request, dropping or corrupting when asked to. */
static void
serve_file(SoupServerMessage *msg, RepoFile *f)
{
  SoupMessageHeaders *response = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(response, "ETag", f->etag);
  if (imitation.drop_file && g_str_equal(imitation.drop_file, f->path)) {
    g_clear_pointer(&imitation.drop_file, g_free);
    send_and_drop(msg, f->bytes, imitation.drop_after);
    return;
  }
  if (imitation.stall_file && g_str_equal(imitation.stall_file, f->path)) {
    /* libsoup sends the head and these bytes, then waits for the rest of the announced length. */
    g_clear_pointer(&imitation.stall_file, g_free);
    soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
    soup_message_headers_set_content_length(response, (goffset)g_bytes_get_size(f->bytes));
    soup_message_body_append(soup_server_message_get_response_body(msg), SOUP_MEMORY_COPY,
                             g_bytes_get_data(f->bytes, NULL), imitation.stall_after);
    return;
  }
  GBytes *bytes = g_bytes_ref(f->bytes);
  if (imitation.corrupt_file && g_str_equal(imitation.corrupt_file, f->path) && imitation.corrupt_times > 0) {
    if (imitation.corrupt_times != G_MAXUINT)
      imitation.corrupt_times--;
    gsize n = 0;
    guint8 *copy = g_bytes_unref_to_data(bytes, &n);
    copy[n / 2] ^= 0x5a;
    bytes = g_bytes_new_take(copy, n);
  }
  gsize size = g_bytes_get_size(bytes);
  SoupRange *ranges = NULL;
  int n_ranges = 0;
  SoupMessageHeaders *request = soup_server_message_get_request_headers(msg);
  if (soup_message_headers_get_ranges(request, size, &ranges, &n_ranges) && n_ranges == 1) {
    goffset start = ranges[0].start, end = ranges[0].end;
    soup_message_headers_free_ranges(request, ranges);
    soup_message_headers_set_content_range(response, start, end, size);
    soup_server_message_set_status(msg, SOUP_STATUS_PARTIAL_CONTENT, NULL);
    soup_server_message_set_response(msg, "application/octet-stream", SOUP_MEMORY_COPY,
                                     (const char *)g_bytes_get_data(bytes, NULL) + start, (gsize)(end - start + 1));
  } else {
    soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
    soup_server_message_set_response(msg, "application/octet-stream", SOUP_MEMORY_COPY,
                                     g_bytes_get_data(bytes, NULL), size);
  }
  g_bytes_unref(bytes);
}

static void
serve_listing(SoupServerMessage *msg)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "id");
  json_builder_add_string_value(b, REPO);
  json_builder_set_member_name(b, "sha");
  json_builder_add_string_value(b, COMMIT);
  json_builder_set_member_name(b, "siblings");
  json_builder_begin_array(b);
  for (guint i = 0; i < imitation.files->len; i++) {
    RepoFile *f = imitation.files->pdata[i];
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "rfilename");
    json_builder_add_string_value(b, f->path);
    json_builder_set_member_name(b, "size");
    json_builder_add_int_value(b, (gint64)g_bytes_get_size(f->bytes));
    json_builder_set_member_name(b, "blobId");
    g_autofree char *blob_id = git_blob_sha1(f->bytes);
    json_builder_add_string_value(b, blob_id);
    if (f->lfs) {
      json_builder_set_member_name(b, "lfs");
      json_builder_begin_object(b);
      json_builder_set_member_name(b, "sha256");
      json_builder_add_string_value(b, f->etag);
      json_builder_set_member_name(b, "size");
      json_builder_add_int_value(b, (gint64)g_bytes_get_size(f->bytes));
      json_builder_end_object(b);
    }
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  json_builder_end_object(b);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  json_generator_set_root(gen, root);
  gsize n = 0;
  g_autofree char *text = json_generator_to_data(gen, &n);
  soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, text, n);
}

/* The hub: /api/models/REPO/revision/main and /REPO/resolve/COMMIT/FILE (LFS files redirect to the CDN). */
static void
serve_hub(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user)
{
  g_mutex_lock(&imitation.lock);
  log_request("hub", msg, path);
  const char *auth = soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Authorization");
  const char *resolve_prefix = "/" REPO "/resolve/" COMMIT "/";
  if (imitation.require_token && !(auth && g_str_equal(auth, "Bearer " TOKEN))) {
    soup_server_message_set_status(msg, SOUP_STATUS_UNAUTHORIZED, NULL);
  } else if (g_str_equal(path, "/api/models/" REPO "/revision/main")) {
    serve_listing(msg);
  } else if (g_str_has_prefix(path, resolve_prefix) && find_file(path + strlen(resolve_prefix), FALSE)) {
    RepoFile *f = find_file(path + strlen(resolve_prefix), FALSE);
    if (f->lfs) {
      g_autofree char *blob_path = g_strdup_printf("/blobs/%s", f->etag);
      g_autofree char *location = vf_test_server_url(imitation.cdn, blob_path);
      soup_message_headers_replace(soup_server_message_get_response_headers(msg), "X-Linked-Etag", f->etag);
      soup_server_message_set_redirect(msg, SOUP_STATUS_FOUND, location);
    } else {
      serve_file(msg, f);
    }
  } else {
    soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, NULL);
  }
  g_mutex_unlock(&imitation.lock);
}

/* The CDN: /blobs/SHA256, no token needed (and none may arrive). */
static void
serve_cdn(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user)
{
  g_mutex_lock(&imitation.lock);
  log_request("cdn", msg, path);
  RepoFile *f = g_str_has_prefix(path, "/blobs/") ? find_file(path + strlen("/blobs/"), TRUE) : NULL;
  if (f)
    serve_file(msg, f);
  else
    soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, NULL);
  g_mutex_unlock(&imitation.lock);
}

/* ---- helpers ------------------------------------------------------------------------------------------ */

/* A fresh cache folder and a cleared log and imitation state. */
static char *
fresh_cache(void)
{
  g_mutex_lock(&imitation.lock);
  g_ptr_array_set_size(imitation.log, 0);
  imitation.require_token = FALSE;
  g_clear_pointer(&imitation.drop_file, g_free);
  g_clear_pointer(&imitation.stall_file, g_free);
  g_clear_pointer(&imitation.corrupt_file, g_free);
  imitation.corrupt_times = 0;
  g_mutex_unlock(&imitation.lock);
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
  guint n = 0;
  g_mutex_lock(&imitation.lock);
  for (guint i = 0; i < imitation.log->len; i++)
    if (strstr(imitation.log->pdata[i], needle))
      n++;
  g_mutex_unlock(&imitation.lock);
  return n;
}

static void
print_log(void)
{
  g_mutex_lock(&imitation.lock);
  for (guint i = 0; i < imitation.log->len; i++)
    g_test_message("server: %s", (char *)imitation.log->pdata[i]);
  g_mutex_unlock(&imitation.lock);
}

static VfHubOptions
options_for(const char *cache)
{
  static char *endpoint;
  if (!endpoint)
    endpoint = vf_test_server_url(imitation.hub, "");
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
  for (guint i = 0; i < imitation.files->len; i++) {
    RepoFile *f = imitation.files->pdata[i];
    g_autofree char *link = g_build_filename(snapshot, f->path, NULL);
    g_autofree char *target = g_file_read_link(link, NULL);
    g_autofree char *want_target = g_strdup_printf("../../blobs/%s", f->etag);
    g_assert_cmpstr(target, ==, want_target);
    char *contents = NULL;
    gsize n = 0;
    g_assert_true(g_file_get_contents(link, &contents, &n, NULL));
    g_autoptr(GBytes) got = g_bytes_new_take(contents, n);
    g_assert_true(g_bytes_equal(got, f->bytes));
  }
  g_autofree char *ref_path = g_build_filename(repo_dir, "refs", "main", NULL);
  g_autofree char *ref = NULL;
  g_assert_true(g_file_get_contents(ref_path, &ref, NULL, NULL));
  g_assert_cmpstr(ref, ==, COMMIT);
  g_autoptr(GPtrArray) incomplete = vf_hub_find_incomplete(cache);
  g_assert_cmpuint(incomplete->len, ==, 0);
}

static RepoFile *
weights(void)
{
  return find_file("model.safetensors", FALSE);
}

/* ---- tests ---------------------------------------------------------------------------------------------- */

/* The whole model lands in the cache layout, the token goes to the hub but not to the CDN, the model finder
 * offers it and it loads on the device; a second call fetches nothing. */
static void
test_complete_download_loads(void)
{
  g_autofree char *cache = fresh_cache();
  imitation.require_token = TRUE;
  VfHubOptions opts = options_for(cache);
  opts.token = TOKEN;
  ProgressLog progress = {0};
  g_autoptr(GError) error = NULL;
  guint64 repo_bytes = 0;
  for (guint i = 0; i < imitation.files->len; i++)
    repo_bytes += g_bytes_get_size(((RepoFile *)imitation.files->pdata[i])->bytes);
  g_autoptr(VfHubListing) before = vf_hub_list(REPO, NULL, &opts, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(before->commit, ==, COMMIT);
  g_assert_cmpuint(before->n_files, ==, imitation.files->len);
  g_assert_cmpuint(before->total_bytes, ==, repo_bytes);
  g_assert_cmpuint(before->missing_bytes, ==, repo_bytes);
  g_mutex_lock(&imitation.lock);
  g_ptr_array_set_size(imitation.log, 0);
  g_mutex_unlock(&imitation.lock);
  g_autofree char *snapshot = vf_hub_download(REPO, NULL, &opts, on_progress, &progress, NULL, &error);
  print_log();
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
  g_mutex_lock(&imitation.lock);
  g_ptr_array_set_size(imitation.log, 0);
  g_mutex_unlock(&imitation.lock);
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
  guint64 cut = g_bytes_get_size(weights()->bytes) / 3;
  g_mutex_lock(&imitation.lock);
  imitation.drop_file = g_strdup("model.safetensors");
  imitation.drop_after = cut;
  g_mutex_unlock(&imitation.lock);
  VfHubOptions opts = options_for(cache);
  g_autoptr(GError) error = NULL;
  g_autofree char *snapshot = vf_hub_download(REPO, NULL, &opts, NULL, NULL, NULL, &error);
  print_log();
  g_assert_no_error(error);
  assert_snapshot_complete(cache, snapshot);
  g_autofree char *resumed = g_strdup_printf("cdn GET /blobs/%s range=bytes=%" G_GUINT64_FORMAT "-", weights()->etag, cut);
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
  g_mutex_lock(&imitation.lock);
  imitation.stall_file = g_strdup("model.safetensors");
  imitation.stall_after = stall;
  g_mutex_unlock(&imitation.lock);
  g_autoptr(GCancellable) cancellable = g_cancellable_new();
  g_autofree char *repo_dir = vf_hub_repo_dir(cache, REPO);
  PauseWhen when = {.path = g_strdup_printf("%s/blobs/%s.incomplete", repo_dir, weights()->etag), .size = stall,
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
  g_assert_cmpuint(listing->missing_bytes, ==, g_bytes_get_size(weights()->bytes) - stall);
  g_autofree char *weights_link = g_build_filename(inc->repo_dir, "snapshots", COMMIT, "model.safetensors", NULL);
  g_assert_false(g_file_test(weights_link, G_FILE_TEST_EXISTS)); /* nothing unverified in the snapshot */

  g_autofree char *snapshot = vf_hub_download(REPO, NULL, &opts, NULL, NULL, NULL, &error);
  print_log();
  g_assert_no_error(error);
  assert_snapshot_complete(cache, snapshot);
  g_autofree char *resumed =
    g_strdup_printf("cdn GET /blobs/%s range=bytes=%" G_GUINT64_FORMAT "-", weights()->etag, partial);
  g_assert_cmpuint(log_count(resumed), ==, 1);
  remove_tree(cache);
}

/* A file that fails its checksum once is fetched again and lands; one that always fails is reported after
 * the second try, and neither a blob, a partial file nor a snapshot link is left for it. */
static void
test_checksums(void)
{
  g_autofree char *cache = fresh_cache();
  g_mutex_lock(&imitation.lock);
  imitation.corrupt_file = g_strdup("config.json");
  imitation.corrupt_times = 1;
  g_mutex_unlock(&imitation.lock);
  VfHubOptions opts = options_for(cache);
  g_autoptr(GError) error = NULL;
  g_autofree char *snapshot = vf_hub_download(REPO, NULL, &opts, NULL, NULL, NULL, &error);
  g_assert_no_error(error);
  assert_snapshot_complete(cache, snapshot);
  g_assert_cmpuint(log_count("GET /" REPO "/resolve/" COMMIT "/config.json"), ==, 2);
  remove_tree(cache);

  g_free(cache);
  cache = fresh_cache();
  g_mutex_lock(&imitation.lock);
  imitation.corrupt_file = g_strdup("model.safetensors");
  imitation.corrupt_times = G_MAXUINT;
  g_mutex_unlock(&imitation.lock);
  g_assert_null(vf_hub_download(REPO, NULL, &opts, NULL, NULL, NULL, &error));
  g_test_message("error: %s", error->message);
  g_assert_error(error, VF_HUB_ERROR, VF_HUB_ERROR_CHECKSUM);
  g_assert_nonnull(strstr(error->message, "model.safetensors is corrupt"));
  g_assert_nonnull(strstr(error->message, weights()->etag));
  g_assert_cmpuint(log_count("cdn GET /blobs/"), ==, 2);
  g_autofree char *repo_dir = vf_hub_repo_dir(cache, REPO);
  g_autofree char *blob = g_build_filename(repo_dir, "blobs", weights()->etag, NULL);
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

  imitation.require_token = TRUE;
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
  imitation.require_token = FALSE;

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
  g_mutex_init(&imitation.lock);
  imitation.files = g_ptr_array_new();
  imitation.log = g_ptr_array_new_with_free_func(g_free);
  g_autofree char *tiny = vf_test_data_path("models/tiny-a");
  for (const char *const *name = (const char *const[]){"config.json", "generation_config.json",
                                                      "preprocessor_config.json", "model.safetensors", NULL};
       *name; name++)
    add_repo_file(tiny, *name);
  imitation.hub = vf_test_server_start(NULL, serve_hub, NULL);
  imitation.cdn = vf_test_server_start(NULL, serve_cdn, NULL);

  g_test_add_func("/hub/complete-download-loads", test_complete_download_loads);
  g_test_add_func("/hub/dropped-connection-resumes", test_dropped_connection_resumes);
  g_test_add_func("/hub/pause-and-resume", test_pause_and_resume);
  g_test_add_func("/hub/checksums", test_checksums);
  g_test_add_func("/hub/disk-space-checked-first", test_disk_space_checked_first);
  g_test_add_func("/hub/errors", test_errors);
  int rc = vf_test_finish();
  vf_test_server_stop(imitation.hub);
  vf_test_server_stop(imitation.cdn);
  g_rmdir(home);
  return rc;
}
