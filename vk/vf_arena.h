/* VfArena: device memory in a few large blocks, each one VkBuffer, handed out
 * as slices (VfBuffer) by a first-fit free list. Uploads and readbacks go
 * through a host-visible staging ring, or straight through the mapping when
 * the device-local memory is host-visible (CPU drivers, UMA, full ReBAR).
 *
 *   block 0  [VkDeviceMemory + VkBuffer, e.g. 256 MiB]
 *   |--slice A--|--free--|----slice B----|------------free------------|
 *   ^ offset 0  (every slice starts at a multiple of VF_ARENA_ALIGN)
 *
 * A tensor larger than one block gets a block of its own.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <volk.h>

#include "vf_device.h"

/* Slice alignment: covers storage-buffer and texel-buffer offset alignment on all known devices. */
#define VF_ARENA_ALIGN 256u

typedef enum {
  VF_MEMORY_DEVICE, /* device-local: weights, activations, KV cache */
  VF_MEMORY_HOST,   /* host-visible and coherent: small parameters the host rewrites between submits */
} VfMemoryKind;

/* A slice of an arena block. A plain value: copy it freely; release it once. */
typedef struct {
  VkBuffer buffer;     /* the block's buffer */
  VkDeviceSize offset; /* bytes from the start of the block's buffer */
  VkDeviceSize size;   /* bytes */
  void *mapped;        /* host pointer to byte `offset`, or NULL when not mappable */
  int32_t block;       /* owning block, -1 for a sub-slice that owns nothing */
  VfMemoryKind kind;
} VfBuffer;

VfArena *vf_arena_create(VfDevice *dev, GError **error);
void vf_arena_free(VfArena *arena);

/* Allocates `size` bytes (rounded up to VF_ARENA_ALIGN). Out of memory is a GError, never an abort. */
gboolean vf_buffer_alloc(VfDevice *dev, VfMemoryKind kind, VkDeviceSize size, VfBuffer *out, GError **error);
void vf_buffer_release(VfDevice *dev, VfBuffer *buf);

/* A view of bytes [offset, offset + size) of `buf`; owns nothing. */
VfBuffer vf_buffer_slice(const VfBuffer *buf, VkDeviceSize offset, VkDeviceSize size);

/* Copies host bytes into `buf` at `offset` (waits for completion). */
gboolean vf_buffer_upload(VfDevice *dev, const VfBuffer *buf, VkDeviceSize offset, const void *data,
                          VkDeviceSize size, GError **error);
/* Copies `size` bytes of `buf` from `offset` to host memory (waits for the queue to be idle first). */
gboolean vf_buffer_download(VfDevice *dev, const VfBuffer *buf, VkDeviceSize offset, void *data,
                            VkDeviceSize size, GError **error);
/* Fills `buf` with zero bytes. */
gboolean vf_buffer_zero(VfDevice *dev, const VfBuffer *buf, GError **error);

typedef struct {
  uint64_t device_bytes_in_use;
  uint64_t device_bytes_peak;
  uint64_t device_bytes_reserved; /* sum of block sizes */
  uint32_t blocks;
} VfArenaStats;

void vf_arena_get_stats(VfArena *arena, VfArenaStats *stats);
