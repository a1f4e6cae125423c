/* The on-disk pipeline cache (format in vf_pipeline_store.h). */
#define G_LOG_DOMAIN "vf-vk"

#include "vf_pipeline_store.h"

#include <errno.h>
#include <gio/gio.h>
#include <stdio.h>
#include <string.h>

#define STORE_MAGIC "VFPCACHE"
#define STORE_VERSION 1u
#define VULKAN_HEADER_BYTES 32u

struct VfPipelineStore {
  VfDevice *dev;
  VkPipelineCache cache;
  char *path;
  char *note;
  VfPipelineStoreState state;
  gsize loaded_bytes;
  /* What a file must match. */
  uint32_t driver_version, vendor_id, device_id;
  uint8_t device_uuid[VK_UUID_SIZE];
  uint8_t cache_uuid[VK_UUID_SIZE];
  uint8_t spirv_sha256[32];
};

static uint32_t
get_u32(const uint8_t *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void
put_u32(uint8_t *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static void
sha256(const void *data, gsize size, uint8_t out[32])
{
  GChecksum *c = g_checksum_new(G_CHECKSUM_SHA256);
  g_checksum_update(c, data, (gssize)size);
  gsize n = 32;
  g_checksum_get_digest(c, out, &n);
  g_checksum_free(c);
}

static int
compare_names(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

void
vf_pipeline_store_hash_resources(const char *prefix, uint8_t out[32])
{
  GChecksum *c = g_checksum_new(G_CHECKSUM_SHA256);
  g_auto(GStrv) names = g_resources_enumerate_children(prefix, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
  if (names)
    qsort(names, g_strv_length(names), sizeof *names, compare_names);
  for (guint i = 0; names && names[i]; i++) {
    g_autofree char *path = g_strconcat(prefix, "/", names[i], NULL);
    g_autoptr(GBytes) b = g_resources_lookup_data(path, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
    if (!b)
      continue;
    g_checksum_update(c, (const guchar *)names[i], (gssize)strlen(names[i]) + 1);
    gsize size = 0;
    const guchar *data = g_bytes_get_data(b, &size);
    g_checksum_update(c, data, (gssize)size);
  }
  gsize n = 32;
  g_checksum_get_digest(c, out, &n);
  g_checksum_free(c);
}

/* Why `file` (`size` bytes) cannot seed this device's cache, or NULL when it can. */
static const char *
file_problem(const VfPipelineStore *s, const uint8_t *file, gsize size)
{
  if (size < VF_PIPELINE_STORE_HEADER_BYTES || memcmp(file, STORE_MAGIC, 8) != 0)
    return "not a Viewfinder pipeline cache (corrupt or truncated)";
  if (get_u32(file + 8) != STORE_VERSION)
    return "written by another version of Viewfinder";
  if (memcmp(file + 16, s->device_uuid, VK_UUID_SIZE) != 0)
    return "made on another device";
  if (get_u32(file + 12) != s->driver_version)
    return "made by another driver version";
  if (memcmp(file + 32, s->spirv_sha256, 32) != 0)
    return "made for other shaders (another build of Viewfinder)";
  uint64_t data_size = get_u32(file + 64) | (uint64_t)get_u32(file + 68) << 32;
  if (data_size != size - VF_PIPELINE_STORE_HEADER_BYTES)
    return "corrupt (its data size does not match the file)";
  const uint8_t *data = file + VF_PIPELINE_STORE_HEADER_BYTES;
  uint8_t digest[32];
  sha256(data, data_size, digest);
  if (memcmp(digest, file + 72, 32) != 0)
    return "corrupt (checksum mismatch)";
  /* The Vulkan header, checked as the specification asks before data is handed back to a driver. */
  if (data_size < VULKAN_HEADER_BYTES || get_u32(data) < VULKAN_HEADER_BYTES || get_u32(data) > data_size)
    return "corrupt (the Vulkan header is truncated)";
  if (get_u32(data + 4) != VK_PIPELINE_CACHE_HEADER_VERSION_ONE)
    return "corrupt (unknown Vulkan header version)";
  if (get_u32(data + 8) != s->vendor_id || get_u32(data + 12) != s->device_id ||
      memcmp(data + 16, s->cache_uuid, VK_UUID_SIZE) != 0)
    return "made on another device (the Vulkan header's vendor, device or cache UUID differ)";
  return NULL;
}

VfPipelineStore *
vf_pipeline_store_open(VfDevice *dev, const char *dir, const uint8_t spirv_sha256[32], GError **error)
{
  VfPipelineStore *s = g_new0(VfPipelineStore, 1);
  s->dev = dev;
  memcpy(s->spirv_sha256, spirv_sha256, 32);

  VkPhysicalDeviceIDProperties id = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
  VkPhysicalDeviceProperties2 props = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &id};
  vkGetPhysicalDeviceProperties2(vf_device_physical(dev), &props);
  s->driver_version = props.properties.driverVersion;
  s->vendor_id = props.properties.vendorID;
  s->device_id = props.properties.deviceID;
  memcpy(s->device_uuid, id.deviceUUID, VK_UUID_SIZE);
  memcpy(s->cache_uuid, props.properties.pipelineCacheUUID, VK_UUID_SIZE);

  GString *name = g_string_new("pipelines-");
  for (unsigned i = 0; i < VK_UUID_SIZE; i++)
    g_string_append_printf(name, "%02x", s->device_uuid[i]);
  g_string_append(name, ".bin");
  s->path = g_build_filename(dir, name->str, NULL);
  g_string_free(name, TRUE);
  s->note = g_strdup("");

  g_autofree uint8_t *file = NULL;
  gsize size = 0;
  g_autoptr(GError) read_error = NULL;
  const uint8_t *seed = NULL;
  gsize seed_size = 0;
  if (g_file_get_contents(s->path, (char **)&file, &size, &read_error)) {
    const char *problem = file_problem(s, file, size);
    if (problem) {
      s->state = VF_PIPELINE_STORE_IGNORED;
      g_free(s->note);
      s->note = g_strdup(problem);
      fprintf(stderr, "viewfinder: pipeline cache %s ignored: %s; it will be rewritten\n", s->path, problem);
    } else {
      seed = file + VF_PIPELINE_STORE_HEADER_BYTES;
      seed_size = size - VF_PIPELINE_STORE_HEADER_BYTES;
    }
  } else if (!g_error_matches(read_error, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
    s->state = VF_PIPELINE_STORE_IGNORED;
    g_free(s->note);
    s->note = g_strdup(read_error->message);
    fprintf(stderr, "viewfinder: pipeline cache ignored: %s\n", read_error->message);
  }

  VkPipelineCacheCreateInfo ci = {
    .sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
    .initialDataSize = seed_size,
    .pInitialData = seed,
  };
  VkResult r = vkCreatePipelineCache(vf_device_handle(dev), &ci, NULL, &s->cache);
  if (r != VK_SUCCESS && seed) {
    /* The driver refused data that passed every check: start empty rather than fail. */
    fprintf(stderr, "viewfinder: pipeline cache %s refused by the driver (%s); it will be rewritten\n", s->path,
            vf_vk_result_name(r));
    seed = NULL;
    ci.initialDataSize = 0;
    ci.pInitialData = NULL;
    s->state = VF_PIPELINE_STORE_IGNORED;
    g_free(s->note);
    s->note = g_strdup("refused by the driver");
    r = vkCreatePipelineCache(vf_device_handle(dev), &ci, NULL, &s->cache);
  }
  if (r != VK_SUCCESS) {
    vf_vk_set_error(error, r, "vkCreatePipelineCache", __FILE__, __LINE__);
    vf_pipeline_store_free(s);
    return NULL;
  }
  if (seed) {
    s->state = VF_PIPELINE_STORE_LOADED;
    s->loaded_bytes = seed_size;
  }
  return s;
}

gboolean
vf_pipeline_store_save(VfPipelineStore *s, GError **error)
{
  VkDevice device = vf_device_handle(s->dev);
  size_t data_size = 0;
  VkResult r = vkGetPipelineCacheData(device, s->cache, &data_size, NULL);
  if (r != VK_SUCCESS) {
    vf_vk_set_error(error, r, "vkGetPipelineCacheData", __FILE__, __LINE__);
    return FALSE;
  }
  g_autofree uint8_t *file = g_malloc0(VF_PIPELINE_STORE_HEADER_BYTES + data_size);
  uint8_t *data = file + VF_PIPELINE_STORE_HEADER_BYTES;
  r = vkGetPipelineCacheData(device, s->cache, &data_size, data);
  if (r != VK_SUCCESS) { /* VK_INCOMPLETE included: the cache cannot grow between the two calls here */
    vf_vk_set_error(error, r, "vkGetPipelineCacheData", __FILE__, __LINE__);
    return FALSE;
  }

  memcpy(file, STORE_MAGIC, 8);
  put_u32(file + 8, STORE_VERSION);
  put_u32(file + 12, s->driver_version);
  memcpy(file + 16, s->device_uuid, VK_UUID_SIZE);
  memcpy(file + 32, s->spirv_sha256, 32);
  put_u32(file + 64, (uint32_t)data_size);
  put_u32(file + 68, (uint32_t)((uint64_t)data_size >> 32));
  sha256(data, data_size, file + 72);

  g_autofree char *dir = g_path_get_dirname(s->path);
  if (g_mkdir_with_parents(dir, 0700) != 0) {
    int e = errno;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "cannot create %s: %s", dir, g_strerror(e));
    return FALSE;
  }
  /* GLib writes a temporary file next to the target and renames it over the target. */
  return g_file_set_contents_full(s->path, (const char *)file, (gssize)(VF_PIPELINE_STORE_HEADER_BYTES + data_size),
                                  G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
}

void
vf_pipeline_store_free(VfPipelineStore *s)
{
  if (!s)
    return;
  if (s->cache)
    vkDestroyPipelineCache(vf_device_handle(s->dev), s->cache, NULL);
  g_free(s->path);
  g_free(s->note);
  g_free(s);
}

VkPipelineCache vf_pipeline_store_handle(VfPipelineStore *s) { return s->cache; }
VfPipelineStoreState vf_pipeline_store_state(VfPipelineStore *s) { return s->state; }
const char *vf_pipeline_store_note(VfPipelineStore *s) { return s->note; }
const char *vf_pipeline_store_path(VfPipelineStore *s) { return s->path; }
gsize vf_pipeline_store_loaded_bytes(VfPipelineStore *s) { return s->loaded_bytes; }
