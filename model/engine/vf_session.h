/* VfSession: one conversation with a loaded model. The conversation is a VfChat; each turn renders the
 * chat template over the whole conversation (so Picture/Video numbering runs across turns), tokenizes it,
 * keeps the KV cache for the longest prefix that is already there and prefills only the rest, then
 * decodes the answer, streaming complete UTF-8 text, and appends it as an assistant message.
 *
 *   VfChatMessage *m = vf_chat_append_message(vf_session_chat(s), "user");
 *   vf_chat_message_append_text(m, "Hello!");
 *   if (!vf_session_generate(s, &opts, print_piece, NULL, cancellable, &stats, &error)) ...
 */
#pragma once

#include <gio/gio.h>
#include <glib.h>

#include "vf_chat.h"
#include "vf_model.h"
#include "vf_sampler.h"
#include "vf_tokenizer.h"
#include "vf_turn_stats.h"

typedef struct VfSession VfSession;

/* A stage before the first token: "Encoding picture 2" (fraction −1: unknown), "Reading prompt" (0..1). */
typedef void (*VfStageFunc)(const char *stage, double fraction, void *user);

typedef struct {
  VfSamplerParams sampling;
  uint32_t max_new_tokens;
  gboolean add_vision_id;
  gboolean ignore_eos;    /* decode past an eos token, to max_new_tokens (benchmarks: answers of one length) */
  const char *media_dir;  /* folder for relative media paths (NULL: the current folder) */
  /* Rendered as a system message before the conversation (which keeps none), unless the conversation starts
   * with its own; NULL or "": the template's default. */
  const char *system_prompt;
  VfStageFunc on_stage;   /* optional */
  /* Optional: what the user should know about an input that was read anyway, e.g. "Picture 1 (x.jpg):
   * damaged: the data stops at row 14 of 2700". Gets stage_user. */
  void (*on_warning)(const char *message, void *user);
  void *stage_user;
  /* The answer's pieces and its message keep the grounding markers (object_ref, box, quad) for
   * vf_grounded_answer.h; otherwise they are left out with the other special tokens, as Hugging Face's
   * decode(skip_special_tokens=True) does. */
  gboolean keep_grounding;
} VfGenerateOptions;


/* A piece of the answer: `len` bytes, which may include NUL bytes (token 188 is the byte 0x00). */
typedef void (*VfTextFunc)(const char *piece, size_t len, void *user);

/* `model` and `tok` must outlive the session. It takes one of the model's KV-cache sequences
 * (VfLlmOptions.sequences) while it lives, so as many conversations as the model has sequences can live at
 * once and be answered together; an error when all are taken. */
VfSession *vf_session_new(VfModel *model, VfTokenizer *tok, GError **error);
void vf_session_free(VfSession *s);

VfChat *vf_session_chat(VfSession *s);
/* Forgets the conversation and the cache. */
void vf_session_reset(VfSession *s);
/* Gives the session another conversation (taken over; its media parts keep their items) with an empty cache,
 * and returns the one it had: a conversation moves to a newly loaded model this way. */
VfChat *vf_session_replace_chat(VfSession *s, VfChat *chat);

/* The sampling the model folder asks for (generation_config.json), greedy when it gives none. */
void vf_session_default_options(VfSession *s, VfGenerateOptions *opts);

/* Token count of the conversation's prompt if it were sent now (for "prompt too long" checks and the UI). */
gboolean vf_session_count_prompt(VfSession *s, const VfGenerateOptions *opts, uint32_t *tokens, GError **error);
/* The same with the messages of `draft` after the conversation, which stays as it is. The conversation's own
 * messages are tokenized once (the session keeps their tokens), so this costs only the draft's work: its text,
 * and the header of a picture the draft's part has no VfMediaItem for yet. */
gboolean vf_session_count_draft(VfSession *s, const VfGenerateOptions *opts, VfChat *draft, uint32_t *tokens,
                                GError **error);

/* Generates the answer to the conversation as it stands (its last message is normally the user's). On
 * success the answer is appended as an assistant message, also when cancelled (stats->stopped). On failure
 * the conversation is left as it was. */
gboolean vf_session_generate(VfSession *s, const VfGenerateOptions *opts, VfTextFunc on_text, void *user,
                             GCancellable *cancellable, VfTurnStats *stats, GError **error);

/* Goes on with the answer the conversation ends with (one cut at max_new_tokens, or stopped): the prompt is the
 * conversation before it, the assistant's header and the answer's tokens (the ids this session generated for it,
 * when it is this session's last answer, so an answer continued equals one generated with the larger limit;
 * else its text tokenized), and up to max_new_tokens more are generated. On success the message is replaced by
 * one holding the whole answer; stats count this turn's tokens. On failure the conversation is as it was.
 * VF_ENGINE_ERROR_NO_ANSWER when the last message is not an answer. */
gboolean vf_session_continue(VfSession *s, const VfGenerateOptions *opts, VfTextFunc on_text, void *user,
                             GCancellable *cancellable, VfTurnStats *stats, GError **error);

/* Answers n conversations (distinct sessions of one model) together: each prompt is prefilled on its own,
 * then those still answering decode one token per step with the weights read once per step (batch OCR); one
 * that finishes leaves the step. users, stats, errors_out: [n]; on_text gets users[i]. A conversation whose
 * prompt fails gets errors_out[i] and the others go on; FALSE (with `error`) only when the shared decoding
 * fails. */
gboolean vf_session_generate_together(VfSession *const *sessions, uint32_t n, const VfGenerateOptions *opts,
                                      VfTextFunc on_text, void *const *users, GCancellable *cancellable,
                                      VfTurnStats *stats, GError **errors_out, GError **error);

/* The same a step at a time, for a scheduler that lets answers join and leave between steps (continuous
 * batching: the server). A turn prefills its session's prompt (in its sequence) and takes the first token; then
 * each step decodes one token for every turn given that is not done, the weights read once for all
 * (vf_llm_decode_batch over their sequences only). A turn is done at eos, its token limit, a full
 * context, or when its cancellable is cancelled (checked after each token: a stopped client costs at most the
 * step under way). Finishing flushes the text, appends the answer to the conversation when ok, and frees. */
typedef struct VfSessionTurn VfSessionTurn;
VfSessionTurn *vf_session_turn_begin(VfSession *s, const VfGenerateOptions *opts, VfTextFunc on_text, void *user,
                                     GCancellable *cancellable, GError **error);
gboolean vf_session_turn_done(const VfSessionTurn *turn);
/* turns: [n], of sessions on different sequences of one model. FALSE when the decode fails (then finish every
 * turn with ok FALSE). */
gboolean vf_session_turns_step(VfSessionTurn *const *turns, uint32_t n, GError **error);
/* stats: NULL or what the turn cost. Returns ok. */
gboolean vf_session_turn_finish(VfSessionTurn *turn, gboolean ok, VfTurnStats *stats);

/* The token ids of the last answer (for tests and the golden runner). */
const int32_t *vf_session_last_answer(VfSession *s, uint32_t *n);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfSession, vf_session_free)
