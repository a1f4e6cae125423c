/* VfDType: the element types of tensors the op library reads. Type-only (no Vulkan), so code that only
 * names a dtype, such as the safetensors reader, does not pull in the op library's headers. */
#pragma once

#include <stddef.h>

typedef enum {
  VF_DTYPE_F32,
  VF_DTYPE_F16,
  VF_DTYPE_BF16,
  VF_DTYPE_I32,
  VF_DTYPE_I64,
  VF_DTYPE_U8,
} VfDType;

size_t vf_dtype_size(VfDType t);
const char *vf_dtype_name(VfDType t);
