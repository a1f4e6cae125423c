/* Video inputs for Qwen2-VL on the CPU, exactly as the reference pipeline (qwen-vl-utils `fetch_video` with the
 * torchvision reader + transformers `Qwen2VLImageProcessor(videos=...)`, spec §4):
 *
 *   file ──header──► plan (vf_video_plan.h: sampled frame numbers, size, grid, tokens)
 *        ──count (demux only)──► exact frame list
 *        ──decode, stream──► for each sampled frame only: RGB24 ─► torchvision bicubic to the qvu size
 *                             (─► Pillow bicubic to the processor size when that differs) ─► keep this small frame
 *        ──as each pair of frames completes──► normalise + patchify one temporal slice of pixel_values
 *
 *   frame list (images) ──► per item: decode, Pillow bicubic to its own qvu size, then to the first frame's
 *                            processor size ─► pad to an even count with the last frame ─► patchify
 *
 * Memory: a decoded frame exists at full size only while it is converted and resized (one RGB buffer, one
 * float buffer); sampled frames are kept at the target size, and only until their temporal pair is patchified
 * unless the caller keeps them (VF_VIDEO_KEEP_FRAMES). pixel_values_videos [T/2 · h/14 · w/14, 1176] f32 is the
 * one large allocation: 12 bytes per pixel of each sampled frame, four times the resized frames themselves.
 *
 * Sampling from a file needs its frame count. A container's header may lie (a truncated mp4 whose index lists
 * frames that are not there) or have none (mkv, webm): the header plan is then an estimate, and decoding counts
 * the frames by demuxing first. If frames still fail to come out of the decoder, it counts by decoding and plans
 * again. The final plan is in VfVideoInput.plan; VfVideoStats says which count was used. */
#pragma once

#include <gio/gio.h>
#include <glib.h>
#include <stdint.h>

#include "vf_chat.h"
#include "vf_preprocess.h"
#include "vf_video_decode.h"
#include "vf_video_plan.h"

/* Frames done / frames to do (sampled frames, or list items), after each frame. */
typedef void (*VfVideoProgressFunc)(uint32_t done, uint32_t total, void *user);

typedef enum {
  VF_VIDEO_KEEP_FRAMES = 1 << 0,  /* keep the resized frames in VfVideoInput.frames */
  VF_VIDEO_NO_PIXELS = 1 << 1,    /* build no pixel_values (with KEEP_FRAMES: vf_video_input_patchify later) */
} VfVideoFlags;

typedef struct {
  VfVideoFlags flags;
  VfVideoProgressFunc progress; /* may be NULL */
  void *progress_user;
  GCancellable *cancellable;    /* may be NULL; checked between packets and frames: G_IO_ERROR_CANCELLED */
} VfVideoRunOptions;

typedef struct {
  VfVideoCountSource count_source; /* how the frames were counted (files; meaningless for frame lists) */
  uint32_t decode_passes;          /* passes that decoded (1 normally; 2 after a recount by decoding) */
  VfVideoReadStats read;           /* packets read, frames decoded, seeks: of the last pass */
  double seconds;                  /* wall time */
} VfVideoStats;

typedef struct {
  VfVideoPlan *plan;
  uint8_t *frames;      /* [plan->n_frames, out_height, out_width, 3] RGB8, or NULL without VF_VIDEO_KEEP_FRAMES */
  float *pixel_values;  /* [plan->n_patches, 1176] f32 (pixel_values_videos), or NULL with VF_VIDEO_NO_PIXELS */
  VfVideoStats stats;
} VfVideoInput;

/* The header of a video file (no decoding; the frame count may be an estimate, see info->count_source). */
gboolean vf_video_probe(const char *source, VfVideoInfo *info, GError **error);

/* The plan of a video file. With count_frames FALSE only the header is read (fast; the frame count, and so the
 * plan, may be an estimate: plan->total_estimated); with TRUE the file is demuxed once to count its frames, which
 * gives the plan decoding will use for every healthy file. options may be NULL. */
VfVideoPlan *vf_video_plan_source(const char *source, const VfMediaOptions *options,
                                  const VfImageProcessorConfig *config, gboolean count_frames,
                                  GCancellable *cancellable, GError **error);
/* The plan of a video given as a NULL-terminated list of image sources (their headers only). */
VfVideoPlan *vf_video_plan_frame_list(const char *const *frames, const VfMediaOptions *options,
                                      const VfImageProcessorConfig *config, GError **error);

/* The whole pipeline for a video file (path or file://). options and run may be NULL. */
VfVideoInput *vf_video_input_new(const char *source, const VfMediaOptions *options,
                                 const VfImageProcessorConfig *config, const VfVideoRunOptions *run, GError **error);
/* The same for a file already opened (its frames counted once: a counted file is not demuxed again). */
VfVideoInput *vf_video_input_new_from_file(VfVideoFile *file, const VfMediaOptions *options,
                                           const VfImageProcessorConfig *config, const VfVideoRunOptions *run,
                                           GError **error);
/* The whole pipeline for a frame list (NULL-terminated image sources; each as vf_image.h reads it). */
VfVideoInput *vf_video_input_new_from_frames(const char *const *frames, const VfMediaOptions *options,
                                             const VfImageProcessorConfig *config, const VfVideoRunOptions *run,
                                             GError **error);
void vf_video_input_free(VfVideoInput *input);

/* Patch rows of temporal slices [first_slice, first_slice + n_slices) from the kept frames (VF_VIDEO_KEEP_FRAMES):
 * rows [n_slices · grid.h · grid.w, 1176] f32, the same rows pixel_values holds for those slices. Lets a caller
 * feed a long video to the vision tower slice by slice without the whole f32 array. */
void vf_video_input_patchify(const VfVideoInput *input, const VfImageProcessorConfig *config, uint32_t first_slice,
                             uint32_t n_slices, float *rows);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfVideoInput, vf_video_input_free)
