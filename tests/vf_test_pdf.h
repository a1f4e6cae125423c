/* PDFs the tests write with cairo (header-only: used by test-pdf and test-cli). */
#pragma once

#include <cairo-pdf.h>
#include <cairo.h>
#include <glib.h>

#define VF_TEST_A4_W 595.276
#define VF_TEST_A4_H 841.89
#define VF_TEST_LETTER_W 612.0
#define VF_TEST_LETTER_H 792.0

/* One page per size, each with "Page N" in 48-pt type whose top-left corner is 10 % in from the top left. */
static inline void
vf_test_write_pdf(const char *path, guint n, const double (*sizes)[2])
{
  cairo_surface_t *surface = cairo_pdf_surface_create(path, sizes[0][0], sizes[0][1]);
  cairo_t *cr = cairo_create(surface);
  for (guint i = 0; i < n; i++) {
    cairo_pdf_surface_set_size(surface, sizes[i][0], sizes[i][1]);
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_font_size(cr, 48);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_move_to(cr, sizes[i][0] * 0.1, sizes[i][1] * 0.1 + 48);
    g_autofree char *text = g_strdup_printf("Page %u", i + 1);
    cairo_show_text(cr, text);
    cairo_show_page(cr);
  }
  cairo_destroy(cr);
  cairo_surface_finish(surface);
  g_assert_cmpint(cairo_surface_status(surface), ==, CAIRO_STATUS_SUCCESS);
  cairo_surface_destroy(surface);
}

/* A4 portrait, US letter, A4 landscape (points). */
static const double vf_test_three_pages[3][2] = {{VF_TEST_A4_W, VF_TEST_A4_H}, {VF_TEST_LETTER_W, VF_TEST_LETTER_H},
                                                  {VF_TEST_A4_H, VF_TEST_A4_W}};
