/* Private to vf_image*.c: one header reader and one decoder per library.
 *
 * A header reader only fills the size (no pixel data is touched). A decoder writes into an image the caller
 * allocated at the header's size and fails if the decoded frame has another size. Both report errors in
 * VF_IMAGE_ERROR naming `name`. */
#pragma once

#include <stddef.h>

#include "vf_image.h"

/* PNG and JPEG hand their RGB rows over in order (VfImageRowFunc), so the caller decides what to keep: a whole
 * image or a band that is being resized. */

/* libpng (vf_image_png.c) */
gboolean vf_png_read_header(const uint8_t *data, size_t size, const char *name, uint32_t *width,
                            uint32_t *height, GError **error);
/* Interlaced files are assembled whole first (every pass touches every row). */
gboolean vf_png_decode(const uint8_t *data, size_t size, const char *name, uint32_t width, uint32_t height,
                       VfImageRowFunc row, void *user, GError **error);

/* libjpeg-turbo (vf_image_jpeg.c) */
gboolean vf_jpeg_read_header(const uint8_t *data, size_t size, const char *name, uint32_t *width,
                             uint32_t *height, GError **error);
/* `damage`: set to a description when libjpeg found corrupt data and went on (the rest is grey, as in Pillow),
 * e.g. "damaged: the data stops at row 14 of 2700"; free with g_free. */
gboolean vf_jpeg_decode(const uint8_t *data, size_t size, const char *name, uint32_t width, uint32_t height,
                        VfImageRowFunc row, void *user, char **damage, GError **error);

/* libavcodec: WebP, BMP, TIFF, GIF (vf_image_av.c) */
gboolean vf_av_read_header(VfImageFormat format, const uint8_t *data, size_t size, const char *name,
                           uint32_t *width, uint32_t *height, GError **error);
gboolean vf_av_decode(VfImageFormat format, const uint8_t *data, size_t size, const char *name, VfImage *out,
                      GError **error);

/* Pillow's conversions to RGB (Convert.c), shared by the decoders. */
static inline uint8_t
vf_muldiv255(uint8_t a, uint8_t b)
{
  uint32_t t = (uint32_t)a * b + 128;
  return (uint8_t)(((t >> 8) + t) >> 8);
}

/* Pillow cmyk2rgb on "CMYK" values (already inverted from the Adobe storage convention). */
static inline void
vf_cmyk_to_rgb(const uint8_t cmyk[4], uint8_t rgb[3])
{
  int nk = 255 - cmyk[3];
  for (int c = 0; c < 3; c++) {
    int v = nk - vf_muldiv255(cmyk[c], (uint8_t)nk);
    rgb[c] = (uint8_t)(v < 0 ? 0 : v);
  }
}
