/* Shared helpers of the op library. */
#define G_LOG_DOMAIN "vf-ops"

#include "ops_common.h"
#include "ops_attention.h"
#include "ops_matmul.h"

#include <stdarg.h>
#include <string.h>

size_t
vf_dtype_size(VfDType t)
{
  switch (t) {
  case VF_DTYPE_F32: return 4;
  case VF_DTYPE_F16: return 2;
  case VF_DTYPE_BF16: return 2;
  case VF_DTYPE_I32: return 4;
  case VF_DTYPE_I64: return 8;
  case VF_DTYPE_U8: return 1;
  }
  return 0;
}

const char *
vf_dtype_name(VfDType t)
{
  switch (t) {
  case VF_DTYPE_F32: return "f32";
  case VF_DTYPE_F16: return "f16";
  case VF_DTYPE_BF16: return "bf16";
  case VF_DTYPE_I32: return "i32";
  case VF_DTYPE_I64: return "i64";
  case VF_DTYPE_U8: return "u8";
  }
  return "?";
}

void
vf_ops_grid(VfCmd *cmd, uint64_t groups, uint32_t *gx, uint32_t *gy)
{
  uint32_t max_x = vf_device_get_info(vf_cmd_device(cmd))->max_workgroup_count[0];
  if (groups <= max_x) {
    *gx = (uint32_t)groups;
    *gy = 1;
  } else {
    *gy = (uint32_t)((groups + max_x - 1) / max_x);
    *gx = (uint32_t)((groups + *gy - 1) / *gy);
  }
}

VfPipeline *
vf_ops_pipeline(VfCmd *cmd, const char *shader, const char *bindings, uint32_t push_size,
                const uint32_t *specs, uint32_t nspecs)
{
  if (!vf_cmd_ok(cmd))
    return NULL;
  VfPipelineDesc d = {
    .shader = shader,
    .bindings = bindings,
    .push_size = push_size,
    .specs = specs,
    .nspecs = nspecs,
  };
  GError *error = NULL;
  VfPipeline *p = vf_pipeline_get(vf_cmd_device(cmd), &d, &error);
  if (!p)
    vf_cmd_fail(cmd, error);
  return p;
}

void
vf_ops_fail(VfCmd *cmd, const char *op, const char *format, ...)
{
  va_list ap;
  va_start(ap, format);
  g_autofree char *msg = g_strdup_vprintf(format, ap);
  va_end(ap);
  vf_cmd_fail(cmd, g_error_new(VF_VK_ERROR, VF_VK_ERROR_LIMIT, "%s: %s", op, msg));
}

VfKernelFamily
vf_ops_kernel_family(VfDevice *dev)
{
  const char *v = vf_env("VF_KERNELS");
  if (v && g_str_equal(v, "gpu"))
    return VF_KERNELS_GPU;
  if (v && g_str_equal(v, "cpu"))
    return VF_KERNELS_CPU;
  return vf_device_get_info(dev)->kind == VF_DEVICE_KIND_CPU ? VF_KERNELS_CPU : VF_KERNELS_GPU;
}

const char *
vf_ops_policy_summary(VfDevice *dev)
{
  static char buf[512];
  VfKernelFamily f = vf_ops_kernel_family(dev);
  g_snprintf(buf, sizeof buf, "kernels: %s (%s; VF_KERNELS=gpu|cpu overrides)",
             f == VF_KERNELS_GPU ? "gpu" : "cpu",
             f == VF_KERNELS_GPU ? "shared-memory tiles, subgroup reductions"
                                 : "register blocks through texel buffers, no shared memory");
  g_snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "; matmul: %s for M < %u, else %s",
             f == VF_KERNELS_GPU ? "gemv_subgroup" : "gemv_texel", vf_matmul_gemv_threshold(dev),
             f == VF_KERNELS_GPU ? "gemm_tiled" : "gemm_texel");
  VfDType kv;
  g_autoptr(GError) kv_error = NULL;
  if (vf_ops_kv_dtype(&kv, &kv_error))
    g_snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "; KV cache %s (VF_KV=f16|f32)", vf_dtype_name(kv));
  else
    g_snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "; %s", kv_error->message);
  return buf;
}
