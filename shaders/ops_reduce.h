/* How the kernels that give one workgroup one row (norms, argmax) combine the partial results of
 * their invocations: a choice per device, and every choice runs in the tests. */
#pragma once

#include <stdbool.h>

#include "ops_common.h"

typedef struct {
  /* true: subgroup arithmetic inside each subgroup, shared memory only across subgroups.
   * false: a shared-memory tree (devices without subgroup arithmetic). */
  bool subgroup;
  /* Invocations per workgroup: a power of two. */
  uint32_t workgroup;
} VfReduction;

/* The device's choice: subgroup arithmetic wherever the device has it; 256 invocations for the GPU
 * kernel family, a single subgroup for the CPU family, whose shared memory and barriers are slow
 * (one subgroup per row needs neither beyond one partial). */
VfReduction vf_ops_reduction(VfDevice *dev);

/* Whether this device can run `r`: subgroup arithmetic present, a power-of-two workgroup within its
 * limits. */
gboolean vf_ops_reduction_supported(VfDevice *dev, VfReduction r);
