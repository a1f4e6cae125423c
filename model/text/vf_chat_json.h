/* JSON messages ⇄ VfChat.
 *
 * Two readers over one syntax of messages, each [{"role": …, "content": string | [part, …]}, …]:
 *
 *   - the template's (vf_chat_from_json): the golden cases and the chat-template tests. An item counts as an
 *     image when its type is "image" or it has an "image" or "image_url" key, else as a video when its type is
 *     "video" or it has a "video" key, else as text when it has a "text" key; other items render nothing and
 *     are dropped — exactly the tests of the chat template (spec §6.1, §6.3);
 *   - the strict one (vf_chat_json_read): what users and clients send (`chat --messages`, the server). Every
 *     part has a "type", and an unknown type, a missing field or a wrong type is an error naming the message
 *     and part (both counted from 0). The types:
 *
 *       {"type": "text", "text": "What is this?"}
 *       {"type": "image", "image": "a.png" | "file://…" | "http(s)://…" | "data:image/…;base64,…",
 *        "min_pixels": N, "max_pixels": N, "resized_height": N, "resized_width": N}        (qwen-vl-utils)
 *       {"type": "image_url", "image_url": {"url": "data:…" | "http(s)://…" | "file://…", "detail": …}} (OpenAI)
 *       {"type": "video", "video": "clip.mp4" | ["f0.png", "f1.png", …],
 *        "fps": F | "nframes": N, "min_pixels": N, "max_pixels": N, "total_pixels": N,
 *        "min_frames": N, "max_frames": N, "resized_height": N, "resized_width": N}        (qwen-vl-utils)
 *       {"type": "video_url", "video_url": {"url": "clip.mp4" | "file://…" | "http(s)://…"}}      (vLLM)
 *
 *     Roles are "system", "user" and "assistant". Members a part's type does not name (OpenAI's "detail")
 *     are ignored. A relative path (not a URL, data: URI or absolute path) is joined to the caller's base
 *     folder, so the VfChat holds sources that open from anywhere.
 *
 * The writer gives the reference's form back: a lone text part as a content string, others as parts of types
 * text, image and video with the options that are set. Text may hold NUL bytes (an answer can): they are
 * written as \u0000. (json-glib's strings end at NUL, so a reader keeps the text before one.) */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "vf_chat.h"

/* The template's reader (above). Errors say which message/item and field is wrong. */
VfChat *vf_chat_from_json(JsonNode *messages, GError **error);
VfChat *vf_chat_from_json_data(const char *json, GError **error);

/* The strict reader: `messages` is the array. base_dir: folder for relative paths (NULL: kept as given).
 * Errors are VF_CHAT_ERROR_MALFORMED. */
VfChat *vf_chat_json_read(JsonNode *messages, const char *base_dir, GError **error);
/* A file holding the array, or an object with a "messages" member (an OpenAI request body, a golden case);
 * relative paths are joined to the file's folder. */
VfChat *vf_chat_json_read_file(const char *path, GError **error);

/* The conversation in the reference's form, as UTF-8 JSON text (one line); `len` (may be NULL) gets its bytes. */
char *vf_chat_json_write(const VfChat *chat, gsize *len);

/* Appends `len` bytes of text as a JSON string literal: quotes, backslashes and control characters escaped
 * (NUL as \u0000), the rest (valid UTF-8) as is. */
void vf_json_append_string(GString *out, const char *text, size_t len);
