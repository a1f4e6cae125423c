/* A local imitation of the Hugging Face Hub; see vf_test_hub.h. */
#include "vf_test_hub.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "vf_test_server.h"

typedef struct {
  char *path;   /* in the repository */
  GBytes *bytes;
  gboolean lfs; /* big files are LFS: their etag is the SHA-256, and /resolve/ redirects them */
  char *etag;
} RepoFile;

/* What the imitation serves and what it saw. Touched by the server thread and the test: under `lock`. */
struct VfTestHub {
  char *repo, *commit;
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
  char *slow_file;       /* GETs of this file send slow_piece bytes every slow_interval_ms */
  gsize slow_piece;
  guint slow_interval_ms;
  VfTestServer *hub, *cdn;
};

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
add_repo_file(VfTestHub *imitation, const char *path, const char *name)
{
  char *contents = NULL;
  gsize n = 0;
  g_autoptr(GError) error = NULL;
  g_assert_true(g_file_get_contents(path, &contents, &n, &error));
  RepoFile *f = g_new0(RepoFile, 1);
  f->path = g_strdup(name);
  f->bytes = g_bytes_new_take(contents, n);
  f->lfs = g_str_has_suffix(name, ".safetensors");
  f->etag = f->lfs ? g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, f->bytes) : git_blob_sha1(f->bytes);
  g_ptr_array_add(imitation->files, f);
}

static RepoFile *
find_file(VfTestHub *imitation, const char *path, gboolean by_etag)
{
  for (guint i = 0; i < imitation->files->len; i++) {
    RepoFile *f = imitation->files->pdata[i];
    if (g_str_equal(by_etag ? f->etag : f->path, path))
      return f;
  }
  return NULL;
}

static void
log_request(VfTestHub *imitation, const char *who, SoupServerMessage *msg, const char *path)
{
  SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
  const char *range = soup_message_headers_get_one(h, "Range");
  const char *auth = soup_message_headers_get_one(h, "Authorization");
  g_ptr_array_add(imitation->log, g_strdup_printf("%s GET %s range=%s auth=%s", who, path, range ? range : "none",
                                                 auth ? (g_str_equal(auth, "Bearer " VF_TEST_HUB_TOKEN) ? "token" : auth) : "none"));
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

/* Takes the connection and sends the whole file in pieces on a timer (a slow network, for progress bars). */
typedef struct {
  GIOStream *stream;
  GBytes *bytes;
  gsize sent, piece;
} SlowSend;

static void
slow_send_free(gpointer data)
{
  SlowSend *slow = data;
  g_io_stream_close(slow->stream, NULL, NULL);
  g_object_unref(slow->stream);
  g_bytes_unref(slow->bytes);
  g_free(slow);
}

static gboolean
slow_send_piece(gpointer data)
{
  SlowSend *slow = data;
  gsize size = g_bytes_get_size(slow->bytes), n = MIN(slow->piece, size - slow->sent);
  const char *bytes = g_bytes_get_data(slow->bytes, NULL);
  if (!g_output_stream_write_all(g_io_stream_get_output_stream(slow->stream), bytes + slow->sent, n, NULL, NULL, NULL))
    return G_SOURCE_REMOVE; /* the client left */
  slow->sent += n;
  return slow->sent < size ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static void
send_slowly(VfTestHub *imitation, SoupServerMessage *msg, GBytes *bytes)
{
  SlowSend *slow = g_new0(SlowSend, 1);
  slow->stream = soup_server_message_steal_connection(msg);
  slow->bytes = g_bytes_ref(bytes);
  slow->piece = imitation->slow_piece;
  g_autofree char *head = g_strdup_printf("HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                                          g_bytes_get_size(bytes));
  g_output_stream_write_all(g_io_stream_get_output_stream(slow->stream), head, strlen(head), NULL, NULL, NULL);
  GSource *timer = g_timeout_source_new(imitation->slow_interval_ms);
  g_source_set_callback(timer, slow_send_piece, slow, slow_send_free);
  g_source_attach(timer, g_main_context_get_thread_default());
  g_source_unref(timer);
}

/* The file's bytes, honouring a Range request, dropping or corrupting when asked to. */
static void
serve_file(VfTestHub *imitation, SoupServerMessage *msg, RepoFile *f)
{
  SoupMessageHeaders *response = soup_server_message_get_response_headers(msg);
  soup_message_headers_replace(response, "ETag", f->etag);
  if (imitation->drop_file && g_str_equal(imitation->drop_file, f->path)) {
    g_clear_pointer(&imitation->drop_file, g_free);
    send_and_drop(msg, f->bytes, imitation->drop_after);
    return;
  }
  if (imitation->slow_file && g_str_equal(imitation->slow_file, f->path)) {
    send_slowly(imitation, msg, f->bytes);
    return;
  }
  if (imitation->stall_file && g_str_equal(imitation->stall_file, f->path)) {
    /* libsoup sends the head and these bytes, then waits for the rest of the announced length. */
    g_clear_pointer(&imitation->stall_file, g_free);
    soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
    soup_message_headers_set_content_length(response, (goffset)g_bytes_get_size(f->bytes));
    soup_message_body_append(soup_server_message_get_response_body(msg), SOUP_MEMORY_COPY,
                             g_bytes_get_data(f->bytes, NULL), imitation->stall_after);
    return;
  }
  GBytes *bytes = g_bytes_ref(f->bytes);
  if (imitation->corrupt_file && g_str_equal(imitation->corrupt_file, f->path) && imitation->corrupt_times > 0) {
    if (imitation->corrupt_times != G_MAXUINT)
      imitation->corrupt_times--;
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
serve_listing(VfTestHub *imitation, SoupServerMessage *msg)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "id");
  json_builder_add_string_value(b, imitation->repo);
  json_builder_set_member_name(b, "sha");
  json_builder_add_string_value(b, imitation->commit);
  json_builder_set_member_name(b, "siblings");
  json_builder_begin_array(b);
  for (guint i = 0; i < imitation->files->len; i++) {
    RepoFile *f = imitation->files->pdata[i];
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
  VfTestHub *imitation = user;
  g_mutex_lock(&imitation->lock);
  log_request(imitation, "hub", msg, path);
  const char *auth = soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Authorization");
  g_autofree char *listing_path = g_strdup_printf("/api/models/%s/revision/main", imitation->repo);
  g_autofree char *resolve_prefix = g_strdup_printf("/%s/resolve/%s/", imitation->repo, imitation->commit);
  if (imitation->require_token && !(auth && g_str_equal(auth, "Bearer " VF_TEST_HUB_TOKEN))) {
    soup_server_message_set_status(msg, SOUP_STATUS_UNAUTHORIZED, NULL);
  } else if (g_str_equal(path, listing_path)) {
    serve_listing(imitation, msg);
  } else if (g_str_has_prefix(path, resolve_prefix) && find_file(imitation, path + strlen(resolve_prefix), FALSE)) {
    RepoFile *f = find_file(imitation, path + strlen(resolve_prefix), FALSE);
    if (f->lfs) {
      g_autofree char *blob_path = g_strdup_printf("/blobs/%s", f->etag);
      g_autofree char *location = vf_test_server_url(imitation->cdn, blob_path);
      soup_message_headers_replace(soup_server_message_get_response_headers(msg), "X-Linked-Etag", f->etag);
      soup_server_message_set_redirect(msg, SOUP_STATUS_FOUND, location);
    } else {
      serve_file(imitation, msg, f);
    }
  } else {
    soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, NULL);
  }
  g_mutex_unlock(&imitation->lock);
}

/* The CDN: /blobs/SHA256, no token needed (and none may arrive). */
static void
serve_cdn(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user)
{
  VfTestHub *imitation = user;
  g_mutex_lock(&imitation->lock);
  log_request(imitation, "cdn", msg, path);
  RepoFile *f = g_str_has_prefix(path, "/blobs/") ? find_file(imitation, path + strlen("/blobs/"), TRUE) : NULL;
  if (f)
    serve_file(imitation, msg, f);
  else
    soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, NULL);
  g_mutex_unlock(&imitation->lock);
}


/* ---- the API -------------------------------------------------------------------------------------------- */

VfTestHub *
vf_test_hub_start(const char *repo, const char *commit, const char *const *files)
{
  VfTestHub *imitation = g_new0(VfTestHub, 1);
  imitation->repo = g_strdup(repo);
  imitation->commit = g_strdup(commit);
  g_mutex_init(&imitation->lock);
  imitation->files = g_ptr_array_new();
  imitation->log = g_ptr_array_new_with_free_func(g_free);
  for (guint i = 0; files[i] && files[i + 1]; i += 2)
    add_repo_file(imitation, files[i + 1], files[i]);
  imitation->hub = vf_test_server_start(NULL, serve_hub, imitation);
  imitation->cdn = vf_test_server_start(NULL, serve_cdn, imitation);
  return imitation;
}

void
vf_test_hub_stop(VfTestHub *imitation)
{
  vf_test_server_stop(imitation->hub);
  vf_test_server_stop(imitation->cdn);
  for (guint i = 0; i < imitation->files->len; i++) {
    RepoFile *f = imitation->files->pdata[i];
    g_free(f->path);
    g_bytes_unref(f->bytes);
    g_free(f->etag);
    g_free(f);
  }
  g_ptr_array_unref(imitation->files);
  g_ptr_array_unref(imitation->log);
  g_free(imitation->drop_file);
  g_free(imitation->stall_file);
  g_free(imitation->corrupt_file);
  g_free(imitation->slow_file);
  g_free(imitation->repo);
  g_free(imitation->commit);
  g_mutex_clear(&imitation->lock);
  g_free(imitation);
}

char *
vf_test_hub_endpoint(VfTestHub *imitation)
{
  return vf_test_server_url(imitation->hub, "");
}

void
vf_test_hub_reset(VfTestHub *imitation)
{
  g_mutex_lock(&imitation->lock);
  g_ptr_array_set_size(imitation->log, 0);
  imitation->require_token = FALSE;
  g_clear_pointer(&imitation->drop_file, g_free);
  g_clear_pointer(&imitation->stall_file, g_free);
  g_clear_pointer(&imitation->corrupt_file, g_free);
  g_clear_pointer(&imitation->slow_file, g_free);
  imitation->corrupt_times = 0;
  g_mutex_unlock(&imitation->lock);
}

void
vf_test_hub_clear_log(VfTestHub *imitation)
{
  g_mutex_lock(&imitation->lock);
  g_ptr_array_set_size(imitation->log, 0);
  g_mutex_unlock(&imitation->lock);
}

void
vf_test_hub_require_token(VfTestHub *imitation, gboolean required)
{
  g_mutex_lock(&imitation->lock);
  imitation->require_token = required;
  g_mutex_unlock(&imitation->lock);
}

void
vf_test_hub_drop(VfTestHub *imitation, const char *file, guint64 after)
{
  g_mutex_lock(&imitation->lock);
  g_free(imitation->drop_file);
  imitation->drop_file = g_strdup(file);
  imitation->drop_after = after;
  g_mutex_unlock(&imitation->lock);
}

void
vf_test_hub_stall(VfTestHub *imitation, const char *file, guint64 after)
{
  g_mutex_lock(&imitation->lock);
  g_free(imitation->stall_file);
  imitation->stall_file = g_strdup(file);
  imitation->stall_after = after;
  g_mutex_unlock(&imitation->lock);
}

void
vf_test_hub_corrupt(VfTestHub *imitation, const char *file, guint times)
{
  g_mutex_lock(&imitation->lock);
  g_free(imitation->corrupt_file);
  imitation->corrupt_file = g_strdup(file);
  imitation->corrupt_times = times;
  g_mutex_unlock(&imitation->lock);
}

void
vf_test_hub_slow(VfTestHub *imitation, const char *file, gsize piece, guint interval_ms)
{
  g_mutex_lock(&imitation->lock);
  g_free(imitation->slow_file);
  imitation->slow_file = g_strdup(file);
  imitation->slow_piece = piece;
  imitation->slow_interval_ms = interval_ms;
  g_mutex_unlock(&imitation->lock);
}

guint
vf_test_hub_log_count(VfTestHub *imitation, const char *needle)
{
  guint n = 0;
  g_mutex_lock(&imitation->lock);
  for (guint i = 0; i < imitation->log->len; i++)
    if (strstr(imitation->log->pdata[i], needle))
      n++;
  g_mutex_unlock(&imitation->lock);
  return n;
}

void
vf_test_hub_print_log(VfTestHub *imitation)
{
  g_mutex_lock(&imitation->lock);
  for (guint i = 0; i < imitation->log->len; i++)
    g_test_message("server: %s", (char *)imitation->log->pdata[i]);
  g_mutex_unlock(&imitation->lock);
}

guint
vf_test_hub_n_files(VfTestHub *imitation)
{
  return imitation->files->len;
}

GBytes *
vf_test_hub_file(VfTestHub *imitation, guint i, const char **path, const char **etag)
{
  RepoFile *f = imitation->files->pdata[i];
  if (path)
    *path = f->path;
  if (etag)
    *etag = f->etag;
  return f->bytes;
}

GBytes *
vf_test_hub_find(VfTestHub *imitation, const char *path, const char **etag)
{
  RepoFile *f = find_file(imitation, path, FALSE);
  g_assert_nonnull(f);
  if (etag)
    *etag = f->etag;
  return f->bytes;
}
