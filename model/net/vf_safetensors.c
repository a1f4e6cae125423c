/* Reading one safetensors file: mapping, header parsing and validation (layout diagram in the header). */
#define G_LOG_DOMAIN "vf-model"

#include "vf_safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The reference implementation refuses larger headers; a bigger one is a corrupt or hostile file, and
 * refusing it keeps a bad length from making the JSON parser allocate gigabytes. */
#define MAX_HEADER_BYTES 100000000ull

G_DEFINE_QUARK(vf-safetensors-error-quark, vf_safetensors_error)

struct VfSafetensors {
  char *path;
  int fd;             /* kept open for vf_tensor_read */
  const uint8_t *map; /* the whole file, read-only */
  uint64_t map_size;
  VfTensor *tensors;  /* [count], ascending data offset */
  uint32_t count;
  GHashTable *by_name;  /* name → VfTensor* (names owned by `tensors`) */
  GHashTable *metadata; /* key → value, both owned */
};

static const struct {
  const char *name;
  uint32_t bits;
} dtype_table[VF_ST_N_DTYPES] = {
  [VF_ST_BOOL] = {"BOOL", 8},        [VF_ST_U8] = {"U8", 8},
  [VF_ST_I8] = {"I8", 8},            [VF_ST_U16] = {"U16", 16},
  [VF_ST_I16] = {"I16", 16},         [VF_ST_U32] = {"U32", 32},
  [VF_ST_I32] = {"I32", 32},         [VF_ST_U64] = {"U64", 64},
  [VF_ST_I64] = {"I64", 64},         [VF_ST_F16] = {"F16", 16},
  [VF_ST_BF16] = {"BF16", 16},       [VF_ST_F32] = {"F32", 32},
  [VF_ST_F64] = {"F64", 64},         [VF_ST_C64] = {"C64", 64},
  [VF_ST_F8_E4M3] = {"F8_E4M3", 8},  [VF_ST_F8_E5M2] = {"F8_E5M2", 8},
  [VF_ST_F8_E8M0] = {"F8_E8M0", 8},  [VF_ST_F6_E2M3] = {"F6_E2M3", 6},
  [VF_ST_F6_E3M2] = {"F6_E3M2", 6},  [VF_ST_F4] = {"F4", 4},
};

const char *
vf_st_dtype_name(VfStDtype dtype)
{
  g_return_val_if_fail(dtype < VF_ST_N_DTYPES, "?");
  return dtype_table[dtype].name;
}

uint32_t
vf_st_dtype_bits(VfStDtype dtype)
{
  g_return_val_if_fail(dtype < VF_ST_N_DTYPES, 0);
  return dtype_table[dtype].bits;
}

gboolean
vf_st_dtype_to_vf(VfStDtype dtype, VfDType *out)
{
  switch (dtype) {
  case VF_ST_F32: *out = VF_DTYPE_F32; return TRUE;
  case VF_ST_F16: *out = VF_DTYPE_F16; return TRUE;
  case VF_ST_BF16: *out = VF_DTYPE_BF16; return TRUE;
  case VF_ST_I32: *out = VF_DTYPE_I32; return TRUE;
  case VF_ST_I64: *out = VF_DTYPE_I64; return TRUE;
  case VF_ST_U8: *out = VF_DTYPE_U8; return TRUE;
  default: return FALSE;
  }
}

static gboolean
dtype_from_name(const char *name, VfStDtype *out)
{
  for (int i = 0; i < VF_ST_N_DTYPES; i++)
    if (strcmp(dtype_table[i].name, name) == 0) {
      *out = (VfStDtype)i;
      return TRUE;
    }
  return FALSE;
}

uint64_t
vf_tensor_numel(const VfTensor *t)
{
  uint64_t n = 1;
  for (uint32_t i = 0; i < t->rank; i++)
    n *= t->shape[i];
  return n;
}

void
vf_tensor_drop_pages(const VfTensor *t)
{
  /* Only whole pages inside the tensor: its neighbours may not have been copied yet. */
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t begin = ((uintptr_t)t->data + page - 1) & ~(page - 1);
  uintptr_t end = ((uintptr_t)t->data + t->size) & ~(page - 1);
  if (end > begin)
    madvise((void *)begin, end - begin, MADV_DONTNEED);
}

char *
vf_shape_string(uint32_t rank, const uint64_t *shape)
{
  GString *s = g_string_new("[");
  for (uint32_t i = 0; i < rank; i++)
    g_string_append_printf(s, "%s%" G_GUINT64_FORMAT, i ? ", " : "", (guint64)shape[i]);
  g_string_append_c(s, ']');
  return g_string_free(s, FALSE);
}

/* ---- header parsing ------------------------------------------------------------------------------- */

static gboolean
format_error(GError **error, const VfSafetensors *st, const char *tensor, const char *format, ...)
  G_GNUC_PRINTF(4, 5);

static gboolean
format_error(GError **error, const VfSafetensors *st, const char *tensor, const char *format, ...)
{
  va_list ap;
  va_start(ap, format);
  g_autofree char *what = g_strdup_vprintf(format, ap);
  va_end(ap);
  if (tensor)
    g_set_error(error, VF_SAFETENSORS_ERROR, VF_SAFETENSORS_ERROR_FORMAT, "%s: tensor '%s': %s", st->path,
                tensor, what);
  else
    g_set_error(error, VF_SAFETENSORS_ERROR, VF_SAFETENSORS_ERROR_FORMAT, "%s: %s", st->path, what);
  return FALSE;
}

/* A JSON integer >= 0 (json-glib keeps integers as gint64; a float or string is not an integer here). */
static gboolean
json_to_u64(JsonNode *node, uint64_t *out)
{
  if (!node || !JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64)
    return FALSE;
  gint64 v = json_node_get_int(node);
  if (v < 0)
    return FALSE;
  *out = (uint64_t)v;
  return TRUE;
}

static gboolean
parse_metadata(VfSafetensors *st, JsonNode *node, GError **error)
{
  if (!JSON_NODE_HOLDS_OBJECT(node))
    return format_error(error, st, NULL, "\"__metadata__\" is not an object");
  JsonObject *obj = json_node_get_object(node);
  g_autoptr(GList) members = json_object_get_members(obj);
  for (GList *m = members; m; m = m->next) {
    JsonNode *v = json_object_get_member(obj, m->data);
    if (!JSON_NODE_HOLDS_VALUE(v) || json_node_get_value_type(v) != G_TYPE_STRING)
      return format_error(error, st, NULL, "\"__metadata__\" entry '%s' is not a string", (const char *)m->data);
    g_hash_table_insert(st->metadata, g_strdup(m->data), g_strdup(json_node_get_string(v)));
  }
  return TRUE;
}

/* Fills `t` from one header entry and checks it on its own (dtype known, shape and offsets well formed,
 * byte count consistent, bytes inside the data area). */
static gboolean
parse_tensor(VfSafetensors *st, const char *name, JsonNode *node, uint64_t data_size, VfTensor *t,
             GError **error)
{
  t->name = name;
  t->path = st->path;
  if (!JSON_NODE_HOLDS_OBJECT(node))
    return format_error(error, st, name, "the header entry is not an object");
  JsonObject *obj = json_node_get_object(node);

  JsonNode *dtype = json_object_get_member(obj, "dtype");
  if (!dtype || !JSON_NODE_HOLDS_VALUE(dtype) || json_node_get_value_type(dtype) != G_TYPE_STRING)
    return format_error(error, st, name, "\"dtype\" is missing or not a string");
  if (!dtype_from_name(json_node_get_string(dtype), &t->dtype)) {
    g_set_error(error, VF_SAFETENSORS_ERROR, VF_SAFETENSORS_ERROR_DTYPE, "%s: tensor '%s': unknown dtype \"%s\"",
                st->path, name, json_node_get_string(dtype));
    return FALSE;
  }

  JsonNode *shape = json_object_get_member(obj, "shape");
  if (!shape || !JSON_NODE_HOLDS_ARRAY(shape))
    return format_error(error, st, name, "\"shape\" is missing or not an array");
  JsonArray *dims = json_node_get_array(shape);
  if (json_array_get_length(dims) > VF_TENSOR_MAX_RANK)
    return format_error(error, st, name, "rank %u is more than %d", json_array_get_length(dims),
                        VF_TENSOR_MAX_RANK);
  t->rank = json_array_get_length(dims);
  /* Element count in bits, guarding every multiplication against overflow. */
  uint64_t bits = vf_st_dtype_bits(t->dtype);
  for (uint32_t i = 0; i < t->rank; i++) {
    if (!json_to_u64(json_array_get_element(dims, i), &t->shape[i]))
      return format_error(error, st, name, "shape entry %u is not a non-negative integer", i);
    if (__builtin_mul_overflow(bits, t->shape[i], &bits))
      return format_error(error, st, name, "shape is too large");
  }
  if (bits % 8)
    return format_error(error, st, name, "%s shape does not fill whole bytes", vf_st_dtype_name(t->dtype));

  JsonNode *offsets = json_object_get_member(obj, "data_offsets");
  uint64_t begin, end;
  if (!offsets || !JSON_NODE_HOLDS_ARRAY(offsets) || json_array_get_length(json_node_get_array(offsets)) != 2 ||
      !json_to_u64(json_array_get_element(json_node_get_array(offsets), 0), &begin) ||
      !json_to_u64(json_array_get_element(json_node_get_array(offsets), 1), &end))
    return format_error(error, st, name, "\"data_offsets\" is not two non-negative integers");
  if (end < begin)
    return format_error(error, st, name, "data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT "] end before begin",
                        (guint64)begin, (guint64)end);
  if (end > data_size)
    return format_error(error, st, name,
                        "data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT "] run past the end of the "
                        "data area (%" G_GUINT64_FORMAT " bytes; is the file truncated?)",
                        (guint64)begin, (guint64)end, (guint64)data_size);
  if (end - begin != bits / 8) {
    g_autofree char *s = vf_shape_string(t->rank, t->shape);
    return format_error(error, st, name,
                        "holds %" G_GUINT64_FORMAT " bytes but %s %s needs %" G_GUINT64_FORMAT,
                        (guint64)(end - begin), vf_st_dtype_name(t->dtype), s, (guint64)(bits / 8));
  }
  t->data = st->map + (st->map_size - data_size) + begin;
  t->fd = st->fd;
  t->file_offset = (uint64_t)(t->data - st->map);
  t->size = end - begin;
  return TRUE;
}

static int
compare_by_offset(const void *a, const void *b)
{
  const VfTensor *x = a, *y = b;
  if (x->data != y->data)
    return x->data < y->data ? -1 : 1;
  return x->size < y->size ? -1 : x->size > y->size;
}

static gboolean
parse_header(VfSafetensors *st, const char *json, uint64_t json_size, uint64_t data_size, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable();
  g_autoptr(GError) parse_error = NULL;
  if (!json_parser_load_from_data(parser, json, (gssize)json_size, &parse_error))
    return format_error(error, st, NULL, "the header is not valid JSON: %s", parse_error->message);
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root))
    return format_error(error, st, NULL, "the header is not a JSON object");
  JsonObject *obj = json_node_get_object(root);

  g_autoptr(GList) members = json_object_get_members(obj);
  uint32_t n = g_list_length(members);
  st->tensors = g_new0(VfTensor, n ? n : 1);
  for (GList *m = members; m; m = m->next) {
    const char *name = m->data;
    JsonNode *node = json_object_get_member(obj, name);
    if (strcmp(name, "__metadata__") == 0) {
      if (!parse_metadata(st, node, error))
        return FALSE;
      continue;
    }
    /* The name is kept by the tensor; the hash table borrows it. */
    VfTensor *t = &st->tensors[st->count];
    if (!parse_tensor(st, g_strdup(name), node, data_size, t, error)) {
      g_free((char *)t->name);
      t->name = NULL;
      return FALSE;
    }
    st->count++;
  }

  /* No two tensors may share bytes: sort by start and compare neighbours. Empty tensors own no bytes. */
  qsort(st->tensors, st->count, sizeof *st->tensors, compare_by_offset);
  const VfTensor *prev = NULL;
  for (uint32_t i = 0; i < st->count; i++) {
    const VfTensor *t = &st->tensors[i];
    if (t->size == 0)
      continue;
    if (prev && t->data < prev->data + prev->size)
      return format_error(error, st, t->name, "its bytes overlap those of tensor '%s'", prev->name);
    prev = t;
  }
  for (uint32_t i = 0; i < st->count; i++)
    g_hash_table_insert(st->by_name, (gpointer)st->tensors[i].name, &st->tensors[i]);
  return TRUE;
}

/* ---- opening ------------------------------------------------------------------------------------- */

VfSafetensors *
vf_safetensors_open(const char *path, GError **error)
{
  VfSafetensors *st = g_new0(VfSafetensors, 1);
  st->fd = -1;
  st->path = g_strdup(path);
  st->by_name = g_hash_table_new(g_str_hash, g_str_equal);
  st->metadata = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

  int fd = st->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    g_set_error(error, VF_SAFETENSORS_ERROR, VF_SAFETENSORS_ERROR_IO, "%s: cannot open: %s", path, g_strerror(e));
    goto fail;
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    g_set_error(error, VF_SAFETENSORS_ERROR, VF_SAFETENSORS_ERROR_IO, "%s: not a regular file", path);
    goto fail;
  }
  st->map_size = (uint64_t)sb.st_size;
  if (st->map_size < 8) {
    g_set_error(error, VF_SAFETENSORS_ERROR, VF_SAFETENSORS_ERROR_FORMAT,
                "%s: truncated: %" G_GUINT64_FORMAT " bytes, less than the 8-byte header length", path,
                (guint64)st->map_size);
    goto fail;
  }
  void *map = mmap(NULL, st->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
  int map_errno = errno;
  if (map == MAP_FAILED) {
    g_set_error(error, VF_SAFETENSORS_ERROR, VF_SAFETENSORS_ERROR_IO, "%s: cannot map: %s", path,
                g_strerror(map_errno));
    goto fail;
  }
  st->map = map;

  uint64_t header_size = 0;
  for (int i = 7; i >= 0; i--)
    header_size = header_size << 8 | st->map[i];
  if (header_size > st->map_size - 8) {
    format_error(error, st, NULL,
                 "header length %" G_GUINT64_FORMAT " runs past the end of the file (%" G_GUINT64_FORMAT
                 " bytes; is the file truncated?)",
                 (guint64)header_size, (guint64)st->map_size);
    goto fail;
  }
  if (header_size > MAX_HEADER_BYTES) {
    format_error(error, st, NULL, "header length %" G_GUINT64_FORMAT " is more than %llu bytes",
                 (guint64)header_size, MAX_HEADER_BYTES);
    goto fail;
  }
  if (!parse_header(st, (const char *)st->map + 8, header_size, st->map_size - 8 - header_size, error))
    goto fail;
  return st;

fail:
  vf_safetensors_free(st);
  return NULL;
}

void
vf_safetensors_free(VfSafetensors *st)
{
  if (!st)
    return;
  if (st->map)
    munmap((void *)st->map, st->map_size);
  if (st->fd >= 0)
    close(st->fd);
  for (uint32_t i = 0; i < st->count; i++)
    g_free((char *)st->tensors[i].name);
  g_free(st->tensors);
  g_hash_table_destroy(st->by_name);
  g_hash_table_destroy(st->metadata);
  g_free(st->path);
  g_free(st);
}

const char *vf_safetensors_path(const VfSafetensors *st) { return st->path; }
uint32_t vf_safetensors_count(const VfSafetensors *st) { return st->count; }

const VfTensor *
vf_safetensors_tensor(const VfSafetensors *st, uint32_t index)
{
  g_return_val_if_fail(index < st->count, NULL);
  return &st->tensors[index];
}

const VfTensor *
vf_safetensors_find(const VfSafetensors *st, const char *name)
{
  return g_hash_table_lookup(st->by_name, name);
}

const char *
vf_safetensors_metadata(const VfSafetensors *st, const char *key)
{
  return g_hash_table_lookup(st->metadata, key);
}

void
vf_safetensors_advise_sequential(const VfSafetensors *st)
{
  if (st->map)
    madvise((void *)st->map, st->map_size, MADV_SEQUENTIAL);
  if (st->fd >= 0)
    posix_fadvise(st->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
}

gboolean
vf_tensor_read(const VfTensor *t, uint64_t offset, void *dst, uint64_t n, GError **error)
{
  g_assert(offset <= t->size && n <= t->size - offset);
  uint8_t *out = dst;
  for (uint64_t done = 0; done < n;) {
    ssize_t got = pread(t->fd, out + done, MIN(n - done, 1ull << 30), (off_t)(t->file_offset + offset + done));
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0) {
      int e = got < 0 ? errno : 0;
      struct stat sb;
      uint64_t now = fstat(t->fd, &sb) == 0 ? (uint64_t)sb.st_size : 0;
      if (e)
        g_set_error(error, VF_SAFETENSORS_ERROR, VF_SAFETENSORS_ERROR_IO, "%s: tensor '%s': cannot read: %s", t->path,
                    t->name, g_strerror(e));
      else
        g_set_error(error, VF_SAFETENSORS_ERROR, VF_SAFETENSORS_ERROR_IO,
                    "%s: tensor '%s': the file ends at byte %" G_GUINT64_FORMAT " but the tensor's data runs to byte "
                    "%" G_GUINT64_FORMAT " (was the file changed or truncated during the load?)",
                    t->path, t->name, (guint64)now, (guint64)(t->file_offset + t->size));
      return FALSE;
    }
    done += (uint64_t)got;
  }
  return TRUE;
}
