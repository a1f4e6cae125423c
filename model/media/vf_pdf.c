/* PDF pages rendered with poppler-glib and cairo; see vf_pdf.h. */
#define G_LOG_DOMAIN "vf-pdf"

#include "vf_pdf.h"

#include <cairo.h>
#include <errno.h>
#include <math.h>
#include <poppler.h>
#include <stdio.h>
#include <string.h>

#include "vf_preprocess.h"

/* poppler-glib 22.12 declares no autoptr cleanups. */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PopplerPage, g_object_unref)

struct VfPdf {
  char *path;
  PopplerDocument *doc;
  guint n_pages;
};

/* Reads the first bytes: a PDF starts with "%PDF-" within its first 1024 bytes (the spec allows leading
 * junk; poppler accepts it). */
static gboolean
check_magic(const char *path, GError **error)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    int err = errno;
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_NOT_FOUND, "%s: cannot read the file: %s", path,
                g_strerror(err));
    return FALSE;
  }
  char head[1024];
  size_t n = fread(head, 1, sizeof head, f);
  fclose(f);
  if (n == 0) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_EMPTY, "%s: the file is empty", path);
    return FALSE;
  }
  for (size_t i = 0; i + 5 <= n; i++)
    if (memcmp(head + i, "%PDF-", 5) == 0)
      return TRUE;
  g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_UNKNOWN_FORMAT, "%s: not a PDF document (no %%PDF- header)",
              path);
  return FALSE;
}

VfPdf *
vf_pdf_open(const char *path, GError **error)
{
  if (!check_magic(path, error))
    return NULL;
  g_autoptr(GFile) file = g_file_new_for_path(path);
  g_autoptr(GError) cause = NULL;
  PopplerDocument *doc = poppler_document_new_from_gfile(file, NULL, NULL, &cause);
  if (!doc) {
    if (g_error_matches(cause, POPPLER_ERROR, POPPLER_ERROR_ENCRYPTED))
      g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_ENCRYPTED,
                  "%s: the PDF is encrypted and needs a password; save an unprotected copy and attach that", path);
    else
      g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_CORRUPT, "%s: damaged PDF: %s", path,
                  cause ? cause->message : "poppler cannot read it");
    return NULL;
  }
  int n = poppler_document_get_n_pages(doc);
  if (n <= 0) {
    g_object_unref(doc);
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_CORRUPT, "%s: the PDF has no pages", path);
    return NULL;
  }
  VfPdf *pdf = g_new0(VfPdf, 1);
  pdf->path = g_strdup(path);
  pdf->doc = doc;
  pdf->n_pages = (guint)n;
  return pdf;
}

void
vf_pdf_free(VfPdf *pdf)
{
  if (!pdf)
    return;
  g_object_unref(pdf->doc);
  g_free(pdf->path);
  g_free(pdf);
}

guint
vf_pdf_n_pages(const VfPdf *pdf)
{
  return pdf->n_pages;
}

void
vf_pdf_page_size(VfPdf *pdf, guint index, double *width, double *height)
{
  g_return_if_fail(index < pdf->n_pages);
  g_autoptr(PopplerPage) page = poppler_document_get_page(pdf->doc, (int)index);
  poppler_page_get_size(page, width, height);
}

gboolean
vf_pdf_page_pixels(VfPdf *pdf, guint index, uint64_t min_pixels, uint64_t max_pixels, uint32_t *width,
                   uint32_t *height, GError **error)
{
  if (index >= pdf->n_pages) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_BAD_SIZE, "%s: there is no page %u (the PDF has %u)",
                pdf->path, index + 1, pdf->n_pages);
    return FALSE;
  }
  double w_pt = 0, h_pt = 0;
  vf_pdf_page_size(pdf, index, &w_pt, &h_pt);
  if (!(w_pt >= 1 && h_pt >= 1)) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_BAD_SIZE, "%s: page %u has no size (%.1f × %.1f pt)",
                pdf->path, index + 1, w_pt, h_pt);
    return FALSE;
  }
  if (!min_pixels)
    min_pixels = VF_QVU_MIN_PIXELS;
  if (!max_pixels)
    max_pixels = VF_QVU_MAX_PIXELS;
  /* The page at a scale where it just covers the budget; smart_resize then picks the multiples of 28 with
   * its aspect ratio that fit, exactly as it would for a scan of the page at any higher resolution. */
  double scale = sqrt((double)max_pixels / (w_pt * h_pt));
  double virtual_w = ceil(w_pt * scale), virtual_h = ceil(h_pt * scale);
  if (virtual_w > VF_IMAGE_MAX_SIDE || virtual_h > VF_IMAGE_MAX_SIDE) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_ASPECT_RATIO,
                "%s: page %u (%.0f × %.0f pt) is too narrow for any picture size", pdf->path, index + 1, w_pt, h_pt);
    return FALSE;
  }
  g_autoptr(GError) cause = NULL;
  if (!vf_smart_resize(VF_SMART_RESIZE_QVU, (uint32_t)virtual_h, (uint32_t)virtual_w, 28, min_pixels, max_pixels,
                       height, width, &cause)) {
    g_set_error(error, cause->domain, cause->code, "%s: page %u: %s", pdf->path, index + 1, cause->message);
    return FALSE;
  }
  return TRUE;
}

VfImage *
vf_pdf_render(VfPdf *pdf, guint index, uint32_t width, uint32_t height, GError **error)
{
  if (index >= pdf->n_pages) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_BAD_SIZE, "%s: there is no page %u (the PDF has %u)",
                pdf->path, index + 1, pdf->n_pages);
    return NULL;
  }
  if ((uint64_t)width * height > VF_IMAGE_MAX_PIXELS || width > VF_IMAGE_MAX_SIDE || height > VF_IMAGE_MAX_SIDE ||
      width == 0 || height == 0) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_TOO_LARGE, "%s: page %u cannot be rendered at %u × %u",
                pdf->path, index + 1, width, height);
    return NULL;
  }
  g_autoptr(VfImage) image = vf_image_new(width, height, error);
  if (!image)
    return NULL;
  cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)width, (int)height);
  if (cairo_surface_status(surface) != CAIRO_STATUS_SUCCESS) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_NO_MEMORY, "%s: page %u: no memory for %u × %u pixels",
                pdf->path, index + 1, width, height);
    cairo_surface_destroy(surface);
    return NULL;
  }
  g_autoptr(PopplerPage) page = poppler_document_get_page(pdf->doc, (int)index);
  double w_pt = 0, h_pt = 0;
  poppler_page_get_size(page, &w_pt, &h_pt);
  cairo_t *cr = cairo_create(surface);
  cairo_set_source_rgb(cr, 1, 1, 1); /* paper: a PDF page's background is transparent */
  cairo_paint(cr);
  cairo_scale(cr, width / w_pt, height / h_pt);
  poppler_page_render(page, cr);
  cairo_destroy(cr);
  cairo_surface_flush(surface);

  /* CAIRO_FORMAT_RGB24: one native-endian 32-bit word per pixel, 0x00RRGGBB. */
  const uint8_t *src = cairo_image_surface_get_data(surface);
  int stride = cairo_image_surface_get_stride(surface);
  for (uint32_t y = 0; y < height; y++) {
    const uint32_t *row = (const uint32_t *)(src + (size_t)y * stride);
    uint8_t *out = image->rgb + (size_t)y * width * 3;
    for (uint32_t x = 0; x < width; x++) {
      out[3 * x + 0] = (uint8_t)(row[x] >> 16);
      out[3 * x + 1] = (uint8_t)(row[x] >> 8);
      out[3 * x + 2] = (uint8_t)row[x];
    }
  }
  cairo_surface_destroy(surface);
  return g_steal_pointer(&image);
}

gboolean
vf_pdf_parse_source(const char *source, char **path, guint *page, GError **error)
{
  const char *mark = g_strrstr(source, "#page=");
  if (!mark)
    return FALSE;
  const char *digits = mark + strlen("#page=");
  char *end = NULL;
  guint64 n = g_ascii_strtoull(digits, &end, 10);
  if (end == digits || *end || n == 0 || n > G_MAXUINT) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_BAD_SIZE,
                "%s: \"#page=%s\" is not a page number (pages count from 1)", source, digits);
    return FALSE;
  }
  *path = g_strndup(source, (gsize)(mark - source));
  *page = (guint)n;
  return TRUE;
}

static gboolean
parse_page_number(const char *text, guint *out)
{
  char *end = NULL;
  guint64 n = g_ascii_strtoull(text, &end, 10);
  if (end == text || *end || n == 0 || n > G_MAXUINT)
    return FALSE;
  *out = (guint)n;
  return TRUE;
}

static gint
compare_pages(gconstpointer a, gconstpointer b)
{
  guint x = *(const guint *)a, y = *(const guint *)b;
  return x < y ? -1 : x > y;
}

GArray *
vf_pdf_parse_pages(const char *spec, guint n_pages, GError **error)
{
  g_autoptr(GArray) pages = g_array_new(FALSE, FALSE, sizeof(guint));
  g_autofree gboolean *taken = g_new0(gboolean, n_pages + 1);
  g_auto(GStrv) parts = g_strsplit(spec, ",", -1);
  gboolean ok = parts[0] != NULL;
  for (guint i = 0; ok && parts[i]; i++) {
    g_auto(GStrv) bounds = g_strsplit(parts[i], "-", 2);
    guint first = 0, last = 0;
    ok = bounds[0] && parse_page_number(g_strstrip(bounds[0]), &first) &&
         (bounds[1] ? parse_page_number(g_strstrip(bounds[1]), &last) : (last = first, TRUE)) && first <= last;
    if (ok && last > n_pages) {
      g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_BAD_SIZE, "page %u is past the end: the PDF has %u pages",
                  last, n_pages);
      return NULL;
    }
    for (guint p = first; ok && p <= last; p++)
      if (!taken[p]) {
        taken[p] = TRUE;
        g_array_append_val(pages, p);
      }
  }
  if (!ok) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_BAD_SIZE,
                "\"%s\" is not a page range (write pages like 3, 2-5 or 1,3-4)", spec);
    return NULL;
  }
  g_array_sort(pages, compare_pages);
  return g_steal_pointer(&pages);
}
