/* Memory read probe: streams a buffer through the device's load path (storage-buffer or texel reads)
 * and XOR-folds it into one word, for the bandwidth roofline the bench prints. */
#pragma once

#include "ops_common.h"

typedef enum {
  VF_MEMREAD_STORAGE, /* uvec4 storage-buffer loads */
  VF_MEMREAD_TEXEL,   /* RGBA32UI uniform texel fetches */
} VfMemreadPath;

/* out[0] ^= XOR of every 32-bit word of src (src->size a multiple of 16). src may be larger than
 * one binding: it is read in windows. out: u32 [1], the caller zeroes it first. */
void vf_op_memread_xor(VfCmd *cmd, VfMemreadPath path, const VfBuffer *src, const VfBuffer *out);
