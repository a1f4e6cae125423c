/* VfDevice: the Vulkan instance, the chosen physical device, its logical
 * device and compute queue, the memory arena and the pipeline cache.
 *
 *   g_autoptr(GError) error = NULL;
 *   VfDevice *dev = vf_device_create(NULL, &error);   // VF_DEVICE, VF_VALIDATE from the environment
 *   if (!dev) { g_printerr("%s\n", error->message); return 1; }
 *   g_print("%s\n", vf_device_get_info(dev)->summary);
 *   ...
 *   vf_device_free(dev);
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <volk.h>

#include "vf_check.h"

typedef struct VfDevice VfDevice;
typedef struct VfArena VfArena;

typedef enum {
  VF_DEVICE_KIND_DISCRETE,
  VF_DEVICE_KIND_INTEGRATED,
  VF_DEVICE_KIND_VIRTUAL,
  VF_DEVICE_KIND_CPU,
  VF_DEVICE_KIND_OTHER,
} VfDeviceKind;

typedef struct {
  /* NULL: read VF_DEVICE (index or name substring). */
  const char *select;
  /* -1: read VF_VALIDATE; 0 off; 1 on. */
  int validate;
} VfDeviceOptions;

typedef struct {
  char name[256];
  char driver[256];
  VfDeviceKind kind;
  uint32_t index;               /* among vkEnumeratePhysicalDevices */
  uint32_t api_version;
  uint32_t subgroup_size;
  bool subgroup_arithmetic;     /* subgroupAdd etc. in compute */
  uint32_t shared_memory;       /* maxComputeSharedMemorySize, bytes */
  uint32_t max_workgroup_invocations;
  uint32_t max_workgroup_count[3];
  bool fp16;                    /* shaderFloat16 */
  bool int8;                    /* shaderInt8 */
  bool int_dot;                 /* VK_KHR_shader_integer_dot_product */
  bool coopmat;                 /* VK_KHR_cooperative_matrix */
  uint64_t max_storage_range;   /* maxStorageBufferRange, bytes */
  uint64_t max_texel_elements;  /* maxTexelBufferElements */
  uint64_t max_allocation;      /* maxMemoryAllocationSize */
  uint64_t storage_align;       /* minStorageBufferOffsetAlignment */
  uint64_t texel_align;         /* minTexelBufferOffsetAlignment */
  uint64_t memory_budget;       /* device-local bytes we may use */
  bool memory_host_visible;     /* the arena's memory is mappable (UMA, ReBAR, CPU drivers) */
  float timestamp_period;       /* ns per tick; 0 when unsupported */
  bool validation;              /* the validation layer is active */
  bool software;                /* a CPU implementation: answers will be slow */
  char summary[768];            /* the one start-up line */
} VfDeviceInfo;

VfDevice *vf_device_create(const VfDeviceOptions *options, GError **error);
void vf_device_free(VfDevice *dev);

const VfDeviceInfo *vf_device_get_info(VfDevice *dev);
const char *vf_device_kind_name(VfDeviceKind kind);

/* Lists the physical devices as "index: name (kind)" lines, for error messages and --list-devices. */
char *vf_device_list(GError **error);

/* Validation messages (warnings and errors) seen since creation. Tests fail when this is non-zero. */
uint32_t vf_device_validation_messages(VfDevice *dev);

VkDevice vf_device_handle(VfDevice *dev);
VkPhysicalDevice vf_device_physical(VfDevice *dev);
VkQueue vf_device_queue(VfDevice *dev);
uint32_t vf_device_queue_family(VfDevice *dev);
VfArena *vf_device_arena(VfDevice *dev);
/* The command pool of the device's queue; used only from the thread that owns the device. */
VkCommandPool vf_device_command_pool(VfDevice *dev);

/* Returns the value of an environment switch, and records it for vf_device_print_switches(). */
const char *vf_env(const char *name);
/* Prints every VF_* switch read so far and its value, one line. */
void vf_device_print_switches(FILE *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfDevice, vf_device_free)
