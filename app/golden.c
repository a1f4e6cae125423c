/* The golden runner. One line per case: "PASS name", "FAIL name: <what> max error X (tolerance Y)" or
 * "SKIP name: needs images|video". Exit status 0 only when every case passed (skips excepted).
 *
 * Nothing here depends on case names: a case folder is recognised by its files, the model is found as
 * <models>/<last component of case.model>, the tokenizer in --tokenizer. */
#define G_LOG_DOMAIN "vf-golden"

#include "cli.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vf_chat_template.h"
#include "vf_model.h"
#include "vf_positions.h"
#include "vf_safetensors.h"
#include "vf_sampler.h"
#include "vf_tokenizer.h"

typedef enum { CASE_PASS, CASE_FAIL, CASE_SKIP } CaseResult;

typedef struct {
  VfDevice *dev;
  const char *models_dir;
  const char *tokenizer_dir;
  gboolean verbose;
  GHashTable *models; /* dir -> VfModel* */
  VfTokenizer *tokenizer; /* loaded on first use */
} Golden;

/* Collects the first failure of a case and, verbosely, every comparison. */
typedef struct {
  const char *name;
  gboolean verbose;
  GString *failure; /* empty while passing */
} Check;

static void
check_fail(Check *ck, const char *format, ...) G_GNUC_PRINTF(2, 3);

static void
check_fail(Check *ck, const char *format, ...)
{
  va_list ap;
  va_start(ap, format);
  g_autofree char *msg = g_strdup_vprintf(format, ap);
  va_end(ap);
  if (ck->failure->len == 0)
    g_string_append(ck->failure, msg);
  if (ck->verbose)
    fprintf(stderr, "  %s: %s\n", ck->name, msg);
}

/* Max |got − want| against an absolute tolerance. */
static void
check_close(Check *ck, const char *what, const float *got, const float *want, size_t n, double tol)
{
  double worst = 0;
  for (size_t i = 0; i < n; i++) {
    double e = fabs((double)got[i] - (double)want[i]);
    if (isnan(e) || e > worst)
      worst = isnan(e) ? INFINITY : e;
  }
  if (ck->verbose)
    fprintf(stderr, "  %s: %s max error %.3g (tolerance %.3g)\n", ck->name, what, worst, tol);
  if (!(worst <= tol))
    check_fail(ck, "%s max error %.3g (tolerance %.3g)", what, worst, tol);
}

static double
max_abs(const float *x, size_t n)
{
  double m = 0;
  for (size_t i = 0; i < n; i++)
    m = fmax(m, fabs((double)x[i]));
  return m;
}

/* ---- reference tensors ------------------------------------------------------------------------ */

static float *
tensor_f32(const VfSafetensors *st, const char *name, uint64_t *count)
{
  const VfTensor *t = vf_safetensors_find(st, name);
  if (!t || t->dtype != VF_ST_F32)
    return NULL;
  *count = vf_tensor_numel(t);
  float *out = g_new(float, *count ? *count : 1);
  memcpy(out, t->data, *count * 4);
  return out;
}

static int64_t *
tensor_i64(const VfSafetensors *st, const char *name, uint64_t *count)
{
  const VfTensor *t = vf_safetensors_find(st, name);
  if (!t || t->dtype != VF_ST_I64)
    return NULL;
  *count = vf_tensor_numel(t);
  int64_t *out = g_new(int64_t, *count ? *count : 1);
  memcpy(out, t->data, *count * 8);
  return out;
}

/* ---- model cases -------------------------------------------------------------------------------- */

static VfModel *
get_model(Golden *g, const char *case_model, GError **error)
{
  g_autofree char *base = g_path_get_basename(case_model);
  g_autofree char *dir = g_build_filename(g->models_dir, base, NULL);
  VfModel *m = g_hash_table_lookup(g->models, dir);
  if (m)
    return m;
  VfLlmOptions opts = {.context = 4096};
  m = vf_model_load(g->dev, dir, &opts, NULL, NULL, error);
  if (m)
    g_hash_table_insert(g->models, g_strdup(dir), m);
  return m;
}

static gboolean
messages_have_media(JsonNode *node, const char **kind)
{
  /* messages: a conversation (array of messages) or, in batch cases, an array of conversations. */
  if (!JSON_NODE_HOLDS_ARRAY(node))
    return FALSE;
  JsonArray *a = json_node_get_array(node);
  for (guint i = 0; i < json_array_get_length(a); i++) {
    JsonNode *item = json_array_get_element(a, i);
    if (JSON_NODE_HOLDS_ARRAY(item)) {
      if (messages_have_media(item, kind))
        return TRUE;
      continue;
    }
    if (!JSON_NODE_HOLDS_OBJECT(item))
      continue;
    JsonNode *content = json_object_get_member(json_node_get_object(item), "content");
    if (!content || !JSON_NODE_HOLDS_ARRAY(content))
      continue;
    JsonArray *parts = json_node_get_array(content);
    for (guint j = 0; j < json_array_get_length(parts); j++) {
      JsonNode *p = json_array_get_element(parts, j);
      if (!JSON_NODE_HOLDS_OBJECT(p))
        continue;
      JsonObject *o = json_node_get_object(p);
      const char *type = json_object_has_member(o, "type") ? json_object_get_string_member(o, "type") : "";
      if (g_str_equal(type, "video") || json_object_has_member(o, "video")) {
        *kind = "video";
        return TRUE;
      }
      if (g_str_equal(type, "image") || json_object_has_member(o, "image") || json_object_has_member(o, "image_url"))
        *kind = "images";
    }
  }
  return g_strcmp0(*kind, "images") == 0;
}

static VfTokenizer *get_tokenizer(Golden *g, Check *ck);

/* Test models may have a small synthetic vocabulary: their special tokens sit at the model's own
 * <|endoftext|> id and above, and ordinary ids wrap around below it (config.json says where). */
static void
map_to_model_vocabulary(VfTokenizer *tok, const VfConfig *c, int32_t *ids, size_t n)
{
  if (c->vocab >= vf_tokenizer_n_ids(tok))
    return;
  int32_t first_special = vf_tokenizer_token_id(tok, "<|endoftext|>");
  int32_t base = c->bos_id;
  for (size_t i = 0; i < n; i++)
    ids[i] = ids[i] >= first_special ? base + (ids[i] - first_special) : ids[i] % base;
}

static CaseResult
run_model_case(Golden *g, const char *dir, JsonObject *cj, Check *ck)
{
  const char *media_kind = NULL;
  JsonNode *messages = json_object_get_member(cj, "messages");
  if (messages && messages_have_media(messages, &media_kind)) {
    g_string_assign(ck->failure, media_kind);
    return CASE_SKIP;
  }
  if (json_object_has_member(cj, "batch") && json_object_get_boolean_member(cj, "batch")) {
    g_string_assign(ck->failure, "batch");
    return CASE_SKIP;
  }

  g_autoptr(GError) error = NULL;
  g_autofree char *tpath = g_build_filename(dir, "tensors.safetensors", NULL);
  g_autoptr(VfSafetensors) st = vf_safetensors_open(tpath, &error);
  if (!st) {
    check_fail(ck, "%s", error->message);
    return CASE_FAIL;
  }
  VfModel *m = get_model(g, json_object_get_string_member(cj, "model"), &error);
  if (!m) {
    check_fail(ck, "model: %s", error->message);
    return CASE_FAIL;
  }
  const VfConfig *c = m->config;
  uint32_t H = c->hidden, V = c->vocab;

  uint64_t n_ids = 0, n_pos = 0, n_delta = 0;
  g_autofree int64_t *ids64 = tensor_i64(st, "input_ids", &n_ids);
  g_autofree int64_t *pos64 = tensor_i64(st, "position_ids", &n_pos);
  g_autofree int64_t *delta64 = tensor_i64(st, "rope_deltas", &n_delta);
  if (!ids64 || !pos64 || !delta64 || n_pos != 3 * n_ids) {
    check_fail(ck, "tensors.safetensors lacks input_ids/position_ids/rope_deltas");
    return CASE_FAIL;
  }
  uint32_t n = (uint32_t)n_ids;
  g_autofree int32_t *ids = g_new(int32_t, n);
  for (uint32_t i = 0; i < n; i++)
    ids[i] = (int32_t)ids64[i];

  /* Our own prompt: the template over the messages, tokenized. */
  VfTokenizer *tok = get_tokenizer(g, ck);
  if (!tok)
    return CASE_FAIL;
  g_autoptr(VfChat) chat = vf_chat_from_json(messages, &error);
  if (!chat) {
    check_fail(ck, "messages: %s", error->message);
    return CASE_FAIL;
  }
  VfChatTemplateFlags flags = VF_CHAT_TEMPLATE_GENERATION_PROMPT;
  if (json_object_has_member(cj, "add_vision_id") && json_object_get_boolean_member(cj, "add_vision_id"))
    flags |= VF_CHAT_TEMPLATE_VISION_ID;
  g_autofree char *prompt = vf_chat_template_render(chat, flags);
  if (g_strcmp0(prompt, json_object_get_string_member(cj, "prompt_text")) != 0)
    check_fail(ck, "prompt_text differs from the template's render");
  size_t n_ours = 0;
  g_autofree int32_t *ours = vf_tokenizer_encode(tok, prompt, &n_ours);
  map_to_model_vocabulary(tok, c, ours, n_ours);
  uint32_t ids_bad = n_ours == n ? 0 : (uint32_t)n;
  for (uint32_t i = 0; i < n && !ids_bad; i++)
    ids_bad += ours[i] != ids[i];
  if (ids_bad)
    check_fail(ck, "input_ids: ours (%zu tokens) differ from the reference (%u tokens)", n_ours, n);

  /* Positions from our get_rope_index. */
  g_autofree int32_t *pos = g_new(int32_t, 3 * (size_t)n);
  int32_t delta = 0;
  if (!vf_positions_compute(c, ids, n, NULL, 0, NULL, 0, pos, &delta, NULL, NULL, &error)) {
    check_fail(ck, "position_ids: %s", error->message);
    return CASE_FAIL;
  }
  uint32_t pos_bad = 0;
  for (uint64_t i = 0; i < 3 * (uint64_t)n; i++)
    pos_bad += pos[i] != pos64[i];
  if (pos_bad)
    check_fail(ck, "position_ids: %u of %u differ", pos_bad, 3 * n);
  if (delta != delta64[0])
    check_fail(ck, "rope_deltas: %d, reference %" G_GINT64_FORMAT, delta, delta64[0]);

  /* The prefill with traces. */
  vf_llm_truncate(m->llm, 0);
  g_autofree float *embeds = g_new(float, (size_t)n * H);
  g_autofree float *layer0 = g_new(float, (size_t)n * H);
  g_autofree float *final = g_new(float, (size_t)n * H);
  g_autofree float *logits = g_new(float, V);
  VfLlmTrace trace = {embeds, layer0, final};
  VfLlmInput in = {.ids = ids, .positions = pos, .n = n};
  if (!vf_llm_prefill(m->llm, &in, logits, &trace, &error)) {
    check_fail(ck, "prefill: %s", error->message);
    return CASE_FAIL;
  }

  struct {
    const char *name;
    const float *got;
    double rel_of_max, abs;
  } cmp[] = {
    {"llm.inputs_embeds", embeds, 1e-4, 0},
    {"llm.layer0_out", layer0, 1e-4, 0},
    {"llm.final_norm_out", final, 0, 1e-3},
    {"logits_last", logits, 1e-3, 0},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cmp); i++) {
    uint64_t count = 0;
    g_autofree float *want = tensor_f32(st, cmp[i].name, &count);
    size_t expect = g_str_equal(cmp[i].name, "logits_last") ? V : (size_t)n * H;
    if (!want || count != expect) {
      check_fail(ck, "%s missing or of the wrong size in the reference", cmp[i].name);
      continue;
    }
    double tol = cmp[i].abs + cmp[i].rel_of_max * max_abs(want, count);
    check_close(ck, cmp[i].name, cmp[i].got, want, count, tol);
  }

  /* Greedy generation: every token equal; the top-5 logits at the reference ids within tolerance. */
  JsonObject *gen = json_object_get_object_member(cj, "generation");
  JsonArray *steps = gen ? json_object_get_array_member(gen, "steps") : NULL;
  if (!steps) {
    check_fail(ck, "case.json has no generation.steps");
    return CASE_FAIL;
  }
  double logit_tol = 1e-3 * max_abs(logits, V);
  double worst_top5 = 0;
  int32_t token = vf_argmax(logits, V);
  uint32_t nsteps = json_array_get_length(steps);
  for (uint32_t s = 0; s < nsteps; s++) {
    JsonObject *step = json_array_get_object_element(steps, s);
    int32_t want_token = (int32_t)json_object_get_int_member(step, "token_id");
    if (token != want_token) {
      check_fail(ck, "greedy step %u: token %d, reference %d", s, token, want_token);
      break;
    }
    JsonArray *top_ids = json_object_get_array_member(step, "top5_ids");
    JsonArray *top_vals = json_object_get_array_member(step, "top5_logits");
    for (uint32_t k = 0; k < json_array_get_length(top_ids); k++) {
      int64_t id = json_array_get_int_element(top_ids, k);
      double want = json_array_get_double_element(top_vals, k);
      worst_top5 = fmax(worst_top5, fabs(logits[id] - want));
    }
    if (s + 1 == nsteps)
      break;
    int32_t position = (int32_t)json_object_get_int_member(step, "next_input_position_id");
    if (!vf_llm_decode(m->llm, token, position, logits, NULL, &error)) {
      check_fail(ck, "decode step %u: %s", s, error->message);
      return CASE_FAIL;
    }
    token = vf_argmax(logits, V);
  }
  if (ck->verbose)
    fprintf(stderr, "  %s: greedy top-5 logits max error %.3g (tolerance %.3g) over %u steps\n", ck->name,
            worst_top5, logit_tol, nsteps);
  if (!(worst_top5 <= logit_tol))
    check_fail(ck, "greedy top-5 logits max error %.3g (tolerance %.3g)", worst_top5, logit_tol);
  return ck->failure->len ? CASE_FAIL : CASE_PASS;
}

/* ---- tokenizer and chat-template cases ----------------------------------------------------------- */

static VfTokenizer *
get_tokenizer(Golden *g, Check *ck)
{
  if (g->tokenizer)
    return g->tokenizer;
  if (!g->tokenizer_dir) {
    check_fail(ck, "no tokenizer folder given (--tokenizer DIR)");
    return NULL;
  }
  g_autoptr(GError) error = NULL;
  g->tokenizer = vf_tokenizer_load(g->tokenizer_dir, &error);
  if (!g->tokenizer)
    check_fail(ck, "tokenizer: %s", error->message);
  return g->tokenizer;
}

static gboolean
ids_equal(const int32_t *ids, size_t n, JsonArray *want)
{
  if (json_array_get_length(want) != n)
    return FALSE;
  for (size_t i = 0; i < n; i++)
    if (ids[i] != json_array_get_int_element(want, (guint)i))
      return FALSE;
  return TRUE;
}

static JsonArray *
load_cases(const char *file, JsonParser *parser, Check *ck)
{
  g_autoptr(GError) error = NULL;
  if (!json_parser_load_from_file(parser, file, &error)) {
    check_fail(ck, "%s: %s", file, error->message);
    return NULL;
  }
  JsonNode *root = json_parser_get_root(parser);
  JsonObject *o = JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
  JsonNode *cases = o ? json_object_get_member(o, "cases") : NULL;
  if (!cases || !JSON_NODE_HOLDS_ARRAY(cases)) {
    check_fail(ck, "%s: no \"cases\" array", file);
    return NULL;
  }
  return json_node_get_array(cases);
}

/* Every string: ids exact, decode and decode without specials exact. */
static CaseResult
run_tokenizer_cases(Golden *g, const char *file, Check *ck)
{
  VfTokenizer *tok = get_tokenizer(g, ck);
  g_autoptr(JsonParser) parser = json_parser_new();
  JsonArray *cases = tok ? load_cases(file, parser, ck) : NULL;
  if (!cases)
    return CASE_FAIL;
  guint total = json_array_get_length(cases), exact = 0;
  for (guint i = 0; i < total; i++) {
    JsonObject *c = json_array_get_object_element(cases, i);
    const char *name = json_object_get_string_member(c, "name");
    size_t n = 0;
    g_autofree int32_t *ids = vf_tokenizer_encode(tok, json_object_get_string_member(c, "text"), &n);
    JsonArray *want = json_object_get_array_member(c, "ids");
    g_autofree int32_t *want_ids = g_new(int32_t, json_array_get_length(want) + 1);
    for (guint k = 0; k < json_array_get_length(want); k++)
      want_ids[k] = (int32_t)json_array_get_int_element(want, k);
    g_autofree char *decoded = vf_tokenizer_decode(tok, want_ids, json_array_get_length(want), FALSE);
    g_autofree char *skipped = vf_tokenizer_decode(tok, want_ids, json_array_get_length(want), TRUE);
    if (!ids_equal(ids, n, want))
      check_fail(ck, "case %s: ids differ", name);
    else if (g_strcmp0(decoded, json_object_get_string_member(c, "decoded")) != 0)
      check_fail(ck, "case %s: decode differs", name);
    else if (g_strcmp0(skipped, json_object_get_string_member(c, "decoded_skip_special")) != 0)
      check_fail(ck, "case %s: decode without special tokens differs", name);
    else
      exact++;
  }
  if (ck->verbose || exact != total)
    fprintf(stderr, "  %s: %u/%u strings exact (ids and decodes)\n", ck->name, exact, total);
  return exact == total ? CASE_PASS : CASE_FAIL;
}

/* Every render exact, and its token ids before pad expansion. */
static CaseResult
run_template_cases(Golden *g, const char *file, Check *ck)
{
  VfTokenizer *tok = get_tokenizer(g, ck);
  g_autoptr(JsonParser) parser = json_parser_new();
  JsonArray *cases = tok ? load_cases(file, parser, ck) : NULL;
  if (!cases)
    return CASE_FAIL;
  guint total = json_array_get_length(cases), exact = 0;
  for (guint i = 0; i < total; i++) {
    JsonObject *c = json_array_get_object_element(cases, i);
    const char *name = json_object_get_string_member(c, "name");
    g_autoptr(GError) error = NULL;
    g_autoptr(VfChat) chat = vf_chat_from_json(json_object_get_member(c, "messages"), &error);
    if (!chat) {
      check_fail(ck, "case %s: %s", name, error->message);
      continue;
    }
    VfChatTemplateFlags flags = 0;
    if (json_object_get_boolean_member(c, "add_generation_prompt"))
      flags |= VF_CHAT_TEMPLATE_GENERATION_PROMPT;
    if (json_object_get_boolean_member(c, "add_vision_id"))
      flags |= VF_CHAT_TEMPLATE_VISION_ID;
    g_autofree char *text = vf_chat_template_render(chat, flags);
    size_t n = 0;
    g_autofree int32_t *ids = vf_tokenizer_encode(tok, text, &n);
    if (g_strcmp0(text, json_object_get_string_member(c, "rendered")) != 0)
      check_fail(ck, "case %s: rendered text differs", name);
    else if (!ids_equal(ids, n, json_object_get_array_member(c, "ids_unexpanded")))
      check_fail(ck, "case %s: ids differ", name);
    else
      exact++;
  }
  if (ck->verbose || exact != total)
    fprintf(stderr, "  %s: %u/%u renders exact (text and ids)\n", ck->name, exact, total);
  return exact == total ? CASE_PASS : CASE_FAIL;
}

/* ---- driver ------------------------------------------------------------------------------------- */

static CaseResult
run_case(Golden *g, const char *dir, Check *ck)
{
  g_autofree char *case_json = g_build_filename(dir, "case.json", NULL);
  if (g_file_test(case_json, G_FILE_TEST_EXISTS)) {
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;
    if (!json_parser_load_from_file(parser, case_json, &error)) {
      check_fail(ck, "%s: %s", case_json, error->message);
      return CASE_FAIL;
    }
    JsonObject *cj = json_node_get_object(json_parser_get_root(parser));
    if (!json_object_has_member(cj, "model")) {
      g_string_assign(ck->failure, "images");
      return CASE_SKIP; /* preprocessing-only case */
    }
    return run_model_case(g, dir, cj, ck);
  }
  g_autofree char *tok_json = g_build_filename(dir, "tokenizer_cases.json", NULL);
  if (g_file_test(tok_json, G_FILE_TEST_EXISTS))
    return run_tokenizer_cases(g, tok_json, ck);
  g_autofree char *tpl_json = g_build_filename(dir, "chat_template_cases.json", NULL);
  if (g_file_test(tpl_json, G_FILE_TEST_EXISTS))
    return run_template_cases(g, tpl_json, ck);
  check_fail(ck, "%s holds no case.json, tokenizer_cases.json or chat_template_cases.json", dir);
  return CASE_FAIL;
}

int
vf_cli_golden(int argc, char **argv)
{
  g_autofree char *models_dir = NULL, *tokenizer_dir = NULL;
  gboolean verbose = FALSE;
  GOptionEntry entries[] = {
    {"models", 0, 0, G_OPTION_ARG_FILENAME, &models_dir, "folder holding the models (default: shared/golden/models)", "DIR"},
    {"tokenizer", 0, 0, G_OPTION_ARG_FILENAME, &tokenizer_dir, "tokenizer folder", "DIR"},
    {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "print every comparison", NULL},
    {NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("CASE_DIR... — compare with reference cases");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
    fprintf(stderr, "viewfinder-cli golden: %s\n", error->message);
    return 2;
  }
  if (argc < 2) {
    fprintf(stderr, "viewfinder-cli golden: no case folder given\n");
    return 2;
  }
  Golden g = {
    .models_dir = models_dir ? models_dir : "shared/golden/models",
    .tokenizer_dir = tokenizer_dir,
    .verbose = verbose,
    .models = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)vf_model_free),
  };
  g.dev = vf_cli_device(&error);
  if (!g.dev) {
    fprintf(stderr, "viewfinder-cli golden: %s\n", error->message);
    return 1;
  }

  int failed = 0, passed = 0, skipped = 0;
  for (int i = 1; i < argc; i++) {
    g_autofree char *trimmed = g_strdup(argv[i]);
    size_t len = strlen(trimmed);
    while (len > 1 && trimmed[len - 1] == '/')
      trimmed[--len] = '\0';
    g_autofree char *name = g_path_get_basename(trimmed);
    Check ck = {.name = name, .verbose = verbose, .failure = g_string_new(NULL)};
    CaseResult r = run_case(&g, trimmed, &ck);
    if (r == CASE_PASS) {
      printf("PASS %s\n", name);
      passed++;
    } else if (r == CASE_SKIP) {
      printf("SKIP %s: needs %s\n", name, ck.failure->str);
      skipped++;
    } else {
      printf("FAIL %s: %s\n", name, ck.failure->str);
      failed++;
    }
    fflush(stdout);
    g_string_free(ck.failure, TRUE);
  }
  g_hash_table_unref(g.models);
  vf_tokenizer_free(g.tokenizer);
  uint32_t messages = vf_device_validation_messages(g.dev);
  vf_device_free(g.dev);
  fprintf(stderr, "golden: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
  if (messages) {
    fprintf(stderr, "golden: the validation layer reported %u message(s)\n", messages);
    return 1;
  }
  return failed ? 1 : 0;
}
