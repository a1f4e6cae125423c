/* Images from http(s) URLs (spec §3.2), against a SoupServer this test runs on 127.0.0.1 in its own thread: a
 * PNG and a JPEG decode to the same pixels as their files, a redirect is followed, the plan reads the header
 * from a URL; and every failure is refused with the URL and the reason: an HTTP status, a server that never
 * answers or drips its answer (the deadline), an announced or an unannounced size over the limit, a body that
 * is not an image, a connection cut short, a closed port, a name that does not resolve, an untrusted TLS
 * certificate, malformed URLs. No traffic leaves the loopback interface. */
#include <gio/gio.h>
#include <libsoup/soup.h>
#include <string.h>

#include "vf_image.h"
#include "vf_image_url.h"
#include "vf_preprocess.h"
#include "vf_test_data.h"
#include "vf_test_server.h"

static GBytes *chelsea_png; /* 451×300 PNG */
static GBytes *rocket_jpg;
static char *chelsea_path, *rocket_path;

static GBytes *
read_bytes(const char *path)
{
  char *contents = NULL;
  gsize n = 0;
  g_autoptr(GError) error = NULL;
  g_file_get_contents(path, &contents, &n, &error);
  g_assert_no_error(error);
  return g_bytes_new_take(contents, n);
}

/* The error has this code and its message names `who` and says `why`. */
static void
assert_image_error(const GError *error, int code, const char *who, const char *why)
{
  g_assert_nonnull(error);
  g_test_message("error: %s", error->message);
  g_assert_error(error, VF_IMAGE_ERROR, code);
  if (who && !strstr(error->message, who))
    g_error("message \"%s\" does not name \"%s\"", error->message, who);
  if (why && !strstr(error->message, why))
    g_error("message \"%s\" does not say \"%s\"", error->message, why);
}

static double
seconds_since(gint64 start)
{
  return (double)(g_get_monotonic_time() - start) / G_USEC_PER_SEC;
}

/* ---- the server ------------------------------------------------------------------------------------------ */

/* Paths:
 *   /chelsea.png /rocket.jpg   the files, 200
 *   /redirect                  302 to /chelsea.png
 *   /missing.png               404
 *   /page.html                 200 with an HTML page
 *   /hang                      reads the request, never answers
 *   /announces-huge            200 with Content-Length 100 MiB, sends 64 KiB and stalls
 *   /chunked-1mib              200, chunked (no Content-Length), 1 MiB
 *   /cut-off                   200 with Content-Length 1000, sends 300 bytes and closes the connection
 *   /drip                      200 with Content-Length 100000, then one byte every 100 ms */
#define ANNOUNCED_HUGE (100 << 20)

static void
serve_bytes(SoupServerMessage *msg, GBytes *bytes, const char *type)
{
  soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response(msg, type, SOUP_MEMORY_COPY, g_bytes_get_data(bytes, NULL),
                                   g_bytes_get_size(bytes));
}

/* Takes the connection from libsoup and writes `head` and the first `n` bytes of the PNG on it as they are. */
static GIOStream *
write_raw(SoupServerMessage *msg, const char *head, size_t n)
{
  GIOStream *stream = soup_server_message_steal_connection(msg);
  GOutputStream *out = g_io_stream_get_output_stream(stream);
  g_autoptr(GError) error = NULL;
  g_assert_true(g_output_stream_write_all(out, head, strlen(head), NULL, NULL, &error));
  g_assert_true(g_output_stream_write_all(out, g_bytes_get_data(chelsea_png, NULL), n, NULL, NULL, &error));
  g_assert_no_error(error);
  return stream;
}

typedef struct {
  GIOStream *stream;
  size_t sent;
} Drip;

static void
drip_free(gpointer data)
{
  Drip *drip = data;
  g_object_unref(drip->stream);
  g_free(drip);
}

static gboolean
drip_one_byte(gpointer data)
{
  Drip *drip = data;
  const uint8_t *png = g_bytes_get_data(chelsea_png, NULL);
  gssize n = g_output_stream_write(g_io_stream_get_output_stream(drip->stream), png + drip->sent, 1, NULL, NULL);
  drip->sent += n > 0 ? (size_t)n : 0;
  return n == 1 && drip->sent < 100000 ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE; /* stops once the client left */
}

static void
serve(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user_data)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
  if (g_str_equal(path, "/chelsea.png")) {
    serve_bytes(msg, chelsea_png, "image/png");
  } else if (g_str_equal(path, "/rocket.jpg")) {
    serve_bytes(msg, rocket_jpg, "image/jpeg");
  } else if (g_str_equal(path, "/redirect")) {
    soup_server_message_set_redirect(msg, SOUP_STATUS_FOUND, "/chelsea.png");
  } else if (g_str_equal(path, "/page.html")) {
    const char *html = "<!DOCTYPE html><html><body><img src=\"chelsea.png\"></body></html>\n";
    soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
    soup_server_message_set_response(msg, "text/html", SOUP_MEMORY_STATIC, html, strlen(html));
  } else if (g_str_equal(path, "/hang")) {
    soup_server_message_pause(msg);
  } else if (g_str_equal(path, "/announces-huge")) {
    /* The body is left incomplete: libsoup sends what there is, then waits for more that never comes. */
    soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
    soup_message_headers_set_content_type(headers, "image/png", NULL);
    soup_message_headers_set_content_length(headers, ANNOUNCED_HUGE);
    soup_message_body_append(soup_server_message_get_response_body(msg), SOUP_MEMORY_COPY,
                             g_bytes_get_data(chelsea_png, NULL), 64 * 1024);
  } else if (g_str_equal(path, "/chunked-1mib")) {
    g_autofree uint8_t *big = g_malloc(1 << 20);
    memcpy(big, g_bytes_get_data(chelsea_png, NULL), 1024); /* a PNG's start: only the size is wrong */
    memset(big + 1024, 0x5a, (1 << 20) - 1024);
    soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
    soup_message_headers_set_encoding(headers, SOUP_ENCODING_CHUNKED);
    soup_server_message_set_response(msg, "image/png", SOUP_MEMORY_COPY, (const char *)big, 1 << 20);
    soup_message_body_complete(soup_server_message_get_response_body(msg)); /* the last, empty chunk */
  } else if (g_str_equal(path, "/cut-off")) {
    GIOStream *stream =
        write_raw(msg, "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n", 300);
    g_io_stream_close(stream, NULL, NULL);
    g_object_unref(stream);
  } else if (g_str_equal(path, "/drip")) {
    Drip *drip = g_new0(Drip, 1);
    drip->stream = write_raw(msg, "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n", 0);
    GSource *timer = g_timeout_source_new(100);
    g_source_set_callback(timer, drip_one_byte, drip, drip_free);
    g_source_attach(timer, g_main_context_get_thread_default());
    g_source_unref(timer);
  } else {
    soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, NULL);
  }
}

static VfTestServer *server;

static char *
url(const char *path)
{
  return vf_test_server_url(server, path);
}

/* ---- downloads that work --------------------------------------------------------------------------------- */

static void
assert_same_pixels(const char *source, const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VfImage) want = vf_image_load(path, &error);
  g_assert_no_error(error);
  g_autoptr(VfImageFile) file = vf_image_file_open(source, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(vf_image_file_name(file), ==, source);
  g_autoptr(VfImage) got = vf_image_file_decode(file, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(got->width, ==, want->width);
  g_assert_cmpuint(got->height, ==, want->height);
  g_assert_cmpmem(got->rgb, (size_t)got->width * got->height * 3, want->rgb, (size_t)want->width * want->height * 3);
}

static void
test_png(void)
{
  g_autofree char *source = url("/chelsea.png");
  assert_same_pixels(source, chelsea_path);
  g_autoptr(VfImageFile) file = vf_image_file_open(source, NULL);
  g_assert_cmpint(vf_image_file_format(file), ==, VF_IMAGE_FORMAT_PNG);
}

static void
test_jpeg(void)
{
  g_autofree char *source = url("/rocket.jpg");
  assert_same_pixels(source, rocket_path);
}

static void
test_redirect(void)
{
  g_autofree char *source = url("/redirect");
  assert_same_pixels(source, chelsea_path);
}

/* The plan (what the UI shows before decoding) from a URL equals the plan from the file. */
static void
test_plan(void)
{
  VfImageProcessorConfig cfg;
  vf_image_processor_config_default(&cfg);
  VfImagePlan from_url, from_file;
  g_autoptr(GError) error = NULL;
  g_autofree char *source = url("/chelsea.png");
  g_assert_true(vf_image_plan_source(source, NULL, &cfg, &from_url, &error));
  g_assert_no_error(error);
  g_assert_true(vf_image_plan_source(chelsea_path, NULL, &cfg, &from_file, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(from_url.width, ==, from_file.width);
  g_assert_cmpuint(from_url.height, ==, from_file.height);
  g_assert_cmpuint(from_url.out_width, ==, from_file.out_width);
  g_assert_cmpuint(from_url.out_height, ==, from_file.out_height);
  g_assert_cmpuint(from_url.n_tokens, ==, from_file.n_tokens);
}

/* ---- refusals ---------------------------------------------------------------------------------------------- */

static void
test_http_status(void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *source = url("/missing.png");
  g_assert_null(vf_image_load(source, &error));
  assert_image_error(error, VF_IMAGE_ERROR_HTTP_STATUS, source, "HTTP 404 Not Found");
}

static void
test_not_an_image(void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *source = url("/page.html");
  g_assert_null(vf_image_load(source, &error));
  assert_image_error(error, VF_IMAGE_ERROR_UNKNOWN_FORMAT, source, "not an image");
}

/* A server that takes the request and never answers: the download gives up after the configured time. */
static void
test_timeout(void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *source = url("/hang");
  VfImageUrlLimits limits;
  vf_image_url_limits_default(&limits);
  limits.timeout_s = 1;
  gint64 start = g_get_monotonic_time();
  g_assert_null(vf_image_url_fetch(source, &limits, &error));
  double took = seconds_since(start);
  g_test_message("gave up after %.2f s", took);
  assert_image_error(error, VF_IMAGE_ERROR_TIMEOUT, source, "timed out");
  g_assert_nonnull(strstr(error->message, "within 1 s"));
  g_assert_cmpfloat(took, >=, 0.9);
  g_assert_cmpfloat(took, <, 3.0);
}

/* A server that sends one byte every 100 ms: every single wait is short, so only the deadline on the whole
 * download ends it (libsoup's own timeout alone would wait 10,000 s). */
static void
test_drip_deadline(void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *source = url("/drip");
  VfImageUrlLimits limits;
  vf_image_url_limits_default(&limits);
  limits.timeout_s = 1;
  gint64 start = g_get_monotonic_time();
  g_assert_null(vf_image_url_fetch(source, &limits, &error));
  double took = seconds_since(start);
  g_test_message("gave up after %.2f s", took);
  assert_image_error(error, VF_IMAGE_ERROR_TIMEOUT, source, "the body was still arriving");
  g_assert_cmpfloat(took, >=, 0.9);
  g_assert_cmpfloat(took, <, 3.0);
}

/* Content-Length of 100 MiB, over the default 64 MiB: refused from the headers. The server sends only 64 KiB
 * and stalls, so reading on would end in the 20 s timeout instead of this error. */
static void
test_announced_too_large(void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *source = url("/announces-huge");
  gint64 start = g_get_monotonic_time();
  g_assert_null(vf_image_load(source, &error));
  double took = seconds_since(start);
  assert_image_error(error, VF_IMAGE_ERROR_TOO_LARGE, source, "announces 104857600 bytes");
  g_assert_nonnull(strstr(error->message, "at most 64.0 MiB"));
  g_assert_cmpfloat(took, <, 2.0);
}

/* No Content-Length (chunked): the download stops as soon as it passes the limit. */
static void
test_unannounced_too_large(void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *source = url("/chunked-1mib");
  VfImageUrlLimits limits;
  vf_image_url_limits_default(&limits);
  limits.max_bytes = 256 * 1024;
  g_assert_null(vf_image_url_fetch(source, &limits, &error));
  assert_image_error(error, VF_IMAGE_ERROR_TOO_LARGE, source, "more than 256.0 KiB arrived");
  g_clear_error(&error);
  /* The same body under a limit it fits: downloaded whole (and then refused as a corrupt PNG, not here). */
  limits.max_bytes = 1 << 20;
  g_autoptr(GBytes) bytes = vf_image_url_fetch(source, &limits, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(g_bytes_get_size(bytes), ==, 1 << 20);
}

static void
test_cut_off(void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *source = url("/cut-off");
  g_assert_null(vf_image_load(source, &error));
  assert_image_error(error, VF_IMAGE_ERROR_NETWORK, source, "failed after 300 bytes");
}

/* A port on 127.0.0.1 that was just free: nothing listens there. */
static void
test_connection_refused(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error(error);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any_port = g_inet_socket_address_new(loopback, 0);
  g_assert_true(g_socket_bind(socket, any_port, FALSE, &error));
  g_autoptr(GSocketAddress) bound = g_socket_get_local_address(socket, &error);
  g_assert_no_error(error);
  guint port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
  g_socket_close(socket, NULL); /* bound, never listening, now closed */

  g_autofree char *source = g_strdup_printf("http://127.0.0.1:%u/chelsea.png", port);
  g_autofree char *where = g_strdup_printf("port %u: connection refused", port);
  g_assert_null(vf_image_load(source, &error));
  assert_image_error(error, VF_IMAGE_ERROR_NETWORK, source, where);
}

/* A resolver that knows no name, installed for one test: a DNS failure without asking any DNS server. */
typedef struct {
  GResolver parent;
} NoNamesResolver;
typedef struct {
  GResolverClass parent_class;
} NoNamesResolverClass;
G_DEFINE_TYPE(NoNamesResolver, no_names_resolver, G_TYPE_RESOLVER)

static int no_names_lookups;

static GList *
no_names_lookup(GResolver *resolver, const char *hostname, GCancellable *cancellable, GError **error)
{
  g_atomic_int_inc(&no_names_lookups);
  g_set_error(error, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND, "Error resolving “%s”: Name or service not known",
              hostname);
  return NULL;
}

static GList *
no_names_lookup_with_flags(GResolver *resolver, const char *hostname, GResolverNameLookupFlags flags,
                           GCancellable *cancellable, GError **error)
{
  return no_names_lookup(resolver, hostname, cancellable, error);
}

static void
no_names_lookup_async(GResolver *resolver, const char *hostname, GCancellable *cancellable,
                      GAsyncReadyCallback callback, gpointer user_data)
{
  GError *error = NULL;
  no_names_lookup(resolver, hostname, cancellable, &error);
  g_task_report_error(resolver, callback, user_data, no_names_lookup_async, error);
}

static void
no_names_lookup_with_flags_async(GResolver *resolver, const char *hostname, GResolverNameLookupFlags flags,
                                 GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  no_names_lookup_async(resolver, hostname, cancellable, callback, user_data);
}

static GList *
no_names_lookup_finish(GResolver *resolver, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer(G_TASK(result), error);
}

static void
no_names_resolver_class_init(NoNamesResolverClass *klass)
{
  GResolverClass *resolver_class = G_RESOLVER_CLASS(klass);
  resolver_class->lookup_by_name = no_names_lookup;
  resolver_class->lookup_by_name_async = no_names_lookup_async;
  resolver_class->lookup_by_name_finish = no_names_lookup_finish;
  resolver_class->lookup_by_name_with_flags = no_names_lookup_with_flags;
  resolver_class->lookup_by_name_with_flags_async = no_names_lookup_with_flags_async;
  resolver_class->lookup_by_name_with_flags_finish = no_names_lookup_finish;
}

static void
no_names_resolver_init(NoNamesResolver *resolver)
{
}

static void
test_dns_failure(void)
{
  g_autoptr(GResolver) system_resolver = g_resolver_get_default();
  g_autoptr(GResolver) no_names = g_object_new(no_names_resolver_get_type(), NULL);
  g_resolver_set_default(no_names);
  g_autoptr(GError) error = NULL;
  const char *source = "http://images.example.test/cat.png";
  g_assert_null(vf_image_load(source, &error));
  g_resolver_set_default(system_resolver);
  g_assert_cmpint(g_atomic_int_get(&no_names_lookups), >=, 1);
  assert_image_error(error, VF_IMAGE_ERROR_NETWORK, source,
                     "cannot resolve the host name \"images.example.test\": no such host");
}

/* https to a server whose certificate nobody trusted: refused, with the reason. */
static void
test_untrusted_certificate(void)
{
  g_autofree char *cert = vf_test_data_path("tls/self-signed-127.0.0.1.crt");
  g_autofree char *key = vf_test_data_path("tls/self-signed-127.0.0.1.key");
  g_autoptr(GError) error = NULL;
  g_autoptr(GTlsCertificate) certificate = g_tls_certificate_new_from_files(cert, key, &error);
  g_assert_no_error(error);
  VfTestServer *https = vf_test_server_start(certificate, serve, NULL);
  g_autofree char *source = vf_test_server_url(https, "/chelsea.png");
  g_assert_null(vf_image_load(source, &error));
  vf_test_server_stop(https);
  assert_image_error(error, VF_IMAGE_ERROR_NETWORK, source, "not signed by a trusted authority");
}

static void
test_malformed_urls(void)
{
  static const struct {
    const char *url, *why;
  } cases[] = {
      {"http://", "names no host"},
      {"https:///cat.png", "names no host"},
      {"http://[::1/cat.png", "malformed URL"},
      {"http://127.0.0.1:99999/cat.png", "malformed URL"},
      {"http://127.0.0.1/a cat.png", "space"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GError) error = NULL;
    g_assert_null(vf_image_load(cases[i].url, &error));
    assert_image_error(error, VF_IMAGE_ERROR_BAD_URI, cases[i].url, cases[i].why);
  }
  /* Messages show a very long URL by its start. */
  g_autofree char *long_path = g_strnfill(300, 'a');
  g_autofree char *long_url = g_strconcat("http://[::1/", long_path, NULL);
  g_autoptr(GError) error = NULL;
  g_assert_null(vf_image_load(long_url, &error));
  g_autofree char *start = g_strndup(long_url, 100);
  assert_image_error(error, VF_IMAGE_ERROR_BAD_URI, start, "malformed URL");
  g_assert_null(strstr(error->message, long_url));
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  chelsea_path = vf_test_data_path("golden/cases/a02_image_photo/chelsea.png");
  rocket_path = vf_test_data_path("golden/cases/a03_image_resized_hw/rocket.jpg");
  chelsea_png = read_bytes(chelsea_path);
  rocket_jpg = read_bytes(rocket_path);
  g_assert_cmpuint(g_bytes_get_size(chelsea_png), >, 64 * 1024); /* /announces-huge sends this much of it */
  server = vf_test_server_start(NULL, serve, NULL);

  g_test_add_func("/image-url/png", test_png);
  g_test_add_func("/image-url/jpeg", test_jpeg);
  g_test_add_func("/image-url/redirect", test_redirect);
  g_test_add_func("/image-url/plan", test_plan);
  g_test_add_func("/image-url/http-status", test_http_status);
  g_test_add_func("/image-url/not-an-image", test_not_an_image);
  g_test_add_func("/image-url/timeout", test_timeout);
  g_test_add_func("/image-url/drip-deadline", test_drip_deadline);
  g_test_add_func("/image-url/announced-too-large", test_announced_too_large);
  g_test_add_func("/image-url/unannounced-too-large", test_unannounced_too_large);
  g_test_add_func("/image-url/cut-off", test_cut_off);
  g_test_add_func("/image-url/connection-refused", test_connection_refused);
  g_test_add_func("/image-url/dns-failure", test_dns_failure);
  g_test_add_func("/image-url/untrusted-certificate", test_untrusted_certificate);
  g_test_add_func("/image-url/malformed", test_malformed_urls);
  int rc = g_test_run();

  vf_test_server_stop(server);
  g_bytes_unref(chelsea_png);
  g_bytes_unref(rocket_jpg);
  g_free(chelsea_path);
  g_free(rocket_path);
  return rc;
}
