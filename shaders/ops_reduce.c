/* Per-device choice of the workgroup reduction. */
#define G_LOG_DOMAIN "vf-ops"

#include "ops_reduce.h"

static uint32_t
floor_pow2(uint32_t v)
{
  uint32_t p = 1;
  while (p <= v / 2)
    p *= 2;
  return p;
}

VfReduction
vf_ops_reduction(VfDevice *dev)
{
  const VfDeviceInfo *info = vf_device_get_info(dev);
  uint32_t wg = vf_ops_kernel_family(dev) == VF_KERNELS_GPU ? 256 : MAX(info->subgroup_size, 1);
  wg = floor_pow2(MIN(wg, info->max_workgroup_invocations));
  return (VfReduction){.subgroup = info->subgroup_arithmetic, .workgroup = wg};
}

gboolean
vf_ops_reduction_supported(VfDevice *dev, VfReduction r)
{
  const VfDeviceInfo *info = vf_device_get_info(dev);
  if (r.subgroup && !info->subgroup_arithmetic)
    return FALSE;
  return r.workgroup > 0 && (r.workgroup & (r.workgroup - 1)) == 0 && r.workgroup <= info->max_workgroup_invocations;
}
