/* Several conversations decoded together (vf_llm_decode_batch over a subset of the live sequences) give each
 * conversation's reference tokens and its solo logits: a01 (27 tokens) and a08's text row "Hi!" (its 21 real
 * tokens, without the batch's left padding). Sequences not listed in a step are untouched. */
#include <json-glib/json-glib.h>
#include <math.h>

#include "vf_model.h"
#include "vf_sampler.h"
#include "vf_test.h"

static VfModel *model;

typedef struct {
  GArray *prompt;    /* int32: the real tokens of the row */
  GArray *reference; /* int32: the reference's greedy tokens */
} Conversation;

static void
conversation_load(Conversation *conv, const char *case_name, guint row)
{
  g_autofree char *file = g_build_filename(g_getenv("VF_TEST_DATA"), "golden", "cases", case_name, "case.json", NULL);
  g_autoptr(JsonParser) parser = json_parser_new();
  g_assert_true(json_parser_load_from_file(parser, file, NULL));
  JsonObject *cj = json_node_get_object(json_parser_get_root(parser));
  gboolean batch = json_object_has_member(cj, "batch") && json_object_get_boolean_member(cj, "batch");
  JsonArray *ids = json_object_get_array_member(cj, "input_ids");
  JsonArray *mask = json_object_get_array_member(cj, "attention_mask");
  if (batch) {
    ids = json_array_get_array_element(ids, row);
    mask = json_array_get_array_element(mask, row);
  }
  JsonObject *gen = json_object_get_object_member(cj, "generation");
  if (batch)
    gen = json_array_get_object_element(json_object_get_array_member(gen, "rows"), row);
  JsonArray *generated = json_object_get_array_member(gen, "generated_ids");
  conv->prompt = g_array_new(FALSE, FALSE, sizeof(int32_t));
  conv->reference = g_array_new(FALSE, FALSE, sizeof(int32_t));
  for (guint i = 0; i < json_array_get_length(ids); i++)
    if (json_array_get_int_element(mask, i)) {
      int32_t id = (int32_t)json_array_get_int_element(ids, i);
      g_array_append_val(conv->prompt, id);
    }
  for (guint i = 0; i < json_array_get_length(generated); i++) {
    int32_t id = (int32_t)json_array_get_int_element(generated, i);
    g_array_append_val(conv->reference, id);
  }
}

static VfLlmSequence *
sequence_new(VfLlm *llm)
{
  g_autoptr(GError) error = NULL;
  VfLlmSequence *seq = vf_llm_sequence_new(llm, &error);
  g_assert_no_error(error);
  return seq;
}

static void
prefill(VfLlm *llm, VfLlmSequence *seq, const Conversation *conv, float *logits)
{
  g_autoptr(GError) error = NULL;
  uint32_t n = conv->prompt->len;
  g_autofree int32_t *pos = g_new(int32_t, 3 * (size_t)n);
  for (uint32_t i = 0; i < n; i++)
    pos[i] = pos[n + i] = pos[2 * n + i] = (int32_t)i;
  VfLlmInput in = {.ids = (const int32_t *)conv->prompt->data, .positions = pos, .n = n};
  g_assert_true(vf_llm_prefill(llm, seq, &in, logits, NULL, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(vf_llm_sequence_length(seq), ==, n);
}

/* Sequences a and b step together (in either order), c (b's conversation again) steps alone in between: each
 * batched row gets its reference token and b's row exactly c's solo logits, and c does not grow while it is
 * left out of the batch. */
static void
test_decode_batch(void)
{
  Conversation conv[2];
  conversation_load(&conv[0], "a01_text_only", 0);
  conversation_load(&conv[1], "a08_batch_padding", 0);
  g_assert_cmpuint(conv[1].prompt->len, ==, 21);
  VfLlm *llm = model->llm;
  g_assert_cmpuint(vf_llm_sequences(llm), ==, 3);
  const VfConfig *c = model->config;
  size_t V = c->vocab;
  g_autofree float *logits = g_new(float, 2 * V), *solo = g_new(float, V);
  g_autoptr(GError) error = NULL;

  VfLlmSequence *a = sequence_new(llm), *b = sequence_new(llm), *alone = sequence_new(llm);
  prefill(llm, a, &conv[0], logits);
  int32_t token_a = vf_argmax(logits, c->vocab);
  prefill(llm, alone, &conv[1], logits);
  prefill(llm, b, &conv[1], solo);
  g_assert_cmpmem(logits, V * 4, solo, V * 4);
  int32_t token_b = vf_argmax(solo, c->vocab);
  g_assert_cmpint(token_a, ==, g_array_index(conv[0].reference, int32_t, 0));
  g_assert_cmpint(token_b, ==, g_array_index(conv[1].reference, int32_t, 0));

  double worst = 0;
  for (uint32_t step = 1; step < conv[0].reference->len; step++) {
    /* Odd steps list b first: the rows follow the list, whatever the slots. */
    gboolean swap = step % 2;
    VfLlmSequence *seqs[2] = {swap ? b : a, swap ? a : b};
    int32_t pos_a = (int32_t)(conv[0].prompt->len + step - 1), pos_b = (int32_t)(conv[1].prompt->len + step - 1);
    int32_t tokens[2] = {swap ? token_b : token_a, swap ? token_a : token_b};
    int32_t positions[2] = {swap ? pos_b : pos_a, swap ? pos_a : pos_b};
    int32_t best[2];
    uint32_t alone_length = vf_llm_sequence_length(alone);
    g_assert_true(vf_llm_decode_batch(llm, seqs, 2, tokens, positions, logits, best, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(vf_llm_sequence_length(alone), ==, alone_length);
    const float *row_b = logits + (swap ? 0 : V);
    for (uint32_t r = 0; r < 2; r++)
      g_assert_cmpint(best[r], ==, vf_argmax(logits + r * V, c->vocab));
    token_a = best[swap ? 1 : 0];
    token_b = best[swap ? 0 : 1];
    g_assert_cmpint(token_a, ==, g_array_index(conv[0].reference, int32_t, step));
    g_assert_cmpint(token_b, ==, g_array_index(conv[1].reference, int32_t, step));

    int32_t solo_best = -1;
    g_assert_true(vf_llm_decode(llm, alone, tokens[swap ? 0 : 1], pos_b, solo, &solo_best, &error));
    g_assert_no_error(error);
    g_assert_cmpint(solo_best, ==, token_b);
    for (size_t v = 0; v < V; v++)
      worst = fmax(worst, fabs(row_b[v] - solo[v]));
  }
  g_test_message("largest difference between a batched row's logits and the same sequence alone: %g", worst);
  g_assert_cmpfloat(worst, ==, 0);
  uint32_t steps = conv[0].reference->len - 1;
  g_assert_cmpuint(vf_llm_sequence_length(a), ==, conv[0].prompt->len + steps);
  g_assert_cmpuint(vf_llm_sequence_length(b), ==, conv[1].prompt->len + steps);
  g_assert_cmpuint(vf_llm_sequence_length(alone), ==, conv[1].prompt->len + steps);

  /* All three slots are taken: a fourth conversation is refused until one leaves, and gets an empty cache. */
  g_assert_null(vf_llm_sequence_new(llm, &error));
  g_assert_error(error, VF_CONFIG_ERROR, VF_CONFIG_ERROR_UNSUPPORTED);
  g_test_message("%s", error->message);
  g_clear_error(&error);
  vf_llm_sequence_free(b);
  VfLlmSequence *d = sequence_new(llm);
  g_assert_cmpuint(vf_llm_sequence_length(d), ==, 0);
  g_assert_cmpuint(vf_llm_sequence_length(a), ==, conv[0].prompt->len + steps);

  vf_llm_sequence_free(a);
  vf_llm_sequence_free(d);
  vf_llm_sequence_free(alone);
  for (uint32_t s = 0; s < 2; s++) {
    g_array_unref(conv[s].prompt);
    g_array_unref(conv[s].reference);
  }
}

static void
free_model(void)
{
  vf_model_free(model);
}

int
main(int argc, char **argv)
{
  vf_test_init(&argc, &argv);
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_build_filename(g_getenv("VF_TEST_DATA"), "models", "tiny-a", NULL);
  VfLlmOptions opts = {.context = 256, .sequences = 3};
  model = vf_model_load(vf_test_device(), dir, &opts, NULL, NULL, &error);
  g_assert_no_error(error);
  g_test_add_func("/llm/decode-batch", test_decode_batch);
  vf_test_on_finish(free_model);
  return vf_test_finish();
}
