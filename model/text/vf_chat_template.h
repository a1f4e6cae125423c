/* The Qwen2-VL Instruct chat template (spec §6.1), implemented in C rather than by a Jinja interpreter:
 *
 *   <|im_start|>system\nYou are a helpful assistant.<|im_end|>\n      (only if message 0 is not "system")
 *   <|im_start|>{role}\n{parts}<|im_end|>\n                          (every message)
 *   <|im_start|>assistant\n                                          (VF_CHAT_TEMPLATE_GENERATION_PROMPT)
 *
 * where a text part is emitted verbatim, an image as [Picture N: ]<|vision_start|><|image_pad|><|vision_end|>
 * and a video as [Video N: ]<|vision_start|><|video_pad|><|vision_end|>; N counts images (videos) over the
 * whole conversation from 1, and the "Picture N: " prefixes appear only with VF_CHAT_TEMPLATE_VISION_ID.
 * Each pad stays single here; the caller expands it to the item's token count (spec §6.2). */
#pragma once

#include <glib.h>

#include "vf_chat.h"

typedef enum {
  VF_CHAT_TEMPLATE_GENERATION_PROMPT = 1 << 0, /* add_generation_prompt: end with "<|im_start|>assistant\n" */
  VF_CHAT_TEMPLATE_VISION_ID = 1 << 1,         /* add_vision_id: "Picture N: " / "Video N: " labels */
} VfChatTemplateFlags;

/* The official Qwen2-VL Instruct template text (chat_template.json), which vf_chat_template_render()
 * implements. */
extern const char vf_chat_template_qwen2_vl[];

/* The prompt text of `chat` (free with g_free) and, when `len` is not NULL, its bytes: text parts may hold
 * NUL bytes, so a caller that tokenizes the prompt must take the length. */
char *vf_chat_template_render(const VfChat *chat, VfChatTemplateFlags flags, size_t *len);
/* One message alone, appended to `out` (`first`: the conversation's first message, which gets the default system
 * message before it when it is not one); *images and *videos are the pictures and videos before it and are
 * advanced past its own, so that rendering every message in turn and then the generation prompt is
 * vf_chat_template_render(). This is where the prompt numbers Picture N / Video N. */
void vf_chat_template_render_message(GString *out, const VfChatMessage *message, gboolean first, uint32_t *images,
                                     uint32_t *videos, VfChatTemplateFlags flags);
/* "<|im_start|>assistant\n" */
extern const char vf_chat_template_generation_prompt[];

/* Compares the template a model folder ships (chat_template.jinja, else chat_template.json, else
 * tokenizer_config.json "chat_template") with vf_chat_template_qwen2_vl. Returns NULL when it is the same
 * (ignoring leading/trailing white space), else a one-line warning for the user (free with g_free): the
 * template differs, is missing, or cannot be read. */
char *vf_chat_template_check(const char *model_dir);
