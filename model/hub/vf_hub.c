/* Model downloads from the Hugging Face Hub into its cache layout; see vf_hub.h. */
#define G_LOG_DOMAIN "vf-hub"

#include "vf_hub.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define DEFAULT_ENDPOINT "https://huggingface.co"
#define READ_CHUNK (1 << 20)
#define MAX_REDIRECTS 10
#define PROGRESS_INTERVAL_US (100 * 1000)

G_DEFINE_QUARK(vf-hub-error-quark, vf_hub_error)

/* ---- settings from the environment, as huggingface_hub reads them --------------------------------------- */

static const char *
env_nonempty(const char *name)
{
  const char *value = g_getenv(name);
  return value && *value ? value : NULL;
}

static char *
hf_home(void)
{
  const char *home = env_nonempty("HF_HOME");
  return home ? g_strdup(home) : g_build_filename(g_get_user_cache_dir(), "huggingface", NULL);
}

char *
vf_hub_cache_dir(void)
{
  const char *hub = env_nonempty("HF_HUB_CACHE");
  if (!hub)
    hub = env_nonempty("HUGGINGFACE_HUB_CACHE"); /* the older name, still honoured by huggingface_hub */
  if (hub)
    return g_strdup(hub);
  g_autofree char *home = hf_home();
  return g_build_filename(home, "hub", NULL);
}

char *
vf_hub_repo_dir(const char *cache_dir, const char *repo_id)
{
  g_auto(GStrv) parts = g_strsplit(repo_id, "/", -1);
  g_autofree char *joined = g_strjoinv("--", parts);
  g_autofree char *name = g_strconcat("models--", joined, NULL);
  return g_build_filename(cache_dir, name, NULL);
}

/* The token: $HF_TOKEN, else the file $HF_TOKEN_PATH, else $HF_HOME/token; NULL when there is none. */
static char *
token_from_environment(void)
{
  const char *token = env_nonempty("HF_TOKEN");
  if (token)
    return g_strstrip(g_strdup(token));
  g_autofree char *home = hf_home();
  g_autofree char *default_path = g_build_filename(home, "token", NULL);
  const char *path = env_nonempty("HF_TOKEN_PATH");
  char *contents = NULL;
  if (!g_file_get_contents(path ? path : default_path, &contents, NULL, NULL))
    return NULL;
  g_strstrip(contents);
  if (!*contents) {
    g_free(contents);
    return NULL;
  }
  return contents;
}

char *
vf_hub_format_bytes(guint64 bytes)
{
  if (bytes >= 1000000000)
    return g_strdup_printf("%.1f GB", bytes / 1e9);
  if (bytes >= 1000000)
    return g_strdup_printf("%.1f MB", bytes / 1e6);
  if (bytes >= 1000)
    return g_strdup_printf("%.1f kB", bytes / 1e3);
  return g_strdup_printf("%" G_GUINT64_FORMAT " bytes", bytes);
}

char *
vf_hub_format_time_left(double seconds)
{
  if (seconds < 0)
    return g_strdup("time left unknown");
  guint64 s = (guint64)(seconds + 0.5);
  if (s >= 3600)
    return g_strdup_printf("%" G_GUINT64_FORMAT " h %02" G_GUINT64_FORMAT " min left", s / 3600, s / 60 % 60);
  if (s >= 60)
    return g_strdup_printf("%" G_GUINT64_FORMAT " min %02" G_GUINT64_FORMAT " s left", s / 60, s % 60);
  return g_strdup_printf("%" G_GUINT64_FORMAT " s left", s);
}

/* ---- one download -------------------------------------------------------------------------------------- */

typedef struct {
  char *path;      /* in the repository, "config.json", "sub/file" */
  char *etag;      /* the blob's name: LFS sha256, else git blob sha1 */
  gboolean is_lfs; /* etag is a sha256 of the content, else a git blob sha1 */
  guint64 size;
} HubFile;

static void
hub_file_clear(gpointer data)
{
  HubFile *f = data;
  g_free(f->path);
  g_free(f->etag);
}

typedef struct {
  const char *repo_id;
  SoupSession *soup;
  GUri *endpoint;
  char *token;
  GCancellable *cancellable;
  VfHubProgressFunc progress;
  void *user;
  VfHubProgress state;
  gint64 last_report_us;
  gint64 rate_since_us; /* start of the current rate window */
  guint64 rate_bytes;   /* bytes fetched in it */
} Download;

static void
report(Download *d, gboolean force)
{
  if (!d->progress)
    return;
  gint64 now = g_get_monotonic_time();
  if (!force && now - d->last_report_us < PROGRESS_INTERVAL_US)
    return;
  d->last_report_us = now;
  double window = (double)(now - d->rate_since_us) / G_USEC_PER_SEC;
  if (window >= 0.5) {
    double rate = d->rate_bytes / window;
    /* Smoothed so one slow second does not swing the estimate; a fresh window after 3 s forgets old history. */
    d->state.bytes_per_second = d->state.bytes_per_second > 0 ? 0.7 * d->state.bytes_per_second + 0.3 * rate : rate;
    d->rate_since_us = now;
    d->rate_bytes = 0;
  }
  guint64 left = d->state.total > d->state.done ? d->state.total - d->state.done : 0;
  d->state.seconds_left = d->state.bytes_per_second > 0 ? left / d->state.bytes_per_second : -1;
  d->progress(&d->state, d->user);
}

static gboolean
same_origin(GUri *a, GUri *b)
{
  return g_ascii_strcasecmp(g_uri_get_scheme(a), g_uri_get_scheme(b)) == 0 &&
         g_ascii_strcasecmp(g_uri_get_host(a), g_uri_get_host(b)) == 0 && g_uri_get_port(a) == g_uri_get_port(b);
}

/* Sends a GET for `uri`, following redirects itself (at most MAX_REDIRECTS) so that the token never leaves
 * the endpoint's origin. range_from > 0 asks for the bytes from there on. Returns the body stream with
 * *msg_out set to the final message, or NULL with a VF_HUB_ERROR naming `what`. */
static GInputStream *
http_get(Download *d, GUri *uri, guint64 range_from, const char *what, SoupMessage **msg_out, GError **error)
{
  g_autoptr(GUri) current = g_uri_ref(uri);
  for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
    g_autoptr(SoupMessage) msg = soup_message_new_from_uri(SOUP_METHOD_GET, current);
    soup_message_add_flags(msg, SOUP_MESSAGE_NO_REDIRECT);
    SoupMessageHeaders *headers = soup_message_get_request_headers(msg);
    soup_message_headers_replace(headers, "Accept-Encoding", "identity"); /* byte ranges of the file itself */
    if (d->token && same_origin(current, d->endpoint)) {
      g_autofree char *bearer = g_strconcat("Bearer ", d->token, NULL);
      soup_message_headers_replace(headers, "Authorization", bearer);
    }
    if (range_from > 0)
      soup_message_headers_set_range(headers, (goffset)range_from, -1);
    g_autoptr(GError) cause = NULL;
    GInputStream *body = soup_session_send(d->soup, msg, d->cancellable, &cause);
    if (!body) {
      if (g_error_matches(cause, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        g_propagate_error(error, g_steal_pointer(&cause));
      } else {
        g_set_error(error, VF_HUB_ERROR, VF_HUB_ERROR_NETWORK, "%s: cannot reach %s: %s", what,
                    g_uri_get_host(current), cause->message);
      }
      return NULL;
    }
    guint status = soup_message_get_status(msg);
    if (SOUP_STATUS_IS_REDIRECTION(status)) {
      const char *location = soup_message_headers_get_one(soup_message_get_response_headers(msg), "Location");
      g_input_stream_close(body, NULL, NULL);
      g_object_unref(body);
      g_autoptr(GUri) next = location ? g_uri_parse_relative(current, location, SOUP_HTTP_URI_FLAGS, NULL) : NULL;
      if (!next) {
        g_set_error(error, VF_HUB_ERROR, VF_HUB_ERROR_HTTP, "%s: the server answered %u without a usable Location",
                    what, status);
        return NULL;
      }
      g_uri_unref(current);
      current = g_steal_pointer(&next);
      continue;
    }
    *msg_out = g_steal_pointer(&msg);
    return body;
  }
  g_set_error(error, VF_HUB_ERROR, VF_HUB_ERROR_HTTP, "%s: more than %d redirects", what, MAX_REDIRECTS);
  return NULL;
}

/* A status other than the ones the caller handles, as an error in words. */
static void
set_status_error(GError **error, SoupMessage *msg, const char *what, gboolean have_token)
{
  guint status = soup_message_get_status(msg);
  const char *reason = soup_message_get_reason_phrase(msg);
  if (status == SOUP_STATUS_UNAUTHORIZED || status == SOUP_STATUS_FORBIDDEN) {
    g_set_error(error, VF_HUB_ERROR, VF_HUB_ERROR_AUTH,
                "%s: the hub refused access (%u %s): %s", what, status, reason ? reason : "",
                have_token ? "the token does not grant it (accept the model's licence on its page?)"
                           : "this repository needs a token: set HF_TOKEN or log in with huggingface-cli");
  } else if (status == SOUP_STATUS_NOT_FOUND) {
    g_set_error(error, VF_HUB_ERROR, VF_HUB_ERROR_NOT_FOUND, "%s: not found on the hub (404)", what);
  } else {
    g_set_error(error, VF_HUB_ERROR, VF_HUB_ERROR_HTTP, "%s: the server answered %u %s", what, status,
                reason ? reason : "");
  }
}

/* A repository path with each segment escaped ("/" kept between them). */
static char *
escape_path(const char *path)
{
  g_auto(GStrv) segments = g_strsplit(path, "/", -1);
  for (guint i = 0; segments[i]; i++) {
    char *escaped = g_uri_escape_string(segments[i], NULL, FALSE);
    g_free(segments[i]);
    segments[i] = escaped;
  }
  return g_strjoinv("/", segments);
}

/* The endpoint (with its own path prefix, if any) followed by an already escaped path. */
static GUri *
endpoint_uri(Download *d, const char *escaped_path, const char *query)
{
  g_autoptr(GString) full = g_string_new(g_uri_get_path(d->endpoint));
  while (full->len > 0 && full->str[full->len - 1] == '/')
    g_string_truncate(full, full->len - 1);
  g_string_append(full, escaped_path);
  return g_uri_build(G_URI_FLAGS_ENCODED_PATH | G_URI_FLAGS_ENCODED_QUERY, g_uri_get_scheme(d->endpoint), NULL,
                     g_uri_get_host(d->endpoint), g_uri_get_port(d->endpoint), full->str, query, NULL);
}

static gboolean
set_io_error(GError **error, const char *doing, const char *path)
{
  int err = errno;
  g_set_error(error, VF_HUB_ERROR, err == ENOSPC ? VF_HUB_ERROR_DISK_FULL : VF_HUB_ERROR_IO, "cannot %s %s: %s",
              doing, path, g_strerror(err));
  return FALSE;
}

/* ---- the repository listing ---------------------------------------------------------------------------- */

static gboolean
is_hex(const char *s, size_t n)
{
  if (!s || strlen(s) != n)
    return FALSE;
  for (size_t i = 0; i < n; i++)
    if (!g_ascii_isxdigit(s[i]))
      return FALSE;
  return TRUE;
}

/* A repository path we are willing to create below the snapshot: relative, no "..", no empty segment. */
static gboolean
safe_repo_path(const char *path)
{
  if (!path || !*path || path[0] == '/' || strchr(path, '\\'))
    return FALSE;
  g_auto(GStrv) segments = g_strsplit(path, "/", -1);
  for (guint i = 0; segments[i]; i++)
    if (!*segments[i] || g_str_equal(segments[i], ".") || g_str_equal(segments[i], ".."))
      return FALSE;
  return TRUE;
}

/* Lists the repository: *commit and the files (HubFile), small files first so a pause leaves the configs. */
static GArray *
list_repository(Download *d, const char *revision, char **commit, GError **error)
{
  g_autofree char *what = g_strdup_printf("%s (revision %s)", d->repo_id, revision);
  /* A revision such as "refs/pr/1" is one segment of the API path. */
  g_autofree char *repo = escape_path(d->repo_id);
  g_autofree char *rev = g_uri_escape_string(revision, NULL, FALSE);
  g_autofree char *path = g_strdup_printf("/api/models/%s/revision/%s", repo, rev);
  g_autoptr(GUri) uri = endpoint_uri(d, path, "blobs=true");

  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GInputStream) body = http_get(d, uri, 0, what, &msg, error);
  if (!body)
    return NULL;
  if (soup_message_get_status(msg) != SOUP_STATUS_OK) {
    set_status_error(error, msg, what, d->token != NULL);
    return NULL;
  }
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) parse_error = NULL;
  if (!json_parser_load_from_stream(parser, body, d->cancellable, &parse_error)) {
    if (g_error_matches(parse_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      g_propagate_error(error, g_steal_pointer(&parse_error));
    else
      g_set_error(error, VF_HUB_ERROR, VF_HUB_ERROR_FORMAT, "%s: the repository listing is not JSON: %s", what,
                  parse_error->message);
    return NULL;
  }
  JsonNode *root = json_parser_get_root(parser);
  JsonObject *object = root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
  const char *sha = object ? json_object_get_string_member_with_default(object, "sha", NULL) : NULL;
  JsonArray *siblings = object && json_object_has_member(object, "siblings") &&
                            JSON_NODE_HOLDS_ARRAY(json_object_get_member(object, "siblings"))
                          ? json_object_get_array_member(object, "siblings")
                          : NULL;
  if (!is_hex(sha, 40) || !siblings) {
    g_set_error(error, VF_HUB_ERROR, VF_HUB_ERROR_FORMAT,
                "%s: the repository listing has no %s", what, !is_hex(sha, 40) ? "40-digit commit \"sha\"" : "\"siblings\"");
    return NULL;
  }
  GArray *files = g_array_new(FALSE, TRUE, sizeof(HubFile));
  g_array_set_clear_func(files, hub_file_clear);
  for (guint i = 0; i < json_array_get_length(siblings); i++) {
    JsonNode *node = json_array_get_element(siblings, i);
    JsonObject *sibling = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
    const char *name = sibling ? json_object_get_string_member_with_default(sibling, "rfilename", NULL) : NULL;
    const char *blob = sibling ? json_object_get_string_member_with_default(sibling, "blobId", NULL) : NULL;
    gint64 size = sibling ? json_object_get_int_member_with_default(sibling, "size", -1) : -1;
    JsonObject *lfs = sibling && json_object_has_member(sibling, "lfs") &&
                          JSON_NODE_HOLDS_OBJECT(json_object_get_member(sibling, "lfs"))
                        ? json_object_get_object_member(sibling, "lfs")
                        : NULL;
    const char *sha256 = lfs ? json_object_get_string_member_with_default(lfs, "sha256", NULL) : NULL;
    gboolean ok = safe_repo_path(name) && size >= 0 && (lfs ? is_hex(sha256, 64) : is_hex(blob, 40));
    if (!ok) {
      g_set_error(error, VF_HUB_ERROR, VF_HUB_ERROR_FORMAT,
                  "%s: file %u of the listing (%s) lacks a safe name, a size or a checksum", what, i,
                  name ? name : "no name");
      g_array_unref(files);
      return NULL;
    }
    HubFile f = {.path = g_strdup(name), .etag = g_ascii_strdown(lfs ? sha256 : blob, -1), .is_lfs = lfs != NULL,
                 .size = (guint64)size};
    g_array_append_val(files, f);
  }
  *commit = g_ascii_strdown(sha, -1);
  return files;
}

static gint
compare_size(gconstpointer a, gconstpointer b)
{
  const HubFile *x = a, *y = b;
  return x->size < y->size ? -1 : x->size > y->size ? 1 : strcmp(x->path, y->path);
}

/* ---- files on disk ------------------------------------------------------------------------------------- */

static guint64
file_size_or_zero(const char *path)
{
  GStatBuf st;
  return g_stat(path, &st) == 0 ? (guint64)st.st_size : 0;
}

static gboolean
make_dirs(const char *dir, GError **error)
{
  if (g_mkdir_with_parents(dir, 0755) != 0) {
    return set_io_error(error, "create", dir);
  }
  return TRUE;
}

/* Free bytes on the file system that holds `dir` (or its nearest existing parent). */
static gboolean
free_space(const char *dir, guint64 *free_bytes, GError **error)
{
  g_autofree char *probe = g_strdup(dir);
  while (!g_file_test(probe, G_FILE_TEST_IS_DIR)) {
    char *parent = g_path_get_dirname(probe);
    gboolean top = g_str_equal(parent, probe);
    g_free(probe);
    probe = parent;
    if (top)
      break;
  }
  g_autoptr(GFile) file = g_file_new_for_path(probe);
  g_autoptr(GError) cause = NULL;
  g_autoptr(GFileInfo) info =
    g_file_query_filesystem_info(file, G_FILE_ATTRIBUTE_FILESYSTEM_FREE, NULL, &cause);
  if (!info) {
    g_set_error(error, VF_HUB_ERROR, VF_HUB_ERROR_IO, "cannot tell the free space of %s: %s", probe,
                cause->message);
    return FALSE;
  }
  *free_bytes = g_file_info_get_attribute_uint64(info, G_FILE_ATTRIBUTE_FILESYSTEM_FREE);
  return TRUE;
}

/* The checksum the file's etag is: SHA-256 of the bytes for LFS files, else git's blob SHA-1
 * (sha1("blob <size>\0" + bytes)). */
static char *
file_checksum(const char *path, const HubFile *f, GCancellable *cancellable, GError **error)
{
  g_autoptr(GChecksum) sum = g_checksum_new(f->is_lfs ? G_CHECKSUM_SHA256 : G_CHECKSUM_SHA1);
  if (!f->is_lfs) {
    g_autofree char *head = g_strdup_printf("blob %" G_GUINT64_FORMAT, f->size);
    g_checksum_update(sum, (const guchar *)head, strlen(head) + 1); /* with its NUL */
  }
  int fd = g_open(path, O_RDONLY, 0);
  if (fd < 0) {
    set_io_error(error, "read", path);
    return NULL;
  }
  g_autofree guchar *buf = g_malloc(READ_CHUNK);
  for (;;) {
    if (g_cancellable_set_error_if_cancelled(cancellable, error)) {
      close(fd);
      return NULL;
    }
    ssize_t n = read(fd, buf, READ_CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      set_io_error(error, "read", path);
      close(fd);
      return NULL;
    }
    if (n == 0)
      break;
    g_checksum_update(sum, buf, (gssize)n);
  }
  close(fd);
  return g_strdup(g_checksum_get_string(sum));
}

/* snapshots/<commit>/<path> → the blob, as a relative link (replacing what was there). */
static gboolean
link_into_snapshot(const char *snapshot, const HubFile *f, GError **error)
{
  g_autofree char *link = g_build_filename(snapshot, f->path, NULL);
  g_autofree char *link_dir = g_path_get_dirname(link);
  if (!make_dirs(link_dir, error))
    return FALSE;
  g_autoptr(GString) target = g_string_new("../../");
  for (const char *c = f->path; *c; c++)
    if (*c == '/')
      g_string_append(target, "../");
  g_string_append_printf(target, "blobs/%s", f->etag);
  g_unlink(link);
  if (symlink(target->str, link) != 0) {
    return set_io_error(error, "link", link);
  }
  return TRUE;
}

/* Appends the response body to `fd` from `offset`; FALSE with `error` on a read error (a dropped connection:
 * the caller resumes), on a write error or a cancel. The bytes written so far stay in the file. */
static gboolean
receive_body(Download *d, GInputStream *body, int fd, guint64 *offset, const char *path, GError **error)
{
  g_autofree guchar *buf = g_malloc(READ_CHUNK);
  for (;;) {
    gssize n = g_input_stream_read(body, buf, READ_CHUNK, d->cancellable, error);
    if (n < 0)
      return FALSE;
    if (n == 0)
      return TRUE;
    for (gssize written = 0; written < n;) {
      ssize_t w = write(fd, buf + written, (size_t)(n - written));
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        return set_io_error(error, "write", path);
      written += w;
    }
    *offset += (guint64)n;
    d->state.file_done += (guint64)n;
    d->state.done += (guint64)n;
    d->rate_bytes += (guint64)n;
    report(d, FALSE);
  }
}

/* Fetches the bytes of `f` missing from `partial` (resuming after dropped connections). TRUE once the file
 * has f->size bytes. */
static gboolean
fetch_file(Download *d, const char *commit, const HubFile *f, const char *partial, int fd, GError **error)
{
  g_autofree char *what = g_strdup_printf("%s: %s", d->repo_id, f->path);
  g_autofree char *repo = escape_path(d->repo_id), *file = escape_path(f->path);
  g_autofree char *resolve_path = g_strdup_printf("/%s/resolve/%s/%s", repo, commit, file);
  g_autoptr(GUri) uri = endpoint_uri(d, resolve_path, NULL);
  for (guint attempt = 0;; attempt++) {
    guint64 offset = file_size_or_zero(partial);
    if (offset > f->size) { /* longer than the file can be: start again */
      if (ftruncate(fd, 0) != 0)
        return set_io_error(error, "truncate", partial);
      offset = 0;
    }
    d->state.done = d->state.done - d->state.file_done + offset; /* what the file already holds counts as done */
    d->state.file_done = offset;
    if (offset == f->size)
      return TRUE;

    g_autoptr(SoupMessage) msg = NULL;
    g_autoptr(GError) cause = NULL;
    g_autoptr(GInputStream) body = http_get(d, uri, offset, what, &msg, &cause);
    if (body) {
      guint status = soup_message_get_status(msg);
      goffset start = 0, end = 0, total = 0;
      if (status == SOUP_STATUS_PARTIAL_CONTENT) {
        if (!soup_message_headers_get_content_range(soup_message_get_response_headers(msg), &start, &end, &total) ||
            (guint64)start != offset) {
          g_set_error(error, VF_HUB_ERROR, VF_HUB_ERROR_HTTP,
                      "%s: asked for the bytes from %" G_GUINT64_FORMAT " and the server sent another range", what,
                      offset);
          return FALSE;
        }
      } else if (status == SOUP_STATUS_OK) {
        if (offset > 0 && ftruncate(fd, 0) != 0) /* the server ignored the range: the whole file comes */
          return set_io_error(error, "truncate", partial);
        d->state.done -= offset;
        d->state.file_done = offset = 0;
      } else if (status == SOUP_STATUS_REQUESTED_RANGE_NOT_SATISFIABLE) {
        if (ftruncate(fd, 0) != 0)
          return set_io_error(error, "truncate", partial);
        continue;
      } else {
        set_status_error(error, msg, what, d->token != NULL);
        return FALSE;
      }
      if (lseek(fd, (off_t)offset, SEEK_SET) < 0)
        return set_io_error(error, "seek in", partial);
      if (receive_body(d, body, fd, &offset, partial, &cause) && offset == f->size)
        return TRUE;
      if (cause && (cause->domain == VF_HUB_ERROR || g_error_matches(cause, G_IO_ERROR, G_IO_ERROR_CANCELLED))) {
        g_propagate_error(error, g_steal_pointer(&cause));
        return FALSE;
      }
      if (!cause && offset > f->size) {
        g_set_error(error, VF_HUB_ERROR, VF_HUB_ERROR_HTTP, "%s: the server sent more than the listed %" G_GUINT64_FORMAT
                    " bytes", what, f->size);
        return FALSE;
      }
    } else if (cause->domain != VF_HUB_ERROR || cause->code != VF_HUB_ERROR_NETWORK) {
      g_propagate_error(error, g_steal_pointer(&cause));
      return FALSE;
    }
    /* The connection broke (or the body ended early): resume from what arrived. */
    if (attempt + 1 >= VF_HUB_RESUME_TRIES) {
      g_set_error(error, VF_HUB_ERROR, VF_HUB_ERROR_NETWORK,
                  "%s: the connection broke %u times (last at byte %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                  "%s%s); the next attempt resumes there",
                  what, VF_HUB_RESUME_TRIES, file_size_or_zero(partial), f->size, cause ? ": " : "",
                  cause ? cause->message : "");
      return FALSE;
    }
    g_message("%s: connection lost at byte %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT "; resuming", what,
              file_size_or_zero(partial), f->size);
  }
}

/* Brings one file into the cache: resumed, verified (downloaded again once on a mismatch), renamed into
 * blobs/ and linked from the snapshot. */
static gboolean
download_file(Download *d, const char *repo_dir, const char *snapshot, const char *commit, const HubFile *f,
              GError **error)
{
  g_autofree char *blob = g_build_filename(repo_dir, "blobs", f->etag, NULL);
  if (file_size_or_zero(blob) == f->size && g_file_test(blob, G_FILE_TEST_IS_REGULAR))
    return link_into_snapshot(snapshot, f, error);

  g_autofree char *partial = g_strconcat(blob, ".incomplete", NULL);
  int fd = g_open(partial, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return set_io_error(error, "write", partial);
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    g_set_error(error, VF_HUB_ERROR, VF_HUB_ERROR_BUSY, "%s: %s is being downloaded by another program", d->repo_id,
                f->path);
    return FALSE;
  }
  gboolean ok = FALSE;
  for (int round = 0; round < 2; round++) {
    if (!fetch_file(d, commit, f, partial, fd, error))
      break;
    g_autofree char *got = file_checksum(partial, f, d->cancellable, error);
    if (!got)
      break;
    if (g_str_equal(got, f->etag)) {
      ok = TRUE;
      break;
    }
    /* Corrupt: start again from nothing, once; then report and leave nothing behind. */
    if (ftruncate(fd, 0) != 0) {
      set_io_error(error, "truncate", partial);
      break;
    }
    d->state.done -= d->state.file_done;
    d->state.file_done = 0;
    if (round == 1) {
      g_unlink(partial);
      g_set_error(error, VF_HUB_ERROR, VF_HUB_ERROR_CHECKSUM,
                  "%s: %s is corrupt: its %s is %s, the hub lists %s (downloaded twice)", d->repo_id, f->path,
                  f->is_lfs ? "SHA-256" : "git SHA-1", got, f->etag);
      break;
    }
    g_message("%s: %s failed its checksum; downloading it again", d->repo_id, f->path);
  }
  close(fd);
  if (!ok)
    return FALSE;
  if (g_rename(partial, blob) != 0) {
    int err = errno;
    g_set_error(error, VF_HUB_ERROR, VF_HUB_ERROR_IO, "cannot move %s into place: %s", partial, g_strerror(err));
    return FALSE;
  }
  return link_into_snapshot(snapshot, f, error);
}

static gboolean
write_ref(const char *repo_dir, const char *revision, const char *commit, GError **error)
{
  if (g_str_equal(revision, commit))
    return TRUE;
  g_autofree char *path = g_build_filename(repo_dir, "refs", revision, NULL);
  g_autofree char *dir = g_path_get_dirname(path);
  g_autoptr(GError) cause = NULL;
  if (!make_dirs(dir, error))
    return FALSE;
  if (!g_file_set_contents(path, commit, -1, &cause)) {
    g_set_error(error, VF_HUB_ERROR, VF_HUB_ERROR_IO, "cannot write %s: %s", path, cause->message);
    return FALSE;
  }
  return TRUE;
}

/* The repository's size, what the cache still lacks of it (partial files count as far as they go), and
 * what it holds complete. */
static void
measure(GArray *files, const char *repo_dir, guint64 *total, guint64 *missing, guint64 *complete_bytes)
{
  *total = *missing = 0;
  if (complete_bytes)
    *complete_bytes = 0;
  for (guint i = 0; i < files->len; i++) {
    const HubFile *f = &g_array_index(files, HubFile, i);
    g_autofree char *blob = g_build_filename(repo_dir, "blobs", f->etag, NULL);
    g_autofree char *partial = g_strconcat(blob, ".incomplete", NULL);
    gboolean complete = file_size_or_zero(blob) == f->size;
    *total += f->size;
    *missing += complete ? 0 : f->size - MIN(file_size_or_zero(partial), f->size);
    if (complete_bytes && complete)
      *complete_bytes += f->size;
  }
}

/* Lists the repository, checks the disk, then brings every missing file into the cache. */
static char *
run_download(Download *d, const char *revision, const VfHubOptions *o, GError **error)
{
  g_autofree char *commit = NULL;
  g_autofree char *cache = o->cache_dir ? g_strdup(o->cache_dir) : vf_hub_cache_dir();
  g_autofree char *repo_dir = vf_hub_repo_dir(cache, d->repo_id);
  g_autoptr(GArray) files = list_repository(d, revision, &commit, error);
  if (!files)
    return NULL;
  g_array_sort(files, compare_size);

  /* What is missing, and whether the disk holds it. */
  g_autofree char *blobs_dir = g_build_filename(repo_dir, "blobs", NULL);
  guint64 missing = 0;
  d->state.n_files = files->len;
  measure(files, repo_dir, &d->state.total, &missing, &d->state.done);
  guint64 free_bytes = 0;
  if (!free_space(cache, &free_bytes, error))
    return NULL;
  if (missing > 0 && (missing > free_bytes || free_bytes - missing < o->reserve_bytes)) {
    g_autofree char *need = vf_hub_format_bytes(missing), *have = vf_hub_format_bytes(free_bytes);
    g_autofree char *keep = vf_hub_format_bytes(o->reserve_bytes);
    g_autofree char *keeping = o->reserve_bytes ? g_strdup_printf(" (keeping %s free)", keep) : g_strdup("");
    g_set_error(error, VF_HUB_ERROR, VF_HUB_ERROR_DISK_FULL, "%s needs %s more on disk and %s has %s free%s",
                d->repo_id, need, cache, have, keeping);
    return NULL;
  }

  g_autofree char *snapshot = g_build_filename(repo_dir, "snapshots", commit, NULL);
  if (!make_dirs(blobs_dir, error) || !make_dirs(snapshot, error) || !write_ref(repo_dir, revision, commit, error))
    return NULL;
  for (guint i = 0; i < files->len; i++) {
    const HubFile *f = &g_array_index(files, HubFile, i);
    d->state.file = f->path;
    d->state.file_index = i;
    d->state.file_size = f->size;
    d->state.file_done = 0;
    g_autofree char *blob = g_build_filename(blobs_dir, f->etag, NULL);
    gboolean complete = file_size_or_zero(blob) == f->size;
    if (!download_file(d, repo_dir, snapshot, commit, f, error))
      return NULL;
    if (complete)
      d->state.file_done = f->size; /* already counted in done */
    report(d, TRUE);
  }
  return g_steal_pointer(&snapshot);
}

/* Checks the repository name and the endpoint and opens the HTTP session; download_end() frees it. */
static gboolean
download_begin(Download *d, const char *repo_id, const VfHubOptions *o, GCancellable *cancellable, GError **error)
{
  g_auto(GStrv) id_parts = g_strsplit(repo_id, "/", -1);
  if (g_strv_length(id_parts) != 2 || !*id_parts[0] || !*id_parts[1] || !safe_repo_path(repo_id)) {
    g_set_error(error, VF_HUB_ERROR, VF_HUB_ERROR_NOT_FOUND,
                "\"%s\" is not a repository name of the form owner/name (e.g. Qwen/Qwen2-VL-2B-Instruct)", repo_id);
    return FALSE;
  }
  const char *endpoint = o->endpoint ? o->endpoint : env_nonempty("HF_ENDPOINT");
  if (!endpoint)
    endpoint = DEFAULT_ENDPOINT;
  g_autoptr(GUri) uri = g_uri_parse(endpoint, SOUP_HTTP_URI_FLAGS, NULL);
  if (!uri || !g_uri_get_host(uri) ||
      (!g_str_equal(g_uri_get_scheme(uri), "http") && !g_str_equal(g_uri_get_scheme(uri), "https"))) {
    g_set_error(error, VF_HUB_ERROR, VF_HUB_ERROR_NETWORK, "the hub endpoint \"%s\" is not an http(s) URL", endpoint);
    return FALSE;
  }
  guint timeout = o->timeout_s ? o->timeout_s : 30;
  *d = (Download){
    .repo_id = repo_id,
    .soup = soup_session_new_with_options("timeout", timeout, "idle-timeout", timeout, "user-agent", "viewfinder",
                                          NULL),
    .endpoint = g_steal_pointer(&uri),
    .token = o->token ? g_strdup(o->token) : token_from_environment(),
    .cancellable = cancellable,
    .state = {.seconds_left = -1},
    .rate_since_us = g_get_monotonic_time(),
  };
  return TRUE;
}

static void
download_end(Download *d)
{
  g_clear_object(&d->soup);
  g_clear_pointer(&d->endpoint, g_uri_unref);
  g_clear_pointer(&d->token, g_free);
}

char *
vf_hub_download(const char *repo_id, const char *revision, const VfHubOptions *options,
                VfHubProgressFunc progress, void *user, GCancellable *cancellable, GError **error)
{
  static const VfHubOptions defaults = {0};
  const VfHubOptions *o = options ? options : &defaults;
  Download d;
  if (!download_begin(&d, repo_id, o, cancellable, error))
    return NULL;
  d.progress = progress;
  d.user = user;
  char *snapshot = run_download(&d, revision ? revision : "main", o, error);
  download_end(&d);
  return snapshot;
}

void
vf_hub_listing_free(VfHubListing *listing)
{
  if (!listing)
    return;
  g_free(listing->commit);
  vf_config_free(listing->config);
  g_free(listing->config_problem);
  g_free(listing);
}

/* The files vf_config_load reads, and the most a config file may take (real ones are a few KiB). */
static const char *const config_files[] = {"config.json", "quantize_config.json", "generation_config.json",
                                           "preprocessor_config.json"};
#define CONFIG_FILE_LIMIT (1 << 20)

/* Reads the repository's config files into a scratch folder and parses them; NULL with *problem when there is
 * no config.json or it cannot be read or parsed. */
static VfConfig *
fetch_config(Download *d, const char *commit, GArray *files, char **problem)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp("viewfinder-config-XXXXXX", &error);
  if (!dir) {
    *problem = g_strdup(error->message);
    return NULL;
  }
  VfConfig *config = NULL;
  gboolean have_config = FALSE, ok = TRUE;
  for (guint i = 0; i < files->len && ok; i++) {
    const HubFile *f = &g_array_index(files, HubFile, i);
    gboolean wanted = FALSE;
    for (guint k = 0; k < G_N_ELEMENTS(config_files); k++)
      wanted |= g_str_equal(f->path, config_files[k]);
    if (!wanted)
      continue;
    if (f->size > CONFIG_FILE_LIMIT) {
      g_set_error(&error, VF_HUB_ERROR, VF_HUB_ERROR_FORMAT, "%s: %s is %" G_GUINT64_FORMAT " bytes, not a config",
                  d->repo_id, f->path, f->size);
      ok = FALSE;
      break;
    }
    have_config |= g_str_equal(f->path, "config.json");
    g_autofree char *path = g_build_filename(dir, f->path, NULL);
    int fd = g_open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      set_io_error(&error, "write", path);
      ok = FALSE;
      break;
    }
    ok = fetch_file(d, commit, f, path, fd, &error);
    close(fd);
  }
  if (ok && !have_config)
    g_set_error(&error, VF_HUB_ERROR, VF_HUB_ERROR_NOT_FOUND, "%s has no config.json", d->repo_id);
  else if (ok)
    config = vf_config_load(dir, &error);
  if (!config)
    *problem = g_strdup(error->message);
  for (guint k = 0; k < G_N_ELEMENTS(config_files); k++) {
    g_autofree char *path = g_build_filename(dir, config_files[k], NULL);
    g_unlink(path);
  }
  g_rmdir(dir);
  return config;
}

VfHubListing *
vf_hub_list(const char *repo_id, const char *revision, const VfHubOptions *options, GCancellable *cancellable,
            GError **error)
{
  static const VfHubOptions defaults = {0};
  const VfHubOptions *o = options ? options : &defaults;
  Download d;
  if (!download_begin(&d, repo_id, o, cancellable, error))
    return NULL;
  VfHubListing *listing = NULL;
  g_autofree char *commit = NULL;
  g_autoptr(GArray) files = list_repository(&d, revision ? revision : "main", &commit, error);
  if (files) {
    g_autofree char *cache = o->cache_dir ? g_strdup(o->cache_dir) : vf_hub_cache_dir();
    g_autofree char *repo_dir = vf_hub_repo_dir(cache, repo_id);
    listing = g_new0(VfHubListing, 1);
    listing->commit = g_steal_pointer(&commit);
    listing->n_files = files->len;
    measure(files, repo_dir, &listing->total_bytes, &listing->missing_bytes, NULL);
    listing->config = fetch_config(&d, listing->commit, files, &listing->config_problem);
  }
  download_end(&d);
  return listing;
}

/* ---- partial downloads in the cache -------------------------------------------------------------------- */

void
vf_hub_incomplete_free(VfHubIncomplete *incomplete)
{
  if (!incomplete)
    return;
  g_free(incomplete->repo_id);
  g_free(incomplete->repo_dir);
  g_free(incomplete);
}

static gint
compare_incomplete(gconstpointer a, gconstpointer b)
{
  const VfHubIncomplete *x = *(VfHubIncomplete *const *)a, *y = *(VfHubIncomplete *const *)b;
  return strcmp(x->repo_id, y->repo_id);
}

GPtrArray *
vf_hub_find_incomplete(const char *cache_dir)
{
  GPtrArray *found = g_ptr_array_new_with_free_func((GDestroyNotify)vf_hub_incomplete_free);
  g_autofree char *cache = cache_dir ? g_strdup(cache_dir) : vf_hub_cache_dir();
  g_autoptr(GDir) dir = g_dir_open(cache, 0, NULL);
  for (const char *name; dir && (name = g_dir_read_name(dir));) {
    if (!g_str_has_prefix(name, "models--"))
      continue;
    g_autofree char *repo_dir = g_build_filename(cache, name, NULL);
    g_autofree char *blobs = g_build_filename(repo_dir, "blobs", NULL);
    g_autoptr(GDir) blob_dir = g_dir_open(blobs, 0, NULL);
    guint64 partial = 0;
    gboolean any = FALSE;
    for (const char *blob; blob_dir && (blob = g_dir_read_name(blob_dir));) {
      if (!g_str_has_suffix(blob, ".incomplete"))
        continue;
      g_autofree char *path = g_build_filename(blobs, blob, NULL);
      partial += file_size_or_zero(path);
      any = TRUE;
    }
    if (!any)
      continue;
    /* "models--Qwen--Qwen2-VL-2B-Instruct" → "Qwen/Qwen2-VL-2B-Instruct" */
    g_auto(GStrv) parts = g_strsplit(name + strlen("models--"), "--", 2);
    VfHubIncomplete *inc = g_new0(VfHubIncomplete, 1);
    inc->repo_id = parts[1] ? g_strdup_printf("%s/%s", parts[0], parts[1]) : g_strdup(parts[0]);
    inc->repo_dir = g_steal_pointer(&repo_dir);
    inc->partial_bytes = partial;
    g_ptr_array_add(found, inc);
  }
  g_ptr_array_sort(found, compare_incomplete);
  return found;
}
