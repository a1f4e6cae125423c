/* vf-quantize: makes the GPTQ / AWQ test checkpoints (quantize_model.h) and their dequantized twins.
 *
 *   vf-quantize [--group-size N] [--asym] [--act-order] [--zero-biases] FORMAT SRC QDIR DDIR
 *
 * FORMAT: gptq-int4, gptq-int8 or awq. */
#include <stdio.h>

#include "quantize_model.h"

int
main(int argc, char **argv)
{
  gint group_size = 32;
  gboolean asym = FALSE, act_order = FALSE, zero_biases = FALSE;
  GOptionEntry entries[] = {
    {"group-size", 0, 0, G_OPTION_ARG_INT, &group_size, "inputs per group (-1: one per column; default 32)", "N"},
    {"asym", 0, 0, G_OPTION_ARG_NONE, &asym, "GPTQ: asymmetric (sym: false)", NULL},
    {"act-order", 0, 0, G_OPTION_ARG_NONE, &act_order, "GPTQ: desc_act with a permuted g_idx", NULL},
    {"zero-biases", 0, 0, G_OPTION_ARG_NONE, &zero_biases, "GPTQ: zero biases on o/gate/up/down", NULL},
    {NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("FORMAT SRC QDIR DDIR — quantized test checkpoints");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_autoptr(GError) error = NULL;
  VfQuantizeOptions opts;
  if (!g_option_context_parse(ctx, &argc, &argv, &error) || argc != 5 || !vf_quantize_parse_format(argv[1], &opts) ||
      group_size == 0 || group_size < -1) {
    fprintf(stderr, "vf-quantize: %s\n", error ? error->message : "usage: vf-quantize FORMAT SRC QDIR DDIR");
    return 2;
  }
  opts.group_size = group_size < 0 ? 0 : (uint32_t)group_size;
  opts.sym = opts.method == VF_QUANT_GPTQ && !asym;
  opts.act_order = act_order;
  opts.zero_biases = zero_biases;
  if (!vf_quantize_model(argv[2], argv[3], argv[4], &opts, &error)) {
    fprintf(stderr, "vf-quantize: %s\n", error->message);
    return 1;
  }
  return 0;
}
