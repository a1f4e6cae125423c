/* A conversation over a loaded model, with KV-cache reuse across turns. */
#define G_LOG_DOMAIN "vf-session"

#include "vf_session.h"

#include <string.h>

#include "vf_chat_template.h"
#include "vf_engine_error.h"
#include "vf_prompt.h"
#include "vf_vision.h"

struct VfSession {
  VfModel *model;
  VfTokenizer *tok;
  VfChat *chat;
  GArray *cached; /* int32: the token ids whose keys and values are in the model's cache, in order */
  GArray *answer; /* int32: the last answer's ids */
  uint64_t answer_message; /* the VfChatMessage.id of that answer's message (0: none) */
  VfChatMessage *system;   /* opts->system_prompt as a message, kept so the prompt cache knows it by its id */
  GHashTable *embeds; /* "source|options" -> VfBuffer *: vision output of each attachment, kept across turns */
  VfLlmSequence *seq; /* the model's KV-cache sequence this conversation lives in */
  VfPromptCache *prompt; /* the tokens of the conversation's messages so far; NULL until the first build */
};

static void
embeds_free(gpointer p, gpointer dev)
{
  vf_buffer_release(dev, p);
  g_free(p);
}

static void
forget_embeds(VfSession *s)
{
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init(&it, s->embeds);
  while (g_hash_table_iter_next(&it, NULL, &value))
    embeds_free(value, s->model->dev);
  g_hash_table_remove_all(s->embeds);
}

VfSession *
vf_session_new(VfModel *model, VfTokenizer *tok, GError **error)
{
  VfLlmSequence *seq = vf_llm_sequence_new(model->llm, error);
  if (!seq)
    return NULL;
  VfSession *s = g_new0(VfSession, 1);
  s->seq = seq;
  s->model = model;
  s->tok = tok;
  s->chat = vf_chat_new();
  s->cached = g_array_new(FALSE, FALSE, sizeof(int32_t));
  s->answer = g_array_new(FALSE, FALSE, sizeof(int32_t));
  s->embeds = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  return s;
}

void
vf_session_free(VfSession *s)
{
  if (!s)
    return;
  forget_embeds(s);
  g_hash_table_unref(s->embeds);
  vf_prompt_cache_free(s->prompt);
  vf_chat_free(s->chat);
  g_clear_pointer(&s->system, vf_chat_message_free);
  vf_llm_sequence_free(s->seq);
  g_array_unref(s->cached);
  g_array_unref(s->answer);
  g_free(s);
}

VfChat *vf_session_chat(VfSession *s) { return s->chat; }

void
vf_session_reset(VfSession *s)
{
  vf_chat_free(vf_session_replace_chat(s, vf_chat_new()));
}

VfChat *
vf_session_replace_chat(VfSession *s, VfChat *chat)
{
  forget_embeds(s);
  g_clear_pointer(&s->prompt, vf_prompt_cache_free);
  g_array_set_size(s->cached, 0);
  g_array_set_size(s->answer, 0);
  s->answer_message = 0;
  vf_llm_sequence_truncate(s->seq, 0);
  VfChat *old = s->chat;
  s->chat = chat;
  return old;
}

const int32_t *
vf_session_last_answer(VfSession *s, uint32_t *n)
{
  *n = s->answer->len;
  return (const int32_t *)s->answer->data;
}

void
vf_session_default_options(VfSession *s, VfGenerateOptions *opts)
{
  const VfConfig *c = s->model->config;
  memset(opts, 0, sizeof *opts);
  opts->sampling.do_sample = c->do_sample;
  opts->sampling.temperature = c->temperature;
  opts->sampling.top_k = c->top_k;
  opts->sampling.top_p = c->top_p;
  opts->sampling.repetition_penalty = c->repetition_penalty > 0 ? c->repetition_penalty : 1.0f;
  opts->max_new_tokens = 512;
}

/* The prompt of the conversation, then `draft` (NULL: none; its messages are not kept), then the assistant's
 * header. Only messages the cache has not seen are tokenized. */
static VfPrompt *
build_prompt(VfSession *s, const VfGenerateOptions *opts, VfChat *draft, GError **error)
{
  VfChatTemplateFlags flags = opts->add_vision_id ? VF_CHAT_TEMPLATE_VISION_ID : 0;
  if (s->prompt && !vf_prompt_cache_fits(s->prompt, flags, opts->media_dir))
    g_clear_pointer(&s->prompt, vf_prompt_cache_free);
  if (!s->prompt)
    s->prompt = vf_prompt_cache_new(s->tok, s->model->config, flags, opts->media_dir, NULL, NULL);
  /* A system prompt of the options goes first, unless the conversation has its own; it is in the prompt only. */
  gboolean add_system = opts->system_prompt && *opts->system_prompt &&
                        !(s->chat->messages->len > 0 &&
                          g_str_equal(((VfChatMessage *)s->chat->messages->pdata[0])->role, "system"));
  if (add_system) {
    const VfChatPart *kept = s->system ? s->system->parts->pdata[0] : NULL;
    if (!kept || !g_str_equal(kept->text, opts->system_prompt)) {
      g_clear_pointer(&s->system, vf_chat_message_free);
      VfChat *one = vf_chat_new();
      vf_chat_message_append_text(vf_chat_append_message(one, "system"), opts->system_prompt);
      s->system = g_ptr_array_steal_index(one->messages, 0);
      vf_chat_free(one);
    }
    g_ptr_array_insert(s->chat->messages, 0, s->system);
  }
  VfPrompt *prompt = vf_prompt_cache_sync(s->prompt, s->chat, error)
                       ? vf_prompt_cache_build(s->prompt, draft, TRUE, error)
                       : NULL;
  if (add_system)
    g_ptr_array_steal_index(s->chat->messages, 0);
  return prompt;
}

gboolean
vf_session_count_prompt(VfSession *s, const VfGenerateOptions *opts, uint32_t *tokens, GError **error)
{
  return vf_session_count_draft(s, opts, NULL, tokens, error);
}

gboolean
vf_session_count_draft(VfSession *s, const VfGenerateOptions *opts, VfChat *draft, uint32_t *tokens,
                       GError **error)
{
  g_autoptr(VfPrompt) p = build_prompt(s, opts, draft, error);
  if (!p)
    return FALSE;
  *tokens = p->n;
  return TRUE;
}

/* What determines an attachment's pixels (not its address, which a later part may reuse). */
static char *
item_key(const VfPromptItem *it)
{
  const VfMediaOptions *o = &it->part->options;
  g_autofree char *frames = it->frames ? g_strjoinv("\n", it->frames) : NULL;
  return g_strdup_printf("%s|%s|%" G_GUINT64_FORMAT "|%" G_GUINT64_FORMAT "|%" G_GUINT64_FORMAT "|%u|%u|%g|%u|%u|%u",
                         it->is_video ? "video" : "image", frames ? frames : it->source, o->min_pixels, o->max_pixels,
                         o->total_pixels, o->resized_height, o->resized_width, o->fps, o->nframes, o->min_frames,
                         o->max_frames);
}

typedef struct {
  const VfGenerateOptions *opts;
  uint32_t index;
} VideoProgress;

static void
on_video_progress(uint32_t done, uint32_t total, void *user)
{
  VideoProgress *vp = user;
  if (!vp->opts->on_stage || total == 0)
    return;
  g_autofree char *stage = g_strdup_printf("Decoding video %u", vp->index);
  vp->opts->on_stage(stage, (double)done / total, vp->opts->stage_user);
}

typedef struct {
  const VfGenerateOptions *opts;
  const char *label;
  uint32_t index;
} EncodeProgress;

static void
on_encode_progress(uint32_t done, uint32_t blocks, void *user)
{
  EncodeProgress *ep = user;
  if (!ep->opts->on_stage || blocks == 0)
    return;
  g_autofree char *stage = g_strdup_printf("Encoding %s %u: block %u of %u", ep->label, ep->index, done, blocks);
  ep->opts->on_stage(stage, (double)done / blocks, ep->opts->stage_user);
}

/* The vision output of an attachment, encoded once and kept for later turns. */
static const VfBuffer *
item_embeds(VfSession *s, const VfGenerateOptions *opts, const VfPromptItem *it, GCancellable *cancellable,
            VfTurnStats *stats, GError **error)
{
  g_autofree char *key = item_key(it);
  VfBuffer *buf = g_hash_table_lookup(s->embeds, key);
  if (buf)
    return buf;
  if (!s->model->vision) {
    g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_UNSUPPORTED, "this model has no vision tower");
    return NULL;
  }
  const char *label = it->is_video ? "video" : "picture";
  /* The file the user attached must still be that file; the plan (and the prompt) were made from it. */
  g_autofree char *name = vf_chat_media_label(it->part->kind, it->index);
  if (!vf_media_item_check(it->media, error)) {
    g_prefix_error(error, "%s: ", name);
    return NULL;
  }
  g_autoptr(VfImageInput) image = NULL;
  g_autoptr(VfVideoInput) video = NULL;
  const float *pixels;
  uint32_t n_patches;
  VfGrid grid;
  int64_t t_read = g_get_monotonic_time();
  if (it->is_video) {
    VideoProgress vp = {opts, it->index};
    VfVideoRunOptions run = {.progress = on_video_progress, .progress_user = &vp, .cancellable = cancellable};
    video = vf_media_item_video_input(it->media, &run, error);
    if (!video)
      return NULL;
    pixels = video->pixel_values;
    n_patches = video->plan->n_patches;
    grid = video->plan->grid;
  } else {
    /* Resizing and patchifying a large photo takes a while too; there is nothing to count in it. */
    if (opts->on_stage) {
      g_autofree char *stage = g_strdup_printf("Preparing picture %u", it->index);
      opts->on_stage(stage, 0, opts->stage_user);
    }
    image = vf_media_item_image_input(it->media, error);
    if (!image)
      return NULL;
    if (image->damage && opts->on_warning) {
      g_autofree char *warning = g_strdup_printf("Picture %u (%s): %s", it->index, it->source, image->damage);
      opts->on_warning(warning, opts->stage_user);
    }
    pixels = image->pixel_values;
    n_patches = image->plan.n_patches;
    grid = image->plan.grid;
  }
  /* The prompt was planned from the header; a file (or URL) that changed since would not fit it. */
  if (grid.t != it->grid.t || grid.h != it->grid.h || grid.w != it->grid.w) {
    g_set_error(error, VF_MEDIA_ERROR, VF_MEDIA_ERROR_CHANGED,
                "%s (%s) changed while it was being read: its grid is %u×%u×%u, planned %u×%u×%u",
                name, it->source ? it->source : it->frames[0], grid.t,
                grid.h, grid.w, it->grid.t, it->grid.h, it->grid.w);
    return NULL;
  }
  /* Resizing a large photo is one step that cannot be interrupted; a stop during it ends the turn here. */
  if (g_cancellable_set_error_if_cancelled(cancellable, error))
    return NULL;
  int64_t t_encode = g_get_monotonic_time();
  stats->preprocess_seconds += (t_encode - t_read) / 1e6;
  EncodeProgress ep = {opts, label, it->index};
  VfVisionRun run = {.progress = on_encode_progress, .progress_user = &ep, .cancellable = cancellable};
  buf = g_new0(VfBuffer, 1);
  if (!vf_vision_encode_run(s->model->vision, pixels, n_patches, &grid, 1, buf, NULL, &run, error)) {
    g_free(buf);
    return NULL;
  }
  stats->encode_seconds += (g_get_monotonic_time() - t_encode) / 1e6;
  g_hash_table_insert(s->embeds, g_steal_pointer(&key), buf);
  /* The vision output replaces the pixels (a picture kept its decode from the thumbnail until now). */
  vf_media_item_release_pixels(it->media);
  return buf;
}

typedef struct {
  const VfGenerateOptions *opts;
  uint32_t keep, total;
} PrefillProgress;

static void
on_prefill_progress(uint64_t done, uint64_t total, void *user)
{
  PrefillProgress *pp = user;
  if (!pp->opts->on_stage)
    return;
  g_autofree char *stage = g_strdup_printf("Reading prompt %" G_GUINT64_FORMAT "/%u", pp->keep + done, pp->total);
  pp->opts->on_stage(stage, (double)(pp->keep + done) / pp->total, pp->opts->stage_user);
}

static gboolean
is_stop(const VfConfig *c, int32_t id)
{
  for (uint32_t i = 0; i < c->n_gen_eos; i++)
    if (c->gen_eos_ids[i] == id)
      return TRUE;
  return id == c->eos_id;
}

const char *
vf_stop_reason_name(VfStopReason reason)
{
  switch (reason) {
  case VF_STOP_EOS: return "eos";
  case VF_STOP_TOKEN_LIMIT: return "token_limit";
  case VF_STOP_CONTEXT_FULL: return "context_full";
  case VF_STOP_CANCELLED: return "stopped";
  }
  g_assert_not_reached();
}

/* One answer being generated. */
typedef struct {
  VfSession *s;
  const VfGenerateOptions *opts;
  VfTextFunc on_text;
  void *user;
  GCancellable *cancellable;
  VfTurnStats *stats;
  VfSampler *sampler;
  VfTokenStream *stream;
  float *logits;         /* [vocab] */
  uint32_t n;            /* prompt tokens */
  int32_t delta;         /* rope delta of the prompt */
  int32_t token;         /* the latest token, fed to the model at the next step */
  gboolean done;
  gboolean device_argmax; /* plain greedy: the device picks, 4 bytes come back */
  gboolean continuing;    /* the conversation's last message is the start of this answer */
  int64_t t1;
} Turn;

static void
turn_clear(Turn *t)
{
  g_clear_pointer(&t->sampler, vf_sampler_free);
  g_clear_pointer(&t->stream, vf_token_stream_free);
  g_clear_pointer(&t->logits, g_free);
}

/* Takes the token the model chose: records it, streams its text, and decides whether the answer ends. */
static void
turn_accept(Turn *t, int32_t token)
{
  VfSession *s = t->s;
  t->token = token;
  g_array_append_val(s->answer, token);
  vf_sampler_observe(t->sampler, &token, 1);
  t->stats->generated_tokens++;
  if (!t->opts->ignore_eos && is_stop(s->model->config, token)) {
    t->stats->finished_with_eos = TRUE;
    t->stats->stop_reason = VF_STOP_EOS;
    t->done = TRUE;
    return;
  }
  size_t len;
  g_autofree char *piece = vf_token_stream_feed(t->stream, token, &len);
  if (t->on_text && len)
    t->on_text(piece, len, t->user);
  if (t->stats->generated_tokens >= t->opts->max_new_tokens) {
    t->stats->stop_reason = VF_STOP_TOKEN_LIMIT;
    t->done = TRUE;
  } else if (vf_llm_sequence_length(s->seq) + 1 >= vf_llm_context(s->model->llm)) {
    t->stats->stop_reason = VF_STOP_CONTEXT_FULL;
    t->done = TRUE;
  } else if (g_cancellable_is_cancelled(t->cancellable)) {
    t->stats->stop_reason = VF_STOP_CANCELLED;
    t->done = t->stats->stopped = TRUE;
  }
}

/* The position the latest token goes in at: prompt length + tokens generated before it + rope delta (§8.5). */
static int32_t
turn_position(const Turn *t)
{
  return (int32_t)t->n + (int32_t)t->stats->generated_tokens - 1 + t->delta;
}

/* The token chosen from the logits (or the device's argmax) after the latest one went in. */
static int32_t
turn_pick(Turn *t, int32_t device_best)
{
  return t->device_argmax ? device_best : vf_sampler_pick(t->sampler, t->logits);
}

/* The prompt with `answer` (int32 ids, the start of the answer) after the assistant's header: its ids and
 * positions grow by those tokens, text after text, one position each (§8.5). */
static void
prompt_append_answer(VfPrompt *prompt, const GArray *answer)
{
  uint32_t n = prompt->n, m = answer->len;
  prompt->ids = g_renew(int32_t, prompt->ids, n + m);
  memcpy(prompt->ids + n, answer->data, (size_t)m * 4);
  int32_t *positions = g_new(int32_t, 3 * (size_t)(n + m));
  for (int k = 0; k < 3; k++) {
    memcpy(positions + (size_t)k * (n + m), prompt->positions + (size_t)k * n, (size_t)n * 4);
    for (uint32_t i = 0; i < m; i++)
      positions[(size_t)k * (n + m) + n + i] = prompt->positions[(size_t)k * n + n - 1] + 1 + (int32_t)i;
  }
  g_free(prompt->positions);
  prompt->positions = positions;
  prompt->n = n + m;
}

/* The start of the answer the conversation's last message holds: the ids the session generated for it when it
 * is this session's last answer (so continuing equals one longer answer), else its text tokenized. */
static GArray *
answer_so_far(VfSession *s, const VfChatMessage *last)
{
  GArray *ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
  if (last->id == s->answer_message && s->answer->len > 0) {
    g_array_append_vals(ids, s->answer->data, s->answer->len);
    return ids;
  }
  for (guint i = 0; i < last->parts->len; i++) {
    const VfChatPart *part = last->parts->pdata[i];
    if (part->kind != VF_CHAT_PART_TEXT)
      continue;
    size_t n = 0;
    g_autofree int32_t *text_ids = vf_tokenizer_encode_len(s->tok, part->text, part->text_len, &n);
    g_array_append_vals(ids, text_ids, (guint)n);
  }
  return ids;
}

/* Builds the prompt, prefills what the cache lacks into the session's sequence, and takes the first token.
 * continuing: the conversation's last message is an answer to go on with (its tokens follow the assistant's
 * header, and the new tokens join it). */
static gboolean
turn_begin(Turn *t, VfSession *s, const VfGenerateOptions *opts, gboolean continuing, VfTextFunc on_text,
           void *user, GCancellable *cancellable, VfTurnStats *stats, GError **error)
{
  *t = (Turn){.s = s, .opts = opts, .on_text = on_text, .user = user, .cancellable = cancellable, .stats = stats,
              .continuing = continuing};
  memset(stats, 0, sizeof *stats);
  const VfConfig *c = s->model->config;
  VfLlm *llm = s->model->llm;

  g_autoptr(GArray) answer = NULL;
  g_autoptr(VfPrompt) prompt = NULL;
  if (continuing) {
    /* The prompt of the conversation before the answer, then the answer's tokens. */
    VfChatMessage *last = g_ptr_array_steal_index(s->chat->messages, s->chat->messages->len - 1);
    answer = answer_so_far(s, last);
    prompt = build_prompt(s, opts, NULL, error);
    g_ptr_array_add(s->chat->messages, last);
    if (prompt)
      prompt_append_answer(prompt, answer);
  } else {
    prompt = build_prompt(s, opts, NULL, error);
  }
  if (!prompt)
    return FALSE;
  const int32_t *ids = prompt->ids;
  uint32_t n = prompt->n;
  uint32_t context = vf_llm_context(llm);
  if (n + 1 > context) {
    g_set_error(error, VF_ENGINE_ERROR, VF_ENGINE_ERROR_CONTEXT_FULL,
                "the conversation needs %u prompt tokens but the context holds %u", n, context);
    return FALSE;
  }
  for (uint32_t i = 0; i < n; i++)
    if (ids[i] < 0 || (uint32_t)ids[i] >= c->vocab) {
      g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_MALFORMED,
                  "token id %d is outside the model's vocabulary of %u", ids[i], c->vocab);
      return FALSE;
    }

  /* Reuse the cache up to the first token that differs (and leave at least one token to run);
   * a prefix's positions do not depend on what follows. */
  uint32_t keep = 0;
  while (keep < s->cached->len && keep < n && g_array_index(s->cached, int32_t, keep) == ids[keep])
    keep++;
  if (keep == n)
    keep--;

  /* Vision embeddings for the attachments whose tokens are not cached. */
  uint32_t H = c->hidden;
  g_autoptr(GArray) splices = g_array_new(FALSE, FALSE, sizeof(VfLlmSplice));
  for (guint i = 0; i < prompt->items->len; i++) {
    const VfPromptItem *it = prompt->items->pdata[i];
    uint32_t lo = MAX(it->row, keep), hi = it->row + it->n_tokens;
    if (lo >= hi)
      continue;
    const VfBuffer *e = item_embeds(s, opts, it, cancellable, stats, error);
    if (!e)
      return FALSE;
    VfLlmSplice sp = {
      .row = lo - keep,
      .rows = hi - lo,
      .embeds = vf_buffer_slice(e, (uint64_t)(lo - it->row) * H * 4, (uint64_t)(hi - lo) * H * 4),
    };
    g_array_append_val(splices, sp);
  }

  vf_llm_sequence_truncate(s->seq, keep);
  g_array_set_size(s->cached, keep);
  uint32_t m = n - keep;
  g_autofree int32_t *new_pos = g_new(int32_t, 3 * (size_t)m);
  for (int k = 0; k < 3; k++)
    memcpy(new_pos + (size_t)k * m, prompt->positions + (size_t)k * n + keep, (size_t)m * 4);
  t->logits = g_new(float, c->vocab);
  PrefillProgress pp = {opts, keep, n};
  VfLlmInput in = {
    .ids = ids + keep,
    .positions = new_pos,
    .n = m,
    .splices = (const VfLlmSplice *)splices->data,
    .nsplices = splices->len,
    .progress = on_prefill_progress,
    .progress_user = &pp,
    .cancellable = cancellable,
  };
  int64_t t0 = g_get_monotonic_time();
  if (!vf_llm_prefill(llm, s->seq, &in, t->logits, NULL, error)) {
    /* The cache may hold part of the new tokens: forget them. */
    vf_llm_sequence_truncate(s->seq, keep);
    return FALSE;
  }
  g_array_append_vals(s->cached, ids + keep, m);
  stats->prompt_tokens = n;
  stats->prefilled_tokens = m;
  stats->prefill_seconds = (g_get_monotonic_time() - t0) / 1e6;

  t->n = n;
  t->delta = prompt->delta;
  t->sampler = vf_sampler_new(&opts->sampling, c->vocab);
  vf_sampler_observe(t->sampler, ids, n);
  t->device_argmax = vf_sampler_is_plain_argmax(t->sampler);
  t->stream = opts->keep_grounding ? vf_token_stream_new_grounded(s->tok) : vf_token_stream_new(s->tok, TRUE);
  g_array_set_size(s->answer, 0);
  if (answer) {
    size_t len;
    g_array_append_vals(s->answer, answer->data, answer->len);
    /* The stream learns the answer so far (a character may be split across its last token and the next). */
    for (guint i = 0; i < answer->len; i++)
      g_free(vf_token_stream_feed(t->stream, g_array_index(answer, int32_t, i), &len));
  }
  t->t1 = g_get_monotonic_time();
  turn_accept(t, vf_sampler_pick(t->sampler, t->logits));
  return TRUE;
}

/* The latest token went into the cache. */
static void
turn_fed(Turn *t)
{
  g_array_append_val(t->s->cached, t->token);
}

/* Ends the answer: the rest of the text, the timings, and the assistant message (unless it failed). */
static gboolean
turn_finish(Turn *t, gboolean ok)
{
  VfSession *s = t->s;
  size_t len;
  g_autofree char *rest = vf_token_stream_flush(t->stream, &len);
  if (t->on_text && len)
    t->on_text(rest, len, t->user);
  t->stats->decode_seconds = (g_get_monotonic_time() - t->t1) / 1e6;
  if (ok) {
    const int32_t *ids = (const int32_t *)s->answer->data;
    g_autofree char *text = t->opts->keep_grounding ? vf_tokenizer_decode_grounded(s->tok, ids, s->answer->len, &len)
                                                    : vf_tokenizer_decode(s->tok, ids, s->answer->len, TRUE, &len);
    VfChatMessage *message;
    if (t->continuing) {
      /* The message is replaced: a prompt cache knows a message by its id and must tokenize the longer one. */
      g_ptr_array_remove_index(s->chat->messages, s->chat->messages->len - 1);
    }
    message = vf_chat_append_message(s->chat, "assistant");
    vf_chat_message_append_text_len(message, text, len);
    s->answer_message = message->id;
  } else {
    /* Whatever a failed step left in the cache past the known tokens is forgotten. */
    vf_llm_sequence_truncate(s->seq, s->cached->len);
  }
  turn_clear(t);
  return ok;
}

static gboolean turn_run(Turn *t, GError **error);

gboolean
vf_session_generate(VfSession *s, const VfGenerateOptions *opts, VfTextFunc on_text, void *user,
                    GCancellable *cancellable, VfTurnStats *stats, GError **error)
{
  VfTurnStats local;
  Turn t;
  if (!turn_begin(&t, s, opts, FALSE, on_text, user, cancellable, stats ? stats : &local, error)) {
    turn_clear(&t);
    return FALSE;
  }
  return turn_run(&t, error);
}

gboolean
vf_session_continue(VfSession *s, const VfGenerateOptions *opts, VfTextFunc on_text, void *user,
                    GCancellable *cancellable, VfTurnStats *stats, GError **error)
{
  guint n = s->chat->messages->len;
  const VfChatMessage *last = n ? s->chat->messages->pdata[n - 1] : NULL;
  if (!last || g_strcmp0(last->role, "assistant") != 0) {
    g_set_error(error, VF_ENGINE_ERROR, VF_ENGINE_ERROR_NO_ANSWER, "the conversation does not end with an answer");
    return FALSE;
  }
  VfTurnStats local;
  Turn t;
  if (!turn_begin(&t, s, opts, TRUE, on_text, user, cancellable, stats ? stats : &local, error)) {
    turn_clear(&t);
    return FALSE;
  }
  return turn_run(&t, error);
}

/* Decodes until the answer ends, then finishes it. */
static gboolean
turn_run(Turn *t, GError **error)
{
  VfSession *s = t->s;
  VfLlm *llm = s->model->llm;
  gboolean ok = TRUE;
  while (!t->done && ok) {
    int32_t best = -1;
    ok = vf_llm_decode(llm, s->seq, t->token, turn_position(t), t->device_argmax ? NULL : t->logits,
                       t->device_argmax ? &best : NULL, error);
    if (ok) {
      turn_fed(t);
      turn_accept(t, turn_pick(t, best));
    }
  }
  return turn_finish(t, ok);
}

struct VfSessionTurn {
  Turn t;
  VfGenerateOptions opts; /* the turn reads them until it ends */
  VfTurnStats stats;
};

VfSessionTurn *
vf_session_turn_begin(VfSession *s, const VfGenerateOptions *opts, VfTextFunc on_text, void *user,
                      GCancellable *cancellable, GError **error)
{
  VfSessionTurn *turn = g_new0(VfSessionTurn, 1);
  turn->opts = *opts;
  if (!turn_begin(&turn->t, s, &turn->opts, FALSE, on_text, user, cancellable, &turn->stats, error)) {
    turn_clear(&turn->t);
    g_free(turn);
    return NULL;
  }
  return turn;
}

gboolean
vf_session_turn_done(const VfSessionTurn *turn)
{
  return turn->t.done;
}

gboolean
vf_session_turns_step(VfSessionTurn *const *turns, uint32_t n, GError **error)
{
  g_return_val_if_fail(n > 0, FALSE);
  VfModel *model = turns[0]->t.s->model;
  VfLlm *llm = model->llm;
  const VfConfig *c = model->config;
  /* The turns still going, one row each; a finished one has left the batch and its cache stays as it is. */
  g_autofree VfLlmSequence **seqs = g_new(VfLlmSequence *, n);
  g_autofree Turn **row_turn = g_new(Turn *, n);
  g_autofree int32_t *ids = g_new(int32_t, n), *positions = g_new(int32_t, n), *best = g_new(int32_t, n);
  uint32_t rows = 0;
  gboolean need_logits = FALSE;
  for (uint32_t i = 0; i < n; i++) {
    Turn *t = &turns[i]->t;
    g_return_val_if_fail(t->s->model == model, FALSE);
    for (uint32_t j = 0; j < i; j++)
      g_return_val_if_fail(turns[j]->t.s != t->s, FALSE);
    if (t->done)
      continue;
    seqs[rows] = t->s->seq;
    ids[rows] = t->token;
    positions[rows] = turn_position(t);
    need_logits |= !t->device_argmax;
    row_turn[rows++] = t;
  }
  if (rows == 0)
    return TRUE;
  g_autofree float *logits = need_logits ? g_new(float, (size_t)rows * c->vocab) : NULL;
  if (!vf_llm_decode_batch(llm, seqs, rows, ids, positions, logits, best, error))
    return FALSE;
  for (uint32_t r = 0; r < rows; r++) {
    Turn *t = row_turn[r];
    turn_fed(t);
    if (logits)
      memcpy(t->logits, logits + (size_t)r * c->vocab, (size_t)c->vocab * 4);
    turn_accept(t, turn_pick(t, best[r]));
  }
  return TRUE;
}

gboolean
vf_session_turn_finish(VfSessionTurn *turn, gboolean ok, VfTurnStats *stats)
{
  ok = turn_finish(&turn->t, ok);
  if (stats)
    *stats = turn->stats;
  g_free(turn);
  return ok;
}

gboolean
vf_session_generate_together(VfSession *const *sessions, uint32_t n, const VfGenerateOptions *opts,
                             VfTextFunc on_text, void *const *users, GCancellable *cancellable,
                             VfTurnStats *stats, GError **errors_out, GError **error)
{
  g_return_val_if_fail(n > 0, FALSE);
  /* Each prompt into its own sequence; a conversation that fails here is reported and left out. */
  g_autofree VfSessionTurn **turns = g_new0(VfSessionTurn *, n);
  uint32_t going = 0;
  for (uint32_t i = 0; i < n; i++) {
    memset(&stats[i], 0, sizeof stats[i]);
    VfSessionTurn *turn = vf_session_turn_begin(sessions[i], opts, on_text, users ? users[i] : NULL, cancellable,
                                                &errors_out[i]);
    if (turn)
      turns[going++] = turn;
  }
  /* Then the conversations still going one token per step, the weights read once for all of them. */
  gboolean ok = TRUE;
  for (;;) {
    gboolean any = FALSE;
    for (uint32_t i = 0; i < going; i++)
      any |= !vf_session_turn_done(turns[i]);
    if (!any || !(ok = vf_session_turns_step(turns, going, error)))
      break;
  }
  for (uint32_t i = 0, k = 0; i < n; i++)
    if (!errors_out[i])
      vf_session_turn_finish(turns[k++], ok, &stats[i]);
  return ok;
}
