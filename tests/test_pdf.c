/* PDF pages as pictures (vf_pdf.h), on PDFs this test writes: cairo draws a 3-page document (A4 portrait,
 * US letter, A4 landscape) with known text; the page count and sizes are read back, each page's pixel size is
 * smart_resize of its own aspect ratio under the budget (expected values computed independently with
 * qwen-vl-utils' formula in Python), the render is white paper with the text where it was drawn; page ranges
 * and "#page=N" sources parse; an encrypted PDF, a truncated one, a text file named .pdf and an empty file each
 * get their own error; a 500-page PDF opens without its memory growing with the page count. */
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vf_media_item.h"
#include "vf_pdf.h"
#include "vf_test_pdf.h"

static char *tmp_dir;

static char *
tmp_path(const char *name)
{
  return g_build_filename(tmp_dir, name, NULL);
}


static char *
three_page_pdf(void)
{
  char *path = tmp_path("three-pages.pdf");
  vf_test_write_pdf(path, 3, vf_test_three_pages);
  return path;
}

/* Dark pixels (all channels < 128) inside [x0, x1) × [y0, y1). */
static guint64
dark_pixels(const VfImage *image, uint32_t x0, uint32_t y0, uint32_t x1, uint32_t y1)
{
  guint64 n = 0;
  for (uint32_t y = y0; y < y1; y++)
    for (uint32_t x = x0; x < x1; x++) {
      const uint8_t *p = image->rgb + ((size_t)y * image->width + x) * 3;
      n += p[0] < 128 && p[1] < 128 && p[2] < 128;
    }
  return n;
}

static void
test_pages_sizes_and_render(void)
{
  g_autofree char *path = three_page_pdf();
  g_autoptr(GError) error = NULL;
  g_autoptr(VfPdf) pdf = vf_pdf_open(path, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(vf_pdf_n_pages(pdf), ==, 3);
  for (guint i = 0; i < 3; i++) {
    double w = 0, h = 0;
    vf_pdf_page_size(pdf, i, &w, &h);
    g_assert_cmpfloat_with_epsilon(w, vf_test_three_pages[i][0], 0.01);
    g_assert_cmpfloat_with_epsilon(h, vf_test_three_pages[i][1], 0.01);
  }

  /* qwen-vl-utils' smart_resize of each page, at 2048 and 256 visual tokens (Python, see the file comment). */
  static const struct {
    uint64_t max_pixels;
    uint32_t width[3], height[3];
  } budgets[] = {
    {2048 * 28 * 28, {1064, 1092, 1484}, {1484, 1428, 1064}},
    {256 * 28 * 28, {364, 392, 532}, {532, 504, 364}},
  };
  for (guint b = 0; b < G_N_ELEMENTS(budgets); b++)
    for (guint i = 0; i < 3; i++) {
      uint32_t w = 0, h = 0;
      g_assert_true(vf_pdf_page_pixels(pdf, i, 0, budgets[b].max_pixels, &w, &h, &error));
      g_assert_no_error(error);
      g_assert_cmpuint(w, ==, budgets[b].width[i]);
      g_assert_cmpuint(h, ==, budgets[b].height[i]);
      g_assert_cmpuint((guint64)w * h, <=, budgets[b].max_pixels);
    }

  /* Page 1 at the 2048-token size: white paper, "Page 1" in the top-left quarter, nothing below the middle. */
  g_autoptr(VfImage) page = vf_pdf_render(pdf, 0, 1064, 1484, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(page->width, ==, 1064);
  g_assert_cmpuint(page->height, ==, 1484);
  const uint8_t *corner = page->rgb;
  g_assert_cmpuint(corner[0], ==, 255);
  g_assert_cmpuint(corner[1], ==, 255);
  g_assert_cmpuint(corner[2], ==, 255);
  guint64 text = dark_pixels(page, 0, 0, page->width / 2, page->height / 4);
  g_test_message("dark pixels of \"Page 1\": %" G_GUINT64_FORMAT, text);
  g_assert_cmpuint(text, >, 2000);
  g_assert_cmpuint(dark_pixels(page, 0, page->height / 2, page->width, page->height), ==, 0);
  g_assert_cmpuint(dark_pixels(page, 0, 0, page->width / 10 - 2, page->height), ==, 0); /* the 10 % margin */

  /* The landscape page renders landscape. */
  g_autoptr(VfImage) wide = vf_pdf_render(pdf, 2, 532, 364, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(dark_pixels(wide, 0, 0, wide->width / 2, wide->height / 3), >, 100);

  g_assert_null(vf_pdf_render(pdf, 3, 100, 100, &error));
  g_assert_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_BAD_SIZE);
  g_assert_nonnull(strstr(error->message, "there is no page 4 (the PDF has 3)"));
  g_remove(path);
}

static void
test_page_ranges_and_sources(void)
{
  g_autoptr(GError) error = NULL;
  static const struct {
    const char *spec;
    guint pages[5];
    guint n;
  } good[] = {
    {"3", {3}, 1}, {"2-5", {2, 3, 4, 5}, 4}, {"1,3-4", {1, 3, 4}, 3}, {"4, 1-2 ,2", {1, 2, 4}, 3}, {"5-5", {5}, 1},
  };
  for (guint i = 0; i < G_N_ELEMENTS(good); i++) {
    g_autoptr(GArray) pages = vf_pdf_parse_pages(good[i].spec, 5, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(pages->len, ==, good[i].n);
    for (guint k = 0; k < pages->len; k++)
      g_assert_cmpuint(g_array_index(pages, guint, k), ==, good[i].pages[k]);
  }
  static const char *const bad[] = {"", "0", "3-1", "a", "1-", "-2", "1,,2", "2-x"};
  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_assert_null(vf_pdf_parse_pages(bad[i], 5, &error));
    g_assert_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_BAD_SIZE);
    g_assert_nonnull(strstr(error->message, "is not a page range"));
    g_clear_error(&error);
  }
  g_assert_null(vf_pdf_parse_pages("4-6", 5, &error));
  g_assert_cmpstr(error->message, ==, "page 6 is past the end: the PDF has 5 pages");
  g_clear_error(&error);

  g_autofree char *path = NULL;
  guint page = 0;
  g_assert_true(vf_pdf_parse_source("/docs/scan #2.pdf#page=12", &path, &page, &error));
  g_assert_cmpstr(path, ==, "/docs/scan #2.pdf");
  g_assert_cmpuint(page, ==, 12);
  g_assert_false(vf_pdf_parse_source("/docs/scan.pdf", &path, &page, &error));
  g_assert_no_error(error);
  g_assert_false(vf_pdf_parse_source("scan.pdf#page=0", &path, &page, &error));
  g_assert_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_BAD_SIZE);
  g_assert_cmpstr(error->message, ==, "scan.pdf#page=0: \"#page=0\" is not a page number (pages count from 1)");
}

/* A one-page PDF whose trailer names a Standard security handler with a user password we do not know. */
static void
write_encrypted_pdf(const char *path)
{
  const char *objects[] = {
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
    "<< /Filter /Standard /V 1 /R 2 /P -44"
    " /O <8f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8>"
    " /U <0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0> >>",
  };
  g_autoptr(GString) pdf = g_string_new("%PDF-1.4\n");
  guint offsets[G_N_ELEMENTS(objects)];
  for (guint i = 0; i < G_N_ELEMENTS(objects); i++) {
    offsets[i] = (guint)pdf->len;
    g_string_append_printf(pdf, "%u 0 obj\n%s\nendobj\n", i + 1, objects[i]);
  }
  guint xref = (guint)pdf->len;
  g_string_append_printf(pdf, "xref\n0 %u\n0000000000 65535 f \n", (guint)G_N_ELEMENTS(objects) + 1);
  for (guint i = 0; i < G_N_ELEMENTS(objects); i++)
    g_string_append_printf(pdf, "%010u 00000 n \n", offsets[i]);
  g_string_append_printf(pdf,
                         "trailer\n<< /Size %u /Root 1 0 R /Encrypt 4 0 R"
                         " /ID [<0123456789abcdef0123456789abcdef> <0123456789abcdef0123456789abcdef>] >>\n"
                         "startxref\n%u\n%%%%EOF\n",
                         (guint)G_N_ELEMENTS(objects) + 1, xref);
  g_assert_true(g_file_set_contents(path, pdf->str, (gssize)pdf->len, NULL));
}

static void
test_bad_pdfs(void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *encrypted = tmp_path("locked.pdf");
  write_encrypted_pdf(encrypted);
  g_assert_null(vf_pdf_open(encrypted, &error));
  g_test_message("encrypted: %s", error->message);
  g_assert_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_ENCRYPTED);
  g_assert_true(g_str_has_prefix(error->message, encrypted));
  g_assert_nonnull(strstr(error->message, "encrypted and needs a password"));
  g_clear_error(&error);

  /* The first 300 bytes of a real PDF: the header, and nothing poppler can rebuild a page from. */
  g_autofree char *whole = three_page_pdf();
  char *contents = NULL;
  gsize n = 0;
  g_assert_true(g_file_get_contents(whole, &contents, &n, NULL));
  g_autofree char *truncated = tmp_path("truncated.pdf");
  g_assert_true(g_file_set_contents(truncated, contents, 300, NULL));
  g_free(contents);
  g_assert_null(vf_pdf_open(truncated, &error));
  g_test_message("truncated: %s", error->message);
  g_assert_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_CORRUPT);
  g_assert_true(g_str_has_prefix(error->message, truncated));
  g_assert_true(strstr(error->message, "damaged PDF") || strstr(error->message, "has no pages"));
  g_clear_error(&error);

  g_autofree char *text = tmp_path("notes.pdf");
  g_assert_true(g_file_set_contents(text, "Shopping list: eggs, milk.\n", -1, NULL));
  g_assert_null(vf_pdf_open(text, &error));
  g_assert_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_UNKNOWN_FORMAT);
  g_autofree char *want = g_strdup_printf("%s: not a PDF document (no %%PDF- header)", text);
  g_assert_cmpstr(error->message, ==, want);
  g_clear_error(&error);

  g_autofree char *empty = tmp_path("empty.pdf");
  g_assert_true(g_file_set_contents(empty, "", 0, NULL));
  g_assert_null(vf_pdf_open(empty, &error));
  g_assert_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_EMPTY);
  g_clear_error(&error);

  g_autofree char *missing = tmp_path("missing.pdf");
  g_assert_null(vf_pdf_open(missing, &error));
  g_assert_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_NOT_FOUND);
  g_remove(encrypted);
  g_remove(whole);
  g_remove(truncated);
  g_remove(text);
  g_remove(empty);
}

static guint64
rss_bytes(void)
{
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long size = 0, resident = 0;
  g_assert_nonnull(f);
  g_assert_cmpint(fscanf(f, "%lu %lu", &size, &resident), ==, 2);
  fclose(f);
  return (guint64)resident * (guint64)sysconf(_SC_PAGESIZE);
}

/* 500 pages: opening and asking for one page costs the same memory as for a short PDF. */
static void
test_many_pages(void)
{
  g_autofree char *path = tmp_path("long.pdf");
  double(*sizes)[2] = g_malloc(500 * sizeof *sizes);
  for (guint i = 0; i < 500; i++) {
    sizes[i][0] = VF_TEST_A4_W;
    sizes[i][1] = VF_TEST_A4_H;
  }
  vf_test_write_pdf(path, 500, (const double(*)[2])sizes);
  g_free(sizes);
  GStatBuf st;
  g_assert_cmpint(g_stat(path, &st), ==, 0);
  g_test_message("500-page PDF: %" G_GINT64_FORMAT " bytes", (gint64)st.st_size);

  guint64 before = rss_bytes();
  g_autoptr(GError) error = NULL;
  g_autoptr(VfPdf) pdf = vf_pdf_open(path, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(vf_pdf_n_pages(pdf), ==, 500);
  uint32_t w = 0, h = 0;
  g_assert_true(vf_pdf_page_pixels(pdf, 249, 0, 256 * 28 * 28, &w, &h, &error));
  g_autoptr(VfImage) page = vf_pdf_render(pdf, 249, w, h, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(dark_pixels(page, 0, 0, page->width / 2, page->height / 4), >, 100);
  guint64 after = rss_bytes();
  g_test_message("RSS: %.1f MB before opening, %.1f MB after opening and rendering page 250", before / 1e6,
                 after / 1e6);
  g_assert_cmpuint(after - MIN(after, before), <, 24u << 20);
  g_remove(path);
}

/* A page's thumbnail is its top square: an A4 page black over its top tenth gives a thumbnail whose first
 * rows are black and whose last are white (the centre square, 15 % to 85 % of the height, would be all
 * white). */
static void
test_thumbnail_is_the_top(void)
{
  g_autofree char *dir = g_dir_make_tmp("vf-pdf-XXXXXX", NULL);
  g_autofree char *path = g_build_filename(dir, "banded.pdf", NULL);
  cairo_surface_t *surface = cairo_pdf_surface_create(path, VF_TEST_A4_W, VF_TEST_A4_H);
  cairo_t *cr = cairo_create(surface);
  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_rectangle(cr, 0, 0, VF_TEST_A4_W, VF_TEST_A4_H * 0.1);
  cairo_fill(cr);
  cairo_show_page(cr);
  cairo_destroy(cr);
  cairo_surface_finish(surface);
  g_assert_cmpint(cairo_surface_status(surface), ==, CAIRO_STATUS_SUCCESS);
  cairo_surface_destroy(surface);

  g_autofree char *source = g_strdup_printf("%s#page=1", path);
  g_autoptr(GError) error = NULL;
  g_autoptr(VfMediaItem) item = vf_media_item_new_image(source, &error);
  g_assert_no_error(error);
  uint32_t side = 0;
  g_autoptr(GBytes) thumbnail = vf_media_item_thumbnail(item, 48, &side, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(side, ==, 48);
  const uint8_t *rgb = g_bytes_get_data(thumbnail, NULL);
  /* The band is 10 % of 842 pt; the square is 595 pt: its top 14 % is black, 6 of 48 rows. */
  for (uint32_t y = 0; y < 48; y++)
    for (uint32_t x = 0; x < 48; x++) {
      uint8_t v = rgb[((gsize)y * 48 + x) * 3];
      if (y < 6)
        g_assert_cmpuint(v, <, 16);
      else if (y > 8)
        g_assert_cmpuint(v, >, 240);
    }
  g_remove(path);
  g_rmdir(dir);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_autoptr(GError) error = NULL;
  tmp_dir = g_dir_make_tmp("vf-pdf-XXXXXX", &error);
  g_assert_no_error(error);
  g_test_add_func("/pdf/pages-sizes-and-render", test_pages_sizes_and_render);
  g_test_add_func("/pdf/page-ranges-and-sources", test_page_ranges_and_sources);
  g_test_add_func("/pdf/bad-pdfs", test_bad_pdfs);
  g_test_add_func("/pdf/many-pages", test_many_pages);
  g_test_add_func("/pdf/thumbnail-is-the-top", test_thumbnail_is_the_top);
  int rc = g_test_run();
  g_rmdir(tmp_dir);
  g_free(tmp_dir);
  return rc;
}
