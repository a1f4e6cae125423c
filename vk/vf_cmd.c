/* Command recording with derived barriers, submission, and per-dispatch GPU timestamps. */
#define G_LOG_DOMAIN "vf-vk"

#include "vf_cmd.h"

#include <string.h>

typedef struct {
  VkBuffer buffer;
  VkDeviceSize offset, size;
  bool written;
} Access;

#define PROFILE_MAX_DISPATCHES 8192

struct VfCmd {
  VfDevice *dev;
  VkCommandBuffer cb;
  VkFence fence;
  bool recording;
  GError *error;
  GArray *pending;   /* Access since the last barrier */
  GArray *views;     /* VkBufferView owned by this command list */
  uint32_t dispatches;
  /* Profiling */
  VkQueryPool queries;
  GPtrArray *labels; /* const char* (pipeline names, owned by the cache) per dispatch */
};

/* ---- profile ------------------------------------------------------------------------------------ */

typedef struct {
  guint64 calls;
  double ns;
} ProfileEntry;

static GMutex profile_lock;
static GHashTable *profile; /* name -> ProfileEntry */

gboolean
vf_profile_enabled(void)
{
  static int enabled = -1;
  if (enabled < 0) {
    const char *v = vf_env("VF_PROFILE");
    enabled = v && *v && !g_str_equal(v, "0");
  }
  return enabled;
}

void
vf_profile_reset(void)
{
  g_mutex_lock(&profile_lock);
  if (profile)
    g_hash_table_remove_all(profile);
  g_mutex_unlock(&profile_lock);
}

static void
profile_add(const char *name, double ns)
{
  g_mutex_lock(&profile_lock);
  if (!profile)
    profile = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  ProfileEntry *e = g_hash_table_lookup(profile, name);
  if (!e) {
    e = g_new0(ProfileEntry, 1);
    g_hash_table_insert(profile, g_strdup(name), e);
  }
  e->calls++;
  e->ns += ns;
  g_mutex_unlock(&profile_lock);
}

static gint
by_time_desc(gconstpointer a, gconstpointer b, gpointer table)
{
  const ProfileEntry *ea = g_hash_table_lookup(table, *(const char **)a);
  const ProfileEntry *eb = g_hash_table_lookup(table, *(const char **)b);
  return ea->ns < eb->ns ? 1 : ea->ns > eb->ns ? -1 : 0;
}

void
vf_profile_print(FILE *out)
{
  g_mutex_lock(&profile_lock);
  if (profile && g_hash_table_size(profile)) {
    guint n = 0;
    const char **names = (const char **)g_hash_table_get_keys_as_array(profile, &n);
    g_qsort_with_data(names, (gint)n, sizeof(char *), by_time_desc, profile);
    double total = 0;
    for (guint i = 0; i < n; i++)
      total += ((ProfileEntry *)g_hash_table_lookup(profile, names[i]))->ns;
    fprintf(out, "%-32s %10s %12s %12s %6s\n", "GPU time per shader", "calls", "total ms", "mean us", "share");
    for (guint i = 0; i < n; i++) {
      ProfileEntry *e = g_hash_table_lookup(profile, names[i]);
      fprintf(out, "%-32s %10" G_GUINT64_FORMAT " %12.3f %12.2f %5.1f%%\n", names[i], e->calls, e->ns / 1e6,
              e->ns / 1e3 / (double)e->calls, 100.0 * e->ns / total);
    }
    fprintf(out, "%-32s %10s %12.3f\n", "total", "", total / 1e6);
    g_free(names);
  }
  g_mutex_unlock(&profile_lock);
}

double
vf_profile_total_ns(const char *prefix)
{
  double total = 0;
  g_mutex_lock(&profile_lock);
  if (profile) {
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, profile);
    while (g_hash_table_iter_next(&it, &k, &v))
      if (!prefix || g_str_has_prefix(k, prefix))
        total += ((ProfileEntry *)v)->ns;
  }
  g_mutex_unlock(&profile_lock);
  return total;
}

/* ---- recording ------------------------------------------------------------------------------- */

void
vf_cmd_fail(VfCmd *cmd, GError *error)
{
  if (!cmd->error)
    cmd->error = error;
  else
    g_error_free(error);
}

gboolean vf_cmd_ok(VfCmd *cmd) { return cmd->error == NULL; }
VfDevice *vf_cmd_device(VfCmd *cmd) { return cmd->dev; }
uint32_t vf_cmd_dispatch_count(VfCmd *cmd) { return cmd->dispatches; }

VfCmd *
vf_cmd_new(VfDevice *dev, GError **error)
{
  VkDevice device = vf_device_handle(dev);
  VfCmd *cmd = g_new0(VfCmd, 1);
  cmd->dev = dev;
  cmd->pending = g_array_new(FALSE, FALSE, sizeof(Access));
  cmd->views = g_array_new(FALSE, FALSE, sizeof(VkBufferView));
  cmd->labels = g_ptr_array_new();

  VkCommandBufferAllocateInfo ai = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
    .commandPool = vf_device_command_pool(dev),
    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
    .commandBufferCount = 1,
  };
  VF_VK_TRY(vkAllocateCommandBuffers(device, &ai, &cmd->cb), error, fail);
  /* Created signalled, so freeing a never-submitted list does not wait forever. */
  VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO, .flags = VK_FENCE_CREATE_SIGNALED_BIT};
  VF_VK_TRY(vkCreateFence(device, &fi, NULL, &cmd->fence), error, fail);
  VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  VF_VK_TRY(vkBeginCommandBuffer(cmd->cb, &bi), error, fail);
  cmd->recording = true;

  if (vf_profile_enabled() && vf_device_get_info(dev)->timestamp_period > 0) {
    VkQueryPoolCreateInfo qi = {
      .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
      .queryType = VK_QUERY_TYPE_TIMESTAMP,
      .queryCount = PROFILE_MAX_DISPATCHES + 1,
    };
    VF_VK_TRY(vkCreateQueryPool(device, &qi, NULL, &cmd->queries), error, fail);
    vkCmdResetQueryPool(cmd->cb, cmd->queries, 0, PROFILE_MAX_DISPATCHES + 1);
    vkCmdWriteTimestamp(cmd->cb, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, cmd->queries, 0);
  }
  return cmd;

fail:
  vf_cmd_free(cmd);
  return NULL;
}

void
vf_cmd_free(VfCmd *cmd)
{
  if (!cmd)
    return;
  VkDevice device = vf_device_handle(cmd->dev);
  if (cmd->fence) {
    /* Never destroy what the device may still be executing. */
    vkWaitForFences(device, 1, &cmd->fence, VK_TRUE, UINT64_MAX);
    vkDestroyFence(device, cmd->fence, NULL);
  }
  for (guint i = 0; i < cmd->views->len; i++)
    vkDestroyBufferView(device, g_array_index(cmd->views, VkBufferView, i), NULL);
  if (cmd->queries)
    vkDestroyQueryPool(device, cmd->queries, NULL);
  if (cmd->cb)
    vkFreeCommandBuffers(device, vf_device_command_pool(cmd->dev), 1, &cmd->cb);
  g_array_unref(cmd->pending);
  g_array_unref(cmd->views);
  g_ptr_array_unref(cmd->labels);
  g_clear_error(&cmd->error);
  g_free(cmd);
}

static bool
overlaps(const Access *a, VkBuffer buffer, VkDeviceSize offset, VkDeviceSize size)
{
  return a->buffer == buffer && a->offset < offset + size && offset < a->offset + a->size;
}

static void
emit_barrier(VfCmd *cmd)
{
  VkBufferMemoryBarrier barriers[64];
  uint32_t n = 0;
  bool overflow = false;
  for (guint i = 0; i < cmd->pending->len; i++) {
    Access *a = &g_array_index(cmd->pending, Access, i);
    if (!a->written)
      continue;
    if (n == G_N_ELEMENTS(barriers)) {
      overflow = true;
      break;
    }
    barriers[n++] = (VkBufferMemoryBarrier){
      .sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER,
      .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
      .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                       VK_ACCESS_TRANSFER_WRITE_BIT,
      .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
      .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
      .buffer = a->buffer,
      .offset = a->offset,
      .size = a->size,
    };
  }
  VkMemoryBarrier global = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
    .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
    .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                     VK_ACCESS_TRANSFER_WRITE_BIT,
  };
  /* Write-after-read hazards need only the execution dependency, which any barrier gives. */
  VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
  vkCmdPipelineBarrier(cmd->cb, stages, stages, 0, overflow ? 1 : 0, &global, overflow ? 0 : n, barriers, 0,
                       NULL);
  g_array_set_size(cmd->pending, 0);
}

/* Inserts a barrier when the access conflicts with one since the last barrier, then records it. */
static void
track(VfCmd *cmd, VkBuffer buffer, VkDeviceSize offset, VkDeviceSize size, bool write)
{
#ifdef VF_CMD_DROP_BARRIERS
  /* tests/test_syncval.c's own copy of this file: no barriers, so synchronization validation must object. */
  return;
#endif
  for (guint i = 0; i < cmd->pending->len; i++) {
    Access *a = &g_array_index(cmd->pending, Access, i);
    if (overlaps(a, buffer, offset, size) && (write || a->written)) {
      emit_barrier(cmd);
      break;
    }
  }
}

static void
remember(VfCmd *cmd, VkBuffer buffer, VkDeviceSize offset, VkDeviceSize size, bool write)
{
  Access a = {buffer, offset, size, write};
  g_array_append_val(cmd->pending, a);
}

void
vf_cmd_barrier(VfCmd *cmd)
{
  if (cmd->recording)
    emit_barrier(cmd);
}

static uint32_t
format_bytes(VkFormat f)
{
  switch (f) {
  case VK_FORMAT_R32G32B32A32_UINT:
  case VK_FORMAT_R32G32B32A32_SFLOAT:
    return 16;
  case VK_FORMAT_R32G32_UINT:
  case VK_FORMAT_R32G32_SFLOAT:
    return 8;
  case VK_FORMAT_R32_UINT:
  case VK_FORMAT_R32_SFLOAT:
  case VK_FORMAT_R32_SINT:
    return 4;
  case VK_FORMAT_R16_UINT:
  case VK_FORMAT_R16_SFLOAT:
    return 2;
  default:
    return 0;
  }
}

static void
after_command(VfCmd *cmd, const char *label)
{
  if (cmd->queries && cmd->labels->len < PROFILE_MAX_DISPATCHES) {
    g_ptr_array_add(cmd->labels, (gpointer)label);
    vkCmdWriteTimestamp(cmd->cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, cmd->queries, cmd->labels->len);
  }
}

void
vf_cmd_dispatch(VfCmd *cmd, VfPipeline *pipeline, const VfBinding *bindings, uint32_t nbindings,
                const void *push, uint32_t gx, uint32_t gy, uint32_t gz)
{
  if (!cmd->recording || cmd->error)
    return;
  const VfDeviceInfo *info = vf_device_get_info(cmd->dev);
  const char *kinds = vf_pipeline_bindings(pipeline);
  const char *name = vf_pipeline_name(pipeline);
  if (strlen(kinds) != nbindings) {
    vf_cmd_fail(cmd, g_error_new(VF_VK_ERROR, VF_VK_ERROR_SHADER, "%s: %u bindings given, %zu expected",
                                 name, nbindings, strlen(kinds)));
    return;
  }
  if (gx == 0 || gy == 0 || gz == 0)
    return;
  if (gx > info->max_workgroup_count[0] || gy > info->max_workgroup_count[1] ||
      gz > info->max_workgroup_count[2]) {
    vf_cmd_fail(cmd, g_error_new(VF_VK_ERROR, VF_VK_ERROR_LIMIT,
                                 "%s: %u×%u×%u workgroups exceed the device limit %u×%u×%u", name, gx, gy, gz,
                                 info->max_workgroup_count[0], info->max_workgroup_count[1],
                                 info->max_workgroup_count[2]));
    return;
  }

  VkWriteDescriptorSet writes[VF_PIPELINE_MAX_BINDINGS];
  VkDescriptorBufferInfo infos[VF_PIPELINE_MAX_BINDINGS];
  VkBufferView views[VF_PIPELINE_MAX_BINDINGS];
  for (uint32_t i = 0; i < nbindings; i++) {
    const VfBuffer *b = &bindings[i].buf;
    if (!b->buffer) {
      vf_cmd_fail(cmd, g_error_new(VF_VK_ERROR, VF_VK_ERROR_CALL, "%s: binding %u is empty", name, i));
      return;
    }
    writes[i] = (VkWriteDescriptorSet){
      .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
      .dstBinding = i,
      .descriptorCount = 1,
    };
    if (kinds[i] == 't') {
      uint32_t tb = format_bytes(bindings[i].format);
      if (tb == 0 || b->offset % info->texel_align != 0 || b->size / tb > info->max_texel_elements) {
        vf_cmd_fail(cmd, g_error_new(VF_VK_ERROR, VF_VK_ERROR_LIMIT,
                                     "%s: binding %u: a texel view of %" G_GUINT64_FORMAT
                                     " bytes at offset %" G_GUINT64_FORMAT " is not possible on this device",
                                     name, i, (guint64)b->size, (guint64)b->offset));
        return;
      }
      VkBufferViewCreateInfo vi = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO,
        .buffer = b->buffer,
        .format = bindings[i].format,
        .offset = b->offset,
        .range = (b->size / tb) * tb,
      };
      VkResult r = vkCreateBufferView(vf_device_handle(cmd->dev), &vi, NULL, &views[i]);
      if (r != VK_SUCCESS) {
        GError *e = NULL;
        vf_vk_set_error(&e, r, "vkCreateBufferView", __FILE__, __LINE__);
        vf_cmd_fail(cmd, e);
        return;
      }
      g_array_append_val(cmd->views, views[i]);
      writes[i].descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER;
      writes[i].pTexelBufferView = &views[i];
    } else {
      if (b->size > info->max_storage_range || b->offset % info->storage_align != 0) {
        vf_cmd_fail(cmd, g_error_new(VF_VK_ERROR, VF_VK_ERROR_LIMIT,
                                     "%s: binding %u: %" G_GUINT64_FORMAT " bytes at offset %" G_GUINT64_FORMAT
                                     " exceed the storage-buffer range (%" G_GUINT64_FORMAT
                                     ") or alignment; bind it in windows",
                                     name, i, (guint64)b->size, (guint64)b->offset,
                                     (guint64)info->max_storage_range));
        return;
      }
      infos[i] = (VkDescriptorBufferInfo){.buffer = b->buffer, .offset = b->offset, .range = b->size};
      writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      writes[i].pBufferInfo = &infos[i];
    }
  }

  for (uint32_t i = 0; i < nbindings; i++)
    track(cmd, bindings[i].buf.buffer, bindings[i].buf.offset, bindings[i].buf.size, kinds[i] == 'w');
  for (uint32_t i = 0; i < nbindings; i++)
    remember(cmd, bindings[i].buf.buffer, bindings[i].buf.offset, bindings[i].buf.size, kinds[i] == 'w');

  vkCmdBindPipeline(cmd->cb, VK_PIPELINE_BIND_POINT_COMPUTE, vf_pipeline_handle(pipeline));
  vkCmdPushDescriptorSetKHR(cmd->cb, VK_PIPELINE_BIND_POINT_COMPUTE, vf_pipeline_layout(pipeline), 0, nbindings,
                            writes);
  if (vf_pipeline_push_size(pipeline))
    vkCmdPushConstants(cmd->cb, vf_pipeline_layout(pipeline), VK_SHADER_STAGE_COMPUTE_BIT, 0,
                       vf_pipeline_push_size(pipeline), push);
  vkCmdDispatch(cmd->cb, gx, gy, gz);
  cmd->dispatches++;
  after_command(cmd, name);
}

void
vf_cmd_fill(VfCmd *cmd, const VfBuffer *buf, uint32_t value)
{
  if (!cmd->recording || cmd->error)
    return;
  track(cmd, buf->buffer, buf->offset, buf->size, true);
  remember(cmd, buf->buffer, buf->offset, buf->size, true);
  vkCmdFillBuffer(cmd->cb, buf->buffer, buf->offset, buf->size & ~(VkDeviceSize)3, value);
  after_command(cmd, "fill");
}

void
vf_cmd_copy(VfCmd *cmd, const VfBuffer *src, const VfBuffer *dst, VkDeviceSize size)
{
  if (!cmd->recording || cmd->error)
    return;
  track(cmd, src->buffer, src->offset, size, false);
  track(cmd, dst->buffer, dst->offset, size, true);
  remember(cmd, src->buffer, src->offset, size, false);
  remember(cmd, dst->buffer, dst->offset, size, true);
  VkBufferCopy region = {.srcOffset = src->offset, .dstOffset = dst->offset, .size = size};
  vkCmdCopyBuffer(cmd->cb, src->buffer, dst->buffer, 1, &region);
  after_command(cmd, "copy");
}

gboolean
vf_cmd_submit(VfCmd *cmd, GError **error)
{
  VkDevice device = vf_device_handle(cmd->dev);
  if (cmd->error) {
    g_propagate_error(error, g_error_copy(cmd->error));
    return FALSE;
  }
  if (cmd->recording) {
    /* Make every write visible to the host and to later submissions. */
    VkMemoryBarrier mb = {
      .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
      .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
      .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
    };
    vkCmdPipelineBarrier(cmd->cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    VF_VK_TRY(vkEndCommandBuffer(cmd->cb), error, fail);
    cmd->recording = false;
  }
  VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cmd->cb};
  VF_VK_TRY(vkResetFences(device, 1, &cmd->fence), error, fail);
  VF_VK_TRY(vkQueueSubmit(vf_device_queue(cmd->dev), 1, &si, cmd->fence), error, fail);
  VF_VK_TRY(vkWaitForFences(device, 1, &cmd->fence, VK_TRUE, UINT64_MAX), error, fail);

  if (cmd->queries && cmd->labels->len) {
    guint n = cmd->labels->len + 1;
    g_autofree uint64_t *ts = g_new0(uint64_t, n);
    VF_VK_TRY(vkGetQueryPoolResults(device, cmd->queries, 0, n, n * sizeof(uint64_t), ts, sizeof(uint64_t),
                                    VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
              error, fail);
    double period = vf_device_get_info(cmd->dev)->timestamp_period;
    for (guint i = 0; i < cmd->labels->len; i++)
      profile_add(cmd->labels->pdata[i], (double)(ts[i + 1] - ts[i]) * period);
  }
  return TRUE;
fail:
  return FALSE;
}
