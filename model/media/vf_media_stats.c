/* Work counters of the media code. See vf_media_stats.h. */
#include "vf_media_stats.h"

static gint counters[VF_MEDIA_STAT_VIDEO_DECODE + 1];

void
vf_media_stats_count(VfMediaStat stat)
{
  g_atomic_int_inc(&counters[stat]);
}

void
vf_media_stats_get(VfMediaStats *stats)
{
  stats->image_headers = (guint)g_atomic_int_get(&counters[VF_MEDIA_STAT_IMAGE_HEADER]);
  stats->image_decodes = (guint)g_atomic_int_get(&counters[VF_MEDIA_STAT_IMAGE_DECODE]);
  stats->url_fetches = (guint)g_atomic_int_get(&counters[VF_MEDIA_STAT_URL_FETCH]);
  stats->video_counts = (guint)g_atomic_int_get(&counters[VF_MEDIA_STAT_VIDEO_COUNT]);
  stats->video_decodes = (guint)g_atomic_int_get(&counters[VF_MEDIA_STAT_VIDEO_DECODE]);
}
