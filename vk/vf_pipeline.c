/* Compute pipelines from embedded SPIR-V, cached per specialization. */
#define G_LOG_DOMAIN "vf-vk"

#include "vf_pipeline.h"

#include <gio/gio.h>
#include <stdio.h>
#include <string.h>

#include "vf_pipeline_store.h"

#define DEFAULT_RESOURCE_PREFIX "/org/viewfinder/shaders"

struct VfPipeline {
  char *key;
  char *name;
  char bindings[VF_PIPELINE_MAX_BINDINGS + 1];
  uint32_t push_size;
  VkShaderModule module;
  VkDescriptorSetLayout set_layout;
  VkPipelineLayout layout;
  VkPipeline pipeline;
};

struct VfPipelineCache {
  VfDevice *dev;
  GHashTable *by_key;     /* key string -> VfPipeline* */
  VfPipelineStore *store; /* the driver's cache on disk; NULL when VF_PIPELINE_CACHE=0 */
  bool store_dirty;       /* pipelines were built since the store was read */
  VfPipelineStats stats;
  char *summary;          /* vf_pipeline_cache_summary(), made once */
  GMutex lock;
};

static char *resource_prefix;

void
vf_pipeline_set_resource_prefix(const char *prefix)
{
  g_free(resource_prefix);
  resource_prefix = g_strdup(prefix);
}

static void
pipeline_destroy(VfDevice *dev, VfPipeline *p)
{
  VkDevice device = vf_device_handle(dev);
  if (p->pipeline)
    vkDestroyPipeline(device, p->pipeline, NULL);
  if (p->layout)
    vkDestroyPipelineLayout(device, p->layout, NULL);
  if (p->set_layout)
    vkDestroyDescriptorSetLayout(device, p->set_layout, NULL);
  if (p->module)
    vkDestroyShaderModule(device, p->module, NULL);
  g_free(p->key);
  g_free(p->name);
  g_free(p);
}

static const char *
prefix(void)
{
  return resource_prefix ? resource_prefix : DEFAULT_RESOURCE_PREFIX;
}

/* VF_PIPELINE_CACHE: unset or 1 → $XDG_CACHE_HOME/viewfinder; 0/off/no → no file; else a directory. */
static char *
store_directory(void)
{
  const char *v = vf_env("VF_PIPELINE_CACHE");
  if (v && (g_str_equal(v, "0") || g_ascii_strcasecmp(v, "off") == 0 || g_ascii_strcasecmp(v, "no") == 0))
    return NULL;
  if (v && *v && !g_str_equal(v, "1"))
    return g_strdup(v);
  return g_build_filename(g_get_user_cache_dir(), "viewfinder", NULL);
}

VfPipelineCache *
vf_pipeline_cache_create(VfDevice *dev, GError **error)
{
  VfPipelineCache *c = g_new0(VfPipelineCache, 1);
  c->dev = dev;
  c->by_key = g_hash_table_new(g_str_hash, g_str_equal);
  g_mutex_init(&c->lock);
  g_autofree char *dir = store_directory();
  if (dir) {
    uint8_t spirv_sha256[32];
    vf_pipeline_store_hash_resources(prefix(), spirv_sha256);
    c->store = vf_pipeline_store_open(dev, dir, spirv_sha256, error);
    if (!c->store) {
      vf_pipeline_cache_free(c);
      return NULL;
    }
    /* An unusable file is replaced even by a run that builds nothing. */
    c->store_dirty = vf_pipeline_store_state(c->store) == VF_PIPELINE_STORE_IGNORED;
  }
  return c;
}

gboolean
vf_pipeline_cache_save(VfPipelineCache *cache, GError **error)
{
  g_mutex_lock(&cache->lock);
  gboolean ok = TRUE;
  if (cache->store && cache->store_dirty) {
    ok = vf_pipeline_store_save(cache->store, error);
    cache->store_dirty = !ok;
  }
  g_mutex_unlock(&cache->lock);
  return ok;
}

void
vf_pipeline_cache_free(VfPipelineCache *cache)
{
  if (cache->store) {
    g_autoptr(GError) error = NULL;
    if (!vf_pipeline_cache_save(cache, &error))
      fprintf(stderr, "viewfinder: pipeline cache not saved: %s\n", error->message);
    vf_pipeline_store_free(cache->store);
  }
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init(&it, cache->by_key);
  while (g_hash_table_iter_next(&it, NULL, &value))
    pipeline_destroy(cache->dev, value);
  g_hash_table_unref(cache->by_key);
  g_free(cache->summary);
  g_mutex_clear(&cache->lock);
  g_free(cache);
}

static char *
make_key(const VfPipelineDesc *d)
{
  GString *k = g_string_new(d->shader);
  g_string_append_printf(k, "|%s|%u", d->bindings, d->push_size);
  for (uint32_t i = 0; i < d->nspecs; i++)
    g_string_append_printf(k, "|%u", d->specs[i]);
  return g_string_free(k, FALSE);
}

static VfPipeline *
pipeline_build(VfDevice *dev, VkPipelineCache driver_cache, const VfPipelineDesc *d, GError **error)
{
  VkDevice device = vf_device_handle(dev);
  size_t nb = strlen(d->bindings);
  if (nb > VF_PIPELINE_MAX_BINDINGS || d->nspecs > VF_PIPELINE_MAX_SPECS || d->push_size > 128) {
    g_set_error(error, VF_VK_ERROR, VF_VK_ERROR_LIMIT, "pipeline %s: too many bindings, specs or push bytes",
                d->shader);
    return NULL;
  }

  g_autofree char *path = g_strdup_printf("%s/%s.spv", prefix(), d->shader);
  g_autoptr(GError) lookup_error = NULL;
  g_autoptr(GBytes) spirv = g_resources_lookup_data(path, G_RESOURCE_LOOKUP_FLAGS_NONE, &lookup_error);
  if (!spirv) {
    g_set_error(error, VF_VK_ERROR, VF_VK_ERROR_SHADER, "shader %s is not embedded in this build (%s)",
                d->shader, lookup_error->message);
    return NULL;
  }
  gsize size = 0;
  const uint32_t *code = g_bytes_get_data(spirv, &size);
  if (size < 20 || size % 4 != 0 || code[0] != 0x07230203u) {
    g_set_error(error, VF_VK_ERROR, VF_VK_ERROR_SHADER, "shader %s: not SPIR-V", d->shader);
    return NULL;
  }

  VfPipeline *p = g_new0(VfPipeline, 1);
  p->name = g_strdup(d->shader);
  g_strlcpy(p->bindings, d->bindings, sizeof p->bindings);
  p->push_size = d->push_size;

  VkShaderModuleCreateInfo mi = {
    .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
    .codeSize = size,
    .pCode = code,
  };
  VF_VK_TRY(vkCreateShaderModule(device, &mi, NULL, &p->module), error, fail);

  VkDescriptorSetLayoutBinding lb[VF_PIPELINE_MAX_BINDINGS];
  for (size_t i = 0; i < nb; i++) {
    VkDescriptorType type;
    switch (d->bindings[i]) {
    case 'r':
    case 'w':
      type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      break;
    case 't':
      type = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER;
      break;
    default:
      g_set_error(error, VF_VK_ERROR, VF_VK_ERROR_SHADER, "pipeline %s: unknown binding kind '%c'",
                  d->shader, d->bindings[i]);
      goto fail;
    }
    lb[i] = (VkDescriptorSetLayoutBinding){
      .binding = (uint32_t)i,
      .descriptorType = type,
      .descriptorCount = 1,
      .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
    };
  }
  VkDescriptorSetLayoutCreateInfo sli = {
    .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
    .flags = VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR,
    .bindingCount = (uint32_t)nb,
    .pBindings = lb,
  };
  VF_VK_TRY(vkCreateDescriptorSetLayout(device, &sli, NULL, &p->set_layout), error, fail);

  VkPushConstantRange pr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = d->push_size};
  VkPipelineLayoutCreateInfo pli = {
    .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
    .setLayoutCount = 1,
    .pSetLayouts = &p->set_layout,
    .pushConstantRangeCount = d->push_size ? 1 : 0,
    .pPushConstantRanges = &pr,
  };
  VF_VK_TRY(vkCreatePipelineLayout(device, &pli, NULL, &p->layout), error, fail);

  VkSpecializationMapEntry entries[VF_PIPELINE_MAX_SPECS];
  for (uint32_t i = 0; i < d->nspecs; i++)
    entries[i] = (VkSpecializationMapEntry){.constantID = i, .offset = i * 4, .size = 4};
  VkSpecializationInfo spec = {
    .mapEntryCount = d->nspecs,
    .pMapEntries = entries,
    .dataSize = d->nspecs * 4,
    .pData = d->specs,
  };
  VkComputePipelineCreateInfo ci = {
    .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
    .stage = {
      .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
      .stage = VK_SHADER_STAGE_COMPUTE_BIT,
      .module = p->module,
      .pName = "main",
      .pSpecializationInfo = d->nspecs ? &spec : NULL,
    },
    .layout = p->layout,
  };
  VF_VK_TRY(vkCreateComputePipelines(device, driver_cache, 1, &ci, NULL, &p->pipeline), error, fail);
  return p;

fail:
  pipeline_destroy(dev, p);
  return NULL;
}

VfPipeline *
vf_pipeline_get(VfDevice *dev, const VfPipelineDesc *desc, GError **error)
{
  VfPipelineCache *cache = vf_device_pipeline_cache(dev);
  g_autofree char *key = make_key(desc);
  g_mutex_lock(&cache->lock);
  VfPipeline *p = g_hash_table_lookup(cache->by_key, key);
  if (!p) {
    gint64 t0 = g_get_monotonic_time();
    p = pipeline_build(dev, cache->store ? vf_pipeline_store_handle(cache->store) : VK_NULL_HANDLE, desc, error);
    if (p) {
      p->key = g_steal_pointer(&key);
      g_hash_table_insert(cache->by_key, p->key, p);
      cache->store_dirty = true;
      cache->stats.built++;
      double seconds = (g_get_monotonic_time() - t0) * 1e-6;
      cache->stats.build_seconds += seconds;
      g_debug("pipeline %s built in %.1f ms", p->key, seconds * 1e3);
    }
  }
  g_mutex_unlock(&cache->lock);
  return p;
}

const char *vf_pipeline_name(const VfPipeline *p) { return p->name; }
const char *vf_pipeline_bindings(const VfPipeline *p) { return p->bindings; }
uint32_t vf_pipeline_push_size(const VfPipeline *p) { return p->push_size; }
VkPipeline vf_pipeline_handle(const VfPipeline *p) { return p->pipeline; }
VkPipelineLayout vf_pipeline_layout(const VfPipeline *p) { return p->layout; }

VfPipelineStats
vf_pipeline_stats(VfDevice *dev)
{
  VfPipelineCache *cache = vf_device_pipeline_cache(dev);
  g_mutex_lock(&cache->lock);
  VfPipelineStats st = cache->stats;
  g_mutex_unlock(&cache->lock);
  return st;
}

const char *
vf_pipeline_cache_summary(VfDevice *dev)
{
  VfPipelineCache *cache = vf_device_pipeline_cache(dev);
  if (!cache->store)
    return "pipeline cache: off (VF_PIPELINE_CACHE=0)";
  g_mutex_lock(&cache->lock);
  if (!cache->summary) {
    VfPipelineStore *s = cache->store;
    switch (vf_pipeline_store_state(s)) {
    case VF_PIPELINE_STORE_LOADED:
      cache->summary = g_strdup_printf("pipeline cache: %s (%" G_GSIZE_FORMAT " bytes loaded)",
                                       vf_pipeline_store_path(s), vf_pipeline_store_loaded_bytes(s));
      break;
    case VF_PIPELINE_STORE_IGNORED:
      cache->summary = g_strdup_printf("pipeline cache: %s (ignored: %s)", vf_pipeline_store_path(s),
                                       vf_pipeline_store_note(s));
      break;
    default:
      cache->summary = g_strdup_printf("pipeline cache: %s (new)", vf_pipeline_store_path(s));
    }
  }
  g_mutex_unlock(&cache->lock);
  return cache->summary;
}

VfPipelineStore *
vf_pipeline_cache_store(VfDevice *dev)
{
  return vf_device_pipeline_cache(dev)->store;
}
