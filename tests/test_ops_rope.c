/* vf_op_rope against its double-precision reference, with the host tables of model/vf_rope.c. */
#include <math.h>
#include <string.h>

#include "ref/ref_rope.h"
#include "vf_rope.h"
#include "vf_test.h"

#define U 0x1p-24 /* unit roundoff of f32 */

typedef struct {
  const char *name;
  gboolean vision;
  uint32_t head_dim;
  uint32_t sections[3];
  uint32_t q_heads, kv_heads; /* the row holds q, k, v: (q_heads + 2·kv_heads)·head_dim floats */
  uint32_t pad;               /* extra floats at the end of each row */
  uint32_t rows;
  uint32_t max_position;      /* table rows: LLM max_position or vision max_side */
} RopeCase;

static void
check_rope(const RopeCase *c)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VfRopeTables) t = c->vision ? vf_rope_tables_vision(10000.0f, c->head_dim, c->max_position, &error)
                                        : vf_rope_tables_llm(1000000.0f, c->head_dim, c->max_position, &error);
  g_assert_no_error(error);
  uint32_t heads = c->q_heads + c->kv_heads; /* q and k are rotated, v is not */
  uint32_t stride = (c->q_heads + 2 * c->kv_heads) * c->head_dim + c->pad;
  size_t n = (size_t)c->rows * stride;
  uint32_t f = c->head_dim / 2;

  g_autofree float *x = vf_test_random(n, -4, 4, c->head_dim * 31 + c->rows);
  /* Positions: random over the whole table, with its first and last row in every stream. */
  g_autofree int32_t *pos = g_new(int32_t, 3 * c->rows);
  g_autofree float *rnd = vf_test_random(3 * c->rows, 0, 1, c->rows);
  for (uint32_t i = 0; i < 3 * c->rows; i++)
    pos[i] = (int32_t)(rnd[i] * c->max_position) % (int32_t)c->max_position;
  for (uint32_t s = 0; s < 3; s++) {
    pos[s * c->rows] = 0;
    pos[s * c->rows + c->rows - 1] = (int32_t)c->max_position - 1;
  }

  g_autofree float *want = g_memdup2(x, n * 4);
  ref_rope(want, c->rows, stride, heads, c->head_dim, pos, c->sections, t->cos, t->sin);
  /* Each output is a·c ∓ b·s from f32 inputs: two rounded products and a rounded sum, so
   * |error| ≤ 2u·(|a·c| + |b·s|) (an fma only removes a rounding), plus u·|want| for the reference's
   * own rounding to f32. Untouched values (v, padding) must be exact. */
  g_autofree double *tol = g_new0(double, n);
  for (uint32_t r = 0; r < c->rows; r++)
    for (uint32_t j = 0; j < f; j++) {
      int32_t p = pos[ref_rope_stream(c->sections, j) * c->rows + r];
      double cs = fabs((double)t->cos[(size_t)p * f + j]), sn = fabs((double)t->sin[(size_t)p * f + j]);
      for (uint32_t h = 0; h < heads; h++) {
        size_t i = (size_t)r * stride + (size_t)h * c->head_dim + j;
        double a = fabs((double)x[i]), b = fabs((double)x[i + f]);
        tol[i] = 2 * U * (a * cs + b * sn) + U * fabs((double)want[i]) + 1e-37;
        tol[i + f] = 2 * U * (b * cs + a * sn) + U * fabs((double)want[i + f]) + 1e-37;
      }
    }

  size_t table_bytes = (size_t)t->positions * f * 4;
  VfBuffer bx = vf_test_upload(x, n * 4), bp = vf_test_upload(pos, 3 * c->rows * 4);
  VfBuffer bc = vf_test_upload(t->cos, table_bytes), bs = vf_test_upload(t->sin, table_bytes);
  VfCmd *cmd = vf_test_cmd();
  VfRopeShape shape = {.rows = c->rows, .row_stride = stride, .heads = heads, .head_dim = c->head_dim,
                       .max_position = c->max_position};
  memcpy(shape.sections, c->sections, sizeof shape.sections);
  vf_op_rope(cmd, &bx, &shape, &bp, &bc, &bs);
  vf_test_submit(cmd);
  g_autofree float *got = g_new(float, n);
  vf_test_download(&bx, got, n * 4);
  vf_test_assert_within(c->name, got, want, tol, n);
  vf_test_release(&bx);
  vf_test_release(&bp);
  vf_test_release(&bc);
  vf_test_release(&bs);
}

static void
test_rope_llm(void)
{
  /* tiny-a (head_dim 32, 2 q heads, 1 kv head) and the 2B model (head_dim 128, 12 + 2 heads), with q and
   * k side by side in a fused qkv row and v (and padding) after them, positions up to 32767. */
  RopeCase cases[] = {
    {"llm head_dim 32 [4,6,6]", FALSE, 32, {4, 6, 6}, 2, 1, 3, 37, 32768},
    {"llm head_dim 128 [16,24,24]", FALSE, 128, {16, 24, 24}, 12, 2, 0, 19, 32768},
    {"llm head_dim 128, one row", FALSE, 128, {16, 24, 24}, 12, 2, 4, 1, 32768},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
    check_rope(&cases[i]);
}

static void
test_rope_vision(void)
{
  /* The real tower (head_dim 80, 16 heads) and tiny-a's (head_dim 32, 2 heads): q and k rotated, v not. */
  RopeCase cases[] = {
    {"vision head_dim 80 [0,20,20]", TRUE, 80, {0, 20, 20}, 16, 16, 0, 23, 97},
    {"vision head_dim 32 [0,8,8]", TRUE, 32, {0, 8, 8}, 2, 2, 1, 41, 64},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    uint32_t sections[3];
    vf_rope_vision_sections(cases[i].head_dim, sections);
    g_assert_cmpmem(sections, sizeof sections, cases[i].sections, sizeof sections);
    check_rope(&cases[i]);
  }
}

static void
test_rope_windows(void)
{
  /* Rows of 12 Mi floats (48 MiB): three rows exceed one 128 MiB binding, so the rows are rotated in
   * windows, and the second window must find its positions at row_base. */
  RopeCase c = {"llm rows in windows", FALSE, 32, {4, 6, 6}, 2, 1, 12u * 1024 * 1024 - 128, 3, 4096};
  check_rope(&c);
}

static void
test_rope_bad_sections(void)
{
  VfBuffer x = vf_test_upload(NULL, 4096), pos = vf_test_upload(NULL, 64), table = vf_test_upload(NULL, 4096);
  /* sections sum to 15, not 16 */
  VfRopeShape bad = {.rows = 2, .row_stride = 64, .heads = 1, .head_dim = 32, .sections = {4, 6, 5}, .max_position = 8};
  VfCmd *cmd = vf_test_cmd();
  vf_op_rope(cmd, &x, &bad, &pos, &table, &table);
  g_autoptr(GError) error = NULL;
  g_assert_false(vf_cmd_submit(cmd, &error));
  g_assert_nonnull(strstr(error->message, "sections"));
  vf_cmd_free(cmd);
  vf_test_release(&x);
  vf_test_release(&pos);
  vf_test_release(&table);
}

int
main(int argc, char **argv)
{
  vf_test_init(&argc, &argv);
  g_test_add_func("/ops/rope/llm", test_rope_llm);
  g_test_add_func("/ops/rope/vision", test_rope_vision);
  g_test_add_func("/ops/rope/windows", test_rope_windows);
  g_test_add_func("/ops/rope/bad-sections", test_rope_bad_sections);
  return vf_test_finish();
}
