/* Shared by the libFuzzer harnesses (tests/fuzz/README.md): fuzz input as a file the engine can open by
 * path, and the test data folder. Each harness defines LLVMFuzzerTestOneInput; libFuzzer supplies main. */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

/* A per-process temp folder (removed at exit). */
const char *fuzz_temp_dir(void);
/* Writes `size` bytes to `name` in fuzz_temp_dir() (replacing it) and returns the path (owned). */
const char *fuzz_write_file(const char *name, const uint8_t *data, size_t size);
/* `relative` under the test data folder: $VF_TEST_DATA, else tests/data of the source tree. Free with g_free. */
char *fuzz_data_path(const char *relative);
/* The real Qwen2-VL tokenizer of the test data, loaded on first use and kept. */
struct VfTokenizer *fuzz_tokenizer(void);
/* The input as a NUL-terminated string (free with g_free). */
char *fuzz_string(const uint8_t *data, size_t size);
