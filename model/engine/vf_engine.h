/* VfEngine: the desktop app's handle on the inference engine. One worker thread owns the Vulkan device,
 * the loaded model, its tokenizer and the chat session; the GTK main loop only queues requests and never
 * waits for one. Requests run in the order they were made. Results come back on the main context: async
 * calls complete there, and streamed text, stages and load progress arrive as signals (all posted with
 * g_main_context_invoke, so they reach the main loop in the order the worker produced them).
 *
 *   VfEngine *engine = vf_engine_new();
 *   vf_engine_load_async(engine, "/models/Qwen2-VL-2B-Instruct", NULL, NULL, on_loaded, self);
 *   ...
 *   g_autoptr(VfChat) draft = vf_chat_new();                 // the new user message
 *   vf_chat_message_append_text(vf_chat_append_message(draft, "user"), "What is in Picture 1?");
 *   g_signal_connect(engine, "text", G_CALLBACK(on_text), self);
 *   vf_engine_send_async(engine, g_steal_pointer(&draft), cancellable, on_answered, self);
 *
 * No GTK here: the engine is GLib/GIO only, so it can be tested without a display. */
#pragma once

#include <gio/gio.h>

#include "vf_chat.h"
#include "vf_conversation.h"
#include "vf_engine_error.h"
#include "vf_history.h"
#include "vf_preprocess.h"
#include "vf_turn_stats.h"

G_BEGIN_DECLS

/* How answers are sampled (transformers' generate parameters); greedy when do_sample is false. */
typedef struct {
  gboolean do_sample;
  double temperature;        /* 1: off */
  guint top_k;               /* 0: off */
  double top_p;              /* 1: off */
  double repetition_penalty; /* 1: off */
  guint64 seed;
} VfEngineSampling;

/* What the window shows about a loaded model. */
typedef struct {
  char *model_dir;
  char *tokenizer_dir;
  char *display_name;     /* "Qwen2-VL-2B-Instruct" */
  char *format;           /* "7B · GPTQ-Int4" (vf_config_describe) */
  char *device_name;      /* "llvmpipe (LLVM 15.0.6, 256 bits)" */
  char *device_summary;   /* the engine's one start-up line */
  gboolean software;      /* a CPU driver: answers will be slow */
  guint context;          /* KV-cache capacity, tokens */
  guint64 weight_bytes;   /* on the device */
  double load_seconds;
  char *template_warning; /* vf_chat_template_check(): NULL when the template is the official one */
  VfImageProcessorConfig processor;
  VfEngineSampling model_sampling; /* what generation_config.json asks for (the default) */
} VfEngineModelInfo;

#define VF_TYPE_ENGINE_MODEL_INFO (vf_engine_model_info_get_type())
GType vf_engine_model_info_get_type(void);
VfEngineModelInfo *vf_engine_model_info_copy(const VfEngineModelInfo *info);
void vf_engine_model_info_free(VfEngineModelInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfEngineModelInfo, vf_engine_model_info_free)

#define VF_TYPE_ENGINE (vf_engine_get_type())
G_DECLARE_FINAL_TYPE(VfEngine, vf_engine, VF, ENGINE, GObject)

/* Starts the worker thread. The device is created on the first load. */
VfEngine *vf_engine_new(void);

/* A copy of what describes the loaded model (free with vf_engine_model_info_free), or NULL: none yet, or the
 * last load released it and failed. */
VfEngineModelInfo *vf_engine_get_model_info(VfEngine *self);
gboolean vf_engine_has_model(VfEngine *self);
/* The conversation as a GListModel of VfConversationMessage (vf_conversation.h), owned by the engine and changed
 * on the main context as the worker changes its own: a successful turn adds its question and answer (after the
 * answer's last "text"); a failed or stopped-before-the-first-token turn adds nothing; truncate and reset remove
 * messages. A new model keeps it. */
GListModel *vf_engine_get_conversation(VfEngine *self);
/* Validation-layer messages the device has reported so far (0 without VF_VALIDATE). */
guint vf_engine_get_validation_messages(VfEngine *self);

/* Settings captured when a turn is queued. */
void vf_engine_set_max_new_tokens(VfEngine *self, guint max_new_tokens);
guint vf_engine_get_max_new_tokens(VfEngine *self);
/* add_vision_id: the prompt labels attachments "Picture N: " / "Video N: " as the window does. */
void vf_engine_set_label_media(VfEngine *self, gboolean label_media);
gboolean vf_engine_get_label_media(VfEngine *self);
/* A system prompt for later turns (before the conversation in the prompt, not a message of it; exported with it);
 * NULL or "": the chat template's default. */
void vf_engine_set_system_prompt(VfEngine *self, const char *system_prompt);
/* The sampling of later turns; NULL: the model's own (generation_config.json, greedy when it gives none). */
void vf_engine_set_sampling(VfEngine *self, const VfEngineSampling *sampling);
/* KV-cache size for later loads; 0 lets the memory budget decide. */
void vf_engine_set_context(VfEngine *self, guint context);

/* Replaces the loaded model. The new folder is checked first (tokenizer, configs, tensor inventory); when that
 * fails, the old model and the conversation stay as they were. Then the old model is released and the new one
 * uploaded; the conversation goes on with it (prefilled again at the next turn). tokenizer_dir: NULL to read
 * the tokenizer from model_dir. Emits "load-progress" while weights upload. The cancellable only drops the
 * result: an upload in flight runs to its end. */
void vf_engine_load_async(VfEngine *self, const char *model_dir, const char *tokenizer_dir,
                          GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
gboolean vf_engine_load_finish(VfEngine *self, GAsyncResult *result, GError **error);

/* Appends the messages of `draft` (normally one user message; taken over) to the conversation and
 * generates the answer, emitting "stage" until the first token and "text" for every piece (display text: a
 * NUL byte of the answer arrives as U+2400 "␀", the stored answer keeps the byte). Cancelling stops
 * within one decode step, one prefill chunk or one vision block. After the first token the partial answer is
 * kept and stats->stopped is set; before it the turn fails with G_IO_ERROR_CANCELLED. On failure the draft's
 * messages are removed again, so the conversation is as it was before the call. */
void vf_engine_send_async(VfEngine *self, VfChat *draft, GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data);
gboolean vf_engine_send_finish(VfEngine *self, GAsyncResult *result, VfTurnStats *stats, GError **error);

/* Edit and resend: the conversation's messages from `keep_messages` on are replaced by `draft` (taken over), which
 * is answered as a send is. The replaced messages stay in the conversation, the view and the history until the
 * answer's first piece; a turn that fails or is stopped before it leaves all three as they were. */
void vf_engine_resend_async(VfEngine *self, guint keep_messages, VfChat *draft, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data);
/* Regenerate: the last answer (message `keep_messages`, which must be the conversation's last and an answer, else
 * VF_ENGINE_ERROR_NO_ANSWER) is answered again; the earlier answer is kept as an alternative (the view's last
 * message tells "2 of 2": vf_conversation_message_get_alternative), and the history keeps both. Finish with
 * vf_engine_send_finish. */
void vf_engine_regenerate_async(VfEngine *self, guint keep_messages, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data);
/* Shows the last answer's alternative `alternative` (0, 1, …) in its place: the next question follows it. Queued;
 * nothing happens when the conversation's last answer has no such alternative. */
void vf_engine_choose_answer(VfEngine *self, guint alternative);
/* Deletes the turn whose question is message `question`: it and the answers after it, up to the next question
 * (the later turns stay, their pictures numbered anew). Queued. */
void vf_engine_delete_turn(VfEngine *self, guint question);

/* A full conversation goes on in a new one that carries its last `turns` turns (at least one) with their media; the
 * new one is stored from its next question, the old one stays in the history as it was. Queued. */
void vf_engine_carry_over(VfEngine *self, guint turns);

/* Goes on with the answer the conversation ends with (one cut at the token limit, or stopped), for up to
 * max_new_tokens more, streaming as a send does (vf_session_continue: the answer continued equals one made with
 * the larger limit). The view's last message is replaced by the whole answer, the history's too. Finish with
 * vf_engine_send_finish (the stats count this turn's tokens). VF_ENGINE_ERROR_NO_ANSWER when the conversation
 * does not end with an answer; on any failure the conversation is as it was. */
void vf_engine_continue_async(VfEngine *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data);

/* The prompt's token count if `draft` (taken over) were sent now; the conversation is unchanged. */
void vf_engine_count_async(VfEngine *self, VfChat *draft, GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data);
gboolean vf_engine_count_finish(VfEngine *self, GAsyncResult *result, guint *tokens, GError **error);

/* The conversation as JSON in the reference's chat-messages form (vf_chat_json_write: role / content parts, media
 * by their sources and options), which `viewfinder-cli chat --messages` replays; "[]" when there is none. Queued
 * like any request, so it includes every turn asked before it. */
void vf_engine_export_async(VfEngine *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data);
char *vf_engine_export_finish(VfEngine *self, GAsyncResult *result, GError **error);

/* The GPU the engine runs on, opened now if no model has opened it yet (queued like any request): its name and
 * the device memory Viewfinder may use, for "will it fit?" before a model is chosen. */
typedef struct {
  char *name;
  guint64 memory_budget; /* bytes */
  gboolean software;     /* a CPU driver */
} VfEngineDevice;

void vf_engine_device_free(VfEngineDevice *device);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfEngineDevice, vf_engine_device_free)
void vf_engine_query_device_async(VfEngine *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data);
VfEngineDevice *vf_engine_query_device_finish(VfEngine *self, GAsyncResult *result, GError **error);

/* Cancels the running request, answers the queued ones with G_IO_ERROR_CANCELLED, releases the model and
 * the device and joins the worker. Call it before the main loop ends (requests in flight hold references
 * to the engine, so disposal alone may come too late). Later requests fail with G_IO_ERROR_CLOSED. */
void vf_engine_shutdown(VfEngine *self);

/* The conversation history (model/store/vf_history.h) in `dir` (NULL: $XDG_DATA_HOME/viewfinder), opened on the
 * worker, which from then on stores every turn as it happens (vf_recorder.h): the question and its attachments
 * (copied in by content hash) when the turn starts, the answer from its first token, committed at least once a
 * second and at its end with its stats. *notice: NULL, or a sentence for the user when a damaged or newer
 * database was put aside (vf_history_open). A conversation held before the call is stored, whole, at its next
 * question. "history-changed" tells the stored conversation's id, "history-error" a write that failed. */
void vf_engine_open_history_async(VfEngine *self, const char *dir, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data);
gboolean vf_engine_open_history_finish(VfEngine *self, GAsyncResult *result, char **notice, GError **error);
/* Makes a stored conversation the engine's (the view is replaced); its KV cache starts empty, so the next
 * question prefills it whole. Fails with VF_HISTORY_ERROR_NOT_FOUND for an unknown id or without a history. */
void vf_engine_open_conversation_async(VfEngine *self, gint64 conversation, GCancellable *cancellable,
                                       GAsyncReadyCallback callback, gpointer user_data);
gboolean vf_engine_open_conversation_finish(VfEngine *self, GAsyncResult *result, GError **error);
/* The stored conversation the engine's conversation is, as of the last "history-changed"; 0: none. */
gint64 vf_engine_get_stored_conversation(VfEngine *self);

/* Forgets the conversation and its KV cache (queued like any request); with a history, the next question
 * starts a new stored conversation. */
void vf_engine_reset(VfEngine *self);
/* Keeps the first `keep_messages` messages of the conversation and drops the rest (edit and regenerate build on
 * this); what the kept messages cost stays cached. Queued like any request. */
void vf_engine_truncate(VfEngine *self, guint keep_messages);

G_END_DECLS
