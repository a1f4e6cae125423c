/* PDF documents from bytes, as a dropped file or `ocr doc.pdf` opens them: the document, the first pages' sizes,
 * their pixel size under a small budget and a render at that size (which must be exactly that size); and the
 * input's start as a page range ("2-5,7") and a page source ("doc.pdf#page=3"), whose results must lie in
 * the document. Errors are fine; crashes, leaks and undefined behaviour are not. poppler itself is not
 * instrumented, so coverage guides the fuzzer through our code only; a crash inside poppler still shows. */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "vf_pdf.h"

/* Small renders keep each input fast: 64 visual tokens of 28 × 28. */
#define FUZZ_PAGE_PIXELS (64u * 28 * 28)
#define FUZZ_MAX_PAGES 3
#define FUZZ_SPEC_BYTES 48

static void
check_page_range(const uint8_t *data, size_t size, guint n_pages)
{
  g_autofree char *spec = fuzz_string(data, MIN(size, FUZZ_SPEC_BYTES));
  GError *error = NULL;
  GArray *pages = vf_pdf_parse_pages(spec, n_pages, &error);
  if (!pages) {
    g_assert(error);
    g_clear_error(&error);
  } else {
    /* Ascending, each once, within the document. */
    for (guint i = 0; i < pages->len; i++) {
      guint p = g_array_index(pages, guint, i);
      if (p < 1 || p > n_pages || (i > 0 && p <= g_array_index(pages, guint, i - 1))) {
        fprintf(stderr, "page range \"%s\" of %u pages gave page %u at %u\n", spec, n_pages, p, i);
        abort();
      }
    }
    g_array_unref(pages);
  }
  char *path = NULL;
  guint page = 0;
  if (vf_pdf_parse_source(spec, &path, &page, &error))
    g_assert(path && page >= 1);
  g_free(path);
  g_clear_error(&error);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  check_page_range(data, size, 500);
  const char *path = fuzz_write_file("in.pdf", data, size);
  GError *error = NULL;
  VfPdf *pdf = vf_pdf_open(path, &error);
  if (!pdf) {
    g_assert(error);
    g_clear_error(&error);
    return 0;
  }
  guint n = vf_pdf_n_pages(pdf);
  g_assert(n > 0);
  for (guint i = 0; i < MIN(n, FUZZ_MAX_PAGES); i++) {
    double width = 0, height = 0;
    vf_pdf_page_size(pdf, i, &width, &height);
    uint32_t w = 0, h = 0;
    if (!vf_pdf_page_pixels(pdf, i, 0, FUZZ_PAGE_PIXELS, &w, &h, &error)) {
      g_clear_error(&error);
      continue;
    }
    g_assert((uint64_t)w * h <= FUZZ_PAGE_PIXELS && w % 28 == 0 && h % 28 == 0);
    VfImage *page = vf_pdf_render(pdf, i, w, h, &error);
    if (page)
      g_assert(page->width == w && page->height == h);
    vf_image_free(page);
    g_clear_error(&error);
  }
  vf_pdf_free(pdf);
  return 0;
}
