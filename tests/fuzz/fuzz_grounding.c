/* The grounding parser over any answer text, split into streamed pieces at places the input's first byte
 * picks: whatever the split, the display text and the objects equal those of the answer given whole, every
 * object's phrase lies inside the display text, and its picture is one of the turn's (0..n_pictures). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "vf_grounding.h"

static VfGroundingParser *
parse(const char *text, size_t len, size_t piece, guint n_pictures)
{
  VfGroundingParser *p = vf_grounding_parser_new(n_pictures);
  for (size_t at = 0; at < len; at += piece)
    vf_grounding_parser_feed(p, text + at, (gssize)MIN(piece, len - at));
  vf_grounding_parser_finish(p);
  return p;
}

static gboolean
same_object(const VfGroundingObject *a, const VfGroundingObject *b)
{
  return a->kind == b->kind && g_strcmp0(a->label, b->label) == 0 && a->picture == b->picture &&
         a->text_start == b->text_start && a->text_end == b->text_end &&
         memcmp(a->x, b->x, sizeof a->x) == 0 && memcmp(a->y, b->y, sizeof a->y) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  size_t piece = 1 + data[0] % 17;
  guint n_pictures = data[0] >> 6;
  const char *text = (const char *)data + 1;
  size_t len = size - 1;
  VfGroundingParser *whole = parse(text, len, len ? len : 1, n_pictures);
  VfGroundingParser *pieces = parse(text, len, piece, n_pictures);
  gsize whole_len = 0, pieces_len = 0;
  const char *a = vf_grounding_parser_text(whole, &whole_len);
  const char *b = vf_grounding_parser_text(pieces, &pieces_len);
  GArray *oa = vf_grounding_parser_objects(whole), *ob = vf_grounding_parser_objects(pieces);
  if (whole_len != pieces_len || memcmp(a, b, whole_len) != 0 || oa->len != ob->len) {
    fprintf(stderr, "pieces of %zu bytes parse differently from the whole answer\n", piece);
    abort();
  }
  for (guint i = 0; i < oa->len; i++) {
    const VfGroundingObject *o = &g_array_index(oa, VfGroundingObject, i);
    if (!same_object(o, &g_array_index(ob, VfGroundingObject, i)) || o->text_start > o->text_end ||
        o->text_end > whole_len || o->picture > n_pictures) {
      fprintf(stderr, "object %u differs between splits or lies outside the text\n", i);
      abort();
    }
  }
  vf_grounding_parser_free(whole);
  vf_grounding_parser_free(pieces);
  return 0;
}
