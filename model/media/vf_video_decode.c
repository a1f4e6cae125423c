/* Video demuxing and decoding with FFmpeg, read as torchvision/PyAV read it. See vf_video_decode.h. */
#define G_LOG_DOMAIN "vf-video"

#include "vf_video_decode.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>

#include "vf_image.h" /* VF_IMAGE_MAX_PIXELS: the same limit for one frame */
#include "vf_media_stats.h"

#define NO_PACKET UINT32_MAX

/* A video packet of the counted list, in decode order. */
typedef struct {
  int64_t pts;     /* AV_NOPTS_VALUE when the packet has none */
  int64_t seek_ts; /* where av_seek_frame goes to reach this packet: its pts (else dts) */
  gboolean keyframe;
} Packet;

/* A frame of the video: frame i is frames[i]. */
typedef struct {
  int64_t key;     /* its pts, or its output position when the file has no pts */
  uint32_t packet; /* decode-order index of the packet carrying it; NO_PACKET after a decoded count */
} Frame;

struct VfVideoFile {
  char *path;
  VfVideoInfo info;
  int stream;       /* the video stream's index in the container */
  gboolean counted; /* frames[] holds the frame list */
  gboolean by_pts;  /* frames are recognised by pts; else by the order the decoder returns them */
  GArray *packets;  /* Packet, decode order (after count_packets) */
  GArray *frames;   /* Frame, ascending key */
  uint32_t *keyframe_at_or_before; /* [packets->len]: the last keyframe packet ≤ p, or NO_PACKET */
};

static const char *
av_error_text(int ret, char buf[AV_ERROR_MAX_STRING_SIZE])
{
  av_strerror(ret, buf, AV_ERROR_MAX_STRING_SIZE);
  return buf;
}

/* ---- opening ------------------------------------------------------------------------------------------ */

/* qwen-vl-utils' path forms: a file:// prefix is dropped (no %-unquoting); URLs are not read here. */
static char *
resolve_source(const char *source, GError **error)
{
  if (g_str_has_prefix(source, "http://") || g_str_has_prefix(source, "https://")) {
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_UNSUPPORTED,
                "%s: videos from http(s) URLs are not supported yet; download the file and attach it", source);
    return NULL;
  }
  const char *path = g_str_has_prefix(source, "file://") ? source + 7 : source;
  if (!*path) {
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_NOT_FOUND, "empty video path");
    return NULL;
  }
  GStatBuf st;
  if (g_stat(path, &st) != 0) {
    int e = errno;
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_NOT_FOUND, "%s: cannot open: %s", path, g_strerror(e));
    return NULL;
  }
  if (!S_ISREG(st.st_mode)) {
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_NOT_FOUND, "%s: not a regular file", path);
    return NULL;
  }
  if (st.st_size == 0) {
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_EMPTY, "%s: the file is empty (0 bytes)", path);
    return NULL;
  }
  return g_strdup(path);
}

/* Opens the container and picks its first video stream (torchvision reads streams.video[0]; cover art stored as
 * an attached picture is not a video). Every other stream is discarded, so the demuxer skips its data. */
static AVFormatContext *
open_container(const char *path, int *stream, GError **error)
{
  char why[AV_ERROR_MAX_STRING_SIZE];
  AVFormatContext *fmt = NULL;
  int ret = avformat_open_input(&fmt, path, NULL, NULL);
  if (ret < 0) {
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_UNKNOWN_FORMAT, "%s: not a video file FFmpeg can read (%s)",
                path, av_error_text(ret, why));
    return NULL;
  }
  ret = avformat_find_stream_info(fmt, NULL);
  if (ret < 0) {
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_CORRUPT, "%s: corrupt %s file: cannot read its streams (%s)",
                path, fmt->iformat->name, av_error_text(ret, why));
    avformat_close_input(&fmt);
    return NULL;
  }
  int found = -1;
  gboolean audio = FALSE;
  for (unsigned i = 0; i < fmt->nb_streams; i++) {
    const AVStream *st = fmt->streams[i];
    if (st->codecpar->codec_type == AVMEDIA_TYPE_AUDIO)
      audio = TRUE;
    if (found < 0 && st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO && !(st->disposition & AV_DISPOSITION_ATTACHED_PIC))
      found = (int)i;
  }
  if (found < 0) {
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_NO_VIDEO, "%s: the %s file has no video stream%s", path,
                fmt->iformat->name, audio ? " (only audio)" : "");
    avformat_close_input(&fmt);
    return NULL;
  }
  for (unsigned i = 0; i < fmt->nb_streams; i++)
    fmt->streams[i]->discard = (int)i == found ? AVDISCARD_DEFAULT : AVDISCARD_ALL;
  *stream = found;
  return fmt;
}

static double
stream_duration(const AVFormatContext *fmt, const AVStream *st)
{
  if (st->duration != AV_NOPTS_VALUE && st->duration > 0)
    return st->duration * av_q2d(st->time_base);
  if (fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0)
    return fmt->duration / (double)AV_TIME_BASE;
  return 0.0;
}

VfVideoFile *
vf_video_file_open(const char *source, GError **error)
{
  g_autofree char *path = resolve_source(source, error);
  if (!path)
    return NULL;
  int stream;
  AVFormatContext *fmt = open_container(path, &stream, error);
  if (!fmt)
    return NULL;
  const AVStream *st = fmt->streams[stream];
  const AVCodecParameters *par = st->codecpar;

  g_autoptr(VfVideoFile) file = g_new0(VfVideoFile, 1);
  file->path = g_steal_pointer(&path);
  file->stream = stream;
  VfVideoInfo *info = &file->info;
  g_strlcpy(info->container, fmt->iformat->name, sizeof info->container);
  g_strlcpy(info->codec, avcodec_get_name(par->codec_id), sizeof info->codec);
  info->width = par->width > 0 ? (uint32_t)par->width : 0;
  info->height = par->height > 0 ? (uint32_t)par->height : 0;
  info->duration = stream_duration(fmt, st);
  /* PyAV's average_rate is avg_frame_rate, or None (the reference then fails) when FFmpeg could not tell. */
  if (st->avg_frame_rate.num > 0 && st->avg_frame_rate.den > 0) {
    info->fps = av_q2d(st->avg_frame_rate);
    info->fps_source = VF_VIDEO_RATE_AVERAGE;
  } else if (st->r_frame_rate.num > 0 && st->r_frame_rate.den > 0) {
    info->fps = av_q2d(st->r_frame_rate);
    info->fps_source = VF_VIDEO_RATE_NOMINAL;
  } else {
    info->fps_source = VF_VIDEO_RATE_UNKNOWN;
  }
  if (st->nb_frames > 0) {
    info->n_frames = (uint64_t)st->nb_frames;
    info->count_source = VF_VIDEO_COUNT_HEADER;
  } else if (info->duration > 0 && info->fps > 0) {
    info->n_frames = (uint64_t)llround(info->duration * info->fps);
    info->count_source = VF_VIDEO_COUNT_DURATION;
  } else {
    info->count_source = VF_VIDEO_COUNT_UNKNOWN;
  }

  gboolean ok = FALSE;
  if (!avcodec_find_decoder(par->codec_id))
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_UNSUPPORTED_CODEC,
                "%s: this FFmpeg has no decoder for the video codec \"%s\"", file->path, info->codec);
  else if (info->width == 0 || info->height == 0)
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_CORRUPT, "%s: corrupt %s file: the video has no frame size",
                file->path, info->container);
  else if ((uint64_t)info->width * info->height > VF_IMAGE_MAX_PIXELS || info->width > VF_IMAGE_MAX_SIDE ||
           info->height > VF_IMAGE_MAX_SIDE)
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_UNSUPPORTED, "%s: %u×%u frames are larger than supported",
                file->path, info->width, info->height);
  else
    ok = TRUE;
  avformat_close_input(&fmt);
  return ok ? g_steal_pointer(&file) : NULL;
}

void
vf_video_file_free(VfVideoFile *file)
{
  if (!file)
    return;
  g_free(file->path);
  if (file->packets)
    g_array_unref(file->packets);
  if (file->frames)
    g_array_unref(file->frames);
  g_free(file->keyframe_at_or_before);
  g_free(file);
}

const VfVideoInfo *
vf_video_file_info(const VfVideoFile *file)
{
  return &file->info;
}

const char *
vf_video_file_name(const VfVideoFile *file)
{
  return file->path;
}

/* ---- one pass over the file ------------------------------------------------------------------------------ */

typedef struct Pass Pass;
/* Called before each packet is read (while the decoder has nothing more to return). */
typedef void (*BeforeReadFunc)(Pass *pass);

struct Pass {
  VfVideoFile *file;
  AVFormatContext *fmt;
  AVCodecContext *dec; /* NULL for a demux-only pass */
  AVPacket *pkt;
  AVFrame *frame;
  gboolean decoder_has_output; /* a packet was sent since the decoder last answered EAGAIN */
  gboolean end_sent;           /* the drain packet was sent */
  int decode_errors;
  char last_decode_error[AV_ERROR_MAX_STRING_SIZE];
  int64_t last_read_pts;       /* pts of the last video packet read */
  BeforeReadFunc before_read;
  void *user;
  VfVideoReadStats stats;
};

static void
pass_close(Pass *p)
{
  av_frame_free(&p->frame);
  av_packet_free(&p->pkt);
  avcodec_free_context(&p->dec);
  avformat_close_input(&p->fmt);
}

static gboolean
pass_open(Pass *p, VfVideoFile *file, gboolean decode, GError **error)
{
  *p = (Pass){.file = file, .last_read_pts = AV_NOPTS_VALUE};
  char why[AV_ERROR_MAX_STRING_SIZE];
  int stream;
  p->fmt = open_container(file->path, &stream, error);
  if (!p->fmt)
    return FALSE;
  if (stream != file->stream) { /* the file changed since it was opened */
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_CORRUPT, "%s: the file changed while it was read", file->path);
    pass_close(p);
    return FALSE;
  }
  p->pkt = av_packet_alloc();
  p->frame = av_frame_alloc();
  if (!p->pkt || !p->frame)
    goto no_memory;
  if (!decode)
    return TRUE;

  const AVStream *st = p->fmt->streams[stream];
  const AVCodec *codec = avcodec_find_decoder(st->codecpar->codec_id);
  if (!codec) {
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_UNSUPPORTED_CODEC,
                "%s: this FFmpeg has no decoder for the video codec \"%s\"", file->path, file->info.codec);
    pass_close(p);
    return FALSE;
  }
  p->dec = avcodec_alloc_context3(codec);
  if (!p->dec)
    goto no_memory;
  int ret = avcodec_parameters_to_context(p->dec, st->codecpar);
  if (ret >= 0) {
    p->dec->pkt_timebase = st->time_base;
    p->dec->max_pixels = VF_IMAGE_MAX_PIXELS;
    /* Frame and slice threads give the same pixels as one thread; 0 lets FFmpeg use every core. */
    p->dec->thread_count = 0;
    p->dec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    ret = avcodec_open2(p->dec, codec, NULL);
  }
  if (ret < 0) {
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_CORRUPT, "%s: cannot start the %s decoder: %s", file->path,
                file->info.codec, av_error_text(ret, why));
    pass_close(p);
    return FALSE;
  }
  return TRUE;

no_memory:
  g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_NO_MEMORY, "%s: out of memory", file->path);
  pass_close(p);
  return FALSE;
}

/* The next video packet into p->pkt: 1, or 0 at the end of the data. A demuxer error (a truncated or damaged
 * file) ends the data, as it ends torchvision's read. */
static int
pass_read_packet(Pass *p)
{
  for (;;) {
    int ret = av_read_frame(p->fmt, p->pkt);
    if (ret < 0) {
      if (ret != AVERROR_EOF) {
        char why[AV_ERROR_MAX_STRING_SIZE];
        g_debug("%s: the data ends after %u video packets: %s", p->file->path, p->stats.packets,
                av_error_text(ret, why));
      }
      return 0;
    }
    if (p->pkt->stream_index == p->file->stream) {
      p->stats.packets++;
      p->last_read_pts = p->pkt->pts;
      return 1;
    }
    av_packet_unref(p->pkt);
  }
}

/* The next decoded frame into p->frame: 1, 0 at the end of the stream, -1 when cancelled. A packet the decoder
 * rejects is skipped (the frames around it still count). */
static int
pass_next_frame(Pass *p, GCancellable *cancellable, GError **error)
{
  for (;;) {
    if (p->decoder_has_output) {
      int ret = avcodec_receive_frame(p->dec, p->frame);
      if (ret == 0) {
        p->stats.decoded++;
        return 1;
      }
      if (ret == AVERROR_EOF)
        return 0;
      if (ret != AVERROR(EAGAIN)) {
        /* A frame that failed (with frame threads its error surfaces here, later than its packet). The frames
         * after it still come: keep receiving, while draining too (bounded, in case a decoder repeats it). */
        p->decode_errors++;
        av_error_text(ret, p->last_decode_error);
        if (p->end_sent && p->decode_errors < 1000)
          continue;
        if (p->end_sent)
          return 0;
      }
      p->decoder_has_output = FALSE;
    }
    if (g_cancellable_set_error_if_cancelled(cancellable, error))
      return -1;
    if (p->end_sent)
      return 0;
    if (p->before_read)
      p->before_read(p);
    int ret;
    if (pass_read_packet(p)) {
      ret = avcodec_send_packet(p->dec, p->pkt);
      av_packet_unref(p->pkt);
    } else {
      ret = avcodec_send_packet(p->dec, NULL);
      p->end_sent = TRUE;
    }
    /* Every frame was received before this packet was sent, so EAGAIN cannot happen. */
    if (ret < 0 && ret != AVERROR_EOF) {
      p->decode_errors++;
      av_error_text(ret, p->last_decode_error);
      g_debug("%s: the decoder rejected packet %u: %s", p->file->path, p->stats.packets, p->last_decode_error);
    }
    p->decoder_has_output = TRUE;
  }
}

/* How frames are recognised: their pts, as PyAV's frame.pts (FFmpeg's guess when the decoder has none). */
static int64_t
frame_pts(const AVFrame *f)
{
  return f->pts != AV_NOPTS_VALUE ? f->pts : f->best_effort_timestamp;
}

/* ---- counting ----------------------------------------------------------------------------------------------- */

static int
compare_frames(const void *a, const void *b)
{
  const Frame *x = a, *y = b;
  if (x->key != y->key)
    return x->key < y->key ? -1 : 1;
  return x->packet < y->packet ? -1 : x->packet > y->packet;
}

/* Sorts, keeps pts ≥ 0 (read_video reads from pts 0) and one frame per key (the last one, as the reference's
 * dict keyed by pts keeps the last). */
static void
finish_frame_list(VfVideoFile *file, GArray *frames, VfVideoCountSource source)
{
  g_array_sort(frames, compare_frames);
  guint kept = 0;
  for (guint i = 0; i < frames->len; i++) {
    Frame f = g_array_index(frames, Frame, i);
    if (file->by_pts && f.key < 0)
      continue;
    if (kept > 0 && g_array_index(frames, Frame, kept - 1).key == f.key)
      kept--;
    g_array_index(frames, Frame, kept++) = f;
  }
  g_array_set_size(frames, kept);
  if (file->frames)
    g_array_unref(file->frames);
  file->frames = frames;
  file->counted = TRUE;
  file->info.n_frames = kept;
  file->info.count_source = source;
  if (file->info.fps_source == VF_VIDEO_RATE_UNKNOWN && file->info.duration > 0 && kept > 0) {
    file->info.fps = kept / file->info.duration;
    file->info.fps_source = VF_VIDEO_RATE_DURATION;
  }
}

gboolean
vf_video_file_count_packets(VfVideoFile *file, GCancellable *cancellable, GError **error)
{
  if (file->counted)
    return TRUE;
  vf_media_stats_count(VF_MEDIA_STAT_VIDEO_COUNT);
  Pass p;
  if (!pass_open(&p, file, FALSE, error))
    return FALSE;
  g_autoptr(GArray) packets = g_array_new(FALSE, FALSE, sizeof(Packet));
  gboolean all_pts = TRUE;
  while (pass_read_packet(&p)) {
    const AVPacket *pkt = p.pkt;
    /* Packets an edit list cuts away come out of no decoder as frames. */
    if (!(pkt->flags & AV_PKT_FLAG_DISCARD)) {
      Packet e = {
          .pts = pkt->pts,
          .seek_ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts,
          .keyframe = (pkt->flags & AV_PKT_FLAG_KEY) != 0,
      };
      all_pts &= e.pts != AV_NOPTS_VALUE;
      g_array_append_val(packets, e);
    }
    av_packet_unref(p.pkt);
    if (g_cancellable_set_error_if_cancelled(cancellable, error)) {
      pass_close(&p);
      return FALSE;
    }
  }
  pass_close(&p);

  file->by_pts = all_pts;
  GArray *frames = g_array_sized_new(FALSE, FALSE, sizeof(Frame), packets->len);
  for (guint i = 0; i < packets->len; i++) {
    const Packet *e = &g_array_index(packets, Packet, i);
    Frame f = {.key = all_pts ? e->pts : (int64_t)i, .packet = i};
    g_array_append_val(frames, f);
  }
  g_free(file->keyframe_at_or_before);
  file->keyframe_at_or_before = g_new(uint32_t, MAX(packets->len, 1));
  uint32_t last = NO_PACKET;
  for (guint i = 0; i < packets->len; i++) {
    if (g_array_index(packets, Packet, i).keyframe)
      last = i;
    file->keyframe_at_or_before[i] = last;
  }
  if (file->packets)
    g_array_unref(file->packets);
  file->packets = g_steal_pointer(&packets);
  finish_frame_list(file, frames, VF_VIDEO_COUNT_PACKETS);
  return TRUE;
}

gboolean
vf_video_file_count_decoded(VfVideoFile *file, GCancellable *cancellable, GError **error)
{
  Pass p;
  if (!pass_open(&p, file, TRUE, error))
    return FALSE;
  g_autoptr(GArray) frames = g_array_new(FALSE, FALSE, sizeof(Frame));
  gboolean all_pts = TRUE;
  int r;
  while ((r = pass_next_frame(&p, cancellable, error)) == 1) {
    Frame f = {.key = frame_pts(p.frame), .packet = NO_PACKET};
    all_pts &= f.key != AV_NOPTS_VALUE;
    g_array_append_val(frames, f);
    av_frame_unref(p.frame);
  }
  int errors = p.decode_errors;
  char last_error[AV_ERROR_MAX_STRING_SIZE];
  memcpy(last_error, p.last_decode_error, sizeof last_error);
  pass_close(&p);
  if (r < 0)
    return FALSE;
  if (frames->len == 0 && errors > 0) {
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_CORRUPT, "%s: corrupt %s video: no frame decodes (%s)",
                file->path, file->info.codec, last_error);
    return FALSE;
  }
  file->by_pts = all_pts;
  if (!all_pts)
    for (guint i = 0; i < frames->len; i++)
      g_array_index(frames, Frame, i).key = i;
  /* Positions of packets are unknown now: later reads run from the start, without seeking. */
  if (file->packets)
    g_array_set_size(file->packets, 0);
  finish_frame_list(file, g_steal_pointer(&frames), VF_VIDEO_COUNT_DECODED);
  return TRUE;
}

/* ---- reading the wanted frames ---------------------------------------------------------------------------- */

typedef struct {
  const uint32_t *indices;
  uint32_t n;
  gboolean *done;    /* [n] */
  uint32_t next;     /* the first slot not yet delivered */
  uint32_t read_pos; /* decode-order index of the next packet the demuxer will return */
  gboolean may_seek;
  uint32_t sought;   /* the keyframe packet of a seek whose landing is not yet checked, or NO_PACKET */
  uint32_t last_seek; /* the keyframe packet of the last seek, or NO_PACKET */
  uint8_t *rgb[4];
  int rgb_stride[4];
  struct SwsContext *sws;
} Reader;

/* The frame with this key, or -1. */
static int64_t
find_frame(const VfVideoFile *file, int64_t key)
{
  guint lo = 0, hi = file->frames->len;
  while (lo < hi) {
    guint mid = lo + (hi - lo) / 2;
    int64_t k = g_array_index(file->frames, Frame, mid).key;
    if (k == key)
      return mid;
    if (k < key)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

/* The packet that starts decoding towards frame `f`: the last keyframe before its packet that is not shown
 * after it (an open GOP's leading pictures need the keyframe before). */
static uint32_t
start_keyframe(const VfVideoFile *file, uint32_t f)
{
  const Frame *frame = &g_array_index(file->frames, Frame, f);
  uint32_t k = frame->packet == NO_PACKET ? NO_PACKET : file->keyframe_at_or_before[frame->packet];
  while (k != NO_PACKET && g_array_index(file->packets, Packet, k).pts > frame->key)
    k = k > 0 ? file->keyframe_at_or_before[k - 1] : NO_PACKET;
  return k;
}

/* Before a packet is read: jump to the keyframe of the next wanted frame when it lies ahead. */
static void
maybe_seek(Pass *p)
{
  Reader *r = p->user;
  VfVideoFile *file = p->file;
  /* Where the demuxer is: the packet after the last one read, found by its pts. */
  if (p->last_read_pts != AV_NOPTS_VALUE) {
    int64_t f = find_frame(file, p->last_read_pts);
    if (f >= 0) {
      uint32_t at = g_array_index(file->frames, Frame, f).packet;
      r->read_pos = at + 1;
      if (r->sought != NO_PACKET && at > r->sought) {
        /* The seek landed after the keyframe, so frames before `at` would be lost: go back to the start and
         * read on without seeking (if even that fails, the read ends incomplete and the caller recounts). */
        g_debug("%s: a seek landed after its keyframe; reading on without seeking", file->path);
        r->may_seek = FALSE;
        if (av_seek_frame(p->fmt, file->stream, g_array_index(file->packets, Packet, 0).seek_ts,
                          AVSEEK_FLAG_BACKWARD) >= 0)
          avcodec_flush_buffers(p->dec);
        r->read_pos = 0;
      }
    }
    p->last_read_pts = AV_NOPTS_VALUE;
    r->sought = NO_PACKET;
  }
  if (!r->may_seek || r->next >= r->n)
    return;
  uint32_t k = start_keyframe(file, r->indices[r->next]);
  /* Seeks only go forward, past the last one: a demuxer that lands early (its index keyed differently) then
   * costs decoding time, never a loop. */
  if (k == NO_PACKET || k <= r->read_pos || (r->last_seek != NO_PACKET && k <= r->last_seek))
    return;
  int ret = av_seek_frame(p->fmt, file->stream, g_array_index(file->packets, Packet, k).seek_ts, AVSEEK_FLAG_BACKWARD);
  if (ret < 0) {
    char why[AV_ERROR_MAX_STRING_SIZE];
    g_debug("%s: cannot seek (%s); reading on without seeking", file->path, av_error_text(ret, why));
    r->may_seek = FALSE;
    return;
  }
  avcodec_flush_buffers(p->dec);
  p->stats.seeks++;
  r->read_pos = k;
  r->sought = k;
  r->last_seek = k;
}

static gboolean
deliver(Pass *p, Reader *r, uint32_t f, VfVideoFrameFunc fn, void *user, GError **error)
{
  VfVideoFile *file = p->file;
  const AVFrame *frame = p->frame;
  /* The wanted slots of this frame: a run in the ascending indices. */
  uint32_t lo = 0, hi = r->n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (r->indices[mid] < f)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo >= r->n || r->indices[lo] != f)
    return TRUE;
  if ((uint32_t)frame->width != file->info.width || (uint32_t)frame->height != file->info.height) {
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_CORRUPT,
                "%s: frame %u is %d×%d but the video is %u×%u; videos that change size are not supported", file->path,
                f, frame->width, frame->height, file->info.width, file->info.height);
    return FALSE;
  }
  r->sws = sws_getCachedContext(r->sws, frame->width, frame->height, frame->format, frame->width, frame->height,
                                AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
  if (!r->sws) {
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_UNSUPPORTED_CODEC, "%s: cannot convert %s frames to RGB",
                file->path, av_get_pix_fmt_name(frame->format));
    return FALSE;
  }
  sws_scale(r->sws, (const uint8_t *const *)frame->data, frame->linesize, 0, frame->height, r->rgb, r->rgb_stride);
  for (uint32_t s = lo; s < r->n && r->indices[s] == f; s++) {
    if (r->done[s])
      continue;
    if (!fn(s, r->rgb[0], (size_t)r->rgb_stride[0], user, error))
      return FALSE;
    r->done[s] = TRUE;
  }
  while (r->next < r->n && r->done[r->next])
    r->next++;
  return TRUE;
}

gboolean
vf_video_file_read_frames(VfVideoFile *file, const uint32_t *indices, uint32_t n, VfVideoFrameFunc fn, void *user,
                          GCancellable *cancellable, gboolean *complete, VfVideoReadStats *stats, GError **error)
{
  g_return_val_if_fail(file->counted, FALSE);
  vf_media_stats_count(VF_MEDIA_STAT_VIDEO_DECODE);
  for (uint32_t i = 0; i < n; i++)
    g_return_val_if_fail(indices[i] < file->frames->len && (i == 0 || indices[i - 1] <= indices[i]), FALSE);
  *complete = FALSE;
  if (stats)
    *stats = (VfVideoReadStats){0};

  Pass p;
  if (!pass_open(&p, file, TRUE, error))
    return FALSE;
  g_autofree gboolean *done = g_new0(gboolean, MAX(n, 1));
  Reader r = {
      .indices = indices,
      .n = n,
      .done = done,
      .may_seek = file->by_pts && file->packets && file->packets->len > 0,
      .sought = NO_PACKET,
      .last_seek = NO_PACKET,
  };
  /* PyAV's frame buffers: rows aligned to 16 bytes (swscale's SIMD paths write whole 8-pixel groups). */
  gboolean ok = FALSE;
  if (av_image_alloc(r.rgb, r.rgb_stride, (int)file->info.width, (int)file->info.height, AV_PIX_FMT_RGB24, 16) < 0) {
    g_set_error(error, VF_VIDEO_ERROR, VF_VIDEO_ERROR_NO_MEMORY, "%s: out of memory", file->path);
    goto out;
  }
  p.before_read = maybe_seek;
  p.user = &r;
  uint32_t ordinal = 0;
  int got = 0;
  while (r.next < n && (got = pass_next_frame(&p, cancellable, error)) == 1) {
    int64_t f;
    if (file->by_pts) {
      int64_t key = frame_pts(p.frame);
      f = key == AV_NOPTS_VALUE ? -1 : find_frame(file, key);
    } else {
      f = ordinal++;
    }
    gboolean delivered = f < 0 || deliver(&p, &r, (uint32_t)f, fn, user, error);
    av_frame_unref(p.frame);
    if (!delivered)
      goto out;
  }
  if (r.next < n && got < 0)
    goto out;
  /* A packet that failed to decode has no frame: the packet count was then too high (even when no wanted frame
   * was lost, the sampling was planned for the wrong total). A count made by decoding already excludes it. */
  *complete = r.next >= n && (p.decode_errors == 0 || file->info.count_source == VF_VIDEO_COUNT_DECODED);
  if (!*complete)
    g_debug("%s: %u of %u wanted frames did not come out of the decoder, %d decode errors (%s)", file->path,
            n - r.next, n, p.decode_errors, p.decode_errors ? p.last_decode_error : "-");
  ok = TRUE;
out:
  if (stats)
    *stats = p.stats;
  av_freep(&r.rgb[0]);
  sws_freeContext(r.sws);
  pass_close(&p);
  return ok;
}
