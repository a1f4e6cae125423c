/* VfTurnStats: what one answered turn cost. Type-only (GLib, no Vulkan), so the widgets can show it. */
#pragma once

#include <glib.h>
#include <stdint.h>

typedef struct {
  uint32_t prompt_tokens;    /* the whole conversation's prompt, tokens */
  uint32_t prefilled_tokens; /* of those, run this turn (the rest came from the cache) */
  double prefill_seconds;
  uint32_t generated_tokens;
  double decode_seconds;     /* from the first to the last generated token */
  gboolean finished_with_eos;
  gboolean stopped;          /* cancelled; the partial answer was kept */
} VfTurnStats;
