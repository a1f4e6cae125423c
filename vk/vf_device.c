/* Instance, physical-device choice and logical device. */
#define G_LOG_DOMAIN "vf-vk"

#include "vf_device.h"

#include <dlfcn.h>
#include <string.h>

#include "vf_arena.h"
#include "vf_pipeline.h"

struct VfDevice {
  VkInstance instance;
  VkDebugUtilsMessengerEXT messenger;
  VkPhysicalDevice physical;
  VkDevice device;
  VkQueue queue;
  uint32_t queue_family;
  VkCommandPool command_pool;
  VfArena *arena;
  VfPipelineCache *pipelines;
  VfDeviceInfo info;
  gint validation_messages; /* atomic: the callback may run on driver threads */
};

G_DEFINE_QUARK(vf-vk-error-quark, vf_vk_error)

const char *
vf_vk_result_name(VkResult result)
{
  switch (result) {
#define CASE(x) case x: return #x;
    CASE(VK_SUCCESS) CASE(VK_NOT_READY) CASE(VK_TIMEOUT) CASE(VK_INCOMPLETE)
    CASE(VK_ERROR_OUT_OF_HOST_MEMORY) CASE(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    CASE(VK_ERROR_INITIALIZATION_FAILED) CASE(VK_ERROR_DEVICE_LOST)
    CASE(VK_ERROR_MEMORY_MAP_FAILED) CASE(VK_ERROR_LAYER_NOT_PRESENT)
    CASE(VK_ERROR_EXTENSION_NOT_PRESENT) CASE(VK_ERROR_FEATURE_NOT_PRESENT)
    CASE(VK_ERROR_INCOMPATIBLE_DRIVER) CASE(VK_ERROR_TOO_MANY_OBJECTS)
    CASE(VK_ERROR_FORMAT_NOT_SUPPORTED) CASE(VK_ERROR_FRAGMENTED_POOL)
    CASE(VK_ERROR_UNKNOWN) CASE(VK_ERROR_OUT_OF_POOL_MEMORY)
    CASE(VK_ERROR_INVALID_EXTERNAL_HANDLE) CASE(VK_ERROR_FRAGMENTATION)
    CASE(VK_ERROR_INVALID_SHADER_NV)
#undef CASE
  default:
    return "VK_ERROR_(unnamed)";
  }
}

void
vf_vk_set_error(GError **error, VkResult result, const char *call, const char *file, int line)
{
  int code = VF_VK_ERROR_CALL;
  if (result == VK_ERROR_OUT_OF_DEVICE_MEMORY || result == VK_ERROR_OUT_OF_HOST_MEMORY)
    code = VF_VK_ERROR_OUT_OF_MEMORY;
  else if (result == VK_ERROR_DEVICE_LOST)
    code = VF_VK_ERROR_DEVICE_LOST;
  g_debug("%s:%d: %s failed: %s", file, line, call, vf_vk_result_name(result));
  g_set_error(error, VF_VK_ERROR, code, "%s failed: %s (%s:%d)", call, vf_vk_result_name(result),
              file, line);
}

/* ---- environment switches ------------------------------------------------------------------ */

static GMutex env_lock;
static GPtrArray *env_seen; /* "NAME=value" */

const char *
vf_env(const char *name)
{
  const char *value = g_getenv(name);
  g_mutex_lock(&env_lock);
  if (!env_seen)
    env_seen = g_ptr_array_new_with_free_func(g_free);
  gboolean found = FALSE;
  for (guint i = 0; i < env_seen->len && !found; i++) {
    const char *entry = env_seen->pdata[i];
    size_t n = strlen(name);
    found = strncmp(entry, name, n) == 0 && entry[n] == '=';
  }
  if (!found)
    g_ptr_array_add(env_seen, g_strdup_printf("%s=%s", name, value ? value : "(unset)"));
  g_mutex_unlock(&env_lock);
  return value;
}

void
vf_device_print_switches(FILE *out)
{
  g_mutex_lock(&env_lock);
  if (env_seen && env_seen->len) {
    fprintf(out, "viewfinder: switches:");
    for (guint i = 0; i < env_seen->len; i++)
      fprintf(out, " %s", (const char *)env_seen->pdata[i]);
    fprintf(out, "\n");
  }
  g_mutex_unlock(&env_lock);
}

static bool
env_flag(const char *name, bool fallback)
{
  const char *v = vf_env(name);
  if (!v || !*v)
    return fallback;
  return !(g_str_equal(v, "0") || g_ascii_strcasecmp(v, "off") == 0 || g_ascii_strcasecmp(v, "no") == 0);
}

/* ---- helpers ---------------------------------------------------------------------------------- */

const char *
vf_device_kind_name(VfDeviceKind kind)
{
  switch (kind) {
  case VF_DEVICE_KIND_DISCRETE: return "discrete GPU";
  case VF_DEVICE_KIND_INTEGRATED: return "integrated GPU";
  case VF_DEVICE_KIND_VIRTUAL: return "virtual GPU";
  case VF_DEVICE_KIND_CPU: return "CPU";
  default: return "other";
  }
}

static VfDeviceKind
kind_of(VkPhysicalDeviceType type)
{
  switch (type) {
  case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return VF_DEVICE_KIND_DISCRETE;
  case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return VF_DEVICE_KIND_INTEGRATED;
  case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return VF_DEVICE_KIND_VIRTUAL;
  case VK_PHYSICAL_DEVICE_TYPE_CPU: return VF_DEVICE_KIND_CPU;
  default: return VF_DEVICE_KIND_OTHER;
  }
}

static bool
has_extension(const VkExtensionProperties *exts, uint32_t n, const char *name)
{
  for (uint32_t i = 0; i < n; i++)
    if (strcmp(exts[i].extensionName, name) == 0)
      return true;
  return false;
}

/* The system's libvulkan.so.1, or the one VF_VULKAN_LOADER names (e.g. from a Vulkan SDK). */
static VkResult
initialize_loader(const char **name)
{
  const char *path = vf_env("VF_VULKAN_LOADER");
  *name = path && *path ? path : "libvulkan.so.1";
  if (!path || !*path)
    return volkInitialize();
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  PFN_vkGetInstanceProcAddr gipa = lib ? (PFN_vkGetInstanceProcAddr)dlsym(lib, "vkGetInstanceProcAddr") : NULL;
  if (!gipa)
    return VK_ERROR_INITIALIZATION_FAILED;
  volkInitializeCustom(gipa);
  return VK_SUCCESS;
}

static gboolean
load_loader(GError **error)
{
  static gsize once = 0;
  static VkResult result;
  static const char *name;
  if (g_once_init_enter(&once)) {
    result = initialize_loader(&name);
    g_once_init_leave(&once, 1);
  }
  if (result != VK_SUCCESS) {
    g_set_error(error, VF_VK_ERROR, VF_VK_ERROR_NO_LOADER,
                "No Vulkan loader found (%s). Install the packages libvulkan1 and a Vulkan driver "
                "(mesa-vulkan-drivers, or your GPU vendor's driver).",
                name);
    return FALSE;
  }
  return TRUE;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL
on_validation_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                      VkDebugUtilsMessageTypeFlagsEXT types,
                      const VkDebugUtilsMessengerCallbackDataEXT *data, void *user)
{
  VfDevice *dev = user;
  g_atomic_int_inc(&dev->validation_messages);
  fprintf(stderr, "viewfinder: validation %s: %s\n",
          (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) ? "error" : "warning",
          data->pMessage);
  return VK_FALSE;
}

static VkInstance
create_instance(bool validate, bool *validation_active, GError **error)
{
  uint32_t nlayers = 0;
  vkEnumerateInstanceLayerProperties(&nlayers, NULL);
  g_autofree VkLayerProperties *layers = g_new0(VkLayerProperties, nlayers + 1);
  vkEnumerateInstanceLayerProperties(&nlayers, layers);
  bool have_validation = false;
  for (uint32_t i = 0; i < nlayers; i++)
    if (strcmp(layers[i].layerName, "VK_LAYER_KHRONOS_validation") == 0)
      have_validation = true;

  if (validate && !have_validation) {
    g_set_error(error, VF_VK_ERROR, VF_VK_ERROR_MISSING_FEATURE,
                "VF_VALIDATE=1 but the Vulkan validation layer is not installed "
                "(package vulkan-validationlayers)");
    return VK_NULL_HANDLE;
  }

  const char *layer_names[] = {"VK_LAYER_KHRONOS_validation"};
  const char *ext_names[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
  VkApplicationInfo app = {
    .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
    .pApplicationName = "Viewfinder",
    .applicationVersion = VK_MAKE_VERSION(0, 1, 0),
    .pEngineName = "viewfinder",
    .apiVersion = VK_API_VERSION_1_2,
  };
  VkInstanceCreateInfo info = {
    .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
    .pApplicationInfo = &app,
    .enabledLayerCount = validate ? 1 : 0,
    .ppEnabledLayerNames = layer_names,
    .enabledExtensionCount = validate ? 1 : 0,
    .ppEnabledExtensionNames = ext_names,
  };
  VkInstance instance = VK_NULL_HANDLE;
  VF_VK_TRY(vkCreateInstance(&info, NULL, &instance), error, fail);
  /* Device-level entry points go through the loader's trampolines (no volkLoadDevice): the loader
   * dispatches on the object, so several VfDevices in one process stay independent. */
  volkLoadInstance(instance);
  *validation_active = validate;
  return instance;
fail:
  return VK_NULL_HANDLE;
}

char *
vf_device_list(GError **error)
{
  if (!load_loader(error))
    return NULL;
  bool active = false;
  VkInstance instance = create_instance(false, &active, error);
  if (!instance)
    return NULL;
  uint32_t n = 0;
  vkEnumeratePhysicalDevices(instance, &n, NULL);
  g_autofree VkPhysicalDevice *phys = g_new0(VkPhysicalDevice, n + 1);
  vkEnumeratePhysicalDevices(instance, &n, phys);
  GString *s = g_string_new(NULL);
  for (uint32_t i = 0; i < n; i++) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(phys[i], &p);
    g_string_append_printf(s, "%u: %s (%s)\n", i, p.deviceName,
                           vf_device_kind_name(kind_of(p.deviceType)));
  }
  vkDestroyInstance(instance, NULL);
  return g_string_free(s, FALSE);
}

/* Picks a physical device: VF_DEVICE as an index or a name substring, else the best kind. */
static int
choose_physical(VkPhysicalDevice *phys, uint32_t n, const char *select, GError **error)
{
  if (n == 0) {
    g_set_error(error, VF_VK_ERROR, VF_VK_ERROR_NO_DEVICE,
                "The Vulkan loader found no device. Install a Vulkan driver "
                "(mesa-vulkan-drivers provides lavapipe, a CPU implementation).");
    return -1;
  }
  if (select && *select) {
    char *end = NULL;
    guint64 index = g_ascii_strtoull(select, &end, 10);
    if (end && *end == '\0') {
      if (index < n)
        return (int)index;
    } else {
      for (uint32_t i = 0; i < n; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(phys[i], &p);
        g_autofree char *hay = g_ascii_strdown(p.deviceName, -1);
        g_autofree char *needle = g_ascii_strdown(select, -1);
        if (strstr(hay, needle))
          return (int)i;
      }
    }
    GString *names = g_string_new(NULL);
    for (uint32_t i = 0; i < n; i++) {
      VkPhysicalDeviceProperties p;
      vkGetPhysicalDeviceProperties(phys[i], &p);
      g_string_append_printf(names, "%s%u: %s", i ? ", " : "", i, p.deviceName);
    }
    g_set_error(error, VF_VK_ERROR, VF_VK_ERROR_NO_DEVICE,
                "VF_DEVICE=%s matches no Vulkan device (available: %s)", select, names->str);
    g_string_free(names, TRUE);
    return -1;
  }
  int best = 0;
  VfDeviceKind best_kind = VF_DEVICE_KIND_OTHER + 1;
  for (uint32_t i = 0; i < n; i++) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(phys[i], &p);
    VfDeviceKind k = kind_of(p.deviceType);
    if (k < best_kind) {
      best_kind = k;
      best = (int)i;
    }
  }
  return best;
}

static void
format_bytes(char *buf, size_t n, uint64_t bytes)
{
  if (bytes >= (1ull << 30))
    snprintf(buf, n, "%.1f GiB", bytes / (double)(1ull << 30));
  else
    snprintf(buf, n, "%llu MiB", (unsigned long long)(bytes >> 20));
}

static void
fill_summary(VfDeviceInfo *info)
{
  char range[32], budget[32];
  format_bytes(range, sizeof range, info->max_storage_range);
  format_bytes(budget, sizeof budget, info->memory_budget);
  snprintf(info->summary, sizeof info->summary,
           "device %u: %s (%s), driver %s, Vulkan %u.%u; subgroup %u, shared memory %u KiB, "
           "fp16 %s, int8 %s, integer dot %s, coopmat %s, max storage range %s, memory budget %s%s%s",
           info->index, info->name, vf_device_kind_name(info->kind), info->driver,
           VK_API_VERSION_MAJOR(info->api_version), VK_API_VERSION_MINOR(info->api_version),
           info->subgroup_size, info->shared_memory / 1024, info->fp16 ? "yes" : "no",
           info->int8 ? "yes" : "no", info->int_dot ? "yes" : "no", info->coopmat ? "yes" : "no",
           range, budget, info->validation ? ", validation on" : "",
           info->software ? "; a software (CPU) driver: answers will be slow" : "");
}

/* MemAvailable from /proc/meminfo, or 0. */
static uint64_t
host_available_memory(void)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents("/proc/meminfo", &text, NULL, NULL))
    return 0;
  const char *line = strstr(text, "MemAvailable:");
  if (!line)
    return 0;
  return g_ascii_strtoull(line + strlen("MemAvailable:"), NULL, 10) * 1024;
}

static uint64_t
device_local_budget(VkPhysicalDevice phys, bool have_budget_ext, bool *host_visible)
{
  VkPhysicalDeviceMemoryBudgetPropertiesEXT budget = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT,
  };
  VkPhysicalDeviceMemoryProperties2 mp = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2,
    .pNext = have_budget_ext ? &budget : NULL,
  };
  vkGetPhysicalDeviceMemoryProperties2(phys, &mp);
  uint64_t total = 0;
  for (uint32_t h = 0; h < mp.memoryProperties.memoryHeapCount; h++) {
    if (!(mp.memoryProperties.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT))
      continue;
    uint64_t size = have_budget_ext && budget.heapBudget[h] ? budget.heapBudget[h]
                                                            : mp.memoryProperties.memoryHeaps[h].size;
    if (size > total)
      total = size;
  }
  *host_visible = false;
  for (uint32_t t = 0; t < mp.memoryProperties.memoryTypeCount; t++) {
    VkMemoryPropertyFlags f = mp.memoryProperties.memoryTypes[t].propertyFlags;
    if ((f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) && (f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) &&
        (f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT)) {
      VkDeviceSize heap = mp.memoryProperties.memoryHeaps[mp.memoryProperties.memoryTypes[t].heapIndex].size;
      /* Only when the whole device-local heap is mappable (UMA, CPU drivers, full ReBAR). */
      if (heap >= total)
        *host_visible = true;
    }
  }
  return total;
}

VfDevice *
vf_device_create(const VfDeviceOptions *options, GError **error)
{
  if (!load_loader(error))
    return NULL;

  const char *select = options && options->select ? options->select : vf_env("VF_DEVICE");
  bool validate = options && options->validate >= 0 ? options->validate == 1
                                                    : env_flag("VF_VALIDATE", false);

  /* Declared before the first goto: cleanups must never see uninitialised pointers. */
  g_autofree VkPhysicalDevice *phys = NULL;
  g_autofree VkExtensionProperties *exts = NULL;
  g_autofree VkQueueFamilyProperties *qf = NULL;
  VfDevice *dev = g_new0(VfDevice, 1);
  dev->instance = create_instance(validate, &dev->info.validation, error);
  if (!dev->instance)
    goto fail;

  if (dev->info.validation) {
    VkDebugUtilsMessengerCreateInfoEXT mi = {
      .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
      .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                         VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
      .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
      .pfnUserCallback = on_validation_message,
      .pUserData = dev,
    };
    VF_VK_TRY(vkCreateDebugUtilsMessengerEXT(dev->instance, &mi, NULL, &dev->messenger), error, fail);
  }

  uint32_t n = 0;
  VF_VK_TRY(vkEnumeratePhysicalDevices(dev->instance, &n, NULL), error, fail);
  phys = g_new0(VkPhysicalDevice, n + 1);
  VF_VK_TRY(vkEnumeratePhysicalDevices(dev->instance, &n, phys), error, fail);
  int chosen = choose_physical(phys, n, select, error);
  if (chosen < 0)
    goto fail;
  dev->physical = phys[chosen];

  VfDeviceInfo *info = &dev->info;
  info->index = (uint32_t)chosen;

  uint32_t next = 0;
  vkEnumerateDeviceExtensionProperties(dev->physical, NULL, &next, NULL);
  exts = g_new0(VkExtensionProperties, next + 1);
  vkEnumerateDeviceExtensionProperties(dev->physical, NULL, &next, exts);

  VkPhysicalDeviceDriverProperties driver = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
  VkPhysicalDeviceSubgroupProperties subgroup = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES, .pNext = &driver};
  VkPhysicalDeviceMaintenance3Properties maint3 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES, .pNext = &subgroup};
  VkPhysicalDeviceProperties2 props = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                       .pNext = &maint3};
  vkGetPhysicalDeviceProperties2(dev->physical, &props);
  const VkPhysicalDeviceLimits *lim = &props.properties.limits;

  if (props.properties.apiVersion < VK_API_VERSION_1_2) {
    g_set_error(error, VF_VK_ERROR, VF_VK_ERROR_MISSING_FEATURE,
                "%s supports Vulkan %u.%u; Viewfinder needs Vulkan 1.2", props.properties.deviceName,
                VK_API_VERSION_MAJOR(props.properties.apiVersion),
                VK_API_VERSION_MINOR(props.properties.apiVersion));
    goto fail;
  }
  if (!has_extension(exts, next, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME)) {
    g_set_error(error, VF_VK_ERROR, VF_VK_ERROR_MISSING_FEATURE,
                "%s lacks the Vulkan extension %s, which Viewfinder requires",
                props.properties.deviceName, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
    goto fail;
  }

  g_strlcpy(info->name, props.properties.deviceName, sizeof info->name);
  g_snprintf(info->driver, sizeof info->driver, "%s %s", driver.driverName, driver.driverInfo);
  info->kind = kind_of(props.properties.deviceType);
  info->software = info->kind == VF_DEVICE_KIND_CPU;
  info->api_version = props.properties.apiVersion;
  info->subgroup_size = subgroup.subgroupSize;
  info->subgroup_arithmetic = (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                              (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
  info->shared_memory = lim->maxComputeSharedMemorySize;
  info->max_workgroup_invocations = lim->maxComputeWorkGroupInvocations;
  for (int i = 0; i < 3; i++)
    info->max_workgroup_count[i] = lim->maxComputeWorkGroupCount[i];
  info->max_storage_range = lim->maxStorageBufferRange;
  info->max_texel_elements = lim->maxTexelBufferElements;
  info->max_allocation = maint3.maxMemoryAllocationSize;
  info->storage_align = lim->minStorageBufferOffsetAlignment;
  info->texel_align = lim->minTexelBufferOffsetAlignment;
  info->timestamp_period = lim->timestampComputeAndGraphics ? lim->timestampPeriod : 0.0f;
  info->int_dot = has_extension(exts, next, "VK_KHR_shader_integer_dot_product");
  info->coopmat = has_extension(exts, next, "VK_KHR_cooperative_matrix");

  VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
                                          .pNext = &f12};
  VkPhysicalDeviceFeatures2 features = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f11};
  vkGetPhysicalDeviceFeatures2(dev->physical, &features);
  info->fp16 = f12.shaderFloat16 && env_flag("VF_FP16", true);
  info->int8 = f12.shaderInt8;

  bool budget_ext = has_extension(exts, next, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
  info->memory_budget = device_local_budget(dev->physical, budget_ext, &info->memory_host_visible);
  /* A CPU implementation's "device memory" is host RAM, whatever heap size it reports. */
  if (info->kind == VF_DEVICE_KIND_CPU)
    info->memory_budget = MAX(info->memory_budget, host_available_memory());
  /* Writing device memory through a mapping skips the staging copy; VF_DIRECT_MAP=0 forces staging. */
  info->memory_host_visible = info->memory_host_visible && env_flag("VF_DIRECT_MAP", true);

  /* A queue family with compute. */
  uint32_t nq = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(dev->physical, &nq, NULL);
  qf = g_new0(VkQueueFamilyProperties, nq + 1);
  vkGetPhysicalDeviceQueueFamilyProperties(dev->physical, &nq, qf);
  int family = -1;
  for (uint32_t i = 0; i < nq && family < 0; i++)
    if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT)
      family = (int)i;
  if (family < 0) {
    g_set_error(error, VF_VK_ERROR, VF_VK_ERROR_MISSING_FEATURE, "%s has no compute queue", info->name);
    goto fail;
  }
  dev->queue_family = (uint32_t)family;
  if (qf[family].timestampValidBits == 0)
    info->timestamp_period = 0.0f;

  /* Enable only what the shaders use and the device has. */
  VkPhysicalDeviceVulkan12Features want12 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
    .shaderFloat16 = info->fp16,
    .shaderInt8 = f12.shaderInt8,
    .storageBuffer8BitAccess = f12.storageBuffer8BitAccess,
  };
  VkPhysicalDeviceVulkan11Features want11 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
    .pNext = &want12,
    .storageBuffer16BitAccess = f11.storageBuffer16BitAccess,
  };
  VkPhysicalDeviceFeatures2 want = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
    .pNext = &want11,
    .features = {
      .shaderInt64 = features.features.shaderInt64,
      .shaderInt16 = features.features.shaderInt16,
    },
  };
  const char *dev_exts[4];
  uint32_t ndev_exts = 0;
  dev_exts[ndev_exts++] = VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME;
  if (budget_ext)
    dev_exts[ndev_exts++] = VK_EXT_MEMORY_BUDGET_EXTENSION_NAME;

  float priority = 1.0f;
  VkDeviceQueueCreateInfo qi = {
    .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
    .queueFamilyIndex = dev->queue_family,
    .queueCount = 1,
    .pQueuePriorities = &priority,
  };
  VkDeviceCreateInfo di = {
    .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
    .pNext = &want,
    .queueCreateInfoCount = 1,
    .pQueueCreateInfos = &qi,
    .enabledExtensionCount = ndev_exts,
    .ppEnabledExtensionNames = dev_exts,
  };
  VF_VK_TRY(vkCreateDevice(dev->physical, &di, NULL, &dev->device), error, fail);
  vkGetDeviceQueue(dev->device, dev->queue_family, 0, &dev->queue);

  VkCommandPoolCreateInfo pi = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
    .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
    .queueFamilyIndex = dev->queue_family,
  };
  VF_VK_TRY(vkCreateCommandPool(dev->device, &pi, NULL, &dev->command_pool), error, fail);

  dev->arena = vf_arena_create(dev, error);
  if (!dev->arena)
    goto fail;
  dev->pipelines = vf_pipeline_cache_create(dev, error);
  if (!dev->pipelines)
    goto fail;

  fill_summary(info);
  return dev;

fail:
  vf_device_free(dev);
  return NULL;
}

void
vf_device_free(VfDevice *dev)
{
  if (!dev)
    return;
  if (dev->device)
    vkDeviceWaitIdle(dev->device);
  if (dev->pipelines)
    vf_pipeline_cache_free(dev->pipelines);
  if (dev->arena)
    vf_arena_free(dev->arena);
  if (dev->command_pool)
    vkDestroyCommandPool(dev->device, dev->command_pool, NULL);
  if (dev->device)
    vkDestroyDevice(dev->device, NULL);
  if (dev->messenger)
    vkDestroyDebugUtilsMessengerEXT(dev->instance, dev->messenger, NULL);
  if (dev->instance)
    vkDestroyInstance(dev->instance, NULL);
  g_free(dev);
}

const VfDeviceInfo *vf_device_get_info(VfDevice *dev) { return &dev->info; }
uint32_t vf_device_validation_messages(VfDevice *dev) { return (uint32_t)g_atomic_int_get(&dev->validation_messages); }
VkDevice vf_device_handle(VfDevice *dev) { return dev->device; }
VkPhysicalDevice vf_device_physical(VfDevice *dev) { return dev->physical; }
VkQueue vf_device_queue(VfDevice *dev) { return dev->queue; }
uint32_t vf_device_queue_family(VfDevice *dev) { return dev->queue_family; }
VfArena *vf_device_arena(VfDevice *dev) { return dev->arena; }
VkCommandPool vf_device_command_pool(VfDevice *dev) { return dev->command_pool; }
VfPipelineCache *vf_device_pipeline_cache(VfDevice *dev) { return dev->pipelines; }
