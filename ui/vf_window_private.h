/* VfWindow's instance struct, shared by the files that implement it (see vf_window.h). */
#pragma once

#include "vf_chat_view.h"
#include "vf_composer.h"
#include "vf_download_dialog.h"
#include "vf_message.h"
#include "vf_sidebar.h"
#include "vf_window.h"

struct _VfWindow {
  AdwApplicationWindow parent_instance;

  /* Template children. */
  AdwToastOverlay *toast_overlay;
  AdwWindowTitle *window_title;
  GtkRevealer *device_banner;
  GtkLabel *device_banner_label;
  GtkStack *stack;
  AdwStatusPage *welcome_page;
  GtkLabel *welcome_help;
  AdwPreferencesGroup *found_group;
  AdwStatusPage *loading_page;
  GtkProgressBar *load_progress;
  VfChatView *chat_view;
  VfComposer *composer;
  AdwLeaflet *leaflet;
  VfSidebar *sidebar;
  GtkWidget *main_pane;

  VfEngine *engine;
  GSettings *settings;         /* NULL without the schema */
  /* The conversation as shown (vf_window_conversation.c): flatten(message_sources) of VfMessage. */
  GListModel *messages;
  GListStore *message_sources;   /* GListModel: visible_conversation (unless hidden after New Chat), pending */
  GListModel *shown_conversation; /* the engine's conversation mapped to VfMessage */
  GtkSliceListModel *visible_conversation; /* of it, what is shown: all, or the messages an edit keeps */
  GListStore *pending;           /* VfMessage: the turn in flight, question and answer */
  GHashTable *shown_by_id;       /* guint64 * (VfConversationMessage id) → VfMessage: what each is shown as */
  gboolean awaiting_reset;       /* New Chat hid the engine's part until the engine's reset empties it */
  gboolean turn_landed;          /* between the two halves of a conversation change: drop the pending pair */
  VfMessage *last_answer;        /* the conversation's last answer while nothing is answered (a reference) */
  GPtrArray *found_rows;       /* AdwActionRow in found_group */
  GPtrArray *toasts;           /* char *: every toast shown, for the transcript dump */
  GPtrArray *live_toasts;      /* AdwToast: those still on screen */
  VfDownloadDialog *download_dialog; /* "Get Models", while it is open */

  /* Loading. */
  gboolean loading;
  char *loading_name;
  GCancellable *load_cancellable;
  char *welcome_error;         /* why the last load failed, shown on the welcome page */

  /* The turn in flight. */
  VfMessage *answering;        /* the answer being written, or NULL */
  gboolean continuing;         /* it is the conversation's last answer, going on (chat.continue) */
  guint editing;               /* the message the draft replaces (chat.edit), or G_MAXUINT */
  GCancellable *turn_cancellable;
  char *sent_text;             /* the draft as sent, to give back if the turn fails */
  GListStore *sent_attachments;
  guint stale_turns;           /* turns "New Chat" abandoned whose end has not come back yet */

  /* Attachments being read, and a send waiting for them. */
  guint inspecting;
  gboolean send_when_ready;

  /* Prompt token count of conversation + draft. */
  guint count_source;
  GCancellable *count_cancellable;
  guint prompt_tokens, prompt_context; /* the last count */
  gboolean draft_too_long;             /* it does not fit: Send is off, Fit to Context offered */
  guint fit_passes;                    /* Fit to Context rounds so far (it goes on while a count says over) */
};

/* vf_window.c */
/* The default picture budget of Preferences → Pictures, given to an attachment entering the draft. */
void vf_window_apply_picture_budget(VfWindow *self, VfAttachment *attachment);
void vf_window_update_media_numbers(VfWindow *self);
/* Dismisses the toasts on screen (they were about the conversation that "New Chat" ends). */
void vf_window_dismiss_toasts(VfWindow *self);
void vf_window_schedule_count(VfWindow *self);
/* The engine's form of a user message: the attachments in order, then the text (if any). */
VfChat *vf_window_build_draft(const char *text, GListModel *attachments);
/* "Out of GPU memory …: try a lower max pixels" and the like: an engine error for a person. */
char *vf_window_explain_error(VfWindow *self, const GError *error);

/* vf_window_actions.c */
void vf_window_class_add_actions(GtkWidgetClass *widget_class);
/* Streams the engine's stages and text into the answer being written. */
void vf_window_connect_engine(VfWindow *self);
void vf_window_send(VfWindow *self);
void vf_window_update_actions(VfWindow *self);

/* vf_window_conversation.c: the chat view shows the engine's conversation and the turn in flight. */
void vf_window_setup_conversation(VfWindow *self);
/* A question sent (NULL: a regenerated answer) and its answer (still waiting), shown after the conversation's
 * first `keep_messages` messages (G_MAXUINT: all) until the turn lands. */
void vf_window_show_turn(VfWindow *self, guint keep_messages, VfMessage *question, VfMessage *answer);
/* The turn failed or was stopped before its first token: its question and answer go. */
void vf_window_drop_turn(VfWindow *self);
/* New Chat: nothing is shown until the engine's reset (queued) has emptied its conversation. */
void vf_window_clear_conversation(VfWindow *self);
/* A turn New Chat abandoned came back. */
void vf_window_stale_turn_ended(VfWindow *self);
/* The conversation's last answer, while nothing is being answered, offers Regenerate, its alternatives, and
 * Continue when it was cut; the chat.* actions on messages follow. */
void vf_window_update_last_answer(VfWindow *self);
/* The position of the engine's message `id` in the conversation, or G_MAXUINT. */
guint vf_window_find_message(VfWindow *self, guint64 id);
/* Pictures and videos shown (what the draft's numbers follow). */
void vf_window_count_media(VfWindow *self, guint *pictures, guint *videos);
/* A reopened conversation: its answers' stored stats and its stored pictures (with their original names). */
void vf_window_show_stored_details(VfWindow *self, gint64 conversation);

/* vf_window_export.c: chat.export (Markdown with the media beside it, or JSON messages) and
 * chat.copy-conversation. */
void vf_window_class_add_export_actions(GtkWidgetClass *widget_class);
/* Enabled while the engine's conversation has messages. */
void vf_window_update_export_actions(VfWindow *self);

/* vf_window_fit.c: a draft over the context offers Fit to Context. */
void vf_window_class_add_fit_actions(GtkWidgetClass *widget_class);
/* The count came back: `tokens` of `context`. */
void vf_window_show_fit(VfWindow *self, guint tokens, guint context);
/* Lowers the costliest attachments' sizes so the prompt fits with room for an answer, and counts again. */
void vf_window_fit_to_context(VfWindow *self);
/* A toast: the conversation is full; its button goes on in a new chat with the last turn (chat.carry-over). */
void vf_window_offer_carry_over(VfWindow *self);

/* vf_window_history.c: the sidebar follows the engine's stored conversation and opens another. */
void vf_window_setup_history(VfWindow *self);

/* vf_window_dnd.c */
void vf_window_setup_drop_target(VfWindow *self);
