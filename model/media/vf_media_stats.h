/* How often the media code did its expensive work, counted in the code paths themselves (process-wide, atomic),
 * so tests and the bench can check that a picture is read as often as its design says and no more:
 *
 *   VfMediaStats before, after;
 *   vf_media_stats_get(&before);  ... attach, count, send ...  vf_media_stats_get(&after);
 *   g_assert_cmpuint(after.image_decodes - before.image_decodes, ==, 1); */
#pragma once

#include <glib.h>

typedef struct {
  guint image_headers;  /* vf_image_file_open*: an encoded picture's header read (and its size checked) */
  guint image_decodes;  /* vf_image_file_decode(_resized): a picture decoded to RGB */
  guint url_fetches;    /* vf_image_url_fetch: an http(s) download started */
  guint video_counts;   /* vf_video_file_count_packets: a video file demuxed to count its frames */
  guint video_decodes;  /* vf_video_file_read_frames: a pass decoding frames of a video file */
} VfMediaStats;

void vf_media_stats_get(VfMediaStats *stats);

/* For the counting sites only. */
typedef enum {
  VF_MEDIA_STAT_IMAGE_HEADER,
  VF_MEDIA_STAT_IMAGE_DECODE,
  VF_MEDIA_STAT_URL_FETCH,
  VF_MEDIA_STAT_VIDEO_COUNT,
  VF_MEDIA_STAT_VIDEO_DECODE,
} VfMediaStat;

void vf_media_stats_count(VfMediaStat stat);
