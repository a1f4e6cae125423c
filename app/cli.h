/* Subcommands of viewfinder-cli and what they share. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "vf_ops.h"

/* The device every subcommand uses: VF_DEVICE / VF_VALIDATE from the environment; prints the start-up
 * lines (device, kernel policy, switches) to stderr. */
VfDevice *vf_cli_device(GError **error);
/* A progress callback printing "loading NN %" to stderr when it is a terminal. */
void vf_cli_progress(uint64_t done, uint64_t total, void *user);

int vf_cli_chat(int argc, char **argv);
int vf_cli_golden(int argc, char **argv);
int vf_cli_bench_vision(int argc, char **argv);
