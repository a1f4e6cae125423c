/* Every picture format (PNG, JPEG, WebP, BMP, TIFF, GIF) from bytes: the header, then, for pictures of at
 * most 2 megapixels (a bigger header costs decode time, not coverage; the bomb path has its own unit test),
 * the whole decode and the banded decode-and-resize, which must give the same bytes as resizing the whole
 * decode. Errors are fine; crashes, leaks and undefined behaviour are not. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "vf_image.h"
#include "vf_resample.h"

#define MAX_DECODED_PIXELS (2u << 20)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  GBytes *bytes = g_bytes_new(data, size);
  GError *error = NULL;
  VfImageFile *file = vf_image_file_open_bytes(bytes, "fuzz", &error);
  g_bytes_unref(bytes);
  if (!file) {
    g_clear_error(&error);
    return 0;
  }
  uint32_t w = vf_image_file_width(file), h = vf_image_file_height(file);
  if ((uint64_t)w * h <= MAX_DECODED_PIXELS) {
    VfImage *whole = vf_image_file_decode(file, &error);
    g_clear_error(&error);
    uint32_t ow = MAX(1u, w / 3), oh = MAX(1u, h / 2 + 1);
    VfImage *banded = vf_image_file_decode_resized(file, ow, oh, &error);
    g_clear_error(&error);
    if (whole && banded) {
      uint8_t *want = g_malloc((size_t)ow * oh * 3);
      g_assert(vf_resample_bicubic_rgb8(whole->rgb, w, h, want, ow, oh, NULL));
      if (memcmp(want, banded->rgb, (size_t)ow * oh * 3) != 0) {
        fprintf(stderr, "banded decode-and-resize differs from decode then resize (%u×%u → %u×%u)\n", w, h, ow, oh);
        abort();
      }
      g_free(want);
    }
    vf_image_free(whole);
    vf_image_free(banded);
    vf_image_file_damage(file);
  }
  vf_image_file_free(file);
  return 0;
}
