/* Image decoding and sources (spec §3.2): every PNG colour type and bit depth (written here with libpng, each
 * also interlaced) against Pillow's convert("RGB") rules, JPEG variants written with libjpeg (grey, Adobe
 * CMYK and YCCK, progressive), WebP/BMP/TIFF/GIF fixtures against the PNG they were made from, file:// and
 * data: sources, and every kind of bad input with its error code and message. The golden decodes
 * (Pillow 9.4 on real files) are in test_preprocess.c. */
#include <stdio.h>

#include <jpeglib.h>
#include <png.h>
#include <string.h>
#include <glib/gstdio.h>
#include <sys/resource.h>

#include "vf_image.h"
#include "vf_preprocess.h"
#include "vf_resample.h"
#include "vf_test_data.h"

static char *tmp_dir;

static GBytes *
read_bytes(const char *path)
{
  char *contents = NULL;
  gsize n = 0;
  g_autoptr(GError) error = NULL;
  g_file_get_contents(path, &contents, &n, &error);
  g_assert_no_error(error);
  return g_bytes_new_take(contents, n);
}

static char *
write_tmp(const char *name, const void *data, size_t n)
{
  char *path = g_build_filename(tmp_dir, name, NULL);
  g_autoptr(GError) error = NULL;
  g_file_set_contents(path, data, (gssize)n, &error);
  g_assert_no_error(error);
  return path;
}

/* The error has this code and its message names `who` and says `why`. */
static void
assert_image_error(const GError *error, int code, const char *who, const char *why)
{
  g_assert_nonnull(error);
  g_test_message("error: %s", error->message);
  g_assert_error(error, VF_IMAGE_ERROR, code);
  if (who && !strstr(error->message, who))
    g_error("message \"%s\" does not name \"%s\"", error->message, who);
  if (why && !strstr(error->message, why))
    g_error("message \"%s\" does not say \"%s\"", error->message, why);
}

/* ---- PNG ------------------------------------------------------------------------------------------------ */

static uint32_t rng_state;

static uint32_t
rng(void)
{
  rng_state = rng_state * 1664525u + 1013904223u;
  return rng_state >> 8;
}

static void
png_write_to_array(png_structp png, png_bytep data, size_t n)
{
  g_byte_array_append(png_get_io_ptr(png), data, (guint)n);
}

static void
png_flush_nothing(png_structp png)
{
}

static void
png_quiet(png_structp png, png_const_charp message)
{
}

typedef struct {
  int color_type, depth;
  int n_palette;      /* palette cases: entries in PLTE (≤ 2^depth; fewer leaves indices without one) */
  gboolean with_trns; /* a tRNS chunk (palette alpha, or a transparent grey/RGB value) */
} PngCase;

static int
png_channels(int color_type)
{
  switch (color_type) {
  case PNG_COLOR_TYPE_GRAY:
  case PNG_COLOR_TYPE_PALETTE:
    return 1;
  case PNG_COLOR_TYPE_GRAY_ALPHA:
    return 2;
  case PNG_COLOR_TYPE_RGB:
    return 3;
  default:
    return 4;
  }
}

/* Writes a w×h PNG of random samples and returns it; `expected` [h, w, 3] gets what Pillow's
 * PngImagePlugin + convert("RGB") make of them (spec §3.2 table, Pillow's PNG modes). */
static GBytes *
make_png(const PngCase *c, gboolean interlaced, uint32_t w, uint32_t h, uint8_t *expected)
{
  int ch = png_channels(c->color_type);
  uint32_t maxv = (1u << c->depth) - 1;
  png_color palette[256];
  for (int i = 0; i < 256; i++)
    palette[i] = (png_color){(png_byte)rng(), (png_byte)rng(), (png_byte)rng()};
  size_t rowbytes = ((size_t)w * ch * c->depth + 7) / 8;
  g_autofree uint8_t *raw = g_new0(uint8_t, rowbytes * h);
  for (uint32_t y = 0; y < h; y++)
    for (uint32_t x = 0; x < w; x++) {
      uint32_t s[4];
      for (int k = 0; k < ch; k++) {
        s[k] = rng() & maxv;
        if (c->depth == 16 && c->color_type == PNG_COLOR_TYPE_GRAY && (rng() & 1))
          s[k] %= 300; /* both sides of Pillow's clamp at 255 */
        size_t bit = ((size_t)x * ch + k) * c->depth;
        uint8_t *row = raw + y * rowbytes;
        if (c->depth == 16) {
          row[bit / 8] = (uint8_t)(s[k] >> 8);
          row[bit / 8 + 1] = (uint8_t)s[k];
        } else if (c->depth == 8) {
          row[bit / 8] = (uint8_t)s[k];
        } else {
          row[bit / 8] |= (uint8_t)(s[k] << (8 - c->depth - bit % 8));
        }
      }
      uint8_t *e = expected + ((size_t)y * w + x) * 3;
      int hi = c->depth == 16 ? 8 : 0;
      switch (c->color_type) {
      case PNG_COLOR_TYPE_GRAY:
        if (c->depth == 16)
          e[0] = (uint8_t)(s[0] > 255 ? 255 : s[0]); /* mode "I", clamped */
        else
          e[0] = (uint8_t)(s[0] * 255 / maxv); /* L;1, L;2, L;4 scale to 0…255 */
        e[1] = e[2] = e[0];
        break;
      case PNG_COLOR_TYPE_GRAY_ALPHA:
        e[0] = e[1] = e[2] = (uint8_t)(s[0] >> hi);
        break;
      case PNG_COLOR_TYPE_PALETTE:
        if ((int)s[0] < c->n_palette) {
          e[0] = palette[s[0]].red;
          e[1] = palette[s[0]].green;
          e[2] = palette[s[0]].blue;
        } else {
          e[0] = e[1] = e[2] = (uint8_t)s[0]; /* Pillow's default palette is a grey ramp */
        }
        break;
      default: /* RGB, RGBA */
        for (int k = 0; k < 3; k++)
          e[k] = (uint8_t)(s[k] >> hi);
      }
    }

  GByteArray *out = g_byte_array_new();
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, png_quiet);
  png_infop info = png_create_info_struct(png);
  g_assert_false(setjmp(png_jmpbuf(png)));
  png_set_benign_errors(png, 1); /* indices past a short palette are what we test */
  png_set_write_fn(png, out, png_write_to_array, png_flush_nothing);
  png_set_IHDR(png, info, w, h, c->depth, c->color_type, interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (c->color_type == PNG_COLOR_TYPE_PALETTE)
    png_set_PLTE(png, info, palette, c->n_palette);
  if (c->with_trns) {
    png_byte alpha[256];
    for (int i = 0; i < 256; i++)
      alpha[i] = (png_byte)(i * 37);
    png_color_16 colour = {.gray = 3, .red = 1, .green = 2, .blue = 3};
    png_set_tRNS(png, info, alpha, c->color_type == PNG_COLOR_TYPE_PALETTE ? c->n_palette : 0, &colour);
  }
  png_write_info(png, info);
  g_autofree png_bytep *rows = g_new(png_bytep, h);
  for (uint32_t y = 0; y < h; y++)
    rows[y] = raw + y * rowbytes;
  png_write_image(png, rows);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  return g_byte_array_free_to_bytes(out);
}

static void
test_png_modes(void)
{
  static const PngCase cases[] = {
      {PNG_COLOR_TYPE_GRAY, 1},
      {PNG_COLOR_TYPE_GRAY, 2},
      {PNG_COLOR_TYPE_GRAY, 4},
      {PNG_COLOR_TYPE_GRAY, 8},
      {PNG_COLOR_TYPE_GRAY, 8, 0, TRUE},
      {PNG_COLOR_TYPE_GRAY, 16},
      {PNG_COLOR_TYPE_GRAY_ALPHA, 8},
      {PNG_COLOR_TYPE_GRAY_ALPHA, 16},
      {PNG_COLOR_TYPE_RGB, 8},
      {PNG_COLOR_TYPE_RGB, 8, 0, TRUE},
      {PNG_COLOR_TYPE_RGB, 16},
      {PNG_COLOR_TYPE_RGB_ALPHA, 8},
      {PNG_COLOR_TYPE_RGB_ALPHA, 16},
      {PNG_COLOR_TYPE_PALETTE, 1, 2},
      {PNG_COLOR_TYPE_PALETTE, 2, 4, TRUE},
      {PNG_COLOR_TYPE_PALETTE, 4, 16},
      {PNG_COLOR_TYPE_PALETTE, 4, 11, TRUE},
      {PNG_COLOR_TYPE_PALETTE, 8, 256},
      {PNG_COLOR_TYPE_PALETTE, 8, 256, TRUE},
      {PNG_COLOR_TYPE_PALETTE, 8, 100},
  };
  /* 13×11: rows end mid-byte at depths < 8, and Adam7 passes are partial. */
  const uint32_t w = 13, h = 11;
  rng_state = 12345;
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
    for (int interlaced = 0; interlaced < 2; interlaced++) {
      uint8_t expected[13 * 11 * 3];
      g_autoptr(GBytes) png = make_png(&cases[i], interlaced, w, h, expected);
      g_autofree char *name = g_strdup_printf("type%d-depth%d-palette%d-trns%d-interlace%d", cases[i].color_type,
                                              cases[i].depth, cases[i].n_palette, cases[i].with_trns, interlaced);
      g_autoptr(GError) error = NULL;
      g_autoptr(VfImageFile) file = vf_image_file_open_bytes(png, name, &error);
      g_assert_no_error(error);
      g_assert_cmpint(vf_image_file_format(file), ==, VF_IMAGE_FORMAT_PNG);
      g_autoptr(VfImage) image = vf_image_file_decode(file, &error);
      g_assert_no_error(error);
      g_assert_cmpuint(image->width, ==, w);
      g_assert_cmpuint(image->height, ==, h);
      if (memcmp(image->rgb, expected, sizeof expected)) {
        for (size_t k = 0; k < sizeof expected; k++)
          if (image->rgb[k] != expected[k])
            g_error("%s: byte %zu is %u, Pillow gives %u", name, k, image->rgb[k], expected[k]);
      }
    }
}

/* ---- JPEG ----------------------------------------------------------------------------------------------- */

static GBytes *
make_jpeg(uint32_t w, uint32_t h, int components, J_COLOR_SPACE in_space, J_COLOR_SPACE stored_space,
          const uint8_t *pixels, int quality, gboolean progressive)
{
  struct jpeg_compress_struct cinfo;
  struct jpeg_error_mgr jerr;
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&cinfo);
  unsigned char *buf = NULL;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buf, &size);
  cinfo.image_width = w;
  cinfo.image_height = h;
  cinfo.input_components = components;
  cinfo.in_color_space = in_space;
  jpeg_set_defaults(&cinfo);
  jpeg_set_colorspace(&cinfo, stored_space);
  jpeg_set_quality(&cinfo, quality, TRUE);
  if (progressive)
    jpeg_simple_progression(&cinfo);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < h) {
    JSAMPROW row = (JSAMPROW)(pixels + (size_t)cinfo.next_scanline * w * components);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  GBytes *bytes = g_bytes_new(buf, size);
  free(buf);
  return bytes;
}

static VfImage *
decode_bytes(GBytes *bytes, const char *name)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VfImageFile) file = vf_image_file_open_bytes(bytes, name, &error);
  g_assert_no_error(error);
  VfImage *image = vf_image_file_decode(file, &error);
  g_assert_no_error(error);
  return image;
}

/* A decompression bomb as issue 18 found it: a JPEG of a few hundred bytes whose frame header (SOF0) says
 * w × h, with entropy data for a 16×16 picture only, then EOI. Pillow decodes it (to grey, with libjpeg's
 * "premature end of data segment" warnings unseen). */
static GBytes *
make_bomb_jpeg(uint32_t w, uint32_t h)
{
  enum { S = 16 };
  uint8_t rgb[S * S * 3];
  for (int i = 0; i < S * S * 3; i++)
    rgb[i] = (uint8_t)(i * 37 % 251);
  g_autoptr(GBytes) small = make_jpeg(S, S, 3, JCS_RGB, JCS_YCbCr, rgb, 90, FALSE);
  gsize n;
  const void *encoded = g_bytes_get_data(small, &n);
  uint8_t *data = g_memdup2(encoded, n);
  gsize at = 2;
  while (at + 9 < n && !(data[at] == 0xFF && data[at + 1] == 0xC0))
    at++;
  g_assert_cmpuint(at + 9, <, n);
  /* FF C0, length (2), precision (1), height (2), width (2), big endian. */
  data[at + 5] = (uint8_t)(h >> 8);
  data[at + 6] = (uint8_t)h;
  data[at + 7] = (uint8_t)(w >> 8);
  data[at + 8] = (uint8_t)w;
  return g_bytes_new_take(data, n);
}

/* A JPEG whose data stops early decodes to the reference's pixels (the rest filled in by libjpeg, as for
 * Pillow) and says so; decoding resized in bands gives the bytes of decoding whole, then resizing. */
static void
test_jpeg_damaged(void)
{
  /* A real 600×400 picture whose entropy data is cut in the middle, EOI right after. */
  enum { W = 600, H = 400 };
  g_autofree uint8_t *pixels = g_malloc(W * H * 3);
  for (int i = 0; i < W * H * 3; i++)
    pixels[i] = (uint8_t)((i / 3 % W) * 255 / W + (i % 3) * 40 + (i / 3 / W) / 4);
  g_autoptr(GBytes) full = make_jpeg(W, H, 3, JCS_RGB, JCS_YCbCr, pixels, 90, FALSE);
  gsize full_size;
  const uint8_t *full_data = g_bytes_get_data(full, &full_size);
  gsize cut = full_size / 2;
  uint8_t *cut_data = g_malloc(cut + 2);
  memcpy(cut_data, full_data, cut);
  cut_data[cut] = 0xFF;
  cut_data[cut + 1] = 0xD9;
  g_autoptr(GBytes) jpg = g_bytes_new_take(cut_data, cut + 2);
  g_autoptr(GError) error = NULL;
  g_autoptr(VfImageFile) file = vf_image_file_open_bytes(jpg, "damaged.jpg", &error);
  g_assert_no_error(error);
  g_assert_null(vf_image_file_damage(file));
  g_autoptr(VfImage) whole = vf_image_file_decode(file, &error);
  g_assert_no_error(error);
  g_autofree char *damage = g_strdup(vf_image_file_damage(file));
  g_assert_nonnull(damage);
  g_test_message("600×400 JPEG cut to %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " bytes: %s", cut, full_size, damage);
  unsigned row = 0;
  g_assert_cmpint(sscanf(damage, "damaged: the data stops at row %u of 400", &row), ==, 1);
  /* Half the data: the picture stops somewhere in the middle, on a block-row boundary. */
  g_assert_cmpuint(row, >, 100);
  g_assert_cmpuint(row, <, 300);
  g_assert_cmpuint(row % 16, ==, 0);

  const uint32_t sizes[][2] = {{300, 200}, {600, 120}, {84, 400}, {900, 700}};
  for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
    uint32_t w = sizes[i][0], h = sizes[i][1];
    g_autofree uint8_t *want = g_malloc((size_t)w * h * 3);
    g_assert_true(vf_resample_bicubic_rgb8(whole->rgb, 600, 400, want, w, h, NULL));
    g_autoptr(VfImage) banded = vf_image_file_decode_resized(file, w, h, &error);
    g_assert_no_error(error);
    g_assert_cmpmem(banded->rgb, (size_t)w * h * 3, want, (size_t)w * h * 3);
    g_assert_cmpstr(vf_image_file_damage(file), ==, damage);
  }
  /* An intact JPEG has no damage note. */
  g_autoptr(GBytes) good = make_jpeg(16, 16, 1, JCS_GRAYSCALE, JCS_GRAYSCALE, whole->rgb, 90, FALSE);
  g_autoptr(VfImageFile) good_file = vf_image_file_open_bytes(good, "good.jpg", &error);
  g_autoptr(VfImage) good_image = vf_image_file_decode_resized(good_file, 8, 8, &error);
  g_assert_no_error(error);
  g_assert_null(vf_image_file_damage(good_file));
}

/* The two bombs, 65500×2700 and 2700×65500 (177 million pixels, 530 MB of RGB at full size), decoded and
 * resized to the fetch size of the default limits in bands: peak RSS stays under 300 MB, far below the full
 * picture, and the damage is reported. Runs in a subprocess so that its peak RSS is its own. */
static void
test_jpeg_bombs(void)
{
  if (!g_test_subprocess()) {
    /* Memory is what is asserted; the clock only catches a hang (the sanitizer build under load needs 41 s a bomb). */
    g_test_trap_subprocess(NULL, 300 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
    g_test_trap_assert_passed();
    return;
  }
  const uint32_t bombs[][2] = {{65500, 2700}, {2700, 65500}};
  VfImageProcessorConfig cfg;
  vf_image_processor_config_default(&cfg);
  for (size_t i = 0; i < G_N_ELEMENTS(bombs); i++) {
    g_autoptr(GBytes) jpg = make_bomb_jpeg(bombs[i][0], bombs[i][1]);
    g_autofree char *name = g_strdup_printf("bomb-%ux%u.jpg", bombs[i][0], bombs[i][1]);
    g_autofree char *path = write_tmp(name, g_bytes_get_data(jpg, NULL), g_bytes_get_size(jpg));
    g_autoptr(GError) error = NULL;
    g_autoptr(VfImageFile) file = vf_image_file_open(path, &error);
    g_assert_no_error(error);
    VfImagePlan plan;
    g_assert_true(vf_image_plan(bombs[i][0], bombs[i][1], NULL, &cfg, &plan, &error));
    gint64 t0 = g_get_monotonic_time();
    g_autoptr(VfImage) fetched = vf_image_file_decode_resized(file, plan.fetch_width, plan.fetch_height, &error);
    g_assert_no_error(error);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    g_printerr("# %s: %" G_GSIZE_FORMAT " bytes, decoded and resized to %u×%u (%u tokens) in %.1f s, peak RSS "
               "%.0f MB: %s\n", name, g_bytes_get_size(jpg), plan.fetch_width, plan.fetch_height, plan.n_tokens,
               (g_get_monotonic_time() - t0) / 1e6, ru.ru_maxrss / 1024.0, vf_image_file_damage(file));
    g_assert_cmpint(ru.ru_maxrss, <, 300 * 1000); /* KiB */
    g_assert_nonnull(vf_image_file_damage(file));
    g_assert_true(g_str_has_prefix(vf_image_file_damage(file), "damaged: the data stops at row "));
  }
}

/* A grey JPEG becomes R = G = B (Pillow mode "L"). */
static void
test_jpeg_grey(void)
{
  enum { W = 40, H = 24 };
  uint8_t grey[W * H];
  for (int i = 0; i < W * H; i++)
    grey[i] = (uint8_t)(i % W * 5 + i / W * 2);
  g_autoptr(GBytes) jpg = make_jpeg(W, H, 1, JCS_GRAYSCALE, JCS_GRAYSCALE, grey, 100, FALSE);
  g_autoptr(VfImage) image = decode_bytes(jpg, "grey.jpg");
  for (int i = 0; i < W * H; i++) {
    const uint8_t *p = image->rgb + 3 * i;
    g_assert_cmpuint(p[0], ==, p[1]);
    g_assert_cmpuint(p[0], ==, p[2]);
    /* Quality 100 on a smooth ramp: a level or two of DCT rounding. */
    g_assert_cmpint(abs((int)p[0] - grey[i]), <=, 2);
  }
}

/* Pillow reads every 4-component JPEG as Adobe-inverted CMYK ("CMYK;I") and converts with cmyk2rgb:
 * stored (200, 100, 50, 128) → CMYK (55, 155, 205, 127) → nk = 128 → RGB (100, 50, 25). The YCCK form of the
 * same image must give the same colour (libjpeg converts it to CMYK first). */
static void
test_jpeg_cmyk(void)
{
  enum { W = 16, H = 16 };
  uint8_t stored[W * H * 4];
  for (int i = 0; i < W * H; i++) {
    stored[4 * i + 0] = 200;
    stored[4 * i + 1] = 100;
    stored[4 * i + 2] = 50;
    stored[4 * i + 3] = 128;
  }
  J_COLOR_SPACE spaces[2] = {JCS_CMYK, JCS_YCCK};
  for (int s = 0; s < 2; s++) {
    g_autoptr(GBytes) jpg = make_jpeg(W, H, 4, JCS_CMYK, spaces[s], stored, 100, FALSE);
    g_autoptr(VfImage) image = decode_bytes(jpg, "cmyk.jpg");
    const int want[3] = {100, 50, 25};
    for (int i = 0; i < W * H; i++)
      for (int c = 0; c < 3; c++)
        g_assert_cmpint(abs((int)image->rgb[3 * i + c] - want[c]), <=, 1);
  }
}

/* A progressive JPEG carries the same quantised coefficients as the baseline one with the same tables, so the
 * two decodes are identical. */
static void
test_jpeg_progressive(void)
{
  enum { W = 45, H = 29 };
  uint8_t rgb[W * H * 3];
  for (int i = 0; i < W * H; i++) {
    int x = i % W, y = i / W;
    rgb[3 * i + 0] = (uint8_t)(x * 5);
    rgb[3 * i + 1] = (uint8_t)(y * 8);
    rgb[3 * i + 2] = (uint8_t)((x * y) & 255);
  }
  g_autoptr(GBytes) base = make_jpeg(W, H, 3, JCS_RGB, JCS_YCbCr, rgb, 90, FALSE);
  g_autoptr(GBytes) prog = make_jpeg(W, H, 3, JCS_RGB, JCS_YCbCr, rgb, 90, TRUE);
  g_assert_false(g_bytes_equal(base, prog));
  g_autoptr(VfImage) a = decode_bytes(base, "baseline.jpg");
  g_autoptr(VfImage) b = decode_bytes(prog, "progressive.jpg");
  g_assert_cmpmem(a->rgb, W * H * 3, b->rgb, W * H * 3);
}

/* ---- formats through libavcodec --------------------------------------------------------------------------- */

static VfImage *
load_ok(const char *source)
{
  g_autoptr(GError) error = NULL;
  VfImage *image = vf_image_load(source, &error);
  g_assert_no_error(error);
  return image;
}

/* BMP, TIFF (LZW), lossless WebP made by ffmpeg from rgb_37x23.png, and a GIF from a 64-colour palette PNG:
 * all lossless, so the pixels must equal the PNG's. */
static void
test_av_lossless_formats(void)
{
  g_autofree char *png = vf_test_data_path("images/rgb_37x23.png");
  g_autoptr(VfImage) want = load_ok(png);
  static const struct {
    const char *file;
    VfImageFormat format;
  } files[] = {
      {"images/rgb_37x23.bmp", VF_IMAGE_FORMAT_BMP},
      {"images/rgb_37x23.tiff", VF_IMAGE_FORMAT_TIFF},
      {"images/rgb_37x23_lossless.webp", VF_IMAGE_FORMAT_WEBP},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
    g_autofree char *path = vf_test_data_path(files[i].file);
    g_autoptr(GError) error = NULL;
    g_autoptr(VfImageFile) file = vf_image_file_open(path, &error);
    g_assert_no_error(error);
    g_assert_cmpint(vf_image_file_format(file), ==, files[i].format);
    g_assert_cmpuint(vf_image_file_width(file), ==, 37);
    g_assert_cmpuint(vf_image_file_height(file), ==, 23);
    g_autoptr(VfImage) got = vf_image_file_decode(file, &error);
    g_assert_no_error(error);
    g_assert_cmpmem(got->rgb, 37 * 23 * 3, want->rgb, 37 * 23 * 3);
  }
  g_autofree char *pal_png = vf_test_data_path("images/palette_41x29.png");
  g_autofree char *gif = vf_test_data_path("images/palette_41x29.gif");
  g_autoptr(VfImage) pal = load_ok(pal_png);
  g_autoptr(VfImage) from_gif = load_ok(gif);
  g_assert_cmpuint(from_gif->width, ==, 41);
  g_assert_cmpuint(from_gif->height, ==, 29);
  g_assert_cmpmem(from_gif->rgb, 41 * 29 * 3, pal->rgb, 41 * 29 * 3);
}

/* Lossy WebP (VP8, YUV 4:2:0) goes through libswscale; close to the source, channels in order. */
static void
test_av_lossy_webp(void)
{
  g_autofree char *png = vf_test_data_path("images/rgb_37x23.png");
  g_autofree char *webp = vf_test_data_path("images/rgb_37x23_lossy.webp");
  g_autoptr(VfImage) want = load_ok(png);
  g_autoptr(VfImage) got = load_ok(webp);
  double sum = 0;
  for (size_t i = 0; i < 37 * 23 * 3; i++)
    sum += abs((int)got->rgb[i] - want->rgb[i]);
  double mean = sum / (37 * 23 * 3);
  g_test_message("lossy WebP mean |diff| %.2f levels", mean);
  /* Chroma at half resolution on a 37×23 photo crop: a few levels on average; a swapped channel or a wrong
   * range would give tens. */
  g_assert_cmpfloat(mean, <, 6.0);
}

/* ---- sources ----------------------------------------------------------------------------------------------- */

static void
test_sources(void)
{
  g_autofree char *path = vf_test_data_path("images/rgb_37x23.png");
  g_autoptr(VfImage) want = load_ok(path);

  /* file:// is cut off, nothing else (no %-unquoting). */
  g_autofree char *uri = g_strconcat("file://", path, NULL);
  g_autoptr(VfImage) via_uri = load_ok(uri);
  g_assert_cmpmem(via_uri->rgb, 37 * 23 * 3, want->rgb, 37 * 23 * 3);

  /* data: URI, also with line breaks in the base64 (Python skips them). */
  g_autoptr(GBytes) bytes = read_bytes(path);
  g_autofree char *b64 = g_base64_encode(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
  g_autofree char *data_uri = g_strconcat("data:image/png;base64,", b64, NULL);
  g_autoptr(VfImage) via_data = load_ok(data_uri);
  g_assert_cmpmem(via_data->rgb, 37 * 23 * 3, want->rgb, 37 * 23 * 3);
  GString *wrapped = g_string_new("data:image/png;base64,");
  for (size_t i = 0; b64[i]; i++) {
    g_string_append_c(wrapped, b64[i]);
    if (i % 76 == 75)
      g_string_append(wrapped, "\r\n");
  }
  g_autofree char *wrapped_uri = g_string_free(wrapped, FALSE);
  g_autoptr(VfImage) via_wrapped = load_ok(wrapped_uri);
  g_assert_cmpmem(via_wrapped->rgb, 37 * 23 * 3, want->rgb, 37 * 23 * 3);

  /* The plan needs only the header, from any source. */
  VfImageProcessorConfig cfg;
  vf_image_processor_config_default(&cfg);
  VfImagePlan plan;
  g_autoptr(GError) error = NULL;
  g_assert_true(vf_image_plan_source(data_uri, NULL, &cfg, &plan, &error));
  g_assert_cmpuint(plan.width, ==, 37);
  /* 23×37 rounds to 28×28 < min_pixels: beta = sqrt(3136 / 851), ceil(23·beta / 28) = 2, ceil(37·beta / 28) = 3. */
  g_assert_cmpuint(plan.out_height, ==, 56);
  g_assert_cmpuint(plan.out_width, ==, 84);
  g_assert_cmpuint(plan.n_tokens, ==, 6);
}

/* ---- bad inputs ------------------------------------------------------------------------------------------- */

static uint32_t
crc32_png(const uint8_t *p, size_t n)
{
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++)
      c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
  }
  return ~c;
}

static void
put32be(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* A valid 1×1 grey PNG whose IHDR then claims w×h (CRC fixed): the header of a huge image with almost no data
 * behind it, so any attempt to decode it would fail as truncated/corrupt, never as too large. */
static char *
png_header_file(const char *name, uint32_t w, uint32_t h)
{
  static const PngCase grey = {PNG_COLOR_TYPE_GRAY, 8};
  uint8_t px[3];
  g_autoptr(GBytes) png = make_png(&grey, FALSE, 1, 1, px);
  size_t n = 0;
  const uint8_t *src = g_bytes_get_data(png, &n);
  g_assert_cmpuint(n, >=, 33);
  g_autofree uint8_t *d = g_malloc(n);
  memcpy(d, src, n);
  g_assert_cmpmem(d + 12, 4, "IHDR", 4);
  put32be(d + 16, w);
  put32be(d + 20, h);
  put32be(d + 29, crc32_png(d + 12, 17));
  return write_tmp(name, d, n);
}

/* The first chunk of `type` in a PNG: offset of its length field. */
static size_t
png_find_chunk(const uint8_t *d, size_t n, const char *type)
{
  for (size_t p = 8; p + 12 <= n;) {
    uint32_t len = (uint32_t)d[p] << 24 | d[p + 1] << 16 | d[p + 2] << 8 | d[p + 3];
    if (!memcmp(d + p + 4, type, 4))
      return p;
    p += 12 + len;
  }
  g_assert_not_reached();
}

static void
test_bad_inputs(void)
{
  g_autoptr(GError) error = NULL;
  VfImageProcessorConfig cfg;
  vf_image_processor_config_default(&cfg);

  /* Missing file. */
  g_autofree char *missing = g_build_filename(tmp_dir, "missing.png", NULL);
  g_assert_null(vf_image_load(missing, &error));
  assert_image_error(error, VF_IMAGE_ERROR_NOT_FOUND, "missing.png", "No such file");
  g_clear_error(&error);

  /* Zero bytes. */
  g_autofree char *empty = write_tmp("empty.png", "", 0);
  g_assert_null(vf_image_load(empty, &error));
  assert_image_error(error, VF_IMAGE_ERROR_EMPTY, "empty.png", "empty");
  g_clear_error(&error);

  /* Text named .png. */
  const char *text = "this is not a picture\n";
  g_autofree char *fake = write_tmp("fake.png", text, strlen(text));
  g_assert_null(vf_image_load(fake, &error));
  assert_image_error(error, VF_IMAGE_ERROR_UNKNOWN_FORMAT, "fake.png", "not an image");
  g_clear_error(&error);

  /* A PNG cut in the middle of its image data: the header reads, the decode finds the end. */
  g_autofree char *chelsea = vf_test_data_path("golden/cases/a02_image_photo/chelsea.png");
  g_autoptr(GBytes) png = read_bytes(chelsea);
  size_t png_n = 0;
  const uint8_t *png_d = g_bytes_get_data(png, &png_n);
  g_autofree char *cut_png = write_tmp("cut.png", png_d, png_n / 2);
  g_autoptr(VfImageFile) cut_file = vf_image_file_open(cut_png, &error);
  g_assert_no_error(error);
  g_assert_null(vf_image_file_decode(cut_file, &error));
  assert_image_error(error, VF_IMAGE_ERROR_TRUNCATED, "cut.png", "truncated PNG");
  g_clear_error(&error);

  /* One flipped bit in the CRC of the first IDAT chunk, then in IHDR's. */
  g_autofree uint8_t *bad_crc = g_memdup2(png_d, png_n);
  size_t idat = png_find_chunk(bad_crc, png_n, "IDAT");
  uint32_t idat_len = (uint32_t)bad_crc[idat] << 24 | bad_crc[idat + 1] << 16 | bad_crc[idat + 2] << 8 | bad_crc[idat + 3];
  bad_crc[idat + 8 + idat_len] ^= 0x10;
  g_autofree char *crc_png = write_tmp("crc.png", bad_crc, png_n);
  g_assert_null(vf_image_load(crc_png, &error));
  assert_image_error(error, VF_IMAGE_ERROR_CORRUPT, "crc.png", "CRC");
  g_clear_error(&error);
  bad_crc[idat + 8 + idat_len] ^= 0x10;
  bad_crc[8 + 8 + 13] ^= 0x01;
  g_autofree char *ihdr_crc_png = write_tmp("ihdr-crc.png", bad_crc, png_n);
  g_assert_null(vf_image_file_open(ihdr_crc_png, &error));
  assert_image_error(error, VF_IMAGE_ERROR_CORRUPT, "ihdr-crc.png", "CRC");
  g_clear_error(&error);

  /* Zero width. */
  g_autofree char *flat = png_header_file("flat.png", 0, 10);
  g_assert_null(vf_image_file_open(flat, &error));
  assert_image_error(error, VF_IMAGE_ERROR_CORRUPT, "flat.png", "width is zero");
  g_clear_error(&error);

  /* JPEG cut in half, and one whose SOF segment length is bogus. */
  g_autofree char *rocket = vf_test_data_path("golden/cases/a03_image_resized_hw/rocket.jpg");
  g_autoptr(GBytes) jpg = read_bytes(rocket);
  size_t jpg_n = 0;
  const uint8_t *jpg_d = g_bytes_get_data(jpg, &jpg_n);
  g_autofree char *cut_jpg = write_tmp("cut.jpg", jpg_d, jpg_n / 2);
  g_assert_null(vf_image_load(cut_jpg, &error));
  assert_image_error(error, VF_IMAGE_ERROR_TRUNCATED, "cut.jpg", "truncated JPEG");
  g_clear_error(&error);
  g_autofree uint8_t *bad_jpg = g_memdup2(jpg_d, jpg_n);
  size_t sof = 2;
  while (sof + 4 < jpg_n && !(bad_jpg[sof] == 0xff && (bad_jpg[sof + 1] == 0xc0 || bad_jpg[sof + 1] == 0xc2)))
    sof++;
  g_assert_cmpuint(sof + 4, <, jpg_n);
  bad_jpg[sof + 2] = 0;
  bad_jpg[sof + 3] = 2;
  g_autofree char *bogus_jpg = write_tmp("bogus.jpg", bad_jpg, jpg_n);
  g_assert_null(vf_image_load(bogus_jpg, &error));
  assert_image_error(error, VF_IMAGE_ERROR_CORRUPT, "bogus.jpg", "corrupt JPEG");
  g_clear_error(&error);

  /* A truncated BMP (libavcodec path). */
  g_autofree char *bmp = vf_test_data_path("images/rgb_37x23.bmp");
  g_autoptr(GBytes) bmp_bytes = read_bytes(bmp);
  g_autofree char *cut_bmp = write_tmp("cut.bmp", g_bytes_get_data(bmp_bytes, NULL), 200);
  g_assert_null(vf_image_load(cut_bmp, &error));
  assert_image_error(error, VF_IMAGE_ERROR_CORRUPT, "cut.bmp", "BMP");
  g_clear_error(&error);

  /* 60000×20: the size is fine, the shape is not; refused by the plan before any decode (a decode of this
   * header-only file would fail differently). */
  g_autofree char *wide = png_header_file("wide.png", 60000, 20);
  g_autoptr(VfImageFile) wide_file = vf_image_file_open(wide, &error);
  g_assert_no_error(error);
  VfImagePlan plan;
  g_assert_false(vf_image_plan_source(wide, NULL, &cfg, &plan, &error));
  assert_image_error(error, VF_IMAGE_ERROR_ASPECT_RATIO, "wide.png", "aspect ratio must be smaller than 200");
  g_clear_error(&error);
  g_assert_null(vf_image_input_new(wide, NULL, &cfg, &error));
  assert_image_error(error, VF_IMAGE_ERROR_ASPECT_RATIO, "wide.png", "aspect ratio");
  g_clear_error(&error);

  /* 30000×30000 (2.7 GB of RGB): refused from the header; peak memory does not move. */
  struct rusage before, after;
  getrusage(RUSAGE_SELF, &before);
  g_autofree char *huge = png_header_file("huge.png", 30000, 30000);
  g_assert_null(vf_image_file_open(huge, &error));
  assert_image_error(error, VF_IMAGE_ERROR_TOO_LARGE, "huge.png", "too large");
  g_clear_error(&error);
  g_assert_null(vf_image_input_new(huge, NULL, &cfg, &error));
  assert_image_error(error, VF_IMAGE_ERROR_TOO_LARGE, "huge.png", "30000×30000");
  g_clear_error(&error);
  getrusage(RUSAGE_SELF, &after);
  g_assert_cmpint(after.ru_maxrss - before.ru_maxrss, <, 64 * 1024); /* KiB */
  /* A side over the limit alone is refused as well. */
  g_autofree char *tall = png_header_file("tall.png", 10, 70000);
  g_assert_null(vf_image_file_open(tall, &error));
  assert_image_error(error, VF_IMAGE_ERROR_TOO_LARGE, "tall.png", "65500");
  g_clear_error(&error);

  /* Malformed data URIs; a well-formed one of non-image bytes. (http(s) sources: test_image_url.c.) */
  g_assert_null(vf_image_load("data:image/png,iVBORw0KGgo", &error));
  assert_image_error(error, VF_IMAGE_ERROR_BAD_URI, "data:image/png,iVBORw0KGgo", "malformed data URI");
  g_clear_error(&error);
  g_assert_null(vf_image_load("data:image/png;base64,iVBORw0KGgo", &error));
  assert_image_error(error, VF_IMAGE_ERROR_BAD_URI, "data:image/png;base64", "padding");
  g_clear_error(&error);
  g_assert_null(vf_image_load("data:image/png;base64,iVBORw0KG", &error));
  assert_image_error(error, VF_IMAGE_ERROR_BAD_URI, "data:image/png;base64", "multiple of 4");
  g_clear_error(&error);
  g_assert_null(vf_image_load("data:image/png;base64,aGVsbG8gd29ybGQ=", &error));
  assert_image_error(error, VF_IMAGE_ERROR_UNKNOWN_FORMAT, "data:image/png;base64", "not an image");
  g_clear_error(&error);
  g_assert_null(vf_image_load("data:image/png;base64,", &error));
  assert_image_error(error, VF_IMAGE_ERROR_EMPTY, "data:image/png;base64", "empty");
  g_clear_error(&error);
}

/* Bad bytes never crash or abort: every format's file, cut at many lengths and with random bytes changed,
 * either decodes to an image of the header's size or fails with a VF_IMAGE_ERROR that names it. */
static void
test_corruption_sweep(void)
{
  static const char *const files[] = {
      "images/rgb_37x23.png",  "images/palette_41x29.gif",       "images/rgb_37x23.bmp",
      "images/rgb_37x23.tiff", "images/rgb_37x23_lossless.webp", "images/rgb_37x23_lossy.webp",
      "golden/cases/preproc_default/rgb_301x217.jpg",
  };
  rng_state = 777;
  int decoded = 0, refused = 0;
  for (size_t f = 0; f < G_N_ELEMENTS(files); f++) {
    g_autofree char *path = vf_test_data_path(files[f]);
    g_autoptr(GBytes) bytes = read_bytes(path);
    size_t n = 0;
    const uint8_t *d = g_bytes_get_data(bytes, &n);
    for (int variant = 0; variant < 40; variant++) {
      g_autofree uint8_t *copy = g_malloc(n);
      memcpy(copy, d, n);
      size_t len = n;
      if (variant < 20) {
        len = n * variant / 20; /* cut */
      } else {
        for (int k = 0; k < 1 + variant % 4; k++) /* flips, some inside the header */
          copy[(variant & 1 ? rng() % 64 : rng()) % n] ^= (uint8_t)(1 + rng() % 255);
      }
      g_autoptr(GBytes) bad = g_bytes_new(copy, len);
      g_autoptr(GError) error = NULL;
      g_autoptr(VfImageFile) file = vf_image_file_open_bytes(bad, "damaged", &error);
      g_autoptr(VfImage) image = file ? vf_image_file_decode(file, &error) : NULL;
      if (image) {
        g_assert_no_error(error);
        g_assert_cmpuint(image->width, ==, vf_image_file_width(file));
        decoded++;
      } else {
        g_assert_nonnull(error);
        g_assert_true(error->domain == VF_IMAGE_ERROR);
        g_assert_nonnull(strstr(error->message, "damaged"));
        refused++;
      }
    }
  }
  g_test_message("%d damaged files decoded anyway, %d refused", decoded, refused);
}

static void
remove_tmp_dir(void)
{
  GDir *dir = g_dir_open(tmp_dir, 0, NULL);
  const char *name;
  while (dir && (name = g_dir_read_name(dir))) {
    g_autofree char *path = g_build_filename(tmp_dir, name, NULL);
    g_remove(path);
  }
  if (dir)
    g_dir_close(dir);
  g_rmdir(tmp_dir);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_autoptr(GError) error = NULL;
  tmp_dir = g_dir_make_tmp("vf-image-XXXXXX", &error);
  g_assert_no_error(error);
  g_test_add_func("/image/png-modes", test_png_modes);
  g_test_add_func("/image/jpeg-grey", test_jpeg_grey);
  g_test_add_func("/image/jpeg-cmyk", test_jpeg_cmyk);
  g_test_add_func("/image/jpeg-progressive", test_jpeg_progressive);
  g_test_add_func("/image/jpeg-damaged", test_jpeg_damaged);
  g_test_add_func("/image/jpeg-bombs", test_jpeg_bombs);
  g_test_add_func("/image/av-lossless-formats", test_av_lossless_formats);
  g_test_add_func("/image/av-lossy-webp", test_av_lossy_webp);
  g_test_add_func("/image/sources", test_sources);
  g_test_add_func("/image/bad-inputs", test_bad_inputs);
  g_test_add_func("/image/corruption-sweep", test_corruption_sweep);
  int rc = g_test_run();
  remove_tmp_dir();
  g_free(tmp_dir);
  return rc;
}
