/* The engine's conversation kept in the history as it happens. See vf_recorder.h. */
#define G_LOG_DOMAIN "vf-engine"

#include "vf_recorder.h"

#include <string.h>

#include "vf_chat_json.h"
#include "vf_pdf.h"
#include "vf_session.h"
#include "vf_utf8.h"

/* A streaming answer is committed when this much time passed since its last commit. */
#define COMMIT_INTERVAL_US G_USEC_PER_SEC

struct VfRecorder {
  VfHistory *history;
  gint64 conversation;     /* 0: the engine's conversation is not stored yet */
  gboolean created_by_turn; /* the running turn created `conversation` (a failed turn deletes it) */
  gint64 turn_position;    /* position of the running turn's first message, or −1 */
  gint64 answer;           /* the running turn's answer message, or 0 before its first piece */
  GString *answer_text;    /* the answer so far, as stored (NUL bytes shown as ␀) */
  gint64 committed_us;     /* monotonic time of the answer's last commit */
  /* A continued answer (continue_turn): its text and stats before the turn, put back if the turn fails. */
  char *continued_text, *continued_stats;
  gint64 alternative_of; /* a regenerated answer (begin_alternative): the stored answer it is an alternative of */
  GError *error;           /* the first write error not taken yet */
};

VfRecorder *
vf_recorder_new(VfHistory *history)
{
  VfRecorder *r = g_new0(VfRecorder, 1);
  r->history = history;
  r->turn_position = -1;
  r->answer_text = g_string_new(NULL);
  return r;
}

void
vf_recorder_free(VfRecorder *r)
{
  if (!r)
    return;
  vf_history_close(r->history);
  g_string_free(r->answer_text, TRUE);
  g_free(r->continued_text);
  g_free(r->continued_stats);
  g_clear_error(&r->error);
  g_free(r);
}

gint64 vf_recorder_conversation(VfRecorder *r) { return r->conversation; }

GError *
vf_recorder_take_error(VfRecorder *r)
{
  return g_steal_pointer(&r->error);
}

/* Keeps the first error of a failed write (the later ones are usually its consequences). */
static void
keep_error(VfRecorder *r, GError *error)
{
  if (!error)
    return;
  g_message("conversation history: %s", error->message);
  if (r->error)
    g_error_free(error);
  else
    r->error = error;
}

/* ---- titles ------------------------------------------------------------------------------------------------- */

#define TITLE_CHARS 60

char *
vf_recorder_title(const VfChatMessage *question)
{
  const char *media = NULL;
  for (guint i = 0; i < question->parts->len; i++) {
    const VfChatPart *part = question->parts->pdata[i];
    if (part->kind != VF_CHAT_PART_TEXT) {
      media = media ? media : part->kind == VF_CHAT_PART_IMAGE ? "Picture" : "Video";
      continue;
    }
    g_autofree char *text = g_utf8_make_valid(part->text, (gssize)strnlen(part->text, part->text_len));
    g_strstrip(text);
    if (!*text)
      continue;
    char *newline = strchr(text, '\n');
    if (newline)
      *newline = '\0';
    g_strchomp(text);
    if (g_utf8_strlen(text, -1) <= TITLE_CHARS)
      return g_steal_pointer(&text);
    g_autofree char *cut = g_utf8_substring(text, 0, TITLE_CHARS - 1);
    g_strchomp(cut);
    return g_strconcat(cut, "…", NULL);
  }
  return g_strdup(media ? media : "New conversation");
}

/* ---- storing a question --------------------------------------------------------------------------------------- */

/* The part in the reference's JSON form ({"type": "image", "image": …, "max_pixels": …}), by the chat writer. */
static char *
part_json(const VfChatPart *part)
{
  g_autoptr(VfChat) single = vf_chat_new();
  VfChatMessage *message = vf_chat_append_message(single, "user");
  VfChatPart *copy = part->kind == VF_CHAT_PART_IMAGE ? vf_chat_message_append_image(message, part->source)
                     : part->frames ? vf_chat_message_append_video_frames(message, (const char *const *)part->frames)
                                    : vf_chat_message_append_video(message, part->source);
  copy->options = part->options;
  g_autofree char *messages = vf_chat_json_write(single, NULL);
  g_autoptr(JsonNode) root = json_from_string(messages, NULL);
  g_assert(root); /* the writer's own output: [{"role": "user", "content": [part]}] */
  JsonObject *written = json_array_get_object_element(json_node_get_array(root), 0);
  JsonArray *content = json_object_get_array_member(written, "content");
  return json_to_string(json_array_get_element(content, 0), FALSE);
}

/* A local file's path for `source` (a path or a file:// URI), or NULL for URLs and data: URIs. */
static char *
local_path(const char *source)
{
  if (g_str_has_prefix(source, "file://"))
    return g_filename_from_uri(source, NULL, NULL);
  if (g_str_has_prefix(source, "http://") || g_str_has_prefix(source, "https://") ||
      g_str_has_prefix(source, "data:"))
    return NULL;
  return g_strdup(source);
}

/* Stores one picture or video of a question: a local file (a PDF page's document) is copied in by its hash;
 * a URL, a data: URI or a frame list keeps its sources. A file that cannot be copied (gone, unreadable) keeps
 * its source too, with the error kept for the user. */
static void
store_attachment(VfRecorder *r, gint64 message, const VfChatPart *part)
{
  g_autoptr(GError) error = NULL;
  const char *kind = part->kind == VF_CHAT_PART_IMAGE ? "image" : "video";
  g_autofree char *blob = NULL, *name = NULL, *file = NULL;
  if (part->source) {
    g_autofree char *path = local_path(part->source), *document = NULL;
    guint page = 0;
    if (path && vf_pdf_parse_source(path, &document, &page, NULL)) {
      kind = "pdf";
      g_free(path);
      path = g_steal_pointer(&document);
    }
    if (path) {
      blob = vf_history_store_file(r->history, path, &error);
      name = g_path_get_basename(path);
    } else {
      name = g_str_has_prefix(part->source, "data:") ? g_strdup("pasted") : g_path_get_basename(part->source);
    }
    keep_error(r, g_steal_pointer(&error));
  } else {
    name = g_strdup_printf("%u frames", part->frames ? g_strv_length(part->frames) : 0);
  }
  g_autofree char *options = part_json(part);
  vf_history_attach(r->history, message, kind, name, blob, part->source, options, &error);
  keep_error(r, g_steal_pointer(&error));
}

/* The text parts joined, NUL bytes shown as ␀. */
static char *
message_text(const VfChatMessage *message)
{
  GString *text = g_string_new(NULL);
  for (guint i = 0; i < message->parts->len; i++) {
    const VfChatPart *part = message->parts->pdata[i];
    if (part->kind == VF_CHAT_PART_TEXT) {
      g_autofree char *shown = vf_utf8_show_nul(part->text, part->text_len);
      g_string_append(text, shown);
    }
  }
  return g_string_free(text, FALSE);
}

static gboolean
ensure_conversation(VfRecorder *r, const VfChat *chat, guint first)
{
  if (r->conversation)
    return TRUE;
  /* Titled from the conversation's first user message (an earlier unstored part comes along below). */
  const VfChatMessage *question = chat->messages->pdata[first];
  for (guint m = 0; m < chat->messages->len; m++)
    if (g_str_equal(((VfChatMessage *)chat->messages->pdata[m])->role, "user")) {
      question = chat->messages->pdata[m];
      break;
    }
  g_autofree char *title = vf_recorder_title(question);
  g_autoptr(GError) error = NULL;
  r->conversation = vf_history_create(r->history, title, &error);
  if (r->conversation <= 0) {
    r->conversation = 0;
    keep_error(r, g_steal_pointer(&error));
    return FALSE;
  }
  r->created_by_turn = TRUE;
  return TRUE;
}

/* The state of a turn that has not stored anything yet. */
static void
turn_reset(VfRecorder *r)
{
  r->created_by_turn = FALSE;
  r->turn_position = -1;
  r->answer = 0;
  g_string_truncate(r->answer_text, 0);
  g_clear_pointer(&r->continued_text, g_free);
  g_clear_pointer(&r->continued_stats, g_free);
  r->alternative_of = 0;
}

/* The stored conversation's chosen messages, in order (VfHistoryMessage *), or NULL (the error kept). */
static GPtrArray *
chosen_messages(VfRecorder *r)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) all = vf_history_messages(r->history, r->conversation, &error);
  if (!all) {
    keep_error(r, g_steal_pointer(&error));
    return NULL;
  }
  GPtrArray *chosen = g_ptr_array_new_with_free_func((GDestroyNotify)vf_history_message_free);
  for (guint i = 0; i < all->len; i++)
    if (((const VfHistoryMessage *)all->pdata[i])->chosen)
      g_ptr_array_add(chosen, g_ptr_array_steal_index(all, i--));
  return chosen;
}

/* A turn on the stored conversation's last answer (regenerate, continue) starts: that answer (free it), or NULL
 * when the conversation is not stored or does not end with one. */
static VfHistoryMessage *
begin_on_last_answer(VfRecorder *r)
{
  turn_reset(r);
  g_autoptr(GPtrArray) chosen = r->conversation ? chosen_messages(r) : NULL;
  if (!chosen || chosen->len == 0)
    return NULL;
  VfHistoryMessage *last = g_ptr_array_steal_index(chosen, chosen->len - 1);
  if (!g_str_equal(last->role, "assistant")) {
    vf_history_message_free(last);
    return NULL;
  }
  r->turn_position = last->position;
  return last;
}

void
vf_recorder_begin_alternative(VfRecorder *r)
{
  g_autoptr(VfHistoryMessage) last = begin_on_last_answer(r);
  if (last)
    r->alternative_of = last->id;
}

void
vf_recorder_choose(VfRecorder *r, guint alternative)
{
  if (!r->conversation)
    return;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) all = vf_history_messages(r->history, r->conversation, &error);
  const VfHistoryMessage *last = all && all->len ? all->pdata[all->len - 1] : NULL;
  for (guint i = 0; last && i < all->len; i++) {
    const VfHistoryMessage *m = all->pdata[i];
    if (m->position == last->position && m->alternative == alternative && !vf_history_choose(r->history, m->id, &error))
      break;
  }
  if (error)
    keep_error(r, g_steal_pointer(&error));
}

void
vf_recorder_remove(VfRecorder *r, guint first, guint count)
{
  if (!r->conversation)
    return;
  g_autoptr(GError) error = NULL;
  if (!vf_history_remove(r->history, r->conversation, first, count, &error))
    keep_error(r, g_steal_pointer(&error));
}

void
vf_recorder_continue_turn(VfRecorder *r)
{
  g_autoptr(VfHistoryMessage) last = begin_on_last_answer(r);
  if (!last)
    return;
  r->answer = last->id;
  g_string_assign(r->answer_text, last->text);
  r->continued_text = g_strdup(last->text);
  r->continued_stats = g_strdup(last->stats);
  r->committed_us = g_get_monotonic_time();
}

void
vf_recorder_begin_turn(VfRecorder *r, const VfChat *chat, guint first)
{
  turn_reset(r);
  /* A conversation that is not stored yet (or that a failed write left unstored) is stored whole. */
  if (!r->conversation)
    first = 0;
  if (first >= chat->messages->len || !ensure_conversation(r, chat, first))
    return;
  r->turn_position = first;
  for (guint m = first; m < chat->messages->len; m++) {
    const VfChatMessage *message = chat->messages->pdata[m];
    g_autofree char *text = message_text(message);
    g_autoptr(GError) error = NULL;
    gint64 id = vf_history_append(r->history, r->conversation, message->role, text, NULL, &error);
    if (id <= 0) {
      keep_error(r, g_steal_pointer(&error));
      return;
    }
    for (guint i = 0; i < message->parts->len; i++) {
      const VfChatPart *part = message->parts->pdata[i];
      if (part->kind != VF_CHAT_PART_TEXT)
        store_attachment(r, id, part);
    }
  }
}

/* ---- the answer ------------------------------------------------------------------------------------------------ */

static void
commit_answer(VfRecorder *r, const char *stats)
{
  g_autoptr(GError) error = NULL;
  if (!vf_history_set_text(r->history, r->answer, r->answer_text->str, stats, &error))
    keep_error(r, g_steal_pointer(&error));
  r->committed_us = g_get_monotonic_time();
}

void
vf_recorder_answer_piece(VfRecorder *r, const char *piece, size_t len)
{
  if (r->turn_position < 0)
    return;
  g_autofree char *shown = vf_utf8_show_nul(piece, len);
  g_string_append(r->answer_text, shown);
  if (!r->answer) {
    /* The first piece stores the answer, so a turn killed from here on keeps what it said. */
    g_autoptr(GError) error = NULL;
    r->answer = r->alternative_of
                  ? vf_history_add_alternative(r->history, r->alternative_of, r->answer_text->str, NULL, &error)
                  : vf_history_append(r->history, r->conversation, "assistant", r->answer_text->str, NULL, &error);
    if (r->answer <= 0) {
      r->answer = 0;
      r->turn_position = -1;
      keep_error(r, g_steal_pointer(&error));
      return;
    }
    r->committed_us = g_get_monotonic_time();
    return;
  }
  if (g_get_monotonic_time() - r->committed_us >= COMMIT_INTERVAL_US)
    commit_answer(r, NULL);
}

/* The answer's stats as JSON: what the message's footer shows, and why it ended ("token_limit": cut). */
static char *
stats_json(const VfTurnStats *stats, guint max_new_tokens, const char *model, const char *format)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "model");
  json_builder_add_string_value(b, model);
  json_builder_set_member_name(b, "format");
  json_builder_add_string_value(b, format);
  json_builder_set_member_name(b, "prompt_tokens");
  json_builder_add_int_value(b, stats->prompt_tokens);
  json_builder_set_member_name(b, "prefilled_tokens");
  json_builder_add_int_value(b, stats->prefilled_tokens);
  json_builder_set_member_name(b, "generated_tokens");
  json_builder_add_int_value(b, stats->generated_tokens);
  json_builder_set_member_name(b, "max_new_tokens");
  json_builder_add_int_value(b, max_new_tokens);
  json_builder_set_member_name(b, "preprocess_seconds");
  json_builder_add_double_value(b, stats->preprocess_seconds);
  json_builder_set_member_name(b, "encode_seconds");
  json_builder_add_double_value(b, stats->encode_seconds);
  json_builder_set_member_name(b, "prefill_seconds");
  json_builder_add_double_value(b, stats->prefill_seconds);
  json_builder_set_member_name(b, "decode_seconds");
  json_builder_add_double_value(b, stats->decode_seconds);
  json_builder_set_member_name(b, "prefill_tokens_per_second");
  json_builder_add_double_value(b, stats->prefill_seconds > 0 ? stats->prefilled_tokens / stats->prefill_seconds : 0);
  /* The first token comes from the prefill: the decode rate counts the ones after it. */
  json_builder_set_member_name(b, "decode_tokens_per_second");
  json_builder_add_double_value(b, stats->decode_seconds > 0 && stats->generated_tokens > 1
                                       ? (stats->generated_tokens - 1) / stats->decode_seconds
                                       : 0);
  json_builder_set_member_name(b, "stop_reason");
  json_builder_add_string_value(b, vf_stop_reason_name(stats->stop_reason));
  json_builder_set_member_name(b, "stopped");
  json_builder_add_boolean_value(b, stats->stopped);
  json_builder_end_object(b);
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  return json_to_string(root, FALSE);
}

void
vf_recorder_end_turn(VfRecorder *r, const VfTurnStats *stats, guint max_new_tokens, const char *model,
                     const char *format)
{
  if (r->turn_position < 0 || !r->answer) {
    r->turn_position = -1;
    return;
  }
  /* A continued answer's footer counts all of it: its tokens and decode time before this turn too. */
  VfTurnStats whole = *stats;
  g_autoptr(JsonNode) before = r->continued_stats ? json_from_string(r->continued_stats, NULL) : NULL;
  if (before && JSON_NODE_HOLDS_OBJECT(before)) {
    JsonObject *o = json_node_get_object(before);
    whole.generated_tokens += (uint32_t)json_object_get_int_member_with_default(o, "generated_tokens", 0);
    whole.decode_seconds += json_object_get_double_member_with_default(o, "decode_seconds", 0);
  }
  g_autofree char *json = stats_json(&whole, max_new_tokens, model, format);
  commit_answer(r, json);
  g_autoptr(GError) error = NULL;
  if (!vf_history_set_model(r->history, r->conversation, model, &error))
    keep_error(r, g_steal_pointer(&error));
  turn_reset(r);
}

void
vf_recorder_fail_turn(VfRecorder *r)
{
  if (r->turn_position < 0)
    return;
  g_autoptr(GError) error = NULL;
  if (r->continued_text) {
    /* A continued answer keeps what it had. */
    if (!vf_history_set_text(r->history, r->answer, r->continued_text, r->continued_stats, &error))
      keep_error(r, g_steal_pointer(&error));
    turn_reset(r);
    return;
  }
  if (r->alternative_of) {
    /* A regenerated answer that failed: the earlier one is shown again. */
    if ((r->answer && !vf_history_delete_message(r->history, r->answer, &error)) ||
        !vf_history_choose(r->history, r->alternative_of, &error))
      keep_error(r, g_steal_pointer(&error));
    turn_reset(r);
    return;
  }
  gboolean ok = r->created_by_turn ? vf_history_delete(r->history, r->conversation, &error)
                                   : vf_history_truncate(r->history, r->conversation, r->turn_position - 1, &error);
  if (!ok)
    keep_error(r, g_steal_pointer(&error));
  if (r->created_by_turn)
    r->conversation = 0;
  r->turn_position = -1;
  r->answer = 0;
}

/* ---- following the engine's conversation ----------------------------------------------------------------------- */

void
vf_recorder_truncate(VfRecorder *r, guint keep)
{
  if (!r->conversation)
    return;
  g_autoptr(GError) error = NULL;
  if (!vf_history_truncate(r->history, r->conversation, (gint64)keep - 1, &error))
    keep_error(r, g_steal_pointer(&error));
}

void
vf_recorder_forget(VfRecorder *r)
{
  r->conversation = 0;
}

/* A stored attachment as a part of `message`: its options and source from the stored part, the source
 * replaced by the stored copy when there is one. */
static gboolean
rebuild_attachment(VfRecorder *r, VfChatMessage *message, const VfHistoryAttachment *a, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new();
  if (!a->options || !json_parser_load_from_data(parser, a->options, -1, NULL) ||
      !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
    g_set_error(error, VF_HISTORY_ERROR, VF_HISTORY_ERROR_DATABASE, "attachment %s has no readable settings",
                a->name);
    return FALSE;
  }
  JsonObject *part = json_node_get_object(json_parser_get_root(parser));
  if (a->blob) {
    g_autofree char *copy = vf_history_blob_path(r->history, a->blob);
    g_autofree char *document = NULL;
    guint page = 0;
    g_autofree char *source = a->source && vf_pdf_parse_source(a->source, &document, &page, NULL)
                                ? g_strdup_printf("%s#page=%u", copy, page)
                                : g_strdup(copy);
    json_object_set_string_member(part, g_str_equal(a->kind, "video") ? "video" : "image", source);
  }
  g_autoptr(JsonNode) messages = json_from_string("[{\"role\": \"user\", \"content\": []}]", NULL);
  JsonObject *wrapper = json_array_get_object_element(json_node_get_array(messages), 0);
  json_array_add_element(json_object_get_array_member(wrapper, "content"), json_node_copy(json_parser_get_root(parser)));
  g_autoptr(VfChat) single = vf_chat_json_read(messages, NULL, error);
  if (!single) {
    g_prefix_error(error, "attachment %s: ", a->name);
    return FALSE;
  }
  VfChatMessage *read = single->messages->pdata[0];
  g_ptr_array_add(message->parts, g_ptr_array_steal_index(read->parts, 0));
  return TRUE;
}

VfChat *
vf_recorder_open(VfRecorder *r, gint64 conversation, GError **error)
{
  g_autoptr(GPtrArray) messages = vf_history_messages(r->history, conversation, error);
  if (!messages)
    return NULL;
  if (messages->len == 0) {
    /* An empty conversation and one that does not exist look alike in the message table. */
    g_autoptr(GPtrArray) all = vf_history_list(r->history, NULL, error);
    if (!all)
      return NULL;
    gboolean found = FALSE;
    for (guint i = 0; i < all->len && !found; i++)
      found = ((VfHistoryConversation *)all->pdata[i])->id == conversation;
    if (!found) {
      g_set_error(error, VF_HISTORY_ERROR, VF_HISTORY_ERROR_NOT_FOUND, "conversation %" G_GINT64_FORMAT
                  " is not in the history", conversation);
      return NULL;
    }
  }
  g_autoptr(VfChat) chat = vf_chat_new();
  for (guint i = 0; i < messages->len; i++) {
    const VfHistoryMessage *stored = messages->pdata[i];
    if (!stored->chosen)
      continue;
    VfChatMessage *message = vf_chat_append_message(chat, stored->role);
    for (guint k = 0; k < stored->attachments->len; k++)
      if (!rebuild_attachment(r, message, stored->attachments->pdata[k], error))
        return NULL;
    if (*stored->text || stored->attachments->len == 0)
      vf_chat_message_append_text(message, stored->text);
  }
  r->conversation = conversation;
  r->turn_position = -1;
  return g_steal_pointer(&chat);
}
