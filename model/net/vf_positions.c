/* get_rope_index for text, images and videos. */
#define G_LOG_DOMAIN "vf-positions"

#include "vf_positions.h"

#include <string.h>

static gboolean
fill(const VfConfig *c, const int32_t *ids, uint32_t n, const VfGrid *images, uint32_t n_images,
     const VfGrid *videos, uint32_t n_videos, int32_t *pt, int32_t *ph, int32_t *pw, int32_t *max_out,
     uint32_t *images_used, uint32_t *videos_used, GError **error)
{
  uint32_t merge = c->vision.merge_size ? c->vision.merge_size : 2;
  uint32_t img = 0, vid = 0;
  int32_t next = 0; /* max position so far + 1 */
  uint32_t i = 0;
  while (i < n) {
    bool block = ids[i] == c->vision_start_id && i + 1 < n &&
                 (ids[i + 1] == c->image_pad_id || ids[i + 1] == c->video_pad_id);
    /* Text token (vision_start included). */
    pt[i] = ph[i] = pw[i] = next;
    next++;
    i++;
    if (!block)
      continue;
    bool is_image = ids[i] == c->image_pad_id;
    const VfGrid *g;
    if (is_image) {
      if (img >= n_images) {
        g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_MALFORMED,
                    "the prompt has more image blocks than the %u image(s) given", n_images);
        return FALSE;
      }
      g = &images[img++];
    } else {
      if (vid >= n_videos) {
        g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_MALFORMED,
                    "the prompt has more video blocks than the %u video(s) given", n_videos);
        return FALSE;
      }
      g = &videos[vid++];
    }
    uint32_t lt = g->t, lh = g->h / merge, lw = g->w / merge;
    uint64_t count = (uint64_t)lt * lh * lw;
    int32_t pad = is_image ? c->image_pad_id : c->video_pad_id;
    for (uint64_t k = 0; k < count; k++) {
      if (i + k >= n || ids[i + k] != pad) {
        g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_MALFORMED,
                    "%s %u needs %" G_GUINT64_FORMAT " pad tokens (grid %u×%u×%u) but the prompt has fewer",
                    is_image ? "image" : "video", is_image ? img : vid, count, g->t, g->h, g->w);
        return FALSE;
      }
    }
    int32_t base = next;
    uint64_t k = 0;
    for (uint32_t t = 0; t < lt; t++)
      for (uint32_t h = 0; h < lh; h++)
        for (uint32_t w = 0; w < lw; w++, k++) {
          pt[i + k] = base + (int32_t)t;
          ph[i + k] = base + (int32_t)h;
          pw[i + k] = base + (int32_t)w;
        }
    next = base + (int32_t)MAX(lt, MAX(lh, lw));
    i += (uint32_t)count;
  }
  *max_out = next - 1;
  if (images_used)
    *images_used = img;
  if (videos_used)
    *videos_used = vid;
  return TRUE;
}

gboolean
vf_positions_compute(const VfConfig *config, const int32_t *ids, uint32_t n, const VfGrid *images,
                     uint32_t n_images, const VfGrid *videos, uint32_t n_videos, int32_t *positions,
                     int32_t *delta, uint32_t *images_used, uint32_t *videos_used, GError **error)
{
  return vf_positions_compute_padded(config, ids, n, 0, images, n_images, videos, n_videos, positions, delta,
                                     images_used, videos_used, error);
}

gboolean
vf_positions_compute_padded(const VfConfig *config, const int32_t *ids, uint32_t n, uint32_t pad,
                            const VfGrid *images, uint32_t n_images, const VfGrid *videos, uint32_t n_videos,
                            int32_t *positions, int32_t *delta, uint32_t *images_used, uint32_t *videos_used,
                            GError **error)
{
  g_return_val_if_fail(pad <= n, FALSE);
  int32_t *pt = positions, *ph = positions + n, *pw = positions + 2 * (size_t)n;
  for (uint32_t i = 0; i < pad; i++)
    pt[i] = ph[i] = pw[i] = 1;
  int32_t max = -1;
  if (!fill(config, ids + pad, n - pad, images, n_images, videos, n_videos, pt + pad, ph + pad, pw + pad, &max,
            images_used, videos_used, error))
    return FALSE;
  if (pad > 0 && max < 1)
    max = 1;
  *delta = max + 1 - (int32_t)n;
  return TRUE;
}
