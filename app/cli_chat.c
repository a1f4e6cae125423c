/* viewfinder-cli chat: one question to a model folder, or the next answer of a conversation in a JSON file
 * (--messages, vf_chat_json.h), streamed to stdout. */
#define G_LOG_DOMAIN "viewfinder-cli"

#include "cli.h"

#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "vf_chat_json.h"
#include "vf_chat_template.h"
#include "vf_grounded_answer.h"
#include "vf_session.h"

typedef struct {
  gboolean json;
  VfGroundedAnswer *grounded; /* the answer with its grounding markers, parsed */
} Output;

/* Display text: the answer without its grounding markers. */
static void
print_text(const char *piece, size_t len, void *user)
{
  Output *out = user;
  if (out->json) {
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "text");
    json_builder_end_object(b);
    vf_cli_print_json_with_text(b, "text", piece, len);
  } else {
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
  }
}

/* A box or quad the answer drew: a JSON record in the picture's pixels, or a line on stderr. */
static void
print_box(const VfGroundedBox *box, void *user)
{
  const Output *out = user;
  if (out->json) {
    g_autoptr(JsonBuilder) b = json_builder_new();
    vf_grounded_box_to_json(box, b);
    vf_cli_print_json(b);
    return;
  }
  g_autoptr(GString) corners = g_string_new(NULL);
  for (guint k = 0; k < (box->kind == VF_GROUNDING_QUAD ? 4u : 2u); k++)
    g_string_append_printf(corners, " (%.1f, %.1f)", box->x[k], box->y[k]);
  fprintf(stderr, "viewfinder: %s \"%s\" on picture %u:%s\n", box->kind == VF_GROUNDING_QUAD ? "quad" : "box",
          box->label ? box->label : "", box->picture, corners->str);
}

static void
on_text(const char *piece, size_t len, void *user)
{
  Output *out = user;
  vf_grounded_answer_feed(out->grounded, piece, len);
  vf_grounded_answer_take(out->grounded, print_text, print_box, out);
}

/* A damaged attachment: a JSON record, or a line on stderr. */
static void
on_warning(const char *message, void *user)
{
  const Output *out = user;
  if (!out->json) {
    fprintf(stderr, "viewfinder: warning: %s\n", message);
    return;
  }
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, "warning");
  json_builder_set_member_name(b, "message");
  json_builder_add_string_value(b, message);
  json_builder_end_object(b);
  vf_cli_print_json(b);
}

static void
make_path_absolute(char **source)
{
  if (!*source || g_path_is_absolute(*source) || strstr(*source, "://") || g_str_has_prefix(*source, "data:"))
    return;
  char *absolute = g_canonicalize_filename(*source, NULL);
  g_free(*source);
  *source = absolute;
}

static void
make_source_absolute(VfChatPart *part)
{
  if (part->kind == VF_CHAT_PART_TEXT)
    return;
  make_path_absolute(&part->source);
  for (guint f = 0; part->frames && part->frames[f]; f++)
    make_path_absolute(&part->frames[f]);
}

int
vf_cli_chat(int argc, char **argv)
{
  g_autofree char *model_dir = NULL, *tokenizer_dir = NULL, *prompt = NULL, *system = NULL, *messages = NULL,
                   *save = NULL;
  int max_new = 512, top_k = -1, context = 0;
  double temperature = -1, top_p = -1, repetition = -1;
  gint64 seed = 0;
  gboolean json = FALSE, label_media = FALSE;
  g_auto(GStrv) images = NULL, videos = NULL;
  double fps = 0;
  int nframes = 0, max_frames = 0;
  gint64 video_max_pixels = 0, video_min_pixels = 0;
  gint64 min_pixels = 0, max_pixels = 0;
  g_autofree char *resized = NULL;
  GOptionEntry entries[] = {
    {"model", 'm', 0, G_OPTION_ARG_FILENAME, &model_dir, "model folder (Hugging Face checkpoint)", "DIR"},
    {"prompt", 'p', 0, G_OPTION_ARG_STRING, &prompt, "the question", "TEXT"},
    {"messages", 0, 0, G_OPTION_ARG_FILENAME, &messages, "answer this conversation (JSON messages, or an object with \"messages\"; paths relative to the file); -p adds a user message", "FILE"},
    {"save", 0, 0, G_OPTION_ARG_FILENAME, &save, "write the conversation with its answer to FILE (JSON messages, the form --messages reads)", "FILE"},
    {"system", 0, 0, G_OPTION_ARG_STRING, &system, "system prompt (default: the template's)", "TEXT"},
    {"tokenizer", 0, 0, G_OPTION_ARG_FILENAME, &tokenizer_dir, "tokenizer folder (default: the model folder)", "DIR"},
    {"max-new-tokens", 0, 0, G_OPTION_ARG_INT, &max_new, "most tokens to generate (512)", "N"},
    {"context", 0, 0, G_OPTION_ARG_INT, &context, "KV-cache size in tokens (default: from the memory budget)", "N"},
    {"temperature", 0, 0, G_OPTION_ARG_DOUBLE, &temperature, "sample with this temperature", "T"},
    {"top-k", 0, 0, G_OPTION_ARG_INT, &top_k, "sample among the K most likely tokens", "K"},
    {"top-p", 0, 0, G_OPTION_ARG_DOUBLE, &top_p, "sample within this probability mass", "P"},
    {"repetition-penalty", 0, 0, G_OPTION_ARG_DOUBLE, &repetition, "penalty for tokens already in the context", "R"},
    {"seed", 0, 0, G_OPTION_ARG_INT64, &seed, "random seed for sampling", "S"},
    {"json", 0, 0, G_OPTION_ARG_NONE, &json, "JSON lines on stdout", NULL},
    {"image", 'i', 0, G_OPTION_ARG_FILENAME_ARRAY, &images, "attach an image (path, http(s) URL, file:// or data: URI) or a PDF (all its pages, or file.pdf#page=N); repeatable", "PATH"},
    {"min-pixels", 0, 0, G_OPTION_ARG_INT64, &min_pixels, "images: at least this many pixels after resizing", "N"},
    {"max-pixels", 0, 0, G_OPTION_ARG_INT64, &max_pixels, "images: at most this many pixels after resizing", "N"},
    {"resized", 0, 0, G_OPTION_ARG_STRING, &resized, "images: resize to about this size (rounded to 28)", "WxH"},
    {"video", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &videos, "attach a video file; repeatable", "PATH"},
    {"fps", 0, 0, G_OPTION_ARG_DOUBLE, &fps, "videos: frames sampled per second (2.0)", "F"},
    {"nframes", 0, 0, G_OPTION_ARG_INT, &nframes, "videos: frames to sample (instead of --fps)", "N"},
    {"max-frames", 0, 0, G_OPTION_ARG_INT, &max_frames, "videos: at most this many frames (768)", "N"},
    {"video-min-pixels", 0, 0, G_OPTION_ARG_INT64, &video_min_pixels, "videos: at least this many pixels per frame", "N"},
    {"video-max-pixels", 0, 0, G_OPTION_ARG_INT64, &video_max_pixels, "videos: at most this many pixels per frame", "N"},
    {"label-media", 0, 0, G_OPTION_ARG_NONE, &label_media, "label attachments \"Picture N: \" (add_vision_id)", NULL},
    {NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("— ask a model one question");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
    fprintf(stderr, "viewfinder-cli chat: %s\n", error->message);
    return 2;
  }
  if (!model_dir || (!prompt && !messages)) {
    fprintf(stderr, "viewfinder-cli chat: give a model folder (-m DIR) and a prompt (-p TEXT) or --messages FILE\n");
    return 2;
  }
  if (messages && system) {
    fprintf(stderr, "viewfinder-cli chat: --system goes with -p; with --messages, the file holds the system message\n");
    return 2;
  }
  if (!prompt && (images || videos)) {
    fprintf(stderr, "viewfinder-cli chat: --image and --video attach to the -p message\n");
    return 2;
  }
  if (save) {
    /* Checked before the model loads, so the answer is not lost to a folder that does not exist. */
    g_autofree char *folder = g_path_get_dirname(save);
    if (!g_file_test(folder, G_FILE_TEST_IS_DIR) || g_file_test(save, G_FILE_TEST_IS_DIR)) {
      fprintf(stderr, "viewfinder-cli chat: --save %s: %s\n", save,
              g_file_test(save, G_FILE_TEST_IS_DIR) ? "is a folder" : "its folder does not exist");
      return 2;
    }
  }
  /* Read before the model loads: a wrong file costs no loading time. */
  g_autoptr(VfChat) conversation = NULL;
  if (messages) {
    conversation = vf_chat_json_read_file(messages, &error);
    if (!conversation) {
      fprintf(stderr, "viewfinder-cli chat: %s\n", error->message);
      return 1;
    }
    guint n = conversation->messages->len;
    const VfChatMessage *last = n ? g_ptr_array_index(conversation->messages, n - 1) : NULL;
    if (!prompt && (!last || strcmp(last->role, "user") != 0)) {
      fprintf(stderr, "viewfinder-cli chat: %s: the conversation does not end with a user message to answer\n",
              messages);
      return 1;
    }
  }
  VfMediaOptions media = {.min_pixels = (uint64_t)MAX(min_pixels, 0), .max_pixels = (uint64_t)MAX(max_pixels, 0)};
  if (resized && !vf_cli_parse_size(resized, &media.resized_width, &media.resized_height)) {
    fprintf(stderr, "viewfinder-cli chat: --resized wants WIDTHxHEIGHT, e.g. 448x336\n");
    return 2;
  }
  if (fps > 0 && nframes > 0) {
    fprintf(stderr, "viewfinder-cli chat: give --fps or --nframes, not both\n");
    return 2;
  }
  VfMediaOptions video_opts = {
    .fps = MAX(fps, 0),
    .nframes = (uint32_t)MAX(nframes, 0),
    .max_frames = (uint32_t)MAX(max_frames, 0),
    .min_pixels = (uint64_t)MAX(video_min_pixels, 0),
    .max_pixels = (uint64_t)MAX(video_max_pixels, 0),
  };
  if (max_new <= 0 || context < 0) {
    fprintf(stderr, "viewfinder-cli chat: --max-new-tokens must be positive and --context not negative\n");
    return 2;
  }

  /* Before the device starts its threads. */
  GCancellable *stop = vf_cli_cancel_on_signals();
  g_autoptr(VfTokenizer) tok = vf_tokenizer_load(tokenizer_dir ? tokenizer_dir : model_dir, &error);
  if (!tok) {
    fprintf(stderr, "viewfinder-cli chat: %s\n", error->message);
    return 1;
  }
  g_autoptr(VfDevice) dev = vf_cli_device(&error);
  if (!dev) {
    fprintf(stderr, "viewfinder-cli chat: %s\n", error->message);
    return 1;
  }
  int64_t t0 = g_get_monotonic_time();
  VfLlmOptions llm_opts = {.context = (uint32_t)context};
  g_autoptr(VfModel) model = vf_model_load(dev, model_dir, &llm_opts, vf_cli_progress, NULL, &error);
  if (!model) {
    fprintf(stderr, "viewfinder-cli chat: %s\n", error->message);
    return 1;
  }
  fprintf(stderr, "viewfinder: loaded %s in %.1f s: %.0f MiB of weights, context %u tokens (KV cache %.0f MiB)\n",
          model_dir, (g_get_monotonic_time() - t0) / 1e6, model->weights->device_bytes / 1048576.0,
          vf_llm_context(model->llm), vf_llm_cache_bytes(model->llm) / 1048576.0);
  g_autofree char *warning = vf_chat_template_check(tokenizer_dir ? tokenizer_dir : model_dir);
  if (warning)
    fprintf(stderr, "viewfinder: warning: %s\n", warning);

  g_autoptr(VfSession) session = vf_session_new(model, tok, &error);
  if (!session) {
    fprintf(stderr, "viewfinder-cli chat: %s\n", error->message);
    return 1;
  }
  VfGenerateOptions opts;
  vf_session_default_options(session, &opts);
  opts.max_new_tokens = (uint32_t)max_new;
  if (temperature >= 0 || top_k >= 0 || top_p >= 0) {
    opts.sampling.do_sample = TRUE;
    opts.sampling.temperature = temperature >= 0 ? (float)temperature : 1.0f;
    opts.sampling.top_k = top_k >= 0 ? (uint32_t)top_k : 0;
    opts.sampling.top_p = top_p >= 0 ? (float)top_p : 1.0f;
  }
  if (repetition > 0)
    opts.sampling.repetition_penalty = (float)repetition;
  opts.sampling.seed = (uint64_t)seed;

  if (conversation)
    vf_chat_free(vf_session_replace_chat(session, g_steal_pointer(&conversation)));
  VfChat *chat = vf_session_chat(session);
  if (system)
    vf_chat_message_append_text(vf_chat_append_message(chat, "system"), system);
  VfChatMessage *user_msg = prompt ? vf_chat_append_message(chat, "user") : NULL;
  for (int i = 0; images && images[i]; i++) {
    /* A PDF without "#page=" is all its pages, a picture each. */
    g_auto(GStrv) pages = vf_cli_pdf_pages(images[i], NULL, &error);
    if (error) {
      fprintf(stderr, "viewfinder-cli chat: %s\n", error->message);
      return 1;
    }
    for (int p = 0; pages && pages[p]; p++)
      vf_chat_message_append_image(user_msg, pages[p])->options = media;
    if (!pages)
      vf_chat_message_append_image(user_msg, images[i])->options = media;
  }
  for (int i = 0; videos && videos[i]; i++)
    vf_chat_message_append_video(user_msg, videos[i])->options = video_opts;
  if (prompt)
    vf_chat_message_append_text(user_msg, prompt);
  opts.add_vision_id = label_media;
  opts.on_stage = vf_cli_stage;
  g_autoptr(VfGroundedAnswer) grounded = vf_grounded_answer_new(chat);
  Output out = {.json = json, .grounded = grounded};
  opts.on_warning = on_warning;
  opts.stage_user = &out;
  opts.keep_grounding = TRUE;

  VfTurnStats stats;
  if (!vf_session_generate(session, &opts, on_text, &out, stop, &stats, &error)) {
    if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      if (!json)
        printf("\n");
      fprintf(stderr, "viewfinder-cli chat: %s\n", error->message);
      return 1;
    }
    /* Stopped before the first token: an empty answer, reported like a later stop. */
    stats = (VfTurnStats){.stopped = TRUE, .stop_reason = VF_STOP_CANCELLED};
  }
  vf_grounded_answer_finish(grounded);
  vf_grounded_answer_take(grounded, print_text, print_box, &out);
  double prefill_tps = stats.prefill_seconds > 0 ? stats.prefilled_tokens / stats.prefill_seconds : 0;
  double decode_tps = stats.decode_seconds > 0 && stats.generated_tokens > 1
                        ? (stats.generated_tokens - 1) / stats.decode_seconds
                        : 0;
  if (json) {
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, "done");
    json_builder_set_member_name(b, "prompt_tokens");
    json_builder_add_int_value(b, stats.prompt_tokens);
    json_builder_set_member_name(b, "generated_tokens");
    json_builder_add_int_value(b, stats.generated_tokens);
    json_builder_set_member_name(b, "finished_with_eos");
    json_builder_add_boolean_value(b, stats.finished_with_eos);
    json_builder_set_member_name(b, "stop_reason");
    json_builder_add_string_value(b, vf_stop_reason_name(stats.stop_reason));
    json_builder_set_member_name(b, "prefill_tokens_per_s");
    json_builder_add_double_value(b, prefill_tps);
    json_builder_set_member_name(b, "decode_tokens_per_s");
    json_builder_add_double_value(b, decode_tps);
    json_builder_end_object(b);
    vf_cli_print_json(b);
  } else {
    printf("\n");
  }
  static const char *const ended[] = {
    [VF_STOP_EOS] = "ended by the model",
    [VF_STOP_TOKEN_LIMIT] = "the token limit",
    [VF_STOP_CONTEXT_FULL] = "the context is full",
    [VF_STOP_CANCELLED] = "stopped",
  };
  fprintf(stderr, "viewfinder: prompt %u tokens, prefill %.1f tok/s, decode %.2f tok/s (%u tokens, %s)\n",
          stats.prompt_tokens, prefill_tps, decode_tps, stats.generated_tokens, ended[stats.stop_reason]);
  if (save) {
    /* --messages reads paths relative to the file: the paths given relative to here are saved absolute. */
    for (guint m = 0; m < chat->messages->len; m++) {
      const VfChatMessage *message = g_ptr_array_index(chat->messages, m);
      for (guint k = 0; k < message->parts->len; k++)
        make_source_absolute(g_ptr_array_index(message->parts, k));
    }
    gsize len = 0;
    g_autofree char *saved = vf_chat_json_write(chat, &len);
    if (!g_file_set_contents(save, saved, (gssize)len, &error)) {
      fprintf(stderr, "viewfinder-cli chat: --save: %s\n", error->message);
      return 1;
    }
  }
  /* A stop by signal exits as the signal would have (130 for Ctrl-C), after the final record. */
  return stats.stop_reason == VF_STOP_CANCELLED ? 128 + vf_cli_stop_signal() : 0;
}
