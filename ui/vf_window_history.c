/* The window and the kept conversations: the sidebar lists them and selects the engine's stored conversation
 * ("history-changed"); a row opens its conversation in the engine (the turn in flight stopped and kept, as
 * New Chat does), which the chat view then shows; deleting the open conversation starts a new chat. See vf_window.h. */
#define G_LOG_DOMAIN "vf-window"

#include "vf_window_private.h"

static void
on_history_changed(VfEngine *engine, gint64 conversation, VfWindow *self)
{
  vf_sidebar_reload(self->sidebar);
  vf_sidebar_set_current(self->sidebar, conversation);
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
  vf_window_show_stored_details(self, conversation);
  vf_window_update_actions(self);
  vf_window_schedule_count(self);
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
vf_window_open_sidebar_row(VfWindow *self, guint row)
{
  vf_sidebar_activate_row(self->sidebar, row);
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
