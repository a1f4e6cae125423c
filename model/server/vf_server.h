/* VfServer: an OpenAI-compatible HTTP server over one loaded model (libsoup 3).
 *
 *   POST /v1/chat/completions   vf_server_request.h; an answer, or SSE chunks with "stream": true
 *   GET  /v1/models             the one model, by its name
 *   GET  /health                {"status": "ok", "active": answers going, "waiting": requests queued}
 *
 * Threads: the SoupServer runs on the main context of the thread that made it (the caller iterates it); one
 * worker thread owns the model and answers up to max_concurrent requests together, each in a KV-cache sequence
 * of its own (continuous batching): the live answers share each decode step (the weights read once for all), a
 * new request is prefilled between steps and joins, a finished one leaves. A request whose messages extend
 * the conversation a sequence holds (an earlier request's messages and its answer) goes to that sequence and
 * prefills only what is new; otherwise the least recently used free sequence takes it. Pieces of answers go
 * back to the main context; a client that disconnects cancels its answer (it ends after the step under way).
 * At most max_queue requests wait for a sequence; more get 429.
 *
 * Safety: any address other than loopback needs an API key (checked in constant time, "Authorization: Bearer
 * KEY"); bodies over VF_SERVER_MAX_BODY get 413 from their Content-Length before the body is read; the media
 * policy and the per-request limits of vf_server_request.h apply per client. */
#pragma once

#include <gio/gio.h>

#include "vf_model.h"
#include "vf_tokenizer.h"

typedef struct VfServer VfServer;

typedef struct {
  VfModel *model;              /* loaded with max_concurrent sequences; outlives the server */
  VfTokenizer *tok;            /* outlives the server */
  const char *model_name;      /* /v1/models' id; requests naming another model get 404 */
  const char *host;            /* "127.0.0.1", "::1", "0.0.0.0", … */
  guint port;                  /* 0: a free port (vf_server_port) */
  const char *api_key;         /* NULL: none, only for loopback hosts */
  gboolean allow_local_files;
  gboolean remote_media_fetch;
  uint32_t max_queue;          /* requests waiting for a sequence */
  uint32_t max_images, max_video_frames, max_tokens; /* per request (vf_server_request.h) */
  /* Optional: one line per finished request ("POST /v1/chat/completions 200 …"), on the main context. */
  void (*on_log)(const char *line, void *user);
  void *log_user;
} VfServerOptions;

/* Listens before it returns. Errors: the address (G_IO_ERROR), or a non-loopback host without an API key
 * (G_IO_ERROR_INVALID_ARGUMENT). */
VfServer *vf_server_new(const VfServerOptions *options, GError **error);
guint vf_server_port(const VfServer *server);
/* Sequences answering now and requests waiting (for tests and the log). */
void vf_server_load(VfServer *server, uint32_t *active, uint32_t *waiting);
/* Stops listening, cancels every answer, joins the worker. */
void vf_server_free(VfServer *server);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfServer, vf_server_free)
