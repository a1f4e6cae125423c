/* VfPrompt: a conversation turned into what the language model reads (spec §6, §8.4):
 *
 *   render the chat template → tokenize → expand every <|image_pad|> / <|video_pad|> to its item's token
 *   count (t·h·w / 4) → M-RoPE positions with the items' grids
 *
 * The grid of each image comes from its header alone (no pixels are decoded here); a video file's from its
 * header and a demux-only count of its frames (the count decoding will use); a frame list's from its images'
 * headers. So the token count of a prompt is known before any decoding or GPU work. */
#pragma once

#include <glib.h>

#include "vf_chat.h"
#include "vf_chat_template.h"
#include "vf_config.h"
#include "vf_positions.h"
#include "vf_preprocess.h"
#include "vf_tokenizer.h"
#include "vf_video.h"

typedef struct {
  const VfChatPart *part; /* borrowed from the chat */
  gboolean is_video;
  uint32_t index;         /* Picture N / Video N, from 1 (each kind counted on its own) */
  char *source;           /* the resolved source (relative paths joined to the base folder); NULL for a frame list */
  char **frames;          /* a video given as images: the resolved frame sources (NULL-terminated), else NULL */
  VfImageOptions options; /* images: per-item settings (videos use part->options) */
  VfImagePlan plan;       /* images: sizes, grid and token count */
  VfVideoPlan *video;     /* videos: sampled frames, sizes, grid and token count */
  VfGrid grid;            /* either kind */
  uint32_t n_tokens;      /* pad tokens of the item: grid.t · grid.h · grid.w / 4 */
  uint32_t row;           /* first pad token of the item in the expanded ids */
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

/* base_dir: folder for relative media paths (NULL: the current folder). map: NULL for real checkpoints. */
VfPrompt *vf_prompt_build(const VfChat *chat, VfTokenizer *tok, const VfConfig *config, VfChatTemplateFlags flags,
                          const char *base_dir, VfIdMapFunc map, void *map_user, GError **error);
void vf_prompt_free(VfPrompt *prompt);

/* The image-processor settings of a model (preprocessor_config.json). */
void vf_prompt_processor_config(const VfConfig *config, VfImageProcessorConfig *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfPrompt, vf_prompt_free)
