/* The memory read probe (used by the bench's bandwidth roofline) against a CPU XOR fold. */
#include "vf_test.h"

static uint32_t
xor_fold(const uint32_t *words, size_t n)
{
  uint32_t r = 0;
  for (size_t i = 0; i < n; i++)
    r ^= words[i];
  return r;
}

static void
check_memread(VfMemreadPath path, size_t bytes)
{
  size_t n = bytes / 4;
  g_autofree uint32_t *words = g_new(uint32_t, n);
  uint64_t s = 0x243f6a8885a308d3ull ^ bytes;
  for (size_t i = 0; i < n; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    words[i] = (uint32_t)(s >> 16);
  }
  VfBuffer src = vf_test_upload(words, bytes), out = vf_test_upload(NULL, 16);
  /* Arena buffers are rounded up to 256 bytes: read exactly the uploaded bytes. */
  VfBuffer view = vf_buffer_slice(&src, 0, bytes);
  VfCmd *cmd = vf_test_cmd();
  vf_op_memread_xor(cmd, path, &view, &out);
  vf_test_submit(cmd);
  uint32_t got = 0;
  vf_test_download(&out, &got, 4);
  g_assert_cmphex(got, ==, xor_fold(words, n));
  vf_test_release(&src);
  vf_test_release(&out);
}

static void
test_memread(void)
{
  for (int path = 0; path < 2; path++) {
    check_memread(path, 16);
    check_memread(path, 65536 * 16 + 48); /* one full workgroup chunk and a partial one */
    check_memread(path, (3u << 20) + 1040);
  }
}

/* Smaller bindings than the device has: the source is read in several windows. */
static void
test_memread_windows(void)
{
  VfDeviceInfo *info = (VfDeviceInfo *)vf_device_get_info(vf_test_device());
  VfDeviceInfo saved = *info;
  info->max_storage_range = 1u << 20;
  info->max_texel_elements = (1u << 20) / 16;
  info->storage_align = info->texel_align = 256;
  for (int path = 0; path < 2; path++)
    check_memread(path, (3u << 20) + 1040);
  *info = saved;
}

int
main(int argc, char **argv)
{
  vf_test_init(&argc, &argv);
  g_test_add_func("/ops/memread", test_memread);
  g_test_add_func("/ops/memread/windows", test_memread_windows);
  return vf_test_finish();
}
