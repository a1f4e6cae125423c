/* A large picture for tests that need one (a stop during a long vision encode): a 24-bit BMP with a gradient,
 * written without an encoder. Header-only, so the UI test (which links no test library) shares it. */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <string.h>

/* DIR/name, width × height; free with g_free. */
static inline char *
vf_test_write_bmp(const char *dir, const char *name, uint32_t width, uint32_t height)
{
  uint32_t row = (width * 3 + 3) & ~3u, size = 54 + row * height;
  uint8_t *bmp = g_malloc0(size);
  uint32_t offset = 54, info = 40, planes_bits = 1u | 24u << 16;
  bmp[0] = 'B', bmp[1] = 'M';
  memcpy(bmp + 2, &size, 4);
  memcpy(bmp + 10, &offset, 4);
  memcpy(bmp + 14, &info, 4);
  memcpy(bmp + 18, &width, 4);
  memcpy(bmp + 22, &height, 4);
  memcpy(bmp + 26, &planes_bits, 4);
  for (uint32_t y = 0; y < height; y++)
    for (uint32_t x = 0; x < width; x++) {
      uint8_t *px = bmp + 54 + (size_t)y * row + x * 3;
      px[0] = (uint8_t)x, px[1] = (uint8_t)y, px[2] = (uint8_t)(x ^ y);
    }
  char *path = g_build_filename(dir, name, NULL);
  g_assert_true(g_file_set_contents(path, (const char *)bmp, size, NULL));
  g_free(bmp);
  return path;
}
