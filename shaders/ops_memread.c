/* Memory read probe (memread.comp): one dispatch per window of the source buffer. */
#define G_LOG_DOMAIN "vf-ops"

#include "ops_memread.h"

/* 16-byte texels per workgroup (1 MiB: on lavapipe 64 KiB chunks read about 15% slower). */
#define MEMREAD_CHUNK 65536u

void
vf_op_memread_xor(VfCmd *cmd, VfMemreadPath path, const VfBuffer *src, const VfBuffer *out)
{
  if (!vf_cmd_ok(cmd))
    return;
  const VfDeviceInfo *info = vf_device_get_info(vf_cmd_device(cmd));
  if (src->size % 16 != 0 || out->size < 4) {
    vf_ops_fail(cmd, "memread", "source size must be a multiple of 16 and the result hold one u32");
    return;
  }
  bool texel = path == VF_MEMREAD_TEXEL;
  uint64_t limit = texel ? info->max_texel_elements * 16 : info->max_storage_range;
  uint64_t align = MAX(texel ? info->texel_align : info->storage_align, 1);
  /* Windows: multiples of both the offset alignment and 16 bytes, at most 2^31 texels (the shader
   * indexes with 32-bit ints). */
  uint64_t step = align % 16 == 0 ? align : 16 % align == 0 ? 16 : align * 16;
  uint64_t window = MIN(limit, (uint64_t)INT32_MAX * 16);
  window -= window % step;
  if (window == 0) {
    vf_ops_fail(cmd, "memread", "no window fits the binding limits");
    return;
  }
  uint32_t chunk = MEMREAD_CHUNK;
  VfPipeline *pipe = vf_ops_pipeline(cmd, texel ? "memread_texel" : "memread_ssbo", texel ? "tw" : "rw", 4, &chunk, 1);
  if (!pipe)
    return;
  VfBuffer result = vf_buffer_slice(out, 0, 4);
  for (uint64_t offset = 0; offset < src->size; offset += window) {
    uint64_t bytes = MIN(window, src->size - offset);
    uint32_t texels = (uint32_t)(bytes / 16);
    VfBinding b[2] = {{vf_buffer_slice(src, offset, bytes), VK_FORMAT_R32G32B32A32_UINT}, {result}};
    uint32_t gx, gy;
    vf_ops_grid(cmd, (texels + chunk - 1) / chunk, &gx, &gy);
    vf_cmd_dispatch(cmd, pipe, b, 2, &texels, gx, gy, 1);
  }
}
