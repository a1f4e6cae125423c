/* Chat-completion requests and the server's JSON answers. See vf_server_request.h. */
#include "vf_server_request.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "vf_chat_json.h"
#include "vf_engine_error.h"

G_DEFINE_QUARK(vf-server-error-quark, vf_server_error)

void
vf_server_request_free(VfServerRequest *request)
{
  if (!request)
    return;
  vf_chat_free(request->chat);
  g_strfreev(request->stop);
  g_free(request);
}

static gboolean
bad(GError **error, const char *member, const char *problem)
{
  g_set_error(error, VF_SERVER_ERROR, VF_SERVER_ERROR_BAD_REQUEST, "\"%s\" %s", member, problem);
  return FALSE;
}

/* The member when present and not null. */
static JsonNode *
member(JsonObject *obj, const char *name)
{
  JsonNode *node = json_object_get_member(obj, name);
  return node && !JSON_NODE_HOLDS_NULL(node) ? node : NULL;
}

static gboolean
is_number(JsonNode *node)
{
  if (!JSON_NODE_HOLDS_VALUE(node))
    return FALSE;
  GType type = json_node_get_value_type(node);
  return type == G_TYPE_INT64 || type == G_TYPE_DOUBLE;
}

/* An optional number in [lo, hi]; *given tells whether it was there. */
static gboolean
read_number(JsonObject *obj, const char *name, double lo, double hi, double *out, gboolean *given, GError **error)
{
  JsonNode *node = member(obj, name);
  *given = node != NULL;
  if (!node)
    return TRUE;
  double value = is_number(node) ? json_node_get_double(node) : NAN;
  if (!(value >= lo && value <= hi)) {
    g_autofree char *range = g_strdup_printf("is not a number from %g to %g", lo, hi);
    return bad(error, name, range);
  }
  *out = value;
  return TRUE;
}

/* An optional whole number in [lo, hi]. */
static gboolean
read_integer(JsonObject *obj, const char *name, double lo, double hi, double *out, gboolean *given, GError **error)
{
  if (!read_number(obj, name, lo, hi, out, given, error))
    return FALSE;
  if (*given && *out != floor(*out)) {
    g_autofree char *range = g_strdup_printf("is not a whole number from %g to %g", lo, hi);
    return bad(error, name, range);
  }
  return TRUE;
}

static gboolean
read_bool(JsonObject *obj, const char *name, gboolean *out, GError **error)
{
  JsonNode *node = member(obj, name);
  if (!node)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_BOOLEAN)
    return bad(error, name, "is not true or false");
  *out = json_node_get_boolean(node);
  return TRUE;
}

/* "stop": "s" | ["s", …] (at most 4, as OpenAI's). */
static gboolean
read_stop(JsonObject *obj, char ***out, GError **error)
{
  JsonNode *node = member(obj, "stop");
  if (!node)
    return TRUE;
  if (JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING) {
    if (!*json_node_get_string(node))
      return bad(error, "stop", "is an empty string");
    *out = g_new0(char *, 2);
    (*out)[0] = g_strdup(json_node_get_string(node));
    return TRUE;
  }
  if (!JSON_NODE_HOLDS_ARRAY(node))
    return bad(error, "stop", "is neither a string nor a list of strings");
  JsonArray *list = json_node_get_array(node);
  guint n = json_array_get_length(list);
  if (n > 4)
    return bad(error, "stop", "has more than 4 strings");
  *out = g_new0(char *, n + 1);
  for (guint i = 0; i < n; i++) {
    JsonNode *s = json_array_get_element(list, i);
    if (!JSON_NODE_HOLDS_VALUE(s) || json_node_get_value_type(s) != G_TYPE_STRING || !*json_node_get_string(s))
      return bad(error, "stop", "has an item that is not a non-empty string");
    (*out)[i] = g_strdup(json_node_get_string(s));
  }
  return TRUE;
}

/* Members asking for what the server does not do: refused rather than ignored, so a client never gets less
 * than it asked for without knowing. */
static gboolean
refuse_unsupported(JsonObject *obj, GError **error)
{
  double value = 0;
  gboolean given = FALSE;
  if (!read_integer(obj, "n", 1, 1e9, &value, &given, error))
    return FALSE;
  if (given && value != 1)
    return bad(error, "n", "must be 1: one answer per request");
  const char *penalties[] = {"frequency_penalty", "presence_penalty"};
  for (size_t i = 0; i < G_N_ELEMENTS(penalties); i++) {
    if (!read_number(obj, penalties[i], -2, 2, &value, &given, error))
      return FALSE;
    if (given && value != 0)
      return bad(error, penalties[i], "is not supported (use repetition_penalty)");
  }
  gboolean logprobs = FALSE;
  if (!read_bool(obj, "logprobs", &logprobs, error))
    return FALSE;
  if (logprobs)
    return bad(error, "logprobs", "is not supported");
  JsonNode *tools = member(obj, "tools");
  if (tools && (!JSON_NODE_HOLDS_ARRAY(tools) || json_array_get_length(json_node_get_array(tools)) > 0))
    return bad(error, "tools", "are not supported");
  return TRUE;
}

static gboolean
read_sampling(JsonObject *obj, const VfServerPolicy *policy, VfSamplerParams *out, GError **error)
{
  *out = policy->default_sampling;
  double temperature = 0, top_p = 1, top_k = 0, repetition = 1, seed = 0;
  gboolean has_t, has_p, has_k, has_r, has_seed;
  if (!read_number(obj, "temperature", 0, 2, &temperature, &has_t, error) ||
      !read_number(obj, "top_p", 0, 1, &top_p, &has_p, error) ||
      !read_integer(obj, "top_k", -1, 1e9, &top_k, &has_k, error) ||
      !read_number(obj, "repetition_penalty", 0, 100, &repetition, &has_r, error) ||
      !read_integer(obj, "seed", -9007199254740992.0, 9007199254740992.0, &seed, &has_seed, error))
    return FALSE;
  if (has_p && top_p <= 0)
    return bad(error, "top_p", "must be above 0");
  if (has_r && repetition <= 0)
    return bad(error, "repetition_penalty", "must be above 0");
  if (has_t && temperature == 0) {
    out->do_sample = false; /* OpenAI's and vLLM's meaning: greedy */
  } else if (has_t || has_p || has_k) {
    out->do_sample = true;
    if (has_t)
      out->temperature = (float)temperature;
    else if (out->temperature <= 0)
      out->temperature = 1.0f;
  }
  if (has_p)
    out->top_p = (float)top_p;
  if (has_k)
    out->top_k = top_k < 0 ? 0 : (uint32_t)top_k; /* vLLM's -1: off */
  if (has_r)
    out->repetition_penalty = (float)repetition;
  if (has_seed)
    out->seed = (uint64_t)(int64_t)seed;
  return TRUE;
}

/* A source the client may name, by the policy. */
static gboolean
check_source(const char *source, const VfServerPolicy *policy, const char *where, GError **error)
{
  if (g_str_has_prefix(source, "data:"))
    return TRUE;
  if (g_str_has_prefix(source, "http://") || g_str_has_prefix(source, "https://")) {
    if (policy->loopback_client || policy->remote_media_fetch)
      return TRUE;
    g_set_error(error, VF_SERVER_ERROR, VF_SERVER_ERROR_BAD_REQUEST,
                "%s: http(s) media are off for clients on other machines (the server's --remote-media-fetch)",
                where);
    return FALSE;
  }
  if (strstr(source, "://") && !g_str_has_prefix(source, "file://")) {
    g_set_error(error, VF_SERVER_ERROR, VF_SERVER_ERROR_BAD_REQUEST,
                "%s: only data:, http(s):// and file:// sources are read", where);
    return FALSE;
  }
  if (policy->allow_local_files)
    return TRUE;
  g_set_error(error, VF_SERVER_ERROR, VF_SERVER_ERROR_BAD_REQUEST,
              "%s: local files are off (the server's --allow-local-files); send pictures as data: URIs", where);
  return FALSE;
}

static gboolean
check_media(VfChat *chat, const VfServerPolicy *policy, GError **error)
{
  uint32_t images = 0;
  for (guint m = 0; m < chat->messages->len; m++) {
    VfChatMessage *message = g_ptr_array_index(chat->messages, m);
    for (guint p = 0; p < message->parts->len; p++) {
      VfChatPart *part = g_ptr_array_index(message->parts, p);
      g_autofree char *where = g_strdup_printf("message %u, part %u", m, p);
      if (part->kind == VF_CHAT_PART_TEXT)
        continue;
      if (part->source && !check_source(part->source, policy, where, error))
        return FALSE;
      for (guint f = 0; part->frames && part->frames[f]; f++)
        if (!check_source(part->frames[f], policy, where, error))
          return FALSE;
      if (part->kind == VF_CHAT_PART_IMAGE && ++images > policy->max_images) {
        g_set_error(error, VF_SERVER_ERROR, VF_SERVER_ERROR_BAD_REQUEST,
                    "%s: more than %u pictures in one request (the server's --max-images)", where,
                    policy->max_images);
        return FALSE;
      }
      if (part->frames && g_strv_length(part->frames) > policy->max_video_frames) {
        g_set_error(error, VF_SERVER_ERROR, VF_SERVER_ERROR_BAD_REQUEST,
                    "%s: a video of %u frames, over the server's %u (--max-video-frames)", where,
                    g_strv_length(part->frames), policy->max_video_frames);
        return FALSE;
      }
      /* A file's sampling: qwen-vl-utils' max_frames, held to the server's limit. */
      if (part->kind == VF_CHAT_PART_VIDEO && !part->frames) {
        if (part->options.nframes > policy->max_video_frames) {
          g_set_error(error, VF_SERVER_ERROR, VF_SERVER_ERROR_BAD_REQUEST,
                      "%s: \"nframes\" %u is over the server's %u (--max-video-frames)", where,
                      part->options.nframes, policy->max_video_frames);
          return FALSE;
        }
        if (!part->options.max_frames || part->options.max_frames > policy->max_video_frames)
          part->options.max_frames = policy->max_video_frames;
      }
    }
  }
  return TRUE;
}

VfServerRequest *
vf_server_request_parse(const char *body, gsize len, const VfServerPolicy *policy, GError **error)
{
  if (len > VF_SERVER_MAX_BODY) {
    g_set_error(error, VF_SERVER_ERROR, VF_SERVER_ERROR_TOO_LARGE, "the request body is over %" G_GSIZE_FORMAT " bytes",
                VF_SERVER_MAX_BODY);
    return NULL;
  }
  g_autoptr(JsonParser) parser = json_parser_new_immutable();
  GError *local = NULL;
  if (!json_parser_load_from_data(parser, body, (gssize)len, &local)) {
    g_set_error(error, VF_SERVER_ERROR, VF_SERVER_ERROR_BAD_REQUEST, "the body is not JSON: %s", local->message);
    g_error_free(local);
    return NULL;
  }
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
    g_set_error(error, VF_SERVER_ERROR, VF_SERVER_ERROR_BAD_REQUEST, "the body is not a JSON object");
    return NULL;
  }
  JsonObject *obj = json_node_get_object(root);
  JsonNode *model = member(obj, "model");
  if (model && (!JSON_NODE_HOLDS_VALUE(model) || json_node_get_value_type(model) != G_TYPE_STRING)) {
    bad(error, "model", "is not a string");
    return NULL;
  }
  if (model && strcmp(json_node_get_string(model), policy->model_name) != 0) {
    g_set_error(error, VF_SERVER_ERROR, VF_SERVER_ERROR_NOT_FOUND,
                "the model \"%s\" does not exist here: this server serves \"%s\"", json_node_get_string(model),
                policy->model_name);
    return NULL;
  }
  if (!refuse_unsupported(obj, error))
    return NULL;

  g_autoptr(VfServerRequest) request = g_new0(VfServerRequest, 1);
  JsonNode *messages = member(obj, "messages");
  if (!messages) {
    bad(error, "messages", "is missing");
    return NULL;
  }
  request->chat = vf_chat_json_read(messages, NULL, &local);
  if (!request->chat) {
    g_set_error(error, VF_SERVER_ERROR, VF_SERVER_ERROR_BAD_REQUEST, "%s", local->message);
    g_error_free(local);
    return NULL;
  }
  guint n = request->chat->messages->len;
  const VfChatMessage *last = n ? g_ptr_array_index(request->chat->messages, n - 1) : NULL;
  if (!last || strcmp(last->role, "user") != 0) {
    bad(error, "messages", "do not end with a user message");
    return NULL;
  }
  if (!check_media(request->chat, policy, error))
    return NULL;

  double tokens = 0, completion_tokens = 0;
  gboolean has_tokens, has_completion;
  if (!read_integer(obj, "max_tokens", 1, 1e9, &tokens, &has_tokens, error) ||
      !read_integer(obj, "max_completion_tokens", 1, 1e9, &completion_tokens, &has_completion, error))
    return NULL;
  request->max_tokens = has_completion ? (uint32_t)completion_tokens
                        : has_tokens   ? (uint32_t)tokens
                                       : policy->max_tokens;
  if (request->max_tokens > policy->max_tokens) {
    g_set_error(error, VF_SERVER_ERROR, VF_SERVER_ERROR_BAD_REQUEST,
                "\"%s\" %u is over the server's %u (--max-tokens)", has_completion ? "max_completion_tokens" : "max_tokens",
                request->max_tokens, policy->max_tokens);
    return NULL;
  }
  if (!read_sampling(obj, policy, &request->sampling, error) || !read_stop(obj, &request->stop, error) ||
      !read_bool(obj, "stream", &request->stream, error) || !read_bool(obj, "ignore_eos", &request->ignore_eos, error))
    return NULL;
  JsonNode *stream_options = member(obj, "stream_options");
  if (stream_options) {
    if (!JSON_NODE_HOLDS_OBJECT(stream_options)) {
      bad(error, "stream_options", "is not an object");
      return NULL;
    }
    if (!read_bool(json_node_get_object(stream_options), "include_usage", &request->include_usage, error))
      return NULL;
  }
  return g_steal_pointer(&request);
}

/* ---- answers ------------------------------------------------------------------------------------------- */

static void
append_head(GString *out, const VfServerReply *reply, const char *object)
{
  g_string_append(out, "{\"id\":");
  vf_json_append_string(out, reply->id, strlen(reply->id));
  g_string_append_printf(out, ",\"object\":\"%s\",\"created\":%" G_GINT64_FORMAT ",\"model\":", object,
                         reply->created);
  vf_json_append_string(out, reply->model, strlen(reply->model));
}

static void
append_usage(GString *out, const VfServerUsage *u)
{
  g_string_append_printf(out, ",\"usage\":{\"prompt_tokens\":%u,\"completion_tokens\":%u,\"total_tokens\":%u,"
                              "\"prompt_tokens_details\":{\"cached_tokens\":%u}}",
                         u->prompt_tokens, u->completion_tokens, u->prompt_tokens + u->completion_tokens,
                         u->cached_tokens);
}

char *
vf_server_reply_completion(const VfServerReply *reply, const char *text, gsize len, const char *finish_reason,
                           const VfServerUsage *usage)
{
  GString *out = g_string_new(NULL);
  append_head(out, reply, "chat.completion");
  g_string_append(out, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
  vf_json_append_string(out, text, len);
  g_string_append_printf(out, "},\"logprobs\":null,\"finish_reason\":\"%s\"}]", finish_reason);
  append_usage(out, usage);
  g_string_append(out, "}");
  return g_string_free(out, FALSE);
}

char *
vf_server_reply_chunk(const VfServerReply *reply, gboolean role, const char *text, gsize len,
                      const char *finish_reason, gboolean with_usage_null)
{
  GString *out = g_string_new("data: ");
  append_head(out, reply, "chat.completion.chunk");
  g_string_append(out, ",\"choices\":[{\"index\":0,\"delta\":{");
  if (role)
    g_string_append(out, "\"role\":\"assistant\"");
  if (text) {
    g_string_append(out, role ? ",\"content\":" : "\"content\":");
    vf_json_append_string(out, text, len);
  }
  g_string_append(out, "},\"logprobs\":null,\"finish_reason\":");
  if (finish_reason)
    g_string_append_printf(out, "\"%s\"}]", finish_reason);
  else
    g_string_append(out, "null}]");
  if (with_usage_null)
    g_string_append(out, ",\"usage\":null");
  g_string_append(out, "}\n\n");
  return g_string_free(out, FALSE);
}

char *
vf_server_reply_usage_chunk(const VfServerReply *reply, const VfServerUsage *usage)
{
  GString *out = g_string_new("data: ");
  append_head(out, reply, "chat.completion.chunk");
  g_string_append(out, ",\"choices\":[]");
  append_usage(out, usage);
  g_string_append(out, "}\n\n");
  return g_string_free(out, FALSE);
}

char *
vf_server_reply_error(const GError *error, guint *status)
{
  gboolean ours = error->domain == VF_SERVER_ERROR;
  *status = ours ? (guint)error->code : 500;
  const char *type = *status == 401   ? "authentication_error"
                     : *status == 404 ? "not_found_error"
                     : *status == 429 ? "rate_limit_error"
                     : *status >= 500 ? "server_error"
                                      : "invalid_request_error";
  GString *out = g_string_new("{\"error\":{\"message\":");
  vf_json_append_string(out, error->message, strlen(error->message));
  g_string_append_printf(out, ",\"type\":\"%s\",\"param\":null,\"code\":%u}}", type, *status);
  return g_string_free(out, FALSE);
}

GError *
vf_server_error_from_engine(GError *error)
{
  if (error->domain == VF_SERVER_ERROR)
    return error;
  error = vf_engine_error_classify(error);
  int status = 500;
  if (error->domain == VF_ENGINE_ERROR) {
    switch ((VfEngineError)error->code) {
    case VF_ENGINE_ERROR_CONTEXT_FULL:
    case VF_ENGINE_ERROR_NO_ANSWER:
      status = VF_SERVER_ERROR_BAD_REQUEST;
      break;
    case VF_ENGINE_ERROR_MEDIA:
      status = VF_SERVER_ERROR_UNPROCESSABLE;
      break;
    case VF_ENGINE_ERROR_OUT_OF_MEMORY:
    case VF_ENGINE_ERROR_DEVICE_LOST:
    case VF_ENGINE_ERROR_NO_MODEL:
      status = VF_SERVER_ERROR_UNAVAILABLE;
      break;
    }
  }
  if (status == 500)
    return error;
  GError *mapped = g_error_new_literal(VF_SERVER_ERROR, status, error->message);
  g_error_free(error);
  return mapped;
}
