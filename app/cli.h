/* Subcommands of viewfinder-cli and what they share. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdint.h>

#include "vf_ops.h"

/* The device every subcommand uses: VF_DEVICE / VF_VALIDATE from the environment; prints the start-up
 * lines (device, kernel policy, switches) to stderr. */
VfDevice *vf_cli_device(GError **error);
/* A progress callback printing "loading NN %" to stderr when it is a terminal. */
void vf_cli_progress(uint64_t done, uint64_t total, void *user);

/* Prints a stage ("Encoding picture 1", "Reading prompt 512/2048") to stderr when it is a terminal. */
void vf_cli_stage(const char *stage, double fraction, void *user);
/* Prints the builder's JSON as one line on stdout and flushes. */
void vf_cli_print_json(JsonBuilder *b);
/* Random normalised pixel values (uniform in ±2, as normalised pixels roughly are) for `n` patch rows of
 * VF_PATCH_DIM floats; deterministic in `seed`. Free with g_free. */
float *vf_cli_random_patches(uint32_t n, uint64_t seed);
/* Parses "WxH"; FALSE when malformed or zero. */
gboolean vf_cli_parse_size(const char *text, uint32_t *width, uint32_t *height);

int vf_cli_chat(int argc, char **argv);
int vf_cli_ocr(int argc, char **argv);
int vf_cli_golden(int argc, char **argv);
int vf_cli_bench_model(int argc, char **argv);
int vf_cli_bench_vision(int argc, char **argv);
int vf_cli_bench_first_answer(int argc, char **argv);
int vf_cli_download(int argc, char **argv);
