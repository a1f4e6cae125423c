/* Element-wise ops. */
#define G_LOG_DOMAIN "vf-ops"

#include "ops_elementwise.h"

void
vf_op_add(VfCmd *cmd, const VfBuffer *a, const VfBuffer *b, const VfBuffer *y, uint32_t n)
{
  if ((uint64_t)n * 4 > a->size || (uint64_t)n * 4 > b->size || (uint64_t)n * 4 > y->size) {
    vf_ops_fail(cmd, "add", "%u elements do not fit the buffers", n);
    return;
  }
  VfPipeline *p = vf_ops_pipeline(cmd, "add", "rrw", sizeof(uint32_t), NULL, 0);
  if (!p)
    return;
  uint32_t gx, gy;
  vf_ops_grid(cmd, (n + 255) / 256, &gx, &gy);
  VfBinding bindings[] = {{*a}, {*b}, {*y}};
  vf_cmd_dispatch(cmd, p, bindings, 3, &n, gx, gy, 1);
}
