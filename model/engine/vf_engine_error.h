/* The engine's error domain: what a turn, a count or a load can fail with at run time, as codes the app words
 * its messages by (the message itself keeps the detail of the layer that failed). Type-only: the widgets
 * include it without any of the engine. Stops are G_IO_ERROR_CANCELLED, as everywhere in GIO. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define VF_ENGINE_ERROR (vf_engine_error_quark())
GQuark vf_engine_error_quark(void);

typedef enum {
  VF_ENGINE_ERROR_NO_MODEL,      /* a request that needs a loaded model came first */
  VF_ENGINE_ERROR_OUT_OF_MEMORY, /* the device (or host) ran out of memory: smaller inputs may fit */
  VF_ENGINE_ERROR_CONTEXT_FULL,  /* the prompt does not fit the KV cache: a new chat or fewer visual tokens */
  VF_ENGINE_ERROR_DEVICE_LOST,   /* the GPU was lost (driver reset, hang): the model must be opened again */
  VF_ENGINE_ERROR_MEDIA,         /* a picture or video could not be read, or changed since it was attached */
  VF_ENGINE_ERROR_NO_ANSWER,     /* continue: the conversation does not end with an answer */
} VfEngineError;

/* Runtime failures of any layer (device memory, a lost device, a media file) as the engine's codes, with the
 * message kept; other errors (a broken config.json, a malformed prompt) come back as they are. Takes `error`. */
GError *vf_engine_error_classify(GError *error);

G_END_DECLS
