/* Chat-completion request bodies (vf_server_request_parse) under a remote client's policy, as the server reads
 * them, and then the answers it would write: the completion, the chunks of the request's stop strings cutting
 * the body's own bytes fed in pieces (vf_stop_text), and the error of a refused body. Media are checked against
 * the policy, never opened. Errors are fine; crashes, leaks, undefined behaviour and broken properties (the
 * text sent is a prefix of what was fed; with no stop found, everything is sent) are not. */
#include <string.h>

#include "fuzz_common.h"
#include "vf_server_request.h"
#include "vf_stop_text.h"

static void
check_stop_text(const char *const *stop, const uint8_t *data, size_t size)
{
  g_autoptr(VfStopText) st = vf_stop_text_new(stop);
  GString *fed = g_string_new(NULL), *sent = g_string_new(NULL);
  gboolean stopped = FALSE;
  const char *ready;
  gsize len;
  for (size_t at = 0; at < size && !stopped;) {
    size_t piece = MIN(size - at, 1 + data[at] % 7);
    g_string_append_len(fed, (const char *)data + at, (gssize)piece);
    stopped = vf_stop_text_feed(st, (const char *)data + at, piece, &ready, &len);
    g_string_append_len(sent, ready, (gssize)len);
    at += piece;
  }
  vf_stop_text_finish(st, &ready, &len);
  g_string_append_len(sent, ready, (gssize)len);
  g_assert(sent->len <= fed->len && memcmp(sent->str, fed->str, sent->len) == 0);
  if (!stopped)
    g_assert(sent->len == fed->len);
  gsize total;
  const char *whole = vf_stop_text_sent(st, &total);
  g_assert(total == sent->len && memcmp(whole, sent->str, total) == 0);
  g_string_free(fed, TRUE);
  g_string_free(sent, TRUE);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  VfServerPolicy policy = {
    .model_name = "tiny-a",
    .loopback_client = size > 0 && data[0] & 1,
    .max_images = 4,
    .max_video_frames = 16,
    .max_tokens = 64,
  };
  GError *error = NULL;
  VfServerRequest *request = vf_server_request_parse((const char *)data, size, &policy, &error);
  VfServerReply reply = {.id = "chatcmpl-fuzz", .created = 1, .model = "tiny-a"};
  if (request) {
    g_assert(request->chat && request->max_tokens >= 1 && request->max_tokens <= policy.max_tokens);
    check_stop_text((const char *const *)request->stop, data, size);
    const VfServerUsage usage = {.prompt_tokens = 2, .completion_tokens = 1, .cached_tokens = 1};
    g_free(vf_server_reply_completion(&reply, (const char *)data, size, "stop", &usage));
    g_free(vf_server_reply_chunk(&reply, TRUE, (const char *)data, size, NULL, TRUE));
    vf_server_request_free(request);
  } else {
    guint status;
    g_free(vf_server_reply_error(error, &status));
    g_assert(status >= 400 && status < 600);
    g_error_free(error);
  }
  return 0;
}
