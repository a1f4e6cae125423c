/* Result-checking helpers for Vulkan calls.
 *
 * VF_VK_TRY(expr, error, label): run a Vulkan call; on failure set a GError
 * naming the call and the VkResult, log it, and jump to `label`.
 */
#pragma once

#include <glib.h>
#include <volk.h>

#define VF_VK_ERROR (vf_vk_error_quark())

typedef enum {
  VF_VK_ERROR_NO_LOADER,       /* libvulkan.so.1 could not be loaded */
  VF_VK_ERROR_NO_DEVICE,       /* no (matching) physical device */
  VF_VK_ERROR_MISSING_FEATURE, /* the device lacks something we require */
  VF_VK_ERROR_OUT_OF_MEMORY,   /* device or host allocation failed */
  VF_VK_ERROR_CALL,            /* any other failing Vulkan call */
  VF_VK_ERROR_SHADER,          /* a SPIR-V module is missing or invalid */
  VF_VK_ERROR_LIMIT,           /* a request exceeds a device limit */
  VF_VK_ERROR_DEVICE_LOST,     /* VK_ERROR_DEVICE_LOST: the driver reset or the GPU hung; nothing more runs */
} VfVkError;

GQuark vf_vk_error_quark(void);
const char *vf_vk_result_name(VkResult result);

/* Sets `error` for a failed call; OUT_OF_*_MEMORY results map to VF_VK_ERROR_OUT_OF_MEMORY. */
void vf_vk_set_error(GError **error, VkResult result, const char *call, const char *file, int line);

#define VF_VK_TRY(expr, error, label)                                        \
  do {                                                                       \
    VkResult vf_vk_try_result_ = (expr);                                     \
    if (vf_vk_try_result_ != VK_SUCCESS) {                                   \
      vf_vk_set_error((error), vf_vk_try_result_, #expr, __FILE__, __LINE__); \
      goto label;                                                            \
    }                                                                        \
  } while (0)
