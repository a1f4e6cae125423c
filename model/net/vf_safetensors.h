/* One safetensors file, memory-mapped, with a validated directory of its tensors (spec §2.1).
 *
 *   byte 0           8                       8 + N                                   file end
 *   +----------------+-----------------------+---------------------------------------+
 *   | N: u64, little | JSON header, N bytes  | data area                             |
 *   | endian         | (UTF-8, may end in    |   tensor bytes at [8+N+begin, 8+N+end) |
 *   |                | spaces)               |   little endian, row-major, packed    |
 *   +----------------+-----------------------+---------------------------------------+
 *
 *   header = { "__metadata__": { "format": "pt" },                       (optional)
 *              "<tensor name>": { "dtype": "BF16",
 *                                 "shape": [d0, d1, ...],
 *                                 "data_offsets": [begin, end] },     end - begin = d0·d1·…·sizeof(dtype)
 *              ... }                                                   (any order)
 *
 * Everything is checked when the file is opened; afterwards every tensor's bytes lie inside the mapping
 * and no two tensors overlap. Tensor data pointers are NOT aligned (offsets need not be multiples of the
 * element size): read them with memcpy. The mapping is read-only and lives until vf_safetensors_free().
 *
 * A file that shrinks while it is mapped (a download still running, a file replaced) makes a read of the
 * vanished pages SIGBUS. Bulk readers (the weight upload) therefore use vf_tensor_read(), which reads the
 * file with pread and turns a short read into an error; the mapping serves tests and small lookups.
 *
 *   g_autoptr(GError) error = NULL;
 *   VfSafetensors *st = vf_safetensors_open("model.safetensors", &error);
 *   const VfTensor *t = vf_safetensors_find(st, "model.norm.weight");   // NULL when absent
 *   ... t->data, t->size, t->shape[0] ...
 *   vf_safetensors_free(st);
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "vf_dtype.h"

#define VF_SAFETENSORS_ERROR (vf_safetensors_error_quark())
GQuark vf_safetensors_error_quark(void);

typedef enum {
  VF_SAFETENSORS_ERROR_IO,      /* a file is missing or cannot be read or mapped */
  VF_SAFETENSORS_ERROR_FORMAT,  /* header or index malformed; offsets or sizes inconsistent */
  VF_SAFETENSORS_ERROR_DTYPE,   /* a dtype name this reader does not know */
  VF_SAFETENSORS_ERROR_MISSING, /* a tensor or shard named somewhere is not there */
} VfSafetensorsError;

/* Every dtype the safetensors format defines. */
typedef enum {
  VF_ST_BOOL,
  VF_ST_U8,
  VF_ST_I8,
  VF_ST_U16,
  VF_ST_I16,
  VF_ST_U32,
  VF_ST_I32,
  VF_ST_U64,
  VF_ST_I64,
  VF_ST_F16,
  VF_ST_BF16,
  VF_ST_F32,
  VF_ST_F64,
  VF_ST_C64,
  VF_ST_F8_E4M3,
  VF_ST_F8_E5M2,
  VF_ST_F8_E8M0,
  VF_ST_F6_E2M3, /* 6 bits, packed */
  VF_ST_F6_E3M2, /* 6 bits, packed */
  VF_ST_F4,      /* 4 bits (e2m1), packed */
  VF_ST_N_DTYPES,
} VfStDtype;

/* The name as written in headers ("BF16"). */
const char *vf_st_dtype_name(VfStDtype dtype);
/* Bits per element (16 for BF16, 4 for F4). */
uint32_t vf_st_dtype_bits(VfStDtype dtype);
/* The op library's dtype for the same bytes; FALSE when the op library has none (e.g. F64, F8). */
gboolean vf_st_dtype_to_vf(VfStDtype dtype, VfDType *out);

#define VF_TENSOR_MAX_RANK 8

typedef struct {
  const char *name;          /* as written in the header */
  const char *path;          /* the file it lives in */
  VfStDtype dtype;
  uint32_t rank;             /* 0 for a scalar */
  uint64_t shape[VF_TENSOR_MAX_RANK];
  const uint8_t *data;       /* into the mapping; unaligned; `size` bytes */
  uint64_t size;             /* bytes = product(shape) · bits / 8 */
  int fd;                    /* the open file (owned by its VfSafetensors) */
  uint64_t file_offset;      /* where the bytes start in the file */
} VfTensor;

/* Reads bytes [offset, offset + n) of the tensor from the file (not the mapping) into `dst`. A file that
 * has become shorter than its header promised is an error naming the file and the tensor. */
gboolean vf_tensor_read(const VfTensor *t, uint64_t offset, void *dst, uint64_t n, GError **error);

/* Elements: the product of the shape (1 for a scalar). */
uint64_t vf_tensor_numel(const VfTensor *t);
/* Drops the mapping's pages under the tensor from this process (they stay in the page cache and are
 * read again on the next access): called once a tensor has been copied, so that loading does not hold
 * the whole checkpoint in the process's memory. Best effort. */
void vf_tensor_drop_pages(const VfTensor *t);
/* "[d0, d1, ...]" — free with g_free. */
char *vf_shape_string(uint32_t rank, const uint64_t *shape);

typedef struct VfSafetensors VfSafetensors;

/* Maps and validates `path`. Errors name the file and, where one is at fault, the tensor. */
VfSafetensors *vf_safetensors_open(const char *path, GError **error);
void vf_safetensors_free(VfSafetensors *st);

const char *vf_safetensors_path(const VfSafetensors *st);
uint32_t vf_safetensors_count(const VfSafetensors *st);
/* Tensors in the order of their data (ascending begin offset). */
const VfTensor *vf_safetensors_tensor(const VfSafetensors *st, uint32_t index);
const VfTensor *vf_safetensors_find(const VfSafetensors *st, const char *name);
/* The header's "__metadata__" value for `key`, or NULL. */
const char *vf_safetensors_metadata(const VfSafetensors *st, const char *key);
/* Tells the kernel the data will be read once from start to end (read-ahead; best effort). */
void vf_safetensors_advise_sequential(const VfSafetensors *st);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfSafetensors, vf_safetensors_free)
