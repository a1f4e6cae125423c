/* A conversation: messages with a role and an ordered list of parts (text, image, video), as the engine,
 * the CLI and the UI hand it around. vf_chat_json.h reads and writes it in the JSON message form of the
 * Qwen2-VL examples and of the golden cases (spec §6.1, §6.3):
 *
 *   [{"role": "user", "content": [{"type": "image", "image": "a.png", "max_pixels": 12000},
 *                                 {"type": "text", "text": "What is this?"}]},
 *    {"role": "assistant", "content": "A cat."}]
 *
 * A string content is one text part (the template renders both forms identically). */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdint.h>

#define VF_CHAT_ERROR (vf_chat_error_quark())
GQuark vf_chat_error_quark(void);

typedef enum {
  VF_CHAT_ERROR_MALFORMED, /* not the message form above */
} VfChatError;

typedef enum {
  VF_CHAT_PART_TEXT,
  VF_CHAT_PART_IMAGE,
  VF_CHAT_PART_VIDEO,
} VfChatPartKind;

/* Per-item preprocessing settings of qwen-vl-utils (spec §3.3, §4.1); 0 means "not given, use the
 * default". */
typedef struct {
  uint64_t min_pixels, max_pixels;
  uint64_t total_pixels;                  /* videos: pixel budget over all frames */
  uint32_t resized_height, resized_width; /* both given: resize to about this size (rounded to 28) */
  double fps;                             /* video files: frames sampled per second */
  uint32_t nframes;                       /* video files: frames to sample (instead of fps) */
  uint32_t min_frames, max_frames;
} VfMediaOptions;

typedef struct {
  VfChatPartKind kind;
  char *text;             /* TEXT: UTF-8, rendered verbatim; may hold NUL bytes (an answer can) */
  size_t text_len;        /* TEXT: bytes of text */
  char *source;           /* IMAGE / VIDEO: path, file:// or http(s):// URL or data: URI; NULL for a video
                           * given as frames, or when the item named none */
  char **frames;          /* VIDEO given as a list of images (NULL-terminated), else NULL */
  VfMediaOptions options; /* IMAGE / VIDEO */
  /* IMAGE / VIDEO: the VfMediaItem (model/media/vf_media_item.h) that read this part's source, or NULL until
   * something reads it; it goes with the part from the drop to the vision encode and is unreferenced with it.
   * Opaque here: text/ knows no media. */
  gpointer media;
  GDestroyNotify media_unref;
} VfChatPart;

typedef struct {
  char *role;       /* "system", "user", "assistant", ... emitted as given */
  GPtrArray *parts; /* VfChatPart *, in order */
  uint64_t id;      /* unique in the process: a prompt cache knows the message it tokenized (parts are not
                     * changed once a turn has read the message) */
} VfChatMessage;

typedef struct {
  GPtrArray *messages; /* VfChatMessage *, in order */
} VfChat;

VfChat *vf_chat_new(void);
void vf_chat_free(VfChat *chat);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfChat, vf_chat_free)

VfChatMessage *vf_chat_append_message(VfChat *chat, const char *role);
/* Frees a message taken out of a chat (g_ptr_array_steal_index of chat->messages). */
void vf_chat_message_free(VfChatMessage *message);
VfChatPart *vf_chat_message_append_text(VfChatMessage *message, const char *text);
/* `len` bytes of text, NUL bytes included. */
VfChatPart *vf_chat_message_append_text_len(VfChatMessage *message, const char *text, size_t len);
VfChatPart *vf_chat_message_append_image(VfChatMessage *message, const char *source);
VfChatPart *vf_chat_message_append_video(VfChatMessage *message, const char *source);
/* `frames`: NULL-terminated list of image sources, copied. */
VfChatPart *vf_chat_message_append_video_frames(VfChatMessage *message, const char *const *frames);

/* The number the template gives the next picture (video) after *images pictures (*videos videos), advancing
 * that count, and its label: "Picture 3", "Video 1" (free with g_free). The one place Picture/Video N is
 * numbered — the template, the prompt's items and the window's chips all go through it. */
uint32_t vf_chat_media_number_next(VfChatPartKind kind, uint32_t *images, uint32_t *videos);
char *vf_chat_media_label(VfChatPartKind kind, uint32_t number);

/* Images and videos over the whole conversation (what Picture N / Video N count). */
void vf_chat_count_media(const VfChat *chat, uint32_t *n_images, uint32_t *n_videos);

/* `source` joined to base_dir when it is a relative path (not a URL, data: URI or absolute path) and base_dir
 * is given; else a copy. Free with g_free. */
char *vf_chat_resolve_source(const char *source, const char *base_dir);
