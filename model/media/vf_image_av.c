/* WebP, BMP, TIFF and GIF (first frame) through libavcodec, each file handed to the decoder as one packet
 * (what FFmpeg's image pipe demuxers do). The size comes from a few bytes of the header, read here, so the
 * limits are checked before anything is decoded; the decoder's own max_pixels is set to the same limit.
 *
 * Conversion to RGB as Pillow's convert("RGB"): alpha dropped, palettes looked up, grey replicated, 16-bit
 * grey clamped to 0…255 (Pillow "I;16"), other 16-bit samples keep their high byte. Formats libavcodec hands
 * back in YUV (lossy WebP) or planar RGB go through libswscale; lossy WebP can therefore differ by a few
 * levels from Pillow, which converts with libwebp's own YUV → RGB. GIF pixels outside the first frame's
 * rectangle, or transparent ones, follow FFmpeg's background fill, which may differ from Pillow's. */
#define G_LOG_DOMAIN "vf-image"

#include <limits.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>

#include "vf_image_decoders.h"

static uint32_t
rd16le(const uint8_t *p)
{
  return p[0] | (uint32_t)p[1] << 8;
}

static uint32_t
rd24le(const uint8_t *p)
{
  return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

static uint32_t
rd32le(const uint8_t *p)
{
  return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static gboolean
short_header(const char *name, const char *format, GError **error)
{
  g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_TRUNCATED, "%s: truncated %s: the file ends inside its header",
              name, format);
  return FALSE;
}

/* RIFF "WEBP", then the first chunk: "VP8 " (lossy), "VP8L" (lossless) or "VP8X" (extended: canvas size). */
static gboolean
webp_size(const uint8_t *d, size_t n, const char *name, uint32_t *w, uint32_t *h, GError **error)
{
  if (n < 30)
    return short_header(name, "WebP", error);
  if (!memcmp(d + 12, "VP8 ", 4)) {
    if (d[23] != 0x9d || d[24] != 0x01 || d[25] != 0x2a)
      goto corrupt;
    *w = rd16le(d + 26) & 0x3fff;
    *h = rd16le(d + 28) & 0x3fff;
    return TRUE;
  }
  if (!memcmp(d + 12, "VP8L", 4)) {
    if (d[20] != 0x2f)
      goto corrupt;
    uint32_t bits = rd32le(d + 21);
    *w = (bits & 0x3fff) + 1;
    *h = ((bits >> 14) & 0x3fff) + 1;
    return TRUE;
  }
  if (!memcmp(d + 12, "VP8X", 4)) {
    if (d[20] & 0x02) {
      g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_UNSUPPORTED, "%s: animated WebP is not supported", name);
      return FALSE;
    }
    *w = rd24le(d + 24) + 1;
    *h = rd24le(d + 27) + 1;
    return TRUE;
  }
corrupt:
  g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_CORRUPT, "%s: corrupt WebP header", name);
  return FALSE;
}

/* "BM", 14-byte file header, then the DIB header: 12 bytes (OS/2, 16-bit sizes) or ≥ 40 (signed 32-bit sizes;
 * a negative height means top-down rows). */
static gboolean
bmp_size(const uint8_t *d, size_t n, const char *name, uint32_t *w, uint32_t *h, GError **error)
{
  if (n < 26)
    return short_header(name, "BMP", error);
  uint32_t dib = rd32le(d + 14);
  if (dib == 12) {
    *w = rd16le(d + 18);
    *h = rd16le(d + 20);
    return TRUE;
  }
  int32_t sw = (int32_t)rd32le(d + 18), sh = (int32_t)rd32le(d + 22);
  if (dib < 40 || sw < 0 || sh == INT32_MIN) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_CORRUPT, "%s: corrupt BMP header", name);
    return FALSE;
  }
  *w = (uint32_t)sw;
  *h = (uint32_t)(sh < 0 ? -sh : sh);
  return TRUE;
}

/* The logical screen size, which is the image size for Pillow and FFmpeg. */
static gboolean
gif_size(const uint8_t *d, size_t n, const char *name, uint32_t *w, uint32_t *h, GError **error)
{
  if (n < 13)
    return short_header(name, "GIF", error);
  *w = rd16le(d + 6);
  *h = rd16le(d + 8);
  return TRUE;
}

/* ImageWidth (256) and ImageLength (257) of the first IFD, SHORT or LONG, in the file's byte order. */
static gboolean
tiff_size(const uint8_t *d, size_t n, const char *name, uint32_t *w, uint32_t *h, GError **error)
{
  gboolean big_endian = d[0] == 'M';
#define RD16(p) (big_endian ? (uint32_t)(p)[0] << 8 | (p)[1] : rd16le(p))
#define RD32(p) (big_endian ? (uint32_t)(p)[0] << 24 | (uint32_t)(p)[1] << 16 | (uint32_t)(p)[2] << 8 | (p)[3] : rd32le(p))
  if (n < 8)
    return short_header(name, "TIFF", error);
  uint32_t ifd = RD32(d + 4);
  if (ifd > n - 2)
    return short_header(name, "TIFF", error);
  uint32_t entries = RD16(d + ifd);
  if (entries > (n - ifd - 2) / 12)
    return short_header(name, "TIFF", error);
  gboolean have_w = FALSE, have_h = FALSE;
  for (uint32_t i = 0; i < entries; i++) {
    const uint8_t *e = d + ifd + 2 + 12 * i;
    uint32_t tag = RD16(e), type = RD16(e + 2);
    if (tag != 256 && tag != 257)
      continue;
    uint32_t value = type == 3 ? RD16(e + 8) : type == 4 ? RD32(e + 8) : 0;
    if (tag == 256) {
      *w = value;
      have_w = TRUE;
    } else {
      *h = value;
      have_h = TRUE;
    }
  }
#undef RD16
#undef RD32
  if (!have_w || !have_h) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_CORRUPT, "%s: corrupt TIFF: no image size in the first IFD",
                name);
    return FALSE;
  }
  return TRUE;
}

gboolean
vf_av_read_header(VfImageFormat format, const uint8_t *data, size_t size, const char *name, uint32_t *width,
                  uint32_t *height, GError **error)
{
  switch (format) {
  case VF_IMAGE_FORMAT_WEBP:
    return webp_size(data, size, name, width, height, error);
  case VF_IMAGE_FORMAT_BMP:
    return bmp_size(data, size, name, width, height, error);
  case VF_IMAGE_FORMAT_GIF:
    return gif_size(data, size, name, width, height, error);
  case VF_IMAGE_FORMAT_TIFF:
    return tiff_size(data, size, name, width, height, error);
  default:
    g_assert_not_reached();
  }
}

static void
rgb_from_packed(const AVFrame *f, VfImage *out, int r, int g, int b, int bytes_per_pixel)
{
  for (uint32_t y = 0; y < out->height; y++) {
    const uint8_t *s = f->data[0] + (ptrdiff_t)y * f->linesize[0];
    uint8_t *d = out->rgb + (size_t)y * out->width * 3;
    for (uint32_t x = 0; x < out->width; x++, s += bytes_per_pixel, d += 3) {
      d[0] = s[r];
      d[1] = s[g];
      d[2] = s[b];
    }
  }
}

/* Grey (1 byte, or 16-bit clamped like Pillow's I;16 → RGB), replicated. */
static void
rgb_from_grey(const AVFrame *f, VfImage *out, int bytes_per_pixel, int bits16_big_endian)
{
  for (uint32_t y = 0; y < out->height; y++) {
    const uint8_t *s = f->data[0] + (ptrdiff_t)y * f->linesize[0];
    uint8_t *d = out->rgb + (size_t)y * out->width * 3;
    for (uint32_t x = 0; x < out->width; x++, s += bytes_per_pixel, d += 3) {
      unsigned v = s[0];
      if (bits16_big_endian >= 0) {
        v = bits16_big_endian ? (unsigned)s[0] << 8 | s[1] : (unsigned)s[1] << 8 | s[0];
        v = v > 255 ? 255 : v;
      }
      d[0] = d[1] = d[2] = (uint8_t)v;
    }
  }
}

static gboolean
rgb_from_swscale(const AVFrame *f, VfImage *out, const char *name, GError **error)
{
  struct SwsContext *sws = sws_getContext(f->width, f->height, f->format, f->width, f->height, AV_PIX_FMT_RGB24,
                                          SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
  if (!sws) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_UNSUPPORTED, "%s: cannot convert pixel format %s to RGB",
                name, av_get_pix_fmt_name(f->format));
    return FALSE;
  }
  uint8_t *dst[4] = {out->rgb};
  int stride[4] = {(int)out->width * 3};
  sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, stride);
  sws_freeContext(sws);
  return TRUE;
}

static gboolean
frame_to_rgb(const AVFrame *f, VfImage *out, const char *name, GError **error)
{
  switch (f->format) {
  case AV_PIX_FMT_RGB24:
    rgb_from_packed(f, out, 0, 1, 2, 3);
    return TRUE;
  case AV_PIX_FMT_BGR24:
    rgb_from_packed(f, out, 2, 1, 0, 3);
    return TRUE;
  case AV_PIX_FMT_RGBA:
  case AV_PIX_FMT_RGB0:
    rgb_from_packed(f, out, 0, 1, 2, 4);
    return TRUE;
  case AV_PIX_FMT_BGRA:
  case AV_PIX_FMT_BGR0:
    rgb_from_packed(f, out, 2, 1, 0, 4);
    return TRUE;
  case AV_PIX_FMT_ARGB:
  case AV_PIX_FMT_0RGB:
    rgb_from_packed(f, out, 1, 2, 3, 4);
    return TRUE;
  case AV_PIX_FMT_ABGR:
  case AV_PIX_FMT_0BGR:
    rgb_from_packed(f, out, 3, 2, 1, 4);
    return TRUE;
  case AV_PIX_FMT_RGB48BE:
    rgb_from_packed(f, out, 0, 2, 4, 6);
    return TRUE;
  case AV_PIX_FMT_RGB48LE:
    rgb_from_packed(f, out, 1, 3, 5, 6);
    return TRUE;
  case AV_PIX_FMT_RGBA64BE:
    rgb_from_packed(f, out, 0, 2, 4, 8);
    return TRUE;
  case AV_PIX_FMT_RGBA64LE:
    rgb_from_packed(f, out, 1, 3, 5, 8);
    return TRUE;
  case AV_PIX_FMT_GRAY8:
    rgb_from_grey(f, out, 1, -1);
    return TRUE;
  case AV_PIX_FMT_YA8:
    rgb_from_grey(f, out, 2, -1);
    return TRUE;
  case AV_PIX_FMT_GRAY16BE:
    rgb_from_grey(f, out, 2, 1);
    return TRUE;
  case AV_PIX_FMT_GRAY16LE:
    rgb_from_grey(f, out, 2, 0);
    return TRUE;
  case AV_PIX_FMT_PAL8: {
    /* data[1]: 256 palette entries as native-endian 0xAARRGGBB words. */
    const uint32_t *pal = (const uint32_t *)f->data[1];
    for (uint32_t y = 0; y < out->height; y++) {
      const uint8_t *s = f->data[0] + (ptrdiff_t)y * f->linesize[0];
      uint8_t *d = out->rgb + (size_t)y * out->width * 3;
      for (uint32_t x = 0; x < out->width; x++, d += 3) {
        uint32_t c = pal[s[x]];
        d[0] = (uint8_t)(c >> 16);
        d[1] = (uint8_t)(c >> 8);
        d[2] = (uint8_t)c;
      }
    }
    return TRUE;
  }
  case AV_PIX_FMT_MONOWHITE:
  case AV_PIX_FMT_MONOBLACK: {
    uint8_t one = f->format == AV_PIX_FMT_MONOBLACK ? 255 : 0;
    for (uint32_t y = 0; y < out->height; y++) {
      const uint8_t *s = f->data[0] + (ptrdiff_t)y * f->linesize[0];
      uint8_t *d = out->rgb + (size_t)y * out->width * 3;
      for (uint32_t x = 0; x < out->width; x++, d += 3) {
        gboolean bit = (s[x >> 3] >> (7 - (x & 7))) & 1;
        d[0] = d[1] = d[2] = bit ? one : (uint8_t)(255 - one);
      }
    }
    return TRUE;
  }
  default:
    return rgb_from_swscale(f, out, name, error);
  }
}

gboolean
vf_av_decode(VfImageFormat format, const uint8_t *data, size_t size, const char *name, VfImage *out,
             GError **error)
{
  enum AVCodecID id = format == VF_IMAGE_FORMAT_WEBP  ? AV_CODEC_ID_WEBP
                      : format == VF_IMAGE_FORMAT_BMP ? AV_CODEC_ID_BMP
                      : format == VF_IMAGE_FORMAT_GIF ? AV_CODEC_ID_GIF
                                                      : AV_CODEC_ID_TIFF;
  const char *format_name = vf_image_format_name(format);
  const AVCodec *codec = avcodec_find_decoder(id);
  if (!codec) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_UNSUPPORTED, "%s: this libavcodec has no %s decoder", name,
                format_name);
    return FALSE;
  }
  if (size > INT_MAX - AV_INPUT_BUFFER_PADDING_SIZE) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_TOO_LARGE, "%s: the file is too large to decode", name);
    return FALSE;
  }

  gboolean ok = FALSE;
  AVCodecContext *ctx = avcodec_alloc_context3(codec);
  AVPacket *pkt = av_packet_alloc();
  AVFrame *frame = av_frame_alloc();
  if (!ctx || !pkt || !frame || av_new_packet(pkt, (int)size) < 0) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_NO_MEMORY, "%s: out of memory", name);
    goto done;
  }
  memcpy(pkt->data, data, size);
  ctx->max_pixels = VF_IMAGE_MAX_PIXELS;
  ctx->thread_count = 1;
  int ret = avcodec_open2(ctx, codec, NULL);
  if (ret >= 0)
    ret = avcodec_send_packet(ctx, pkt);
  if (ret >= 0)
    ret = avcodec_receive_frame(ctx, frame);
  if (ret == AVERROR(EAGAIN)) {
    /* A decoder that waits for more input: signal the end of the stream to get the frame. */
    avcodec_send_packet(ctx, NULL);
    ret = avcodec_receive_frame(ctx, frame);
  }
  if (ret < 0) {
    char why[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(ret, why, sizeof why);
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_CORRUPT, "%s: corrupt %s: %s", name, format_name,
                ret == AVERROR_EOF ? "no image in the file" : why);
    goto done;
  }
  if ((uint32_t)frame->width != out->width || (uint32_t)frame->height != out->height) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_CORRUPT,
                "%s: corrupt %s: the header says %u×%u but the decoder returned %d×%d", name, format_name,
                out->width, out->height, frame->width, frame->height);
    goto done;
  }
  ok = frame_to_rgb(frame, out, name, error);
done:
  av_frame_free(&frame);
  av_packet_free(&pkt);
  avcodec_free_context(&ctx);
  return ok;
}
