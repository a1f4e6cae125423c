/* Image inputs: where an image comes from, its header, and its pixels as 8-bit RGB exactly as the reference
 * pipeline sees them (qwen-vl-utils ≤ 0.0.8 `fetch_image`: `PIL.Image.open(...).convert("RGB")`, spec §3.2).
 *
 * Sources (the "image" field of a qwen-vl-utils message element):
 *   "/path/x.png" or "x.png"          a local file
 *   "file:///path/x.png"              the 7-character prefix is removed, no %-unquoting (as qvu)
 *   "data:image/png;base64,iVBO..."   the text after the first "base64," is base64-decoded
 *   "http://...", "https://..."       downloaded (vf_image_url.h: 64 MiB and 20 s at most), then as a file
 *
 * Formats are recognised by content, never by file name: PNG (libpng), JPEG (libjpeg-turbo, islow IDCT and
 * fancy upsampling as Pillow), WebP, BMP, TIFF and GIF (first frame; libavcodec).
 *
 * Conversion to RGB follows Pillow's convert("RGB"): alpha is dropped, NOT composited (the colour under a
 * transparent pixel is kept); grey is replicated; palettes are looked up and their transparency ignored;
 * 16-bit samples keep their high byte, except 16-bit grey, which Pillow opens as 32-bit "I" and clamps to
 * 0…255; Adobe CMYK JPEGs are inverted and converted with Pillow's cmyk2rgb. No EXIF rotation.
 *
 * Bounded memory: the header is read first and an image of more than VF_IMAGE_MAX_PIXELS pixels or a side
 * over VF_IMAGE_MAX_SIDE is refused before any pixel is decoded. vf_image_file_decode() then needs the 3 bytes
 * per pixel of the result plus one row (PNG, interlaced too; baseline JPEG), libjpeg's coefficient buffers for
 * progressive JPEGs (2 bytes per coefficient: 3 to 6 bytes per pixel), or the decoder's own frame (libavcodec
 * formats, capped by the same limit through AVCodecContext.max_pixels). vf_image_file_decode_resized() resizes
 * the rows as they come out (vf_resample's stream), so a baseline JPEG or a non-interlaced PNG never exists at
 * its full size: a decompression bomb (a tiny file whose header says 65500×2700) costs the output's memory.
 * Files are mapped, not read into memory. Every error names the source and the reason.
 *
 * Damaged data that the reference decodes anyway (a JPEG whose entropy data stops early: Pillow shows the
 * rest grey, with a warning nobody sees) decodes to the same pixels here, and vf_image_file_damage() says
 * what was wrong, for the UI and the CLI to show. */
#pragma once

#include <glib.h>
#include <stdint.h>

#define VF_IMAGE_ERROR (vf_image_error_quark())
GQuark vf_image_error_quark(void);

typedef enum {
  VF_IMAGE_ERROR_NOT_FOUND,      /* the file cannot be read */
  VF_IMAGE_ERROR_EMPTY,          /* zero bytes */
  VF_IMAGE_ERROR_UNKNOWN_FORMAT, /* not an image Viewfinder can read */
  VF_IMAGE_ERROR_CORRUPT,        /* the decoder rejected the data (bad header, CRC, zero size, ...) */
  VF_IMAGE_ERROR_TRUNCATED,      /* the data ends before the image does */
  VF_IMAGE_ERROR_TOO_LARGE,      /* over VF_IMAGE_MAX_PIXELS or VF_IMAGE_MAX_SIDE, or a download over its limit */
  VF_IMAGE_ERROR_BAD_URI,        /* a malformed data: URI or http(s) URL */
  VF_IMAGE_ERROR_UNSUPPORTED,    /* a format variant not supported (animated WebP, 2-channel JPEG, ...) */
  VF_IMAGE_ERROR_ASPECT_RATIO,   /* longer side / shorter side > 200 (smart_resize) */
  VF_IMAGE_ERROR_BAD_SIZE,       /* a resize that ends at zero pixels, or invalid size options */
  VF_IMAGE_ERROR_NO_MEMORY,
  VF_IMAGE_ERROR_NETWORK,        /* an http(s) download failed: name lookup, refused, unreachable, TLS, cut off */
  VF_IMAGE_ERROR_HTTP_STATUS,    /* the server answered with a status other than 200 */
  VF_IMAGE_ERROR_TIMEOUT,        /* the download did not finish in time */
  VF_IMAGE_ERROR_ENCRYPTED,      /* a document that needs a password */
} VfImageError;

/* Pillow's own DecompressionBombError threshold (2 · MAX_IMAGE_PIXELS): every image the reference accepts
 * is accepted here, and the decoded RGB stays under 512 MiB. */
#define VF_IMAGE_MAX_PIXELS 178956970u
/* The largest side a JPEG can have; PNG/WebP/... files beyond it are refused as well. */
#define VF_IMAGE_MAX_SIDE 65500u

typedef enum {
  VF_IMAGE_FORMAT_PNG,
  VF_IMAGE_FORMAT_JPEG,
  VF_IMAGE_FORMAT_WEBP,
  VF_IMAGE_FORMAT_BMP,
  VF_IMAGE_FORMAT_TIFF,
  VF_IMAGE_FORMAT_GIF,
} VfImageFormat;

const char *vf_image_format_name(VfImageFormat format);

/* Decoded pixels. */
typedef struct {
  uint32_t width, height;
  uint8_t *rgb; /* [height, width, 3] RGB8, rows packed */
} VfImage;

/* A new image with uninitialised pixels; NULL with VF_IMAGE_ERROR_NO_MEMORY when it cannot be allocated. */
VfImage *vf_image_new(uint32_t width, uint32_t height, GError **error);
void vf_image_free(VfImage *image);

/* An opened source: the encoded bytes (mapped, not copied, for files) and the header. */
typedef struct VfImageFile VfImageFile;

/* Resolves the source, reads the header and checks the size limits. Decodes no pixel data. */
VfImageFile *vf_image_file_open(const char *source, GError **error);
/* The same for encoded bytes already in memory; `name` is what error messages call them. */
VfImageFile *vf_image_file_open_bytes(GBytes *bytes, const char *name, GError **error);
void vf_image_file_free(VfImageFile *file);

uint32_t vf_image_file_width(const VfImageFile *file);
uint32_t vf_image_file_height(const VfImageFile *file);
VfImageFormat vf_image_file_format(const VfImageFile *file);
/* The file path, the URL, or a short form of a data URI, as used in messages. */
const char *vf_image_file_name(const VfImageFile *file);

/* Decodes the pixels and converts them to RGB as Pillow's convert("RGB"). */
VfImage *vf_image_file_decode(VfImageFile *file, GError **error);
/* The same, resized to width × height with Pillow's BICUBIC (the bytes of vf_resample_bicubic_rgb8 on the
 * decoded image) while decoding, in bands. */
VfImage *vf_image_file_decode_resized(VfImageFile *file, uint32_t width, uint32_t height, GError **error);
/* RGB rows [width, 3] in order, top to bottom; the buffer is only valid during the call. */
typedef void (*VfImageRowFunc)(const uint8_t *rgb, uint32_t y, void *user);
gboolean vf_image_file_decode_rows(VfImageFile *file, VfImageRowFunc row, void *user, GError **error);
/* After a decode: NULL, or why the picture looks wrong although it decoded ("damaged: the data stops at row
 * 14 of 2700"). Owned by `file`. */
const char *vf_image_file_damage(const VfImageFile *file);

/* open + decode. */
VfImage *vf_image_load(const char *source, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfImage, vf_image_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfImageFile, vf_image_file_free)
