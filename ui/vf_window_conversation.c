/* What the chat view shows: the engine's conversation, followed by the turn in flight.
 *
 *   self->messages = flatten[ map(vf_engine_get_conversation() → VfMessage), pending ]
 *                                │                                          │
 *        one VfMessage per engine message, made once           the question just sent and its answer
 *        (kept on the snapshot) and numbered by the engine     while it streams (VfMessage), until
 *                                                              the engine's conversation takes them
 *
 * The window keeps no list of its own to keep in step: a turn that lands enters the engine's conversation (its
 * question and answer, after the answer's last piece of text), and the same two VfMessage objects the window
 * streamed into become the mapped ones, so their rows and thumbnails stay; a turn that fails or is stopped
 * before its first token adds nothing, and the pending pair is simply dropped. New Chat hides the engine's part
 * until the engine's reset (queued behind any abandoned turn) has emptied it. See vf_window.h. */
#define G_LOG_DOMAIN "vf-window"

#include <json-glib/json-glib.h>

#include "vf_window_private.h"

/* The VfMessage shown for an engine message, kept on its snapshot so it is made once. */
#define SHOWN_KEY "vf-window-message"

static GListModel *engine_conversation(VfWindow *self) { return vf_engine_get_conversation(self->engine); }

/* A message the window did not stream itself (a reopened conversation's): its text; its stored pictures and
 * its answer's stats come from the history (vf_window_show_stored_details). */
static gpointer
message_for_snapshot(gpointer item, gpointer user_data)
{
  g_autoptr(VfConversationMessage) snapshot = item;
  VfMessage *shown = g_object_get_data(G_OBJECT(snapshot), SHOWN_KEY);
  if (shown)
    return g_object_ref(shown);
  const char *text = vf_conversation_message_get_text(snapshot);
  if (g_str_equal(vf_conversation_message_get_role(snapshot), "assistant")) {
    shown = vf_message_new_assistant();
    vf_message_append_text(shown, text);
    vf_message_finish(shown, &(VfTurnStats){0});
  } else {
    shown = vf_message_new_user(text, NULL);
  }
  g_object_set_data_full(G_OBJECT(snapshot), SHOWN_KEY, g_object_ref(shown), g_object_unref);
  return shown;
}

static gboolean
engine_part_shown(VfWindow *self)
{
  g_autoptr(GObject) first = g_list_model_get_item(G_LIST_MODEL(self->message_sources), 0);
  return first == G_OBJECT(self->shown_conversation);
}

/* After New Chat: the engine's part comes back once the reset has emptied it and no abandoned turn can land. */
static void
show_engine_part_when_reset(VfWindow *self)
{
  if (!self->awaiting_reset || self->stale_turns > 0 || g_list_model_get_n_items(engine_conversation(self)) > 0)
    return;
  self->awaiting_reset = FALSE;
  if (!engine_part_shown(self))
    g_list_store_insert(self->message_sources, 0, self->shown_conversation);
}

/* Runs before the map model hears of the change (connected first), so a turn that landed is shown through the
 * VfMessage objects the window streamed into. */
static void
on_conversation_changing(GListModel *conversation, guint position, guint removed, guint added, VfWindow *self)
{
  GListModel *pending = G_LIST_MODEL(self->pending);
  if (self->continuing && removed == 1 && added == 1 && self->stale_turns == 0) {
    /* The continued answer replaced the last message: it is still the one streaming. */
    g_autoptr(VfConversationMessage) answer = g_list_model_get_item(conversation, position);
    g_object_set_data_full(G_OBJECT(answer), SHOWN_KEY, g_object_ref(self->answering), g_object_unref);
  }
  /* An abandoned turn that lands is not the one pending (and New Chat dropped its messages). */
  if (added >= 2 && self->stale_turns == 0 && g_list_model_get_n_items(pending) == 2) {
    g_autoptr(VfConversationMessage) question = g_list_model_get_item(conversation, position + added - 2);
    g_autoptr(VfConversationMessage) answer = g_list_model_get_item(conversation, position + added - 1);
    g_object_set_data_full(G_OBJECT(question), SHOWN_KEY, g_list_model_get_item(pending, 0), g_object_unref);
    g_object_set_data_full(G_OBJECT(answer), SHOWN_KEY, g_list_model_get_item(pending, 1), g_object_unref);
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
  }
  show_engine_part_when_reset(self);
  vf_window_update_media_numbers(self);
  vf_window_update_export_actions(self);
  vf_window_update_continue_offer(self);
}

VfMessage *vf_window_get_continue_offer(VfWindow *self) { return self->continue_offer; }

void
vf_window_update_continue_offer(VfWindow *self)
{
  guint n = g_list_model_get_n_items(self->shown_conversation);
  g_autoptr(VfMessage) last = n && engine_part_shown(self) ? g_list_model_get_item(self->shown_conversation, n - 1)
                                                           : NULL;
  gboolean offer = last && !self->answering && g_list_model_get_n_items(G_LIST_MODEL(self->pending)) == 0 &&
                   vf_message_get_role(last) == VF_MESSAGE_ASSISTANT && vf_message_get_cut(last);
  VfMessage *now = offer ? last : NULL;
  if (self->continue_offer && self->continue_offer != now)
    vf_message_set_can_continue(self->continue_offer, FALSE);
  g_set_object(&self->continue_offer, now);
  if (now)
    vf_message_set_can_continue(now, TRUE);
  gtk_widget_action_set_enabled(GTK_WIDGET(self), "chat.continue", now && vf_engine_has_model(self->engine) &&
                                                                     !self->loading);
}

void
vf_window_setup_conversation(VfWindow *self)
{
  GListModel *conversation = engine_conversation(self);
  g_signal_connect_object(conversation, "items-changed", G_CALLBACK(on_conversation_changing), self, 0);
  self->shown_conversation =
    G_LIST_MODEL(gtk_map_list_model_new(g_object_ref(conversation), message_for_snapshot, self, NULL));
  g_signal_connect_object(conversation, "items-changed", G_CALLBACK(on_conversation_changed), self, G_CONNECT_AFTER);
  self->pending = g_list_store_new(VF_TYPE_MESSAGE);
  self->message_sources = g_list_store_new(G_TYPE_LIST_MODEL);
  g_list_store_append(self->message_sources, self->shown_conversation);
  g_list_store_append(self->message_sources, self->pending);
  self->messages =
    G_LIST_MODEL(gtk_flatten_list_model_new(G_LIST_MODEL(g_object_ref(self->message_sources))));
  vf_chat_view_set_model(self->chat_view, self->messages);
}

void
vf_window_show_turn(VfWindow *self, VfMessage *question, VfMessage *answer)
{
  g_list_store_append(self->pending, question);
  g_list_store_append(self->pending, answer);
  vf_window_update_media_numbers(self);
}

void
vf_window_drop_turn(VfWindow *self)
{
  g_list_store_remove_all(self->pending);
  vf_window_update_media_numbers(self);
}

void
vf_window_clear_conversation(VfWindow *self)
{
  g_list_store_remove_all(self->pending);
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
  GListModel *conversation = engine_conversation(self);
  for (guint i = 0; i < g_list_model_get_n_items(conversation) && engine_part_shown(self); i++) {
    g_autoptr(VfConversationMessage) m = g_list_model_get_item(conversation, i);
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
