/* VfCmd: a recorded list of dispatches with the barriers they need.
 *
 * Barriers are derived from the bindings: a dispatch that reads a range an
 * earlier dispatch wrote (or writes a range an earlier one read or wrote)
 * gets a buffer memory barrier for the pending writes first. A recorded VfCmd
 * can be submitted again and again (the decode step replays one), with the
 * host changing only the contents of small parameter buffers in between.
 *
 * Errors while recording (a window over a device limit, a view that cannot be
 * created) are sticky: the first one is returned by vf_cmd_submit().
 *
 *   VfCmd *cmd = vf_cmd_new(dev, &error);
 *   VfBinding b[] = { {a}, {b}, {out} };
 *   vf_cmd_dispatch(cmd, pipeline, b, 3, &push, groups, 1, 1);
 *   if (!vf_cmd_submit(cmd, &error)) ...
 *   vf_cmd_free(cmd);
 */
#pragma once

#include <glib.h>
#include <stdio.h>
#include <volk.h>

#include "vf_arena.h"
#include "vf_device.h"
#include "vf_pipeline.h"

typedef struct VfCmd VfCmd;

typedef struct {
  VfBuffer buf;
  VkFormat format; /* for 't' bindings: the texel format of the view, e.g. VK_FORMAT_R32G32B32A32_UINT */
} VfBinding;

VfCmd *vf_cmd_new(VfDevice *dev, GError **error);
void vf_cmd_free(VfCmd *cmd);

void vf_cmd_dispatch(VfCmd *cmd, VfPipeline *pipeline, const VfBinding *bindings, uint32_t nbindings,
                     const void *push, uint32_t groups_x, uint32_t groups_y, uint32_t groups_z);
/* vkCmdFillBuffer over the slice (size a multiple of 4). */
void vf_cmd_fill(VfCmd *cmd, const VfBuffer *buf, uint32_t value);
void vf_cmd_copy(VfCmd *cmd, const VfBuffer *src, const VfBuffer *dst, VkDeviceSize size);
/* A full barrier, for dependencies the bindings do not show. */
void vf_cmd_barrier(VfCmd *cmd);
/* Records an error to be returned by vf_cmd_submit (for ops that find bad arguments). */
void vf_cmd_fail(VfCmd *cmd, GError *error);
gboolean vf_cmd_ok(VfCmd *cmd);
VfDevice *vf_cmd_device(VfCmd *cmd);

/* Ends recording (first time), submits and waits. Returns the first recording error, if any. */
gboolean vf_cmd_submit(VfCmd *cmd, GError **error);
uint32_t vf_cmd_dispatch_count(VfCmd *cmd);

/* VF_PROFILE=1: GPU time per pipeline name, accumulated over all submits. */
gboolean vf_profile_enabled(void);
void vf_profile_reset(void);
void vf_profile_print(FILE *out);
/* Total GPU nanoseconds accumulated for pipelines whose name starts with `prefix` (NULL: all). */
double vf_profile_total_ns(const char *prefix);
