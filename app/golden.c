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

#include "vf_chat_json.h"
#include "vf_chat_template.h"
#include "vf_model.h"
#include "vf_positions.h"
#include "vf_prompt.h"
#include "vf_safetensors.h"
#include "vf_sampler.h"
#include "vf_tokenizer.h"

typedef enum { CASE_PASS, CASE_FAIL, CASE_SKIP } CaseResult;

/* Against the reference model (--reference-models): each row's logits before every greedy step (step 0:
 * after the prefill) and the tokens, recorded from the reference model's run of a case and compared with
 * the model's run of the same case. */
typedef struct {
  float *logits;   /* [B, steps, V] */
  int32_t *tokens; /* [B, steps] */
  uint32_t steps;
} Recording;

typedef enum {
  GOLDEN_HF,      /* against the case's reference tensors */
  GOLDEN_RECORD,  /* running the reference model: recording */
  GOLDEN_COMPARE, /* against the recording */
} GoldenMode;

typedef struct {
  VfDevice *dev;
  const char *models_dir;
  const char *tokenizer_dir;
  gboolean verbose;
  GHashTable *models; /* dir -> VfModel* */
  VfTokenizer *tokenizer; /* loaded on first use */
  const char *reference_dir; /* --reference-models, or NULL */
  GoldenMode mode;
  Recording recording;
} Golden;

/* Collects the first failure of a case and, verbosely, every comparison. */
typedef struct {
  const char *name;
  gboolean verbose;
  double tolerance_scale; /* every numeric tolerance times this (--tolerance-scale; 1 for the goldens) */
  GString *failure;       /* empty while passing */
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
  tol *= ck->tolerance_scale;
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
  g_autofree char *dir = g_build_filename(g->mode == GOLDEN_RECORD ? g->reference_dir : g->models_dir, base, NULL);
  VfModel *m = g_hash_table_lookup(g->models, dir);
  if (m)
    return m;
  VfLlmOptions opts = {.context = 4096};
  m = vf_model_load(g->dev, dir, &opts, NULL, NULL, error);
  if (m)
    g_hash_table_insert(g->models, g_strdup(dir), m);
  return m;
}

static VfTokenizer *get_tokenizer(Golden *g, Check *ck);

/* Test models may have a small synthetic vocabulary: their special tokens sit at the model's own
 * <|endoftext|> id and above, and ordinary ids wrap around below it (config.json says where). */
typedef struct {
  int32_t first_special; /* the tokenizer's <|endoftext|> */
  int32_t base;          /* the model's */
} IdMap;

static void
map_ids(int32_t *ids, size_t n, void *user)
{
  const IdMap *m = user;
  for (size_t i = 0; i < n; i++)
    ids[i] = ids[i] >= m->first_special ? m->base + (ids[i] - m->first_special) : ids[i] % m->base;
}

/* Compares rows [r0, r1) of a [rows, width] tensor slice at tolerance rel·max|want| + abs. */
static void
check_rows(Check *ck, const char *what, const float *got, const float *want, uint32_t width, const uint8_t *use,
           uint32_t rows, double rel, double abs_tol)
{
  double worst = 0, max_want = 0;
  for (uint32_t r = 0; r < rows; r++)
    if (!use || use[r])
      for (uint32_t i = 0; i < width; i++) {
        size_t k = (size_t)r * width + i;
        max_want = fmax(max_want, fabs(want[k]));
        double e = fabs((double)got[k] - want[k]);
        worst = isnan(e) ? INFINITY : fmax(worst, e);
      }
  double tol = (abs_tol + rel * max_want) * ck->tolerance_scale;
  if (ck->verbose)
    fprintf(stderr, "  %s: %s max error %.3g (tolerance %.3g)\n", ck->name, what, worst, tol);
  if (!(worst <= tol))
    check_fail(ck, "%s max error %.3g (tolerance %.3g)", what, worst, tol);
}

typedef struct {
  VfPrompt *prompt;
  uint32_t pad; /* left padding in the batch */
} Row;

/* The rendered text with each pad repeated as often as its item has tokens (items are in text order). */
static char *
expand_pads(const VfPrompt *p)
{
  GString *out = g_string_new(NULL);
  const char *at = p->text;
  for (guint i = 0; i < p->items->len; i++) {
    const VfPromptItem *it = p->items->pdata[i];
    const char *pad = it->is_video ? "<|video_pad|>" : "<|image_pad|>";
    const char *hit = strstr(at, pad);
    if (!hit)
      break;
    g_string_append_len(out, at, hit - at);
    for (uint32_t k = 0; k < it->n_tokens; k++)
      g_string_append(out, pad);
    at = hit + strlen(pad);
  }
  g_string_append(out, at);
  return g_string_free(out, FALSE);
}

/* A video file's frames are resized with torchvision's antialiased bicubic, which we match within one level of
 * the 8-bit reference, not bit for bit. Check that, then patchify the reference's own resized frames
 * (videoK.resized_rgb_u8), so the rest of the pipeline is held to the fp32 tolerances (the golden README's way
 * around decoder differences). Returns the patch rows (owned by *rows) or NULL after a failure. */
static const float *
from_file_frames(Check *ck, const VfSafetensors *st, const VfVideoInput *video, uint32_t k,
                 const VfNormalizeTable *norm, float **rows)
{
  g_autofree char *name = g_strdup_printf("video%u.resized_rgb_u8", k);
  const VfTensor *t = vf_safetensors_find(st, name);
  const VfVideoPlan *plan = video->plan;
  uint64_t frame_bytes = (uint64_t)plan->out_height * plan->out_width * 3;
  if (!t || t->dtype != VF_ST_U8 || t->size != frame_bytes * plan->n_frames || !video->frames) {
    check_fail(ck, "%s is missing or of another size than our %u frames of %ux%u", name, plan->n_frames,
               plan->out_width, plan->out_height);
    return NULL;
  }
  int worst = 0;
  uint64_t off_by_one = 0;
  for (uint64_t i = 0; i < t->size; i++) {
    int d = abs((int)video->frames[i] - (int)t->data[i]);
    worst = MAX(worst, d);
    off_by_one += d != 0;
  }
  if (ck->verbose)
    fprintf(stderr, "  %s: %s: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes differ, by at most %d\n",
            ck->name, name, off_by_one, (guint64)t->size, worst);
  if (worst > 1) {
    check_fail(ck, "%s: resized frames differ by up to %d levels (allowed 1)", name, worst);
    return NULL;
  }
  g_autofree const uint8_t **frames = g_new(const uint8_t *, plan->n_frames);
  for (uint32_t f = 0; f < plan->n_frames; f++)
    frames[f] = t->data + f * frame_bytes;
  *rows = g_new(float, (size_t)plan->n_patches * VF_PATCH_DIM);
  vf_patchify_rgb8(frames, plan->n_frames, plan->out_height, plan->out_width, norm, *rows);
  return *rows;
}

/* Preprocesses every image (or video) of the batch, compares the pixels and grids with the reference, runs one
 * vision call over all of them with traces, compares those, and leaves the output in *out. */
static gboolean
run_vision(Golden *g, VfModel *m, const VfSafetensors *st, const Row *rows, uint32_t B, gboolean videos,
           VfBuffer *out, Check *ck)
{
  g_autoptr(GError) error = NULL;
  const VfConfig *c = m->config;
  uint32_t H = c->hidden;
  const char *pix_name = videos ? "pixel_values_videos" : "pixel_values";
  const char *grid_name = videos ? "video_grid_thw" : "image_grid_thw";
  const char *prefix = videos ? "vision_videos" : "vision_images";
  VfImageProcessorConfig proc;
  vf_prompt_processor_config(c, &proc);
  g_autoptr(GArray) grids = g_array_new(FALSE, FALSE, sizeof(VfGrid));
  g_autoptr(GArray) pixels = g_array_new(FALSE, FALSE, sizeof(float));
  VfNormalizeTable norm;
  vf_normalize_table_init(&norm, &proc);
  uint32_t video_index = 0;
  for (uint32_t b = 0; b < B; b++)
    for (guint i = 0; i < rows[b].prompt->items->len; i++) {
      const VfPromptItem *it = rows[b].prompt->items->pdata[i];
      if (it->is_video != videos)
        continue;
      g_autoptr(VfImageInput) image = NULL;
      g_autoptr(VfVideoInput) video = NULL;
      if (!videos)
        image = vf_image_input_new(it->source, &it->options, &proc, &error);
      else if (it->frames)
        video = vf_video_input_new_from_frames((const char *const *)it->frames, &it->part->options, &proc, NULL,
                                               &error);
      else {
        VfVideoRunOptions run = {.flags = VF_VIDEO_KEEP_FRAMES};
        video = vf_video_input_new(it->source, &it->part->options, &proc, &run, &error);
      }
      if (!image && !video) {
        check_fail(ck, "%s", error->message);
        return FALSE;
      }
      VfGrid grid = videos ? video->plan->grid : image->plan.grid;
      uint32_t n = videos ? video->plan->n_patches : image->plan.n_patches;
      const float *rows_of_item = videos ? video->pixel_values : image->pixel_values;
      g_autofree float *from_reference = NULL;
      if (videos && !it->frames && !(rows_of_item = from_file_frames(ck, st, video, video_index, &norm,
                                                                        &from_reference)))
        return FALSE;
      video_index += videos;
      g_array_append_val(grids, grid);
      g_array_append_vals(pixels, rows_of_item, (guint)n * VF_PATCH_DIM);
    }
  if (grids->len == 0)
    return TRUE;

  uint64_t n_patches = pixels->len / VF_PATCH_DIM, count = 0, n_grid = 0;
  g_autofree float *want_pixels = tensor_f32(st, pix_name, &count);
  g_autofree int64_t *want_grid = tensor_i64(st, grid_name, &n_grid);
  if (!want_pixels || count != pixels->len || !want_grid || n_grid != 3 * grids->len) {
    check_fail(ck, "%s: %" G_GUINT64_FORMAT " patch rows in %u grid(s), the reference differs", pix_name, n_patches,
               grids->len);
    return FALSE;
  }
  for (guint i = 0; i < grids->len; i++) {
    VfGrid gr = g_array_index(grids, VfGrid, i);
    if (gr.t != want_grid[3 * i] || gr.h != want_grid[3 * i + 1] || gr.w != want_grid[3 * i + 2])
      check_fail(ck, "%s of item %u differs", grid_name, i);
  }
  check_close(ck, pix_name, (float *)pixels->data, want_pixels, count, 1e-5);
  const double rel = 1e-4;

  if (!m->vision) {
    check_fail(ck, "the model has no vision tower");
    return FALSE;
  }
  uint32_t E = c->vision.embed_dim, groups = vf_vision_groups((VfGrid *)grids->data, grids->len);
  uint32_t rot_width = E / c->vision.num_heads / 2;
  g_autofree float *t_patch = g_new(float, n_patches * E);
  g_autofree float *t_rot = g_new(float, n_patches * rot_width);
  g_autofree int32_t *t_cu = g_new(int32_t, groups + 1);
  g_autofree float *t_block0 = g_new(float, n_patches * E);
  g_autofree float *t_merger = g_new(float, n_patches / 4 * H);
  VfVisionTrace vt = {t_patch, t_rot, t_cu, t_block0, t_merger};
  if (!vf_vision_encode(m->vision, (float *)pixels->data, (uint32_t)n_patches, (VfGrid *)grids->data, grids->len,
                        out, &vt, &error)) {
    check_fail(ck, "vision: %s", error->message);
    return FALSE;
  }
  g_autofree char *cu_name = g_strdup_printf("%s.cu_seqlens", prefix);
  uint64_t n_cu = 0;
  g_autofree int64_t *want_cu = tensor_i64(st, cu_name, &n_cu);
  gboolean cu_ok = want_cu && n_cu == groups + 1u;
  for (uint32_t i = 0; cu_ok && i <= groups; i++)
    cu_ok = t_cu[i] == want_cu[i];
  if (!cu_ok)
    check_fail(ck, "%s differ", cu_name);
  struct {
    const char *name;
    const float *got;
    uint64_t count;
    double rel, abs;
  } vcmp[] = {
    {"patch_embed", t_patch, n_patches * E, rel, 0},
    {"rot_pos_emb", t_rot, n_patches * rot_width, 0, 1e-6},
    {"block0_out", t_block0, n_patches * E, rel, 0},
    {"merger_out", t_merger, n_patches / 4 * H, rel, 0},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(vcmp); i++) {
    g_autofree char *name = g_strdup_printf("%s.%s", prefix, vcmp[i].name);
    g_autofree float *want = tensor_f32(st, name, &count);
    if (!want || count != vcmp[i].count) {
      check_fail(ck, "%s missing or of the wrong size in the reference", name);
      continue;
    }
    check_close(ck, name, vcmp[i].got, want, count, vcmp[i].abs + vcmp[i].rel * max_abs(want, count));
  }
  return TRUE;
}

/* The reference-model modes: step `step` of row `b` (its logits and the greedy token) recorded, or
 * compared with the recording at the fp32 logit tolerance (golden README: 1e-3 · max |logit|). */
static void
record_or_compare(Golden *g, Check *ck, uint32_t b, uint32_t step, const float *logits, int32_t token, uint32_t V)
{
  Recording *r = &g->recording;
  float *at = r->logits + ((size_t)b * r->steps + step) * V;
  if (g->mode == GOLDEN_RECORD) {
    memcpy(at, logits, V * sizeof *logits);
    r->tokens[b * r->steps + step] = token;
    return;
  }
  char what[64];
  g_snprintf(what, sizeof what, "row %u step %u logits", b, step);
  check_close(ck, what, logits, at, V, 1e-3 * max_abs(at, V));
  if (token != r->tokens[b * r->steps + step])
    check_fail(ck, "row %u greedy step %u: token %d, the reference model's %d", b, step, token,
               r->tokens[b * r->steps + step]);
}

static CaseResult
run_model_case_checks(Golden *g, const char *dir, JsonObject *cj, Check *ck, Check *verdict)
{
  g_autoptr(GError) error = NULL;
  gboolean batch = json_object_has_member(cj, "batch") && json_object_get_boolean_member(cj, "batch");
  JsonNode *messages = json_object_get_member(cj, "messages");
  JsonArray *convs = NULL;
  if (batch && messages && JSON_NODE_HOLDS_ARRAY(messages))
    convs = json_node_get_array(messages);
  uint32_t B = convs ? json_array_get_length(convs) : 1;

  VfTokenizer *tok = get_tokenizer(g, ck);
  if (!tok)
    return CASE_FAIL;
  g_autoptr(GPtrArray) chats = g_ptr_array_new_with_free_func((GDestroyNotify)vf_chat_free);
  for (uint32_t b = 0; b < B; b++) {
    VfChat *chat = vf_chat_from_json(convs ? json_array_get_element(convs, b) : messages, &error);
    if (!chat) {
      check_fail(ck, "messages: %s", error->message);
      return CASE_FAIL;
    }
    g_ptr_array_add(chats, chat);
  }

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
  /* Every row of the case in turn in one sequence of the model (kept loaded for the other cases). */
  g_autoptr(VfLlmSequence) seq = vf_llm_sequence_new(m->llm, &error);
  if (!seq) {
    check_fail(ck, "model: %s", error->message);
    return CASE_FAIL;
  }
  const VfConfig *c = m->config;
  uint32_t H = c->hidden, V = c->vocab;

  uint64_t n_ids = 0, n_pos = 0, n_delta = 0, n_mask = 0;
  g_autofree int64_t *ids64 = tensor_i64(st, "input_ids", &n_ids);
  g_autofree int64_t *mask64 = tensor_i64(st, "attention_mask", &n_mask);
  g_autofree int64_t *pos64 = tensor_i64(st, "position_ids", &n_pos);
  g_autofree int64_t *delta64 = tensor_i64(st, "rope_deltas", &n_delta);
  if (!ids64 || !mask64 || !pos64 || !delta64 || n_ids % B || n_pos != 3 * n_ids || n_delta != B) {
    check_fail(ck, "tensors.safetensors lacks input_ids/attention_mask/position_ids/rope_deltas");
    return CASE_FAIL;
  }
  uint32_t L = (uint32_t)(n_ids / B);

  /* Our prompts: template, tokens, pad expansion, left padding to the batch's length, positions. */
  IdMap idmap = {vf_tokenizer_token_id(tok, "<|endoftext|>"), c->bos_id};
  gboolean mapped = c->vocab < vf_tokenizer_n_ids(tok);
  VfChatTemplateFlags flags = VF_CHAT_TEMPLATE_GENERATION_PROMPT;
  if (json_object_has_member(cj, "add_vision_id") && json_object_get_boolean_member(cj, "add_vision_id"))
    flags |= VF_CHAT_TEMPLATE_VISION_ID;
  JsonNode *prompt_text = json_object_get_member(cj, "prompt_text");
  Row rows[8] = {{0}};
  if (B > G_N_ELEMENTS(rows)) {
    check_fail(ck, "batch of %u rows: at most %zu", B, G_N_ELEMENTS(rows));
    return CASE_FAIL;
  }
  CaseResult result = CASE_FAIL;
  g_autofree int32_t *ids = g_new(int32_t, (size_t)L);
  g_autofree int32_t *pos = g_new(int32_t, 3 * (size_t)L);
  VfBuffer vision_out[2] = {{0}}; /* images, videos: f32 [tokens, H] */
  g_autofree float *embeds = g_new(float, (size_t)L * H);
  g_autofree float *layer0 = g_new(float, (size_t)L * H);
  g_autofree float *final = g_new(float, (size_t)L * H);
  g_autofree float *logits = g_new(float, V);
  g_autofree uint8_t *use = g_new(uint8_t, L);
  /* References of the language model; declared before the first `goto out`. */
  g_autofree float *want_embeds = NULL, *want_layer0 = NULL, *want_final = NULL, *want_logits = NULL;

  for (uint32_t b = 0; b < B; b++) {
    rows[b].prompt = vf_prompt_build(chats->pdata[b], tok, c, flags, dir, mapped ? map_ids : NULL, &idmap, &error);
    if (!rows[b].prompt) {
      check_fail(ck, "prompt: %s", error->message);
      goto out;
    }
    const char *want_text = JSON_NODE_HOLDS_ARRAY(prompt_text)
                              ? json_array_get_string_element(json_node_get_array(prompt_text), b)
                              : json_node_get_string(prompt_text);
    /* The reference text may be the template's render or the processor's text after pad expansion. */
    g_autofree char *expanded = expand_pads(rows[b].prompt);
    if (g_strcmp0(rows[b].prompt->text, want_text) != 0 && g_strcmp0(expanded, want_text) != 0)
      check_fail(ck, "prompt_text of row %u differs from the template's render", b);
    if (rows[b].prompt->n > L) {
      check_fail(ck, "row %u: %u prompt tokens, the reference has %u", b, rows[b].prompt->n, L);
      goto out;
    }
    rows[b].pad = L - rows[b].prompt->n;
  }

  /* Every image of the batch, preprocessed, in order, in one vision call; then every video in another (as HF). */
  for (int kind = 0; kind < 2; kind++)
    if (!run_vision(g, m, st, rows, B, kind == 1, &vision_out[kind], ck))
      goto out;

  /* The language model, one batch row at a time (left padding masked by key_begin). */
  uint64_t count = 0;
  want_embeds = tensor_f32(st, "llm.inputs_embeds", &count);
  want_layer0 = tensor_f32(st, "llm.layer0_out", &count);
  want_final = tensor_f32(st, "llm.final_norm_out", &count);
  want_logits = tensor_f32(st, "logits_last", &count);
  if (!want_embeds || !want_layer0 || !want_final || !want_logits || count != (uint64_t)B * V) {
    check_fail(ck, "the reference lacks llm.* or logits_last tensors");
    goto out;
  }
  JsonObject *gen = json_object_get_object_member(cj, "generation");
  JsonArray *gen_rows = gen && json_object_has_member(gen, "rows") ? json_object_get_array_member(gen, "rows") : NULL;
  uint64_t vision_row[2] = {0, 0}; /* merged tokens of earlier items in vision_out[images, videos] */
  for (uint32_t b = 0; b < B; b++) {
    const VfPrompt *p = rows[b].prompt;
    uint32_t pad = rows[b].pad;
    int32_t pad_id = mapped ? c->bos_id : c->pad_id;
    for (uint32_t i = 0; i < L; i++) {
      ids[i] = i < pad ? pad_id : p->ids[i - pad];
      use[i] = mask64[(size_t)b * L + i] != 0;
    }
    uint32_t ids_bad = 0, pos_bad = 0, mask_bad = 0;
    for (uint32_t i = 0; i < L; i++) {
      ids_bad += ids[i] != ids64[(size_t)b * L + i];
      mask_bad += use[i] != (i >= pad);
    }
    if (ids_bad || mask_bad)
      check_fail(ck, "input_ids of row %u: %u of %u differ (%u padding slots differ)", b, ids_bad, L, mask_bad);
    int32_t delta = 0;
    g_autofree VfGrid *grids = g_new(VfGrid, 2 * (p->items->len + 1));
    VfGrid *image_grids = grids, *video_grids = grids + p->items->len + 1;
    uint32_t ni = 0, nv = 0;
    for (guint i = 0; i < p->items->len; i++) {
      const VfPromptItem *it = p->items->pdata[i];
      if (it->is_video)
        video_grids[nv++] = it->grid;
      else
        image_grids[ni++] = it->grid;
    }
    if (!vf_positions_compute_padded(c, ids, L, pad, image_grids, ni, video_grids, nv, pos, &delta, NULL, NULL,
                                     &error)) {
      check_fail(ck, "position_ids: %s", error->message);
      goto out;
    }
    for (uint32_t k = 0; k < 3; k++)
      for (uint32_t i = 0; i < L; i++)
        pos_bad += pos[(size_t)k * L + i] != pos64[((size_t)k * B + b) * L + i];
    if (pos_bad)
      check_fail(ck, "position_ids of row %u: %u of %u differ", b, pos_bad, 3 * L);
    if (delta != delta64[b])
      check_fail(ck, "rope_deltas of row %u: %d, reference %" G_GINT64_FORMAT, b, delta, delta64[b]);

    g_autoptr(GArray) splices = g_array_new(FALSE, FALSE, sizeof(VfLlmSplice));
    for (guint i = 0; i < p->items->len; i++) {
      const VfPromptItem *it = p->items->pdata[i];
      VfLlmSplice sp = {
        .row = pad + it->row,
        .rows = it->n_tokens,
        .embeds = vf_buffer_slice(&vision_out[it->is_video], vision_row[it->is_video] * H * 4,
                                  (uint64_t)it->n_tokens * H * 4),
      };
      g_array_append_val(splices, sp);
      vision_row[it->is_video] += it->n_tokens;
    }
    vf_llm_sequence_truncate(seq, 0);
    VfLlmTrace trace = {embeds, layer0, final};
    VfLlmInput in = {
      .ids = ids,
      .positions = pos,
      .n = L,
      .splices = (const VfLlmSplice *)splices->data,
      .nsplices = splices->len,
      .key_begin = pad,
    };
    if (!vf_llm_prefill(m->llm, seq, &in, logits, &trace, &error)) {
      check_fail(ck, "prefill: %s", error->message);
      goto out;
    }
    size_t off = (size_t)b * L * H;
    /* Padded query rows are never used (HF leaves garbage there): compare the real tokens only. */
    check_rows(ck, "llm.inputs_embeds", embeds, want_embeds + off, H, use, L, 1e-4, 0);
    check_rows(ck, "llm.layer0_out", layer0, want_layer0 + off, H, use, L, 1e-4, 0);
    check_rows(ck, "llm.final_norm_out", final, want_final + off, H, use, L, 0, 1e-3);
    const float *row_logits = want_logits + (size_t)b * V;
    double logit_tol = 1e-3 * max_abs(row_logits, V);
    check_close(ck, "logits_last", logits, row_logits, V, logit_tol);
    logit_tol *= ck->tolerance_scale;

    /* Greedy generation: every token equal; the top-5 logits at the reference ids within tolerance. */
    JsonObject *row_gen = gen_rows ? json_array_get_object_element(gen_rows, b) : gen;
    JsonArray *steps = row_gen ? json_object_get_array_member(row_gen, "steps") : NULL;
    if (!steps) {
      check_fail(ck, "case.json has no generation steps for row %u", b);
      goto out;
    }
    double worst_top5 = 0;
    int32_t token = vf_argmax(logits, V);
    uint32_t nsteps = json_array_get_length(steps);
    if (g->mode == GOLDEN_RECORD && b == 0) {
      g_free(g->recording.logits);
      g_free(g->recording.tokens);
      g->recording = (Recording){g_new(float, (size_t)B * nsteps * V), g_new(int32_t, (size_t)B * nsteps), nsteps};
    }
    if (g->mode != GOLDEN_HF && nsteps != g->recording.steps) {
      check_fail(verdict, "row %u has %u greedy steps, row 0 %u", b, nsteps, g->recording.steps);
      goto out;
    }
    for (uint32_t st_i = 0; st_i < nsteps; st_i++) {
      JsonObject *step = json_array_get_object_element(steps, st_i);
      int32_t want_token = (int32_t)json_object_get_int_member(step, "token_id");
      if (g->mode != GOLDEN_HF)
        record_or_compare(g, verdict, b, st_i, logits, token, V);
      else if (token != want_token) {
        check_fail(ck, "row %u greedy step %u: token %d, reference %d", b, st_i, token, want_token);
        break;
      }
      JsonArray *top_ids = json_object_get_array_member(step, "top5_ids");
      JsonArray *top_vals = json_object_get_array_member(step, "top5_logits");
      for (uint32_t k = 0; k < json_array_get_length(top_ids); k++)
        worst_top5 = fmax(worst_top5, fabs(logits[json_array_get_int_element(top_ids, k)] -
                                           json_array_get_double_element(top_vals, k)));
      if (st_i + 1 == nsteps)
        break;
      /* Spec §8.5: the token goes in at cache length + rope delta. */
      int32_t position = (int32_t)(L + st_i) + delta;
      int64_t want_position = json_object_get_int_member(step, "next_input_position_id");
      if (position != want_position) {
        check_fail(ck, "row %u step %u: position %d, reference %" G_GINT64_FORMAT, b, st_i, position, want_position);
        break;
      }
      if (!vf_llm_decode(m->llm, seq, token, position, logits, NULL, &error)) {
        check_fail(ck, "decode step %u: %s", st_i, error->message);
        goto out;
      }
      token = vf_argmax(logits, V);
    }
    if (ck->verbose)
      fprintf(stderr, "  %s: row %u greedy top-5 logits max error %.3g (tolerance %.3g) over %u steps\n", ck->name,
              b, worst_top5, logit_tol, nsteps);
    if (!(worst_top5 <= logit_tol))
      check_fail(ck, "row %u greedy top-5 logits max error %.3g (tolerance %.3g)", b, worst_top5, logit_tol);
  }
  result = (g->mode == GOLDEN_HF ? ck : verdict)->failure->len ? CASE_FAIL : CASE_PASS;
out:
  for (int kind = 0; kind < 2; kind++)
    if (vision_out[kind].buffer)
      vf_buffer_release(g->dev, &vision_out[kind]);
  for (uint32_t b = 0; b < B; b++)
    vf_prompt_free(rows[b].prompt);
  return g->mode == GOLDEN_HF && ck->failure->len ? CASE_FAIL : result;
}

static CaseResult
run_model_case(Golden *g, const char *dir, JsonObject *cj, Check *verdict)
{
  /* Against a reference model the case's tensors (made from other weights) are not the measure: their
   * comparisons go to a check nobody reads. */
  Check hf_only = {.name = verdict->name, .failure = g_string_new(NULL)};
  Check *ck = g->mode == GOLDEN_HF ? verdict : &hf_only;
  CaseResult r = run_model_case_checks(g, dir, cj, ck, verdict);
  if (r == CASE_FAIL && verdict->failure->len == 0)
    check_fail(verdict, "%s", hf_only.failure->len ? hf_only.failure->str : "failed");
  g_string_free(hf_only.failure, TRUE);
  return r;
}

/* ---- preprocessing-only cases ----------------------------------------------------------------------- */

static gboolean
check_u8(Check *ck, const char *what, const VfSafetensors *st, const char *name, const uint8_t *got, uint64_t n)
{
  const VfTensor *t = vf_safetensors_find(st, name);
  if (!t || t->dtype != VF_ST_U8 || t->size != n) {
    check_fail(ck, "%s: the reference %s is missing or of another size", what, name);
    return FALSE;
  }
  uint64_t differ = 0;
  for (uint64_t i = 0; i < n; i++)
    differ += got[i] != t->data[i];
  if (ck->verbose)
    fprintf(stderr, "  %s: %s: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes differ\n", ck->name, name,
            differ, n);
  if (differ)
    check_fail(ck, "%s: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes differ", name, differ, n);
  return differ == 0;
}

/* The default video path (fps 2.0): the grid exact; as torchvision's resize is matched within one 8-bit level,
 * the stored first and last 16 patch rows within one level, and each patch's sum within 1176 levels. */
static void
check_preprocess_video(const char *dir, JsonObject *video, const VfSafetensors *st, const VfImageProcessorConfig *proc,
                       Check *ck)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *file = g_build_filename(dir, json_object_get_string_member(video, "file"), NULL);
  g_autoptr(VfVideoInput) in = vf_video_input_new(file, NULL, proc, NULL, &error);
  if (!in) {
    check_fail(ck, "%s", error->message);
    return;
  }
  uint64_t n_grid = 0, n_sums = 0, n_first = 0, n_last = 0;
  g_autofree int64_t *grid = tensor_i64(st, "video0.video_grid_thw", &n_grid);
  g_autofree float *sums = tensor_f32(st, "video0.pixel_values_patch_sums", &n_sums);
  g_autofree float *first = tensor_f32(st, "video0.pixel_values_first16", &n_first);
  g_autofree float *last = tensor_f32(st, "video0.pixel_values_last16", &n_last);
  const VfVideoPlan *plan = in->plan;
  if (!grid || n_grid != 3 || grid[0] != plan->grid.t || grid[1] != plan->grid.h || grid[2] != plan->grid.w) {
    check_fail(ck, "video0.video_grid_thw: ours %ux%ux%u differs", plan->grid.t, plan->grid.h, plan->grid.w);
    return;
  }
  uint32_t n = plan->n_patches;
  if (!sums || n_sums != n || n_first != 16 * VF_PATCH_DIM || n_last != 16 * VF_PATCH_DIM || n < 16) {
    check_fail(ck, "video0 summaries missing or of another size");
    return;
  }
  double level = 1.0 / 255.0 / MIN(proc->image_std[0], MIN(proc->image_std[1], proc->image_std[2]));
  g_autofree float *our_sums = g_new(float, n);
  for (uint32_t r = 0; r < n; r++) {
    double acc = 0;
    for (uint32_t i = 0; i < VF_PATCH_DIM; i++)
      acc += in->pixel_values[(size_t)r * VF_PATCH_DIM + i];
    our_sums[r] = (float)acc;
  }
  check_close(ck, "video0.pixel_values_first16", in->pixel_values, first, 16 * VF_PATCH_DIM, level + 1e-5);
  check_close(ck, "video0.pixel_values_last16", in->pixel_values + (size_t)(n - 16) * VF_PATCH_DIM, last,
              16 * VF_PATCH_DIM, level + 1e-5);
  check_close(ck, "video0.pixel_values_patch_sums", our_sums, sums, n, VF_PATCH_DIM * level);
}

/* The image processor alone with the default settings: decoded and resized pixels identical, pixel_values
 * within 1e-5, grids exact. */
static CaseResult
run_preprocess_case(const char *dir, JsonObject *cj, Check *ck)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *tpath = g_build_filename(dir, "tensors.safetensors", NULL);
  g_autoptr(VfSafetensors) st = vf_safetensors_open(tpath, &error);
  if (!st) {
    check_fail(ck, "%s", error->message);
    return CASE_FAIL;
  }
  VfImageProcessorConfig proc;
  vf_image_processor_config_default(&proc);
  JsonArray *images = json_object_has_member(cj, "images") ? json_object_get_array_member(cj, "images") : NULL;
  for (guint i = 0; images && i < json_array_get_length(images); i++) {
    JsonObject *im = json_array_get_object_element(images, i);
    g_autofree char *file = g_build_filename(dir, json_object_get_string_member(im, "file"), NULL);
    int64_t k = json_object_get_int_member(im, "index");
    g_autofree char *decoded_name = g_strdup_printf("img%" G_GINT64_FORMAT ".decoded_rgb_u8", k);
    g_autofree char *resized_name = g_strdup_printf("img%" G_GINT64_FORMAT ".resized_rgb_u8", k);
    g_autofree char *pixels_name = g_strdup_printf("img%" G_GINT64_FORMAT ".pixel_values", k);
    g_autofree char *grid_name = g_strdup_printf("img%" G_GINT64_FORMAT ".image_grid_thw", k);
    VfImage *decoded = vf_image_load(file, &error);
    if (!decoded) {
      check_fail(ck, "%s", error->message);
      continue;
    }
    check_u8(ck, file, st, decoded_name, decoded->rgb, (uint64_t)decoded->width * decoded->height * 3);
    g_autoptr(VfImageInput) in = vf_image_input_new_from_image(decoded, NULL, &proc, &error);
    vf_image_free(decoded);
    if (!in) {
      check_fail(ck, "%s: %s", file, error->message);
      continue;
    }
    check_u8(ck, file, st, resized_name, in->resized->rgb, (uint64_t)in->resized->width * in->resized->height * 3);
    uint64_t count = 0, n_grid = 0;
    g_autofree float *want = tensor_f32(st, pixels_name, &count);
    g_autofree int64_t *grid = tensor_i64(st, grid_name, &n_grid);
    if (!want || count != (uint64_t)in->plan.n_patches * VF_PATCH_DIM || !grid || n_grid != 3 ||
        grid[0] != in->plan.grid.t || grid[1] != in->plan.grid.h || grid[2] != in->plan.grid.w) {
      check_fail(ck, "%s: grid %ux%ux%u differs from the reference's", file, in->plan.grid.t, in->plan.grid.h,
                 in->plan.grid.w);
      continue;
    }
    check_close(ck, pixels_name, in->pixel_values, want, count, 1e-5);
  }
  JsonObject *video = json_object_has_member(cj, "video") ? json_object_get_object_member(cj, "video") : NULL;
  if (video)
    check_preprocess_video(dir, video, st, &proc, ck);
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

/* A decoded text (which may hold NUL bytes) against the reference's string. */
static gboolean
text_equals(const char *text, size_t len, const char *want)
{
  return want && strlen(want) == len && memcmp(text, want, len) == 0;
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
    size_t decoded_len, skipped_len;
    g_autofree char *decoded = vf_tokenizer_decode(tok, want_ids, json_array_get_length(want), FALSE, &decoded_len);
    g_autofree char *skipped = vf_tokenizer_decode(tok, want_ids, json_array_get_length(want), TRUE, &skipped_len);
    if (!ids_equal(ids, n, want))
      check_fail(ck, "case %s: ids differ", name);
    else if (!text_equals(decoded, decoded_len, json_object_get_string_member(c, "decoded")))
      check_fail(ck, "case %s: decode differs", name);
    else if (!text_equals(skipped, skipped_len, json_object_get_string_member(c, "decoded_skip_special")))
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
    g_autofree char *text = vf_chat_template_render(chat, flags, NULL);
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
    if (!json_object_has_member(cj, "model"))
      return run_preprocess_case(dir, cj, ck);
    if (!g->reference_dir)
      return run_model_case(g, dir, cj, ck);
    g->mode = GOLDEN_RECORD;
    CaseResult r = run_model_case(g, dir, cj, ck);
    g->mode = GOLDEN_COMPARE;
    if (r == CASE_FAIL) {
      g_string_prepend(ck->failure, "the reference model: ");
      return r;
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
  g_autofree char *models_dir = NULL, *tokenizer_dir = NULL, *reference_dir = NULL;
  gboolean verbose = FALSE;
  double tolerance_scale = 1;
  GOptionEntry entries[] = {
    {"models", 0, 0, G_OPTION_ARG_FILENAME, &models_dir, "folder holding the models (default: shared/golden/models)", "DIR"},
    {"tokenizer", 0, 0, G_OPTION_ARG_FILENAME, &tokenizer_dir, "tokenizer folder", "DIR"},
    {"reference-models", 0, 0, G_OPTION_ARG_FILENAME, &reference_dir,
     "compare each model case's logits and greedy tokens with the same-named model in DIR (e.g. quantized weights "
     "against their dequantized twin) instead of the case's tensors", "DIR"},
    {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "print every comparison", NULL},
    {"tolerance-scale", 0, 0, G_OPTION_ARG_DOUBLE, &tolerance_scale,
     "multiply every numeric tolerance (tokens stay exact); for reduced-precision paths such as VF_KV=f16", "S"},
    {NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("CASE_DIR... — compare with reference cases");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
    fprintf(stderr, "viewfinder-cli golden: %s\n", error->message);
    return 2;
  }
  if (!(tolerance_scale >= 1)) {
    fprintf(stderr, "viewfinder-cli golden: --tolerance-scale must be at least 1\n");
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
    .reference_dir = reference_dir,
    .mode = reference_dir ? GOLDEN_COMPARE : GOLDEN_HF,
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
    Check ck = {.name = name, .verbose = verbose, .tolerance_scale = tolerance_scale, .failure = g_string_new(NULL)};
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
  g_free(g.recording.logits);
  g_free(g.recording.tokens);
  uint32_t messages = vf_device_validation_messages(g.dev);
  vf_device_free(g.dev);
  fprintf(stderr, "golden: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
  if (messages) {
    fprintf(stderr, "golden: the validation layer reported %u message(s)\n", messages);
    return 1;
  }
  return failed ? 1 : 0;
}
