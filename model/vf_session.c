/* A conversation over a loaded model, with KV-cache reuse across turns. */
#define G_LOG_DOMAIN "vf-session"

#include "vf_session.h"

#include <string.h>

#include "vf_chat_template.h"
#include "vf_prompt.h"
#include "vf_vision.h"

struct VfSession {
  VfModel *model;
  VfTokenizer *tok;
  VfChat *chat;
  GArray *cached; /* int32: the token ids whose keys and values are in the model's cache, in order */
  GArray *answer; /* int32: the last answer's ids */
  GHashTable *embeds; /* "source|options" -> VfBuffer *: vision output of each attachment, kept across turns */
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
vf_session_new(VfModel *model, VfTokenizer *tok)
{
  VfSession *s = g_new0(VfSession, 1);
  s->model = model;
  s->tok = tok;
  s->chat = vf_chat_new();
  s->cached = g_array_new(FALSE, FALSE, sizeof(int32_t));
  s->answer = g_array_new(FALSE, FALSE, sizeof(int32_t));
  s->embeds = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  vf_llm_truncate(model->llm, 0);
  return s;
}

void
vf_session_free(VfSession *s)
{
  if (!s)
    return;
  forget_embeds(s);
  g_hash_table_unref(s->embeds);
  vf_chat_free(s->chat);
  g_array_unref(s->cached);
  g_array_unref(s->answer);
  g_free(s);
}

VfChat *vf_session_chat(VfSession *s) { return s->chat; }

void
vf_session_reset(VfSession *s)
{
  forget_embeds(s);
  vf_chat_free(s->chat);
  s->chat = vf_chat_new();
  g_array_set_size(s->cached, 0);
  g_array_set_size(s->answer, 0);
  vf_llm_truncate(s->model->llm, 0);
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

static VfPrompt *
build_prompt(VfSession *s, const VfGenerateOptions *opts, GError **error)
{
  VfChatTemplateFlags flags = VF_CHAT_TEMPLATE_GENERATION_PROMPT;
  if (opts->add_vision_id)
    flags |= VF_CHAT_TEMPLATE_VISION_ID;
  return vf_prompt_build(s->chat, s->tok, s->model->config, flags, opts->media_dir, NULL, NULL, error);
}

gboolean
vf_session_count_prompt(VfSession *s, const VfGenerateOptions *opts, uint32_t *tokens, GError **error)
{
  g_autoptr(VfPrompt) p = build_prompt(s, opts, error);
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

/* The vision output of an attachment, encoded once and kept for later turns. */
static const VfBuffer *
item_embeds(VfSession *s, const VfGenerateOptions *opts, const VfPromptItem *it, GCancellable *cancellable,
            GError **error)
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
  VfImageProcessorConfig proc;
  vf_prompt_processor_config(s->model->config, &proc);
  g_autoptr(VfImageInput) image = NULL;
  g_autoptr(VfVideoInput) video = NULL;
  const float *pixels;
  uint32_t n_patches;
  VfGrid grid;
  if (it->is_video) {
    VideoProgress vp = {opts, it->index};
    VfVideoRunOptions run = {.progress = on_video_progress, .progress_user = &vp, .cancellable = cancellable};
    video = it->frames ? vf_video_input_new_from_frames((const char *const *)it->frames, &it->part->options, &proc,
                                                         &run, error)
                       : vf_video_input_new(it->source, &it->part->options, &proc, &run, error);
    if (!video)
      return NULL;
    pixels = video->pixel_values;
    n_patches = video->plan->n_patches;
    grid = video->plan->grid;
  } else {
    image = vf_image_input_new(it->source, &it->options, &proc, error);
    if (!image)
      return NULL;
    pixels = image->pixel_values;
    n_patches = image->plan.n_patches;
    grid = image->plan.grid;
  }
  /* The prompt was planned from the header; a file (or URL) that changed since would not fit it. */
  if (grid.t != it->grid.t || grid.h != it->grid.h || grid.w != it->grid.w) {
    g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_MALFORMED,
                "%s %u (%s) changed while it was being read: its grid is %u×%u×%u, planned %u×%u×%u",
                it->is_video ? "Video" : "Picture", it->index, it->source ? it->source : it->frames[0], grid.t,
                grid.h, grid.w, it->grid.t, it->grid.h, it->grid.w);
    return NULL;
  }
  if (opts->on_stage) {
    g_autofree char *stage = g_strdup_printf("Encoding %s %u", label, it->index);
    opts->on_stage(stage, -1, opts->stage_user);
  }
  buf = g_new0(VfBuffer, 1);
  if (!vf_vision_encode(s->model->vision, pixels, n_patches, &grid, 1, buf, NULL, error)) {
    g_free(buf);
    return NULL;
  }
  g_hash_table_insert(s->embeds, g_steal_pointer(&key), buf);
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

gboolean
vf_session_generate(VfSession *s, const VfGenerateOptions *opts, VfTextFunc on_text, void *user,
                    GCancellable *cancellable, VfTurnStats *stats, GError **error)
{
  VfTurnStats local;
  if (!stats)
    stats = &local;
  memset(stats, 0, sizeof *stats);
  const VfConfig *c = s->model->config;
  VfLlm *llm = s->model->llm;

  g_autoptr(VfPrompt) prompt = build_prompt(s, opts, error);
  if (!prompt)
    return FALSE;
  const int32_t *ids = prompt->ids;
  uint32_t n = prompt->n;
  int32_t delta = prompt->delta;
  uint32_t context = vf_llm_context(llm);
  if (n + 1 > context) {
    g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_UNSUPPORTED,
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
    const VfBuffer *e = item_embeds(s, opts, it, cancellable, error);
    if (!e)
      return FALSE;
    VfLlmSplice sp = {
      .row = lo - keep,
      .rows = hi - lo,
      .embeds = vf_buffer_slice(e, (uint64_t)(lo - it->row) * H * 4, (uint64_t)(hi - lo) * H * 4),
    };
    g_array_append_val(splices, sp);
  }

  vf_llm_truncate(llm, keep);
  g_array_set_size(s->cached, keep);
  uint32_t m = n - keep;
  g_autofree int32_t *new_pos = g_new(int32_t, 3 * (size_t)m);
  for (int k = 0; k < 3; k++)
    memcpy(new_pos + (size_t)k * m, prompt->positions + (size_t)k * n + keep, (size_t)m * 4);
  g_autofree float *logits = g_new(float, c->vocab);
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
  if (!vf_llm_prefill(llm, &in, logits, NULL, error)) {
    /* The cache may hold part of the new tokens: forget them. */
    vf_llm_truncate(llm, keep);
    return FALSE;
  }
  g_array_append_vals(s->cached, ids + keep, m);
  stats->prompt_tokens = n;
  stats->prefilled_tokens = m;
  stats->prefill_seconds = (g_get_monotonic_time() - t0) / 1e6;

  g_autoptr(VfSampler) sampler = vf_sampler_new(&opts->sampling, c->vocab);
  vf_sampler_observe(sampler, ids, n);
  gboolean device_argmax = vf_sampler_is_plain_argmax(sampler);
  g_autoptr(VfTokenStream) stream = vf_token_stream_new(s->tok, TRUE);
  g_array_set_size(s->answer, 0);

  gboolean ok = TRUE;
  int64_t t1 = g_get_monotonic_time();
  int32_t token = vf_sampler_pick(sampler, logits);
  for (uint32_t step = 0;; step++) {
    g_array_append_val(s->answer, token);
    vf_sampler_observe(sampler, &token, 1);
    stats->generated_tokens++;
    if (is_stop(c, token)) {
      stats->finished_with_eos = TRUE;
      break;
    }
    g_autofree char *piece = vf_token_stream_feed(stream, token);
    if (on_text && *piece)
      on_text(piece, user);
    if (stats->generated_tokens >= opts->max_new_tokens || vf_llm_length(llm) + 1 >= context)
      break;
    if (g_cancellable_is_cancelled(cancellable)) {
      stats->stopped = TRUE;
      break;
    }
    /* The token goes in at the next position: prompt length + step + rope delta (spec §8.5). */
    int32_t position = (int32_t)n + (int32_t)step + delta;
    int32_t best = -1;
    if (!vf_llm_decode(llm, token, position, device_argmax ? NULL : logits, device_argmax ? &best : NULL,
                       error)) {
      ok = FALSE;
      vf_llm_truncate(llm, s->cached->len);
      break;
    }
    g_array_append_val(s->cached, token);
    token = device_argmax ? best : vf_sampler_pick(sampler, logits);
  }
  g_autofree char *rest = vf_token_stream_flush(stream);
  if (on_text && *rest)
    on_text(rest, user);
  stats->decode_seconds = (g_get_monotonic_time() - t1) / 1e6;
  if (!ok)
    return FALSE;

  g_autofree char *text = vf_tokenizer_decode(s->tok, (const int32_t *)s->answer->data, s->answer->len, TRUE);
  VfChatMessage *reply = vf_chat_append_message(s->chat, "assistant");
  vf_chat_message_append_text(reply, text);
  return TRUE;
}
