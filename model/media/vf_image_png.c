/* PNG through libpng, converted to RGB as Pillow's PngImagePlugin + convert("RGB") do:
 *
 *   colour type / depth     Pillow mode (rawmode)   RGB we produce
 *   grey 1, 2, 4            "1" / "L" (L;2, L;4)    v · 255 / (2^d − 1), replicated
 *   grey 8                  "L"                     replicated
 *   grey 16                 "I" (I;16B)             clamp(v, 0, 255), replicated
 *   grey+alpha 8, 16        "LA" / "RGBA" (LA;16B)  grey (high byte), alpha dropped
 *   RGB 8, 16               "RGB" (RGB;16B)         high bytes
 *   RGBA 8, 16              "RGBA" (RGBA;16B)       high bytes, alpha dropped
 *   palette 1, 2, 4, 8      "P" (P;1 ... P)         palette entry; tRNS ignored; indices past the PLTE
 *                                                   read Pillow's default grey ramp (i, i, i)
 *
 * No gamma, sRGB or ICC handling (Pillow applies none). libpng only unpacks sub-byte samples, drops alpha and
 * keeps the high byte of 16-bit samples (png_set_strip_16 chops, it does not round), so a raw row is at most
 * 3 bytes per pixel and is expanded in place in the output row; interlaced images are assembled directly in
 * the output buffer. */
#define G_LOG_DOMAIN "vf-image"

#include <png.h>
#include <string.h>

#include "vf_image_decoders.h"

typedef struct {
  const uint8_t *data;
  size_t size, pos;
  const char *name;
  gboolean truncated;
  char message[200];
  char warning[200]; /* libpng often says why in a warning just before a generic error */
} PngReader;

static void
png_read_bytes(png_structp png, png_bytep dst, size_t n)
{
  PngReader *r = png_get_io_ptr(png);
  r->warning[0] = 0; /* a warning only explains an error raised before more data is read */
  if (n > r->size - r->pos) {
    r->truncated = TRUE;
    png_error(png, "the file ends before the image data does");
  }
  memcpy(dst, r->data + r->pos, n);
  r->pos += n;
}

static void
png_on_error(png_structp png, png_const_charp message)
{
  PngReader *r = png_get_error_ptr(png);
  g_strlcpy(r->message, message, sizeof r->message);
  png_longjmp(png, 1);
}

static void
png_on_warning(png_structp png, png_const_charp message)
{
  PngReader *r = png_get_error_ptr(png);
  g_strlcpy(r->warning, message, sizeof r->warning);
}

static void
set_png_error(const PngReader *r, GError **error)
{
  if (r->truncated)
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_TRUNCATED, "%s: truncated PNG: %s", r->name, r->message);
  else if (r->warning[0])
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_CORRUPT, "%s: corrupt PNG: %s (%s)", r->name, r->message,
                r->warning);
  else
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_CORRUPT, "%s: corrupt PNG: %s", r->name, r->message);
}

static png_structp
png_reader_start(PngReader *r, png_infop *info)
{
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, r, png_on_error, png_on_warning);
  if (!png)
    return NULL;
  *info = png_create_info_struct(png);
  if (!*info) {
    png_destroy_read_struct(&png, NULL, NULL);
    return NULL;
  }
  png_set_read_fn(png, r, png_read_bytes);
  /* Larger sides are refused by the caller with a clearer message; this only keeps libpng from allocating. */
  png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
  /* Colour profiles are ignored (as Pillow does for the pixels): no need to vet them. */
  png_set_option(png, PNG_SKIP_sRGB_CHECK_PROFILE, PNG_OPTION_ON);
  return png;
}

gboolean
vf_png_read_header(const uint8_t *data, size_t size, const char *name, uint32_t *width, uint32_t *height,
                   GError **error)
{
  PngReader r = {.data = data, .size = size, .name = name};
  png_infop info = NULL;
  png_structp png = png_reader_start(&r, &info);
  if (!png) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_NO_MEMORY, "%s: out of memory", name);
    return FALSE;
  }
  if (setjmp(png_jmpbuf(png))) {
    set_png_error(&r, error);
    png_destroy_read_struct(&png, &info, NULL);
    return FALSE;
  }
  png_read_info(png, info);
  *width = png_get_image_width(png, info);
  *height = png_get_image_height(png, info);
  png_destroy_read_struct(&png, &info, NULL);
  return TRUE;
}

/* Expands one raw row (as libpng left it after our transforms) to RGB8 in place, right to left so that no
 * raw sample is overwritten before it is read. */
static void
expand_row(uint8_t *row, uint32_t width, int color_type, int bit_depth, const uint8_t palette[256][3])
{
  if (color_type == PNG_COLOR_TYPE_RGB || color_type == PNG_COLOR_TYPE_RGB_ALPHA)
    return; /* already R, G, B bytes */
  if (color_type == PNG_COLOR_TYPE_PALETTE) {
    for (uint32_t x = width; x-- > 0;) {
      const uint8_t *c = palette[row[x]];
      row[3 * x + 2] = c[2];
      row[3 * x + 1] = c[1];
      row[3 * x + 0] = c[0];
    }
    return;
  }
  /* Grey, possibly with its alpha already stripped. */
  if (bit_depth == 16 && color_type == PNG_COLOR_TYPE_GRAY) {
    for (uint32_t x = width; x-- > 0;) {
      unsigned v = (unsigned)row[2 * x] << 8 | row[2 * x + 1];
      uint8_t g = (uint8_t)(v > 255 ? 255 : v);
      row[3 * x + 0] = row[3 * x + 1] = row[3 * x + 2] = g;
    }
    return;
  }
  unsigned scale = bit_depth == 1 ? 255 : bit_depth == 2 ? 85 : bit_depth == 4 ? 17 : 1;
  for (uint32_t x = width; x-- > 0;) {
    uint8_t g = (uint8_t)(row[x] * scale);
    row[3 * x + 0] = row[3 * x + 1] = row[3 * x + 2] = g;
  }
}

gboolean
vf_png_decode(const uint8_t *data, size_t size, const char *name, uint32_t out_width, uint32_t out_height,
              VfImageRowFunc emit, void *user, GError **error)
{
  PngReader r = {.data = data, .size = size, .name = name};
  png_infop info = NULL;
  png_structp png = png_reader_start(&r, &info);
  if (!png) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_NO_MEMORY, "%s: out of memory", name);
    return FALSE;
  }
  png_bytep *volatile rows = NULL;
  uint8_t *volatile pixels = NULL;
  if (setjmp(png_jmpbuf(png))) {
    set_png_error(&r, error);
    g_free(rows);
    g_free(pixels);
    png_destroy_read_struct(&png, &info, NULL);
    return FALSE;
  }
  png_read_info(png, info);
  uint32_t width = png_get_image_width(png, info), height = png_get_image_height(png, info);
  int bit_depth = png_get_bit_depth(png, info);
  int color_type = png_get_color_type(png, info);
  if (width != out_width || height != out_height)
    png_error(png, "the image size changed between reads");

  uint8_t palette[256][3];
  if (color_type == PNG_COLOR_TYPE_PALETTE) {
    for (int i = 0; i < 256; i++)
      palette[i][0] = palette[i][1] = palette[i][2] = (uint8_t)i;
    png_colorp entries = NULL;
    int n_entries = 0;
    if (png_get_PLTE(png, info, &entries, &n_entries) & PNG_INFO_PLTE)
      for (int i = 0; i < n_entries && i < 256; i++) {
        palette[i][0] = entries[i].red;
        palette[i][1] = entries[i].green;
        palette[i][2] = entries[i].blue;
      }
  }

  if (bit_depth < 8)
    png_set_packing(png);
  if (color_type & PNG_COLOR_MASK_ALPHA)
    png_set_strip_alpha(png);
  if (bit_depth == 16 && color_type != PNG_COLOR_TYPE_GRAY)
    png_set_strip_16(png);
  int passes = png_set_interlace_handling(png);
  png_read_update_info(png, info);
  size_t rowbytes = png_get_rowbytes(png, info);
  size_t stride = (size_t)width * 3;
  if (rowbytes > stride)
    png_error(png, "unexpected row size");

  if (passes > 1) {
    pixels = g_try_malloc(stride * height);
    if (!pixels)
      png_error(png, "out of memory for an interlaced image");
    rows = g_new(png_bytep, height);
    for (uint32_t y = 0; y < height; y++)
      rows[y] = pixels + y * stride;
    png_read_image(png, rows);
    for (uint32_t y = 0; y < height; y++) {
      expand_row(rows[y], width, color_type, bit_depth, palette);
      emit(rows[y], y, user);
    }
  } else {
    pixels = g_malloc(stride);
    for (uint32_t y = 0; y < height; y++) {
      png_read_row(png, pixels, NULL);
      expand_row(pixels, width, color_type, bit_depth, palette);
      emit(pixels, y, user);
    }
  }
  /* Pillow does not require the chunks after the image data (IEND may be missing); neither do we. */
  g_free(rows);
  g_free(pixels);
  png_destroy_read_struct(&png, &info, NULL);
  return TRUE;
}
