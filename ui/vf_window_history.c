/* The window and the kept conversations: the sidebar lists them and selects the engine's stored conversation
 * ("history-changed"); a row opens its conversation in the engine (the turn in flight stopped and kept, as
 * New Chat does) and shows its messages; deleting the open conversation starts a new chat. See vf_window.h. */
#define G_LOG_DOMAIN "vf-window"

#include <json-glib/json-glib.h>

#include "vf_window_private.h"

static void
on_history_changed(VfEngine *engine, gint64 conversation, VfWindow *self)
{
  vf_sidebar_reload(self->sidebar);
  vf_sidebar_set_current(self->sidebar, conversation);
}

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
  stats->finished_with_eos = g_strcmp0(json_object_get_string_member_with_default(o, "stop_reason", ""), "eos") == 0;
}

/* The opened conversation's messages as the window shows them: the chosen answer at each position. (Its
 * pictures are in the engine's conversation and the next prompt; the rows show their text.) */
static void
show_stored_messages(VfWindow *self, gint64 conversation)
{
  VfHistory *history = vf_sidebar_get_history(self->sidebar);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) stored = history ? vf_history_messages(history, conversation, &error) : NULL;
  if (!stored) {
    if (error)
      vf_window_toast(self, error->message);
    return;
  }
  g_list_store_remove_all(self->messages);
  for (guint i = 0; i < stored->len; i++) {
    const VfHistoryMessage *m = stored->pdata[i];
    if (!m->chosen)
      continue;
    g_autoptr(VfMessage) message = NULL;
    if (g_str_equal(m->role, "assistant")) {
      message = vf_message_new_assistant();
      vf_message_append_text(message, m->text);
      VfTurnStats stats;
      read_stats(m->stats, &stats);
      vf_message_finish(message, &stats);
    } else {
      message = vf_message_new_user(m->text, NULL);
    }
    g_list_store_append(self->messages, message);
  }
  vf_window_update_media_numbers(self);
  vf_window_update_actions(self);
  vf_window_schedule_count(self);
}

typedef struct {
  VfWindow *window; /* a reference */
  gint64 conversation;
} Opening;

static void
on_conversation_opened(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Opening *opening = user_data;
  g_autoptr(VfWindow) self = opening->window;
  gint64 conversation = opening->conversation;
  g_free(opening);
  g_autoptr(GError) error = NULL;
  if (!vf_engine_open_conversation_finish(VF_ENGINE(source), result, &error)) {
    g_autofree char *text = g_strdup_printf("The conversation could not be opened: %s", error->message);
    vf_window_toast(self, text);
    return;
  }
  show_stored_messages(self, conversation);
  adw_leaflet_set_visible_child(self->leaflet, self->main_pane);
  vf_composer_focus_input(self->composer);
}

static void
on_conversation_activated(VfSidebar *sidebar, gint64 conversation, VfWindow *self)
{
  if (conversation == vf_engine_get_stored_conversation(self->engine)) {
    adw_leaflet_set_visible_child(self->leaflet, self->main_pane);
    return;
  }
  /* As New Chat: a turn in flight is stopped (its answer kept in the history) and the window cleared. */
  gtk_widget_activate_action(GTK_WIDGET(self), "chat.new", NULL);
  Opening *opening = g_new0(Opening, 1);
  opening->window = g_object_ref(self);
  opening->conversation = conversation;
  vf_engine_open_conversation_async(self->engine, conversation, NULL, on_conversation_opened, opening);
}

static void
on_conversation_deleted(VfSidebar *sidebar, gint64 conversation, VfWindow *self)
{
  if (conversation == vf_engine_get_stored_conversation(self->engine))
    gtk_widget_activate_action(GTK_WIDGET(self), "chat.new", NULL);
}

void
vf_window_setup_history(VfWindow *self)
{
  /* The engine opened the same history first and told the app about any problem; the sidebar's own error
   * state says it again where the list would be. */
  vf_sidebar_open(self->sidebar, NULL, NULL);
  g_signal_connect_object(self->engine, "history-changed", G_CALLBACK(on_history_changed), self, 0);
  g_signal_connect_object(self->sidebar, "conversation-activated", G_CALLBACK(on_conversation_activated), self, 0);
  g_signal_connect_object(self->sidebar, "conversation-deleted", G_CALLBACK(on_conversation_deleted), self, 0);
  adw_leaflet_set_visible_child(self->leaflet, self->main_pane);
}
