/* VfPipeline: a compute pipeline built from embedded SPIR-V, with push
 * descriptors and push constants, cached per (shader, specialization).
 *
 * Bindings are described by one character each, in binding order:
 *   'r'  storage buffer the shader only reads
 *   'w'  storage buffer the shader writes (and may read)
 *   't'  uniform texel buffer (read through texelFetch; the view's format is given at dispatch)
 *
 *   VfPipelineDesc d = { .shader = "add_f32", .bindings = "rrw", .push_size = 4 };
 *   VfPipeline *p = vf_pipeline_get(dev, &d, &error);
 */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <volk.h>

#include "vf_device.h"

#define VF_PIPELINE_MAX_BINDINGS 12
#define VF_PIPELINE_MAX_SPECS 12

typedef struct VfPipeline VfPipeline;
typedef struct VfPipelineCache VfPipelineCache;

typedef struct {
  const char *shader;   /* resource name, e.g. "gemm_tiled_bf16" (looked up as <name>.spv) */
  const char *bindings; /* one character per binding, see above */
  uint32_t push_size;   /* bytes of push constants, at most 128 */
  const uint32_t *specs; /* specialization constants with constant_id 0 .. nspecs-1 */
  uint32_t nspecs;
} VfPipelineDesc;

/* Returns a cached pipeline (owned by the device). */
VfPipeline *vf_pipeline_get(VfDevice *dev, const VfPipelineDesc *desc, GError **error);

const char *vf_pipeline_name(const VfPipeline *p);
const char *vf_pipeline_bindings(const VfPipeline *p);
uint32_t vf_pipeline_push_size(const VfPipeline *p);
VkPipeline vf_pipeline_handle(const VfPipeline *p);
VkPipelineLayout vf_pipeline_layout(const VfPipeline *p);

/* Where the SPIR-V comes from: a GResource registered by the shaders library. */
void vf_pipeline_set_resource_prefix(const char *prefix);

/* The device's pipelines, and the driver's VkPipelineCache persisted on disk (vf_pipeline_store.h):
 * VF_PIPELINE_CACHE unset or 1 keeps it in $XDG_CACHE_HOME/viewfinder/, 0 switches it off, any other
 * value names the directory. Saved when the device is freed (and by vf_pipeline_cache_save). */
VfPipelineCache *vf_pipeline_cache_create(VfDevice *dev, GError **error);
gboolean vf_pipeline_cache_save(VfPipelineCache *cache, GError **error);
void vf_pipeline_cache_free(VfPipelineCache *cache);
VfPipelineCache *vf_device_pipeline_cache(VfDevice *dev);

typedef struct {
  uint32_t built;       /* pipelines created so far */
  double build_seconds; /* wall time spent creating them */
} VfPipelineStats;

VfPipelineStats vf_pipeline_stats(VfDevice *dev);
/* One line for start-up: where the cache lives and whether its file was loaded, new or ignored. */
const char *vf_pipeline_cache_summary(VfDevice *dev);
/* The on-disk store, or NULL when switched off. */
typedef struct VfPipelineStore VfPipelineStore;
VfPipelineStore *vf_pipeline_cache_store(VfDevice *dev);
