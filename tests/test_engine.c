/* The desktop app's engine worker (model/engine/vf_engine.c) without a window: requests run in order on the worker,
 * streamed text arrives before the turn's end, a failed turn leaves the conversation as it was, a stop
 * before the first token keeps an empty answer, and shutdown answers what is still queued. Tiny-a golden
 * model on lavapipe. */
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <string.h>
#include <unistd.h>

#include "vf_chat_json.h"
#include "vf_engine.h"
#include "vf_media_item.h"
#include "vf_media_stats.h"
#include "vf_test_data.h"
#include "vf_test_server.h"

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
  /* "Encoding picture N: block k of B" comes for k = 0 … B: an encode starts at block 0. */
  if (g_str_has_prefix(stage, "Encoding picture") && strstr(stage, ": block 0 of "))
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

static void
on_exported(GObject *source, GAsyncResult *result, gpointer user_data)
{
  char **json = user_data;
  g_autoptr(GError) error = NULL;
  *json = vf_engine_export_finish(VF_ENGINE(source), result, &error);
  g_assert_no_error(error);
}

/* vf_engine_export_async, read back with the chat-messages reader. */
static VfChat *
export_chat(VfEngine *engine)
{
  g_autofree char *json = NULL;
  vf_engine_export_async(engine, NULL, on_exported, &json);
  while (!json)
    g_main_context_iteration(NULL, TRUE);
  g_autoptr(GError) error = NULL;
  VfChat *chat = vf_chat_from_json_data(json, &error);
  g_assert_no_error(error);
  return chat;
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
  g_autoptr(VfEngineModelInfo) info = vf_engine_get_model_info(engine);
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
  g_assert_error(f.error, VF_ENGINE_ERROR, VF_ENGINE_ERROR_MEDIA);
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

  /* A stop before the first token leaves the conversation as it was. */
  guint before_stop = count(engine, vf_chat_new());
  g_autoptr(GCancellable) cancel = g_cancellable_new();
  g_cancellable_cancel(cancel);
  Result s = {0};
  vf_engine_send_async(engine, question("Stop me", NULL), cancel, on_sent, &s);
  wait_for(&s);
  g_assert_error(s.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error(&s.error);
  g_assert_cmpuint(count(engine, vf_chat_new()), ==, before_stop);

  /* Truncating after the first question and answer: the conversation is what it was then, and a new
   * question goes on from the KV cache. */
  vf_engine_truncate(engine, 2);
  g_assert_cmpuint(count(engine, vf_chat_new()), ==, after_turn);
  Result t = {0};
  vf_engine_send_async(engine, question("Once more", NULL), NULL, on_sent, &t);
  wait_for(&t);
  g_assert_no_error(t.error);
  g_assert_cmpuint(t.stats.prompt_tokens, >, after_turn);
  g_assert_cmpuint(t.stats.prefilled_tokens, <, t.stats.prompt_tokens - after_turn + 8);

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


/* ---- work counts ----------------------------------------------------------------------------------------- */

/* What the window does with a dropped file (or a pasted URL): one item, its thumbnail from the one decode. */
static VfMediaItem *
attach(const char *source)
{
  g_autoptr(GError) error = NULL;
  VfMediaItem *item = g_str_has_prefix(source, "http://") ? vf_media_item_new_image(source, &error)
                                                          : vf_media_item_open_file(source, NULL, &error);
  g_assert_no_error(error);
  uint32_t side = 0;
  g_autoptr(GBytes) thumbnail = vf_media_item_thumbnail(item, 96, &side, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(side, >, 0);
  return item;
}

/* The draft as the window builds it at every count and at the send: the attachment first, then the text. */
static VfChat *
draft_with(const char *text, VfMediaItem *item)
{
  VfChat *draft = vf_chat_new();
  VfChatMessage *m = vf_chat_append_message(draft, "user");
  if (item)
    vf_media_item_append_to(item, m, NULL);
  vf_chat_message_append_text(m, text);
  return draft;
}

static void
send_ok(VfEngine *engine, VfChat *draft)
{
  Result r = {0};
  vf_engine_send_async(engine, draft, NULL, on_sent, &r);
  wait_for(&r);
  g_assert_no_error(r.error);
  g_assert_true(r.ok);
}

/* Attach, type 20 characters (a count after each), send, ask a follow-up: the whole walk of one attachment. */
static void
walk(VfEngine *engine, VfMediaItem *item)
{
  const char typed[] = "What is in the photo";
  G_STATIC_ASSERT(sizeof typed - 1 == 20);
  char prefix[sizeof typed];
  for (size_t i = 1; i < sizeof typed; i++) {
    g_strlcpy(prefix, typed, i + 1);
    count(engine, draft_with(prefix, item));
  }
  send_ok(engine, draft_with(typed, item));
  count(engine, draft_with("And", NULL));
  send_ok(engine, draft_with("And what colour is it?", NULL));
}

typedef struct {
  GBytes *png;
  guint requests;
} PictureServer;

/* Runs on the server's thread. */
static void
serve_picture(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer data)
{
  PictureServer *ps = data;
  g_atomic_int_inc(&ps->requests);
  soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response(msg, "image/png", SOUP_MEMORY_COPY, g_bytes_get_data(ps->png, NULL),
                                   g_bytes_get_size(ps->png));
}

static void
test_work_counts(void)
{
  VfEngine *engine = load_tiny();
  VfMediaStats before, after;

  /* A picture: one header read (at the attach; the encode uses the thumbnail's decode), one decode. */
  g_autofree char *photo = vf_test_data_path("golden/cases/a02_image_photo/chelsea.png");
  vf_media_stats_get(&before);
  g_autoptr(VfMediaItem) picture = attach(photo);
  walk(engine, picture);
  vf_media_stats_get(&after);
  g_test_message("picture: %u header reads, %u decodes", after.image_headers - before.image_headers,
                 after.image_decodes - before.image_decodes);
  g_assert_cmpuint(after.image_decodes - before.image_decodes, ==, 1);
  g_assert_cmpuint(after.image_headers - before.image_headers, <=, 2);

  /* An http picture served on 127.0.0.1: fetched once, by the attach. */
  g_autoptr(GMappedFile) mapped = g_mapped_file_new(photo, FALSE, NULL);
  PictureServer ps = {.png = g_mapped_file_get_bytes(mapped)};
  VfTestServer *server = vf_test_server_start(NULL, serve_picture, &ps);
  g_autofree char *url = vf_test_server_url(server, "/cat.png");
  vf_engine_reset(engine);
  vf_media_stats_get(&before);
  g_autoptr(VfMediaItem) remote = attach(url);
  walk(engine, remote);
  vf_media_stats_get(&after);
  g_assert_cmpuint(after.url_fetches - before.url_fetches, ==, 1);
  g_assert_cmpuint(g_atomic_int_get(&ps.requests), ==, 1);
  g_assert_cmpuint(after.image_decodes - before.image_decodes, ==, 1);
  vf_test_server_stop(server);
  g_bytes_unref(ps.png);

  /* A video: demuxed once, by the attach; counting a draft next to it (after it was sent) demuxes nothing. */
  g_autofree char *clip = vf_test_data_path("ui/four_frames.mp4");
  vf_engine_reset(engine);
  vf_media_stats_get(&before);
  g_autoptr(VfMediaItem) video = attach(clip);
  send_ok(engine, draft_with("What happens?", video));
  VfMediaStats sent;
  vf_media_stats_get(&sent);
  for (int i = 0; i < 5; i++)
    count(engine, draft_with("And after that, what?", NULL));
  vf_media_stats_get(&after);
  g_assert_cmpuint(sent.video_counts - before.video_counts, ==, 1);
  g_assert_cmpuint(after.video_counts - sent.video_counts, ==, 0);
  g_assert_cmpuint(after.video_decodes - sent.video_decodes, ==, 0);

  vf_engine_shutdown(engine);
  g_object_unref(engine);
}

/* A file that changed or vanished between the attach and the send: the send fails with the engine's media code,
 * naming the picture and the file, and the conversation is as before. */
static void
test_changed_or_vanished_media(void)
{
  VfEngine *engine = load_tiny();
  guint empty = count(engine, vf_chat_new());
  g_autofree char *photo = vf_test_data_path("golden/cases/a02_image_photo/chelsea.png");
  g_autofree char *bytes = NULL;
  gsize size = 0;
  g_assert_true(g_file_get_contents(photo, &bytes, &size, NULL));
  g_autofree char *tmp = g_dir_make_tmp("vf-engine-XXXXXX", NULL);
  g_autofree char *copy = g_build_filename(tmp, "cat.png", NULL);
  g_assert_true(g_file_set_contents(copy, bytes, (gssize)size, NULL));

  g_autoptr(VfMediaItem) item = attach(copy);
  /* The same picture with one byte more at the end (still a valid PNG): changed. */
  g_autofree char *longer = g_malloc(size + 1);
  memcpy(longer, bytes, size);
  longer[size] = 0;
  g_assert_true(g_file_set_contents(copy, longer, (gssize)size + 1, NULL));
  Result c = {0};
  vf_engine_send_async(engine, draft_with("What is it?", item), NULL, on_sent, &c);
  wait_for(&c);
  g_assert_error(c.error, VF_ENGINE_ERROR, VF_ENGINE_ERROR_MEDIA);
  g_test_message("%s", c.error->message);
  g_assert_true(g_str_has_prefix(c.error->message, "Picture 1: "));
  g_assert_nonnull(strstr(c.error->message, "changed since it was attached"));
  g_clear_error(&c.error);

  g_remove(copy);
  Result v = {0};
  vf_engine_send_async(engine, draft_with("What is it?", item), NULL, on_sent, &v);
  wait_for(&v);
  g_assert_error(v.error, VF_ENGINE_ERROR, VF_ENGINE_ERROR_MEDIA);
  g_assert_nonnull(strstr(v.error->message, "gone since it was attached"));
  g_clear_error(&v.error);
  g_assert_cmpuint(count(engine, vf_chat_new()), ==, empty);
  g_rmdir(tmp);
  vf_engine_shutdown(engine);
  g_object_unref(engine);
}

/* ---- the conversation view ------------------------------------------------------------------------------- */

typedef struct {
  guint changes;
  guint text_len_at_change; /* the streamed text's length when the last change arrived */
  GString *text;
} ViewChanges;

static void
on_view_changed(GListModel *model, guint position, guint removed, guint added, ViewChanges *v)
{
  v->changes++;
  v->text_len_at_change = v->text ? (guint)v->text->len : 0;
}

static void
on_view_text(VfEngine *engine, const char *piece, ViewChanges *v)
{
  g_string_append(v->text, piece);
}

static VfConversationMessage *
view_message(GListModel *view, guint i)
{
  VfConversationMessage *m = g_list_model_get_item(view, i);
  g_object_unref(m); /* the view holds it */
  return m;
}

/* The engine's conversation as a GListModel: a turn adds its question and answer together (after the answer's
 * last piece of text), with the media labelled as the prompt labels them; a failed turn adds nothing; truncate
 * and reset remove. */
static void
test_conversation_view(void)
{
  VfEngine *engine = load_tiny();
  GListModel *view = vf_engine_get_conversation(engine);
  ViewChanges v = {.text = g_string_new(NULL)};
  g_signal_connect(view, "items-changed", G_CALLBACK(on_view_changed), &v);
  g_signal_connect(engine, "text", G_CALLBACK(on_view_text), &v);
  g_assert_cmpuint(g_list_model_get_n_items(view), ==, 0);

  send_ok(engine, question("Hello", NULL));
  g_autofree char *photo = vf_test_data_path("golden/cases/a02_image_photo/chelsea.png");
  g_autoptr(VfMediaItem) picture = attach(photo);
  g_string_truncate(v.text, 0);
  send_ok(engine, draft_with("What is this?", picture));
  g_assert_cmpuint(v.changes, ==, 2);
  g_assert_cmpuint(v.text_len_at_change, ==, v.text->len);
  g_assert_cmpuint(g_list_model_get_n_items(view), ==, 4);
  VfConversationMessage *q = view_message(view, 2), *a = view_message(view, 3);
  g_assert_cmpstr(vf_conversation_message_get_role(q), ==, "user");
  g_assert_cmpstr(vf_conversation_message_get_text(q), ==, "What is this?");
  g_assert_cmpuint(vf_conversation_message_get_n_media(q), ==, 1);
  g_assert_true(vf_conversation_message_get_media(q, 0) == picture);
  g_assert_cmpstr(vf_conversation_message_get_label(q, 0), ==, "Picture 1");
  g_assert_cmpstr(vf_conversation_message_get_role(a), ==, "assistant");
  g_assert_cmpstr(vf_conversation_message_get_text(a), ==, v.text->str);
  /* Exported in the reference's form: the picture by its path, the answer's text. */
  g_autoptr(VfChat) exported = export_chat(engine);
  g_assert_cmpuint(exported->messages->len, ==, 4);
  const VfChatMessage *asked = exported->messages->pdata[2], *answered = exported->messages->pdata[3];
  g_assert_cmpuint(asked->parts->len, ==, 2);
  const VfChatPart *photo_part = asked->parts->pdata[0], *asked_text = asked->parts->pdata[1];
  g_assert_cmpint(photo_part->kind, ==, VF_CHAT_PART_IMAGE);
  g_assert_cmpstr(photo_part->source, ==, photo);
  g_assert_cmpstr(asked_text->text, ==, "What is this?");
  g_assert_cmpstr(answered->role, ==, "assistant");
  g_assert_cmpstr(((const VfChatPart *)answered->parts->pdata[0])->text, ==, v.text->str);
  /* With a system prompt, the export starts with it (a replay needs it); the conversation has no such message. */
  vf_engine_set_system_prompt(engine, "Be brief.");
  g_autoptr(VfChat) with_system = export_chat(engine);
  g_assert_cmpuint(with_system->messages->len, ==, 5);
  g_assert_cmpstr(((const VfChatMessage *)with_system->messages->pdata[0])->role, ==, "system");
  g_assert_cmpuint(g_list_model_get_n_items(view), ==, 4);
  vf_engine_set_system_prompt(engine, NULL);

  /* A failed turn: no change. */
  g_autofree char *bad = vf_test_data_path("ui/corrupt.png");
  Result f = {0};
  vf_engine_send_async(engine, question("And this?", bad), NULL, on_sent, &f);
  wait_for(&f);
  g_assert_nonnull(f.error);
  g_clear_error(&f.error);
  g_assert_cmpuint(v.changes, ==, 2);
  g_assert_cmpuint(g_list_model_get_n_items(view), ==, 4);

  vf_engine_truncate(engine, 2);
  count(engine, vf_chat_new()); /* queued behind the truncation */
  g_assert_cmpuint(g_list_model_get_n_items(view), ==, 2);
  vf_engine_reset(engine);
  count(engine, vf_chat_new());
  g_assert_cmpuint(g_list_model_get_n_items(view), ==, 0);
  g_autoptr(VfChat) none = export_chat(engine);
  g_assert_cmpuint(none->messages->len, ==, 0);
  g_assert_cmpuint(v.changes, ==, 4);

  g_signal_handlers_disconnect_by_data(view, &v);
  g_signal_handlers_disconnect_by_data(engine, &v);
  vf_engine_shutdown(engine);
  g_object_unref(engine);
  g_string_free(v.text, TRUE);
}

/* ---- model switch ---------------------------------------------------------------------------------------- */

static GError *
load_error(VfEngine *engine, const char *model_dir, const char *tokenizer_dir)
{
  Result r = {0};
  vf_engine_load_async(engine, model_dir, tokenizer_dir, NULL, on_loaded, &r);
  wait_for(&r);
  g_assert_true(r.ok == (r.error == NULL));
  return r.error;
}

/* A folder copied from tiny-a and the test tokenizer with `skip` left out ("tokenizer": all its files), and
 * `extra` written as `extra_text`, when given. */
static char *
model_copy(const char *skip, const char *extra, const char *extra_text)
{
  g_autofree char *model = vf_test_data_path("models/tiny-a");
  g_autofree char *tokenizer = vf_test_data_path("tokenizer");
  char *dir = g_dir_make_tmp("vf-model-XXXXXX", NULL);
  const char *from_model[] = {"config.json", "generation_config.json", "preprocessor_config.json",
                              "model.safetensors"};
  const char *from_tokenizer[] = {"tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"};
  for (int k = 0; k < 2; k++)
    for (int i = 0; i < 4; i++) {
      const char *name = k == 0 ? from_model[i] : from_tokenizer[i];
      if (g_strcmp0(name, skip) == 0 || (k == 1 && g_strcmp0(skip, "tokenizer") == 0))
        continue;
      g_autofree char *src = g_build_filename(k == 0 ? model : tokenizer, name, NULL);
      g_autofree char *dst = g_build_filename(dir, name, NULL);
      g_assert_cmpint(symlink(src, dst), ==, 0);
    }
  if (extra) {
    g_autofree char *path = g_build_filename(dir, extra, NULL);
    g_assert_true(g_file_set_contents(path, extra_text, -1, NULL));
  }
  return dir;
}

static void
remove_folder(const char *dir)
{
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  const char *name;
  while ((name = g_dir_read_name(d))) {
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_remove(path);
  }
  g_rmdir(dir);
}

/* Opening a broken folder (no tokenizer; a checkpoint without the tensors the config calls for) is
 * refused before the working model is released: it still answers, and the conversation is intact. */
static void
test_switch_to_broken_folder(void)
{
  VfEngine *engine = load_tiny();
  send_ok(engine, question("Hello", NULL));
  guint before = count(engine, vf_chat_new());

  g_autofree char *no_tokenizer = model_copy("tokenizer", NULL, NULL);
  g_autoptr(GError) e1 = load_error(engine, no_tokenizer, NULL);
  g_assert_nonnull(e1);
  g_test_message("no tokenizer: %s", e1->message);
  /* A checkpoint of another shape: the config asks for twice the layers tiny-a has. */
  g_autofree char *config_path = vf_test_data_path("models/tiny-a/config.json");
  g_autofree char *config = NULL;
  g_assert_true(g_file_get_contents(config_path, &config, NULL, NULL));
  g_autofree char *doubled = NULL;
  {
    g_auto(GStrv) halves = g_strsplit(config, "\"num_hidden_layers\": 2", 2);
    g_assert_nonnull(halves[1]);
    doubled = g_strjoinv("\"num_hidden_layers\": 4", halves);
  }
  g_autofree char *wrong_tensors = model_copy("config.json", "config.json", doubled);
  g_autoptr(GError) e2 = load_error(engine, wrong_tensors, NULL);
  g_assert_nonnull(e2);
  g_test_message("missing tensors: %s", e2->message);
  g_assert_nonnull(strstr(e2->message, "model.layers.2"));

  g_assert_true(vf_engine_has_model(engine));
  g_autoptr(VfEngineModelInfo) info = vf_engine_get_model_info(engine);
  g_assert_cmpstr(info->display_name, ==, "tiny-a");
  g_assert_cmpuint(count(engine, vf_chat_new()), ==, before);
  Result r = {0};
  vf_engine_send_async(engine, question("And now?", NULL), NULL, on_sent, &r);
  wait_for(&r);
  g_assert_no_error(r.error);
  g_assert_cmpuint(r.stats.prompt_tokens, >, before);
  g_assert_cmpuint(r.stats.prefilled_tokens, <, r.stats.prompt_tokens); /* the KV cache survived too */
  g_assert_cmpuint(r.stats.generated_tokens, >, 0);

  vf_engine_shutdown(engine);
  g_object_unref(engine);
  remove_folder(no_tokenizer);
  remove_folder(wrong_tensors);
}

/* The model info is the caller's copy: a later load (of a copy of tiny-a) replaces the engine's without touching it.
 * With a borrowed pointer, `first` would be freed memory by the time it is read below. The conversation goes on
 * with the new model. */
static void
test_model_info_is_a_copy(void)
{
  VfEngine *engine = load_tiny();
  guint alone = count(engine, question("And now?", NULL));
  send_ok(engine, question("Hello", NULL));
  VfEngineModelInfo *first = vf_engine_get_model_info(engine);
  VfEngineModelInfo *again = vf_engine_get_model_info(engine);
  g_assert_true(first != again);
  g_assert_true(first->display_name != again->display_name);
  vf_engine_model_info_free(again);
  g_autofree char *other = model_copy(NULL, NULL, NULL);
  g_autoptr(GError) error = load_error(engine, other, NULL);
  g_assert_no_error(error);
  g_autoptr(VfEngineModelInfo) second = vf_engine_get_model_info(engine);
  g_assert_cmpstr(second->model_dir, ==, other);
  g_assert_cmpstr(first->display_name, ==, "tiny-a");
  g_assert_true(g_str_has_suffix(first->model_dir, "tiny-a"));
  vf_engine_model_info_free(first);
  Result r = {0};
  vf_engine_send_async(engine, question("And now?", NULL), NULL, on_sent, &r);
  wait_for(&r);
  g_assert_no_error(r.error);
  g_assert_cmpuint(r.stats.prompt_tokens, >, alone); /* "Hello" and its answer came along */
  g_assert_cmpuint(r.stats.prefilled_tokens, ==, r.stats.prompt_tokens); /* a new model's cache starts empty */
  remove_folder(other);
  vf_engine_shutdown(engine);
  g_object_unref(engine);
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
  g_assert_false(vf_engine_has_model(engine));

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
  g_test_add_func("/engine/work-counts", test_work_counts);
  g_test_add_func("/engine/changed-or-vanished-media", test_changed_or_vanished_media);
  g_test_add_func("/engine/conversation-view", test_conversation_view);
  g_test_add_func("/engine/switch-to-broken-folder", test_switch_to_broken_folder);
  g_test_add_func("/engine/model-info-is-a-copy", test_model_info_is_a_copy);
  g_test_add_func("/engine/no-model-and-shutdown", test_no_model_and_shutdown);
  return g_test_run();
}
