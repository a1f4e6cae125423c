/* Conversations over tiny-a: multi-turn KV-cache reuse and cancellation. */
#include <glib/gstdio.h>
#include <string.h>

#include "vf_engine_error.h"
#include "vf_prompt.h"
#include "vf_session.h"
#include "vf_test.h"
#include "vf_test_bmp.h"
#include "vf_test_data.h"

static VfModel *model;
static VfTokenizer *tok;

static void
append(const char *piece, size_t len, void *user)
{
  g_string_append_len(user, piece, (gssize)len);
}

static VfSession *
session_on(VfModel *m)
{
  g_autoptr(GError) error = NULL;
  VfSession *s = vf_session_new(m, tok, &error);
  g_assert_no_error(error);
  return s;
}

static VfGenerateOptions
greedy(VfSession *s, uint32_t max_new)
{
  VfGenerateOptions o;
  vf_session_default_options(s, &o);
  o.max_new_tokens = max_new;
  return o;
}

/* A follow-up prefills only the new turn, and answers as a fresh session given the whole conversation does. */
static void
test_follow_up_reuses_cache(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VfSession) s = session_on(model);
  VfGenerateOptions o = greedy(s, 8);
  vf_chat_message_append_text(vf_chat_append_message(vf_session_chat(s), "user"), "Write a haiku about the sea.");
  VfTurnStats first, second;
  g_autoptr(GString) a1 = g_string_new(NULL), a2 = g_string_new(NULL);
  g_assert_true(vf_session_generate(s, &o, append, a1, NULL, &first, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(first.prefilled_tokens, ==, first.prompt_tokens);
  g_assert_cmpuint(first.generated_tokens, ==, 8);
  g_assert_cmpuint(vf_session_chat(s)->messages->len, ==, 2);

  vf_chat_message_append_text(vf_chat_append_message(vf_session_chat(s), "user"), "Another one, please.");
  g_assert_true(vf_session_generate(s, &o, append, a2, NULL, &second, &error));
  g_assert_no_error(error);
  g_test_message("turn 2: %u prompt tokens, %u prefilled", second.prompt_tokens, second.prefilled_tokens);
  g_assert_cmpuint(second.prompt_tokens, >, first.prompt_tokens + first.generated_tokens);
  /* Only the turn's new tokens (plus whatever of the answer re-tokenizes differently) are run. */
  g_assert_cmpuint(second.prefilled_tokens, <, second.prompt_tokens - first.prompt_tokens);
  uint32_t n = 0;
  const int32_t *ids = vf_session_last_answer(s, &n);
  g_autofree int32_t *reused = g_memdup2(ids, n * sizeof(int32_t));
  uint32_t n_reused = n;

  /* The same conversation from scratch. */
  g_autoptr(VfSession) fresh = session_on(model);
  VfChat *chat = vf_session_chat(fresh);
  for (guint i = 0; i + 1 < vf_session_chat(s)->messages->len; i++) {
    const VfChatMessage *m = vf_session_chat(s)->messages->pdata[i];
    const VfChatPart *p = m->parts->pdata[0];
    vf_chat_message_append_text(vf_chat_append_message(chat, m->role), p->text);
  }
  VfTurnStats again;
  g_autoptr(GString) a3 = g_string_new(NULL);
  g_assert_true(vf_session_generate(fresh, &o, append, a3, NULL, &again, &error));
  g_assert_cmpuint(again.prefilled_tokens, ==, second.prompt_tokens);
  ids = vf_session_last_answer(fresh, &n);
  g_assert_cmpmem(ids, n * sizeof(int32_t), reused, n_reused * sizeof(int32_t));
  g_assert_cmpstr(a3->str, ==, a2->str);
}

typedef struct {
  GCancellable *cancel;
  GString *text;
  int pieces;
} CancelAfter;

static void
cancel_after_two(const char *piece, size_t len, void *user)
{
  CancelAfter *c = user;
  g_string_append_len(c->text, piece, (gssize)len);
  if (++c->pieces == 2)
    g_cancellable_cancel(c->cancel);
}

/* Stopping keeps the partial answer, marked stopped; the conversation goes on afterwards. */
static void
test_cancel_keeps_partial_answer(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VfSession) s = session_on(model);
  VfGenerateOptions o = greedy(s, 16);
  vf_chat_message_append_text(vf_chat_append_message(vf_session_chat(s), "user"), "Count to ten.");
  g_autoptr(GCancellable) cancel = g_cancellable_new();
  g_autoptr(GString) text = g_string_new(NULL);
  CancelAfter c = {cancel, text, 0};
  VfTurnStats st;
  g_assert_true(vf_session_generate(s, &o, cancel_after_two, &c, cancel, &st, &error));
  g_assert_true(st.stopped);
  g_assert_false(st.finished_with_eos);
  g_assert_cmpuint(st.generated_tokens, <, 16);
  const VfChatMessage *reply = g_ptr_array_index(vf_session_chat(s)->messages, 1);
  g_assert_cmpstr(reply->role, ==, "assistant");
  g_assert_cmpstr(((VfChatPart *)reply->parts->pdata[0])->text, ==, text->str);

  vf_chat_message_append_text(vf_chat_append_message(vf_session_chat(s), "user"), "Go on.");
  g_autoptr(GString) more = g_string_new(NULL);
  g_assert_true(vf_session_generate(s, &o, append, more, NULL, &st, &error));
  g_assert_no_error(error);
  g_assert_false(st.stopped);
  g_assert_cmpuint(st.generated_tokens, ==, 16);
}

/* A prompt past the context is refused with the numbers and changes nothing. */
static void
test_prompt_too_long(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VfSession) s = session_on(model);
  VfGenerateOptions o = greedy(s, 4);
  g_autoptr(GString) big = g_string_new(NULL);
  for (int i = 0; i < 3000; i++)
    g_string_append(big, " sea");
  vf_chat_message_append_text(vf_chat_append_message(vf_session_chat(s), "user"), big->str);
  VfTurnStats st;
  g_assert_false(vf_session_generate(s, &o, NULL, NULL, NULL, &st, &error));
  g_assert_error(error, VF_ENGINE_ERROR, VF_ENGINE_ERROR_CONTEXT_FULL);
  g_assert_nonnull(strstr(error->message, "but the context holds 2048"));
  g_assert_cmpuint(vf_session_chat(s)->messages->len, ==, 1);
}

static void
free_model(void)
{
  vf_model_free(model);
  vf_tokenizer_free(tok);
}

static void
count_encodes(const char *stage, double fraction, void *user)
{
  if (g_str_has_prefix(stage, "Encoding picture") && strstr(stage, ": block 0 of "))
    (*(int *)user)++;
}

/* A picture is encoded once: a follow-up question reuses the cache, and even a forced re-prefill reuses the
 * kept vision output. The prompt's token count is known before any work. */
static void
test_picture_encoded_once(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VfSession) s = session_on(model);
  VfGenerateOptions o = greedy(s, 4);
  int encodes = 0;
  o.on_stage = count_encodes;
  o.stage_user = &encodes;
  g_autofree char *image = vf_test_data_path("golden/cases/a02_image_photo/chelsea.png");
  VfChatMessage *m = vf_chat_append_message(vf_session_chat(s), "user");
  vf_chat_message_append_image(m, image)->options.max_pixels = 20000;
  vf_chat_message_append_text(m, "Describe this image.");
  uint32_t tokens = 0;
  g_assert_true(vf_session_count_prompt(s, &o, &tokens, &error));
  g_assert_cmpuint(tokens, ==, 49); /* as case a02 */
  VfTurnStats st;
  g_assert_true(vf_session_generate(s, &o, NULL, NULL, NULL, &st, &error));
  g_assert_no_error(error);
  g_assert_cmpint(encodes, ==, 1);
  g_assert_cmpuint(st.prompt_tokens, ==, 49);
  vf_chat_message_append_text(vf_chat_append_message(vf_session_chat(s), "user"), "And its colour?");
  g_assert_true(vf_session_generate(s, &o, NULL, NULL, NULL, &st, &error));
  g_assert_cmpint(encodes, ==, 1);
  g_assert_cmpuint(st.prefilled_tokens, <, st.prompt_tokens - 40);

  /* A forced re-prefill: a system message put in front changes the prompt from its fourth token on, so the
   * KV cache keeps almost nothing and the picture's tokens run again, from the kept vision output. */
  GPtrArray *messages = vf_session_chat(s)->messages;
  vf_chat_message_append_text(vf_chat_append_message(vf_session_chat(s), "system"), "Answer briefly.");
  g_ptr_array_insert(messages, 0, g_ptr_array_steal_index(messages, messages->len - 1));
  vf_chat_message_append_text(vf_chat_append_message(vf_session_chat(s), "user"), "Thanks.");
  g_assert_true(vf_session_generate(s, &o, NULL, NULL, NULL, &st, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(st.prefilled_tokens, >=, st.prompt_tokens - 5);
  g_assert_cmpint(encodes, ==, 1);
}

typedef struct {
  GCancellable *cancel;
  GPtrArray *stages; /* every stage, in order */
  guint stop_at;     /* stages->len when the stop was requested; 0: not yet */
  gint64 stop_time;
} StopInEncode;

/* Stops at the first progress event of the vision encode (on the thread that runs the turn). */
static void
stop_in_encode(const char *stage, double fraction, void *user)
{
  StopInEncode *st = user;
  g_ptr_array_add(st->stages, g_strdup_printf("%s (%.2f)", stage, fraction));
  if (!st->stop_at && g_str_has_prefix(stage, "Encoding picture 1: block")) {
    g_cancellable_cancel(st->cancel);
    st->stop_at = st->stages->len;
    st->stop_time = g_get_monotonic_time();
  }
}

/* Stop during the vision encode of a 2000×2000 picture: the turn ends within one block, cancelled, with the
 * conversation, the KV cache and the picture's kept pixels as before; the resent turn then answers. */
static void
test_stop_during_encode(void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *tmp = g_dir_make_tmp("vf-session-XXXXXX", NULL);
  g_autofree char *big = vf_test_write_bmp(tmp, "big.bmp", 2000, 2000);
  /* 5041 visual tokens: a model with room for them. */
  g_autofree char *dir = vf_test_data_path("models/tiny-a");
  VfLlmOptions room = {.context = 6144};
  g_autoptr(VfModel) roomy = vf_model_load(vf_test_device(), dir, &room, NULL, NULL, &error);
  g_assert_no_error(error);
  g_autoptr(VfSession) s = session_on(roomy);
  VfGenerateOptions o = greedy(s, 4);
  vf_chat_message_append_text(vf_chat_append_message(vf_session_chat(s), "user"), "Hello");
  g_assert_true(vf_session_generate(s, &o, NULL, NULL, NULL, NULL, &error));
  uint32_t before = 0;
  g_assert_true(vf_session_count_prompt(s, &o, &before, &error));

  VfChatMessage *m = vf_chat_append_message(vf_session_chat(s), "user");
  vf_chat_message_append_image(m, big);
  vf_chat_message_append_text(m, "What is this?");
  g_autoptr(GCancellable) cancel = g_cancellable_new();
  StopInEncode st = {cancel, g_ptr_array_new_with_free_func(g_free), 0};
  o.on_stage = stop_in_encode;
  o.stage_user = &st;
  gint64 t0 = g_get_monotonic_time();
  VfTurnStats stats;
  g_assert_false(vf_session_generate(s, &o, NULL, NULL, cancel, &stats, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint(st.stages->len, >, 0);
  gint64 t1 = g_get_monotonic_time();
  g_test_message("turn ended %.3f s after the stop (%.3f s after it began); stages: %s ... %s",
                 (t1 - st.stop_time) / 1e6, (t1 - t0) / 1e6, (char *)st.stages->pdata[0],
                 (char *)st.stages->pdata[st.stages->len - 1]);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error(&error);
  /* The stop came at "block 0 of D" (the patch embedding); the block running then was the last. */
  g_assert_cmpuint(st.stop_at, >, 0);
  g_assert_cmpuint(st.stages->len, ==, st.stop_at);
  g_assert_nonnull(strstr(st.stages->pdata[st.stop_at - 1], "block 0 of "));
  g_assert_cmpuint(vf_session_chat(s)->messages->len, ==, 3); /* the session leaves the question to its caller */
  g_ptr_array_set_size(vf_session_chat(s)->messages, 2);
  uint32_t after = 0;
  g_assert_true(vf_session_count_prompt(s, &o, &after, &error));
  g_assert_cmpuint(after, ==, before);

  /* Sent again: answered; the decode kept from the first try is used. */
  m = vf_chat_append_message(vf_session_chat(s), "user");
  VfChatPart *part = vf_chat_message_append_image(m, big);
  vf_chat_message_append_text(m, "What is this?");
  g_ptr_array_set_size(st.stages, 0);
  st.stop_at = 1; /* no stop this time */
  g_assert_true(vf_session_generate(s, &o, NULL, NULL, NULL, &stats, &error));
  g_assert_no_error(error);
  g_assert_nonnull(part->media);
  g_assert_cmpuint(stats.generated_tokens, >, 0);
  g_remove(big);
  g_rmdir(tmp);
  g_ptr_array_unref(st.stages);
}

/* The prompt built a message at a time (the cache, then a draft after it) is the whole conversation's prompt:
 * the same ids, positions, rope delta and text, Picture/Video numbering across the draft included. */
static void
test_incremental_prompt_is_whole(void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *photo = vf_test_data_path("golden/cases/a02_image_photo/chelsea.png");
  g_autofree char *f0 = vf_test_data_path("golden/cases/a05_video_frames/frame0.png");
  g_autofree char *f1 = vf_test_data_path("golden/cases/a05_video_frames/frame1.png");
  const char *frames[] = {f0, f1, NULL};
  VfChat *parts[2] = {vf_chat_new(), vf_chat_new()}; /* the conversation, the draft */
  g_autoptr(VfChat) whole = vf_chat_new();
  for (int copy = 0; copy < 2; copy++) {
    VfChat *conversation = copy == 0 ? parts[0] : whole, *draft = copy == 0 ? parts[1] : whole;
    VfChatMessage *m = vf_chat_append_message(conversation, "user");
    vf_chat_message_append_image(m, photo)->options.max_pixels = 20000;
    vf_chat_message_append_text(m, "What is this?");
    vf_chat_message_append_text(vf_chat_append_message(conversation, "assistant"), "A cat.\n");
    m = vf_chat_append_message(draft, "user");
    vf_chat_message_append_text(m, "And these, ");
    vf_chat_message_append_video_frames(m, frames);
    vf_chat_message_append_image(m, photo)->options.max_pixels = 12000;
    vf_chat_message_append_text(m, "?");
  }
  VfChatTemplateFlags flags = VF_CHAT_TEMPLATE_VISION_ID;
  g_autoptr(VfPromptCache) cache = vf_prompt_cache_new(tok, model->config, flags, NULL, NULL, NULL);
  g_assert_true(vf_prompt_cache_sync(cache, parts[0], &error));
  g_assert_cmpuint(vf_prompt_cache_messages(cache), ==, 2);
  g_autoptr(VfPrompt) stepwise = vf_prompt_cache_build(cache, parts[1], TRUE, &error);
  g_assert_no_error(error);
  g_autoptr(VfPrompt) at_once =
      vf_prompt_build(whole, tok, model->config, flags | VF_CHAT_TEMPLATE_GENERATION_PROMPT, NULL, NULL, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(stepwise->text, ==, at_once->text);
  g_assert_nonnull(strstr(at_once->text, "Picture 2: "));
  g_assert_cmpuint(stepwise->n, ==, at_once->n);
  g_assert_cmpmem(stepwise->ids, stepwise->n * 4, at_once->ids, at_once->n * 4);
  g_assert_cmpmem(stepwise->positions, 3 * stepwise->n * 4, at_once->positions, 3 * at_once->n * 4);
  g_assert_cmpint(stepwise->delta, ==, at_once->delta);
  g_assert_cmpuint(stepwise->items->len, ==, 3);
  vf_chat_free(parts[0]);
  vf_chat_free(parts[1]);
}

static const char *
last_text(VfSession *s)
{
  VfChat *chat = vf_session_chat(s);
  const VfChatMessage *m = chat->messages->pdata[chat->messages->len - 1];
  return ((const VfChatPart *)m->parts->pdata[0])->text;
}

/* An answer cut at 6 tokens and continued for 6 more is the answer of one 12-token turn, text and ids; only the
 * cut answer's last token is prefilled again; the next question follows the whole answer. Continuing a
 * conversation that does not end with an answer is refused. */
static void
test_continue_cut_answer(void)
{
  g_autoptr(GError) error = NULL;
  const char *question = "Tell me a long story about the sea.";
  g_autoptr(VfSession) whole = session_on(model);
  VfGenerateOptions o12 = greedy(whole, 12);
  vf_chat_message_append_text(vf_chat_append_message(vf_session_chat(whole), "user"), question);
  VfTurnStats st;
  g_assert_true(vf_session_generate(whole, &o12, NULL, NULL, NULL, &st, &error));
  g_assert_no_error(error);
  g_assert_cmpint(st.stop_reason, ==, VF_STOP_TOKEN_LIMIT);
  uint32_t n_whole;
  const int32_t *whole_ids = vf_session_last_answer(whole, &n_whole);

  g_autoptr(VfSession) s = session_on(model);
  VfGenerateOptions o6 = greedy(s, 6);
  vf_chat_message_append_text(vf_chat_append_message(vf_session_chat(s), "user"), question);
  g_assert_false(vf_session_continue(s, &o6, NULL, NULL, NULL, &st, &error));
  g_assert_error(error, VF_ENGINE_ERROR, VF_ENGINE_ERROR_NO_ANSWER);
  g_clear_error(&error);
  g_autoptr(GString) streamed = g_string_new(NULL);
  g_assert_true(vf_session_generate(s, &o6, append, streamed, NULL, &st, &error));
  g_assert_cmpint(st.stop_reason, ==, VF_STOP_TOKEN_LIMIT);
  uint32_t prompt_tokens = st.prompt_tokens;
  g_assert_true(vf_session_continue(s, &o6, append, streamed, NULL, &st, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(st.generated_tokens, ==, 6);
  g_assert_cmpuint(st.prompt_tokens, ==, prompt_tokens + 6);
  g_assert_cmpuint(st.prefilled_tokens, ==, 1);
  g_assert_cmpuint(vf_session_chat(s)->messages->len, ==, 2);
  g_assert_cmpstr(last_text(s), ==, last_text(whole));
  g_assert_cmpstr(streamed->str, ==, last_text(whole));
  uint32_t n;
  const int32_t *ids = vf_session_last_answer(s, &n);
  g_assert_cmpmem(ids, n * 4, whole_ids, n_whole * 4);

  /* A follow-up prompt holds the whole answer, as the 12-token session's does. */
  VfGenerateOptions o4 = greedy(s, 4);
  for (guint i = 0; i < 2; i++) {
    VfSession *each = i ? whole : s;
    vf_chat_message_append_text(vf_chat_append_message(vf_session_chat(each), "user"), "And then?");
    g_assert_true(vf_session_generate(each, &o4, NULL, NULL, NULL, &st, &error));
    g_assert_no_error(error);
  }
  g_assert_cmpstr(last_text(s), ==, last_text(whole));
}

int
main(int argc, char **argv)
{
  vf_test_init(&argc, &argv);
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = vf_test_model_path("tiny-a");
  g_autofree char *tdir = vf_test_data_path("tokenizer");
  tok = vf_tokenizer_load(tdir, &error);
  g_assert_no_error(error);
  VfLlmOptions opts = {.context = 2048, .sequences = 2}; /* a session and a fresh one side by side */
  model = vf_model_load(vf_test_device(), dir, &opts, NULL, NULL, &error);
  g_assert_no_error(error);
  g_test_add_func("/session/follow-up-reuses-cache", test_follow_up_reuses_cache);
  g_test_add_func("/session/cancel-keeps-partial-answer", test_cancel_keeps_partial_answer);
  g_test_add_func("/session/prompt-too-long", test_prompt_too_long);
  g_test_add_func("/session/picture-encoded-once", test_picture_encoded_once);
  g_test_add_func("/session/stop-during-encode", test_stop_during_encode);
  g_test_add_func("/session/incremental-prompt-is-whole", test_incremental_prompt_is_whole);
  g_test_add_func("/session/continue-cut-answer", test_continue_cut_answer);
  vf_test_on_finish(free_model);
  return vf_test_finish();
}
