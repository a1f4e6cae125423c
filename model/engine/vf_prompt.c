/* From a conversation to expanded token ids and M-RoPE positions, a message at a time. See vf_prompt.h. */
#define G_LOG_DOMAIN "vf-prompt"

#include "vf_prompt.h"

#include <string.h>

static void
item_free(gpointer p)
{
  VfPromptItem *it = p;
  if (!it) /* a slot whose item moved on */
    return;
  vf_media_item_unref(it->media);
  vf_video_plan_free(it->video);
  g_free(it->source);
  g_strfreev(it->frames);
  g_free(it);
}

static gpointer
item_copy(gconstpointer p, gpointer unused)
{
  const VfPromptItem *it = p;
  VfPromptItem *copy = g_memdup2(it, sizeof *it);
  vf_media_item_ref(copy->media);
  copy->source = g_strdup(it->source);
  copy->frames = g_strdupv(it->frames);
  copy->video = it->video ? vf_video_plan_copy(it->video) : NULL;
  return copy;
}

void
vf_prompt_free(VfPrompt *p)
{
  if (!p)
    return;
  g_free(p->ids);
  g_free(p->positions);
  g_free(p->text);
  if (p->items)
    g_ptr_array_unref(p->items);
  g_free(p);
}

void
vf_prompt_processor_config(const VfConfig *c, VfImageProcessorConfig *out)
{
  vf_image_processor_config_default(out);
  if (c->min_pixels)
    out->min_pixels = c->min_pixels;
  if (c->max_pixels)
    out->max_pixels = c->max_pixels;
  if (c->image_std[0] > 0) {
    memcpy(out->image_mean, c->image_mean, sizeof out->image_mean);
    memcpy(out->image_std, c->image_std, sizeof out->image_std);
  }
}

VfMediaItem *
vf_prompt_part_media(VfChatPart *part, const char *base_dir, GError **error)
{
  if (part->media)
    return part->media;
  g_autoptr(VfMediaItem) item = NULL;
  if (part->kind == VF_CHAT_PART_VIDEO && part->frames) {
    g_auto(GStrv) frames = g_new0(char *, g_strv_length(part->frames) + 1);
    for (guint f = 0; part->frames[f]; f++)
      frames[f] = vf_chat_resolve_source(part->frames[f], base_dir);
    item = vf_media_item_new_frames((const char *const *)frames, error);
  } else {
    g_autofree char *source = vf_chat_resolve_source(part->source, base_dir);
    item = part->kind == VF_CHAT_PART_VIDEO ? vf_media_item_new_video(source, NULL, error)
                                            : vf_media_item_new_image(source, error);
  }
  if (!item)
    return NULL;
  vf_media_item_attach(item, part);
  return part->media;
}

/* ---------------------------------------------------------------------------------------------------
 * Token runs
 * ------------------------------------------------------------------------------------------------- */

/* Expanded ids and positions of a run of messages. */
typedef struct {
  GArray *ids;          /* int32 [n] */
  GArray *positions[3]; /* int32 [n] per M-RoPE stream */
  GPtrArray *items;     /* VfPromptItem *, in prompt order */
  GString *text;
  int32_t next_position; /* largest position so far + 1 */
  uint32_t images, videos;
} Tokens;

/* Where the run stood after a cached message. */
typedef struct {
  uint64_t message_id;
  uint32_t n;
  guint n_items;
  gsize text_len;
  int32_t next_position;
  uint32_t images, videos;
} Mark;

static void
tokens_init(Tokens *t)
{
  t->ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
  for (int k = 0; k < 3; k++)
    t->positions[k] = g_array_new(FALSE, FALSE, sizeof(int32_t));
  t->items = g_ptr_array_new_with_free_func(item_free);
  t->text = g_string_new(NULL);
  t->next_position = 0;
  t->images = t->videos = 0;
}

static void
tokens_clear(Tokens *t)
{
  g_array_unref(t->ids);
  for (int k = 0; k < 3; k++)
    g_array_unref(t->positions[k]);
  g_ptr_array_unref(t->items);
  g_string_free(t->text, TRUE);
}

static void
tokens_copy(Tokens *dst, const Tokens *src)
{
  tokens_init(dst);
  g_array_append_vals(dst->ids, src->ids->data, src->ids->len);
  for (int k = 0; k < 3; k++)
    g_array_append_vals(dst->positions[k], src->positions[k]->data, src->positions[k]->len);
  for (guint i = 0; i < src->items->len; i++)
    g_ptr_array_add(dst->items, item_copy(src->items->pdata[i], NULL));
  g_string_append_len(dst->text, src->text->str, (gssize)src->text->len);
  dst->next_position = src->next_position;
  dst->images = src->images;
  dst->videos = src->videos;
}

static Mark
tokens_mark(const Tokens *t, uint64_t message_id)
{
  return (Mark){message_id, t->ids->len, t->items->len, t->text->len, t->next_position, t->images, t->videos};
}

static void
tokens_truncate(Tokens *t, const Mark *m)
{
  static const Mark empty;
  if (!m)
    m = &empty;
  g_array_set_size(t->ids, m->n);
  for (int k = 0; k < 3; k++)
    g_array_set_size(t->positions[k], m->n);
  g_ptr_array_set_size(t->items, m->n_items);
  g_string_truncate(t->text, m->text_len);
  t->next_position = m->next_position;
  t->images = m->images;
  t->videos = m->videos;
}

struct VfPromptCache {
  VfTokenizer *tok;
  const VfConfig *config;
  VfChatTemplateFlags flags; /* VISION_ID or 0 */
  char *base_dir;
  VfIdMapFunc map;
  void *map_user;
  VfImageProcessorConfig processor;
  Tokens tokens; /* of the cached messages */
  GArray *marks; /* Mark, one per cached message */
};

/* Appends `text` (`text_len` bytes: an earlier answer may hold NUL bytes; rendered, single pads) whose pads are `items` in order (taken over). Nothing is appended on
 * failure. */
static gboolean
append_segment(VfPromptCache *c, Tokens *t, const char *text, size_t text_len, GPtrArray *items, GError **error)
{
  g_autoptr(GPtrArray) owned = items;
  const VfConfig *config = c->config;
  size_t n_raw = 0;
  g_autofree int32_t *raw = vf_tokenizer_encode_len(c->tok, text, text_len, &n_raw); /* NUL bytes included */
  if (c->map)
    c->map(raw, n_raw, c->map_user);

  /* Expand each pad to its item's token count: image pads take the images in order, video pads the videos. */
  uint64_t total = n_raw;
  for (guint i = 0; i < items->len; i++)
    total += ((VfPromptItem *)items->pdata[i])->n_tokens - 1;
  g_autofree int32_t *ids = g_new(int32_t, total ? total : 1);
  uint32_t at = 0;
  guint next[2] = {0, 0}; /* next image, next video: positions in items */
  for (size_t i = 0; i < n_raw; i++) {
    gboolean is_video = raw[i] == config->video_pad_id;
    if (raw[i] != config->image_pad_id && !is_video) {
      ids[at++] = raw[i];
      continue;
    }
    while (next[is_video] < items->len && ((VfPromptItem *)items->pdata[next[is_video]])->is_video != is_video)
      next[is_video]++;
    if (next[is_video] >= items->len) {
      g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_MALFORMED,
                  "the prompt has more %s placeholders than the conversation has %s (is \"%s\" written in a "
                  "message?)",
                  is_video ? "video" : "image", is_video ? "videos" : "pictures",
                  is_video ? "<|video_pad|>" : "<|image_pad|>");
      return FALSE;
    }
    VfPromptItem *it = items->pdata[next[is_video]++];
    it->row = t->ids->len + at;
    for (uint32_t k = 0; k < it->n_tokens; k++)
      ids[at++] = raw[i];
  }
  uint32_t n = at;

  /* Positions of the segment alone, then moved past everything before it. */
  g_autofree VfGrid *image_grids = g_new(VfGrid, items->len + 1);
  g_autofree VfGrid *video_grids = g_new(VfGrid, items->len + 1);
  uint32_t ni = 0, nv = 0;
  for (guint i = 0; i < items->len; i++) {
    const VfPromptItem *it = items->pdata[i];
    if (it->is_video)
      video_grids[nv++] = it->grid;
    else
      image_grids[ni++] = it->grid;
  }
  uint32_t used_images = 0, used_videos = 0;
  int32_t delta = 0;
  g_autofree int32_t *positions = g_new(int32_t, 3 * (size_t)MAX(n, 1));
  if (!vf_positions_compute(config, ids, n, image_grids, ni, video_grids, nv, positions, &delta, &used_images,
                            &used_videos, error))
    return FALSE;
  if (used_images != ni || used_videos != nv) {
    g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_MALFORMED,
                "the prompt has placeholders for %u of %u pictures and %u of %u videos", used_images, ni,
                used_videos, nv);
    return FALSE;
  }
  for (int k = 0; k < 3; k++) {
    for (uint32_t i = 0; i < n; i++)
      positions[(size_t)k * n + i] += t->next_position;
    g_array_append_vals(t->positions[k], positions + (size_t)k * n, n);
  }
  g_array_append_vals(t->ids, ids, n);
  /* delta = largest position + 1 − n (spec §8.4), so the next segment starts at n + delta. */
  t->next_position += (int32_t)n + delta;
  for (guint i = 0; i < items->len; i++)
    g_ptr_array_add(t->items, g_steal_pointer(&items->pdata[i]));
  g_ptr_array_set_size(items, 0);
  g_string_append_len(t->text, text, (gssize)text_len);
  return TRUE;
}

/* One message: its media planned (through the parts' items), rendered, tokenized and expanded. */
static gboolean
append_message(VfPromptCache *c, Tokens *t, const VfChatMessage *msg, gboolean first, GError **error)
{
  g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func(item_free);
  uint32_t images = t->images, videos = t->videos;
  for (guint k = 0; k < msg->parts->len; k++) {
    VfChatPart *part = msg->parts->pdata[k];
    if (part->kind == VF_CHAT_PART_TEXT)
      continue;
    gboolean is_video = part->kind == VF_CHAT_PART_VIDEO;
    uint32_t index = vf_chat_media_number_next(part->kind, &images, &videos);
    if (!part->source && !part->frames && !part->media) {
      g_autofree char *label = vf_chat_media_label(part->kind, index);
      g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_MALFORMED, "%s names no file", label);
      return FALSE;
    }
    VfMediaItem *media = vf_prompt_part_media(part, c->base_dir, error);
    if (!media || !vf_media_item_plan(media, &part->options, &c->processor, error))
      return FALSE;
    VfPromptItem *it = g_new0(VfPromptItem, 1);
    g_ptr_array_add(items, it);
    it->part = part;
    it->media = vf_media_item_ref(media);
    it->is_video = is_video;
    it->index = index;
    it->source = g_strdup(vf_media_item_source(media));
    it->frames = g_strdupv((char **)vf_media_item_frames(media));
    if (is_video)
      it->video = vf_video_plan_copy(vf_media_item_video_plan(media));
    else
      it->plan = *vf_media_item_image_plan(media, &it->options);
    it->grid = vf_media_item_grid(media);
    it->n_tokens = vf_media_item_tokens(media);
  }
  GString *text = g_string_new(NULL);
  uint32_t rendered_images = t->images, rendered_videos = t->videos;
  vf_chat_template_render_message(text, msg, first, &rendered_images, &rendered_videos, c->flags);
  size_t n = text->len;
  g_autofree char *s = g_string_free(text, FALSE);
  if (!append_segment(c, t, s, n, g_steal_pointer(&items), error))
    return FALSE;
  t->images = images;
  t->videos = videos;
  return TRUE;
}

/* ---------------------------------------------------------------------------------------------------
 * The cache
 * ------------------------------------------------------------------------------------------------- */

VfPromptCache *
vf_prompt_cache_new(VfTokenizer *tok, const VfConfig *config, VfChatTemplateFlags flags, const char *base_dir,
                    VfIdMapFunc map, void *map_user)
{
  VfPromptCache *c = g_new0(VfPromptCache, 1);
  c->tok = tok;
  c->config = config;
  c->flags = flags & VF_CHAT_TEMPLATE_VISION_ID;
  c->base_dir = g_strdup(base_dir);
  c->map = map;
  c->map_user = map_user;
  vf_prompt_processor_config(config, &c->processor);
  tokens_init(&c->tokens);
  c->marks = g_array_new(FALSE, FALSE, sizeof(Mark));
  return c;
}

void
vf_prompt_cache_free(VfPromptCache *c)
{
  if (!c)
    return;
  tokens_clear(&c->tokens);
  g_array_unref(c->marks);
  g_free(c->base_dir);
  g_free(c);
}

gboolean
vf_prompt_cache_fits(const VfPromptCache *c, VfChatTemplateFlags flags, const char *base_dir)
{
  return c->flags == (flags & VF_CHAT_TEMPLATE_VISION_ID) && g_strcmp0(c->base_dir, base_dir) == 0;
}

guint vf_prompt_cache_messages(const VfPromptCache *c) { return c->marks->len; }
uint32_t vf_prompt_cache_tokens(const VfPromptCache *c) { return c->tokens.ids->len; }

gboolean
vf_prompt_cache_sync(VfPromptCache *c, VfChat *chat, GError **error)
{
  guint keep = 0;
  while (keep < c->marks->len && keep < chat->messages->len &&
         g_array_index(c->marks, Mark, keep).message_id == ((VfChatMessage *)chat->messages->pdata[keep])->id)
    keep++;
  g_array_set_size(c->marks, keep);
  tokens_truncate(&c->tokens, keep ? &g_array_index(c->marks, Mark, keep - 1) : NULL);
  for (guint m = keep; m < chat->messages->len; m++) {
    const VfChatMessage *msg = chat->messages->pdata[m];
    if (!append_message(c, &c->tokens, msg, m == 0, error))
      return FALSE;
    Mark mark = tokens_mark(&c->tokens, msg->id);
    g_array_append_val(c->marks, mark);
  }
  return TRUE;
}

VfPrompt *
vf_prompt_cache_build(VfPromptCache *c, VfChat *tail, gboolean generation, GError **error)
{
  Tokens t;
  tokens_copy(&t, &c->tokens);
  gboolean ok = TRUE;
  for (guint m = 0; ok && tail && m < tail->messages->len; m++)
    ok = append_message(c, &t, tail->messages->pdata[m], c->marks->len + m == 0, error);
  if (ok && generation)
    ok = append_segment(c, &t, vf_chat_template_generation_prompt, strlen(vf_chat_template_generation_prompt),
                        g_ptr_array_new(), error);
  if (!ok) {
    tokens_clear(&t);
    return NULL;
  }
  VfPrompt *p = g_new0(VfPrompt, 1);
  p->n = t.ids->len;
  p->ids = g_new(int32_t, MAX(p->n, 1));
  memcpy(p->ids, t.ids->data, (size_t)p->n * sizeof(int32_t));
  p->positions = g_new(int32_t, 3 * (size_t)MAX(p->n, 1));
  for (int k = 0; k < 3; k++)
    memcpy(p->positions + (size_t)k * p->n, t.positions[k]->data, (size_t)p->n * sizeof(int32_t));
  p->delta = t.next_position - (int32_t)p->n;
  p->items = g_ptr_array_ref(t.items);
  p->text_len = t.text->len;
  p->text = g_memdup2(t.text->str, t.text->len + 1);
  tokens_clear(&t);
  return p;
}

VfPrompt *
vf_prompt_build(VfChat *chat, VfTokenizer *tok, const VfConfig *config, VfChatTemplateFlags flags,
                const char *base_dir, VfIdMapFunc map, void *map_user, GError **error)
{
  g_autoptr(VfPromptCache) cache = vf_prompt_cache_new(tok, config, flags, base_dir, map, map_user);
  if (!vf_prompt_cache_sync(cache, chat, error))
    return NULL;
  return vf_prompt_cache_build(cache, NULL, (flags & VF_CHAT_TEMPLATE_GENERATION_PROMPT) != 0, error);
}
