/* PDF documents as pictures: each page is rendered with poppler-glib and cairo straight at the size its pixel
 * budget gives (smart_resize of the page's own aspect ratio), so the model's picture pipeline resizes nothing
 * and no pixel is wasted. Opening reads the cross-reference table and the page tree only: a 500-page PDF opens
 * without rendering (or even parsing) its pages' contents, and each page is rendered when it is asked for.
 *
 *   g_autoptr(VfPdf) pdf = vf_pdf_open("scan.pdf", &error);
 *   uint32_t w, h;
 *   vf_pdf_page_pixels(pdf, 2, 0, 2048 * 28 * 28, &w, &h, &error);   // page 3 under a 2048-token budget
 *   g_autoptr(VfImage) page = vf_pdf_render(pdf, 2, w, h, &error);   // [h, w, 3] RGB8, white paper
 *
 * Sources name a page as "scan.pdf#page=3" (1-based, as PDF viewers do); vf_pdf_parse_source() splits them.
 * A VfPdf is not thread-safe: use it from one thread at a time. Errors are VF_IMAGE_ERRORs naming the file:
 * NOT_FOUND, EMPTY, UNKNOWN_FORMAT (not a PDF), ENCRYPTED (needs a password), CORRUPT (damaged), BAD_SIZE
 * (a page number out of range, a page of zero size), ASPECT_RATIO. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "vf_image.h"

/* The budget of a document page when none is given: 2048 visual tokens, what Qwen advises for OCR. */
#define VF_PDF_PAGE_PIXELS (2048u * 28 * 28)

typedef struct VfPdf VfPdf;

VfPdf *vf_pdf_open(const char *path, GError **error);
void vf_pdf_free(VfPdf *pdf);

guint vf_pdf_n_pages(const VfPdf *pdf);
/* The size of page `index` (from 0) in points (1/72 inch), as displayed (its /Rotate applied). */
void vf_pdf_page_size(VfPdf *pdf, guint index, double *width, double *height);
/* The pixel size page `index` renders at for a budget: the largest multiple-of-28 size with the page's aspect
 * ratio that smart_resize allows within [min_pixels, max_pixels] (0 for either: qwen-vl-utils' default). */
gboolean vf_pdf_page_pixels(VfPdf *pdf, guint index, uint64_t min_pixels, uint64_t max_pixels, uint32_t *width,
                            uint32_t *height, GError **error);
/* Renders page `index` on white paper at exactly width × height pixels. */
VfImage *vf_pdf_render(VfPdf *pdf, guint index, uint32_t width, uint32_t height, GError **error);

/* Whether `source` names a PDF page ("doc.pdf#page=3"): then *path and *page (1-based) are set. A "#page=" that
 * is not a positive number is an error (FALSE with `error` set); a source without it is FALSE, no error. */
gboolean vf_pdf_parse_source(const char *source, char **path, guint *page, GError **error);
/* Pages "3", "2-5", "1,3-4" (1-based, inclusive) of a document with n_pages pages, in order, each once:
 * a GArray of guint page numbers. NULL with VF_IMAGE_ERROR_BAD_SIZE for a malformed or out-of-range range. */
GArray *vf_pdf_parse_pages(const char *spec, guint n_pages, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfPdf, vf_pdf_free)
