/* Conversations over tiny-a: multi-turn KV-cache reuse and cancellation. */
#include <string.h>

#include "vf_session.h"
#include "vf_test.h"
#include "vf_test_data.h"

static VfModel *model;
static VfTokenizer *tok;

static void
append(const char *piece, size_t len, void *user)
{
  g_string_append_len(user, piece, (gssize)len);
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
  g_autoptr(VfSession) s = vf_session_new(model, tok);
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
  g_autoptr(VfSession) fresh = vf_session_new(model, tok);
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
  g_autoptr(VfSession) s = vf_session_new(model, tok);
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
  g_autoptr(VfSession) s = vf_session_new(model, tok);
  VfGenerateOptions o = greedy(s, 4);
  g_autoptr(GString) big = g_string_new(NULL);
  for (int i = 0; i < 3000; i++)
    g_string_append(big, " sea");
  vf_chat_message_append_text(vf_chat_append_message(vf_session_chat(s), "user"), big->str);
  VfTurnStats st;
  g_assert_false(vf_session_generate(s, &o, NULL, NULL, NULL, &st, &error));
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
  if (g_str_has_prefix(stage, "Encoding picture"))
    (*(int *)user)++;
}

/* A picture is encoded once: a follow-up question reuses the cache, and even a forced re-prefill reuses the
 * kept vision output. The prompt's token count is known before any work. */
static void
test_picture_encoded_once(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VfSession) s = vf_session_new(model, tok);
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

int
main(int argc, char **argv)
{
  vf_test_init(&argc, &argv);
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = vf_test_data_path("models/tiny-a");
  g_autofree char *tdir = vf_test_data_path("tokenizer");
  tok = vf_tokenizer_load(tdir, &error);
  g_assert_no_error(error);
  VfLlmOptions opts = {.context = 2048};
  model = vf_model_load(vf_test_device(), dir, &opts, NULL, NULL, &error);
  g_assert_no_error(error);
  g_test_add_func("/session/follow-up-reuses-cache", test_follow_up_reuses_cache);
  g_test_add_func("/session/cancel-keeps-partial-answer", test_cancel_keeps_partial_answer);
  g_test_add_func("/session/prompt-too-long", test_prompt_too_long);
  g_test_add_func("/session/picture-encoded-once", test_picture_encoded_once);
  vf_test_on_finish(free_model);
  return vf_test_finish();
}
