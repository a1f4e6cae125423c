/* The desktop app's engine worker (model/engine/vf_engine.c) without a window: requests run in order on the worker,
 * streamed text arrives before the turn's end, a failed turn leaves the conversation as it was, a stop
 * before the first token keeps an empty answer, and shutdown answers what is still queued. Tiny-a golden
 * model on lavapipe. */
#include <glib/gstdio.h>
#include <string.h>

#include "vf_engine.h"
#include "vf_test_data.h"

typedef struct {
  gboolean done;
  gboolean ok;
  GError *error;
  guint tokens;
  VfTurnStats stats;
  GString *text;     /* streamed so far */
  guint text_at_end; /* text->len when the turn's end arrived */
} Result;

static void
on_text(VfEngine *engine, const char *piece, Result *r)
{
  g_string_append(r->text, piece);
}

/* Counts vision encodes: the worker's stage before each one. */
static void
count_encode(VfEngine *engine, const char *stage, double fraction, guint *encodes)
{
  if (g_str_has_prefix(stage, "Encoding picture"))
    (*encodes)++;
}

static void
on_loaded(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Result *r = user_data;
  r->ok = vf_engine_load_finish(VF_ENGINE(source), result, &r->error);
  r->done = TRUE;
}

static void
on_sent(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Result *r = user_data;
  r->ok = vf_engine_send_finish(VF_ENGINE(source), result, &r->stats, &r->error);
  r->text_at_end = r->text ? (guint)r->text->len : 0;
  r->done = TRUE;
}

static void
on_counted(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Result *r = user_data;
  r->ok = vf_engine_count_finish(VF_ENGINE(source), result, &r->tokens, &r->error);
  r->done = TRUE;
}

static void
wait_for(Result *r)
{
  while (!r->done)
    g_main_context_iteration(NULL, TRUE);
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

static guint
count(VfEngine *engine, VfChat *draft)
{
  Result r = {0};
  vf_engine_count_async(engine, draft, NULL, on_counted, &r);
  wait_for(&r);
  g_assert_no_error(r.error);
  return r.tokens;
}

static VfEngine *
load_tiny(void)
{
  g_autofree char *model = vf_test_data_path("models/tiny-a");
  g_autofree char *tokenizer = vf_test_data_path("tokenizer");
  VfEngine *engine = vf_engine_new();
  vf_engine_set_max_new_tokens(engine, 12);
  Result r = {0};
  vf_engine_load_async(engine, model, tokenizer, NULL, on_loaded, &r);
  wait_for(&r);
  g_assert_no_error(r.error);
  const VfEngineModelInfo *info = vf_engine_get_model_info(engine);
  g_assert_cmpstr(info->display_name, ==, "tiny-a");
  g_assert_cmpuint(info->context, >, 0);
  return engine;
}

static void
test_turns(void)
{
  VfEngine *engine = load_tiny();
  Result r = {.text = g_string_new(NULL)};
  g_signal_connect(engine, "text", G_CALLBACK(on_text), &r);

  /* Counting does not change the conversation. */
  guint empty = count(engine, vf_chat_new());
  guint with_question = count(engine, question("Hello", NULL));
  g_assert_cmpuint(with_question, >, empty);
  g_assert_cmpuint(count(engine, vf_chat_new()), ==, empty);

  vf_engine_send_async(engine, question("Hello", NULL), NULL, on_sent, &r);
  wait_for(&r);
  g_assert_no_error(r.error);
  g_assert_true(r.ok);
  g_assert_false(r.stats.stopped);
  g_assert_cmpuint(r.stats.prompt_tokens, ==, with_question);
  /* Every piece came before the end of the turn. */
  g_assert_cmpuint(r.text_at_end, ==, r.text->len);
  g_assert_cmpuint(r.text->len, >, 0);
  guint after_turn = count(engine, vf_chat_new());
  g_assert_cmpuint(after_turn, >, with_question);

  /* A turn that fails (the second picture is corrupt, after the first was encoded) leaves the
   * conversation as it was. */
  g_autofree char *good = vf_test_data_path("golden/cases/a02_image_photo/chelsea.png");
  g_autofree char *bad = vf_test_data_path("ui/corrupt.png");
  VfChat *broken = question("Compare them", good);
  vf_chat_message_append_image(broken->messages->pdata[0], bad);
  Result f = {0};
  guint encodes = 0;
  g_signal_connect(engine, "stage", G_CALLBACK(count_encode), &encodes);
  vf_engine_send_async(engine, broken, NULL, on_sent, &f);
  wait_for(&f);
  g_assert_false(f.ok);
  g_assert_cmpuint(encodes, ==, 1); /* the good picture, before the corrupt one failed */
  g_assert_nonnull(strstr(f.error->message, "corrupt PNG"));
  g_clear_error(&f.error);
  g_assert_cmpuint(count(engine, vf_chat_new()), ==, after_turn);

  /* A file that is not a video: an error naming it, conversation unchanged. */
  g_autofree char *tmp = g_dir_make_tmp("vf-engine-XXXXXX", NULL);
  g_autofree char *clip = g_build_filename(tmp, "clip.mp4", NULL);
  g_assert_true(g_file_set_contents(clip, "these bytes are no video at all", -1, NULL));
  VfChat *video = question("What happens?", NULL);
  vf_chat_message_append_video(video->messages->pdata[0], clip);
  Result v = {0};
  vf_engine_send_async(engine, video, NULL, on_sent, &v);
  wait_for(&v);
  g_assert_false(v.ok);
  g_assert_nonnull(strstr(v.error->message, "clip.mp4"));
  g_clear_error(&v.error);
  g_assert_cmpuint(count(engine, vf_chat_new()), ==, after_turn);
  g_remove(clip);
  g_rmdir(tmp);

  /* After the failed turns the picture alone is answered (its embeddings, computed in the failed turn, are
   * reused), and the earlier turn still comes from the KV cache. */
  Result p = {.text = g_string_new(NULL)};
  g_signal_handlers_disconnect_by_data(engine, &r);
  g_signal_connect(engine, "text", G_CALLBACK(on_text), &p);
  vf_engine_send_async(engine, question("And this?", good), NULL, on_sent, &p);
  wait_for(&p);
  g_assert_no_error(p.error);
  g_assert_cmpuint(encodes, ==, 1); /* reused: no second encode */
  g_signal_handlers_disconnect_by_data(engine, &encodes);
  g_assert_cmpuint(p.stats.prompt_tokens, >, after_turn);
  g_assert_cmpuint(p.stats.prefilled_tokens, <, p.stats.prompt_tokens); /* the earlier turn came from the cache */

  /* A stop before the first token keeps the question with an empty answer. */
  guint before_stop = count(engine, vf_chat_new());
  g_autoptr(GCancellable) cancel = g_cancellable_new();
  g_cancellable_cancel(cancel);
  Result s = {0};
  vf_engine_send_async(engine, question("Stop me", NULL), cancel, on_sent, &s);
  wait_for(&s);
  g_assert_no_error(s.error);
  g_assert_true(s.stats.stopped);
  g_assert_cmpuint(s.stats.generated_tokens, ==, 0);
  g_assert_cmpuint(count(engine, vf_chat_new()), >, before_stop);

  /* A reset forgets everything. */
  vf_engine_reset(engine);
  g_assert_cmpuint(count(engine, vf_chat_new()), ==, empty);

  g_assert_cmpuint(vf_engine_get_validation_messages(engine), ==, 0);
  g_signal_handlers_disconnect_by_data(engine, &p);
  vf_engine_shutdown(engine);
  g_object_unref(engine);
  g_string_free(r.text, TRUE);
  g_string_free(p.text, TRUE);
}

static void
test_no_model_and_shutdown(void)
{
  VfEngine *engine = vf_engine_new();
  Result r = {0};
  vf_engine_count_async(engine, vf_chat_new(), NULL, on_counted, &r);
  wait_for(&r);
  g_assert_error(r.error, VF_ENGINE_ERROR, VF_ENGINE_ERROR_NO_MODEL);
  g_clear_error(&r.error);

  g_autofree char *missing = vf_test_data_path("no-such-model");
  Result l = {0};
  vf_engine_load_async(engine, missing, NULL, NULL, on_loaded, &l);
  wait_for(&l);
  g_assert_false(l.ok);
  g_assert_nonnull(l.error);
  g_clear_error(&l.error);
  g_assert_null(vf_engine_get_model_info(engine));

  /* After shutdown, requests are answered with G_IO_ERROR_CLOSED instead of waiting forever. */
  vf_engine_shutdown(engine);
  Result c = {0};
  vf_engine_count_async(engine, vf_chat_new(), NULL, on_counted, &c);
  wait_for(&c);
  g_assert_error(c.error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_clear_error(&c.error);
  g_object_unref(engine);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/engine/turns", test_turns);
  g_test_add_func("/engine/no-model-and-shutdown", test_no_model_and_shutdown);
  return g_test_run();
}
