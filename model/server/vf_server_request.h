/* One OpenAI chat-completion request, parsed and checked (POST /v1/chat/completions), and the JSON the server
 * answers with. No HTTP here (so the fuzz target and the unit tests drive it alone):
 *
 *   {"model": "tiny-a", "messages": [...vf_chat_json.h's strict form...],
 *    "max_tokens" | "max_completion_tokens": N, "temperature": T (0: greedy), "top_p": P, "top_k": K, "seed": S,
 *    "stop": "s" | ["s", …], "repetition_penalty": R, "n": 1,
 *    "stream": true, "stream_options": {"include_usage": true}, "ignore_eos": true (vLLM's, for benchmarks)}
 *
 * Members the server does not know are ignored, as OpenAI's clients send many (user, metadata, …); those
 * asking for something it does not do (n > 1, logprobs, tools, frequency/presence penalties) are refused.
 *
 * Media policy, per client: data: URIs always; http(s) URLs for loopback clients, and for others only when the
 * server allows it; local files (paths, file://) only when the server allows them. So a remote client cannot
 * make the server read its host's files or reach its network. */
#pragma once

#include <glib.h>

#include "vf_chat.h"
#include "vf_sampler.h"

#define VF_SERVER_ERROR (vf_server_error_quark())
GQuark vf_server_error_quark(void);

/* The codes are the HTTP statuses they answer with. */
typedef enum {
  VF_SERVER_ERROR_BAD_REQUEST = 400,   /* malformed JSON, wrong types, unsupported values, prompt over the context */
  VF_SERVER_ERROR_UNAUTHORIZED = 401,  /* no or a wrong API key */
  VF_SERVER_ERROR_NOT_FOUND = 404,     /* no such path, or a model this server does not serve */
  VF_SERVER_ERROR_TOO_LARGE = 413,     /* a body over VF_SERVER_MAX_BODY */
  VF_SERVER_ERROR_UNPROCESSABLE = 422, /* a picture or video that cannot be read (a 404 URL, a broken file) */
  VF_SERVER_ERROR_BUSY = 429,          /* the queue is full */
  VF_SERVER_ERROR_UNAVAILABLE = 503,   /* the model cannot answer now (device lost, out of memory, stopping) */
} VfServerError;

/* Request bodies: pictures as data: URIs make them large, but not without bound. */
#define VF_SERVER_MAX_BODY ((gsize)64 << 20)

typedef struct {
  const char *model_name;       /* what /v1/models lists; a request naming another model gets 404 */
  gboolean loopback_client;     /* the request came from 127.0.0.0/8 or ::1 */
  gboolean allow_local_files;   /* paths and file:// URLs (--allow-local-files) */
  gboolean remote_media_fetch;  /* http(s) media for non-loopback clients (--remote-media-fetch) */
  uint32_t max_images;          /* pictures per request */
  uint32_t max_video_frames;    /* frames of each video: a frame list's length, a file's sampled frames */
  uint32_t max_tokens;          /* the largest max_tokens a request may ask; also the default */
  VfSamplerParams default_sampling; /* the model's generation_config.json (temperature etc. not given) */
} VfServerPolicy;

typedef struct {
  VfChat *chat;             /* ends with a user message */
  uint32_t max_tokens;
  VfSamplerParams sampling;
  gboolean stream;
  gboolean include_usage;   /* stream_options.include_usage */
  char **stop;              /* NULL-terminated, non-empty strings; NULL: none */
  gboolean ignore_eos;      /* vLLM's "ignore_eos": decode to max_tokens (benchmarks) */
} VfServerRequest;

/* `body`: `len` bytes (not NUL-terminated). Errors are VF_SERVER_ERROR with the status as the code and a
 * message naming the member (and for messages, the message and part). */
VfServerRequest *vf_server_request_parse(const char *body, gsize len, const VfServerPolicy *policy, GError **error);
void vf_server_request_free(VfServerRequest *request);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfServerRequest, vf_server_request_free)

/* ---- answers (UTF-8 JSON text; the answer's bytes may hold NUL, written as \u0000) ---------------------- */

typedef struct {
  const char *id;           /* "chatcmpl-…" */
  gint64 created;           /* Unix seconds */
  const char *model;
} VfServerReply;

typedef struct {
  uint32_t prompt_tokens, completion_tokens;
  uint32_t cached_tokens; /* of the prompt, already in the KV cache (usage.prompt_tokens_details) */
} VfServerUsage;

/* `finish_reason`: "stop" or "length". */
char *vf_server_reply_completion(const VfServerReply *reply, const char *text, gsize len, const char *finish_reason,
                                 const VfServerUsage *usage);
/* One SSE event, "data: {…chat.completion.chunk…}\n\n": the role (first chunk), a piece of content, or the
 * finish reason (text NULL, finish_reason given). with_usage_null: include_usage asks "usage": null on these. */
char *vf_server_reply_chunk(const VfServerReply *reply, gboolean role, const char *text, gsize len,
                            const char *finish_reason, gboolean with_usage_null);
/* The include_usage chunk: empty choices and the usage. */
char *vf_server_reply_usage_chunk(const VfServerReply *reply, const VfServerUsage *usage);
/* {"error": {"message", "type", "param", "code"}} for `error` (any domain: VF_SERVER_ERROR's codes keep their
 * status, others are 500). *status gets the HTTP status. */
char *vf_server_reply_error(const GError *error, guint *status);
/* The status and type an engine error answers with: the prompt over the context 400, media 422, a lost
 * device or no memory 503, others 500. Takes `error`, returns it in VF_SERVER_ERROR (500 stays as it is). */
GError *vf_server_error_from_engine(GError *error);
