/* The engine's worker thread and the requests the main loop queues for it. See vf_engine.h. */
#define G_LOG_DOMAIN "vf-engine"

#include "vf_engine.h"

#include "vf_chat_json.h"
#include "vf_chat_template.h"
#include "vf_image.h"
#include "vf_model.h"
#include "vf_model_finder.h"
#include "vf_prompt.h"
#include "vf_recorder.h"
#include "vf_session.h"
#include "vf_utf8.h"

G_DEFINE_QUARK(vf-engine-error-quark, vf_engine_error)

GError *
vf_engine_error_classify(GError *error)
{
  int code = -1;
  if (g_error_matches(error, VF_VK_ERROR, VF_VK_ERROR_OUT_OF_MEMORY) ||
      g_error_matches(error, VF_IMAGE_ERROR, VF_IMAGE_ERROR_NO_MEMORY) ||
      g_error_matches(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_NO_MEMORY))
    code = VF_ENGINE_ERROR_OUT_OF_MEMORY;
  else if (g_error_matches(error, VF_VK_ERROR, VF_VK_ERROR_DEVICE_LOST))
    code = VF_ENGINE_ERROR_DEVICE_LOST;
  else if (error->domain == VF_IMAGE_ERROR || error->domain == VF_VIDEO_ERROR || error->domain == VF_MEDIA_ERROR)
    code = VF_ENGINE_ERROR_MEDIA;
  if (code < 0)
    return error;
  GError *classified = g_error_new_literal(VF_ENGINE_ERROR, code, error->message);
  g_error_free(error);
  return classified;
}

/* ---------------------------------------------------------------------------------------------------
 * Model info
 * ------------------------------------------------------------------------------------------------- */

VfEngineModelInfo *
vf_engine_model_info_copy(const VfEngineModelInfo *info)
{
  VfEngineModelInfo *copy = g_new0(VfEngineModelInfo, 1);
  *copy = *info;
  copy->model_dir = g_strdup(info->model_dir);
  copy->tokenizer_dir = g_strdup(info->tokenizer_dir);
  copy->display_name = g_strdup(info->display_name);
  copy->format = g_strdup(info->format);
  copy->device_name = g_strdup(info->device_name);
  copy->device_summary = g_strdup(info->device_summary);
  copy->template_warning = g_strdup(info->template_warning);
  return copy;
}

void
vf_engine_model_info_free(VfEngineModelInfo *info)
{
  if (!info)
    return;
  g_free(info->model_dir);
  g_free(info->tokenizer_dir);
  g_free(info->display_name);
  g_free(info->format);
  g_free(info->device_name);
  g_free(info->device_summary);
  g_free(info->template_warning);
  g_free(info);
}

G_DEFINE_BOXED_TYPE(VfEngineModelInfo, vf_engine_model_info, vf_engine_model_info_copy, vf_engine_model_info_free)

/* ---------------------------------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------------------------------- */

typedef enum {
  JOB_LOAD,
  JOB_SEND,
  JOB_COUNT,
  JOB_RESET,
  JOB_TRUNCATE,
  JOB_DEVICE,
  JOB_OPEN_HISTORY,
  JOB_OPEN_CONVERSATION,
  JOB_EXPORT,
  JOB_CONTINUE,
  JOB_CHOOSE_ANSWER,
  JOB_DELETE_TURN,
  JOB_CARRY_OVER,
  JOB_QUIT,
} JobKind;

typedef struct {
  JobKind kind;
  GTask *task; /* NULL for RESET and QUIT */
  char *model_dir, *tokenizer_dir;
  guint context;
  VfChat *draft;
  guint max_new_tokens;
  gboolean label_media;
  gboolean sampling_set; /* else the model's */
  VfEngineSampling sampling;
  char *system_prompt;
  guint keep_messages; /* TRUNCATE; SEND: the messages kept before the draft (G_MAXUINT: all) */
  gboolean regenerate; /* SEND: the replaced answer is kept as an alternative */
  guint index;         /* CHOOSE_ANSWER: the alternative; DELETE_TURN: the question's message; CARRY_OVER: turns */
  char *history_dir;   /* OPEN_HISTORY (NULL: $XDG_DATA_HOME/viewfinder) */
  gint64 conversation; /* OPEN_CONVERSATION */
} Job;

static void
job_free(Job *job)
{
  g_clear_object(&job->task);
  g_free(job->model_dir);
  g_free(job->tokenizer_dir);
  g_free(job->history_dir);
  g_free(job->system_prompt);
  vf_chat_free(job->draft);
  g_free(job);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Job, job_free)

struct _VfEngine {
  GObject parent_instance;

  GMainContext *main_context; /* where results and signals are delivered */
  GThread *thread;
  GAsyncQueue *jobs;          /* Job * */
  GMutex lock;                /* guards `running` and `info` */
  GCancellable *running;      /* the request being worked on, for shutdown */
  GListStore *conversation;   /* VfConversationMessage: the view, main thread only */
  VfEngineModelInfo *info;
  guint max_new_tokens;
  gboolean label_media;
  gboolean sampling_set; /* else the model's */
  VfEngineSampling sampling;
  char *system_prompt;
  guint context;
  gboolean shut_down;
  gint64 stored_conversation; /* guarded by `lock`: the worker's recorder's conversation, for the main thread */

  /* Worker thread only. */
  VfDevice *device;
  VfModel *model;
  VfTokenizer *tokenizer;
  VfSession *session;
  VfChat *kept_chat; /* the conversation between a released model and the next one, or NULL */
  VfRecorder *recorder; /* the conversation history, once opened (vf_engine_open_history_async), or NULL */
  /* The last answer's alternatives (regenerate), worker only: VfChatMessage *, owned, in the order they were
   * made; the chosen one's slot is NULL (that message is the conversation's last). Valid while the conversation's
   * last message is `chosen_answer`. */
  GPtrArray *answers;
  guint answers_chosen;
  const VfChatMessage *chosen_answer;
  /* SEND of an edited question: the history is cut at this message and the question stored once the answer's
   * first piece comes (so a turn that gives nothing leaves the history as it was); G_MAXUINT: none. */
  guint truncate_at_first_piece;
};

G_DEFINE_FINAL_TYPE(VfEngine, vf_engine, G_TYPE_OBJECT)

enum {
  SIGNAL_LOAD_PROGRESS,
  SIGNAL_STAGE,
  SIGNAL_TEXT,
  SIGNAL_HISTORY_CHANGED,
  SIGNAL_HISTORY_ERROR,
  N_SIGNALS,
  POST_CONVERSATION = N_SIGNALS, /* not a signal: a change of the conversation view */
};

static guint signals[N_SIGNALS];

/* ---------------------------------------------------------------------------------------------------
 * Posting to the main context
 * ------------------------------------------------------------------------------------------------- */

typedef struct {
  VfEngine *engine;
  guint signal;
  char *text;
  double fraction;
  guint64 done, total;
  gint64 conversation;     /* HISTORY_CHANGED */
  guint position, removed; /* POST_CONVERSATION */
  GPtrArray *added;        /* POST_CONVERSATION: VfConversationMessage * */
} Post;

static void
post_free(gpointer data)
{
  Post *post = data;
  g_object_unref(post->engine);
  g_free(post->text);
  if (post->added)
    g_ptr_array_unref(post->added);
  g_free(post);
}

static gboolean
post_dispatch(gpointer data)
{
  Post *post = data;
  switch (post->signal) {
  case SIGNAL_LOAD_PROGRESS:
    g_signal_emit(post->engine, signals[SIGNAL_LOAD_PROGRESS], 0, post->done, post->total);
    break;
  case SIGNAL_STAGE:
    g_signal_emit(post->engine, signals[SIGNAL_STAGE], 0, post->text, post->fraction);
    break;
  case SIGNAL_TEXT:
    g_signal_emit(post->engine, signals[SIGNAL_TEXT], 0, post->text);
    break;
  case SIGNAL_HISTORY_CHANGED:
    g_signal_emit(post->engine, signals[SIGNAL_HISTORY_CHANGED], 0, post->conversation);
    break;
  case SIGNAL_HISTORY_ERROR:
    g_signal_emit(post->engine, signals[SIGNAL_HISTORY_ERROR], 0, post->text);
    break;
  case POST_CONVERSATION:
    g_list_store_splice(post->engine->conversation, post->position, post->removed, post->added->pdata,
                        post->added->len);
    break;
  }
  return G_SOURCE_REMOVE;
}

static void
post(VfEngine *self, Post *post)
{
  post->engine = g_object_ref(self);
  g_main_context_invoke_full(self->main_context, G_PRIORITY_DEFAULT, post_dispatch, post, post_free);
}

static void
on_load_progress(uint64_t done, uint64_t total, void *user)
{
  VfEngine *self = user;
  Post *p = g_new0(Post, 1);
  p->signal = SIGNAL_LOAD_PROGRESS;
  p->done = done;
  p->total = total;
  post(self, p);
}

static void
on_stage(const char *stage, double fraction, void *user)
{
  VfEngine *self = user;
  Post *p = g_new0(Post, 1);
  p->signal = SIGNAL_STAGE;
  p->text = g_strdup(stage);
  p->fraction = fraction;
  post(self, p);
}

/* The edited question of a SEND that replaced messages goes into the history now (see truncate_at_first_piece). */
static void
store_edited_question(VfEngine *self)
{
  guint keep = self->truncate_at_first_piece;
  if (keep == G_MAXUINT || !self->recorder)
    return;
  self->truncate_at_first_piece = G_MAXUINT;
  vf_recorder_truncate(self->recorder, keep);
  vf_recorder_begin_turn(self->recorder, vf_session_chat(self->session), keep);
}

static void
on_text(const char *piece, size_t len, void *user)
{
  VfEngine *self = user;
  Post *p = g_new0(Post, 1);
  p->signal = SIGNAL_TEXT;
  /* A signal's string ends at NUL: a NUL byte of the answer is shown as ␀ (the session keeps the byte). */
  p->text = vf_utf8_show_nul(piece, len);
  post(self, p);
  if (self->recorder) {
    store_edited_question(self);
    vf_recorder_answer_piece(self->recorder, piece, len);
  }
}

/* The conversation's messages [position, position + removed) were replaced by its messages [position,
 * position + added): the view follows, in order with the other posts. */
static void
post_conversation(VfEngine *self, const VfChat *chat, guint position, guint removed, guint added)
{
  Post *p = g_new0(Post, 1);
  p->signal = POST_CONVERSATION;
  p->position = position;
  p->removed = removed;
  p->added = g_ptr_array_new_with_free_func(g_object_unref);
  uint32_t images = 0, videos = 0;
  for (guint m = 0; m < position + added; m++) {
    const VfChatMessage *message = chat->messages->pdata[m];
    if (m < position) {
      for (guint k = 0; k < message->parts->len; k++) {
        const VfChatPart *part = message->parts->pdata[k];
        if (part->kind != VF_CHAT_PART_TEXT)
          vf_chat_media_number_next(part->kind, &images, &videos);
      }
      continue;
    }
    VfConversationMessage *snapshot = vf_conversation_message_new(message, &images, &videos);
    if (message == self->chosen_answer && self->answers)
      vf_conversation_message_set_alternatives(snapshot, self->answers_chosen, self->answers->len);
    g_ptr_array_add(p->added, snapshot);
  }
  post(self, p);
}

/* After the recorder wrote: the main thread learns the stored conversation ("history-changed" with its id, 0
 * when the conversation is not stored) and any write error ("history-error"). */
static void
post_history(VfEngine *self)
{
  if (!self->recorder)
    return;
  gint64 conversation = vf_recorder_conversation(self->recorder);
  g_mutex_lock(&self->lock);
  self->stored_conversation = conversation;
  g_mutex_unlock(&self->lock);
  Post *p = g_new0(Post, 1);
  p->signal = SIGNAL_HISTORY_CHANGED;
  p->conversation = conversation;
  post(self, p);
  g_autoptr(GError) error = vf_recorder_take_error(self->recorder);
  if (error) {
    Post *e = g_new0(Post, 1);
    e->signal = SIGNAL_HISTORY_ERROR;
    e->text = g_strdup_printf("The conversation could not be saved: %s", error->message);
    post(self, e);
  }
}

/* ---------------------------------------------------------------------------------------------------
 * Worker
 * ------------------------------------------------------------------------------------------------- */

static void
release_model(VfEngine *self)
{
  g_clear_pointer(&self->session, vf_session_free);
  g_clear_pointer(&self->model, vf_model_free);
  g_clear_pointer(&self->tokenizer, vf_tokenizer_free);
  g_mutex_lock(&self->lock);
  g_clear_pointer(&self->info, vf_engine_model_info_free);
  g_mutex_unlock(&self->lock);
}

/* Opens the device on first use (a load, or a question about the device). */
static gboolean
ensure_device(VfEngine *self, GError **error)
{
  if (self->device)
    return TRUE;
  self->device = vf_device_create(NULL, error);
  if (!self->device) {
    g_prefix_error(error, "No usable Vulkan device: ");
    return FALSE;
  }
  g_message("%s", vf_device_get_info(self->device)->summary);
  g_message("%s", vf_pipeline_cache_summary(self->device));
  return TRUE;
}

void
vf_engine_device_free(VfEngineDevice *device)
{
  if (!device)
    return;
  g_free(device->name);
  g_free(device);
}

static void
run_device(VfEngine *self, Job *job)
{
  g_autoptr(GError) error = NULL;
  if (!ensure_device(self, &error)) {
    g_task_return_error(job->task, vf_engine_error_classify(g_steal_pointer(&error)));
    return;
  }
  const VfDeviceInfo *info = vf_device_get_info(self->device);
  VfEngineDevice *device = g_new0(VfEngineDevice, 1);
  device->name = g_strdup(info->name);
  device->memory_budget = info->memory_budget;
  device->software = info->software;
  g_task_return_pointer(job->task, device, (GDestroyNotify)vf_engine_device_free);
}

static void
run_load(VfEngine *self, Job *job)
{
  g_autoptr(GError) error = NULL;
  const char *tokenizer_dir = job->tokenizer_dir ? job->tokenizer_dir : job->model_dir;
  int64_t t0 = g_get_monotonic_time();

  /* The new folder is checked before the working model goes: its tokenizer, its configs and its tensor
   * inventory. A folder that fails leaves the old model and the conversation as they were. */
  g_autoptr(VfTokenizer) tokenizer = vf_tokenizer_load(tokenizer_dir, &error);
  if (!tokenizer || !vf_model_check(job->model_dir, &error)) {
    g_task_return_error(job->task, g_steal_pointer(&error));
    return;
  }
  /* The conversation moves to the new model (a failed upload keeps it for the next one). */
  if (self->session) {
    vf_chat_free(self->kept_chat);
    self->kept_chat = vf_session_replace_chat(self->session, vf_chat_new());
  }
  release_model(self);
  if (!ensure_device(self, &error)) {
    g_task_return_error(job->task, g_steal_pointer(&error));
    return;
  }
  VfLlmOptions options = {.context = job->context};
  g_autoptr(VfModel) model = vf_model_load(self->device, job->model_dir, &options, on_load_progress, self, &error);
  if (!model) {
    g_task_return_error(job->task, vf_engine_error_classify(g_steal_pointer(&error)));
    return;
  }

  const VfDeviceInfo *device = vf_device_get_info(self->device);
  VfEngineModelInfo *info = g_new0(VfEngineModelInfo, 1);
  info->model_dir = g_strdup(job->model_dir);
  info->tokenizer_dir = g_strdup(tokenizer_dir);
  info->display_name = vf_model_display_name(job->model_dir);
  info->format = vf_config_describe(model->config);
  info->device_name = g_strdup(device->name);
  info->device_summary = g_strdup(device->summary);
  info->software = device->software;
  info->context = vf_llm_context(model->llm);
  info->weight_bytes = model->weights->device_bytes;
  info->load_seconds = (g_get_monotonic_time() - t0) / 1e6;
  info->template_warning = vf_chat_template_check(tokenizer_dir);
  vf_prompt_processor_config(model->config, &info->processor);
  const VfConfig *c = model->config;
  info->model_sampling = (VfEngineSampling){
    .do_sample = c->do_sample,
    .temperature = c->temperature,
    .top_k = c->top_k,
    .top_p = c->top_p,
    .repetition_penalty = c->repetition_penalty > 0 ? c->repetition_penalty : 1.0,
  };

  self->tokenizer = g_steal_pointer(&tokenizer);
  self->model = g_steal_pointer(&model);
  self->session = vf_session_new(self->model, self->tokenizer, NULL);
  g_assert(self->session); /* a model just loaded has all its sequences free */
  if (self->kept_chat)
    vf_chat_free(vf_session_replace_chat(self->session, g_steal_pointer(&self->kept_chat)));
  g_mutex_lock(&self->lock);
  self->info = info;
  g_mutex_unlock(&self->lock);
  g_task_return_boolean(job->task, TRUE);
}

static void
fill_options(VfEngine *self, const Job *job, VfGenerateOptions *opts)
{
  vf_session_default_options(self->session, opts);
  opts->max_new_tokens = job->max_new_tokens;
  opts->add_vision_id = job->label_media;
  opts->system_prompt = job->system_prompt;
  if (job->sampling_set)
    opts->sampling = (VfSamplerParams){
      .do_sample = job->sampling.do_sample,
      .temperature = (float)job->sampling.temperature,
      .top_k = job->sampling.top_k,
      .top_p = (float)job->sampling.top_p,
      .repetition_penalty = (float)job->sampling.repetition_penalty,
      .seed = job->sampling.seed,
    };
  opts->on_stage = on_stage;
  opts->stage_user = self;
}

/* Moves the draft's messages to the end of the conversation. */
static void
append_draft(VfChat *chat, VfChat *draft)
{
  while (draft->messages->len > 0)
    g_ptr_array_add(chat->messages, g_ptr_array_steal_index(draft->messages, 0));
}

static gboolean
require_model(VfEngine *self, Job *job)
{
  if (self->session)
    return TRUE;
  g_task_return_new_error(job->task, VF_ENGINE_ERROR, VF_ENGINE_ERROR_NO_MODEL, "No model is loaded");
  return FALSE;
}

/* A turn that answered: stored with its stats, shown (the view's messages [position, position + removed) give
 * way to the conversation's from `position` on), and returned. */
static void
turn_answered(VfEngine *self, Job *job, const VfGenerateOptions *opts, VfTurnStats *stats, guint position,
              guint removed)
{
  if (self->recorder) {
    g_autoptr(VfEngineModelInfo) info = vf_engine_get_model_info(self);
    vf_recorder_end_turn(self->recorder, stats, opts->max_new_tokens, info->display_name, info->format);
    post_history(self);
  }
  VfChat *chat = vf_session_chat(self->session);
  post_conversation(self, chat, position, removed, chat->messages->len - position);
  g_task_return_pointer(job->task, stats, g_free);
}

/* A turn that gave no answer (failed, or stopped before its first token): nothing of it stays stored. */
static void
turn_failed(VfEngine *self, Job *job, VfTurnStats *stats, GError *error)
{
  g_free(stats);
  /* An edited question that gave no first piece was never stored: nothing to take back. */
  gboolean stored = self->truncate_at_first_piece == G_MAXUINT;
  self->truncate_at_first_piece = G_MAXUINT;
  if (self->recorder && stored) {
    vf_recorder_fail_turn(self->recorder);
    post_history(self);
  }
  g_task_return_error(job->task, vf_engine_error_classify(error));
}

/* An alternative's slot: NULL for the chosen one, which the conversation holds. */
static void
alternative_free(gpointer message)
{
  if (message)
    vf_chat_message_free(message);
}

static void
forget_answers(VfEngine *self)
{
  g_clear_pointer(&self->answers, g_ptr_array_unref);
  self->chosen_answer = NULL;
}

/* The last answer's alternatives, when the conversation still ends with the one they were kept for. */
static gboolean
answers_valid(VfEngine *self, VfChat *chat)
{
  if (!self->answers)
    return FALSE;
  if (chat->messages->len > 0 && chat->messages->pdata[chat->messages->len - 1] == self->chosen_answer)
    return TRUE;
  forget_answers(self);
  return FALSE;
}

/* A regenerated answer replaced `old` (the conversation's last message now is the new one): both are kept. */
static void
keep_alternative(VfEngine *self, VfChat *chat, VfChatMessage *old)
{
  if (!answers_valid(self, chat)) {
    self->answers = g_ptr_array_new_with_free_func(alternative_free);
    g_ptr_array_add(self->answers, NULL);
    self->answers_chosen = 0;
  }
  self->answers->pdata[self->answers_chosen] = old;
  g_ptr_array_add(self->answers, NULL);
  self->answers_chosen = self->answers->len - 1;
  self->chosen_answer = chat->messages->pdata[chat->messages->len - 1];
}

/* Sends the draft after the conversation's first `keep_messages` messages (all of them for a new question; an
 * edited question's position; the last answer's for regenerate, with an empty draft). The replaced messages
 * stay until the answer comes and come back if it does not, so a failed or stopped turn leaves the conversation
 * as it was. */
static void
run_send(VfEngine *self, Job *job)
{
  if (!require_model(self, job))
    return;
  VfGenerateOptions opts;
  fill_options(self, job, &opts);
  VfChat *chat = vf_session_chat(self->session);
  guint before = MIN(job->keep_messages, chat->messages->len);
  if (job->regenerate && (before == 0 || before != chat->messages->len - 1 ||
                          !g_str_equal(((VfChatMessage *)chat->messages->pdata[before])->role, "assistant"))) {
    g_task_return_new_error(job->task, VF_ENGINE_ERROR, VF_ENGINE_ERROR_NO_ANSWER,
                            "the conversation does not end with an answer");
    return;
  }
  gboolean had_answers = answers_valid(self, chat);
  g_autoptr(GPtrArray) replaced = g_ptr_array_new_with_free_func((GDestroyNotify)vf_chat_message_free);
  while (chat->messages->len > before)
    g_ptr_array_add(replaced, g_ptr_array_steal_index(chat->messages, before));
  append_draft(chat, job->draft);
  /* The question is stored before the work starts, the answer as it streams (on_text). */
  if (self->recorder) {
    if (job->regenerate)
      vf_recorder_begin_alternative(self->recorder);
    else if (replaced->len > 0)
      self->truncate_at_first_piece = before;
    else
      vf_recorder_begin_turn(self->recorder, chat, before);
  }

  GError *error = NULL;
  VfTurnStats *stats = g_new0(VfTurnStats, 1);
  GCancellable *cancellable = g_task_get_cancellable(job->task);
  if (!g_cancellable_set_error_if_cancelled(cancellable, &error) &&
      vf_session_generate(self->session, &opts, on_text, self, cancellable, stats, &error)) {
    store_edited_question(self); /* an answer without text (an eos first) */
    guint removed = replaced->len;
    if (job->regenerate) {
      keep_alternative(self, chat, g_ptr_array_steal_index(replaced, 0));
    } else if (had_answers) {
      forget_answers(self);
    }
    /* The question and the answer enter the view together, after the answer's last piece of text. */
    turn_answered(self, job, &opts, stats, before, removed);
    return;
  }
  /* Failed, or stopped before the first token (in any stage: decoding, encoding, reading the prompt): the
   * question goes out again and what it replaced comes back, so the conversation is as before the turn and the
   * user can change it and resend; the session's caches (KV prefix, vision embeddings keyed by source and
   * settings, a picture's kept decode) stay valid for whatever is sent next. */
  g_ptr_array_set_size(chat->messages, before);
  for (guint i = 0; i < replaced->len; i++)
    g_ptr_array_add(chat->messages, replaced->pdata[i]);
  g_ptr_array_set_free_func(replaced, NULL);
  turn_failed(self, job, stats, error);
}

/* Goes on with the answer the conversation ends with; the view's last message is replaced by the longer one. */
static void
run_continue(VfEngine *self, Job *job)
{
  if (!require_model(self, job))
    return;
  VfGenerateOptions opts;
  fill_options(self, job, &opts);
  if (self->recorder)
    vf_recorder_continue_turn(self->recorder);
  GError *error = NULL;
  VfTurnStats *stats = g_new0(VfTurnStats, 1);
  GCancellable *cancellable = g_task_get_cancellable(job->task);
  if (!g_cancellable_set_error_if_cancelled(cancellable, &error) &&
      vf_session_continue(self->session, &opts, on_text, self, cancellable, stats, &error)) {
    turn_answered(self, job, &opts, stats, vf_session_chat(self->session)->messages->len - 1, 1);
    return;
  }
  turn_failed(self, job, stats, error);
}

/* The conversation as JSON messages, with the system prompt the turns were answered with (a replay needs it). */
static void
run_export(VfEngine *self, Job *job)
{
  VfChat *chat = self->session ? vf_session_chat(self->session) : self->kept_chat;
  if (!chat) {
    g_task_return_pointer(job->task, g_strdup("[]"), g_free);
    return;
  }
  gboolean own_system = chat->messages->len > 0 &&
                        g_str_equal(((VfChatMessage *)chat->messages->pdata[0])->role, "system");
  if (!job->system_prompt || own_system) {
    g_task_return_pointer(job->task, vf_chat_json_write(chat, NULL), g_free);
    return;
  }
  g_autoptr(VfChat) with_system = vf_chat_new();
  vf_chat_message_append_text(vf_chat_append_message(with_system, "system"), job->system_prompt);
  /* The conversation's messages are borrowed: the array given back frees only the system message. */
  for (guint i = 0; i < chat->messages->len; i++)
    g_ptr_array_add(with_system->messages, chat->messages->pdata[i]);
  char *json = vf_chat_json_write(with_system, NULL);
  g_ptr_array_set_free_func(with_system->messages, NULL);
  vf_chat_message_free(g_ptr_array_steal_index(with_system->messages, 0));
  g_task_return_pointer(job->task, json, g_free);
}

/* The last answer becomes its alternative job->index. */
static void
run_choose_answer(VfEngine *self, Job *job)
{
  VfChat *chat = self->session ? vf_session_chat(self->session) : NULL;
  if (!chat || !answers_valid(self, chat) || job->index >= self->answers->len || job->index == self->answers_chosen)
    return;
  guint last = chat->messages->len - 1;
  self->answers->pdata[self->answers_chosen] = g_ptr_array_steal_index(chat->messages, last);
  g_ptr_array_add(chat->messages, self->answers->pdata[job->index]);
  self->answers->pdata[job->index] = NULL;
  self->answers_chosen = job->index;
  self->chosen_answer = chat->messages->pdata[last];
  if (self->recorder) {
    vf_recorder_choose(self->recorder, job->index);
    post_history(self);
  }
  post_conversation(self, chat, last, 1, 1);
}

/* Removes the question at job->index and the answers after it, up to the next question. */
static void
run_delete_turn(VfEngine *self, Job *job)
{
  VfChat *chat = self->session ? vf_session_chat(self->session) : self->kept_chat;
  if (!chat || job->index >= chat->messages->len)
    return;
  guint end = job->index + 1;
  while (end < chat->messages->len && !g_str_equal(((VfChatMessage *)chat->messages->pdata[end])->role, "user"))
    end++;
  answers_valid(self, chat);
  if (end == chat->messages->len)
    forget_answers(self); /* the last turn goes, and its answer's alternatives with it */
  g_ptr_array_remove_range(chat->messages, job->index, end - job->index);
  if (self->recorder) {
    vf_recorder_remove(self->recorder, job->index, end - job->index);
    post_history(self);
  }
  post_conversation(self, chat, job->index, end - job->index, 0);
}

/* A new conversation with the last job->index turns of this one (their messages and media items move over): the
 * view's messages are replaced in one change, so the ones carried keep their rows; the history starts a new
 * stored conversation at the next question, and the old one stays as it was. */
static void
run_carry_over(VfEngine *self, Job *job)
{
  VfChat *chat = self->session ? vf_session_chat(self->session) : self->kept_chat;
  if (!chat || chat->messages->len == 0)
    return;
  guint len = chat->messages->len, start = len, turns = 0;
  while (start > 0 && turns < MAX(job->index, 1))
    if (g_str_equal(((VfChatMessage *)chat->messages->pdata[--start])->role, "user"))
      turns++;
  VfChat *carried = vf_chat_new();
  while (chat->messages->len > start)
    g_ptr_array_add(carried->messages, g_ptr_array_steal_index(chat->messages, start));
  forget_answers(self);
  if (self->session) {
    vf_chat_free(vf_session_replace_chat(self->session, carried));
    chat = vf_session_chat(self->session);
  } else {
    vf_chat_free(self->kept_chat);
    chat = self->kept_chat = carried;
  }
  post_conversation(self, chat, 0, len, chat->messages->len);
  if (self->recorder) {
    vf_recorder_forget(self->recorder);
    post_history(self);
  }
}

static void
run_count(VfEngine *self, Job *job)
{
  if (!require_model(self, job))
    return;
  VfGenerateOptions opts;
  fill_options(self, job, &opts);
  uint32_t tokens = 0;
  g_autoptr(GError) error = NULL;
  /* The conversation's own tokens are kept; only the draft is rendered and tokenized. */
  gboolean ok = vf_session_count_draft(self->session, &opts, job->draft, &tokens, &error);
  if (ok)
    g_task_return_int(job->task, tokens);
  else
    g_task_return_error(job->task, vf_engine_error_classify(g_steal_pointer(&error)));
}

static void
run_open_history(VfEngine *self, Job *job)
{
  g_autoptr(GError) error = NULL;
  char *notice = NULL;
  VfHistory *history = vf_history_open(job->history_dir, &notice, &error);
  if (!history) {
    g_task_return_error(job->task, g_steal_pointer(&error));
    return;
  }
  /* The conversation so far is not stored: it is the first question's to store it (whole). */
  g_clear_pointer(&self->recorder, vf_recorder_free);
  self->recorder = vf_recorder_new(history);
  post_history(self);
  g_task_return_pointer(job->task, notice ? notice : g_strdup(""), g_free);
}

/* The stored conversation becomes the engine's, its KV cache empty: the next question prefills it whole. */
static void
run_open_conversation(VfEngine *self, Job *job)
{
  if (!self->recorder) {
    g_task_return_new_error(job->task, VF_HISTORY_ERROR, VF_HISTORY_ERROR_NOT_FOUND, "No history is open");
    return;
  }
  g_autoptr(GError) error = NULL;
  VfChat *opened = vf_recorder_open(self->recorder, job->conversation, &error);
  if (!opened) {
    g_task_return_error(job->task, g_steal_pointer(&error));
    return;
  }
  VfChat *chat = self->session ? vf_session_chat(self->session) : self->kept_chat;
  if (chat)
    post_conversation(self, chat, 0, chat->messages->len, 0);
  forget_answers(self);
  if (self->session) {
    vf_chat_free(vf_session_replace_chat(self->session, opened));
    chat = vf_session_chat(self->session);
  } else {
    vf_chat_free(self->kept_chat);
    chat = self->kept_chat = opened;
  }
  post_conversation(self, chat, 0, 0, chat->messages->len);
  post_history(self);
  g_task_return_boolean(job->task, TRUE);
}

static gpointer
worker_main(gpointer data)
{
  VfEngine *self = data;
  for (;;) {
    g_autoptr(Job) job = g_async_queue_pop(self->jobs);
    if (job->kind == JOB_QUIT)
      break;
    GCancellable *cancellable = job->task ? g_task_get_cancellable(job->task) : NULL;
    if (cancellable && g_task_return_error_if_cancelled(job->task))
      continue;
    g_mutex_lock(&self->lock);
    g_set_object(&self->running, cancellable);
    g_mutex_unlock(&self->lock);
    switch (job->kind) {
    case JOB_LOAD:
      run_load(self, job);
      break;
    case JOB_SEND:
      run_send(self, job);
      break;
    case JOB_CONTINUE:
      run_continue(self, job);
      break;
    case JOB_CHOOSE_ANSWER:
      run_choose_answer(self, job);
      break;
    case JOB_DELETE_TURN:
      run_delete_turn(self, job);
      break;
    case JOB_CARRY_OVER:
      run_carry_over(self, job);
      break;
    case JOB_COUNT:
      run_count(self, job);
      break;
    case JOB_DEVICE:
      run_device(self, job);
      break;
    case JOB_TRUNCATE:
      if (self->session) {
        /* The prompt cache and the KV cache keep what still matches the shorter conversation. */
        VfChat *chat = vf_session_chat(self->session);
        guint len = chat->messages->len, keep = MIN(job->keep_messages, len);
        g_ptr_array_set_size(chat->messages, keep);
        post_conversation(self, chat, keep, len - keep, 0);
        if (self->recorder) {
          vf_recorder_truncate(self->recorder, keep);
          post_history(self);
        }
      }
      break;
    case JOB_RESET:
      if (self->session) {
        VfChat *chat = vf_session_chat(self->session);
        post_conversation(self, chat, 0, chat->messages->len, 0);
        vf_session_reset(self->session);
      } else if (self->kept_chat) {
        post_conversation(self, self->kept_chat, 0, self->kept_chat->messages->len, 0);
      }
      g_clear_pointer(&self->kept_chat, vf_chat_free);
      forget_answers(self);
      if (self->recorder) {
        vf_recorder_forget(self->recorder);
        post_history(self);
      }
      break;
    case JOB_OPEN_HISTORY:
      run_open_history(self, job);
      break;
    case JOB_OPEN_CONVERSATION:
      run_open_conversation(self, job);
      break;
    case JOB_EXPORT:
      run_export(self, job);
      break;
    case JOB_QUIT:
      break;
    }
    g_mutex_lock(&self->lock);
    g_clear_object(&self->running);
    g_mutex_unlock(&self->lock);
  }
  /* Requests queued after the quit are answered, so no caller waits forever. */
  Job *rest;
  while ((rest = g_async_queue_try_pop(self->jobs))) {
    if (rest->task)
      g_task_return_new_error(rest->task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "Viewfinder is closing");
    job_free(rest);
  }
  release_model(self);
  g_clear_pointer(&self->kept_chat, vf_chat_free);
  forget_answers(self);
  g_clear_pointer(&self->recorder, vf_recorder_free);
  g_clear_pointer(&self->device, vf_device_free);
  return NULL;
}

/* ---------------------------------------------------------------------------------------------------
 * Main-thread API
 * ------------------------------------------------------------------------------------------------- */

static void
queue(VfEngine *self, Job *job)
{
  if (self->shut_down) {
    if (job->task)
      g_task_return_new_error(job->task, G_IO_ERROR, G_IO_ERROR_CLOSED, "The engine has shut down");
    job_free(job);
    return;
  }
  g_async_queue_push(self->jobs, job);
}

static Job *
job_new(VfEngine *self, JobKind kind, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data,
        gpointer source_tag)
{
  Job *job = g_new0(Job, 1);
  job->kind = kind;
  job->max_new_tokens = self->max_new_tokens;
  job->label_media = self->label_media;
  job->sampling_set = self->sampling_set;
  job->sampling = self->sampling;
  job->system_prompt = g_strdup(self->system_prompt);
  job->context = self->context;
  if (callback) {
    job->task = g_task_new(self, cancellable, callback, user_data);
    g_task_set_source_tag(job->task, source_tag);
  }
  return job;
}

void
vf_engine_load_async(VfEngine *self, const char *model_dir, const char *tokenizer_dir, GCancellable *cancellable,
                     GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail(VF_IS_ENGINE(self));
  Job *job = job_new(self, JOB_LOAD, cancellable, callback, user_data, vf_engine_load_async);
  job->model_dir = g_strdup(model_dir);
  job->tokenizer_dir = g_strdup(tokenizer_dir);
  queue(self, job);
}

gboolean
vf_engine_load_finish(VfEngine *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

void
vf_engine_send_async(VfEngine *self, VfChat *draft, GCancellable *cancellable, GAsyncReadyCallback callback,
                     gpointer user_data)
{
  g_return_if_fail(VF_IS_ENGINE(self));
  vf_engine_resend_async(self, G_MAXUINT, draft, cancellable, callback, user_data);
}

gboolean
vf_engine_send_finish(VfEngine *self, GAsyncResult *result, VfTurnStats *stats, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  g_autofree VfTurnStats *got = g_task_propagate_pointer(G_TASK(result), error);
  if (!got)
    return FALSE;
  if (stats)
    *stats = *got;
  return TRUE;
}

void
vf_engine_resend_async(VfEngine *self, guint keep_messages, VfChat *draft, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail(VF_IS_ENGINE(self));
  Job *job = job_new(self, JOB_SEND, cancellable, callback, user_data, vf_engine_send_async);
  /* A stopped turn is a result (the partial answer), not a cancelled request. */
  if (job->task)
    g_task_set_check_cancellable(job->task, FALSE);
  job->draft = draft;
  job->keep_messages = keep_messages;
  queue(self, job);
}

void
vf_engine_regenerate_async(VfEngine *self, guint keep_messages, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail(VF_IS_ENGINE(self));
  Job *job = job_new(self, JOB_SEND, cancellable, callback, user_data, vf_engine_send_async);
  if (job->task)
    g_task_set_check_cancellable(job->task, FALSE);
  job->draft = vf_chat_new();
  job->keep_messages = keep_messages;
  job->regenerate = TRUE;
  queue(self, job);
}

void
vf_engine_choose_answer(VfEngine *self, guint alternative)
{
  g_return_if_fail(VF_IS_ENGINE(self));
  Job *job = job_new(self, JOB_CHOOSE_ANSWER, NULL, NULL, NULL, NULL);
  job->index = alternative;
  queue(self, job);
}

void
vf_engine_delete_turn(VfEngine *self, guint question)
{
  g_return_if_fail(VF_IS_ENGINE(self));
  Job *job = job_new(self, JOB_DELETE_TURN, NULL, NULL, NULL, NULL);
  job->index = question;
  queue(self, job);
}

void
vf_engine_carry_over(VfEngine *self, guint turns)
{
  g_return_if_fail(VF_IS_ENGINE(self));
  Job *job = job_new(self, JOB_CARRY_OVER, NULL, NULL, NULL, NULL);
  job->index = turns;
  queue(self, job);
}

void
vf_engine_continue_async(VfEngine *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                         gpointer user_data)
{
  g_return_if_fail(VF_IS_ENGINE(self));
  /* Its result is read with vf_engine_send_finish, so it is tagged as a send. */
  Job *job = job_new(self, JOB_CONTINUE, cancellable, callback, user_data, vf_engine_send_async);
  if (job->task)
    g_task_set_check_cancellable(job->task, FALSE);
  queue(self, job);
}

void
vf_engine_count_async(VfEngine *self, VfChat *draft, GCancellable *cancellable, GAsyncReadyCallback callback,
                      gpointer user_data)
{
  g_return_if_fail(VF_IS_ENGINE(self));
  Job *job = job_new(self, JOB_COUNT, cancellable, callback, user_data, vf_engine_count_async);
  job->draft = draft;
  queue(self, job);
}

gboolean
vf_engine_count_finish(VfEngine *self, GAsyncResult *result, guint *tokens, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  g_autoptr(GError) local = NULL;
  gssize n = g_task_propagate_int(G_TASK(result), &local);
  if (local) {
    g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
  }
  *tokens = (guint)n;
  return TRUE;
}

void
vf_engine_export_async(VfEngine *self, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail(VF_IS_ENGINE(self));
  queue(self, job_new(self, JOB_EXPORT, cancellable, callback, user_data, vf_engine_export_async));
}

char *
vf_engine_export_finish(VfEngine *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), NULL);
  return g_task_propagate_pointer(G_TASK(result), error);
}

void
vf_engine_query_device_async(VfEngine *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
  g_return_if_fail(VF_IS_ENGINE(self));
  queue(self, job_new(self, JOB_DEVICE, cancellable, callback, user_data, vf_engine_query_device_async));
}

VfEngineDevice *
vf_engine_query_device_finish(VfEngine *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), NULL);
  return g_task_propagate_pointer(G_TASK(result), error);
}

void
vf_engine_truncate(VfEngine *self, guint keep_messages)
{
  g_return_if_fail(VF_IS_ENGINE(self));
  Job *job = job_new(self, JOB_TRUNCATE, NULL, NULL, NULL, NULL);
  job->keep_messages = keep_messages;
  queue(self, job);
}

void
vf_engine_reset(VfEngine *self)
{
  g_return_if_fail(VF_IS_ENGINE(self));
  queue(self, job_new(self, JOB_RESET, NULL, NULL, NULL, NULL));
}

void
vf_engine_open_history_async(VfEngine *self, const char *dir, GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
  g_return_if_fail(VF_IS_ENGINE(self));
  Job *job = job_new(self, JOB_OPEN_HISTORY, cancellable, callback, user_data, vf_engine_open_history_async);
  job->history_dir = g_strdup(dir);
  queue(self, job);
}

gboolean
vf_engine_open_history_finish(VfEngine *self, GAsyncResult *result, char **notice, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  g_autofree char *said = g_task_propagate_pointer(G_TASK(result), error);
  if (!said)
    return FALSE;
  if (notice)
    *notice = *said ? g_steal_pointer(&said) : NULL;
  return TRUE;
}

void
vf_engine_open_conversation_async(VfEngine *self, gint64 conversation, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail(VF_IS_ENGINE(self));
  Job *job = job_new(self, JOB_OPEN_CONVERSATION, cancellable, callback, user_data, vf_engine_open_conversation_async);
  job->conversation = conversation;
  queue(self, job);
}

gboolean
vf_engine_open_conversation_finish(VfEngine *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

gint64
vf_engine_get_stored_conversation(VfEngine *self)
{
  g_mutex_lock(&self->lock);
  gint64 conversation = self->stored_conversation;
  g_mutex_unlock(&self->lock);
  return conversation;
}

VfEngineModelInfo *
vf_engine_get_model_info(VfEngine *self)
{
  /* A copy made under the lock: the worker replaces `info` when a load starts releasing the old model, which
   * can happen at any moment after the caller's last completion (a load queued earlier). */
  g_mutex_lock(&self->lock);
  VfEngineModelInfo *info = self->info ? vf_engine_model_info_copy(self->info) : NULL;
  g_mutex_unlock(&self->lock);
  return info;
}

gboolean
vf_engine_has_model(VfEngine *self)
{
  g_mutex_lock(&self->lock);
  gboolean loaded = self->info != NULL;
  g_mutex_unlock(&self->lock);
  return loaded;
}

GListModel *vf_engine_get_conversation(VfEngine *self) { return G_LIST_MODEL(self->conversation); }

guint
vf_engine_get_validation_messages(VfEngine *self)
{
  /* The counter is written by the validation callback; reading a stale value is harmless. */
  return self->device ? vf_device_validation_messages(self->device) : 0;
}

void
vf_engine_set_max_new_tokens(VfEngine *self, guint max_new_tokens)
{
  self->max_new_tokens = MAX(max_new_tokens, 1);
}

guint vf_engine_get_max_new_tokens(VfEngine *self) { return self->max_new_tokens; }

void vf_engine_set_label_media(VfEngine *self, gboolean label_media) { self->label_media = label_media; }

void
vf_engine_set_system_prompt(VfEngine *self, const char *system_prompt)
{
  g_free(self->system_prompt);
  self->system_prompt = system_prompt && *system_prompt ? g_strdup(system_prompt) : NULL;
}

void
vf_engine_set_sampling(VfEngine *self, const VfEngineSampling *sampling)
{
  self->sampling_set = sampling != NULL;
  if (sampling)
    self->sampling = *sampling;
}

gboolean vf_engine_get_label_media(VfEngine *self) { return self->label_media; }

void vf_engine_set_context(VfEngine *self, guint context) { self->context = context; }

void
vf_engine_shutdown(VfEngine *self)
{
  g_return_if_fail(VF_IS_ENGINE(self));
  if (!self->thread)
    return;
  /* Stop what runs now (a turn ends within one decode step), then let the worker release the device. */
  g_mutex_lock(&self->lock);
  if (self->running)
    g_cancellable_cancel(self->running);
  g_mutex_unlock(&self->lock);
  self->shut_down = TRUE;
  Job *quit = g_new0(Job, 1);
  quit->kind = JOB_QUIT;
  g_async_queue_push_front(self->jobs, quit);
  g_thread_join(g_steal_pointer(&self->thread));
}

static void
vf_engine_dispose(GObject *object)
{
  vf_engine_shutdown(VF_ENGINE(object));
  G_OBJECT_CLASS(vf_engine_parent_class)->dispose(object);
}

static void
vf_engine_finalize(GObject *object)
{
  VfEngine *self = VF_ENGINE(object);
  g_async_queue_unref(self->jobs);
  g_clear_pointer(&self->info, vf_engine_model_info_free);
  g_clear_object(&self->conversation);
  g_free(self->system_prompt);
  g_main_context_unref(self->main_context);
  g_mutex_clear(&self->lock);
  G_OBJECT_CLASS(vf_engine_parent_class)->finalize(object);
}

static void
vf_engine_class_init(VfEngineClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  object_class->dispose = vf_engine_dispose;
  object_class->finalize = vf_engine_finalize;

  /* Weights uploaded so far, in bytes. */
  signals[SIGNAL_LOAD_PROGRESS] = g_signal_new("load-progress", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                               NULL, NULL, G_TYPE_NONE, 2, G_TYPE_UINT64, G_TYPE_UINT64);
  /* A stage before the first token ("Encoding picture 1", "Reading prompt 12/80") and its fraction (−1: unknown). */
  signals[SIGNAL_STAGE] = g_signal_new("stage", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                       G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_DOUBLE);
  /* A piece of the answer: complete UTF-8, in order. */
  signals[SIGNAL_TEXT] = g_signal_new("text", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                      G_TYPE_NONE, 1, G_TYPE_STRING);
  /* The stored conversation was written (a turn, a truncation) or another became the engine's: its id, 0 when
   * the engine's conversation is not stored (after a reset, until the next question). */
  signals[SIGNAL_HISTORY_CHANGED] = g_signal_new("history-changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                                 NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT64);
  /* A history write failed (the turn went on): a sentence for the user. */
  signals[SIGNAL_HISTORY_ERROR] = g_signal_new("history-error", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                               NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
vf_engine_init(VfEngine *self)
{
  g_mutex_init(&self->lock);
  self->main_context = g_main_context_ref_thread_default();
  self->jobs = g_async_queue_new();
  self->conversation = g_list_store_new(VF_TYPE_CONVERSATION_MESSAGE);
  self->truncate_at_first_piece = G_MAXUINT;
  self->max_new_tokens = 512;
  self->label_media = TRUE;
}

VfEngine *
vf_engine_new(void)
{
  VfEngine *self = g_object_new(VF_TYPE_ENGINE, NULL);
  self->thread = g_thread_new("vf-engine", worker_main, self);
  return self;
}
