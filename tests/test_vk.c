/* Unit tests of the Vulkan layer: device choice, arena, transfers, recording, limits. */
#include <string.h>

#include "vf_test.h"

static void
test_device_info(void)
{
  const VfDeviceInfo *info = vf_device_get_info(vf_test_device());
  g_assert_cmpuint(strlen(info->name), >, 0);
  g_assert_cmpuint(info->subgroup_size, >=, 1);
  g_assert_cmpuint(info->max_storage_range, >=, 1u << 27);
  g_assert_true(info->validation);
  g_assert_nonnull(strstr(info->summary, info->name));
  g_assert_nonnull(strstr(info->summary, "subgroup"));
  g_assert_nonnull(strstr(info->summary, "max storage range"));
  if (info->kind == VF_DEVICE_KIND_CPU)
    g_assert_nonnull(strstr(info->summary, "answers will be slow"));
}

static void
test_device_select_missing(void)
{
  VfDeviceOptions opts = {.select = "no-such-gpu-anywhere", .validate = 0};
  g_autoptr(GError) error = NULL;
  VfDevice *dev = vf_device_create(&opts, &error);
  g_assert_null(dev);
  g_assert_error(error, VF_VK_ERROR, VF_VK_ERROR_NO_DEVICE);
  g_assert_nonnull(strstr(error->message, "no-such-gpu-anywhere"));
  g_assert_nonnull(strstr(error->message, "available"));

  g_clear_error(&error);
  opts.select = "97";
  dev = vf_device_create(&opts, &error);
  g_assert_null(dev);
  g_assert_error(error, VF_VK_ERROR, VF_VK_ERROR_NO_DEVICE);
}

static void
test_device_select_by_name(void)
{
  const VfDeviceInfo *info = vf_device_get_info(vf_test_device());
  char part[8];
  g_strlcpy(part, info->name, sizeof part);
  VfDeviceOptions opts = {.select = part, .validate = 0};
  g_autoptr(GError) error = NULL;
  VfDevice *dev = vf_device_create(&opts, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(vf_device_get_info(dev)->name, ==, info->name);
  vf_device_free(dev);
}

static void
test_arena_reuse(void)
{
  VfDevice *dev = vf_test_device();
  VfArenaStats before, during, after;
  vf_arena_get_stats(vf_device_arena(dev), &before);
  VfBuffer a, b, c, d;
  g_autoptr(GError) error = NULL;
  g_assert_true(vf_buffer_alloc(dev, VF_MEMORY_DEVICE, 1000, &a, &error));
  g_assert_true(vf_buffer_alloc(dev, VF_MEMORY_DEVICE, 5000, &b, &error));
  g_assert_true(vf_buffer_alloc(dev, VF_MEMORY_DEVICE, 300, &c, &error));
  g_assert_cmpuint(a.offset % VF_ARENA_ALIGN, ==, 0);
  g_assert_cmpuint(b.offset % VF_ARENA_ALIGN, ==, 0);
  g_assert_cmpuint(b.size, ==, 5120);
  /* Slices of one block never overlap. */
  g_assert_true(a.buffer != b.buffer || a.offset + a.size <= b.offset || b.offset + b.size <= a.offset);
  VkDeviceSize b_offset = b.offset;
  vf_buffer_release(dev, &b);
  g_assert_true(vf_buffer_alloc(dev, VF_MEMORY_DEVICE, 4000, &d, &error));
  g_assert_cmpuint(d.offset, ==, b_offset); /* first fit reuses the hole */
  vf_arena_get_stats(vf_device_arena(dev), &during);
  g_assert_cmpuint(during.device_bytes_in_use, ==, before.device_bytes_in_use + 1024 + 512 + 4096);
  vf_buffer_release(dev, &a);
  vf_buffer_release(dev, &c);
  vf_buffer_release(dev, &d);
  vf_arena_get_stats(vf_device_arena(dev), &after);
  g_assert_cmpuint(after.device_bytes_in_use, ==, before.device_bytes_in_use);
}

static void
test_arena_dedicated_block(void)
{
  /* Larger than a standard block: gets a block of its own, returned on release. */
  VfDevice *dev = vf_test_device();
  VfArenaStats before, after;
  vf_arena_get_stats(vf_device_arena(dev), &before);
  VfBuffer big;
  g_autoptr(GError) error = NULL;
  g_assert_true(vf_buffer_alloc(dev, VF_MEMORY_DEVICE, 300u << 20, &big, &error));
  g_assert_no_error(error);
  vf_buffer_release(dev, &big);
  vf_arena_get_stats(vf_device_arena(dev), &after);
  g_assert_cmpuint(after.device_bytes_reserved, ==, before.device_bytes_reserved);
}

static void
test_arena_too_large(void)
{
  VfDevice *dev = vf_test_device();
  VfBuffer huge;
  g_autoptr(GError) error = NULL;
  gboolean ok = vf_buffer_alloc(dev, VF_MEMORY_DEVICE, 1ull << 50, &huge, &error);
  g_assert_false(ok);
  g_assert_nonnull(error);
  g_assert_true(error->code == VF_VK_ERROR_LIMIT || error->code == VF_VK_ERROR_OUT_OF_MEMORY);
}

static void
roundtrip(VfDevice *dev, size_t n)
{
  g_autofree float *x = vf_test_random(n, -1, 1, 7);
  g_autofree float *y = g_new0(float, n);
  VfBuffer b;
  g_autoptr(GError) error = NULL;
  g_assert_true(vf_buffer_alloc(dev, VF_MEMORY_DEVICE, n * 4, &b, &error));
  g_assert_true(vf_buffer_upload(dev, &b, 0, x, n * 4, &error));
  g_assert_true(vf_buffer_download(dev, &b, 0, y, n * 4, &error));
  g_assert_no_error(error);
  g_assert_cmpmem(x, n * 4, y, n * 4);
  /* A copy that would run past the end is refused. */
  g_assert_false(vf_buffer_upload(dev, &b, b.size - n * 4 + 4, x, n * 4, &error));
  g_assert_error(error, VF_VK_ERROR, VF_VK_ERROR_LIMIT);
  vf_buffer_release(dev, &b);
}

static void
test_transfer_roundtrip(void)
{
  roundtrip(vf_test_device(), 3);
  roundtrip(vf_test_device(), (70u << 20) / 4 + 5); /* more than two staging slots */
}

static void
test_transfer_staging(void)
{
  /* The same through the staging ring even where memory is mappable. */
  g_setenv("VF_DIRECT_MAP", "0", TRUE);
  VfDeviceOptions opts = {.validate = 1};
  g_autoptr(GError) error = NULL;
  VfDevice *dev = vf_device_create(&opts, &error);
  g_unsetenv("VF_DIRECT_MAP");
  g_assert_no_error(error);
  g_assert_false(vf_device_get_info(dev)->memory_host_visible);
  roundtrip(dev, 1000);
  roundtrip(dev, (70u << 20) / 4 + 5);
  g_assert_cmpuint(vf_device_validation_messages(dev), ==, 0);
  vf_device_free(dev);
}

static void
test_cmd_barriers_and_replay(void)
{
  const uint32_t n = 100003;
  g_autofree float *a = vf_test_random(n, -1, 1, 1);
  g_autofree float *b = vf_test_random(n, -1, 1, 2);
  g_autofree float *d = g_new(float, n);
  g_autofree float *want = g_new(float, n);
  VfBuffer ba = vf_test_upload(a, n * 4), bb = vf_test_upload(b, n * 4);
  VfBuffer bc = vf_test_upload(NULL, n * 4), bd = vf_test_upload(NULL, n * 4);

  g_autoptr(GError) error = NULL;
  VfCmd *cmd = vf_test_cmd();
  vf_op_add(cmd, &ba, &bb, &bc, n); /* c = a + b */
  vf_op_add(cmd, &bc, &bc, &bd, n); /* d = 2c: needs the barrier on c */
  vf_op_add(cmd, &bd, &ba, &bc, n); /* c = d + a: write after read of c */
  for (int round = 0; round < 2; round++) {
    if (round == 1) {
      /* Replay with new inputs. */
      for (uint32_t i = 0; i < n; i++)
        a[i] = -a[i] * 0.5f;
      g_assert_true(vf_buffer_upload(vf_test_device(), &ba, 0, a, n * 4, &error));
    }
    g_assert_true(vf_cmd_submit(cmd, &error));
    g_assert_no_error(error);
    vf_test_download(&bc, d, n * 4);
    for (uint32_t i = 0; i < n; i++)
      want[i] = ((a[i] + b[i]) + (a[i] + b[i])) + a[i];
    vf_test_assert_close("add chain", d, want, n, 0, 0);
  }
  g_assert_cmpuint(vf_cmd_dispatch_count(cmd), ==, 3);
  vf_cmd_free(cmd);
  vf_test_release(&ba);
  vf_test_release(&bb);
  vf_test_release(&bc);
  vf_test_release(&bd);
}

static void
test_cmd_limits_are_errors(void)
{
  VfDevice *dev = vf_test_device();
  const VfDeviceInfo *info = vf_device_get_info(dev);
  g_autoptr(GError) error = NULL;
  VfBuffer small = vf_test_upload(NULL, 1024);

  /* Too many workgroups in x. */
  VfCmd *cmd = vf_test_cmd();
  VfPipeline *p = vf_ops_pipeline(cmd, "add", "rrw", 4, NULL, 0);
  g_assert_nonnull(p);
  uint32_t n = 16;
  VfBinding b[] = {{small}, {small}, {small}};
  if (info->max_workgroup_count[0] < UINT32_MAX) {
    vf_cmd_dispatch(cmd, p, b, 3, &n, info->max_workgroup_count[0] + 1, 1, 1);
    g_assert_false(vf_cmd_submit(cmd, &error));
    g_assert_error(error, VF_VK_ERROR, VF_VK_ERROR_LIMIT);
    g_clear_error(&error);
  }
  vf_cmd_free(cmd);

  /* A binding over the storage-buffer range must be windowed by the caller. */
  if (info->max_storage_range < (1ull << 31)) {
    VfBuffer big;
    g_assert_true(vf_buffer_alloc(dev, VF_MEMORY_DEVICE, info->max_storage_range + 4096, &big, &error));
    cmd = vf_test_cmd();
    VfBinding bb[] = {{big}, {small}, {small}};
    vf_cmd_dispatch(cmd, p, bb, 3, &n, 1, 1, 1);
    g_assert_false(vf_cmd_submit(cmd, &error));
    g_assert_error(error, VF_VK_ERROR, VF_VK_ERROR_LIMIT);
    g_assert_nonnull(strstr(error->message, "windows"));
    g_clear_error(&error);
    vf_cmd_free(cmd);
    vf_buffer_release(dev, &big);
  }

  /* A shader that is not embedded. */
  cmd = vf_test_cmd();
  g_assert_null(vf_ops_pipeline(cmd, "no_such_shader", "r", 0, NULL, 0));
  g_assert_false(vf_cmd_submit(cmd, &error));
  g_assert_error(error, VF_VK_ERROR, VF_VK_ERROR_SHADER);
  vf_cmd_free(cmd);
  vf_test_release(&small);
}

int
main(int argc, char **argv)
{
  vf_test_init(&argc, &argv);
  g_test_add_func("/vk/device/info", test_device_info);
  g_test_add_func("/vk/device/select-missing", test_device_select_missing);
  g_test_add_func("/vk/device/select-by-name", test_device_select_by_name);
  g_test_add_func("/vk/arena/reuse", test_arena_reuse);
  g_test_add_func("/vk/arena/dedicated-block", test_arena_dedicated_block);
  g_test_add_func("/vk/arena/too-large", test_arena_too_large);
  g_test_add_func("/vk/transfer/roundtrip", test_transfer_roundtrip);
  g_test_add_func("/vk/transfer/staging", test_transfer_staging);
  g_test_add_func("/vk/cmd/barriers-and-replay", test_cmd_barriers_and_replay);
  g_test_add_func("/vk/cmd/limits-are-errors", test_cmd_limits_are_errors);
  return vf_test_finish();
}
