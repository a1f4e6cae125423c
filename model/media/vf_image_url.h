/* Images from http(s) URLs (spec §3.2: qwen-vl-utils downloads "http://…" / "https://…" and opens the bytes
 * like any file). vf_image_file_open() calls this for such sources with the default limits and hands the bytes
 * to vf_image_file_open_bytes(), so format detection, the pixel limits and header-only planning all apply.
 *
 * The download is synchronous (the engine runs on a worker thread) through libsoup 3, with redirects followed
 * and the system's proxy settings and certificate store (an untrusted certificate is refused). It is bounded:
 *   - size: at most max_bytes of body; a larger Content-Length is refused before any of the body is read, and a
 *     body without one is cut off as soon as it passes the limit;
 *   - time: the whole exchange (name lookup, connect, TLS, request, every byte of the body) must finish within
 *     timeout_s seconds, whatever the server does.
 * Nothing is cached: every call downloads again. Every error is in VF_IMAGE_ERROR and starts with the URL. */
#pragma once

#include <glib.h>

#include "vf_image.h"

/* Far above any photograph Viewfinder would plan (a 64 MiB PNG is already tens of megapixels), small enough to
 * keep in memory beside the decoded pixels. */
#define VF_IMAGE_URL_MAX_BYTES ((guint64)64 << 20)
/* Long enough for a slow server and a large image, short enough that a dead one does not look like a hang. */
#define VF_IMAGE_URL_TIMEOUT_S 20u

typedef struct {
  guint timeout_s;    /* the whole download; > 0 */
  guint64 max_bytes;  /* the body; > 0 */
} VfImageUrlLimits;

/* VF_IMAGE_URL_TIMEOUT_S and VF_IMAGE_URL_MAX_BYTES. */
void vf_image_url_limits_default(VfImageUrlLimits *limits);

/* TRUE for the sources qwen-vl-utils downloads: those starting with "http://" or "https://" (case-sensitive, as
 * Python's str.startswith there). */
gboolean vf_image_source_is_url(const char *source);

/* The body of a 200 answer to GET `url`, or NULL with one of: VF_IMAGE_ERROR_BAD_URI (not a valid http(s) URL),
 * VF_IMAGE_ERROR_NETWORK (name lookup, connection refused, host unreachable, TLS, connection lost),
 * VF_IMAGE_ERROR_HTTP_STATUS (any final status other than 200, named with its phrase), VF_IMAGE_ERROR_TOO_LARGE
 * (over max_bytes), VF_IMAGE_ERROR_TIMEOUT. `limits` NULL: the defaults. */
GBytes *vf_image_url_fetch(const char *url, const VfImageUrlLimits *limits, GError **error);

/* What messages call a URL: the URL itself, or its first 100 characters and an ellipsis when longer. */
char *vf_image_url_display_name(const char *url);
