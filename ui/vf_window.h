/* VfWindow: the Viewfinder window — header bar (model and device, new chat, main menu), and one of three
 * pages: the welcome page (what to download, models found on this computer, open a folder), the loading
 * page (a progress bar over the weights' bytes), or the chat (conversation + composer).
 *
 * It drives a VfEngine: loads models, sends the composer's draft as the next user message and streams the
 * answer into the conversation, keeps the prompt's token count up to date, and reports problems as toasts.
 * Split by concern: vf_window.c (pages, model loading, token count), vf_window_actions.c (the chat.*
 * actions: send, stop, new chat, attach, open model), vf_window_dnd.c (drops, pasted and chosen files),
 * vf_window_dump.c (the transcript as JSON, for the UI tests). */
#pragma once

#include <adwaita.h>

#include "vf_engine.h"

G_BEGIN_DECLS

#define VF_TYPE_WINDOW (vf_window_get_type())
G_DECLARE_FINAL_TYPE(VfWindow, vf_window, VF, WINDOW, AdwApplicationWindow)

/* settings: org.viewfinder.Viewfinder, or NULL when the schema is not installed (nothing is remembered). */
VfWindow *vf_window_new(GtkApplication *application, VfEngine *engine, GSettings *settings);

/* Loads a model folder (tokenizer_dir: NULL for the same folder); the conversation starts afresh. */
void vf_window_load_model(VfWindow *self, const char *model_dir, const char *tokenizer_dir);
/* The "Get Models" dialog (presented again if open); repo_id: also start (or resume) that download, as its
 * row's button would. A completed download is loaded. */
void vf_window_get_models(VfWindow *self, const char *repo_id);
/* Opens the ⋮ settings of the draft's attachment `index`, as a click does (the UI tests' way in). */
void vf_window_open_attachment_options(VfWindow *self, guint index);
/* Goes on with the conversation's last answer when it was cut at the token limit (its Continue button). */
void vf_window_continue(VfWindow *self);
/* The last answer's Regenerate button: the question is answered again, the earlier answers kept. */
void vf_window_regenerate(VfWindow *self);
/* The last answer's ‹ › buttons: its previous (step −1) or next (+1) alternative. */
void vf_window_choose_answer(VfWindow *self, int step);
/* A question's Edit button (`id`: vf_message_get_id): the draft becomes that message; sending replaces it and
 * what follows. */
void vf_window_edit_message(VfWindow *self, guint64 id);
/* A question's Delete button: the question and its answer go. */
void vf_window_delete_turn(VfWindow *self, guint64 id);
/* The id of the conversation's message at `position` (0: none), for the UI tests' actions. */
guint64 vf_window_get_message_id(VfWindow *self, guint position);
/* Opens the sidebar's conversation `row`, as a click does (the UI tests' way in). */
void vf_window_open_sidebar_row(VfWindow *self, guint row);
/* Writes the conversation to `path`: JSON messages when it ends in ".json", else Markdown with its pictures and
 * videos copied into "NAME_files/" beside it; a toast says where, or why not. */
void vf_window_export_to(VfWindow *self, const char *path);
/* The welcome page, listing the checkpoints found in the Hugging Face and ModelScope caches. */
void vf_window_show_welcome(VfWindow *self);

/* What a drop does with files (vf_window_dnd.c): a folder opens as a model, pictures and videos are
 * inspected and attached to the draft; files that cannot be used are named in a toast. */
void vf_window_drop_files(VfWindow *self, GSList *files);
/* A pasted picture: kept as a PNG with the conversations (the history's blobs, by content hash) and attached,
 * named "Pasted 14:03:27.png". */
void vf_window_paste_picture(VfWindow *self, GdkTexture *texture);

void vf_window_toast(VfWindow *self, const char *text);
/* A toast with a button that activates `action_name` (a window action, e.g. "chat.send"). The test dump lists it
 * as "TEXT [LABEL: ACTION]". */
void vf_window_toast_with_button(VfWindow *self, const char *text, const char *button_label, const char *action_name);

/* The window's state as one line of JSON: page, model, messages (role, text, labels, state), the draft,
 * the token count, toasts shown so far. */
char *vf_window_dump(VfWindow *self);

G_END_DECLS
