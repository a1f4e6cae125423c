/* VfPipelineStore: the driver's VkPipelineCache kept on disk between runs, so a second start skips the
 * shader compiles of the first (on CPU drivers LLVM takes seconds for the large register blocks).
 *
 * One file per device, in DIR (normally $XDG_CACHE_HOME/viewfinder/):
 *
 *   pipelines-<device UUID, 32 hex digits>.bin
 *
 *   offset  bytes  field                                   (integers little-endian)
 *        0      8  magic "VFPCACHE"
 *        8      4  format version (1)
 *       12      4  VkPhysicalDeviceProperties.driverVersion
 *       16     16  VkPhysicalDeviceIDProperties.deviceUUID
 *       32     32  SHA-256 of the embedded SPIR-V (every module, by name)
 *       64      8  data size D
 *       72     32  SHA-256 of the data
 *      104      D  vkGetPipelineCacheData output, which starts with the Vulkan header:
 *                    +0 headerSize u32 (≥ 32)  +4 headerVersion u32 (VK_PIPELINE_CACHE_HEADER_VERSION_ONE)
 *                    +8 vendorID u32  +12 deviceID u32  +16 pipelineCacheUUID[16]
 *
 * A file is used only when every field matches this device, driver and build and the data's checksum
 * holds; anything else (truncated, corrupt, another device, driver or build) is ignored with a note on
 * stderr and replaced at the next save. Saves write a temporary file and rename it over the old one, so a
 * reader never sees half a file.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <volk.h>

#include "vf_device.h"

typedef struct VfPipelineStore VfPipelineStore;

#define VF_PIPELINE_STORE_HEADER_BYTES 104

typedef enum {
  VF_PIPELINE_STORE_EMPTY,   /* no file yet */
  VF_PIPELINE_STORE_LOADED,  /* the file's data seeded the cache */
  VF_PIPELINE_STORE_IGNORED, /* a file was there but not usable (see vf_pipeline_store_note) */
} VfPipelineStoreState;

/* Opens the store of `dev` in `dir` (created when saving) with the SPIR-V hash of this build. Never
 * fails for a bad file: that is ignored (noted on stderr). NULL only when Vulkan cannot make a cache. */
VfPipelineStore *vf_pipeline_store_open(VfDevice *dev, const char *dir, const uint8_t spirv_sha256[32],
                                        GError **error);
/* Writes the cache (temporary file + rename). */
gboolean vf_pipeline_store_save(VfPipelineStore *store, GError **error);
void vf_pipeline_store_free(VfPipelineStore *store);

VkPipelineCache vf_pipeline_store_handle(VfPipelineStore *store);
VfPipelineStoreState vf_pipeline_store_state(VfPipelineStore *store);
/* Why the file was ignored ("" otherwise). */
const char *vf_pipeline_store_note(VfPipelineStore *store);
const char *vf_pipeline_store_path(VfPipelineStore *store);
/* Bytes of driver data loaded from the file (0 unless LOADED). */
gsize vf_pipeline_store_loaded_bytes(VfPipelineStore *store);

/* SHA-256 of every SPIR-V module under a GResource path, in name order (names included). */
void vf_pipeline_store_hash_resources(const char *prefix, uint8_t sha256[32]);
