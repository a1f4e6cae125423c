/* Element-wise ops on f32 vectors. */
#pragma once

#include "ops_common.h"

/* y[n] = a[n] + b[n]; y may alias a or b. */
void vf_op_add(VfCmd *cmd, const VfBuffer *a, const VfBuffer *b, const VfBuffer *y, uint32_t n);
