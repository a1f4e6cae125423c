/* The pipeline cache on disk: written at device free, loaded by the next device, and a corrupt file or one
 * from another device (or driver, or build) ignored with a note and rewritten. Format: vf_pipeline_store.h. */
#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "vf_pipeline_store.h"
#include "vf_test.h"

typedef struct {
  char *dir;
  char *path; /* the store file, known once a device has opened it */
} Fixture;

/* A device whose cache lives in f->dir; builds one pipeline so there is something to save. */
static VfDevice *
open_device(Fixture *f, bool build)
{
  g_setenv("VF_PIPELINE_CACHE", f->dir, TRUE);
  VfDeviceOptions opts = {.validate = 1};
  g_autoptr(GError) error = NULL;
  VfDevice *dev = vf_device_create(&opts, &error);
  g_assert_no_error(error);
  VfPipelineStore *store = vf_pipeline_cache_store(dev);
  g_assert_nonnull(store);
  if (!f->path)
    f->path = g_strdup(vf_pipeline_store_path(store));
  g_assert_cmpstr(f->path, ==, vf_pipeline_store_path(store));
  g_assert_true(g_str_has_prefix(f->path, f->dir));
  if (build) {
    VfPipelineDesc d = {.shader = "add", .bindings = "rrw", .push_size = 4};
    g_assert_nonnull(vf_pipeline_get(dev, &d, &error));
    g_assert_no_error(error);
  }
  return dev;
}

static uint8_t *
read_file(const char *path, gsize *size)
{
  char *data = NULL;
  g_autoptr(GError) error = NULL;
  g_assert_true(g_file_get_contents(path, &data, size, &error));
  return (uint8_t *)data;
}

static void
write_file(const char *path, const uint8_t *data, gsize size)
{
  g_autoptr(GError) error = NULL;
  g_assert_true(g_file_set_contents(path, (const char *)data, (gssize)size, &error));
}

/* Opens a device on the file as it is now and checks what it made of it; frees the device (which saves). */
static void
expect_state(Fixture *f, VfPipelineStoreState want, const char *note_part)
{
  VfDevice *dev = open_device(f, true);
  VfPipelineStore *store = vf_pipeline_cache_store(dev);
  g_assert_cmpint(vf_pipeline_store_state(store), ==, want);
  if (note_part)
    g_assert_nonnull(strstr(vf_pipeline_store_note(store), note_part));
  g_assert_nonnull(strstr(vf_pipeline_cache_summary(dev), want == VF_PIPELINE_STORE_LOADED ? "loaded" : "ignored"));
  g_assert_cmpuint(vf_device_validation_messages(dev), ==, 0);
  vf_device_free(dev);
}

/* The good file with byte `at` flipped by `mask` (and, when `fix_checksum`, the data checksum made to match
 * again): ignored with `note_part`, rewritten, then loaded again. */
static void
expect_tamper_ignored(Fixture *f, const uint8_t *good, gsize size, gsize at, uint8_t mask, bool fix_checksum,
                      const char *note_part);

/* The file a first device leaves: our header, then the driver's data with its Vulkan header. */
static void
check_written(Fixture *f)
{
  gsize size = 0;
  g_autofree uint8_t *file = read_file(f->path, &size);
  g_assert_cmpuint(size, >=, VF_PIPELINE_STORE_HEADER_BYTES + 32);
  g_assert_cmpmem(file, 8, "VFPCACHE", 8);
  const uint8_t *vk = file + VF_PIPELINE_STORE_HEADER_BYTES;
  uint32_t header_size, header_version;
  memcpy(&header_size, vk, 4);
  memcpy(&header_version, vk + 4, 4);
  g_assert_cmpuint(header_size, >=, 32);
  g_assert_cmpuint(header_version, ==, VK_PIPELINE_CACHE_HEADER_VERSION_ONE);
  uint64_t data_size;
  memcpy(&data_size, file + 64, 8);
  g_assert_cmpuint(data_size, ==, size - VF_PIPELINE_STORE_HEADER_BYTES);
}

static void
expect_tamper_ignored(Fixture *f, const uint8_t *good, gsize size, gsize at, uint8_t mask, bool fix_checksum,
                      const char *note_part)
{
  g_autofree uint8_t *bad = g_memdup2(good, size);
  bad[at] ^= mask;
  if (fix_checksum) {
    GChecksum *c = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(c, bad + VF_PIPELINE_STORE_HEADER_BYTES, (gssize)(size - VF_PIPELINE_STORE_HEADER_BYTES));
    gsize n = 32;
    g_checksum_get_digest(c, bad + 72, &n);
    g_checksum_free(c);
  }
  write_file(f->path, bad, size);
  expect_state(f, VF_PIPELINE_STORE_IGNORED, note_part);
  check_written(f);
  expect_state(f, VF_PIPELINE_STORE_LOADED, NULL);
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
  (void)data;
  g_autoptr(GError) error = NULL;
  f->dir = g_dir_make_tmp("vf-pipeline-cache-XXXXXX", &error);
  g_assert_no_error(error);
  /* First run: no file; freeing the device writes it. */
  VfDevice *dev = open_device(f, true);
  g_assert_cmpint(vf_pipeline_store_state(vf_pipeline_cache_store(dev)), ==, VF_PIPELINE_STORE_EMPTY);
  g_assert_nonnull(strstr(vf_pipeline_cache_summary(dev), "(new)"));
  vf_device_free(dev);
  check_written(f);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
  (void)data;
  g_unlink(f->path);
  g_rmdir(f->dir);
  g_free(f->path);
  g_free(f->dir);
  g_unsetenv("VF_PIPELINE_CACHE");
}

static void
test_reload(Fixture *f, gconstpointer data)
{
  (void)data;
  gsize size = 0;
  g_autofree uint8_t *file = read_file(f->path, &size);
  VfDevice *dev = open_device(f, true);
  VfPipelineStore *store = vf_pipeline_cache_store(dev);
  g_assert_cmpint(vf_pipeline_store_state(store), ==, VF_PIPELINE_STORE_LOADED);
  g_assert_cmpuint(vf_pipeline_store_loaded_bytes(store), ==, size - VF_PIPELINE_STORE_HEADER_BYTES);
  vf_device_free(dev);
  check_written(f);
}

/* Corrupt: flipped data bytes, a truncated file, garbage. Each is ignored, then rewritten and loaded again. */
static void
test_corrupt(Fixture *f, gconstpointer data)
{
  (void)data;
  gsize size = 0;
  g_autofree uint8_t *good = read_file(f->path, &size);

  expect_tamper_ignored(f, good, size, size - 1, 0x5a, false, "checksum");
  /* A data size that disagrees with the file. */
  expect_tamper_ignored(f, good, size, 64, 1, false, "data size");

  write_file(f->path, good, 50);
  expect_state(f, VF_PIPELINE_STORE_IGNORED, "truncated");
  expect_state(f, VF_PIPELINE_STORE_LOADED, NULL);

  write_file(f->path, (const uint8_t *)"not a cache at all, just text that is long enough to pass a size check "
                                       "and then some more words after that.............",
             120);
  expect_state(f, VF_PIPELINE_STORE_IGNORED, "corrupt");
  expect_state(f, VF_PIPELINE_STORE_LOADED, NULL);
}

/* A file from another device (our header's UUID, or the Vulkan header's vendor with a valid checksum),
 * another driver version or another build of the shaders. */
static void
test_foreign(Fixture *f, gconstpointer data)
{
  (void)data;
  gsize size = 0;
  g_autofree uint8_t *good = read_file(f->path, &size);

  expect_tamper_ignored(f, good, size, 16, 0xff, false, "another device");
  /* The Vulkan header says another vendor; the checksum is made to match so only the header can tell. */
  expect_tamper_ignored(f, good, size, VF_PIPELINE_STORE_HEADER_BYTES + 8, 0x11, true, "Vulkan header");
  expect_tamper_ignored(f, good, size, 12, 0x01, false, "driver version");
  expect_tamper_ignored(f, good, size, 40, 0x01, false, "other shaders");
}

/* A run that builds nothing still replaces an unusable file. */
static void
test_ignored_rewritten_without_builds(Fixture *f, gconstpointer data)
{
  (void)data;
  write_file(f->path, (const uint8_t *)"junk", 4);
  VfDevice *dev = open_device(f, false);
  g_assert_cmpint(vf_pipeline_store_state(vf_pipeline_cache_store(dev)), ==, VF_PIPELINE_STORE_IGNORED);
  vf_device_free(dev);
  check_written(f);
}

static void
test_switched_off(void)
{
  g_setenv("VF_PIPELINE_CACHE", "0", TRUE);
  VfDeviceOptions opts = {.validate = 1};
  g_autoptr(GError) error = NULL;
  VfDevice *dev = vf_device_create(&opts, &error);
  g_assert_no_error(error);
  g_assert_null(vf_pipeline_cache_store(dev));
  g_assert_nonnull(strstr(vf_pipeline_cache_summary(dev), "off"));
  VfPipelineDesc d = {.shader = "add", .bindings = "rrw", .push_size = 4};
  g_assert_nonnull(vf_pipeline_get(dev, &d, &error));
  g_assert_cmpuint(vf_pipeline_stats(dev).built, ==, 1);
  vf_device_free(dev);
  g_unsetenv("VF_PIPELINE_CACHE");
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add("/pipeline-cache/reload", Fixture, NULL, fixture_setup, test_reload, fixture_teardown);
  g_test_add("/pipeline-cache/corrupt", Fixture, NULL, fixture_setup, test_corrupt, fixture_teardown);
  g_test_add("/pipeline-cache/foreign", Fixture, NULL, fixture_setup, test_foreign, fixture_teardown);
  g_test_add("/pipeline-cache/ignored-rewritten-without-builds", Fixture, NULL, fixture_setup,
             test_ignored_rewritten_without_builds, fixture_teardown);
  g_test_add_func("/pipeline-cache/switched-off", test_switched_off);
  return g_test_run();
}
