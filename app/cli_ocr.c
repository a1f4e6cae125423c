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
collect(const char *piece, void *user)
{
  g_string_append(user, piece);
}

static void
print_result(gboolean json, const char *path, const char *text, const VfTurnStats *st, uint32_t visual_tokens,
             const char *error_message)
{
  if (!json) {
    if (error_message)
      printf("== %s: error: %s\n", path, error_message);
    else
      printf("== %s (%u visual tokens, %.1f s)\n%s\n", path, visual_tokens,
             st->prefill_seconds + st->decode_seconds, text);
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
    json_builder_set_member_name(b, "text");
    json_builder_add_string_value(b, text);
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
  vf_cli_print_json(b);
}

int
vf_cli_ocr(int argc, char **argv)
{
  g_autofree char *model_dir = NULL, *tokenizer_dir = NULL, *prompt = NULL;
  int max_new = 1024;
  gint64 max_pixels = 0;
  gboolean json = FALSE;
  GOptionEntry entries[] = {
    {"model", 'm', 0, G_OPTION_ARG_FILENAME, &model_dir, "model folder", "DIR"},
    {"tokenizer", 0, 0, G_OPTION_ARG_FILENAME, &tokenizer_dir, "tokenizer folder (default: the model folder)", "DIR"},
    {"prompt", 'p', 0, G_OPTION_ARG_STRING, &prompt, "the instruction (default: transcribe the text)", "TEXT"},
    {"max-new-tokens", 0, 0, G_OPTION_ARG_INT, &max_new, "most tokens per file (1024)", "N"},
    {"max-pixels", 0, 0, G_OPTION_ARG_INT64, &max_pixels, "at most this many pixels per image after resizing", "N"},
    {"json", 0, 0, G_OPTION_ARG_NONE, &json, "one JSON line per file", NULL},
    {NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("FILE... — transcribe images");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error) || !model_dir || argc < 2 || max_new <= 0) {
    fprintf(stderr, "viewfinder-cli ocr: %s\n", error ? error->message : "usage: ocr -m MODEL_DIR FILE...");
    return 2;
  }
  g_autoptr(VfTokenizer) tok = vf_tokenizer_load(tokenizer_dir ? tokenizer_dir : model_dir, &error);
  g_autoptr(VfDevice) dev = tok ? vf_cli_device(&error) : NULL;
  g_autoptr(VfModel) model = dev ? vf_model_load(dev, model_dir, NULL, vf_cli_progress, NULL, &error) : NULL;
  if (!model) {
    fprintf(stderr, "viewfinder-cli ocr: %s\n", error->message);
    return 1;
  }
  g_autoptr(VfSession) session = vf_session_new(model, tok);
  VfGenerateOptions opts;
  vf_session_default_options(session, &opts);
  opts.max_new_tokens = (uint32_t)max_new;
  opts.on_stage = vf_cli_stage;

  int failures = 0;
  for (int i = 1; i < argc; i++) {
    vf_session_reset(session);
    VfChatMessage *msg = vf_chat_append_message(vf_session_chat(session), "user");
    vf_chat_message_append_image(msg, argv[i])->options.max_pixels = (uint64_t)MAX(max_pixels, 0);
    vf_chat_message_append_text(msg, prompt ? prompt : OCR_PROMPT);
    g_autoptr(GString) text = g_string_new(NULL);
    VfTurnStats st = {0};
    g_clear_error(&error);
    /* The visual token count from the image's header, before any pixel is decoded. */
    VfImageProcessorConfig proc;
    vf_prompt_processor_config(model->config, &proc);
    VfImageOptions img_opts = {.max_pixels = (uint64_t)MAX(max_pixels, 0)};
    VfImagePlan plan = {0};
    gboolean ok = vf_image_plan_source(argv[i], &img_opts, &proc, &plan, &error) &&
                  vf_session_generate(session, &opts, collect, text, NULL, &st, &error);
    if (!ok)
      failures++;
    print_result(json, argv[i], text->str, &st, plan.n_tokens, ok ? NULL : error->message);
  }
  return failures ? 1 : 0;
}
