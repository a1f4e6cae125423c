/* What the chat view shows: the engine's conversation, followed by the turn in flight.
 *
 *   self->messages = flatten[ slice(map(vf_engine_get_conversation() → VfMessage)), pending ]
 *                                      │                                          │
 *        one VfMessage per engine message, made once           the question just sent and its answer
 *        (kept by its id) and numbered by the engine           while it streams (VfMessage), until
 *                                                              the engine's conversation takes them
 *
 * The window keeps no list of its own to keep in step: a turn that lands enters the engine's conversation (its
 * question and answer, after the answer's last piece of text), and the same two VfMessage objects the window
 * streamed into become the mapped ones, so their rows and thumbnails stay; a turn that fails or is stopped
 * before its first token adds nothing, and the pending pair is simply dropped. An edited question or a
 * regenerated answer replaces the engine's messages from a position on: the slice ends there while the turn is
 * in flight, so the replaced messages are hidden until the turn lands (or come back when it does not). New Chat
 * hides the engine's part until the engine's reset (queued behind any abandoned turn) has emptied it. See
 * vf_window.h. */
#define G_LOG_DOMAIN "vf-window"

#include <json-glib/json-glib.h>

#include "vf_window_private.h"

static GListModel *engine_conversation(VfWindow *self) { return vf_engine_get_conversation(self->engine); }

/* `shown` is the VfMessage of the snapshot's engine message from now on (a reference is taken). */
static void
keep_shown(VfWindow *self, VfConversationMessage *snapshot, VfMessage *shown)
{
  guint64 *id = g_new(guint64, 1);
  *id = vf_conversation_message_get_id(snapshot);
  g_hash_table_replace(self->shown_by_id, id, g_object_ref(shown));
  vf_message_set_id(shown, *id);
  vf_message_set_alternatives(shown, vf_conversation_message_get_alternative(snapshot),
                              vf_conversation_message_get_n_alternatives(snapshot));
}

/* A message the window did not stream itself (a reopened conversation's): its text; its stored pictures and
 * its answer's stats come from the history (vf_window_show_stored_details). */
static gpointer
message_for_snapshot(gpointer item, gpointer user_data)
{
  g_autoptr(VfConversationMessage) snapshot = item;
  VfWindow *self = user_data;
  guint64 id = vf_conversation_message_get_id(snapshot);
  VfMessage *shown = g_hash_table_lookup(self->shown_by_id, &id);
  if (shown) {
    /* An answer chosen again among its alternatives; a question whose pictures are numbered anew after a turn
     * before it was deleted or left behind (Continue in a New Chat). */
    vf_message_set_alternatives(shown, vf_conversation_message_get_alternative(snapshot),
                                vf_conversation_message_get_n_alternatives(snapshot));
    GListModel *attachments = vf_message_get_attachments(shown);
    for (guint k = 0; k < g_list_model_get_n_items(attachments) && k < vf_conversation_message_get_n_media(snapshot);
         k++) {
      g_autoptr(VfAttachment) a = g_list_model_get_item(attachments, k);
      vf_attachment_set_label(a, vf_conversation_message_get_label(snapshot, k));
    }
    return g_object_ref(shown);
  }
  const char *text = vf_conversation_message_get_text(snapshot);
  if (g_str_equal(vf_conversation_message_get_role(snapshot), "assistant")) {
    shown = vf_message_new_assistant();
    vf_message_append_text(shown, text);
    vf_message_finish(shown, &(VfTurnStats){0});
  } else {
    shown = vf_message_new_user(text, NULL);
  }
  keep_shown(self, snapshot, shown);
  return shown;
}

static gboolean
engine_part_shown(VfWindow *self)
{
  g_autoptr(GObject) first = g_list_model_get_item(G_LIST_MODEL(self->message_sources), 0);
  return first == G_OBJECT(self->visible_conversation);
}

/* After New Chat: the engine's part comes back once the reset has emptied it and no abandoned turn can land. */
static void
show_engine_part_when_reset(VfWindow *self)
{
  if (!self->awaiting_reset || self->stale_turns > 0 || g_list_model_get_n_items(engine_conversation(self)) > 0)
    return;
  self->awaiting_reset = FALSE;
  if (!engine_part_shown(self))
    g_list_store_insert(self->message_sources, 0, self->visible_conversation);
}

/* Runs before the map model hears of the change (connected first), so a turn that landed is shown through the
 * VfMessage objects the window streamed into. */
static void
on_conversation_changing(GListModel *conversation, guint position, guint removed, guint added, VfWindow *self)
{
  GListModel *pending = G_LIST_MODEL(self->pending);
  if (g_list_model_get_n_items(conversation) == 0)
    g_hash_table_remove_all(self->shown_by_id);
  if (self->continuing && removed == 1 && added == 1 && self->stale_turns == 0) {
    /* The continued answer replaced the last message: it is still the one streaming. */
    g_autoptr(VfConversationMessage) answer = g_list_model_get_item(conversation, position);
    keep_shown(self, answer, self->answering);
  }
  /* The turn in flight landed: its pending messages (a question and its answer, or a regenerated answer) are
   * the last ones added. An abandoned turn that lands is not the one pending (New Chat dropped its messages). */
  guint n_pending = g_list_model_get_n_items(pending);
  if (n_pending > 0 && added >= n_pending && self->stale_turns == 0 && self->answering) {
    for (guint i = 0; i < n_pending; i++) {
      g_autoptr(VfConversationMessage) landed = g_list_model_get_item(conversation, position + added - n_pending + i);
      g_autoptr(VfMessage) message = g_list_model_get_item(pending, i);
      keep_shown(self, landed, message);
    }
    self->turn_landed = TRUE;
  }
}

/* Runs after the map model has passed the change on (connected after), so the flattened positions it reports
 * hold: the landed turn's pending pair goes only now. */
static void
on_conversation_changed(GListModel *conversation, guint position, guint removed, guint added, VfWindow *self)
{
  if (self->turn_landed) {
    self->turn_landed = FALSE;
    g_list_store_remove_all(self->pending);
    gtk_slice_list_model_set_size(self->visible_conversation, G_MAXUINT);
  }
  show_engine_part_when_reset(self);
  vf_window_update_media_numbers(self);
  vf_window_update_export_actions(self);
  vf_window_update_last_answer(self);
}

guint64
vf_window_get_message_id(VfWindow *self, guint position)
{
  GListModel *conversation = engine_conversation(self);
  if (position >= g_list_model_get_n_items(conversation))
    return 0;
  g_autoptr(VfConversationMessage) m = g_list_model_get_item(conversation, position);
  return vf_conversation_message_get_id(m);
}

guint
vf_window_find_message(VfWindow *self, guint64 id)
{
  GListModel *conversation = engine_conversation(self);
  for (guint i = 0; i < g_list_model_get_n_items(conversation); i++) {
    g_autoptr(VfConversationMessage) m = g_list_model_get_item(conversation, i);
    if (vf_conversation_message_get_id(m) == id)
      return i;
  }
  return G_MAXUINT;
}

/* The conversation's last answer offers Regenerate and its alternatives while nothing is answered, and Continue
 * when it was cut. */
void
vf_window_update_last_answer(VfWindow *self)
{
  guint n = g_list_model_get_n_items(self->shown_conversation);
  g_autoptr(VfMessage) last = n && engine_part_shown(self) ? g_list_model_get_item(self->shown_conversation, n - 1)
                                                           : NULL;
  gboolean idle = !self->answering && g_list_model_get_n_items(G_LIST_MODEL(self->pending)) == 0 &&
                  vf_engine_has_model(self->engine) && !self->loading;
  VfMessage *answer = last && idle && vf_message_get_role(last) == VF_MESSAGE_ASSISTANT ? last : NULL;
  if (self->last_answer && self->last_answer != answer) {
    vf_message_set_last_answer(self->last_answer, FALSE);
    vf_message_set_can_continue(self->last_answer, FALSE);
  }
  g_set_object(&self->last_answer, answer);
  if (answer) {
    vf_message_set_last_answer(answer, TRUE);
    vf_message_set_can_continue(answer, vf_message_get_cut(answer));
  }
  GtkWidget *widget = GTK_WIDGET(self);
  gtk_widget_action_set_enabled(widget, "chat.continue", answer && vf_message_get_cut(answer));
  gtk_widget_action_set_enabled(widget, "chat.regenerate", answer != NULL);
  guint k = answer ? vf_message_get_alternative(answer) : 0, count = answer ? vf_message_get_n_alternatives(answer) : 1;
  gtk_widget_action_set_enabled(widget, "chat.previous-answer", answer && k > 0);
  gtk_widget_action_set_enabled(widget, "chat.next-answer", answer && k + 1 < count);
  gtk_widget_action_set_enabled(widget, "chat.edit", idle);
  gtk_widget_action_set_enabled(widget, "chat.delete-turn", idle);
}

void
vf_window_setup_conversation(VfWindow *self)
{
  self->shown_by_id = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_object_unref);
  GListModel *conversation = engine_conversation(self);
  g_signal_connect_object(conversation, "items-changed", G_CALLBACK(on_conversation_changing), self, 0);
  self->shown_conversation =
    G_LIST_MODEL(gtk_map_list_model_new(g_object_ref(conversation), message_for_snapshot, self, NULL));
  g_signal_connect_object(conversation, "items-changed", G_CALLBACK(on_conversation_changed), self, G_CONNECT_AFTER);
  self->visible_conversation = gtk_slice_list_model_new(g_object_ref(self->shown_conversation), 0, G_MAXUINT);
  self->pending = g_list_store_new(VF_TYPE_MESSAGE);
  self->message_sources = g_list_store_new(G_TYPE_LIST_MODEL);
  g_list_store_append(self->message_sources, self->visible_conversation);
  g_list_store_append(self->message_sources, self->pending);
  self->messages =
    G_LIST_MODEL(gtk_flatten_list_model_new(G_LIST_MODEL(g_object_ref(self->message_sources))));
  vf_chat_view_set_model(self->chat_view, self->messages);
}

void
vf_window_show_turn(VfWindow *self, guint keep_messages, VfMessage *question, VfMessage *answer)
{
  gtk_slice_list_model_set_size(self->visible_conversation, keep_messages);
  if (question)
    g_list_store_append(self->pending, question);
  g_list_store_append(self->pending, answer);
  vf_window_update_media_numbers(self);
}

void
vf_window_drop_turn(VfWindow *self)
{
  g_list_store_remove_all(self->pending);
  gtk_slice_list_model_set_size(self->visible_conversation, G_MAXUINT);
  vf_window_update_media_numbers(self);
}

void
vf_window_clear_conversation(VfWindow *self)
{
  g_list_store_remove_all(self->pending);
  gtk_slice_list_model_set_size(self->visible_conversation, G_MAXUINT);
  if (g_list_model_get_n_items(engine_conversation(self)) > 0 || self->stale_turns > 0) {
    self->awaiting_reset = TRUE;
    if (engine_part_shown(self))
      g_list_store_remove(self->message_sources, 0);
  }
  vf_window_update_media_numbers(self);
}

void
vf_window_stale_turn_ended(VfWindow *self)
{
  self->stale_turns--;
  show_engine_part_when_reset(self);
}

void
vf_window_count_media(VfWindow *self, guint *pictures, guint *videos)
{
  *pictures = *videos = 0;
  GListModel *conversation = G_LIST_MODEL(self->visible_conversation);
  for (guint i = 0; i < g_list_model_get_n_items(conversation) && engine_part_shown(self); i++) {
    g_autoptr(VfConversationMessage) m = g_list_model_get_item(engine_conversation(self), i);
    for (guint k = 0; k < vf_conversation_message_get_n_media(m); k++)
      (*(vf_conversation_message_get_is_video(m, k) ? videos : pictures))++;
  }
  for (guint i = 0; i < g_list_model_get_n_items(G_LIST_MODEL(self->pending)); i++) {
    g_autoptr(VfMessage) m = g_list_model_get_item(G_LIST_MODEL(self->pending), i);
    GListModel *attachments = vf_message_get_attachments(m);
    for (guint k = 0; k < g_list_model_get_n_items(attachments); k++) {
      g_autoptr(VfAttachment) a = g_list_model_get_item(attachments, k);
      (*(vf_attachment_get_kind(a) == VF_ATTACHMENT_VIDEO ? videos : pictures))++;
    }
  }
}

/* ---------------------------------------------------------------------------------------------------
 * A reopened conversation's stored details
 * ------------------------------------------------------------------------------------------------- */

/* The stored answer's footer: its token count and rate, and whether it was stopped. */
static void
read_stats(const char *json, VfTurnStats *stats)
{
  *stats = (VfTurnStats){0};
  g_autoptr(JsonNode) root = json ? json_from_string(json, NULL) : NULL;
  if (!root || !JSON_NODE_HOLDS_OBJECT(root))
    return;
  JsonObject *o = json_node_get_object(root);
  stats->generated_tokens = (uint32_t)json_object_get_int_member_with_default(o, "generated_tokens", 0);
  stats->decode_seconds = json_object_get_double_member_with_default(o, "decode_seconds", 0);
  stats->stopped = json_object_get_boolean_member_with_default(o, "stopped", FALSE);
  const char *reason = json_object_get_string_member_with_default(o, "stop_reason", "");
  stats->finished_with_eos = g_str_equal(reason, "eos");
  for (VfStopReason r = VF_STOP_EOS; r <= VF_STOP_CANCELLED; r++)
    if (g_str_equal(reason, vf_stop_reason_name(r)))
      stats->stop_reason = r;
}

typedef struct {
  VfWindow *window;   /* a reference */
  VfMessage *message; /* a reference */
  guint index;        /* of the attachment among the message's media */
  char *label, *name;
} StoredCopy;

static void
stored_copy_free(StoredCopy *copy)
{
  g_object_unref(copy->window);
  g_object_unref(copy->message);
  g_free(copy->label);
  g_free(copy->name);
  g_free(copy);
}

static void
on_stored_copy_read(GObject *source, GAsyncResult *result, gpointer user_data)
{
  StoredCopy *copy = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(VfAttachment) attachment = vf_attachment_inspect_finish(result, &error);
  if (!attachment) {
    /* The prompt reads the same copy and says so if the question is continued; the row shows the rest. */
    g_warning("stored attachment %s: %s", copy->name, error->message);
    stored_copy_free(copy);
    return;
  }
  vf_attachment_set_label(attachment, copy->label);
  vf_attachment_set_name(attachment, copy->name);
  g_autoptr(VfEngineModelInfo) info = vf_engine_get_model_info(copy->window->engine);
  if (info)
    vf_attachment_set_processor(attachment, &info->processor);
  g_object_set_data(G_OBJECT(attachment), "vf-media-index", GUINT_TO_POINTER(copy->index + 1));
  /* The copies are read in parallel: each goes before the first one of a later index. */
  GListModel *attachments = vf_message_get_attachments(copy->message);
  guint position = 0;
  for (guint n = g_list_model_get_n_items(attachments); position < n; position++) {
    g_autoptr(GObject) other = g_list_model_get_item(attachments, position);
    if (GPOINTER_TO_UINT(g_object_get_data(other, "vf-media-index")) > copy->index + 1)
      break;
  }
  vf_message_insert_attachment(copy->message, position, attachment);
  stored_copy_free(copy);
}

void
vf_window_show_stored_details(VfWindow *self, gint64 conversation)
{
  VfHistory *history = vf_sidebar_get_history(self->sidebar);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) stored = history ? vf_history_messages(history, conversation, &error) : NULL;
  if (!stored) {
    if (error)
      vf_window_toast(self, error->message);
    return;
  }
  /* The engine's conversation is the stored one's chosen messages, in order. */
  GListModel *snapshots = engine_conversation(self);
  guint position = 0;
  for (guint i = 0; i < stored->len && position < g_list_model_get_n_items(snapshots); i++) {
    const VfHistoryMessage *m = stored->pdata[i];
    if (!m->chosen)
      continue;
    g_autoptr(VfConversationMessage) snapshot = g_list_model_get_item(snapshots, position);
    g_autoptr(VfMessage) shown = g_list_model_get_item(self->shown_conversation, position);
    position++;
    if (vf_message_get_role(shown) == VF_MESSAGE_ASSISTANT) {
      VfTurnStats stats;
      read_stats(m->stats, &stats);
      vf_message_finish(shown, &stats);
      continue;
    }
    for (guint k = 0; k < m->attachments->len && k < vf_conversation_message_get_n_media(snapshot); k++) {
      const VfHistoryAttachment *a = m->attachments->pdata[k];
      const char *path = vf_conversation_message_get_source(snapshot, k);
      if (!path || !g_path_is_absolute(path) || !g_file_test(path, G_FILE_TEST_IS_REGULAR))
        continue; /* a URL kept as its source, or a document page: no stored copy to show */
      StoredCopy *copy = g_new0(StoredCopy, 1);
      copy->window = g_object_ref(self);
      copy->message = g_object_ref(shown);
      copy->index = k;
      copy->label = g_strdup(vf_conversation_message_get_label(snapshot, k));
      copy->name = g_strdup(a->name);
      g_autoptr(GFile) file = g_file_new_for_path(path);
      vf_attachment_inspect_async(file, NULL, on_stored_copy_read, copy);
    }
  }
}
