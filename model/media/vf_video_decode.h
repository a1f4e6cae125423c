/* Video files through libavformat/libavcodec (FFmpeg 5.1, send/receive API), read the way the reference reads
 * them: torchvision.io.read_video with the PyAV backend (spec §4.1–4.2).
 *
 * What the reference calls the frames of a video: every frame the decoder returns for the first video stream,
 * keyed by its pts, sorted by pts, one frame per pts (a later frame with the same pts replaces the earlier one),
 * pts ≥ 0. Frame i is the i-th of that list; `total` is its length; the frame rate is the stream's average
 * frame rate (AVStream.avg_frame_rate, PyAV's `average_rate`).
 *
 * Colour: frames are converted to RGB24 by libswscale with SWS_BILINEAR and swscale's default colourspace
 * (BT.601, range from the pixel format) into a buffer whose rows are 16-byte aligned: exactly what PyAV 10's
 * `frame.to_rgb()` does, so the RGB matches the reference bit for bit with the same FFmpeg (the frame's own
 * colourspace tag is ignored, as PyAV 10 ignores it). Rotation metadata and the sample aspect ratio are ignored
 * too: frames are used as stored, like the reference.
 *
 * Three steps, each reopening the file so that no decoder state outlives a call:
 *
 *   open    the header: size, frame rate, the container's frame count (or an estimate from the duration)
 *   count   demux only, no decoding: one frame per video packet (without the discard flag), keyed by its pts;
 *           a demuxer error (a truncated file) ends the list. This is the frame list of the reference for any
 *           file whose packets each decode to one frame, and tells where the keyframes are.
 *   read    decode the wanted frames: packets of frames before the next wanted frame's keyframe are skipped by
 *           seeking there (av_seek_frame to the keyframe, decoder flushed) whenever that keyframe lies after
 *           the read position; frames are recognised by their pts, so a seek that lands early costs only time.
 *
 * When a wanted frame never comes out of the decoder, or a packet fails to decode (a damaged or truncated file),
 * vf_video_file_count_decoded() decodes the whole file once and makes the list from the frames it really
 * returned; reads after it run sequentially. Files whose packets carry no pts are numbered by output order.
 * (Where torchvision stops at the first decode error, this skips the failed frame and keeps the rest.) */
#pragma once

#include <gio/gio.h>
#include <glib.h>
#include <stdint.h>

#include "vf_video_plan.h"

typedef enum {
  VF_VIDEO_RATE_AVERAGE,  /* the stream's average frame rate: what the reference samples with */
  VF_VIDEO_RATE_NOMINAL,  /* no average in the file: the nominal rate (r_frame_rate) */
  VF_VIDEO_RATE_DURATION, /* neither: counted frames / duration */
  VF_VIDEO_RATE_UNKNOWN,  /* fps 0: only nframes sampling works */
} VfVideoRateSource;

typedef enum {
  VF_VIDEO_COUNT_HEADER,   /* the container's frame count (its index), not yet checked */
  VF_VIDEO_COUNT_DURATION, /* estimated from duration · fps */
  VF_VIDEO_COUNT_UNKNOWN,  /* n_frames 0 */
  VF_VIDEO_COUNT_PACKETS,  /* counted by demuxing: exact for healthy files */
  VF_VIDEO_COUNT_DECODED,  /* counted by decoding everything: exact */
} VfVideoCountSource;

typedef struct {
  uint32_t width, height;        /* frame size */
  double fps;                    /* frames per second used for sampling; 0 when unknown */
  VfVideoRateSource fps_source;
  uint64_t n_frames;             /* see count_source */
  VfVideoCountSource count_source;
  double duration;               /* seconds; 0 when unknown */
  char container[32], codec[32]; /* FFmpeg's short names, for messages and the bench */
} VfVideoInfo;

typedef struct VfVideoFile VfVideoFile;

/* Resolves the source (a path, or file://path; http(s) is refused) and reads the header. */
VfVideoFile *vf_video_file_open(const char *source, GError **error);
void vf_video_file_free(VfVideoFile *file);

const VfVideoInfo *vf_video_file_info(const VfVideoFile *file);
/* The path, as messages name the file. */
const char *vf_video_file_name(const VfVideoFile *file);

/* The demux-only count (see above); afterwards info.n_frames is exact and info.count_source PACKETS. Does
 * nothing when the frames were already counted. */
gboolean vf_video_file_count_packets(VfVideoFile *file, GCancellable *cancellable, GError **error);
/* Decodes every frame to count them (see above); info.count_source becomes DECODED. */
gboolean vf_video_file_count_decoded(VfVideoFile *file, GCancellable *cancellable, GError **error);

/* Called once per wanted slot with the RGB24 frame [height, width, 3], rows `stride` bytes apart (valid during
 * the call only). Returning FALSE (with the error set) stops the read. */
typedef gboolean (*VfVideoFrameFunc)(uint32_t slot, const uint8_t *rgb, size_t stride, void *user, GError **error);

typedef struct {
  uint32_t packets;  /* video packets read */
  uint32_t decoded;  /* frames out of the decoder */
  uint32_t seeks;    /* forward seeks */
} VfVideoReadStats;

/* Decodes frames indices[0..n) (frame numbers of the counted list, ascending, repeats allowed) and calls `fn`
 * for each slot. Needs a count first. *complete is FALSE when the list may not be what decodes: a wanted frame
 * never came out, or (with a demuxed count) a packet failed to decode. The caller then counts decoded frames and
 * plans again; that is not an error. stats may be NULL. */
gboolean vf_video_file_read_frames(VfVideoFile *file, const uint32_t *indices, uint32_t n, VfVideoFrameFunc fn,
                                   void *user, GCancellable *cancellable, gboolean *complete,
                                   VfVideoReadStats *stats, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfVideoFile, vf_video_file_free)
