/* From a conversation to expanded token ids and M-RoPE positions. */
#define G_LOG_DOMAIN "vf-prompt"

#include "vf_prompt.h"

#include <string.h>

static void
item_free(gpointer p)
{
  VfPromptItem *it = p;
  g_free(it->source);
  g_strfreev(it->frames);
  vf_video_plan_free(it->video);
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
      VfPromptItem *it = g_new0(VfPromptItem, 1);
      it->part = part;
      it->is_video = part->kind == VF_CHAT_PART_VIDEO;
      it->index = it->is_video ? ++n_videos : ++n_images;
      g_ptr_array_add(p->items, it);
      const char *label = it->is_video ? "Video" : "Picture";
      if (it->is_video && part->frames) {
        guint n = g_strv_length(part->frames);
        it->frames = g_new0(char *, n + 1);
        for (guint f = 0; f < n; f++)
          it->frames[f] = resolve(part->frames[f], base_dir);
        it->video = vf_video_plan_frame_list((const char *const *)it->frames, &part->options, &proc, error);
      } else if (!part->source) {
        g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_MALFORMED, "%s %u names no file", label, it->index);
        return NULL;
      } else if (it->is_video) {
        it->source = resolve(part->source, base_dir);
        it->video = vf_video_plan_source(it->source, &part->options, &proc, TRUE, NULL, error);
      } else {
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
      if (it->is_video && !it->video)
        return NULL;
      it->grid = it->is_video ? it->video->grid : it->plan.grid;
      it->n_tokens = it->is_video ? it->video->n_tokens : it->plan.n_tokens;
    }
  }

  p->text = vf_chat_template_render(chat, flags, &p->text_len);
  size_t n_raw = 0;
  g_autofree int32_t *raw = vf_tokenizer_encode_len(tok, p->text, p->text_len, &n_raw);
  if (map)
    map(raw, n_raw, map_user);

  /* Expand each pad to its item's token count: image pads take the images in order, video pads the videos. */
  uint64_t total = n_raw;
  for (guint i = 0; i < p->items->len; i++)
    total += ((VfPromptItem *)p->items->pdata[i])->n_tokens - 1;
  p->ids = g_new(int32_t, total ? total : 1);
  uint32_t at = 0;
  guint next[2] = {0, 0}; /* next image, next video: positions in p->items */
  for (size_t i = 0; i < n_raw; i++) {
    gboolean is_video = raw[i] == config->video_pad_id;
    if (raw[i] != config->image_pad_id && !is_video) {
      p->ids[at++] = raw[i];
      continue;
    }
    while (next[is_video] < p->items->len && ((VfPromptItem *)p->items->pdata[next[is_video]])->is_video != is_video)
      next[is_video]++;
    if (next[is_video] >= p->items->len) {
      g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_MALFORMED,
                  "the prompt has more %s placeholders than the conversation has %s (is \"%s\" written in a "
                  "message?)",
                  is_video ? "video" : "image", is_video ? "videos" : "pictures",
                  is_video ? "<|video_pad|>" : "<|image_pad|>");
      return NULL;
    }
    VfPromptItem *it = p->items->pdata[next[is_video]++];
    it->row = at;
    for (uint32_t k = 0; k < it->n_tokens; k++)
      p->ids[at++] = raw[i];
  }
  p->n = at;

  g_autofree VfGrid *image_grids = g_new(VfGrid, p->items->len + 1);
  g_autofree VfGrid *video_grids = g_new(VfGrid, p->items->len + 1);
  uint32_t ni = 0, nv = 0;
  for (guint i = 0; i < p->items->len; i++) {
    const VfPromptItem *it = p->items->pdata[i];
    if (it->is_video)
      video_grids[nv++] = it->grid;
    else
      image_grids[ni++] = it->grid;
  }
  uint32_t used_images = 0, used_videos = 0;
  p->positions = g_new(int32_t, 3 * (size_t)MAX(p->n, 1));
  if (!vf_positions_compute(config, p->ids, p->n, image_grids, ni, video_grids, nv, p->positions, &p->delta,
                            &used_images, &used_videos, error))
    return NULL;
  if (used_images != ni || used_videos != nv) {
    g_set_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_MALFORMED,
                "the prompt has placeholders for %u of %u pictures and %u of %u videos", used_images, ni,
                used_videos, nv);
    return NULL;
  }
  return g_steal_pointer(&p);
}
