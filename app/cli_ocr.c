/* viewfinder-cli ocr: transcribe the text of each image file, one JSON line (or one block) per file. */
#define G_LOG_DOMAIN "viewfinder-cli"

#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "vf_prompt.h"
#include "vf_session.h"

#define OCR_PROMPT "Transcribe all the text in this image, preserving its layout. Reply with the text only."

static void
collect(const char *piece, size_t len, void *user)
{
  g_string_append_len(user, piece, (gssize)len);
}

static void
print_result(gboolean json, const char *path, const GString *text, const VfTurnStats *st, uint32_t visual_tokens,
             const char *error_message)
{
  if (!json) {
    if (error_message)
      printf("== %s: error: %s\n", path, error_message);
    else {
      printf("== %s (%u visual tokens, %.1f s)\n", path, visual_tokens, st->prefill_seconds + st->decode_seconds);
      fwrite(text->str, 1, text->len, stdout);
      printf("\n");
    }
    fflush(stdout);
    return;
  }
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "path");
  json_builder_add_string_value(b, path);
  if (error_message) {
    json_builder_set_member_name(b, "error");
    json_builder_add_string_value(b, error_message);
  } else {
    json_builder_set_member_name(b, "visual_tokens");
    json_builder_add_int_value(b, visual_tokens);
    json_builder_set_member_name(b, "prompt_tokens");
    json_builder_add_int_value(b, st->prompt_tokens);
    json_builder_set_member_name(b, "generated_tokens");
    json_builder_add_int_value(b, st->generated_tokens);
    json_builder_set_member_name(b, "prefill_seconds");
    json_builder_add_double_value(b, st->prefill_seconds);
    json_builder_set_member_name(b, "decode_seconds");
    json_builder_add_double_value(b, st->decode_seconds);
  }
  json_builder_end_object(b);
  if (error_message)
    vf_cli_print_json(b);
  else
    vf_cli_print_json_with_text(b, "text", text->str, text->len);
}

int
vf_cli_ocr(int argc, char **argv)
{
  g_autofree char *model_dir = NULL, *tokenizer_dir = NULL, *prompt = NULL;
  int max_new = 1024, batch = 1;
  gint64 max_pixels = 0;
  gboolean json = FALSE;
  GOptionEntry entries[] = {
    {"model", 'm', 0, G_OPTION_ARG_FILENAME, &model_dir, "model folder", "DIR"},
    {"tokenizer", 0, 0, G_OPTION_ARG_FILENAME, &tokenizer_dir, "tokenizer folder (default: the model folder)", "DIR"},
    {"prompt", 'p', 0, G_OPTION_ARG_STRING, &prompt, "the instruction (default: transcribe the text)", "TEXT"},
    {"max-new-tokens", 0, 0, G_OPTION_ARG_INT, &max_new, "most tokens per file (1024)", "N"},
    {"max-pixels", 0, 0, G_OPTION_ARG_INT64, &max_pixels, "at most this many pixels per image after resizing", "N"},
    {"batch", 'b', 0, G_OPTION_ARG_INT, &batch, "files answered together, one KV cache each (1)", "N"},
    {"json", 0, 0, G_OPTION_ARG_NONE, &json, "one JSON line per file", NULL},
    {NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("FILE... — transcribe images");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error) || !model_dir || argc < 2 || max_new <= 0 || batch < 1 ||
      batch > 64) {
    fprintf(stderr, "viewfinder-cli ocr: %s\n",
            error ? error->message : "usage: ocr -m MODEL_DIR [--batch 1..64] FILE...");
    return 2;
  }
  uint32_t n_seq = (uint32_t)MIN(batch, argc - 1);
  g_autoptr(VfTokenizer) tok = vf_tokenizer_load(tokenizer_dir ? tokenizer_dir : model_dir, &error);
  g_autoptr(VfDevice) dev = tok ? vf_cli_device(&error) : NULL;
  VfLlmOptions llm_opts = {.sequences = n_seq};
  g_autoptr(VfModel) model = dev ? vf_model_load(dev, model_dir, &llm_opts, vf_cli_progress, NULL, &error) : NULL;
  if (!model) {
    fprintf(stderr, "viewfinder-cli ocr: %s\n", error->message);
    return 1;
  }
  g_autoptr(GPtrArray) sessions = g_ptr_array_new_with_free_func((GDestroyNotify)vf_session_free);
  for (uint32_t q = 0; q < n_seq; q++) {
    VfSession *s = vf_session_new(model, tok, &error);
    if (!s) {
      fprintf(stderr, "viewfinder-cli ocr: %s\n", error->message);
      return 1;
    }
    g_ptr_array_add(sessions, s);
  }
  VfGenerateOptions opts;
  vf_session_default_options(sessions->pdata[0], &opts);
  opts.max_new_tokens = (uint32_t)max_new;
  opts.on_stage = vf_cli_stage;
  VfImageProcessorConfig proc;
  vf_prompt_processor_config(model->config, &proc);
  VfImageOptions img_opts = {.max_pixels = (uint64_t)MAX(max_pixels, 0)};

  int failures = 0;
  for (int first = 1; first < argc; first += (int)n_seq) {
    uint32_t n = (uint32_t)MIN((int)n_seq, argc - first);
    GString *texts[64];
    void *users[64];
    VfTurnStats stats[64] = {{0}};
    GError *errors[64] = {NULL};
    VfImagePlan plans[64] = {{0}};
    for (uint32_t i = 0; i < n; i++) {
      VfSession *s = sessions->pdata[i];
      vf_session_reset(s);
      VfChatMessage *msg = vf_chat_append_message(vf_session_chat(s), "user");
      vf_chat_message_append_image(msg, argv[first + i])->options.max_pixels = img_opts.max_pixels;
      vf_chat_message_append_text(msg, prompt ? prompt : OCR_PROMPT);
      texts[i] = g_string_new(NULL);
      users[i] = texts[i];
      /* The visual token count from the image's header, before any pixel is decoded. */
      vf_image_plan_source(argv[first + i], &img_opts, &proc, &plans[i], NULL);
    }
    g_clear_error(&error);
    gboolean ok = vf_session_generate_together((VfSession *const *)sessions->pdata, n, &opts, collect, users, NULL,
                                               stats, errors, &error);
    for (uint32_t i = 0; i < n; i++) {
      const char *message = errors[i] ? errors[i]->message : !ok ? error->message : NULL;
      failures += message != NULL;
      print_result(json, argv[first + i], texts[i], &stats[i], plans[i].n_tokens, message);
      g_string_free(texts[i], TRUE);
      g_clear_error(&errors[i]);
    }
  }
  return failures ? 1 : 0;
}
