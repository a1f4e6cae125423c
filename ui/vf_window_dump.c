/* The window's state as JSON, for the UI tests (printed by the app's test-dump action). */
#define G_LOG_DOMAIN "vf-window-dump"

#include <json-glib/json-glib.h>

#include "vf_window_private.h"

static const char *const state_names[] = {"waiting", "streaming", "done", "stopped"};

static void
add_string(JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name(b, name);
  if (value)
    json_builder_add_string_value(b, value);
  else
    json_builder_add_null_value(b);
}

static void
add_int(JsonBuilder *b, const char *name, gint64 value)
{
  json_builder_set_member_name(b, name);
  json_builder_add_int_value(b, value);
}

static void
add_bool(JsonBuilder *b, const char *name, gboolean value)
{
  json_builder_set_member_name(b, name);
  json_builder_add_boolean_value(b, value);
}

static void
add_attachments(JsonBuilder *b, GListModel *attachments)
{
  json_builder_set_member_name(b, "attachments");
  json_builder_begin_array(b);
  for (guint i = 0; i < g_list_model_get_n_items(attachments); i++) {
    g_autoptr(VfAttachment) a = g_list_model_get_item(attachments, i);
    json_builder_begin_object(b);
    add_string(b, "label", vf_attachment_get_label(a));
    add_string(b, "name", vf_attachment_get_name(a));
    add_int(b, "tokens", vf_attachment_get_tokens(a));
    g_autofree char *duration = vf_attachment_describe_duration(a);
    if (duration)
      add_string(b, "duration", duration);
    add_bool(b, "thumbnail", vf_attachment_get_thumbnail(a) != NULL);
    if (vf_attachment_get_damage(a))
      add_string(b, "damage", vf_attachment_get_damage(a));
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
}

char *
vf_window_dump(VfWindow *self)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  add_string(b, "page", gtk_stack_get_visible_child_name(self->stack));
  g_autoptr(VfEngineModelInfo) info = vf_engine_get_model_info(self->engine);
  add_string(b, "model", info ? info->display_name : NULL);
  add_string(b, "subtitle", adw_window_title_get_subtitle(self->window_title));
  add_string(b, "banner",
             gtk_revealer_get_reveal_child(self->device_banner) ? gtk_label_get_text(self->device_banner_label) : NULL);
  add_string(b, "welcome_title", adw_status_page_get_title(self->welcome_page));
  add_string(b, "welcome_help", gtk_label_get_text(self->welcome_help));
  /* Where typing goes: the focused widget's type ("GtkTextView" is the message entry). */
  GtkWidget *focus = gtk_root_get_focus(GTK_ROOT(self));
  add_string(b, "focus", focus ? G_OBJECT_TYPE_NAME(focus) : NULL);
  add_bool(b, "draft_too_long", self->draft_too_long);
  add_bool(b, "editing", self->editing != G_MAXUINT);
  add_bool(b, "busy", self->answering != NULL);
  add_bool(b, "loading", self->loading);
  add_int(b, "inspecting", self->inspecting);
  json_builder_set_member_name(b, "download");
  if (self->download_dialog)
    vf_download_dialog_dump(self->download_dialog, b);
  else
    json_builder_add_null_value(b);

  json_builder_set_member_name(b, "messages");
  json_builder_begin_array(b);
  for (guint i = 0; i < g_list_model_get_n_items(G_LIST_MODEL(self->messages)); i++) {
    g_autoptr(VfMessage) m = g_list_model_get_item(G_LIST_MODEL(self->messages), i);
    json_builder_begin_object(b);
    add_string(b, "role", vf_message_get_role(m) == VF_MESSAGE_USER ? "user" : "assistant");
    add_string(b, "text", vf_message_get_text(m));
    add_string(b, "state", state_names[vf_message_get_state(m)]);
    add_string(b, "stage", vf_message_get_stage(m));
    add_attachments(b, vf_message_get_attachments(m));
    add_int(b, "tokens", vf_message_get_tokens(m));
    add_bool(b, "cut", vf_message_get_cut(m));
    add_bool(b, "can_continue", vf_message_get_can_continue(m));
    add_bool(b, "last_answer", vf_message_get_last_answer(m));
    add_int(b, "alternative", vf_message_get_alternative(m));
    add_int(b, "alternatives", vf_message_get_n_alternatives(m));
    json_builder_end_object(b);
  }
  json_builder_end_array(b);

  add_int(b, "rows", vf_chat_view_get_n_rows(self->chat_view));

  json_builder_set_member_name(b, "draft");
  json_builder_begin_object(b);
  g_autofree char *text = vf_composer_get_text(self->composer);
  add_string(b, "text", text);
  add_attachments(b, vf_composer_get_attachments(self->composer));
  add_string(b, "status", vf_composer_get_status(self->composer));
  json_builder_end_object(b);

  /* The sidebar's kept conversations, newest first. */
  json_builder_set_member_name(b, "conversations");
  json_builder_begin_array(b);
  for (guint i = 0; i < vf_sidebar_get_n_rows(self->sidebar); i++)
    json_builder_add_string_value(b, vf_sidebar_get_row_title(self->sidebar, i));
  json_builder_end_array(b);

  json_builder_set_member_name(b, "toasts");
  json_builder_begin_array(b);
  for (guint i = 0; i < self->toasts->len; i++)
    json_builder_add_string_value(b, self->toasts->pdata[i]);
  json_builder_end_array(b);

  add_int(b, "validation_messages", vf_engine_get_validation_messages(self->engine));
  json_builder_end_object(b);

  g_autoptr(JsonGenerator) generator = json_generator_new();
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  json_generator_set_root(generator, root);
  return json_generator_to_data(generator, NULL);
}
