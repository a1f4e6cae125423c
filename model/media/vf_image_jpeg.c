/* JPEG through libjpeg-turbo with the settings Pillow's decoder uses (JpegDecode.c): integer "islow" IDCT,
 * fancy upsampling, output colour space chosen by the component count:
 *
 *   components   Pillow mode (rawmode)   RGB we produce
 *   1            "L"                     grey replicated
 *   3            "RGB"                   libjpeg's YCbCr → RGB (or RGB as stored)
 *   4            "CMYK" ("CMYK;I")       Pillow always assumes Adobe's inverted CMYK: c = 255 − stored,
 *                                        then cmyk2rgb (YCCK is converted to CMYK by libjpeg first)
 *
 * Pillow fails on data that ends before the last scanline ("image file is truncated") but accepts a missing
 * EOI after it; libjpeg's other warnings (corrupt entropy data) are ignored by Pillow, which then shows grey
 * where the data is missing. We keep those pixels too, but say so: the first such warning becomes a damage
 * note with the row where it happened ("damaged: the data stops at row 14 of 2700"), so a user sees why a
 * picture looks grey. (A 977-byte file whose header says 65500×2700 is such a picture.) */
#define G_LOG_DOMAIN "vf-image"

#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "vf_image_decoders.h"

typedef struct {
  struct jpeg_error_mgr pub;
  jmp_buf jump;
  gboolean truncated;
  char message[JMSG_LENGTH_MAX];
  /* The first corrupt-data warning: its code and the first row of the block row being read (the output lags
   * behind the input by a block row for the upsampling context, so the output row would be too early). */
  gboolean damaged;
  int damage_code;
  uint32_t damage_row;
} JpegErrors;

static void
jpeg_on_error(j_common_ptr cinfo)
{
  JpegErrors *e = (JpegErrors *)cinfo->err;
  cinfo->err->format_message(cinfo, e->message);
  longjmp(e->jump, 1);
}

static void
jpeg_on_message(j_common_ptr cinfo, int level)
{
  JpegErrors *e = (JpegErrors *)cinfo->err;
  /* The memory source inserts a fake EOI at the end of the data and warns; any read past the end happens
   * before the last scanline (we never read the trailer), so it is a truncated file. */
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
    e->truncated = TRUE;
    cinfo->err->format_message(cinfo, e->message);
    longjmp(e->jump, 1);
  }
  if (level < 0 && !e->damaged && cinfo->is_decompressor) {
    e->damaged = TRUE;
    e->damage_code = cinfo->err->msg_code;
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    e->damage_row = (uint32_t)MIN((uint64_t)d->input_iMCU_row * d->max_v_samp_factor * DCTSIZE, d->image_height);
    cinfo->err->format_message(cinfo, e->message);
  }
}

static char *
describe_damage(const JpegErrors *e, const struct jpeg_decompress_struct *cinfo)
{
  uint32_t h = cinfo->image_height;
  /* A progressive file's scans are all read before the first row comes out: no row to name. */
  if (cinfo->progressive_mode || cinfo->buffered_image)
    return e->damage_code == JWRN_HIT_MARKER ? g_strdup("damaged: the data stops before the picture is complete")
                                             : g_strdup_printf("damaged: %s", e->message);
  if (e->damage_code == JWRN_HIT_MARKER)
    return g_strdup_printf("damaged: the data stops at row %u of %u", (unsigned)e->damage_row, h);
  return g_strdup_printf("damaged at row %u of %u: %s", (unsigned)e->damage_row, h, e->message);
}

static void
set_jpeg_error(const JpegErrors *e, const char *name, GError **error)
{
  if (e->truncated)
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_TRUNCATED, "%s: truncated JPEG: %s", name, e->message);
  else
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_CORRUPT, "%s: corrupt JPEG: %s", name, e->message);
}

static void
jpeg_start(struct jpeg_decompress_struct *cinfo, JpegErrors *e, const uint8_t *data, size_t size)
{
  cinfo->err = jpeg_std_error(&e->pub);
  e->pub.error_exit = jpeg_on_error;
  e->pub.emit_message = jpeg_on_message;
  jpeg_create_decompress(cinfo);
  jpeg_mem_src(cinfo, data, (unsigned long)size);
}

gboolean
vf_jpeg_read_header(const uint8_t *data, size_t size, const char *name, uint32_t *width, uint32_t *height,
                    GError **error)
{
  struct jpeg_decompress_struct cinfo;
  JpegErrors e = {0};
  jpeg_start(&cinfo, &e, data, size);
  if (setjmp(e.jump)) {
    set_jpeg_error(&e, name, error);
    jpeg_destroy_decompress(&cinfo);
    return FALSE;
  }
  jpeg_read_header(&cinfo, TRUE);
  *width = cinfo.image_width;
  *height = cinfo.image_height;
  jpeg_destroy_decompress(&cinfo);
  return TRUE;
}

gboolean
vf_jpeg_decode(const uint8_t *data, size_t size, const char *name, uint32_t out_width, uint32_t out_height,
               VfImageRowFunc emit, void *user, char **damage, GError **error)
{
  struct jpeg_decompress_struct cinfo;
  JpegErrors e = {0};
  uint8_t *volatile row = NULL, *volatile rgb = NULL;
  *damage = NULL;
  jpeg_start(&cinfo, &e, data, size);
  if (setjmp(e.jump)) {
    set_jpeg_error(&e, name, error);
    g_free(row);
    g_free(rgb);
    jpeg_destroy_decompress(&cinfo);
    return FALSE;
  }
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.image_width != out_width || cinfo.image_height != out_height) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_CORRUPT, "%s: the JPEG size changed between reads", name);
    jpeg_destroy_decompress(&cinfo);
    return FALSE;
  }
  switch (cinfo.num_components) {
  case 1:
    cinfo.out_color_space = JCS_GRAYSCALE;
    break;
  case 3:
    cinfo.out_color_space = JCS_RGB;
    break;
  case 4:
    cinfo.out_color_space = JCS_CMYK;
    break;
  default:
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_UNSUPPORTED, "%s: JPEG with %d colour components", name,
                cinfo.num_components);
    jpeg_destroy_decompress(&cinfo);
    return FALSE;
  }
  cinfo.dct_method = JDCT_ISLOW;
  cinfo.do_fancy_upsampling = TRUE;
  jpeg_start_decompress(&cinfo);

  uint32_t w = out_width, nc = (uint32_t)cinfo.output_components;
  row = g_new(uint8_t, (size_t)w * nc);
  rgb = nc == 3 ? NULL : g_new(uint8_t, (size_t)w * 3);
  JSAMPROW rows[1] = {row};
  while (cinfo.output_scanline < cinfo.output_height) {
    uint32_t y = cinfo.output_scanline;
    uint8_t *dst = nc == 3 ? row : rgb;
    jpeg_read_scanlines(&cinfo, rows, 1);
    if (nc == 3) {
      /* already RGB */
    } else if (nc == 1) {
      for (uint32_t x = 0; x < w; x++)
        dst[3 * x + 0] = dst[3 * x + 1] = dst[3 * x + 2] = row[x];
    } else {
      for (uint32_t x = 0; x < w; x++) {
        const uint8_t *s = row + 4 * x;
        uint8_t cmyk[4] = {255 - s[0], 255 - s[1], 255 - s[2], 255 - s[3]};
        vf_cmyk_to_rgb(cmyk, dst + 3 * x);
      }
    }
    emit(dst, y, user);
  }
  /* No jpeg_finish_decompress: the trailer after the last scanline is not needed (see above). */
  if (e.damaged)
    *damage = describe_damage(&e, &cinfo);
  g_free(row);
  g_free(rgb);
  jpeg_destroy_decompress(&cinfo);
  return TRUE;
}
