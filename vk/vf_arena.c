/* Device memory arena, sub-allocation and the staging ring. */
#define G_LOG_DOMAIN "vf-vk"

#include "vf_arena.h"

#include <string.h>

typedef struct {
  VkDeviceSize offset, size;
} Range;

typedef struct {
  VkDeviceMemory memory;
  VkBuffer buffer;
  VkDeviceSize size;
  void *mapped;
  VfMemoryKind kind;
  GArray *free; /* Range, sorted by offset, never adjacent */
} Block;

static gboolean arena_alloc(VfArena *arena, VfMemoryKind kind, VkDeviceSize size, VfBuffer *out,
                            GError **error);

#define STAGING_SLOTS 2
#define STAGING_SLOT_SIZE (32ull << 20)

struct VfArena {
  VfDevice *dev;
  GPtrArray *blocks; /* Block*, NULL for a returned dedicated block */
  VkDeviceSize block_size;
  uint32_t device_type;
  uint32_t host_type;
  uint64_t in_use, peak, reserved;

  /* Staging ring: STAGING_SLOTS host-visible slots, each with its command buffer and fence, so the
   * host fills one slot while the device copies the other. */
  VfBuffer staging;
  VkCommandBuffer staging_cmd[STAGING_SLOTS];
  VkFence staging_fence[STAGING_SLOTS];
  bool staging_busy[STAGING_SLOTS];
};

static int
find_memory_type(VkPhysicalDevice phys, uint32_t type_bits, VkMemoryPropertyFlags want)
{
  VkPhysicalDeviceMemoryProperties mp;
  vkGetPhysicalDeviceMemoryProperties(phys, &mp);
  for (uint32_t i = 0; i < mp.memoryTypeCount; i++)
    if ((type_bits & (1u << i)) && (mp.memoryTypes[i].propertyFlags & want) == want)
      return (int)i;
  return -1;
}

static VkBufferUsageFlags
block_usage(void)
{
  return VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT |
         VK_BUFFER_USAGE_STORAGE_TEXEL_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
         VK_BUFFER_USAGE_TRANSFER_DST_BIT;
}

static void
block_destroy(VfArena *arena, Block *b)
{
  VkDevice device = vf_device_handle(arena->dev);
  if (b->mapped)
    vkUnmapMemory(device, b->memory);
  if (b->buffer)
    vkDestroyBuffer(device, b->buffer, NULL);
  if (b->memory)
    vkFreeMemory(device, b->memory, NULL);
  if (b->free)
    g_array_unref(b->free);
  g_free(b);
}

static Block *
block_create(VfArena *arena, VfMemoryKind kind, VkDeviceSize size, GError **error)
{
  VkDevice device = vf_device_handle(arena->dev);
  const VfDeviceInfo *info = vf_device_get_info(arena->dev);
  Block *b = g_new0(Block, 1);
  b->size = size;
  b->kind = kind;

  if (size > info->max_allocation) {
    g_set_error(error, VF_VK_ERROR, VF_VK_ERROR_LIMIT,
                "a %.1f MiB allocation exceeds the device's limit of %.1f MiB per allocation",
                size / 1048576.0, info->max_allocation / 1048576.0);
    goto fail;
  }

  VkBufferCreateInfo bi = {
    .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
    .size = size,
    .usage = block_usage(),
    .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
  };
  VF_VK_TRY(vkCreateBuffer(device, &bi, NULL, &b->buffer), error, fail);
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(device, b->buffer, &req);

  int type = kind == VF_MEMORY_DEVICE ? (int)arena->device_type : (int)arena->host_type;
  if (!(req.memoryTypeBits & (1u << type))) {
    g_set_error(error, VF_VK_ERROR, VF_VK_ERROR_OUT_OF_MEMORY, "no usable memory type for buffers");
    goto fail;
  }
  VkMemoryAllocateInfo ai = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
    .allocationSize = req.size,
    .memoryTypeIndex = (uint32_t)type,
  };
  VkResult r = vkAllocateMemory(device, &ai, NULL, &b->memory);
  if (r != VK_SUCCESS) {
    VfArenaStats s;
    vf_arena_get_stats(arena, &s);
    g_set_error(error, VF_VK_ERROR, VF_VK_ERROR_OUT_OF_MEMORY,
                "out of GPU memory: could not allocate %.1f MiB more (%.1f MiB already in use, "
                "budget %.1f MiB): %s",
                size / 1048576.0, s.device_bytes_reserved / 1048576.0,
                info->memory_budget / 1048576.0, vf_vk_result_name(r));
    b->memory = VK_NULL_HANDLE;
    goto fail;
  }
  VF_VK_TRY(vkBindBufferMemory(device, b->buffer, b->memory, 0), error, fail);

  bool mappable = kind == VF_MEMORY_HOST || info->memory_host_visible;
  if (mappable)
    VF_VK_TRY(vkMapMemory(device, b->memory, 0, VK_WHOLE_SIZE, 0, &b->mapped), error, fail);

  b->free = g_array_new(FALSE, FALSE, sizeof(Range));
  Range all = {0, size};
  g_array_append_val(b->free, all);
  return b;

fail:
  block_destroy(arena, b);
  return NULL;
}

VfArena *
vf_arena_create(VfDevice *dev, GError **error)
{
  VfArena *arena = g_new0(VfArena, 1);
  arena->dev = dev;
  arena->blocks = g_ptr_array_new();
  const VfDeviceInfo *info = vf_device_get_info(dev);
  VkDevice device = vf_device_handle(dev);

  /* Probe memory types with a throwaway buffer of the block usage. */
  VkBufferCreateInfo bi = {
    .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
    .size = 4096,
    .usage = block_usage(),
    .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
  };
  VkBuffer probe;
  VF_VK_TRY(vkCreateBuffer(device, &bi, NULL, &probe), error, fail);
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(device, probe, &req);
  vkDestroyBuffer(device, probe, NULL);

  VkPhysicalDevice phys = vf_device_physical(dev);
  int dtype = -1;
  if (info->memory_host_visible)
    dtype = find_memory_type(phys, req.memoryTypeBits,
                             VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                               VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
  if (dtype < 0)
    dtype = find_memory_type(phys, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  int htype = find_memory_type(phys, req.memoryTypeBits,
                               VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT |
                                 VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
  if (htype < 0)
    htype = find_memory_type(phys, req.memoryTypeBits,
                             VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
  if (dtype < 0 || htype < 0) {
    g_set_error(error, VF_VK_ERROR, VF_VK_ERROR_MISSING_FEATURE,
                "%s offers no %s memory for storage buffers", info->name,
                dtype < 0 ? "device-local" : "host-visible");
    goto fail;
  }
  arena->device_type = (uint32_t)dtype;
  arena->host_type = (uint32_t)htype;
  arena->block_size = MIN(info->max_allocation, 256ull << 20);

  if (!arena_alloc(arena, VF_MEMORY_HOST, STAGING_SLOTS * STAGING_SLOT_SIZE, &arena->staging, error))
    goto fail;
  VkCommandBufferAllocateInfo ci = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
    .commandPool = vf_device_command_pool(dev),
    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
    .commandBufferCount = STAGING_SLOTS,
  };
  VF_VK_TRY(vkAllocateCommandBuffers(device, &ci, arena->staging_cmd), error, fail);
  for (int i = 0; i < STAGING_SLOTS; i++) {
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VF_VK_TRY(vkCreateFence(device, &fi, NULL, &arena->staging_fence[i]), error, fail);
  }
  return arena;

fail:
  vf_arena_free(arena);
  return NULL;
}

void
vf_arena_free(VfArena *arena)
{
  if (!arena)
    return;
  VkDevice device = vf_device_handle(arena->dev);
  for (int i = 0; i < STAGING_SLOTS; i++)
    if (arena->staging_fence[i])
      vkDestroyFence(device, arena->staging_fence[i], NULL);
  if (arena->staging_cmd[0])
    vkFreeCommandBuffers(device, vf_device_command_pool(arena->dev), STAGING_SLOTS, arena->staging_cmd);
  for (guint i = 0; i < arena->blocks->len; i++)
    if (arena->blocks->pdata[i])
      block_destroy(arena, arena->blocks->pdata[i]);
  g_ptr_array_unref(arena->blocks);
  g_free(arena);
}

static bool
block_take(Block *b, VkDeviceSize size, VkDeviceSize *offset)
{
  for (guint i = 0; i < b->free->len; i++) {
    Range *r = &g_array_index(b->free, Range, i);
    if (r->size >= size) {
      *offset = r->offset;
      r->offset += size;
      r->size -= size;
      if (r->size == 0)
        g_array_remove_index(b->free, i);
      return true;
    }
  }
  return false;
}

static void
block_give(Block *b, VkDeviceSize offset, VkDeviceSize size)
{
  guint i = 0;
  while (i < b->free->len && g_array_index(b->free, Range, i).offset < offset)
    i++;
  Range r = {offset, size};
  g_array_insert_val(b->free, i, r);
  /* Merge with the next, then with the previous range. */
  if (i + 1 < b->free->len) {
    Range *a = &g_array_index(b->free, Range, i), *n = &g_array_index(b->free, Range, i + 1);
    if (a->offset + a->size == n->offset) {
      a->size += n->size;
      g_array_remove_index(b->free, i + 1);
    }
  }
  if (i > 0) {
    Range *p = &g_array_index(b->free, Range, i - 1), *a = &g_array_index(b->free, Range, i);
    if (p->offset + p->size == a->offset) {
      p->size += a->size;
      g_array_remove_index(b->free, i);
    }
  }
}

static gboolean
arena_alloc(VfArena *arena, VfMemoryKind kind, VkDeviceSize size, VfBuffer *out, GError **error)
{
  memset(out, 0, sizeof *out);
  out->block = -1;
  if (size == 0)
    size = VF_ARENA_ALIGN;
  size = (size + VF_ARENA_ALIGN - 1) & ~(VkDeviceSize)(VF_ARENA_ALIGN - 1);

  int index = -1;
  VkDeviceSize offset = 0;
  for (guint i = 0; i < arena->blocks->len && index < 0; i++) {
    Block *b = arena->blocks->pdata[i];
    if (b && b->kind == kind && block_take(b, size, &offset))
      index = (int)i;
  }
  if (index < 0) {
    VkDeviceSize bsize = size > arena->block_size ? size : arena->block_size;
    if (kind == VF_MEMORY_HOST && size <= (64ull << 20))
      bsize = MAX(size, 64ull << 20);
    Block *b = block_create(arena, kind, bsize, error);
    if (!b)
      return FALSE;
    /* Reuse an empty slot left by a freed dedicated block. */
    for (guint i = 0; i < arena->blocks->len && index < 0; i++)
      if (!arena->blocks->pdata[i]) {
        arena->blocks->pdata[i] = b;
        index = (int)i;
      }
    if (index < 0) {
      g_ptr_array_add(arena->blocks, b);
      index = (int)arena->blocks->len - 1;
    }
    arena->reserved += bsize;
    block_take(b, size, &offset);
  }

  Block *b = arena->blocks->pdata[index];
  out->buffer = b->buffer;
  out->offset = offset;
  out->size = size;
  out->mapped = b->mapped ? (char *)b->mapped + offset : NULL;
  out->block = index;
  out->kind = kind;
  if (kind == VF_MEMORY_DEVICE) {
    arena->in_use += size;
    arena->peak = MAX(arena->peak, arena->in_use);
  }
  return TRUE;
}

gboolean
vf_buffer_alloc(VfDevice *dev, VfMemoryKind kind, VkDeviceSize size, VfBuffer *out, GError **error)
{
  return arena_alloc(vf_device_arena(dev), kind, size, out, error);
}

void
vf_buffer_release(VfDevice *dev, VfBuffer *buf)
{
  VfArena *arena = vf_device_arena(dev);
  if (!arena || !buf || buf->block < 0 || (guint)buf->block >= arena->blocks->len)
    return;
  Block *b = arena->blocks->pdata[buf->block];
  g_return_if_fail(b && b->buffer == buf->buffer);
  block_give(b, buf->offset, buf->size);
  if (buf->kind == VF_MEMORY_DEVICE)
    arena->in_use -= buf->size;
  /* A block of its own (larger than the standard size) goes back as soon as it is empty. */
  if (b->size > arena->block_size && b->free->len == 1 && g_array_index(b->free, Range, 0).size == b->size) {
    vkDeviceWaitIdle(vf_device_handle(dev));
    arena->reserved -= b->size;
    block_destroy(arena, b);
    arena->blocks->pdata[buf->block] = NULL;
  }
  memset(buf, 0, sizeof *buf);
  buf->block = -1;
}

VfBuffer
vf_buffer_slice(const VfBuffer *buf, VkDeviceSize offset, VkDeviceSize size)
{
  g_assert(offset + size <= buf->size);
  VfBuffer s = *buf;
  s.offset = buf->offset + offset;
  s.size = size;
  s.mapped = buf->mapped ? (char *)buf->mapped + offset : NULL;
  s.block = -1;
  return s;
}

void
vf_arena_get_stats(VfArena *arena, VfArenaStats *stats)
{
  stats->device_bytes_in_use = arena->in_use;
  stats->device_bytes_peak = arena->peak;
  stats->device_bytes_reserved = arena->reserved;
  stats->blocks = 0;
  for (guint i = 0; i < arena->blocks->len; i++)
    stats->blocks += arena->blocks->pdata[i] != NULL;
}

/* ---- staging ring ---------------------------------------------------------------------------- */

static gboolean
staging_wait(VfArena *arena, int slot, GError **error)
{
  if (!arena->staging_busy[slot])
    return TRUE;
  VkDevice device = vf_device_handle(arena->dev);
  VF_VK_TRY(vkWaitForFences(device, 1, &arena->staging_fence[slot], VK_TRUE, UINT64_MAX), error, fail);
  VF_VK_TRY(vkResetFences(device, 1, &arena->staging_fence[slot]), error, fail);
  arena->staging_busy[slot] = false;
  return TRUE;
fail:
  return FALSE;
}

/* Records and submits one copy between the staging slot and `buf`. */
static gboolean
staging_copy(VfArena *arena, int slot, const VfBuffer *buf, VkDeviceSize offset, VkDeviceSize size,
             bool to_device, GError **error)
{
  VkCommandBuffer cmd = arena->staging_cmd[slot];
  VkCommandBufferBeginInfo bi = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
    .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
  };
  VF_VK_TRY(vkBeginCommandBuffer(cmd, &bi), error, fail);
  VkBufferCopy region = {
    .srcOffset = to_device ? arena->staging.offset + slot * STAGING_SLOT_SIZE : buf->offset + offset,
    .dstOffset = to_device ? buf->offset + offset : arena->staging.offset + slot * STAGING_SLOT_SIZE,
    .size = size,
  };
  if (to_device)
    vkCmdCopyBuffer(cmd, arena->staging.buffer, buf->buffer, 1, &region);
  else
    vkCmdCopyBuffer(cmd, buf->buffer, arena->staging.buffer, 1, &region);
  VkMemoryBarrier mb = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
    .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
    .dstAccessMask = to_device ? VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT : VK_ACCESS_HOST_READ_BIT,
  };
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
                       to_device ? VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT : VK_PIPELINE_STAGE_HOST_BIT, 0, 1,
                       &mb, 0, NULL, 0, NULL);
  VF_VK_TRY(vkEndCommandBuffer(cmd), error, fail);
  VkSubmitInfo si = {
    .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
    .commandBufferCount = 1,
    .pCommandBuffers = &cmd,
  };
  VF_VK_TRY(vkQueueSubmit(vf_device_queue(arena->dev), 1, &si, arena->staging_fence[slot]), error, fail);
  arena->staging_busy[slot] = true;
  return TRUE;
fail:
  return FALSE;
}

static gboolean
check_range(const VfBuffer *buf, VkDeviceSize offset, VkDeviceSize size, GError **error)
{
  if (offset + size > buf->size) {
    g_set_error(error, VF_VK_ERROR, VF_VK_ERROR_LIMIT,
                "copy of %" G_GUINT64_FORMAT " bytes at %" G_GUINT64_FORMAT
                " runs past a buffer of %" G_GUINT64_FORMAT " bytes",
                (guint64)size, (guint64)offset, (guint64)buf->size);
    return FALSE;
  }
  return TRUE;
}

gboolean
vf_buffer_upload(VfDevice *dev, const VfBuffer *buf, VkDeviceSize offset, const void *data, VkDeviceSize size,
                 GError **error)
{
  if (!check_range(buf, offset, size, error))
    return FALSE;
  if (buf->mapped) {
    /* The device may still read this memory from an earlier submission. */
    vkQueueWaitIdle(vf_device_queue(dev));
    memcpy((char *)buf->mapped + offset, data, size);
    return TRUE;
  }
  VfArena *arena = vf_device_arena(dev);
  const char *src = data;
  int slot = 0;
  for (VkDeviceSize done = 0; done < size; slot = (slot + 1) % STAGING_SLOTS) {
    VkDeviceSize n = MIN(size - done, STAGING_SLOT_SIZE);
    if (!staging_wait(arena, slot, error))
      return FALSE;
    memcpy((char *)arena->staging.mapped + slot * STAGING_SLOT_SIZE, src + done, n);
    if (!staging_copy(arena, slot, buf, offset + done, n, true, error))
      return FALSE;
    done += n;
  }
  for (int i = 0; i < STAGING_SLOTS; i++)
    if (!staging_wait(arena, i, error))
      return FALSE;
  return TRUE;
}

gboolean
vf_buffer_download(VfDevice *dev, const VfBuffer *buf, VkDeviceSize offset, void *data, VkDeviceSize size,
                   GError **error)
{
  if (!check_range(buf, offset, size, error))
    return FALSE;
  VF_VK_TRY(vkQueueWaitIdle(vf_device_queue(dev)), error, fail);
  if (buf->mapped) {
    memcpy(data, (const char *)buf->mapped + offset, size);
    return TRUE;
  }
  VfArena *arena = vf_device_arena(dev);
  char *dst = data;
  for (VkDeviceSize done = 0; done < size;) {
    VkDeviceSize n = MIN(size - done, STAGING_SLOT_SIZE);
    if (!staging_copy(arena, 0, buf, offset + done, n, false, error) || !staging_wait(arena, 0, error))
      return FALSE;
    memcpy(dst + done, arena->staging.mapped, n);
    done += n;
  }
  return TRUE;
fail:
  return FALSE;
}

gboolean
vf_buffer_zero(VfDevice *dev, const VfBuffer *buf, GError **error)
{
  g_return_val_if_fail(buf->size % 4 == 0, FALSE);
  if (buf->mapped) {
    VF_VK_TRY(vkQueueWaitIdle(vf_device_queue(dev)), error, fail);
    memset(buf->mapped, 0, buf->size);
    return TRUE;
  }
  VfArena *arena = vf_device_arena(dev);
  if (!staging_wait(arena, 0, error))
    return FALSE;
  VkCommandBuffer cmd = arena->staging_cmd[0];
  VkCommandBufferBeginInfo bi = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
    .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
  };
  VF_VK_TRY(vkBeginCommandBuffer(cmd, &bi), error, fail);
  vkCmdFillBuffer(cmd, buf->buffer, buf->offset, buf->size, 0);
  VF_VK_TRY(vkEndCommandBuffer(cmd), error, fail);
  VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cmd};
  VF_VK_TRY(vkQueueSubmit(vf_device_queue(dev), 1, &si, arena->staging_fence[0]), error, fail);
  arena->staging_busy[0] = true;
  return staging_wait(arena, 0, error);
fail:
  return FALSE;
}
