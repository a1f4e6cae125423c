/* The window's chat.* actions: send (and the streamed answer), stop, new chat, attach, open model. */
#define G_LOG_DOMAIN "vf-window-actions"

#include "vf_window_private.h"

#include "vf_preferences.h"

void
vf_window_update_actions(VfWindow *self)
{
  gboolean ready = vf_engine_has_model(self->engine) && !self->loading;
  GtkWidget *widget = GTK_WIDGET(self);
  gtk_widget_action_set_enabled(widget, "chat.send", ready && !self->answering && !self->draft_too_long);
  gtk_widget_action_set_enabled(widget, "chat.fit-to-context", ready && !self->answering && self->draft_too_long);
  gtk_widget_action_set_enabled(widget, "chat.stop", self->answering != NULL);
  gtk_widget_action_set_enabled(widget, "chat.new", ready);
  gtk_widget_action_set_enabled(widget, "chat.open-model", !self->loading);
  vf_window_update_export_actions(self);
  vf_window_update_last_answer(self);
  vf_composer_set_busy(self->composer, self->answering != NULL);
}

/* ---------------------------------------------------------------------------------------------------
 * One turn
 * ------------------------------------------------------------------------------------------------- */

static void
on_stage(VfEngine *engine, const char *stage, double fraction, VfWindow *self)
{
  if (self->answering && self->stale_turns == 0)
    vf_message_set_stage(self->answering, stage, fraction);
}

static void
on_text(VfEngine *engine, const char *piece, VfWindow *self)
{
  if (self->answering && self->stale_turns == 0)
    vf_message_append_text(self->answering, piece);
}

/* Takes the question back out of the conversation and returns it to the composer. */
static void
give_back_draft(VfWindow *self)
{
  vf_window_drop_turn(self);
  g_autofree char *typed = vf_composer_get_text(self->composer);
  if (!*typed)
    vf_composer_set_text(self->composer, self->sent_text);
  /* The returned attachments go first, where they were. */
  GListModel *now = vf_composer_get_attachments(self->composer);
  g_autoptr(GListStore) later = g_list_store_new(VF_TYPE_ATTACHMENT);
  while (g_list_model_get_n_items(now) > 0) {
    g_autoptr(VfAttachment) a = g_list_model_get_item(now, 0);
    g_list_store_append(later, a);
    g_list_store_remove(G_LIST_STORE(now), 0);
  }
  GListModel *lists[] = {G_LIST_MODEL(self->sent_attachments), G_LIST_MODEL(later)};
  for (guint l = 0; l < G_N_ELEMENTS(lists); l++)
    for (guint i = 0; i < g_list_model_get_n_items(lists[l]); i++) {
      g_autoptr(VfAttachment) a = g_list_model_get_item(lists[l], i);
      vf_composer_add_attachment(self->composer, a);
    }
}

typedef enum {
  TURN_SEND,       /* a question (new, or an edited one) */
  TURN_CONTINUE,   /* chat.continue: the conversation's last answer goes on */
  TURN_REGENERATE, /* chat.regenerate: the last question is answered again */
} TurnKind;

typedef struct {
  VfWindow *window;
  VfMessage *answer;
  TurnKind kind;
} Turn;

/* Starts following a turn the engine was asked for: `answer` is what it streams into. */
static Turn *
turn_new(VfWindow *self, VfMessage *answer, TurnKind kind)
{
  self->answering = g_object_ref(answer);
  self->continuing = kind == TURN_CONTINUE;
  self->turn_cancellable = g_cancellable_new();
  Turn *turn = g_new0(Turn, 1);
  turn->window = g_object_ref(self);
  turn->answer = g_object_ref(answer);
  turn->kind = kind;
  return turn;
}

static void
on_answered(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Turn *turn = user_data;
  g_autoptr(VfWindow) self = turn->window;
  g_autoptr(VfMessage) answer = turn->answer;
  TurnKind kind = turn->kind;
  g_free(turn);
  g_autoptr(GError) error = NULL;
  VfTurnStats stats;
  gboolean ok = vf_engine_send_finish(VF_ENGINE(source), result, &stats, &error);
  if (answer != self->answering) {
    /* A turn that "New Chat" abandoned: its text was ignored, and so is its end. */
    vf_window_stale_turn_ended(self);
    return;
  }
  g_clear_object(&self->answering);
  g_clear_object(&self->turn_cancellable);
  self->continuing = FALSE;
  if (ok) {
    if (kind == TURN_SEND && self->editing != G_MAXUINT) {
      self->editing = G_MAXUINT;
      vf_composer_set_editing(self->composer, FALSE);
    }
    vf_message_finish(answer, &stats);
    g_message("answer: %u tokens, prefill %u tokens in %.2f s, decode %.2f s%s", stats.generated_tokens,
              stats.prefilled_tokens, stats.prefill_seconds, stats.decode_seconds, stats.stopped ? ", stopped" : "");
  } else {
    /* A turn that failed, or was stopped before its first token, leaves the conversation as it was: a question
     * goes back to the composer (still being edited, if it was), a continued answer is as before, a regenerated
     * one's place shows the earlier answer again. */
    static const char *const stopped[] = {"Stopped before answering", "Stopped before going on",
                                          "Stopped before answering again"};
    static const char *const retry[] = {"chat.send", "chat.continue", "chat.regenerate"};
    if (kind == TURN_CONTINUE)
      vf_message_undo_continue(answer);
    else if (kind == TURN_REGENERATE)
      vf_window_drop_turn(self);
    else
      give_back_draft(self);
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      /* No empty "Stopped" bubble, and Retry does it again. */
      vf_window_toast_with_button(self, stopped[kind], "_Retry", retry[kind]);
    } else if (g_error_matches(error, VF_ENGINE_ERROR, VF_ENGINE_ERROR_CONTEXT_FULL) &&
               g_list_model_get_n_items(vf_engine_get_conversation(self->engine)) > 0) {
      vf_window_offer_carry_over(self);
    } else {
      g_autofree char *message = vf_window_explain_error(self, error);
      vf_window_toast(self, message);
    }
  }
  g_clear_pointer(&self->sent_text, g_free);
  g_clear_object(&self->sent_attachments);
  vf_window_update_actions(self);
  vf_window_schedule_count(self);
}

void
vf_window_send(VfWindow *self)
{
  if (self->answering || self->loading)
    return;
  if (!vf_engine_has_model(self->engine)) {
    vf_window_toast(self, "Open a model first");
    return;
  }
  if (self->inspecting > 0) {
    /* Attachments are still being read: send as soon as they are in the draft. */
    self->send_when_ready = TRUE;
    return;
  }
  self->send_when_ready = FALSE;
  g_autofree char *text = vf_composer_get_text(self->composer);
  GListModel *attachments = vf_composer_get_attachments(self->composer);
  guint n = g_list_model_get_n_items(attachments);
  g_autofree char *stripped = g_strstrip(g_strdup(text));
  if (!*stripped && n == 0)
    return;

  VfChat *draft = vf_window_build_draft(text, attachments);
  g_autoptr(VfMessage) question = vf_message_new_user(text, attachments);
  self->sent_text = g_strdup(text);
  self->sent_attachments = g_list_store_new(VF_TYPE_ATTACHMENT);
  for (guint i = 0; i < n; i++) {
    g_autoptr(VfAttachment) a = g_list_model_get_item(attachments, i);
    g_list_store_append(self->sent_attachments, a);
  }
  vf_composer_clear(self->composer);

  g_autoptr(VfMessage) answer = vf_message_new_assistant();
  Turn *turn = turn_new(self, answer, TURN_SEND);
  /* An edited question replaces its message and what follows; they are hidden until the answer comes. */
  vf_window_show_turn(self, self->editing, question, answer);
  vf_composer_set_status(self->composer, NULL, FALSE);
  vf_engine_resend_async(self->engine, self->editing, draft, self->turn_cancellable, on_answered, turn);
  vf_window_update_actions(self);
}

/* ---------------------------------------------------------------------------------------------------
 * Continue a cut answer
 * ------------------------------------------------------------------------------------------------- */

/* The last answer, when it may be acted on now (nothing answered, a model loaded). */
static VfMessage *
last_answer(VfWindow *self)
{
  if (self->answering || self->loading || !vf_engine_has_model(self->engine))
    return NULL;
  return self->last_answer;
}

void
vf_window_continue(VfWindow *self)
{
  VfMessage *answer = last_answer(self);
  if (!answer || !vf_message_get_cut(answer))
    return;
  Turn *turn = turn_new(self, answer, TURN_CONTINUE);
  vf_message_continue(answer);
  vf_engine_continue_async(self->engine, self->turn_cancellable, on_answered, turn);
  vf_window_update_actions(self);
}

void
vf_window_regenerate(VfWindow *self)
{
  VfMessage *last = last_answer(self);
  guint position = last ? vf_window_find_message(self, vf_message_get_id(last)) : G_MAXUINT;
  if (position == G_MAXUINT)
    return;
  g_autoptr(VfMessage) answer = vf_message_new_assistant();
  Turn *turn = turn_new(self, answer, TURN_REGENERATE);
  vf_window_show_turn(self, position, NULL, answer);
  vf_engine_regenerate_async(self->engine, position, self->turn_cancellable, on_answered, turn);
  vf_window_update_actions(self);
}

/* ---------------------------------------------------------------------------------------------------
 * Edit, delete, alternatives
 * ------------------------------------------------------------------------------------------------- */

static void
set_editing(VfWindow *self, guint position)
{
  self->editing = position;
  vf_composer_set_editing(self->composer, position != G_MAXUINT);
}

void
vf_window_edit_message(VfWindow *self, guint64 id)
{
  guint position = vf_window_find_message(self, id);
  g_autoptr(VfMessage) message = position != G_MAXUINT ? g_list_model_get_item(self->shown_conversation, position)
                                                       : NULL;
  if (!message || vf_message_get_role(message) != VF_MESSAGE_USER || self->answering)
    return;
  /* The draft becomes the message: its text and its attachments (the same items, already read). */
  vf_composer_clear(self->composer);
  vf_composer_set_text(self->composer, vf_message_get_text(message));
  GListModel *attachments = vf_message_get_attachments(message);
  for (guint i = 0; i < g_list_model_get_n_items(attachments); i++) {
    g_autoptr(VfAttachment) a = g_list_model_get_item(attachments, i);
    vf_composer_add_attachment(self->composer, a);
  }
  set_editing(self, position);
  vf_window_update_media_numbers(self);
  vf_window_schedule_count(self);
  vf_composer_focus_input(self->composer);
}

static void
edit_activated(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  vf_window_edit_message(VF_WINDOW(widget), g_variant_get_uint64(parameter));
}

static void
cancel_edit_activated(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  VfWindow *self = VF_WINDOW(widget);
  if (self->editing == G_MAXUINT || self->answering)
    return;
  set_editing(self, G_MAXUINT);
  vf_composer_clear(self->composer);
  vf_window_update_media_numbers(self);
  vf_window_schedule_count(self);
}

void
vf_window_delete_turn(VfWindow *self, guint64 id)
{
  guint position = vf_window_find_message(self, id);
  if (position == G_MAXUINT || self->answering)
    return;
  if (self->editing != G_MAXUINT)
    cancel_edit_activated(GTK_WIDGET(self), NULL, NULL);
  vf_engine_delete_turn(self->engine, position);
  vf_window_schedule_count(self);
}

static void
delete_turn_activated(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  vf_window_delete_turn(VF_WINDOW(widget), g_variant_get_uint64(parameter));
}

void
vf_window_choose_answer(VfWindow *self, int step)
{
  VfMessage *answer = last_answer(self);
  if (!answer)
    return;
  int k = (int)vf_message_get_alternative(answer) + step;
  if (k < 0 || k >= (int)vf_message_get_n_alternatives(answer))
    return;
  vf_engine_choose_answer(self->engine, (guint)k);
  vf_window_schedule_count(self);
}

static void
alternative_activated(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  vf_window_choose_answer(VF_WINDOW(widget), g_str_equal(action_name, "chat.next-answer") ? 1 : -1);
}

static void
regenerate_activated(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  vf_window_regenerate(VF_WINDOW(widget));
}

/* ---------------------------------------------------------------------------------------------------
 * Actions
 * ------------------------------------------------------------------------------------------------- */

static void
continue_activated(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  vf_window_continue(VF_WINDOW(widget));
}

static void
send_activated(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  vf_window_send(VF_WINDOW(widget));
}

static void
stop_activated(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  VfWindow *self = VF_WINDOW(widget);
  if (self->turn_cancellable)
    g_cancellable_cancel(self->turn_cancellable);
}

static void
new_chat_activated(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  VfWindow *self = VF_WINDOW(widget);
  if (self->answering) {
    g_cancellable_cancel(self->turn_cancellable);
    g_clear_object(&self->turn_cancellable);
    g_clear_object(&self->answering);
    g_clear_pointer(&self->sent_text, g_free);
    g_clear_object(&self->sent_attachments);
    self->continuing = FALSE;
    self->stale_turns++;
  }
  /* Queued behind the abandoned turn, so the engine forgets it too. */
  vf_engine_reset(self->engine);
  vf_window_dismiss_toasts(self);
  vf_window_clear_conversation(self);
  set_editing(self, G_MAXUINT);
  vf_composer_clear(self->composer);
  vf_window_update_actions(self);
  vf_window_schedule_count(self);
  vf_composer_focus_input(self->composer);
}

static void
on_attach_response(GtkNativeDialog *dialog, int response, VfWindow *self)
{
  if (response == GTK_RESPONSE_ACCEPT) {
    g_autoptr(GListModel) files = gtk_file_chooser_get_files(GTK_FILE_CHOOSER(dialog));
    GSList *list = NULL;
    for (guint i = g_list_model_get_n_items(files); i > 0; i--)
      list = g_slist_prepend(list, g_list_model_get_item(files, i - 1));
    vf_window_drop_files(self, list);
    g_slist_free_full(list, g_object_unref);
  }
  g_object_unref(dialog);
}

static void
attach_activated(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  VfWindow *self = VF_WINDOW(widget);
  GtkFileChooserNative *chooser = gtk_file_chooser_native_new("Attach Pictures or Videos", GTK_WINDOW(self),
                                                              GTK_FILE_CHOOSER_ACTION_OPEN, "_Attach", "_Cancel");
  gtk_file_chooser_set_select_multiple(GTK_FILE_CHOOSER(chooser), TRUE);
  GtkFileFilter *media = gtk_file_filter_new();
  gtk_file_filter_set_name(media, "Pictures and videos");
  gtk_file_filter_add_mime_type(media, "image/*");
  gtk_file_filter_add_mime_type(media, "video/*");
  gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(chooser), media);
  g_object_unref(media);
  GtkFileFilter *all = gtk_file_filter_new();
  gtk_file_filter_set_name(all, "All files");
  gtk_file_filter_add_pattern(all, "*");
  gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(chooser), all);
  g_object_unref(all);
  g_signal_connect(chooser, "response", G_CALLBACK(on_attach_response), self);
  gtk_native_dialog_show(GTK_NATIVE_DIALOG(chooser));
}

static void
on_open_model_response(GtkNativeDialog *dialog, int response, VfWindow *self)
{
  if (response == GTK_RESPONSE_ACCEPT) {
    g_autoptr(GFile) folder = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(dialog));
    g_autofree char *path = folder ? g_file_get_path(folder) : NULL;
    if (path)
      vf_window_load_model(self, path, NULL);
  }
  g_object_unref(dialog);
}

static void
preferences_activated(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  VfWindow *self = VF_WINDOW(widget);
  if (!self->settings) {
    vf_window_toast(self, "Preferences need the app's settings schema, which is not installed");
    return;
  }
  g_autoptr(VfEngineModelInfo) info = vf_engine_get_model_info(self->engine);
  gtk_window_present(GTK_WINDOW(vf_preferences_new(GTK_WINDOW(self), self->settings, info)));
}

static void
get_models_activated(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  vf_window_get_models(VF_WINDOW(widget), NULL);
}

static void
open_model_activated(GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  VfWindow *self = VF_WINDOW(widget);
  GtkFileChooserNative *chooser = gtk_file_chooser_native_new("Open Model Folder", GTK_WINDOW(self),
                                                              GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, "_Open",
                                                              "_Cancel");
  g_signal_connect(chooser, "response", G_CALLBACK(on_open_model_response), self);
  gtk_native_dialog_show(GTK_NATIVE_DIALOG(chooser));
}

void
vf_window_class_add_actions(GtkWidgetClass *widget_class)
{
  gtk_widget_class_install_action(widget_class, "chat.send", NULL, send_activated);
  gtk_widget_class_install_action(widget_class, "chat.stop", NULL, stop_activated);
  gtk_widget_class_install_action(widget_class, "chat.continue", NULL, continue_activated);
  gtk_widget_class_install_action(widget_class, "chat.regenerate", NULL, regenerate_activated);
  gtk_widget_class_install_action(widget_class, "chat.previous-answer", NULL, alternative_activated);
  gtk_widget_class_install_action(widget_class, "chat.next-answer", NULL, alternative_activated);
  gtk_widget_class_install_action(widget_class, "chat.edit", "t", edit_activated);
  gtk_widget_class_install_action(widget_class, "chat.cancel-edit", NULL, cancel_edit_activated);
  gtk_widget_class_install_action(widget_class, "chat.delete-turn", "t", delete_turn_activated);
  gtk_widget_class_install_action(widget_class, "chat.new", NULL, new_chat_activated);
  gtk_widget_class_install_action(widget_class, "chat.attach", NULL, attach_activated);
  gtk_widget_class_install_action(widget_class, "chat.open-model", NULL, open_model_activated);
  gtk_widget_class_install_action(widget_class, "chat.get-models", NULL, get_models_activated);
  gtk_widget_class_install_action(widget_class, "chat.preferences", NULL, preferences_activated);
  gtk_widget_class_add_binding_action(widget_class, GDK_KEY_comma, GDK_CONTROL_MASK, "chat.preferences", NULL);
  gtk_widget_class_add_binding_action(widget_class, GDK_KEY_Escape, 0, "chat.stop", NULL);
  gtk_widget_class_add_binding_action(widget_class, GDK_KEY_n, GDK_CONTROL_MASK, "chat.new", NULL);
  gtk_widget_class_add_binding_action(widget_class, GDK_KEY_o, GDK_CONTROL_MASK, "chat.open-model", NULL);
}

void
vf_window_connect_engine(VfWindow *self)
{
  g_signal_connect_object(self->engine, "stage", G_CALLBACK(on_stage), self, 0);
  g_signal_connect_object(self->engine, "text", G_CALLBACK(on_text), self, 0);
}
