/* VfGrid: the size of an image or video in 14-px patches. Type-only: media plans it, the vision tower and
 * the M-RoPE positions (net/) read it. */
#pragma once

#include <stdint.h>

/* t temporal slices (frames / 2), h rows, w columns. */
typedef struct {
  uint32_t t, h, w;
} VfGrid;
