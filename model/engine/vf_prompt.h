/* VfPrompt: a conversation turned into what the language model reads (spec §6, §8.4):
 *
 *   render the chat template → tokenize → expand every <|image_pad|> / <|video_pad|> to its item's token
 *   count (t·h·w / 4) → M-RoPE positions with the items' grids
 *
 * A prompt is built a message at a time (VfPromptCache): each message is rendered, tokenized and expanded on its
 * own and its positions continue from the previous message's largest position + 1 — the same ids and positions
 * as the whole conversation at once, because every message starts and ends at a special token (where the
 * tokenizer always splits) and M-RoPE positions only depend on what came before. So a conversation keeps the
 * tokens of its earlier turns, and counting a draft costs only the draft.
 *
 * Media parts are read through their VfMediaItem (vf_media_item.h), which a part gets the first time a prompt
 * names it: the grid of a picture comes from its header alone, a video file's from its header and one demux
 * counting its frames, a frame list's from its images' headers — once per item, not per build. So the token
 * count of a prompt is known before any decoding or GPU work. */
#pragma once

#include <glib.h>

#include "vf_chat.h"
#include "vf_chat_template.h"
#include "vf_config.h"
#include "vf_media_item.h"
#include "vf_positions.h"
#include "vf_preprocess.h"
#include "vf_tokenizer.h"
#include "vf_video.h"

typedef struct {
  const VfChatPart *part;   /* borrowed from the chat */
  VfMediaItem *media;       /* the part's item (a reference) */
  gboolean is_video;
  uint32_t index;           /* Picture N / Video N, from 1 (each kind counted on its own) */
  char *source;             /* the resolved source (relative paths joined to the base folder); NULL for a frame list */
  char **frames;            /* a video given as images: the resolved frame sources (NULL-terminated), else NULL */
  VfImageOptions options;   /* images: per-item settings (videos use part->options) */
  VfImagePlan plan;         /* images: sizes, grid and token count */
  VfVideoPlan *video;       /* videos: sampled frames, sizes, grid and token count */
  VfGrid grid;              /* either kind */
  uint32_t n_tokens;        /* pad tokens of the item: grid.t · grid.h · grid.w / 4 */
  uint32_t row;             /* first pad token of the item in the expanded ids */
} VfPromptItem;

typedef struct {
  int32_t *ids;       /* [n] expanded token ids */
  uint32_t n;
  int32_t *positions; /* [3, n] stream-major */
  int32_t delta;      /* rope delta: decode position = cache length + delta */
  GPtrArray *items;   /* VfPromptItem *, in prompt order */
  char *text;         /* the rendered template (single pads) */
  size_t text_len;    /* its bytes (an earlier answer may hold NUL bytes) */
} VfPrompt;

/* Maps tokenizer ids to the model's ids in place (test models with a small synthetic vocabulary). */
typedef void (*VfIdMapFunc)(int32_t *ids, size_t n, void *user);

/* The whole conversation at once. base_dir: folder for relative media paths (NULL: the current folder). map:
 * NULL for real checkpoints. The chat's media parts get their VfMediaItem. */
VfPrompt *vf_prompt_build(VfChat *chat, VfTokenizer *tok, const VfConfig *config, VfChatTemplateFlags flags,
                          const char *base_dir, VfIdMapFunc map, void *map_user, GError **error);
void vf_prompt_free(VfPrompt *prompt);

/* The tokens of a conversation's first messages, kept between builds. `tok`, `config` must outlive it; flags:
 * VF_CHAT_TEMPLATE_VISION_ID or 0 (the generation prompt is asked for per build). */
typedef struct VfPromptCache VfPromptCache;

VfPromptCache *vf_prompt_cache_new(VfTokenizer *tok, const VfConfig *config, VfChatTemplateFlags flags,
                                   const char *base_dir, VfIdMapFunc map, void *map_user);
void vf_prompt_cache_free(VfPromptCache *cache);
/* Whether the cache was made with these settings. */
gboolean vf_prompt_cache_fits(const VfPromptCache *cache, VfChatTemplateFlags flags, const char *base_dir);
/* Brings the cache to all of chat's messages: it keeps the longest run of leading messages it already holds
 * (the same VfChatMessage ids) and renders and tokenizes only the others. On failure it holds the messages
 * before the one that failed. */
gboolean vf_prompt_cache_sync(VfPromptCache *cache, VfChat *chat, GError **error);
/* Messages and expanded tokens the cache holds. */
guint vf_prompt_cache_messages(const VfPromptCache *cache);
uint32_t vf_prompt_cache_tokens(const VfPromptCache *cache);
/* The cached messages, then the messages of `tail` (a draft, not kept; may be NULL) numbered after them, then
 * with `generation` "<|im_start|>assistant\n". */
VfPrompt *vf_prompt_cache_build(VfPromptCache *cache, VfChat *tail, gboolean generation, GError **error);

/* The image-processor settings of a model (preprocessor_config.json). */
void vf_prompt_processor_config(const VfConfig *config, VfImageProcessorConfig *out);

/* The media item of a part, made from its source (resolved against base_dir) when it has none. */
VfMediaItem *vf_prompt_part_media(VfChatPart *part, const char *base_dir, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfPrompt, vf_prompt_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfPromptCache, vf_prompt_cache_free)
