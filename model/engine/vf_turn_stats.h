/* VfTurnStats: what one answered turn cost. Type-only (GLib, no Vulkan), so the widgets can show it. */
#pragma once

#include <glib.h>
#include <stdint.h>

/* Why an answer ended. */
typedef enum {
  VF_STOP_EOS,          /* the model ended it (an eos token) */
  VF_STOP_TOKEN_LIMIT,  /* max_new_tokens reached */
  VF_STOP_CONTEXT_FULL, /* the KV cache is full */
  VF_STOP_CANCELLED,    /* the cancellable was cancelled (a Stop button, a signal) */
} VfStopReason;

/* "eos", "token_limit", "context_full", "stopped": the spelling of the CLI's JSON and the history's stats. */
const char *vf_stop_reason_name(VfStopReason reason);

typedef struct {
  uint32_t prompt_tokens;    /* the whole conversation's prompt, tokens */
  uint32_t prefilled_tokens; /* of those, run this turn (the rest came from the cache) */
  double preprocess_seconds;  /* attachments not cached: decoding (what was not kept), resizing, patchifying */
  double encode_seconds;      /* their vision encode */
  double prefill_seconds;
  uint32_t generated_tokens;
  double decode_seconds;     /* from the first to the last generated token */
  gboolean finished_with_eos;
  gboolean stopped;          /* cancelled; the partial answer was kept */
  VfStopReason stop_reason;
} VfTurnStats;
