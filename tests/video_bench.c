/* vf-video-bench FILE [--fps F | --nframes N] [--max-pixels P] [--frames-only] [--header-only]
 *
 * Decodes, samples and resizes one video with the qwen-vl-utils defaults (or the given options) and prints
 * the header, the plan, the wall time, the peak resident memory and the visual token count. A measuring tool
 * for the notes, not a test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "vf_video.h"

static const char *
count_source_name(VfVideoCountSource s)
{
  switch (s) {
  case VF_VIDEO_COUNT_HEADER:
    return "container header";
  case VF_VIDEO_COUNT_DURATION:
    return "estimate from duration";
  case VF_VIDEO_COUNT_UNKNOWN:
    return "unknown";
  case VF_VIDEO_COUNT_PACKETS:
    return "counted packets";
  case VF_VIDEO_COUNT_DECODED:
    return "counted decoded frames";
  }
  return "?";
}

static const char *
rate_source_name(VfVideoRateSource s)
{
  switch (s) {
  case VF_VIDEO_RATE_AVERAGE:
    return "average";
  case VF_VIDEO_RATE_NOMINAL:
    return "nominal";
  case VF_VIDEO_RATE_DURATION:
    return "frames / duration";
  case VF_VIDEO_RATE_UNKNOWN:
    return "unknown";
  }
  return "?";
}

static void
on_progress(uint32_t done, uint32_t total, void *user)
{
  if (done == total || done % 64 == 0)
    fprintf(stderr, "\r%u/%u frames", done, total);
  if (done == total)
    fprintf(stderr, "\n");
}

int
main(int argc, char **argv)
{
  VfMediaOptions options = {0};
  gboolean frames_only = FALSE, header_only = FALSE;
  const char *path = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--fps") && i + 1 < argc)
      options.fps = atof(argv[++i]);
    else if (!strcmp(argv[i], "--nframes") && i + 1 < argc)
      options.nframes = (uint32_t)atoi(argv[++i]);
    else if (!strcmp(argv[i], "--max-pixels") && i + 1 < argc)
      options.max_pixels = (uint64_t)atoll(argv[++i]);
    else if (!strcmp(argv[i], "--frames-only"))
      frames_only = TRUE;
    else if (!strcmp(argv[i], "--header-only"))
      header_only = TRUE;
    else if (argv[i][0] != '-' && !path)
      path = argv[i];
    else {
      fprintf(stderr, "usage: %s FILE [--fps F | --nframes N] [--max-pixels P] [--frames-only] [--header-only]\n",
              argv[0]);
      return 2;
    }
  }
  if (!path) {
    fprintf(stderr, "usage: %s FILE [options]\n", argv[0]);
    return 2;
  }
  VfImageProcessorConfig config;
  vf_image_processor_config_default(&config);
  g_autoptr(GError) error = NULL;

  VfVideoInfo info;
  if (!vf_video_probe(path, &info, &error)) {
    fprintf(stderr, "%s\n", error->message);
    return 1;
  }
  printf("file      %s: %s / %s, %u×%u, %.4g fps (%s), %.2f s, %" G_GUINT64_FORMAT " frames (%s)\n", path,
         info.container, info.codec, info.width, info.height, info.fps, rate_source_name(info.fps_source),
         info.duration, info.n_frames, count_source_name(info.count_source));
  g_autoptr(VfVideoPlan) header_plan = vf_video_plan_source(path, &options, &config, FALSE, NULL, &error);
  if (!header_plan) {
    fprintf(stderr, "%s\n", error->message);
    return 1;
  }
  printf("header    %u frames of %u×%u, grid %u×%u×%u, %u visual tokens%s\n", header_plan->n_frames,
         header_plan->out_width, header_plan->out_height, header_plan->grid.t, header_plan->grid.h,
         header_plan->grid.w, header_plan->n_tokens, header_plan->total_estimated ? " (estimate)" : "");
  if (header_only)
    return 0;

  VfVideoRunOptions run = {
      .flags = frames_only ? VF_VIDEO_KEEP_FRAMES | VF_VIDEO_NO_PIXELS : 0,
      .progress = on_progress,
  };
  g_autoptr(VfVideoInput) in = vf_video_input_new(path, &options, &config, &run, &error);
  if (!in) {
    fprintf(stderr, "%s\n", error->message);
    return 1;
  }
  const VfVideoPlan *p = in->plan;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("decoded   %" G_GUINT64_FORMAT " frames (%s), %u sampled, first %u last %u\n", p->total_frames,
         count_source_name(in->stats.count_source), p->n_frames, p->frame_indices[0],
         p->frame_indices[p->n_frames - 1]);
  printf("size      %u×%u (budget %.0f px), grid %u×%u×%u, %u patches, %u visual tokens\n", p->out_width,
         p->out_height, p->budget, p->grid.t, p->grid.h, p->grid.w, p->n_patches, p->n_tokens);
  printf("work      %u packets read, %u frames decoded, %u seeks, %u decode pass(es)\n", in->stats.read.packets,
         in->stats.read.decoded, in->stats.read.seeks, in->stats.decode_passes);
  double frames_mb = (double)p->n_frames * p->out_width * p->out_height * 3 / 1048576.0;
  double pixels_mb = (double)p->n_patches * VF_PATCH_DIM * 4 / 1048576.0;
  printf("memory    resized frames %.1f MiB%s, pixel_values %.1f MiB%s, peak RSS %.1f MiB\n", frames_mb,
         in->frames ? "" : " (not kept)", pixels_mb, in->pixel_values ? "" : " (not built)", ru.ru_maxrss / 1024.0);
  printf("time      %.2f s\n", in->stats.seconds);
  return 0;
}
