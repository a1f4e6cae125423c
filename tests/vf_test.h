/* Helpers for the op and unit tests (GLib's g_test).
 *
 * Every test program shares one device created with the validation layer on;
 * vf_test_finish() fails the program if the layer reported anything. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "vf_ops.h"

void vf_test_init(int *argc, char ***argv);
VfDevice *vf_test_device(void);
/* Runs the registered tests, calls the cleanup (if set), checks for validation messages, frees the device. */
int vf_test_finish(void);
/* Something to free before the device goes (models, buffers the tests kept). */
void vf_test_on_finish(void (*cleanup)(void));

/* Deterministic uniform random floats in [lo, hi). Free with g_free. */
float *vf_test_random(size_t n, float lo, float hi, uint32_t seed);
/* The same values rounded to bf16 / f16 words. */
uint16_t *vf_test_to_bf16(const float *x, size_t n);
uint16_t *vf_test_to_f16(const float *x, size_t n);

/* A device buffer holding `size` bytes of `data` (NULL: zeroed). */
VfBuffer vf_test_upload(const void *data, size_t size);
void vf_test_download(const VfBuffer *buf, void *data, size_t size);
void vf_test_release(VfBuffer *buf);

/* Submits and frees the command list, failing the test on any error. */
void vf_test_submit(VfCmd *cmd);
VfCmd *vf_test_cmd(void);

/* Asserts |got - want| <= atol + rtol·|want| everywhere; reports the worst element. */
void vf_test_assert_close(const char *what, const float *got, const float *want, size_t n, double atol,
                          double rtol);
/* Asserts |got - want| <= tol[i] for every element (per-element bounds derived by the test); reports the worst. */
void vf_test_assert_within(const char *what, const float *got, const float *want, const double *tol, size_t n);
/* Loops over kernel variants: a variant the device cannot run is skipped out loud, never silently.
 *   VfTestVariants tv = {0};
 *   for (each variant) { if (!supported) { vf_test_variant_skipped(&tv, name, reason); continue; } tv.ran++; ... }
 *   vf_test_variants_done(&tv);   // fails when none ran; g_test_skip() with the reasons when some did not */
typedef struct {
  uint32_t ran;
  GString *skipped; /* "name (reason); ..." */
} VfTestVariants;
void vf_test_variant_skipped(VfTestVariants *tv, const char *name, const char *reason);
void vf_test_variants_done(VfTestVariants *tv);

/* Max |x| over n values (for relative-to-max tolerances). */
double vf_test_max_abs(const float *x, size_t n);
