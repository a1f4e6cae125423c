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
/* The same for a builder holding one closed object, with a last member `name` holding the `len` bytes of
 * `text` (json-glib's strings end at NUL; an answer may hold NUL bytes, written here as \u0000). */
void vf_cli_print_json_with_text(JsonBuilder *b, const char *name, const char *text, size_t len);
/* Catches SIGINT and SIGTERM from now on (call it before any thread starts, so every thread inherits the
 * blocked mask): the first cancels the returned cancellable, so generation stops after the current step
 * and the command can print its last record; a second exits at once (status 128 + signal). */
GCancellable *vf_cli_cancel_on_signals(void);
/* The signal that cancelled, or 0. */
int vf_cli_stop_signal(void);

/* Parses "WxH"; FALSE when malformed or zero. */
gboolean vf_cli_parse_size(const char *text, uint32_t *width, uint32_t *height);

/* When `path` is a local PDF (told by its content): its pages, all or those of `pages` ("2-5", "1,3"), as
 * picture sources "path#page=N" (a NULL-terminated array). NULL without an error for anything else (a
 * picture, a page source, a URL, a missing file: the picture path reports those); NULL with `error` for an
 * encrypted or damaged PDF or a bad page range. */
char **vf_cli_pdf_pages(const char *path, const char *pages, GError **error);

int vf_cli_chat(int argc, char **argv);
int vf_cli_ocr(int argc, char **argv);
int vf_cli_serve(int argc, char **argv);
int vf_cli_bench_serve(int argc, char **argv);
int vf_cli_golden(int argc, char **argv);
int vf_cli_bench_model(int argc, char **argv);
int vf_cli_bench_vision(int argc, char **argv);
int vf_cli_bench_first_answer(int argc, char **argv);
int vf_cli_bench_attention(int argc, char **argv);
int vf_cli_download(int argc, char **argv);
