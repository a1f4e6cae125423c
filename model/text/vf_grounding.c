/* Grounding tokens in answers; see vf_grounding.h. */
#define G_LOG_DOMAIN "vf-grounding"

#include "vf_grounding.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define REF_START VF_GROUNDING_REF_START
#define REF_END VF_GROUNDING_REF_END
#define BOX_START VF_GROUNDING_BOX_START
#define BOX_END VF_GROUNDING_BOX_END
#define QUAD_START VF_GROUNDING_QUAD_START
#define QUAD_END VF_GROUNDING_QUAD_END
/* Longer than any special token: a "<|" not closed by "|>" within this many bytes is plain text. */
#define MAX_TOKEN 32

typedef enum {
  IN_TEXT,
  IN_REF,  /* between object_ref_start and object_ref_end: the phrase, shown as text */
  IN_BOX,  /* between box_start and box_end: coordinates */
  IN_QUAD,
} Mode;

struct VfGroundingParser {
  guint n_pictures;
  GString *text;    /* display text */
  GString *pending; /* input not yet decided (a possible token's start) */
  Mode mode;
  GString *coords;  /* inside a box or quad */
  gsize ref_start;  /* IN_REF: where the phrase began in text */
  /* The phrase just before: boxes that follow it (whitespace between allowed) take it as their label. */
  char *label;
  gsize label_start, label_end;
  gsize box_at;     /* where the box sits in text */
  GArray *objects;  /* VfGroundingObject */
};

static void
object_clear(gpointer data)
{
  g_free(((VfGroundingObject *)data)->label);
}

VfGroundingParser *
vf_grounding_parser_new(guint n_pictures)
{
  VfGroundingParser *p = g_new0(VfGroundingParser, 1);
  p->n_pictures = n_pictures;
  p->text = g_string_new(NULL);
  p->pending = g_string_new(NULL);
  p->coords = g_string_new(NULL);
  p->objects = g_array_new(FALSE, TRUE, sizeof(VfGroundingObject));
  g_array_set_clear_func(p->objects, object_clear);
  return p;
}

void
vf_grounding_parser_free(VfGroundingParser *p)
{
  if (!p)
    return;
  g_string_free(p->text, TRUE);
  g_string_free(p->pending, TRUE);
  g_string_free(p->coords, TRUE);
  g_free(p->label);
  g_array_unref(p->objects);
  g_free(p);
}

static void
forget_label(VfGroundingParser *p)
{
  g_clear_pointer(&p->label, g_free);
}

/* Text outside tokens: shown; inside a box it is coordinates. Anything but whitespace between a phrase and
 * a box detaches the phrase. */
static void
take_text(VfGroundingParser *p, const char *s, gsize n)
{
  if (n == 0)
    return;
  if (p->mode == IN_BOX || p->mode == IN_QUAD) {
    g_string_append_len(p->coords, s, (gssize)n);
    return;
  }
  if (p->mode == IN_TEXT)
    for (gsize i = 0; i < n; i++)
      if (!g_ascii_isspace(s[i])) {
        forget_label(p);
        break;
      }
  g_string_append_len(p->text, s, (gssize)n);
}

/* "(x, y), (x, y)…" with exactly n points, each coordinate a number in [0, 1000]. */
static gboolean
parse_points(const char *s, guint n, double *x, double *y)
{
  const char *c = s;
  for (guint i = 0; i < n; i++) {
    while (g_ascii_isspace(*c))
      c++;
    if (i > 0) {
      if (*c++ != ',')
        return FALSE;
      while (g_ascii_isspace(*c))
        c++;
    }
    if (*c++ != '(')
      return FALSE;
    double v[2];
    for (int k = 0; k < 2; k++) {
      while (g_ascii_isspace(*c))
        c++;
      if (!g_ascii_isdigit(*c) && *c != '.')
        return FALSE;
      char *end = NULL;
      v[k] = g_ascii_strtod(c, &end);
      if (end == c || !isfinite(v[k]) || v[k] < 0 || v[k] > 1000)
        return FALSE;
      c = end;
      while (g_ascii_isspace(*c))
        c++;
      if (*c++ != (k == 0 ? ',' : ')'))
        return FALSE;
    }
    x[i] = v[0];
    y[i] = v[1];
  }
  while (g_ascii_isspace(*c))
    c++;
  return *c == 0;
}

/* The picture the text named last ("Picture 2") if it is one of the turn's, else the turn's last. */
static guint
picture_named_last(VfGroundingParser *p)
{
  guint picture = p->n_pictures;
  const char *s = p->text->str;
  for (const char *hit = strstr(s, "Picture "); hit; hit = strstr(hit + 1, "Picture ")) {
    const char *digits = hit + strlen("Picture ");
    if (!g_ascii_isdigit(*digits))
      continue;
    guint64 n = g_ascii_strtoull(digits, NULL, 10);
    if (n >= 1 && n <= p->n_pictures)
      picture = (guint)n;
  }
  return picture;
}

/* A box or quad ends: an object, or (malformed) its coordinates back as text. */
static void
close_shape(VfGroundingParser *p, gboolean closed)
{
  Mode mode = p->mode;
  p->mode = IN_TEXT;
  VfGroundingObject o = {.kind = mode == IN_QUAD ? VF_GROUNDING_QUAD : VF_GROUNDING_BOX};
  guint n = mode == IN_QUAD ? 4 : 2;
  if (closed && parse_points(p->coords->str, n, o.x, o.y)) {
    o.picture = picture_named_last(p);
    if (p->label) {
      o.label = g_strdup(p->label);
      o.text_start = p->label_start;
      o.text_end = p->label_end;
    } else {
      o.text_start = o.text_end = p->box_at;
    }
    g_array_append_val(p->objects, o);
  } else {
    forget_label(p);
    g_string_append_len(p->text, p->coords->str, (gssize)p->coords->len);
  }
  g_string_truncate(p->coords, 0);
}

/* One whole special token. */
static void
take_token(VfGroundingParser *p, const char *token, gsize n)
{
  g_autofree char *t = g_strndup(token, n);
  gboolean in_shape = p->mode == IN_BOX || p->mode == IN_QUAD;
  if (in_shape && g_str_equal(t, p->mode == IN_BOX ? BOX_END : QUAD_END)) {
    close_shape(p, TRUE);
    return;
  }
  if (in_shape) /* any other token inside a box: the box was malformed */
    close_shape(p, FALSE);
  if (g_str_equal(t, REF_START)) {
    p->mode = IN_REF;
    p->ref_start = p->text->len;
    forget_label(p);
  } else if (g_str_equal(t, REF_END) && p->mode == IN_REF) {
    p->mode = IN_TEXT;
    p->label = g_strndup(p->text->str + p->ref_start, p->text->len - p->ref_start);
    p->label_start = p->ref_start;
    p->label_end = p->text->len;
  } else if (g_str_equal(t, BOX_START) || g_str_equal(t, QUAD_START)) {
    if (p->mode == IN_REF) /* a phrase that was never closed ends here */
      p->mode = IN_TEXT;
    p->mode = g_str_equal(t, BOX_START) ? IN_BOX : IN_QUAD;
    p->box_at = p->text->len;
  } else if (g_str_equal(t, REF_END) || g_str_equal(t, BOX_END) || g_str_equal(t, QUAD_END)) {
    /* a closing token with nothing open: dropped, like the others */
  } else {
    take_text(p, token, n); /* not a grounding token: kept as written */
  }
}

/* Decides as much of `pending` as can be decided; at the end (`final`) everything. */
static void
drain(VfGroundingParser *p, gboolean final)
{
  gsize i = 0;
  const char *s = p->pending->str;
  gsize n = p->pending->len;
  while (i < n) {
    const char *open = memchr(s + i, '<', n - i);
    if (!open) {
      take_text(p, s + i, n - i);
      i = n;
      break;
    }
    gsize at = (gsize)(open - s);
    take_text(p, s + i, at - i);
    i = at;
    if (i + 1 >= n) { /* a lone '<' at the end: it may start a token */
      if (!final)
        break;
      take_text(p, s + i, 1);
      i++;
      continue;
    }
    if (s[i + 1] != '|') {
      take_text(p, s + i, 1);
      i++;
      continue;
    }
    const char *close = g_strstr_len(s + i + 2, (gssize)MIN(n - i - 2, MAX_TOKEN), "|>");
    if (close) {
      gsize end = (gsize)(close - s) + 2;
      take_token(p, s + i, end - i);
      i = end;
    } else if (!final && n - i - 2 < MAX_TOKEN) {
      break; /* the window the whole answer would search is not all here yet: wait for the rest */
    } else {
      take_text(p, s + i, 2);
      i += 2;
    }
  }
  g_string_erase(p->pending, 0, (gssize)i);
}

void
vf_grounding_parser_feed(VfGroundingParser *p, const char *piece, gssize len)
{
  g_string_append_len(p->pending, piece, len);
  drain(p, FALSE);
}

void
vf_grounding_parser_finish(VfGroundingParser *p)
{
  drain(p, TRUE);
  if (p->mode == IN_BOX || p->mode == IN_QUAD)
    close_shape(p, FALSE);
  p->mode = IN_TEXT;
}

const char *
vf_grounding_parser_text(VfGroundingParser *p, gsize *len)
{
  if (len)
    *len = p->text->len;
  return p->text->str;
}

GArray *
vf_grounding_parser_objects(VfGroundingParser *p)
{
  return p->objects;
}

void
vf_grounding_to_pixels(const VfGroundingObject *o, guint i, guint width, guint height, double *px, double *py)
{
  g_return_if_fail(i < (o->kind == VF_GROUNDING_QUAD ? 4u : 2u));
  *px = o->x[i] / 1000.0 * width;
  *py = o->y[i] / 1000.0 * height;
}
