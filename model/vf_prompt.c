/* From a conversation to expanded token ids and M-RoPE positions. */
#define G_LOG_DOMAIN "vf-prompt"

#include "vf_prompt.h"

#include <string.h>

static void
item_free(gpointer p)
{
  VfPromptItem *it = p;
  g_free(it->source);
  g_free(it);
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

static char *
resolve(const char *source, const char *base_dir)
{
  if (!base_dir || g_path_is_absolute(source) || g_str_has_prefix(source, "file://") ||
      g_str_has_prefix(source, "data:") || strstr(source, "://"))
    return g_strdup(source);
  return g_build_filename(base_dir, source, NULL);
}

VfPrompt *
vf_prompt_build(const VfChat *chat, VfTokenizer *tok, const VfConfig *config, VfChatTemplateFlags flags,
                const char *base_dir, VfIdMapFunc map, void *map_user, GError **error)
{
  g_autoptr(VfPrompt) p = g_new0(VfPrompt, 1);
  p->items = g_ptr_array_new_with_free_func(item_free);
  VfImageProcessorConfig proc;
  vf_prompt_processor_config(config, &proc);

  /* The media items in conversation order, with their grids from the headers. */
  uint32_t n_images = 0, n_videos = 0;
  for (guint m = 0; m < chat->messages->len; m++) {
    const VfChatMessage *msg = chat->messages->pdata[m];
    for (guint k = 0; k < msg->parts->len; k++) {
      const VfChatPart *part = msg->parts->pdata[k];
      if (part->kind == VF_CHAT_PART_TEXT)
        continue;
      if (part->kind == VF_CHAT_PART_VIDEO) {
        g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_UNSUPPORTED, "Video %u: this build cannot read videos yet",
                    ++n_videos);
        return NULL;
      }
      VfPromptItem *it = g_new0(VfPromptItem, 1);
      it->part = part;
      it->index = ++n_images;
      g_ptr_array_add(p->items, it);
      if (!part->source) {
        g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_MALFORMED, "Picture %u names no image", it->index);
        return NULL;
      }
      it->source = resolve(part->source, base_dir);
      it->options = (VfImageOptions){
        .min_pixels = part->options.min_pixels,
        .max_pixels = part->options.max_pixels,
        .resized_height = part->options.resized_height,
        .resized_width = part->options.resized_width,
      };
      if (!vf_image_plan_source(it->source, &it->options, &proc, &it->plan, error))
        return NULL;
    }
  }

  p->text = vf_chat_template_render(chat, flags);
  size_t n_raw = 0;
  g_autofree int32_t *raw = vf_tokenizer_encode(tok, p->text, &n_raw);
  if (map)
    map(raw, n_raw, map_user);

  /* Expand each pad to its item's token count. */
  uint64_t total = n_raw;
  for (guint i = 0; i < p->items->len; i++)
    total += ((VfPromptItem *)p->items->pdata[i])->plan.n_tokens - 1;
  p->ids = g_new(int32_t, total ? total : 1);
  uint32_t at = 0, next_item = 0;
  for (size_t i = 0; i < n_raw; i++) {
    if (raw[i] != config->image_pad_id) {
      p->ids[at++] = raw[i];
      continue;
    }
    if (next_item >= p->items->len) {
      g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_MALFORMED,
                  "the prompt has more image placeholders than the conversation has pictures "
                  "(is \"<|image_pad|>\" written in a message?)");
      return NULL;
    }
    VfPromptItem *it = p->items->pdata[next_item++];
    it->row = at;
    for (uint32_t k = 0; k < it->plan.n_tokens; k++)
      p->ids[at++] = config->image_pad_id;
  }
  if (next_item != p->items->len) {
    g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_MALFORMED,
                "the prompt has fewer image placeholders (%u) than pictures (%u)", next_item, p->items->len);
    return NULL;
  }
  p->n = at;

  g_autofree VfGrid *grids = g_new(VfGrid, p->items->len + 1);
  for (guint i = 0; i < p->items->len; i++)
    grids[i] = ((VfPromptItem *)p->items->pdata[i])->plan.grid;
  p->positions = g_new(int32_t, 3 * (size_t)MAX(p->n, 1));
  if (!vf_positions_compute(config, p->ids, p->n, grids, p->items->len, NULL, 0, p->positions, &p->delta, NULL,
                            NULL, error))
    return NULL;
  return g_steal_pointer(&p);
}
