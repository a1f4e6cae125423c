/* Video containers through FFmpeg (vf_video_decode): open, demux-only frame count, and the first frame when
 * the video is at most 1 megapixel. Errors are fine; crashes, leaks and undefined behaviour in our code are
 * not (FFmpeg itself is not instrumented). */
#include <string.h>

#include "fuzz_common.h"
#include "vf_video_decode.h"

static gboolean
ignore_frame(uint32_t slot, const uint8_t *rgb, size_t stride, void *user, GError **error)
{
  const VfVideoInfo *info = user;
  /* Touch the row ends: the frame must be as large as the info says. */
  volatile uint8_t last = rgb[(size_t)(info->height - 1) * stride + (size_t)info->width * 3 - 1];
  (void)last;
  return TRUE;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *path = fuzz_write_file("input.video", data, size);
  GError *error = NULL;
  VfVideoFile *file = vf_video_file_open(path, &error);
  if (file && vf_video_file_count_packets(file, NULL, &error)) {
    const VfVideoInfo *info = vf_video_file_info(file);
    if ((uint64_t)info->width * info->height <= (1u << 20) && info->n_frames > 0) {
      const uint32_t first = 0;
      gboolean complete = TRUE;
      vf_video_file_read_frames(file, &first, 1, ignore_frame, (void *)info, NULL, &complete, NULL, &error);
    }
  }
  g_clear_error(&error);
  if (file)
    vf_video_file_free(file);
  return 0;
}
