/* M-RoPE position ids for a prompt: transformers' get_rope_index (spec §8.4). */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "vf_config.h"
#include "vf_grid.h"

/* Positions of one unpadded row of `n` tokens: positions is [3, n] (t, h, w streams, stream-major).
 * Each `<|vision_start|>` directly followed by an image (video) pad starts a vision block that takes the next
 * image (video) grid; the block's lt·lh·lw tokens (lh = h / merge, lw = w / merge) must all be pads.
 * *delta = max(position) + 1 − n. *images_used / *videos_used say how many grids were consumed.
 * Errors: fewer grids than blocks, or a block whose pad count does not match its grid. */
gboolean vf_positions_compute(const VfConfig *config, const int32_t *ids, uint32_t n, const VfGrid *images,
                              uint32_t n_images, const VfGrid *videos, uint32_t n_videos, int32_t *positions,
                              int32_t *delta, uint32_t *images_used, uint32_t *videos_used, GError **error);

/* The same for a left-padded batch row of padded length `n` whose first `pad` tokens are padding: padded
 * slots get 1 on all streams and delta = max + 1 − n (spec §8.6). */
gboolean vf_positions_compute_padded(const VfConfig *config, const int32_t *ids, uint32_t n, uint32_t pad,
                                     const VfGrid *images, uint32_t n_images, const VfGrid *videos,
                                     uint32_t n_videos, int32_t *positions, int32_t *delta,
                                     uint32_t *images_used, uint32_t *videos_used, GError **error);
