/* What a video becomes, from its size, frame count and frame rate alone (spec §4.2, §4.3, §4.5, §4.6):
 * which frames are sampled, the size they are resized to, the grid and the number of visual tokens. No pixel is
 * decoded here, so the UI can show the token cost of a video before any decoding.
 *
 * Video files (qwen-vl-utils 0.0.8 `smart_nframes` + `fetch_video`, torchvision reader):
 *
 *   n        = round_even(nframes)                                            with "nframes"
 *            = round_even(clamp(total / video_fps · fps, ceil_even(min_frames), floor_even(max_frames)))
 *                                                          otherwise (fps 2, min_frames 4, max_frames min(768, total))
 *   index[i] = round_half_even(float32 linspace(0, total − 1, n)[i])
 *   budget   = max(min(VIDEO_MAX_PIXELS, total_pixels / n · 2), int(min_pixels · 1.05))  unless max_pixels is given
 *   size     = smart_resize(h, w, 28, min_pixels, budget)       or smart_resize(resized_h, resized_w) with image limits
 *   then the processor's own smart_resize of that size (its limits; normally the identity, spec §3.5)
 *
 * Frame lists (each item an image): every frame goes through the image path of qwen-vl-utils (image limits);
 * the list is padded to an even length with copies of the last frame; the processor resizes every frame to
 * smart_resize(first frame's size) with its limits.
 *
 * grid = (n / 2, h / 14, w / 14); visual tokens = grid.t · grid.h · grid.w / 4. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "vf_chat.h" /* VfMediaOptions */
#include "vf_preprocess.h"

#define VF_VIDEO_ERROR (vf_video_error_quark())
GQuark vf_video_error_quark(void);

typedef enum {
  VF_VIDEO_ERROR_NOT_FOUND,         /* the file cannot be read */
  VF_VIDEO_ERROR_EMPTY,             /* zero bytes */
  VF_VIDEO_ERROR_UNKNOWN_FORMAT,    /* not a container FFmpeg recognises */
  VF_VIDEO_ERROR_NO_VIDEO,          /* a container without a video stream (audio only, ...) */
  VF_VIDEO_ERROR_UNSUPPORTED_CODEC, /* this FFmpeg has no decoder for the stream */
  VF_VIDEO_ERROR_CORRUPT,           /* the demuxer or decoder rejected the data */
  VF_VIDEO_ERROR_TOO_FEW_FRAMES,    /* fewer frames than the sampling needs (at least 2) */
  VF_VIDEO_ERROR_BAD_OPTIONS,       /* fps and nframes together, an unknown frame rate with fps sampling, ... */
  VF_VIDEO_ERROR_UNSUPPORTED,       /* http(s) sources */
  VF_VIDEO_ERROR_NO_MEMORY,
} VfVideoError;

/* qwen-vl-utils 0.0.8 constants. */
#define VF_VIDEO_FRAME_FACTOR 2
#define VF_VIDEO_FPS 2.0
#define VF_VIDEO_MIN_FRAMES 4
#define VF_VIDEO_MAX_FRAMES 768
#define VF_VIDEO_MIN_PIXELS 100352u     /* 128 · 28 · 28 */
#define VF_VIDEO_MAX_PIXELS 602112u     /* 768 · 28 · 28 */
#define VF_VIDEO_TOTAL_PIXELS 19267584u /* 24576 · 28 · 28 */

/* The number of frames sampled from a video file of `total` frames at `video_fps` (spec §4.2). Errors
 * (VF_VIDEO_ERROR_BAD_OPTIONS, _TOO_FEW_FRAMES): fps and nframes both given, fps sampling with an unknown
 * frame rate (video_fps ≤ 0), or a result outside [2, total], e.g. a video of fewer than 2 frames. */
gboolean vf_video_frame_count(const VfMediaOptions *options, uint64_t total, double video_fps, uint32_t *n,
                              GError **error);

/* indices [n] = round_half_even(linspace(0, total − 1, n)) with torch's float32 CPU linspace: step =
 * (float)(total − 1) / (float)(n − 1); element i < n/2 is step·i, the others (total − 1) − step·(n − 1 − i).
 * (torch builds that vectorise the linspace kernel compute blocks of 8 or 16 as base + j·step, which moves an
 * index by one when a value lies within an ulp of a half-integer; this follows the scalar definition.) */
void vf_video_frame_indices(uint64_t total, uint32_t n, uint32_t *indices);

/* The per-frame size qwen-vl-utils resizes `n` sampled frames of height × width to (spec §4.3); *budget gets
 * the max_pixels it used. */
gboolean vf_video_frame_size(const VfMediaOptions *options, uint32_t height, uint32_t width, uint32_t n,
                             double *budget, uint32_t *out_height, uint32_t *out_width, GError **error);

/* The image options a frame-list item is fetched with (spec §4.5): the element's min/max pixels and resized
 * size with the image defaults; fps, frame counts and total_pixels do not apply. */
VfImageOptions vf_video_frame_list_image_options(const VfMediaOptions *options);

typedef enum {
  VF_VIDEO_SOURCE_FILE,
  VF_VIDEO_SOURCE_FRAME_LIST,
} VfVideoSourceKind;

typedef struct {
  VfVideoSourceKind kind;
  uint32_t width, height;  /* decoded frame size (lists: of the first frame) */
  uint64_t total_frames;   /* frames in the file, or items in the list */
  gboolean total_estimated; /* files: the count is the header's estimate (duration · fps), not a count */
  double video_fps;        /* files: the average frame rate sampled with (0 for lists or when unknown) */
  uint32_t n_frames;       /* T: frames handed to the processor (even) */
  uint32_t *frame_indices; /* [n_frames]: frame numbers in the file, or list items (the last one repeated) */
  double budget;           /* files: qwen-vl-utils' max_pixels per frame */
  uint32_t fetch_width, fetch_height; /* after qwen-vl-utils' resize (lists: of the first frame) */
  uint32_t out_width, out_height;     /* after the processor's smart_resize: what is patchified */
  VfGrid grid;                        /* (n_frames / 2, out_height / 14, out_width / 14) */
  uint32_t n_patches;                 /* rows of pixel_values_videos: grid.t · grid.h · grid.w */
  uint32_t n_tokens;                  /* <|video_pad|> tokens in the LLM: n_patches / 4 */
} VfVideoPlan;

/* The plan of a video file of `total` frames of width × height at `video_fps`. options may be NULL. */
VfVideoPlan *vf_video_plan_new(uint32_t width, uint32_t height, uint64_t total, double video_fps,
                               const VfMediaOptions *options, const VfImageProcessorConfig *config, GError **error);
/* The plan of a list of `n_items` images whose first one is width × height. */
VfVideoPlan *vf_video_plan_new_for_list(uint32_t width, uint32_t height, uint32_t n_items,
                                        const VfMediaOptions *options, const VfImageProcessorConfig *config,
                                        GError **error);
VfVideoPlan *vf_video_plan_copy(const VfVideoPlan *plan);
void vf_video_plan_free(VfVideoPlan *plan);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfVideoPlan, vf_video_plan_free)
