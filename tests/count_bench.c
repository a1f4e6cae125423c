/* A measuring tool, not a test: how long the window's draft count takes with 3 pictures and a video already in
 * the conversation (what runs 250 ms after every keystroke). Tiny-a on the default device.
 *   vf-count-bench MODEL_DIR TOKENIZER_DIR DATA_DIR [ROUNDS]   (DATA_DIR: tests/data) */
#include <stdio.h>
#include <stdlib.h>

#include "vf_media_stats.h"
#include "vf_session.h"

static int
compare_doubles(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
  if (argc < 4) {
    fprintf(stderr, "usage: %s MODEL_DIR TOKENIZER_DIR DATA_DIR [ROUNDS]\n", argv[0]);
    return 2;
  }
  guint rounds = argc > 4 ? (guint)atoi(argv[4]) : 20;
  g_autoptr(GError) error = NULL;
  VfDevice *dev = vf_device_create(NULL, &error);
  VfTokenizer *tok = dev ? vf_tokenizer_load(argv[2], &error) : NULL;
  VfModel *model = tok ? vf_model_load(dev, argv[1], NULL, NULL, NULL, &error) : NULL;
  if (!model) {
    fprintf(stderr, "%s\n", error->message);
    return 1;
  }
  VfSession *s = vf_session_new(model, tok, &error);
  if (!s) {
    fprintf(stderr, "%s\n", error->message);
    return 1;
  }
  VfGenerateOptions opts;
  vf_session_default_options(s, &opts);
  opts.add_vision_id = TRUE;
  opts.media_dir = argv[3];
  VfChat *chat = vf_session_chat(s);
  VfChatMessage *m = vf_chat_append_message(chat, "user");
  vf_chat_message_append_image(m, "golden/cases/a02_image_photo/chelsea.png");
  vf_chat_message_append_image(m, "golden/cases/a07_multi_turn/astronaut_160x140.png");
  vf_chat_message_append_image(m, "golden/cases/a03_image_resized_hw/rocket.jpg");
  vf_chat_message_append_video(m, "golden/cases/a06_video_file/clip.mp4");
  vf_chat_message_append_text(m, "What do these have in common?");
  vf_chat_message_append_text(vf_chat_append_message(chat, "assistant"), "They are all test data.");

  /* The window's count: the conversation plus a draft of 20 characters (the first count reads the
   * conversation's media; the rounds after it are what every keystroke costs). */
  double *ms = g_new(double, rounds);
  uint32_t tokens = 0;
  VfMediaStats before, after;
  for (guint r = 0; r < rounds; r++) {
    g_autoptr(VfChat) draft = vf_chat_new();
    vf_chat_message_append_text(vf_chat_append_message(draft, "user"), "And what is Video 1?");
    if (r == 1)
      vf_media_stats_get(&before);
    gint64 t0 = g_get_monotonic_time();
    if (!vf_session_count_draft(s, &opts, draft, &tokens, &error)) {
      fprintf(stderr, "%s\n", error->message);
      return 1;
    }
    ms[r] = (g_get_monotonic_time() - t0) / 1e3;
  }
  vf_media_stats_get(&after);
  printf("rounds 2..%u read %u picture headers and demuxed %u videos\n", rounds,
         after.image_headers - before.image_headers, after.video_counts - before.video_counts);
  qsort(ms, rounds, sizeof *ms, compare_doubles);
  printf("draft count, 3 pictures + 1 video in the conversation: %u tokens, median %.3f ms, min %.3f ms, "
         "max %.3f ms over %u rounds\n",
         tokens, ms[rounds / 2], ms[0], ms[rounds - 1], rounds);
  g_free(ms);
  vf_session_free(s);
  vf_model_free(model);
  vf_tokenizer_free(tok);
  vf_device_free(dev);
  return 0;
}
