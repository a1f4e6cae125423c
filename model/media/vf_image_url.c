/* http(s) image sources through libsoup 3 (synchronous API); see vf_image_url.h. */
#define G_LOG_DOMAIN "vf-image"

#include "vf_image_url.h"

#include <libsoup/soup.h>
#include <string.h>

#include "vf_media_stats.h"

/* The body is read in pieces of this size; a piece past max_bytes is how an unannounced excess is noticed. */
#define READ_CHUNK (64 * 1024)

void
vf_image_url_limits_default(VfImageUrlLimits *limits)
{
  *limits = (VfImageUrlLimits){.timeout_s = VF_IMAGE_URL_TIMEOUT_S, .max_bytes = VF_IMAGE_URL_MAX_BYTES};
}

gboolean
vf_image_source_is_url(const char *source)
{
  return g_str_has_prefix(source, "http://") || g_str_has_prefix(source, "https://");
}

char *
vf_image_url_display_name(const char *url)
{
  size_t cut = 100;
  if (strlen(url) <= cut + 10)
    return g_strdup(url);
  while (cut > 0 && ((uint8_t)url[cut] & 0xc0) == 0x80) /* not inside a UTF-8 sequence */
    cut--;
  return g_strdup_printf("%.*s…", (int)cut, url);
}

/* "64.0 MiB" (g_format_size() puts a no-break space there, which breaks a grep for the message). */
static char *
format_size(guint64 bytes)
{
  if (bytes >= 1 << 20)
    return g_strdup_printf("%.1f MiB", (double)bytes / (1 << 20));
  if (bytes >= 1 << 10)
    return g_strdup_printf("%.1f KiB", (double)bytes / (1 << 10));
  return g_strdup_printf("%" G_GUINT64_FORMAT " bytes", bytes);
}

/* ---- the deadline ------------------------------------------------------------------------------------ */

/* libsoup's own timeout bounds each wait (connect, one read) and restarts with every byte, so a server that
 * drips its answer could hold the worker for ever. This watch cancels the whole exchange when the deadline
 * passes; the cancellable is the only one, so a cancelled operation always means "timed out". */
typedef struct {
  GMutex lock;
  GCond cond;
  gboolean stopped;
  gint64 deadline; /* g_get_monotonic_time() µs */
  GCancellable *cancellable;
  GThread *thread;
} DeadlineWatch;

static gpointer
deadline_watch_run(gpointer data)
{
  DeadlineWatch *watch = data;
  g_mutex_lock(&watch->lock);
  while (!watch->stopped) {
    if (!g_cond_wait_until(&watch->cond, &watch->lock, watch->deadline)) {
      if (!watch->stopped)
        g_cancellable_cancel(watch->cancellable);
      break;
    }
  }
  g_mutex_unlock(&watch->lock);
  return NULL;
}

static gboolean
deadline_watch_start(DeadlineWatch *watch, guint timeout_s, const char *name, GError **error)
{
  g_mutex_init(&watch->lock);
  g_cond_init(&watch->cond);
  watch->stopped = FALSE;
  watch->deadline = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
  watch->cancellable = g_cancellable_new();
  g_autoptr(GError) thread_error = NULL;
  watch->thread = g_thread_try_new("vf-url-deadline", deadline_watch_run, watch, &thread_error);
  if (!watch->thread) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_NO_MEMORY, "%s: cannot start the download: %s", name,
                thread_error->message);
    g_object_unref(watch->cancellable);
    g_cond_clear(&watch->cond);
    g_mutex_clear(&watch->lock);
    return FALSE;
  }
  return TRUE;
}

static void
deadline_watch_stop(DeadlineWatch *watch)
{
  g_mutex_lock(&watch->lock);
  watch->stopped = TRUE;
  g_cond_signal(&watch->cond);
  g_mutex_unlock(&watch->lock);
  g_thread_join(watch->thread);
  g_object_unref(watch->cancellable);
  g_cond_clear(&watch->cond);
  g_mutex_clear(&watch->lock);
}

/* ---- errors -------------------------------------------------------------------------------------------- */

static const char *
certificate_problem(GTlsCertificateFlags flags)
{
  if (flags & G_TLS_CERTIFICATE_UNKNOWN_CA)
    return "it is not signed by a trusted authority";
  if (flags & G_TLS_CERTIFICATE_BAD_IDENTITY)
    return "it was issued for another host";
  if (flags & G_TLS_CERTIFICATE_EXPIRED)
    return "it has expired";
  if (flags & G_TLS_CERTIFICATE_NOT_ACTIVATED)
    return "it is not valid yet";
  if (flags & G_TLS_CERTIFICATE_REVOKED)
    return "it has been revoked";
  if (flags & G_TLS_CERTIFICATE_INSECURE)
    return "it uses an insecure algorithm";
  return "it is invalid";
}

/* Turns what libsoup/GIO reported into a VF_IMAGE_ERROR that says, in words, which step failed and why.
 * `body_bytes` < 0: before the answer's headers arrived; otherwise that many body bytes had been read. */
static void
set_transfer_error(GError **error, const char *name, GUri *uri, SoupMessage *msg, const GError *cause,
                   GCancellable *cancellable, guint timeout_s, gint64 body_bytes)
{
  const char *host = g_uri_get_host(uri);
  int port = g_uri_get_port(uri);
  if (port < 0)
    port = g_str_equal(g_uri_get_scheme(uri), "https") ? 443 : 80;

  if (g_cancellable_is_cancelled(cancellable) || g_error_matches(cause, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_TIMEOUT,
                "%s: timed out: no complete answer from %s within %u s%s", name, host, timeout_s,
                body_bytes < 0 ? "" : " (the body was still arriving)");
  } else if (cause->domain == G_RESOLVER_ERROR) {
    const char *why = cause->code == G_RESOLVER_ERROR_NOT_FOUND           ? "no such host"
                      : cause->code == G_RESOLVER_ERROR_TEMPORARY_FAILURE ? "no answer from the name server (offline?)"
                                                                          : cause->message;
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_NETWORK, "%s: cannot resolve the host name \"%s\": %s", name,
                host, why);
  } else if (g_error_matches(cause, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED)) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_NETWORK,
                "%s: cannot connect to %s port %d: connection refused", name, host, port);
  } else if (g_error_matches(cause, G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE) ||
             g_error_matches(cause, G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE)) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_NETWORK, "%s: cannot connect to %s: %s unreachable (%s)",
                name, host, cause->code == G_IO_ERROR_HOST_UNREACHABLE ? "host" : "network", cause->message);
  } else if (g_error_matches(cause, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE)) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_NETWORK, "%s: the TLS certificate of %s is refused: %s",
                name, host, certificate_problem(soup_message_get_tls_peer_certificate_errors(msg)));
  } else if (cause->domain == G_TLS_ERROR) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_NETWORK, "%s: TLS with %s failed: %s", name, host,
                cause->message);
  } else if (body_bytes >= 0) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_NETWORK,
                "%s: the download failed after %" G_GINT64_FORMAT " bytes of the image: %s", name, body_bytes,
                cause->message);
  } else {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_NETWORK, "%s: the download from %s failed: %s", name, host,
                cause->message);
  }
}

/* ---- the download ------------------------------------------------------------------------------------ */

/* The URL as libsoup will use it, or NULL with VF_IMAGE_ERROR_BAD_URI saying what is wrong with it. */
static GUri *
parse_http_url(const char *url, const char *name, GError **error)
{
  for (const char *c = url; *c; c++) {
    if ((uint8_t)*c <= ' ' || *c == 0x7f) {
      g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_BAD_URI,
                  "%s: malformed URL: it contains a space or a control character (write a space as %%20)", name);
      return NULL;
    }
  }
  g_autoptr(GError) parse_error = NULL;
  g_autoptr(GUri) uri = g_uri_parse(url, SOUP_HTTP_URI_FLAGS, &parse_error);
  if (!uri) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_BAD_URI, "%s: malformed URL: %s", name, parse_error->message);
    return NULL;
  }
  const char *scheme = g_uri_get_scheme(uri);
  if (!g_str_equal(scheme, "http") && !g_str_equal(scheme, "https")) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_BAD_URI, "%s: malformed URL: not http or https", name);
    return NULL;
  }
  const char *host = g_uri_get_host(uri);
  if (!host || !*host) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_BAD_URI, "%s: malformed URL: it names no host", name);
    return NULL;
  }
  return g_steal_pointer(&uri);
}

/* Reads the answer's body into memory, at most limits->max_bytes of it. */
static GBytes *
read_body(GInputStream *stream, SoupMessage *msg, GUri *uri, const char *name, const VfImageUrlLimits *limits,
          GCancellable *cancellable, GError **error)
{
  SoupMessageHeaders *headers = soup_message_get_response_headers(msg);
  gboolean length_known = soup_message_headers_get_encoding(headers) == SOUP_ENCODING_CONTENT_LENGTH;
  goffset announced = length_known ? soup_message_headers_get_content_length(headers) : 0;
  if (length_known && (guint64)announced > limits->max_bytes) {
    g_autofree char *size = format_size((guint64)announced);
    g_autofree char *limit = format_size(limits->max_bytes);
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_TOO_LARGE,
                "%s: the file is too large to download: the server announces %" G_GINT64_FORMAT
                " bytes (%s); Viewfinder downloads at most %s",
                name, (gint64)announced, size, limit);
    return NULL;
  }
  /* Sized to the announced length, the array never grows (GArray would round a growth up to a power of 2). */
  GByteArray *body = g_byte_array_sized_new(length_known ? (guint)announced : READ_CHUNK);
  g_autofree uint8_t *chunk = g_malloc(READ_CHUNK);
  for (;;) {
    g_autoptr(GError) cause = NULL;
    gssize n = g_input_stream_read(stream, chunk, READ_CHUNK, cancellable, &cause);
    if (n < 0) {
      set_transfer_error(error, name, uri, msg, cause, cancellable, limits->timeout_s, body->len);
      g_byte_array_unref(body);
      return NULL;
    }
    if (n == 0)
      break;
    g_byte_array_append(body, chunk, (guint)n);
    if (body->len > limits->max_bytes) {
      g_autofree char *limit = format_size(limits->max_bytes);
      g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_TOO_LARGE,
                  "%s: the file is too large to download: more than %s arrived, and Viewfinder downloads at "
                  "most %s",
                  name, limit, limit);
      g_byte_array_unref(body);
      return NULL;
    }
  }
  return g_byte_array_free_to_bytes(body);
}

/* GET with the deadline running: the headers, then the body if the status is 200. */
static GBytes *
get(SoupSession *session, SoupMessage *msg, GUri *uri, const char *name, const VfImageUrlLimits *limits,
    GCancellable *cancellable, GError **error)
{
  g_autoptr(GError) cause = NULL;
  g_autoptr(GInputStream) stream = soup_session_send(session, msg, cancellable, &cause);
  if (!stream) {
    set_transfer_error(error, name, uri, msg, cause, cancellable, limits->timeout_s, -1);
    return NULL;
  }
  GBytes *bytes = NULL;
  guint status = soup_message_get_status(msg);
  if (status != SOUP_STATUS_OK) {
    const char *phrase = soup_message_get_reason_phrase(msg);
    if (!phrase || !*phrase)
      phrase = soup_status_get_phrase(status);
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_HTTP_STATUS,
                "%s: the server answered HTTP %u %s instead of the image", name, status, phrase ? phrase : "");
  } else {
    bytes = read_body(stream, msg, uri, name, limits, cancellable, error);
  }
  /* Closing before the end of the body drops the connection (the session dies with this call anyway); the
   * cancellable keeps even the close under the deadline. */
  g_input_stream_close(stream, cancellable, NULL);
  return bytes;
}

GBytes *
vf_image_url_fetch(const char *url, const VfImageUrlLimits *limits, GError **error)
{
  VfImageUrlLimits defaults;
  if (!limits) {
    vf_image_url_limits_default(&defaults);
    limits = &defaults;
  }
  g_return_val_if_fail(limits->timeout_s > 0, NULL);
  g_return_val_if_fail(limits->max_bytes > 0 && limits->max_bytes <= G_MAXUINT32 / 2, NULL);

  vf_media_stats_count(VF_MEDIA_STAT_URL_FETCH);
  g_autofree char *name = vf_image_url_display_name(url);
  g_autoptr(GUri) uri = parse_http_url(url, name, error);
  if (!uri)
    return NULL;
  /* One session per download: nothing (connections, cookies) outlives the call. The session's timeout bounds
   * each single wait; the deadline watch bounds the whole. A trailing space makes libsoup append its own
   * name and version to the User-Agent. */
  g_autoptr(SoupSession) session =
      soup_session_new_with_options("timeout", limits->timeout_s, "user-agent", "Viewfinder ", NULL);
  g_autoptr(SoupMessage) msg = soup_message_new_from_uri(SOUP_METHOD_GET, uri);

  DeadlineWatch watch;
  if (!deadline_watch_start(&watch, limits->timeout_s, name, error))
    return NULL;
  GBytes *bytes = get(session, msg, uri, name, limits, watch.cancellable, error);
  deadline_watch_stop(&watch);
  return bytes;
}
