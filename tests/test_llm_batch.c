/* Several conversations decoded together (vf_llm_decode_all) give each conversation's reference tokens:
 * a01 (27 tokens) and a08's text row "Hi!" (its 21 real tokens, without the batch's left padding). */
#include <json-glib/json-glib.h>

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

static void
test_decode_all(void)
{
  Conversation conv[2];
  conversation_load(&conv[0], "a01_text_only", 0);
  conversation_load(&conv[1], "a08_batch_padding", 0);
  g_assert_cmpuint(conv[1].prompt->len, ==, 21);
  VfLlm *llm = model->llm;
  g_assert_cmpuint(vf_llm_sequences(llm), ==, 2);
  const VfConfig *c = model->config;
  g_autofree float *logits = g_new(float, 2 * (size_t)c->vocab);
  int32_t tokens[2], positions[2];
  g_autoptr(GError) error = NULL;

  /* Each prompt into its own sequence; the first token from each prefill. */
  for (uint32_t s = 0; s < 2; s++) {
    uint32_t n = conv[s].prompt->len;
    g_autofree int32_t *pos = g_new(int32_t, 3 * (size_t)n);
    for (uint32_t i = 0; i < n; i++)
      pos[i] = pos[n + i] = pos[2 * n + i] = (int32_t)i;
    vf_llm_select(llm, s);
    vf_llm_truncate(llm, 0);
    VfLlmInput in = {.ids = (const int32_t *)conv[s].prompt->data, .positions = pos, .n = n};
    g_assert_true(vf_llm_prefill(llm, &in, logits, NULL, &error));
    g_assert_no_error(error);
    tokens[s] = vf_argmax(logits, c->vocab);
    g_assert_cmpint(tokens[s], ==, g_array_index(conv[s].reference, int32_t, 0));
  }
  /* Then both together, step after step; the logits of both rows come back too. */
  for (uint32_t step = 1; step < conv[0].reference->len; step++) {
    for (uint32_t s = 0; s < 2; s++)
      positions[s] = (int32_t)(conv[s].prompt->len + step - 1);
    int32_t best[2];
    g_assert_true(vf_llm_decode_all(llm, tokens, positions, logits, best, &error));
    g_assert_no_error(error);
    for (uint32_t s = 0; s < 2; s++) {
      g_assert_cmpint(best[s], ==, vf_argmax(logits + (size_t)s * c->vocab, c->vocab));
      g_assert_cmpint(best[s], ==, g_array_index(conv[s].reference, int32_t, step));
      tokens[s] = best[s];
    }
  }
  vf_llm_select(llm, 1);
  g_assert_cmpuint(vf_llm_length(llm), ==, conv[1].prompt->len + conv[1].reference->len - 1);
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
  VfLlmOptions opts = {.context = 256, .sequences = 2};
  model = vf_model_load(vf_test_device(), dir, &opts, NULL, NULL, &error);
  g_assert_no_error(error);
  g_test_add_func("/llm/decode-all", test_decode_all);
  vf_test_on_finish(free_model);
  return vf_test_finish();
}
