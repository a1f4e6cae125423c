/* Test helpers that make model folders: safetensors files (valid or deliberately broken), sharded
 * indexes, and copies of the JSON configs with edits. Everything goes into a temp dir the test owns. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdint.h>

#include "vf_safetensors.h"

/* One tensor to write; its header entry is made from dtype, shape and its place in the data area.
 * (Broken headers are written with st_write_raw.) */
typedef struct {
  const char *name;
  const char *dtype;   /* header spelling, e.g. "BF16" */
  uint32_t rank;
  uint64_t shape[VF_TENSOR_MAX_RANK];
  const void *data;    /* NULL: a hole of `size` zero bytes (sparse on disk) */
  uint64_t size;       /* bytes */
} StEntry;

/* Writes `n` tensors back to back (data area in the given order), the header padded with spaces to a
 * multiple of 8. */
void st_write(const char *path, const StEntry *entries, size_t n);
/* Writes the raw bytes: u64 header length `declared_length`, then `header`, then `data_size` zero bytes. */
void st_write_raw(const char *path, uint64_t declared_length, const char *header, uint64_t data_size);

/* Entries for every tensor of `st` (data borrowed from its mapping), in data order. Free with g_free. */
StEntry *st_entries_from(const VfSafetensors *st, size_t *n);

/* A fresh temp dir; st_remove_dir removes it with everything in it. */
char *st_make_temp_dir(void);
void st_remove_dir(const char *dir);
/* Copies `name` from `from_dir` to `to_dir`. */
void st_copy_file(const char *from_dir, const char *to_dir, const char *name);
/* Copies config.json, generation_config.json and preprocessor_config.json. */
void st_copy_configs(const char *from_dir, const char *to_dir);
/* Parses a JSON file into a mutable node (free with json_node_unref) / writes one. */
JsonNode *st_read_json(const char *path);
void st_write_json(const char *path, JsonNode *root);
/* The golden models copied into the tree: $VF_TEST_DATA/models/<name>. Free with g_free. */
char *st_model_dir(const char *name);
/* "model.X" → "model.language_model.X", "visual.X" → "model.visual.X" (the later-transformers names). */
char *st_later_name(const char *name);
/* Writes tiny-a into `dir` as two shards (tensors alternating between them, names in the later form) and
 * an index; `extra_index` (may be NULL) is appended to weight_map verbatim. */
void st_write_sharded(const char *dir, const char *extra_index);
