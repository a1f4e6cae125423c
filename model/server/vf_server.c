/* The OpenAI-compatible server: HTTP on the main context, one worker thread scheduling the answers. See
 * vf_server.h. */
#define G_LOG_DOMAIN "viewfinder-server"

#include "vf_server.h"

#include <libsoup/soup.h>
#include <string.h>

#include "vf_chat_json.h"
#include "vf_server_request.h"
#include "vf_session.h"
#include "vf_stop_text.h"

/* ---------------------------------------------------------------------------------------------------
 * Jobs: one request from the handler to its last byte. Reference counted (g_atomic_rc_box); the last
 * reference is always dropped on the main context, so the message and its signal handler are only touched
 * there. Fields marked (main) belong to the main context, (worker) to the worker thread.
 * ------------------------------------------------------------------------------------------------- */

typedef struct {
  VfServer *server;
  SoupServerMessage *msg;
  VfServerRequest *request;
  GCancellable *cancel;     /* the client went away, a stop string was found, or the server stops */
  char id[48];              /* "chatcmpl-…" */
  gint64 created;           /* Unix seconds */
  gint64 start_us;          /* monotonic, for the log */
  gulong finished_handler;  /* (main) */
  GSource *hangup;          /* (main) watches the client's socket for its end while nothing is written */
  gboolean gone;            /* (main) the response is complete or the client went away */
  gboolean headers_sent;    /* (main) streaming started */
  VfStopText *stop;         /* (worker) */
  gboolean role_sent;       /* (worker) the first chunk (with the role) was posted */
  gboolean hit_stop;        /* (worker) */
} Job;

typedef struct {
  Job *job;
  VfSessionTurn *turn;
  uint64_t last_used; /* LRU order over sequences */
} Slot;

struct VfServer {
  VfServerOptions opts;
  char *model_name, *api_key, *host;
  SoupServer *soup;
  GMainContext *context;
  guint port;
  uint32_t nseq;
  VfSession **sessions; /* [nseq], on sequence i; (worker) once it runs */
  Slot *slots;          /* [nseq] (worker) */
  uint64_t clock;       /* (worker) */
  VfSamplerParams default_sampling;
  GThread *worker;
  GAsyncQueue *queue;   /* Job * (each holding a reference), or &stop_marker */
  gint waiting;         /* jobs in the queue */
  gint active;          /* slots answering */
  gboolean stopping;    /* (main) */
  GHashTable *jobs;     /* (main) Job * → the reference of the handler, until the response ends */
  guint64 next_id;      /* (main) */
};

static char stop_marker;

static void
job_clear(gpointer data)
{
  Job *job = data;
  if (job->finished_handler)
    g_signal_handler_disconnect(job->msg, job->finished_handler);
  if (job->hangup)
    g_source_destroy(job->hangup);
  g_clear_pointer(&job->hangup, g_source_unref);
  g_clear_object(&job->msg);
  vf_server_request_free(job->request);
  g_clear_object(&job->cancel);
  g_clear_pointer(&job->stop, vf_stop_text_free);
}

static Job *
job_ref(Job *job)
{
  return g_atomic_rc_box_acquire(job);
}

static void
job_unref(Job *job)
{
  g_atomic_rc_box_release_full(job, job_clear);
}

/* ---------------------------------------------------------------------------------------------------
 * Posts: what the worker hands to the main context
 * ------------------------------------------------------------------------------------------------- */

typedef enum {
  POST_CHUNK,    /* SSE events to append */
  POST_STREAM_END, /* the last SSE events; the response ends */
  POST_COMPLETE, /* the whole JSON answer */
  POST_ERROR,    /* an error JSON with its status (or an SSE error event once streaming started) */
  POST_DROP,     /* nothing to send (the client went away): only the worker's reference comes back */
} PostKind;

typedef struct {
  Job *job; /* a reference */
  PostKind kind;
  char *data;
  gsize len;
  guint status;
  char *log;
} Post;

static void
post_free(gpointer data)
{
  Post *post = data;
  job_unref(post->job);
  g_free(post->data);
  g_free(post->log);
  g_free(post);
}

static void
send_json(SoupServerMessage *msg, guint status, char *json)
{
  soup_server_message_set_status(msg, status, NULL);
  soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_TAKE, json, strlen(json));
}

/* The response ended (or the client went away): the handler's reference goes. */
static void
job_end(Job *job)
{
  job->gone = TRUE;
  if (job->finished_handler) {
    g_signal_handler_disconnect(job->msg, job->finished_handler);
    job->finished_handler = 0;
  }
  if (job->hangup) {
    g_source_destroy(job->hangup);
    g_clear_pointer(&job->hangup, g_source_unref);
  }
  g_hash_table_remove(job->server->jobs, job);
}

static void
start_stream(Job *job)
{
  if (job->headers_sent)
    return;
  job->headers_sent = TRUE;
  soup_server_message_set_status(job->msg, SOUP_STATUS_OK, NULL);
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(job->msg);
  soup_message_headers_set_encoding(headers, SOUP_ENCODING_CHUNKED);
  soup_message_headers_set_content_type(headers, "text/event-stream", NULL);
  soup_message_headers_replace(headers, "Cache-Control", "no-cache");
}

static gboolean
deliver(gpointer data)
{
  Post *post = data;
  Job *job = post->job;
  if (post->log && job->server->opts.on_log)
    job->server->opts.on_log(post->log, job->server->opts.log_user);
  if (job->gone)
    return G_SOURCE_REMOVE;
  SoupMessageBody *body = soup_server_message_get_response_body(job->msg);
  switch (post->kind) {
  case POST_CHUNK:
  case POST_STREAM_END:
    start_stream(job);
    soup_message_body_append(body, SOUP_MEMORY_COPY, post->data, post->len);
    if (post->kind == POST_STREAM_END)
      soup_message_body_complete(body);
    break;
  case POST_COMPLETE:
    soup_server_message_set_status(job->msg, SOUP_STATUS_OK, NULL);
    soup_server_message_set_response(job->msg, "application/json", SOUP_MEMORY_COPY, post->data, post->len);
    break;
  case POST_ERROR:
    if (job->headers_sent) {
      g_autofree char *event = g_strdup_printf("data: %s\n\ndata: [DONE]\n\n", post->data);
      soup_message_body_append(body, SOUP_MEMORY_COPY, event, strlen(event));
      soup_message_body_complete(body);
    } else {
      send_json(job->msg, post->status, g_strdup(post->data));
    }
    break;
  case POST_DROP:
    break;
  }
  soup_server_message_unpause(job->msg);
  if (post->kind != POST_CHUNK)
    job_end(job);
  return G_SOURCE_REMOVE;
}

/* Worker: hands `data` (taken) to the main context. */
static void
post(Job *job, PostKind kind, char *data, gsize len, guint status, char *log)
{
  Post *p = g_new0(Post, 1);
  p->job = job_ref(job);
  p->kind = kind;
  p->data = data;
  p->len = len;
  p->status = status;
  p->log = log;
  g_main_context_invoke_full(job->server->context, G_PRIORITY_DEFAULT, deliver, p, post_free);
}

/* ---------------------------------------------------------------------------------------------------
 * Worker: the scheduler
 * ------------------------------------------------------------------------------------------------- */

static VfServerReply
reply_of(const Job *job)
{
  return (VfServerReply){.id = job->id, .created = job->created, .model = job->server->model_name};
}

static void
on_text(const char *piece, size_t len, void *user)
{
  Job *job = user;
  const char *ready;
  gsize ready_len;
  if (vf_stop_text_feed(job->stop, piece, len, &ready, &ready_len) && !job->hit_stop) {
    job->hit_stop = TRUE;
    g_cancellable_cancel(job->cancel);
  }
  if (!job->request->stream || ready_len == 0)
    return;
  VfServerReply reply = reply_of(job);
  char *chunk = vf_server_reply_chunk(&reply, !job->role_sent, ready, ready_len, NULL, job->request->include_usage);
  job->role_sent = TRUE;
  post(job, POST_CHUNK, chunk, strlen(chunk), 0, NULL);
}

static char *
log_line(const Job *job, guint status, const char *what)
{
  return g_strdup_printf("POST /v1/chat/completions %u %s, %.2f s", status, what,
                         (g_get_monotonic_time() - job->start_us) / 1e6);
}

/* Worker: the job failed (in its prefill or a shared step). */
static void
post_failure(Job *job, GError *error)
{
  error = vf_server_error_from_engine(error);
  guint status;
  char *json = vf_server_reply_error(error, &status);
  post(job, POST_ERROR, json, strlen(json), status, log_line(job, status, error->message));
  g_error_free(error);
}

/* Whether two messages say the same (role and every part). */
static gboolean
same_message(const VfChatMessage *a, const VfChatMessage *b)
{
  if (strcmp(a->role, b->role) != 0 || a->parts->len != b->parts->len)
    return FALSE;
  for (guint i = 0; i < a->parts->len; i++) {
    const VfChatPart *p = g_ptr_array_index(a->parts, i), *q = g_ptr_array_index(b->parts, i);
    if (p->kind != q->kind || p->text_len != q->text_len || (p->text && memcmp(p->text, q->text, p->text_len) != 0) ||
        g_strcmp0(p->source, q->source) != 0 || memcmp(&p->options, &q->options, sizeof p->options) != 0 ||
        !p->frames != !q->frames || (p->frames && !g_strv_equal((const char *const *)p->frames,
                                                                (const char *const *)q->frames)))
      return FALSE;
  }
  return TRUE;
}

/* The free sequence for `chat`: one whose conversation `chat` extends (the most messages), else the least
 * recently used. *reuse gets the number of messages kept. */
static uint32_t
choose_slot(VfServer *server, const VfChat *chat, guint *reuse)
{
  uint32_t best = UINT32_MAX, lru = UINT32_MAX;
  *reuse = 0;
  for (uint32_t i = 0; i < server->nseq; i++) {
    if (server->slots[i].job)
      continue;
    if (lru == UINT32_MAX || server->slots[i].last_used < server->slots[lru].last_used)
      lru = i;
    const VfChat *held = vf_session_chat(server->sessions[i]);
    guint n = held->messages->len;
    if (n == 0 || n >= chat->messages->len || n <= *reuse)
      continue;
    gboolean prefix = TRUE;
    for (guint m = 0; m < n && prefix; m++)
      prefix = same_message(g_ptr_array_index(held->messages, m), g_ptr_array_index(chat->messages, m));
    if (prefix) {
      best = i;
      *reuse = n;
    }
  }
  return best != UINT32_MAX ? best : lru;
}

typedef enum {
  END_ANSWERED, /* the turn ended by itself (eos, a limit, a stop string, the client gone) */
  END_FAILED,   /* the shared step failed: `error` */
  END_STOPPING, /* the server stops */
} SlotEnd;

static void
finish_slot(VfServer *server, Slot *slot, SlotEnd end, const GError *error)
{
  Job *job = slot->job;
  VfTurnStats stats;
  vf_session_turn_finish(slot->turn, end == END_ANSWERED, &stats);
  slot->job = NULL;
  slot->turn = NULL;
  g_atomic_int_dec_and_test(&server->active);
  if (end == END_FAILED) {
    post_failure(job, g_error_copy(error));
    job_unref(job);
    return;
  }
  if (end == END_STOPPING || (stats.stopped && !job->hit_stop)) {
    post(job, POST_DROP, NULL, 0, 0, log_line(job, 499, "the client went away"));
    job_unref(job);
    return;
  }
  const char *tail;
  gsize tail_len;
  vf_stop_text_finish(job->stop, &tail, &tail_len);
  const char *finish = job->hit_stop || stats.stop_reason == VF_STOP_EOS ? "stop" : "length";
  VfServerReply reply = reply_of(job);
  const VfServerUsage usage = {.prompt_tokens = stats.prompt_tokens, .completion_tokens = stats.generated_tokens,
                               .cached_tokens = stats.prompt_tokens - stats.prefilled_tokens};
  g_autofree char *what = g_strdup_printf("prompt %u tokens (%u prefilled), %u generated, %s", stats.prompt_tokens,
                                          stats.prefilled_tokens, stats.generated_tokens, finish);
  if (job->request->stream) {
    GString *events = g_string_new(NULL);
    if (tail_len || !job->role_sent) {
      g_autofree char *chunk = vf_server_reply_chunk(&reply, !job->role_sent, tail, tail_len, NULL,
                                                     job->request->include_usage);
      g_string_append(events, chunk);
    }
    g_autofree char *last = vf_server_reply_chunk(&reply, FALSE, NULL, 0, finish, job->request->include_usage);
    g_string_append(events, last);
    if (job->request->include_usage) {
      g_autofree char *usage_chunk = vf_server_reply_usage_chunk(&reply, &usage);
      g_string_append(events, usage_chunk);
    }
    g_string_append(events, "data: [DONE]\n\n");
    gsize len = events->len;
    post(job, POST_STREAM_END, g_string_free(events, FALSE), len, 200, log_line(job, 200, what));
  } else {
    gsize len;
    const char *text = vf_stop_text_sent(job->stop, &len);
    char *json = vf_server_reply_completion(&reply, text, len, finish, &usage);
    post(job, POST_COMPLETE, json, strlen(json), 200, log_line(job, 200, what));
  }
  job_unref(job);
}

/* Prefills the job's prompt into a free sequence; the job's answer then joins the next step. */
static void
admit(VfServer *server, Job *job)
{
  VfChat *chat = g_steal_pointer(&job->request->chat);
  guint reuse;
  uint32_t i = choose_slot(server, chat, &reuse);
  Slot *slot = &server->slots[i];
  VfSession *session = server->sessions[i];
  if (reuse) {
    /* The sequence's conversation goes on: only the new messages are added (and tokenized, and prefilled). */
    VfChat *held = vf_session_chat(session);
    guint n = chat->messages->len;
    g_autofree gpointer *moved = g_new(gpointer, n - reuse);
    for (guint m = n; m-- > reuse;)
      moved[m - reuse] = g_ptr_array_steal_index(chat->messages, m);
    for (guint m = 0; m < n - reuse; m++)
      g_ptr_array_add(held->messages, moved[m]);
    vf_chat_free(chat); /* the client's copies of the kept messages */
  } else {
    vf_chat_free(vf_session_replace_chat(session, chat));
  }
  VfGenerateOptions opts;
  vf_session_default_options(session, &opts);
  opts.sampling = job->request->sampling;
  opts.max_new_tokens = job->request->max_tokens;
  opts.ignore_eos = job->request->ignore_eos;
  job->stop = vf_stop_text_new((const char *const *)job->request->stop);
  GError *error = NULL;
  slot->last_used = ++server->clock;
  slot->turn = vf_session_turn_begin(session, &opts, on_text, job, job->cancel, &error);
  if (!slot->turn) {
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      g_error_free(error);
      post(job, POST_DROP, NULL, 0, 0, log_line(job, 499, "the client went away"));
    } else {
      post_failure(job, error);
    }
    job_unref(job);
    return;
  }
  slot->job = job;
  g_atomic_int_inc(&server->active);
  if (vf_session_turn_done(slot->turn))
    finish_slot(server, slot, END_ANSWERED, NULL);
}

static gpointer
worker(gpointer data)
{
  VfServer *server = data;
  g_autofree VfSessionTurn **turns = g_new(VfSessionTurn *, server->nseq);
  gboolean stop = FALSE;
  while (!stop) {
    /* New requests take the free sequences first: they prefill between steps. */
    for (uint32_t free_slots = server->nseq - (uint32_t)g_atomic_int_get(&server->active); free_slots > 0;
         free_slots = server->nseq - (uint32_t)g_atomic_int_get(&server->active)) {
      gpointer item = g_atomic_int_get(&server->active) ? g_async_queue_try_pop(server->queue)
                                                        : g_async_queue_pop(server->queue);
      if (!item)
        break;
      if (item == &stop_marker) {
        stop = TRUE;
        break;
      }
      g_atomic_int_dec_and_test(&server->waiting);
      Job *job = item;
      if (g_cancellable_is_cancelled(job->cancel)) {
        post(job, POST_DROP, NULL, 0, 0, log_line(job, 499, "the client went away while waiting"));
        job_unref(job);
        continue;
      }
      admit(server, job);
    }
    uint32_t n = 0;
    for (uint32_t i = 0; i < server->nseq; i++)
      if (server->slots[i].job)
        turns[n++] = server->slots[i].turn;
    if (n == 0)
      continue;
    GError *error = NULL;
    gboolean ok = stop || vf_session_turns_step(turns, n, &error);
    for (uint32_t i = 0; i < server->nseq; i++) {
      Slot *slot = &server->slots[i];
      if (!slot->job || (ok && !stop && !vf_session_turn_done(slot->turn)))
        continue;
      finish_slot(server, slot, stop ? END_STOPPING : ok ? END_ANSWERED : END_FAILED, error);
    }
    g_clear_error(&error);
  }
  return NULL;
}

/* ---------------------------------------------------------------------------------------------------
 * HTTP
 * ------------------------------------------------------------------------------------------------- */

static void
send_error(SoupServerMessage *msg, VfServerError code, const char *message)
{
  GError *error = g_error_new_literal(VF_SERVER_ERROR, code, message);
  guint status;
  char *json = vf_server_reply_error(error, &status);
  send_json(msg, status, json);
  g_error_free(error);
}

/* Compares the whole key whatever the given one is, so the time taken tells nothing of where they differ. */
static gboolean
key_matches(const char *given, const char *key)
{
  size_t n = strlen(key), m = strlen(given);
  unsigned diff = n != m;
  for (size_t i = 0; i < n; i++)
    diff |= (unsigned char)key[i] ^ (unsigned char)(i < m ? given[i] : 0);
  return diff == 0;
}

static gboolean
client_is_loopback(SoupServerMessage *msg)
{
  GSocketAddress *address = soup_server_message_get_remote_address(msg);
  if (!G_IS_INET_SOCKET_ADDRESS(address))
    return FALSE;
  GInetAddress *inet = g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(address));
  if (g_inet_address_get_is_loopback(inet))
    return TRUE;
  g_autofree char *text = g_inet_address_to_string(inet);
  return g_str_has_prefix(text, "::ffff:127."); /* IPv4 loopback on a dual-stack socket */
}

/* Before the body is read: the API key, and a Content-Length over the limit. */
static void
early_handler(SoupServer *soup, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user)
{
  VfServer *server = user;
  SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
  if (server->api_key) {
    const char *auth = soup_message_headers_get_one(headers, "Authorization");
    if (!auth || !g_str_has_prefix(auth, "Bearer ") || !key_matches(auth + 7, server->api_key)) {
      send_error(msg, VF_SERVER_ERROR_UNAUTHORIZED, auth ? "the API key is wrong" : "an API key is needed "
                                                                                    "(Authorization: Bearer KEY)");
      return;
    }
  }
  if (soup_message_headers_get_encoding(headers) == SOUP_ENCODING_CONTENT_LENGTH &&
      soup_message_headers_get_content_length(headers) > (goffset)VF_SERVER_MAX_BODY) {
    g_autofree char *message = g_strdup_printf("the request body is over %" G_GSIZE_FORMAT " bytes", VF_SERVER_MAX_BODY);
    send_error(msg, VF_SERVER_ERROR_TOO_LARGE, message);
    /* The body is not read: the connection cannot carry another request. */
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection", "close");
  }
}

static void
on_finished(SoupServerMessage *msg, gpointer user)
{
  Job *job = user;
  if (job->gone)
    return;
  g_cancellable_cancel(job->cancel); /* the client went away: the worker drops the answer */
  job_end(job);
}

/* The client's socket turned readable while its request waits: the end of the connection (the client went
 * away: libsoup would only notice when it next writes, which for a non-streamed answer is at its end), or the
 * next pipelined request (then there is nothing to watch any more). Peeks, so libsoup reads what is there. */
static gboolean
on_readable(GSocket *socket, GIOCondition condition, gpointer user)
{
  Job *job = user;
  char byte;
  GInputVector vector = {&byte, 1};
  int flags = G_SOCKET_MSG_PEEK;
  g_autoptr(GError) error = NULL;
  gssize n = g_socket_receive_message(socket, NULL, &vector, 1, NULL, NULL, &flags, NULL, &error);
  if (n < 0 && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    return G_SOURCE_CONTINUE;
  g_clear_pointer(&job->hangup, g_source_unref); /* returning REMOVE destroys it */
  if (n > 0)
    return G_SOURCE_REMOVE;
  g_cancellable_cancel(job->cancel);
  /* libsoup writes this, fails, and closes the connection. */
  send_error(job->msg, VF_SERVER_ERROR_UNAVAILABLE, "the client went away");
  soup_server_message_unpause(job->msg);
  job_end(job);
  return G_SOURCE_REMOVE;
}

static void
chat_completions(VfServer *server, SoupServerMessage *msg)
{
  if (server->stopping) {
    send_error(msg, VF_SERVER_ERROR_UNAVAILABLE, "the server is stopping");
    return;
  }
  SoupMessageBody *body = soup_server_message_get_request_body(msg);
  VfServerPolicy policy = {
    .model_name = server->model_name,
    .loopback_client = client_is_loopback(msg),
    .allow_local_files = server->opts.allow_local_files,
    .remote_media_fetch = server->opts.remote_media_fetch,
    .max_images = server->opts.max_images,
    .max_video_frames = server->opts.max_video_frames,
    .max_tokens = server->opts.max_tokens,
    .default_sampling = server->default_sampling,
  };
  GError *error = NULL;
  VfServerRequest *request = vf_server_request_parse(body->data, (gsize)body->length, &policy, &error);
  if (!request) {
    guint status;
    char *json = vf_server_reply_error(error, &status);
    send_json(msg, status, json);
    if (server->opts.on_log) {
      g_autofree char *line = g_strdup_printf("POST /v1/chat/completions %u %s", status, error->message);
      server->opts.on_log(line, server->opts.log_user);
    }
    g_error_free(error);
    return;
  }
  if ((guint)g_atomic_int_get(&server->waiting) >= server->opts.max_queue) {
    vf_server_request_free(request);
    g_autofree char *message = g_strdup_printf("%u requests are waiting already: try again later", server->opts.max_queue);
    send_error(msg, VF_SERVER_ERROR_BUSY, message);
    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Retry-After", "1");
    return;
  }
  Job *job = g_atomic_rc_box_new0(Job);
  job->server = server;
  job->msg = g_object_ref(msg);
  job->request = request;
  job->cancel = g_cancellable_new();
  g_snprintf(job->id, sizeof job->id, "chatcmpl-%" G_GINT64_MODIFIER "x%06" G_GUINT64_FORMAT,
             g_get_real_time(), ++server->next_id % 1000000);
  job->created = g_get_real_time() / G_USEC_PER_SEC;
  job->start_us = g_get_monotonic_time();
  job->finished_handler = g_signal_connect(msg, "finished", G_CALLBACK(on_finished), job);
  g_hash_table_add(server->jobs, job); /* the handler's reference */
  soup_server_message_pause(msg);
  GSocket *socket = soup_server_message_get_socket(msg);
  if (socket) {
    job->hangup = g_socket_create_source(socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
    g_source_set_callback(job->hangup, G_SOURCE_FUNC(on_readable), job, NULL);
    g_source_attach(job->hangup, server->context);
  }
  g_atomic_int_inc(&server->waiting);
  g_async_queue_push(server->queue, job_ref(job)); /* the worker's */
}

static void
list_models(VfServer *server, SoupServerMessage *msg)
{
  GString *out = g_string_new("{\"object\":\"list\",\"data\":[{\"id\":");
  vf_json_append_string(out, server->model_name, strlen(server->model_name));
  g_string_append_printf(out, ",\"object\":\"model\",\"created\":%" G_GINT64_FORMAT
                              ",\"owned_by\":\"viewfinder\",\"max_model_len\":%u}]}",
                         g_get_real_time() / G_USEC_PER_SEC, vf_llm_context(server->opts.model->llm));
  send_json(msg, SOUP_STATUS_OK, g_string_free(out, FALSE));
}

static void
handler(SoupServer *soup, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user)
{
  VfServer *server = user;
  const char *method = soup_server_message_get_method(msg);
  const struct {
    const char *path, *method;
  } routes[] = {
    {"/v1/chat/completions", SOUP_METHOD_POST},
    {"/v1/models", SOUP_METHOD_GET},
    {"/health", SOUP_METHOD_GET},
  };
  size_t route = G_N_ELEMENTS(routes);
  for (size_t i = 0; i < G_N_ELEMENTS(routes); i++)
    if (strcmp(path, routes[i].path) == 0)
      route = i;
  if (route == G_N_ELEMENTS(routes)) {
    g_autofree char *message = g_strdup_printf("no such endpoint: %s %s", method, path);
    send_error(msg, VF_SERVER_ERROR_NOT_FOUND, message);
    return;
  }
  if (strcmp(method, routes[route].method) != 0) {
    g_autofree char *message = g_strdup_printf("%s takes %s, not %s", path, routes[route].method, method);
    send_error(msg, VF_SERVER_ERROR_NOT_FOUND, message);
    return;
  }
  if (route == 0)
    chat_completions(server, msg);
  else if (route == 1)
    list_models(server, msg);
  else
    send_json(msg, SOUP_STATUS_OK, g_strdup_printf("{\"status\":\"ok\",\"active\":%d,\"waiting\":%d}",
                                                   g_atomic_int_get(&server->active),
                                                   g_atomic_int_get(&server->waiting)));
}

/* ---------------------------------------------------------------------------------------------------
 * Life
 * ------------------------------------------------------------------------------------------------- */

static gboolean
listen_on(VfServer *server, GError **error)
{
  const char *host = strcmp(server->host, "localhost") == 0 ? "127.0.0.1" : server->host;
  g_autoptr(GInetAddress) inet = g_inet_address_new_from_string(host);
  if (!inet) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "--host %s: give an IP address (127.0.0.1, ::1, "
                "0.0.0.0)", server->host);
    return FALSE;
  }
  if (!g_inet_address_get_is_loopback(inet) && !server->api_key) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "--host %s is reachable from other machines: give an --api-key as well", server->host);
    return FALSE;
  }
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new(inet, (guint16)server->opts.port);
  if (!soup_server_listen(server->soup, address, 0, error))
    return FALSE;
  GSList *listeners = soup_server_get_listeners(server->soup);
  g_autoptr(GSocketAddress) bound = g_socket_get_local_address(listeners->data, error);
  g_slist_free(listeners);
  if (!bound)
    return FALSE;
  server->port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
  return TRUE;
}

VfServer *
vf_server_new(const VfServerOptions *options, GError **error)
{
  VfServer *server = g_new0(VfServer, 1);
  server->opts = *options;
  server->model_name = g_strdup(options->model_name);
  server->api_key = options->api_key && *options->api_key ? g_strdup(options->api_key) : NULL;
  server->host = g_strdup(options->host ? options->host : "127.0.0.1");
  server->opts.model_name = server->model_name;
  server->opts.api_key = server->api_key;
  server->opts.host = server->host;
  server->context = g_main_context_ref_thread_default();
  server->jobs = g_hash_table_new_full(NULL, NULL, (GDestroyNotify)job_unref, NULL);
  server->queue = g_async_queue_new();
  server->soup = soup_server_new("server-header", "viewfinder ", NULL);
  if (!listen_on(server, error)) {
    vf_server_free(server);
    return NULL;
  }
  server->nseq = vf_llm_sequences(options->model->llm);
  server->sessions = g_new0(VfSession *, server->nseq);
  server->slots = g_new0(Slot, server->nseq);
  for (uint32_t i = 0; i < server->nseq; i++) {
    server->sessions[i] = vf_session_new(options->model, options->tok, error);
    if (!server->sessions[i]) {
      vf_server_free(server);
      return NULL;
    }
  }
  VfGenerateOptions defaults;
  vf_session_default_options(server->sessions[0], &defaults);
  server->default_sampling = defaults.sampling;
  soup_server_add_early_handler(server->soup, NULL, early_handler, server, NULL);
  soup_server_add_handler(server->soup, NULL, handler, server, NULL);
  server->worker = g_thread_new("vf-server", worker, server);
  return server;
}

guint
vf_server_port(const VfServer *server)
{
  return server->port;
}

void
vf_server_load(VfServer *server, uint32_t *active, uint32_t *waiting)
{
  *active = (uint32_t)g_atomic_int_get(&server->active);
  *waiting = (uint32_t)g_atomic_int_get(&server->waiting);
}

void
vf_server_free(VfServer *server)
{
  if (!server)
    return;
  server->stopping = TRUE;
  if (server->soup)
    soup_server_disconnect(server->soup);
  if (server->worker) {
    GHashTableIter it;
    gpointer job;
    g_hash_table_iter_init(&it, server->jobs);
    while (g_hash_table_iter_next(&it, &job, NULL))
      g_cancellable_cancel(((Job *)job)->cancel);
    g_async_queue_push(server->queue, &stop_marker);
    g_thread_join(server->worker);
    /* Jobs still queued never reached the worker. */
    gpointer item;
    while ((item = g_async_queue_try_pop(server->queue)))
      if (item != &stop_marker)
        job_unref(item);
    /* What the worker posted last (its references come back here). */
    while (g_main_context_iteration(server->context, FALSE))
      ;
  }
  g_hash_table_remove_all(server->jobs);
  for (uint32_t i = 0; server->sessions && i < server->nseq; i++)
    vf_session_free(server->sessions[i]);
  g_free(server->sessions);
  g_free(server->slots);
  g_clear_object(&server->soup);
  g_async_queue_unref(server->queue);
  g_hash_table_unref(server->jobs);
  g_main_context_unref(server->context);
  g_free(server->model_name);
  g_free(server->api_key);
  g_free(server->host);
  g_free(server);
}
