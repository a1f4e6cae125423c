/* The engine keeps its conversation in the history (vf_engine_open_history_async, model/engine/vf_recorder.c):
 * kill -9 of a process mid-answer keeps the question, its picture and the answer up to its last second; the
 * reopened conversation answers the next question exactly as a fresh run over the same messages does; a
 * failed turn, a truncation and a reset leave the history as the engine's conversation is; a stopped answer is
 * kept, and after a model switch the conversation goes on in the same stored conversation. Tiny-a golden model
 * on lavapipe. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vf_engine.h"
#include "vf_recorder.h"
#include "vf_test_data.h"
#include "vf_test_dir.h"

static const char *self_exe;

#define FIRST_QUESTION "Describe this at length"
/* The child's answer is this long at most: ~60 s at lavapipe's 47 tokens/s on a loaded machine, so it is
 * always killed mid-answer. */
#define CHILD_MAX_TOKENS 3000

typedef struct {
  gboolean done, ok;
  GError *error;
  VfTurnStats stats;
  GString *text;
  char *notice;
} Result;

static void
on_text(VfEngine *engine, const char *piece, Result *r)
{
  g_string_append(r->text, piece);
}

static void
on_loaded(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Result *r = user_data;
  r->ok = vf_engine_load_finish(VF_ENGINE(source), result, &r->error);
  r->done = TRUE;
}

static void
on_history(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Result *r = user_data;
  r->ok = vf_engine_open_history_finish(VF_ENGINE(source), result, &r->notice, &r->error);
  r->done = TRUE;
}

static void
on_opened(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Result *r = user_data;
  r->ok = vf_engine_open_conversation_finish(VF_ENGINE(source), result, &r->error);
  r->done = TRUE;
}

static void
on_sent(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Result *r = user_data;
  r->ok = vf_engine_send_finish(VF_ENGINE(source), result, &r->stats, &r->error);
  r->done = TRUE;
}

static void
wait_for(Result *r)
{
  while (!r->done)
    g_main_context_iteration(NULL, TRUE);
}

static VfEngine *
load_tiny(guint max_new_tokens)
{
  g_autofree char *model = vf_test_data_path("models/tiny-a");
  g_autofree char *tokenizer = vf_test_data_path("tokenizer");
  VfEngine *engine = vf_engine_new();
  vf_engine_set_max_new_tokens(engine, max_new_tokens);
  vf_engine_set_context(engine, 4096);
  Result r = {0};
  vf_engine_load_async(engine, model, tokenizer, NULL, on_loaded, &r);
  wait_for(&r);
  g_assert_no_error(r.error);
  return engine;
}

static void
open_history(VfEngine *engine, const char *dir)
{
  Result r = {0};
  vf_engine_open_history_async(engine, dir, NULL, on_history, &r);
  wait_for(&r);
  g_assert_no_error(r.error);
  g_assert_null(r.notice);
}

/* Sends `draft` (NULL: continues the last answer) and returns the streamed text (free with g_free). */
static char *
send(VfEngine *engine, VfChat *draft, VfTurnStats *stats, GError **error)
{
  Result r = {.text = g_string_new(NULL)};
  gulong handler = g_signal_connect(engine, "text", G_CALLBACK(on_text), &r);
  if (draft)
    vf_engine_send_async(engine, draft, NULL, on_sent, &r);
  else
    vf_engine_continue_async(engine, NULL, on_sent, &r);
  wait_for(&r);
  g_signal_handler_disconnect(engine, handler);
  if (stats)
    *stats = r.stats;
  if (!r.ok) {
    g_propagate_error(error, r.error);
    g_string_free(r.text, TRUE);
    return NULL;
  }
  return g_string_free(r.text, FALSE);
}

static VfChat *
question(const char *text, const char *image)
{
  VfChat *draft = vf_chat_new();
  VfChatMessage *m = vf_chat_append_message(draft, "user");
  if (image)
    vf_chat_message_append_image(m, image);
  vf_chat_message_append_text(m, text);
  return draft;
}

static GPtrArray *
stored_messages(const char *dir, gint64 *conversation, guint expect_conversations)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VfHistory) h = vf_history_open(dir, NULL, &error);
  g_assert_no_error(error);
  g_autoptr(GPtrArray) list = vf_history_list(h, NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(list->len, ==, expect_conversations);
  if (!expect_conversations)
    return g_ptr_array_new();
  const VfHistoryConversation *newest = list->pdata[0];
  if (conversation)
    *conversation = newest->id;
  GPtrArray *messages = vf_history_messages(h, newest->id, &error);
  g_assert_no_error(error);
  return messages;
}

static const VfHistoryMessage *
message_at(GPtrArray *messages, guint i)
{
  return messages->pdata[i];
}

/* ---- kill -9 mid-answer ------------------------------------------------------------------------------------ */

static void
child_on_text(VfEngine *engine, const char *piece, GString *streamed)
{
  g_string_append(streamed, piece);
  printf("STREAMED %" G_GINT64_FORMAT " %zu\n", g_get_monotonic_time(), streamed->len);
  fflush(stdout);
}

/* The child: the engine with a history in `dir` answers a question about a picture for up to CHILD_MAX_TOKENS
 * tokens, printing the monotonic time and the streamed length after every piece. */
static int
child_answer(const char *dir)
{
  VfEngine *engine = load_tiny(CHILD_MAX_TOKENS);
  open_history(engine, dir);
  g_autofree char *picture = vf_test_data_path("golden/cases/a02_image_photo/chelsea.png");
  g_autoptr(GString) streamed = g_string_new(NULL);
  g_signal_connect(engine, "text", G_CALLBACK(child_on_text), streamed);
  Result r = {0};
  vf_engine_send_async(engine, question(FIRST_QUESTION, picture), NULL, on_sent, &r);
  wait_for(&r);
  printf("DONE\n");
  return 0;
}

typedef struct {
  gint64 at_us;
  gsize length;
} Streamed;

static void
test_kill_mid_answer(void)
{
  g_autofree char *dir = vf_test_dir_new("vf-history-engine-XXXXXX");
  const char *argv[] = {self_exe, "--child-answer", dir, NULL};
  GPid pid;
  int out_fd = -1;
  g_autoptr(GError) error = NULL;
  g_assert_true(g_spawn_async_with_pipes(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, NULL,
                                         &out_fd, NULL, &error));
  g_assert_no_error(error);
  FILE *out = fdopen(out_fd, "r");
  char line[128];
  g_autoptr(GArray) streamed = g_array_new(FALSE, FALSE, sizeof(Streamed));
  /* Three seconds of answer: the first piece's commit and at least two more. */
  while (fgets(line, sizeof line, out)) {
    Streamed s;
    g_assert_false(g_str_has_prefix(line, "DONE")); /* killed mid-answer, never finished */
    if (sscanf(line, "STREAMED %" G_GINT64_FORMAT " %zu", &s.at_us, &s.length) != 2)
      continue;
    g_array_append_val(streamed, s);
    if (s.at_us - g_array_index(streamed, Streamed, 0).at_us >= 3 * G_USEC_PER_SEC)
      break;
  }
  gint64 killed_us = g_get_monotonic_time();
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  g_assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  while (fgets(line, sizeof line, out)) {
    Streamed s;
    if (sscanf(line, "STREAMED %" G_GINT64_FORMAT " %zu", &s.at_us, &s.length) == 2)
      g_array_append_val(streamed, s);
  }
  fclose(out);
  g_spawn_close_pid(pid);
  g_assert_cmpuint(streamed->len, >, 0);

  /* What had streamed a second (plus one token's slack) before the kill is stored. */
  gsize due = 0, total = g_array_index(streamed, Streamed, streamed->len - 1).length;
  for (guint i = 0; i < streamed->len; i++) {
    const Streamed *s = &g_array_index(streamed, Streamed, i);
    if (s->at_us <= killed_us - 3 * G_USEC_PER_SEC / 2)
      due = s->length;
  }
  gint64 conversation = 0;
  g_autoptr(GPtrArray) messages = stored_messages(dir, &conversation, 1);
  g_assert_cmpuint(messages->len, ==, 2);
  const VfHistoryMessage *asked = message_at(messages, 0), *answer = message_at(messages, 1);
  g_assert_cmpstr(asked->role, ==, "user");
  g_assert_cmpstr(asked->text, ==, FIRST_QUESTION);
  g_assert_cmpuint(asked->attachments->len, ==, 1);
  const VfHistoryAttachment *picture = asked->attachments->pdata[0];
  g_assert_cmpstr(picture->kind, ==, "image");
  g_assert_cmpstr(picture->name, ==, "chelsea.png");
  g_assert_nonnull(picture->blob);
  g_assert_cmpstr(answer->role, ==, "assistant");
  g_assert_null(answer->stats); /* killed before its end */
  gsize stored = strlen(answer->text);
  g_test_message("streamed %zu bytes before kill -9, %zu due a second before it, %zu stored", total, due, stored);
  g_assert_cmpuint(stored, >=, due);
  g_assert_cmpuint(stored, >, 0);
  g_assert_cmpuint(stored, <=, total + 64); /* the worker may be a piece ahead of the streamed signal */
  g_autofree char *stored_answer = g_strdup(answer->text);

  /* Reopened: the conversation is the engine's, prefilled whole at the next question. */
  VfEngine *engine = load_tiny(12);
  open_history(engine, dir);
  Result opened = {0};
  vf_engine_open_conversation_async(engine, conversation, NULL, on_opened, &opened);
  wait_for(&opened);
  g_assert_no_error(opened.error);
  GListModel *view = vf_engine_get_conversation(engine);
  g_assert_cmpuint(g_list_model_get_n_items(view), ==, 2);
  g_autoptr(VfConversationMessage) first = g_list_model_get_item(view, 0);
  g_autoptr(VfConversationMessage) second = g_list_model_get_item(view, 1);
  g_assert_cmpstr(vf_conversation_message_get_text(first), ==, FIRST_QUESTION);
  g_assert_cmpstr(vf_conversation_message_get_text(second), ==, stored_answer);
  g_assert_cmpint(vf_engine_get_stored_conversation(engine), ==, conversation);
  VfTurnStats reopened_stats;
  g_autofree char *reopened = send(engine, question("Go on", NULL), &reopened_stats, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(reopened_stats.prefilled_tokens, ==, reopened_stats.prompt_tokens);
  vf_engine_shutdown(engine);
  g_object_unref(engine);

  /* A fresh engine without history, over the same messages (the picture from its original file). */
  VfEngine *fresh = load_tiny(12);
  g_autofree char *original = vf_test_data_path("golden/cases/a02_image_photo/chelsea.png");
  VfChat *same = question(FIRST_QUESTION, original);
  vf_chat_message_append_text(vf_chat_append_message(same, "assistant"), stored_answer);
  vf_chat_message_append_text(vf_chat_append_message(same, "user"), "Go on");
  VfTurnStats fresh_stats;
  g_autofree char *fresh_answer = send(fresh, same, &fresh_stats, &error);
  g_assert_no_error(error);
  vf_engine_shutdown(fresh);
  g_object_unref(fresh);
  g_test_message("after reopening: %u prompt tokens, \"%s\"", reopened_stats.prompt_tokens, reopened);
  g_assert_cmpuint(reopened_stats.prompt_tokens, ==, fresh_stats.prompt_tokens);
  g_assert_cmpuint(reopened_stats.generated_tokens, ==, fresh_stats.generated_tokens);
  g_assert_cmpstr(reopened, ==, fresh_answer);

  /* The new turn is stored with its stats. */
  g_autoptr(GPtrArray) after = stored_messages(dir, NULL, 1);
  g_assert_cmpuint(after->len, ==, 4);
  g_assert_cmpstr(message_at(after, 2)->text, ==, "Go on");
  g_assert_cmpstr(message_at(after, 3)->text, ==, reopened);
  g_autoptr(JsonNode) stats = json_from_string(message_at(after, 3)->stats, &error);
  g_assert_no_error(error);
  JsonObject *o = json_node_get_object(stats);
  g_assert_cmpstr(json_object_get_string_member(o, "model"), ==, "tiny-a");
  g_assert_cmpint(json_object_get_int_member(o, "generated_tokens"), ==, reopened_stats.generated_tokens);
  g_assert_cmpint(json_object_get_int_member(o, "prompt_tokens"), ==, reopened_stats.prompt_tokens);
  g_assert_cmpint(json_object_get_int_member(o, "max_new_tokens"), ==, 12);
  g_assert_cmpstr(json_object_get_string_member(o, "stop_reason"), ==,
                  reopened_stats.finished_with_eos ? "eos" : "token_limit");
  g_assert_false(json_object_get_boolean_member(o, "stopped"));
  vf_test_dir_remove(dir);
}

/* ---- the history follows the engine's conversation ------------------------------------------------------------ */

static void
test_follows_conversation(void)
{
  g_autofree char *dir = vf_test_dir_new("vf-history-engine-XXXXXX");
  VfEngine *engine = load_tiny(4);
  open_history(engine, dir);
  g_autoptr(GError) error = NULL;

  /* A stop before the first token of a new conversation leaves nothing stored. */
  g_autoptr(GCancellable) cancel = g_cancellable_new();
  g_cancellable_cancel(cancel);
  Result stopped = {0};
  vf_engine_send_async(engine, question("Stop me", NULL), cancel, on_sent, &stopped);
  wait_for(&stopped);
  g_assert_error(stopped.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error(&stopped.error);
  g_ptr_array_unref(stored_messages(dir, NULL, 0));
  g_assert_cmpint(vf_engine_get_stored_conversation(engine), ==, 0);

  g_autofree char *first = send(engine, question("Hello there\nsecond line", NULL), NULL, &error);
  g_assert_no_error(error);
  gint64 conversation = vf_engine_get_stored_conversation(engine);
  g_assert_cmpint(conversation, >, 0);
  {
    g_autoptr(VfHistory) h = vf_history_open(dir, NULL, &error);
    g_autoptr(GPtrArray) list = vf_history_list(h, NULL, &error);
    g_assert_cmpuint(list->len, ==, 1);
    g_assert_cmpstr(((VfHistoryConversation *)list->pdata[0])->title, ==, "Hello there");
    g_assert_cmpstr(((VfHistoryConversation *)list->pdata[0])->model, ==, "tiny-a");
  }

  /* A failed turn (a corrupt picture) takes its question out again. */
  g_autofree char *bad = vf_test_data_path("ui/corrupt.png");
  g_autofree char *failed = send(engine, question("And this?", bad), NULL, &error);
  g_assert_null(failed);
  g_assert_error(error, VF_ENGINE_ERROR, VF_ENGINE_ERROR_MEDIA);
  g_clear_error(&error);
  g_autoptr(GPtrArray) two = stored_messages(dir, NULL, 1);
  g_assert_cmpuint(two->len, ==, 2);
  g_assert_cmpstr(message_at(two, 1)->text, ==, first);

  g_autofree char *second = send(engine, question("Once more", NULL), NULL, &error);
  g_assert_no_error(error);
  g_autoptr(GPtrArray) four = stored_messages(dir, NULL, 1);
  g_assert_cmpuint(four->len, ==, 4);
  g_assert_cmpstr(message_at(four, 3)->text, ==, second);

  /* Truncation keeps the same messages in both. */
  vf_engine_truncate(engine, 2);
  g_autofree char *third = send(engine, question("Instead", NULL), NULL, &error);
  g_assert_no_error(error);
  g_autoptr(GPtrArray) truncated = stored_messages(dir, NULL, 1);
  g_assert_cmpuint(truncated->len, ==, 4);
  g_assert_cmpstr(message_at(truncated, 2)->text, ==, "Instead");
  g_assert_cmpstr(message_at(truncated, 3)->text, ==, third);

  /* After a reset the next question starts a second conversation; the first one stays. */
  vf_engine_reset(engine);
  g_autofree char *other = send(engine, question("A new topic", NULL), NULL, &error);
  g_assert_no_error(error);
  gint64 second_conversation = vf_engine_get_stored_conversation(engine);
  g_assert_cmpint(second_conversation, >, conversation);
  g_autoptr(GPtrArray) newest = stored_messages(dir, NULL, 2);
  g_assert_cmpuint(newest->len, ==, 2);
  g_assert_cmpstr(message_at(newest, 0)->text, ==, "A new topic");

  /* Opening an id that is not stored is an error; the conversation stays. */
  Result missing = {0};
  vf_engine_open_conversation_async(engine, 9999, NULL, on_opened, &missing);
  wait_for(&missing);
  g_assert_error(missing.error, VF_HISTORY_ERROR, VF_HISTORY_ERROR_NOT_FOUND);
  g_clear_error(&missing.error);
  g_assert_cmpuint(g_list_model_get_n_items(vf_engine_get_conversation(engine)), ==, 2);
  g_assert_cmpint(vf_engine_get_stored_conversation(engine), ==, second_conversation);

  vf_engine_shutdown(engine);
  g_object_unref(engine);
  vf_test_dir_remove(dir);
}

/* ---- a stop mid-answer and a model switch ---------------------------------------------------------------- */

static void
stop_after_first_piece(VfEngine *engine, const char *piece, GCancellable *stop)
{
  g_cancellable_cancel(stop);
}

/* New Chat during an answer stops it: the partial answer is kept with stopped stats. After a model switch the
 * next turn goes to the same stored conversation, with the model named in its stats. */
static void
test_stop_and_switch_model(void)
{
  g_autofree char *dir = vf_test_dir_new("vf-history-engine-XXXXXX");
  VfEngine *engine = load_tiny(200);
  open_history(engine, dir);
  g_autoptr(GCancellable) stop = g_cancellable_new();
  gulong handler = g_signal_connect(engine, "text", G_CALLBACK(stop_after_first_piece), stop);
  Result r = {.text = g_string_new(NULL)};
  g_signal_connect(engine, "text", G_CALLBACK(on_text), &r);
  vf_engine_send_async(engine, question("Tell me a long story", NULL), stop, on_sent, &r);
  wait_for(&r);
  g_signal_handler_disconnect(engine, handler);
  g_signal_handlers_disconnect_by_data(engine, &r);
  g_assert_no_error(r.error);
  g_assert_true(r.stats.stopped);
  g_assert_cmpuint(r.stats.generated_tokens, <, 200);
  gint64 conversation = vf_engine_get_stored_conversation(engine);
  g_autoptr(GPtrArray) stopped = stored_messages(dir, NULL, 1);
  g_assert_cmpuint(stopped->len, ==, 2);
  g_assert_cmpstr(message_at(stopped, 1)->text, ==, r.text->str);
  g_autoptr(JsonNode) stats = json_from_string(message_at(stopped, 1)->stats, NULL);
  g_assert_nonnull(stats);
  g_assert_true(json_object_get_boolean_member(json_node_get_object(stats), "stopped"));
  g_assert_cmpstr(json_object_get_string_member(json_node_get_object(stats), "stop_reason"), ==, "stopped");
  g_string_free(r.text, TRUE);

  /* (tiny-b's vocabulary does not fit the test tokenizer: the switch loads tiny-a again, which releases the
   * model and uploads it anew just the same.) */
  g_autofree char *other = vf_test_data_path("models/tiny-a");
  g_autofree char *tokenizer = vf_test_data_path("tokenizer");
  Result loaded = {0};
  vf_engine_load_async(engine, other, tokenizer, NULL, on_loaded, &loaded);
  wait_for(&loaded);
  g_assert_no_error(loaded.error);
  g_autoptr(GError) error = NULL;
  g_autofree char *answer = send(engine, question("Go on", NULL), NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpint(vf_engine_get_stored_conversation(engine), ==, conversation);
  g_autoptr(GPtrArray) after = stored_messages(dir, NULL, 1);
  g_assert_cmpuint(after->len, ==, 4);
  g_autoptr(JsonNode) b_stats = json_from_string(message_at(after, 3)->stats, NULL);
  g_assert_cmpstr(json_object_get_string_member(json_node_get_object(b_stats), "model"), ==, "tiny-a");
  g_assert_cmpstr(message_at(after, 3)->text, ==, answer);
  vf_engine_shutdown(engine);
  g_object_unref(engine);
  vf_test_dir_remove(dir);
}

/* ---- continue ---------------------------------------------------------------------------------------------- */

/* An answer cut at 6 tokens, continued: the engine's view and the history hold the 12-token answer of a turn
 * with the larger limit, its stats count all 12 tokens and say why it ended; an empty conversation has nothing
 * to continue. */
static void
test_continue(void)
{
  g_autoptr(GError) error = NULL;
  const char *story = "Tell me a long story";
  VfEngine *longer = load_tiny(12);
  g_autofree char *whole = send(longer, question(story, NULL), NULL, &error);
  g_assert_no_error(error);
  vf_engine_shutdown(longer);
  g_object_unref(longer);

  g_autofree char *dir = vf_test_dir_new("vf-history-engine-XXXXXX");
  VfEngine *engine = load_tiny(6);
  open_history(engine, dir);
  VfTurnStats stats;
  g_autofree char *cut = send(engine, question(story, NULL), &stats, &error);
  g_assert_no_error(error);
  g_assert_cmpint(stats.stop_reason, ==, VF_STOP_TOKEN_LIMIT);
  g_autofree char *more = send(engine, NULL, &stats, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(stats.generated_tokens, ==, 6);
  g_autofree char *joined = g_strconcat(cut, more, NULL);
  g_assert_cmpstr(joined, ==, whole);
  GListModel *view = vf_engine_get_conversation(engine);
  g_assert_cmpuint(g_list_model_get_n_items(view), ==, 2);
  g_autoptr(VfConversationMessage) last = g_list_model_get_item(view, 1);
  g_assert_cmpstr(vf_conversation_message_get_text(last), ==, whole);
  g_autoptr(GPtrArray) stored = stored_messages(dir, NULL, 1);
  g_assert_cmpuint(stored->len, ==, 2);
  g_assert_cmpstr(message_at(stored, 1)->text, ==, whole);
  g_autoptr(JsonNode) stored_stats = json_from_string(message_at(stored, 1)->stats, NULL);
  JsonObject *o = json_node_get_object(stored_stats);
  g_assert_cmpint(json_object_get_int_member(o, "generated_tokens"), ==, 12);
  g_assert_cmpstr(json_object_get_string_member(o, "stop_reason"), ==, "token_limit");

  vf_engine_reset(engine);
  g_assert_null(send(engine, NULL, NULL, &error));
  g_assert_error(error, VF_ENGINE_ERROR, VF_ENGINE_ERROR_NO_ANSWER);
  vf_engine_shutdown(engine);
  g_object_unref(engine);
  vf_test_dir_remove(dir);
}

/* ---- edit, regenerate, delete ------------------------------------------------------------------------------ */

static VfConversationMessage *
view_at(VfEngine *engine, guint i)
{
  VfConversationMessage *m = g_list_model_get_item(vf_engine_get_conversation(engine), i);
  g_object_unref(m); /* the view holds it */
  return m;
}

static void
on_resent(GObject *source, GAsyncResult *result, gpointer user_data)
{
  on_sent(source, result, user_data);
}

/* Regenerate keeps both answers (the view says 2 of 2, the history holds both alternatives, the first chosen
 * again on request); an edited first question replaces the conversation from there, and a stopped edit leaves it
 * as it was; deleting the first of two turns leaves the second, in the view and the history. */
static void
test_edit_regenerate_delete(void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = vf_test_dir_new("vf-history-engine-XXXXXX");
  VfEngine *engine = load_tiny(6);
  open_history(engine, dir);
  GListModel *view = vf_engine_get_conversation(engine);
  g_autofree char *first = send(engine, question("Hello", NULL), NULL, &error);
  g_assert_no_error(error);

  Result r = {.text = g_string_new(NULL)};
  vf_engine_regenerate_async(engine, 1, NULL, on_resent, &r);
  wait_for(&r);
  g_assert_no_error(r.error);
  g_string_free(r.text, TRUE);
  g_assert_cmpuint(g_list_model_get_n_items(view), ==, 2);
  g_assert_cmpuint(vf_conversation_message_get_n_alternatives(view_at(engine, 1)), ==, 2);
  g_assert_cmpuint(vf_conversation_message_get_alternative(view_at(engine, 1)), ==, 1);
  g_assert_cmpstr(vf_conversation_message_get_text(view_at(engine, 1)), ==, first); /* greedy */
  g_autoptr(GPtrArray) two = stored_messages(dir, NULL, 1);
  g_assert_cmpuint(two->len, ==, 3);
  g_assert_false(message_at(two, 1)->chosen);
  g_assert_true(message_at(two, 2)->chosen);
  g_assert_cmpuint(message_at(two, 2)->alternative, ==, 1);
  vf_engine_choose_answer(engine, 0);
  g_autofree char *more = send(engine, question("Tell me more", NULL), NULL, &error);
  g_assert_no_error(error);
  g_autoptr(GPtrArray) chosen = stored_messages(dir, NULL, 1);
  g_assert_true(message_at(chosen, 1)->chosen);
  g_assert_false(message_at(chosen, 2)->chosen);

  /* A stopped edit: nothing changes. */
  g_autoptr(GCancellable) stop = g_cancellable_new();
  g_cancellable_cancel(stop);
  Result stopped = {.text = g_string_new(NULL)};
  vf_engine_resend_async(engine, 0, question("Good morning", NULL), stop, on_resent, &stopped);
  wait_for(&stopped);
  g_assert_error(stopped.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error(&stopped.error);
  g_string_free(stopped.text, TRUE);
  g_assert_cmpuint(g_list_model_get_n_items(view), ==, 4);
  g_autoptr(GPtrArray) unchanged = stored_messages(dir, NULL, 1);
  g_assert_cmpuint(unchanged->len, ==, 5);

  /* The edit: the conversation is the new question and its answer, as a fresh engine answers it. */
  Result edited = {.text = g_string_new(NULL)};
  vf_engine_resend_async(engine, 0, question("Good morning", NULL), NULL, on_resent, &edited);
  wait_for(&edited);
  g_assert_no_error(edited.error);
  g_string_free(edited.text, TRUE);
  g_assert_cmpuint(g_list_model_get_n_items(view), ==, 2);
  g_assert_cmpstr(vf_conversation_message_get_text(view_at(engine, 0)), ==, "Good morning");
  VfEngine *fresh = load_tiny(6);
  g_autofree char *expected = send(fresh, question("Good morning", NULL), NULL, &error);
  vf_engine_shutdown(fresh);
  g_object_unref(fresh);
  g_assert_cmpstr(vf_conversation_message_get_text(view_at(engine, 1)), ==, expected);
  g_autoptr(GPtrArray) after_edit = stored_messages(dir, NULL, 1);
  g_assert_cmpuint(after_edit->len, ==, 2);
  g_assert_cmpstr(message_at(after_edit, 0)->text, ==, "Good morning");
  g_assert_cmpstr(message_at(after_edit, 1)->text, ==, expected);

  g_free(send(engine, question("Third", NULL), NULL, &error));
  g_assert_no_error(error);
  vf_engine_delete_turn(engine, 0);
  g_free(send(engine, question("Fourth", NULL), NULL, &error)); /* queued behind the delete */
  g_assert_no_error(error);
  g_assert_cmpuint(g_list_model_get_n_items(view), ==, 4);
  g_assert_cmpstr(vf_conversation_message_get_text(view_at(engine, 0)), ==, "Third");
  g_autoptr(GPtrArray) after_delete = stored_messages(dir, NULL, 1);
  g_assert_cmpuint(after_delete->len, ==, 4);
  g_assert_cmpstr(message_at(after_delete, 0)->text, ==, "Third");
  g_assert_cmpuint(message_at(after_delete, 3)->position, ==, 3);
  vf_engine_shutdown(engine);
  g_object_unref(engine);
  vf_test_dir_remove(dir);
}

/* ---- titles ------------------------------------------------------------------------------------------------ */

static void
test_titles(void)
{
  const struct {
    const char *text, *image, *title;
  } cases[] = {
    {"  What is in Picture 1?  ", NULL, "What is in Picture 1?"},
    {"\n\nFirst line\nsecond", NULL, "First line"},
    {"", "x.png", "Picture"},
    {"   ", NULL, "New conversation"},
    {"Describe every object on this table in detail, with its colour, size and what it is for", NULL,
     "Describe every object on this table in detail, with its col…"},
    {"ÄÖÜäöüßéèêëàâáãåçñøœæ ÄÖÜäöüßéèêëàâáãåçñøœæ ÄÖÜäöüßéèêëàâáãåçñøœæ", NULL,
     "ÄÖÜäöüßéèêëàâáãåçñøœæ ÄÖÜäöüßéèêëàâáãåçñøœæ ÄÖÜäöüßéèêëàâáã…"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(VfChat) chat = question(cases[i].text, cases[i].image);
    g_autofree char *title = vf_recorder_title(chat->messages->pdata[0]);
    g_assert_cmpstr(title, ==, cases[i].title);
    g_assert_cmpint(g_utf8_strlen(title, -1), <=, 60);
  }
}

int
main(int argc, char **argv)
{
  if (argc == 3 && g_str_equal(argv[1], "--child-answer"))
    return child_answer(argv[2]);
  self_exe = argv[0];
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/history-engine/titles", test_titles);
  g_test_add_func("/history-engine/follows-conversation", test_follows_conversation);
  g_test_add_func("/history-engine/kill-mid-answer", test_kill_mid_answer);
  g_test_add_func("/history-engine/stop-and-switch-model", test_stop_and_switch_model);
  g_test_add_func("/history-engine/continue", test_continue);
  g_test_add_func("/history-engine/edit-regenerate-delete", test_edit_regenerate_delete);
  return g_test_run();
}
