/* Image sources, format recognition, size limits; the decoders live in vf_image_{png,jpeg,av}.c. */
#define G_LOG_DOMAIN "vf-image"

#include "vf_image.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vf_image_decoders.h"
#include "vf_image_url.h"
#include "vf_media_stats.h"
#include "vf_resample.h"

G_DEFINE_QUARK(vf-image-error-quark, vf_image_error)

struct VfImageFile {
  GBytes *bytes; /* the encoded file */
  char *name;    /* for messages */
  VfImageFormat format;
  uint32_t width, height;
  char *damage;  /* after a decode: what was wrong with data the decoder went past, or NULL */
};

const char *
vf_image_format_name(VfImageFormat format)
{
  static const char *const names[] = {"PNG", "JPEG", "WebP", "BMP", "TIFF", "GIF"};
  return (unsigned)format < G_N_ELEMENTS(names) ? names[format] : "?";
}

VfImage *
vf_image_new(uint32_t width, uint32_t height, GError **error)
{
  VfImage *image = g_new0(VfImage, 1);
  image->width = width;
  image->height = height;
  image->rgb = g_try_malloc((size_t)width * height * 3);
  if (!image->rgb && (size_t)width * height > 0) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_NO_MEMORY, "out of memory for a %u×%u image", width,
                height);
    g_free(image);
    return NULL;
  }
  return image;
}

void
vf_image_free(VfImage *image)
{
  if (!image)
    return;
  g_free(image->rgb);
  g_free(image);
}

/* ---- sources ---------------------------------------------------------------------------------------- */

/* Python's binascii.a2b_base64 in its default, non-strict mode (what base64.b64decode does): characters
 * outside the alphabet are skipped, a complete padding sequence ends the data, and a final group of one
 * character or of two or three without their padding is an error. */
static GBytes *
base64_decode_like_python(const char *text, const char **why)
{
  static int8_t value[256];
  static gsize init = 0;
  if (g_once_init_enter(&init)) {
    memset(value, -1, sizeof value);
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; i++)
      value[(uint8_t)alphabet[i]] = (int8_t)i;
    g_once_init_leave(&init, 1);
  }
  size_t n = strlen(text);
  GByteArray *out = g_byte_array_sized_new((guint)(n / 4 * 3 + 3));
  unsigned quad_pos = 0, pads = 0;
  uint32_t acc = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = (uint8_t)text[i];
    if (c >= 128) {
      *why = "the base64 data has a non-ASCII character";
      g_byte_array_unref(out);
      return NULL;
    }
    if (c == '=') {
      if (quad_pos >= 2 && quad_pos + ++pads >= 4) {
        quad_pos = 0; /* the padding completes the group: stop */
        break;
      }
      continue;
    }
    if (value[c] < 0)
      continue;
    acc = acc << 6 | (uint32_t)value[c];
    quad_pos = (quad_pos + 1) & 3;
    if (quad_pos == 2) {
      uint8_t b = (uint8_t)(acc >> 4);
      g_byte_array_append(out, &b, 1);
      acc &= 0xf;
    } else if (quad_pos == 3) {
      uint8_t b = (uint8_t)(acc >> 2);
      g_byte_array_append(out, &b, 1);
      acc &= 0x3;
    } else if (quad_pos == 0) {
      uint8_t b = (uint8_t)acc;
      g_byte_array_append(out, &b, 1);
      acc = 0;
    }
  }
  if (quad_pos == 1) {
    *why = "the base64 data has one character more than a multiple of 4";
    g_byte_array_unref(out);
    return NULL;
  }
  if (quad_pos != 0) {
    *why = "the base64 data has incorrect padding";
    g_byte_array_unref(out);
    return NULL;
  }
  return g_byte_array_free_to_bytes(out);
}

static GBytes *
map_file(const char *path, GError **error)
{
  int fd = g_open(path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) {
    int e = errno;
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_NOT_FOUND, "%s: cannot open: %s", path, g_strerror(e));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_NOT_FOUND, "%s: not a regular file", path);
    close(fd);
    return NULL;
  }
  g_autoptr(GError) map_error = NULL;
  GMappedFile *mapped = g_mapped_file_new_from_fd(fd, FALSE, &map_error);
  close(fd);
  if (!mapped) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_NOT_FOUND, "%s: cannot read: %s", path, map_error->message);
    return NULL;
  }
  GBytes *bytes = g_mapped_file_get_bytes(mapped);
  g_mapped_file_unref(mapped);
  return bytes;
}

/* The encoded bytes of a source, in the order qwen-vl-utils tests the forms. *name gets what messages
 * should call it. */
static GBytes *
resolve_source(const char *source, char **name, GError **error)
{
  if (vf_image_source_is_url(source)) {
    *name = vf_image_url_display_name(source);
    return vf_image_url_fetch(source, NULL, error);
  }
  if (g_str_has_prefix(source, "file://")) {
    *name = g_strdup(source + 7);
    return map_file(*name, error);
  }
  if (g_str_has_prefix(source, "data:image")) {
    /* Messages show the start of the URI only. */
    *name = strlen(source) > 40 ? g_strdup_printf("%.32s… (data URI)", source) : g_strdup(source);
    const char *payload = strstr(source, "base64,");
    if (!payload) {
      g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_BAD_URI,
                  "%s: malformed data URI: only base64 data URIs (\"data:image/...;base64,...\") are supported",
                  *name);
      return NULL;
    }
    const char *why = NULL;
    GBytes *bytes = base64_decode_like_python(payload + 7, &why);
    if (!bytes)
      g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_BAD_URI, "%s: malformed data URI: %s", *name, why);
    return bytes;
  }
  if (!*source) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_NOT_FOUND, "empty image path");
    return NULL;
  }
  *name = g_strdup(source);
  return map_file(source, error);
}

/* ---- formats and headers --------------------------------------------------------------------------- */

static gboolean
sniff_format(const uint8_t *d, size_t n, VfImageFormat *format)
{
  if (n >= 8 && !memcmp(d, "\x89PNG\r\n\x1a\n", 8))
    *format = VF_IMAGE_FORMAT_PNG;
  else if (n >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff)
    *format = VF_IMAGE_FORMAT_JPEG;
  else if (n >= 12 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WEBP", 4))
    *format = VF_IMAGE_FORMAT_WEBP;
  else if (n >= 2 && d[0] == 'B' && d[1] == 'M')
    *format = VF_IMAGE_FORMAT_BMP;
  else if (n >= 4 && (!memcmp(d, "II*\0", 4) || !memcmp(d, "MM\0*", 4)))
    *format = VF_IMAGE_FORMAT_TIFF;
  else if (n >= 6 && (!memcmp(d, "GIF87a", 6) || !memcmp(d, "GIF89a", 6)))
    *format = VF_IMAGE_FORMAT_GIF;
  else
    return FALSE;
  return TRUE;
}

VfImageFile *
vf_image_file_open_bytes(GBytes *bytes, const char *name, GError **error)
{
  vf_media_stats_count(VF_MEDIA_STAT_IMAGE_HEADER);
  size_t size = 0;
  const uint8_t *data = g_bytes_get_data(bytes, &size);
  if (size == 0) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_EMPTY, "%s: the file is empty (0 bytes)", name);
    return NULL;
  }
  VfImageFormat format;
  if (!sniff_format(data, size, &format)) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_UNKNOWN_FORMAT,
                "%s: not an image (the data is not PNG, JPEG, WebP, BMP, TIFF or GIF)", name);
    return NULL;
  }
  uint32_t w = 0, h = 0;
  gboolean ok = format == VF_IMAGE_FORMAT_PNG    ? vf_png_read_header(data, size, name, &w, &h, error)
                : format == VF_IMAGE_FORMAT_JPEG ? vf_jpeg_read_header(data, size, name, &w, &h, error)
                                                 : vf_av_read_header(format, data, size, name, &w, &h, error);
  if (!ok)
    return NULL;
  if (w == 0 || h == 0) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_CORRUPT, "%s: corrupt %s: the image has zero size (%u×%u)",
                name, vf_image_format_name(format), w, h);
    return NULL;
  }
  if (w > VF_IMAGE_MAX_SIDE || h > VF_IMAGE_MAX_SIDE || (uint64_t)w * h > VF_IMAGE_MAX_PIXELS) {
    g_set_error(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_TOO_LARGE,
                "%s: the image is too large (%u×%u = %" G_GUINT64_FORMAT
                " pixels); Viewfinder decodes at most %u pixels and %u per side",
                name, w, h, (uint64_t)w * h, VF_IMAGE_MAX_PIXELS, VF_IMAGE_MAX_SIDE);
    return NULL;
  }
  VfImageFile *file = g_new0(VfImageFile, 1);
  file->bytes = g_bytes_ref(bytes);
  file->name = g_strdup(name);
  file->format = format;
  file->width = w;
  file->height = h;
  return file;
}

VfImageFile *
vf_image_file_open(const char *source, GError **error)
{
  g_autofree char *name = NULL;
  g_autoptr(GBytes) bytes = resolve_source(source, &name, error);
  if (!bytes)
    return NULL;
  return vf_image_file_open_bytes(bytes, name, error);
}

void
vf_image_file_free(VfImageFile *file)
{
  if (!file)
    return;
  g_bytes_unref(file->bytes);
  g_free(file->name);
  g_free(file->damage);
  g_free(file);
}

uint32_t
vf_image_file_width(const VfImageFile *file)
{
  return file->width;
}

uint32_t
vf_image_file_height(const VfImageFile *file)
{
  return file->height;
}

VfImageFormat
vf_image_file_format(const VfImageFile *file)
{
  return file->format;
}

const char *
vf_image_file_name(const VfImageFile *file)
{
  return file->name;
}

const char *
vf_image_file_damage(const VfImageFile *file)
{
  return file->damage;
}

gboolean
vf_image_file_decode_rows(VfImageFile *file, VfImageRowFunc row, void *user, GError **error)
{
  size_t size = 0;
  const uint8_t *data = g_bytes_get_data(file->bytes, &size);
  g_clear_pointer(&file->damage, g_free);
  switch (file->format) {
  case VF_IMAGE_FORMAT_PNG:
    return vf_png_decode(data, size, file->name, file->width, file->height, row, user, error);
  case VF_IMAGE_FORMAT_JPEG:
    return vf_jpeg_decode(data, size, file->name, file->width, file->height, row, user, &file->damage, error);
  default: {
    /* libavcodec hands over whole frames. */
    g_autoptr(VfImage) image = vf_image_new(file->width, file->height, error);
    if (!image) {
      g_prefix_error(error, "%s: ", file->name);
      return FALSE;
    }
    if (!vf_av_decode(file->format, data, size, file->name, image, error))
      return FALSE;
    for (uint32_t y = 0; y < image->height; y++)
      row(image->rgb + (size_t)y * image->width * 3, y, user);
    return TRUE;
  }
  }
}

static void
copy_row(const uint8_t *rgb, uint32_t y, void *user)
{
  VfImage *image = user;
  memcpy(image->rgb + (size_t)y * image->width * 3, rgb, (size_t)image->width * 3);
}

VfImage *
vf_image_file_decode(VfImageFile *file, GError **error)
{
  vf_media_stats_count(VF_MEDIA_STAT_IMAGE_DECODE);
  g_autoptr(VfImage) image = vf_image_new(file->width, file->height, error);
  if (!image) {
    g_prefix_error(error, "%s: ", file->name);
    return NULL;
  }
  return vf_image_file_decode_rows(file, copy_row, image, error) ? g_steal_pointer(&image) : NULL;
}

static void
push_row(const uint8_t *rgb, uint32_t y, void *user)
{
  vf_resample_stream_push(user, rgb);
}

VfImage *
vf_image_file_decode_resized(VfImageFile *file, uint32_t width, uint32_t height, GError **error)
{
  vf_media_stats_count(VF_MEDIA_STAT_IMAGE_DECODE);
  g_autoptr(VfImage) image = vf_image_new(width, height, error);
  g_autoptr(VfResampleStream) stream =
    image ? vf_resample_stream_new(file->width, file->height, image->rgb, width, height, error) : NULL;
  if (!stream) {
    g_prefix_error(error, "%s: ", file->name);
    return NULL;
  }
  if (!vf_image_file_decode_rows(file, push_row, stream, error))
    return NULL;
  g_assert(vf_resample_stream_done(stream));
  return g_steal_pointer(&image);
}

VfImage *
vf_image_load(const char *source, GError **error)
{
  g_autoptr(VfImageFile) file = vf_image_file_open(source, error);
  return file ? vf_image_file_decode(file, error) : NULL;
}
