/* Markdown to display text and styled runs. See vf_markdown.h. */
#define G_LOG_DOMAIN "vf-markdown"

#include "vf_markdown.h"

#include <string.h>

typedef struct {
  GString *text;
  GArray *runs;     /* VfMarkdownRun */
  GPtrArray *links; /* char *, shared with the Outs of table cells */
  guint block;      /* the block that emit() adds to */
  gboolean block_used; /* some run already names `block` */
  guint link;       /* what emit() gives run.link */
} Out;

static void
emit(Out *o, const char *s, gsize len, guint style, guint depth)
{
  if (len == 0)
    return;
  guint start = (guint)o->text->len;
  g_string_append_len(o->text, s, (gssize)len);
  o->block_used = TRUE;
  if (o->runs->len > 0) {
    VfMarkdownRun *last = &g_array_index(o->runs, VfMarkdownRun, o->runs->len - 1);
    if (last->style == style && last->list_depth == depth && last->block == o->block && last->link == o->link &&
        last->end == start) {
      last->end = (guint)o->text->len;
      return;
    }
  }
  VfMarkdownRun run = {start, (guint)o->text->len, style, depth, o->block, o->link};
  g_array_append_val(o->runs, run);
}

/* What is emitted from here on belongs to a new block (numbers stay dense: a block without text takes none). */
static void
start_block(Out *o)
{
  if (o->block_used)
    o->block++;
  o->block_used = FALSE;
}

static void
emit_str(Out *o, const char *s, guint style, guint depth)
{
  emit(o, s, strlen(s), style, depth);
}

static gboolean
is_space(char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static gboolean
is_word(char c)
{
  return g_ascii_isalnum(c) || (unsigned char)c >= 0x80;
}

/* ---------------------------------------------------------------------------------------------------
 * Inline: code spans, emphasis, strike, links, escapes
 * ------------------------------------------------------------------------------------------------- */

static void render_inline(Out *o, const char *s, gsize len, guint style, guint depth);

/* Where the closing `delim` of an emphasis opened at `from` is, or -1. A closer is not preceded by
 * white space, is not part of a longer run of the same character (for * and _), and an underscore closer
 * is not followed by a word character. */
static gssize
find_closer(const char *s, gsize len, gsize from, const char *delim)
{
  gsize d = strlen(delim);
  char c = delim[0];
  for (gsize j = from; j + d <= len; j++) {
    if (s[j] == '\\') {
      j++;
      continue;
    }
    if (s[j] == '`') { /* emphasis does not close inside a code span */
      gsize n = 0;
      while (j + n < len && s[j + n] == '`')
        n++;
      for (gsize k = j + n; k + n <= len; k++)
        if (strncmp(s + k, s + j, n) == 0 && (k + n == len || s[k + n] != '`')) {
          j = k + n - 1;
          break;
        }
      continue;
    }
    if (strncmp(s + j, delim, d) != 0)
      continue;
    if (j == from || is_space(s[j - 1]))
      continue;
    if (c != '~' && ((j > 0 && s[j - 1] == c) || (j + d < len && s[j + d] == c)))
      continue;
    if (c == '_' && j + d < len && is_word(s[j + d]))
      continue;
    return (gssize)j;
  }
  return -1;
}

/* Tries emphasis with `delim` at s[i]; on success renders it and returns the index after the closer. */
static gssize
try_emphasis(Out *o, const char *s, gsize len, gsize i, const char *delim, guint add, guint style, guint depth)
{
  gsize d = strlen(delim);
  if (i + d >= len || is_space(s[i + d]))
    return -1;
  if (delim[0] == '_' && i > 0 && is_word(s[i - 1]))
    return -1;
  gssize close = find_closer(s, len, i + d, delim);
  if (close < 0)
    return -1;
  render_inline(o, s + i + d, (gsize)close - i - d, style | add, depth);
  return close + (gssize)d;
}

/* Inline math at s[i]: \( .. \), $$ .. $$, or $ .. $ where the opener is followed and the closer preceded by a
 * non-space and the closer is not followed by a digit (so prices stay text). Returns the index after the closer
 * and the delimiters' lengths, or -1. The content is kept verbatim. */
static gssize
inline_math(const char *s, gsize len, gsize i, gsize *open_len, gsize *close_len)
{
  const char *closer = NULL;
  if (s[i] == '\\' && i + 1 < len && s[i + 1] == '(')
    closer = "\\)";
  else if (s[i] == '$' && i + 1 < len && s[i + 1] == '$')
    closer = "$$";
  else if (s[i] == '$')
    closer = "$";
  else
    return -1;
  gsize n = strlen(closer);
  gsize from = i + n;
  if (from >= len || (n == 1 && is_space(s[from])))
    return -1;
  for (gsize k = from + 1; k + n <= len; k++) {
    if (strncmp(s + k, closer, n) != 0)
      continue;
    if (n == 1 && (is_space(s[k - 1]) || s[k - 1] == '\\' || (k + 1 < len && g_ascii_isdigit(s[k + 1]))))
      continue;
    *open_len = n;
    *close_len = n;
    return (gssize)(k + n);
  }
  return -1;
}

static void
render_inline(Out *o, const char *s, gsize len, guint style, guint depth)
{
  gsize literal = 0; /* start of the pending plain text */
  gsize i = 0;
  while (i < len) {
    char c = s[i];
    gsize math_open = 0, math_close = 0;
    gssize math_end = inline_math(s, len, i, &math_open, &math_close);
    if (math_end >= 0) {
      emit(o, s + literal, i - literal, style, depth);
      emit(o, s + i + math_open, (gsize)math_end - math_close - i - math_open, style | VF_MARKDOWN_MATH, depth);
      i = (gsize)math_end;
      literal = i;
      continue;
    }
    if (c == '\\' && i + 1 < len && g_ascii_ispunct(s[i + 1])) {
      emit(o, s + literal, i - literal, style, depth);
      emit(o, s + i + 1, 1, style, depth);
      i += 2;
      literal = i;
      continue;
    }
    if (c == '`') {
      gsize n = 0;
      while (i + n < len && s[i + n] == '`')
        n++;
      gssize close = -1;
      for (gsize k = i + n; k + n <= len; k++)
        if (strncmp(s + k, s + i, n) == 0 && (k + n == len || s[k + n] != '`') && s[k - 1] != '`') {
          close = (gssize)k;
          break;
        }
      if (close < 0) {
        i += n;
        continue;
      }
      gsize a = i + n, b = (gsize)close;
      /* One space on each side is padding (so a span can start or end with a backtick). */
      if (b - a >= 2 && s[a] == ' ' && s[b - 1] == ' ')
        a++, b--;
      emit(o, s + literal, i - literal, style, depth);
      emit(o, s + a, b - a, style | VF_MARKDOWN_CODE, depth);
      i = (gsize)close + n;
      literal = i;
      continue;
    }
    if (c == '*' || c == '_' || c == '~') {
      gsize n = 0;
      while (i + n < len && s[i + n] == c)
        n++;
      gssize after = -1;
      gsize pending = literal;
      emit(o, s + pending, i - pending, style, depth);
      if (c == '~') {
        if (n == 2)
          after = try_emphasis(o, s, len, i, "~~", VF_MARKDOWN_STRIKE, style, depth);
      } else {
        char three[4] = {c, c, c, 0}, two[3] = {c, c, 0}, one[2] = {c, 0};
        const char *delim = n == 3 ? three : n == 2 ? two : n == 1 ? one : NULL;
        guint add = n == 3 ? VF_MARKDOWN_BOLD | VF_MARKDOWN_ITALIC : n == 2 ? VF_MARKDOWN_BOLD : VF_MARKDOWN_ITALIC;
        if (delim)
          after = try_emphasis(o, s, len, i, delim, add, style, depth);
      }
      if (after < 0) {
        /* Not an opener: the whole run is plain text. */
        literal = i;
        i += n;
        continue;
      }
      i = (gsize)after;
      literal = i;
      continue;
    }
    if (c == '[') {
      const char *close = memchr(s + i + 1, ']', len - i - 1);
      gsize k = close ? (gsize)(close - s) : len;
      if (close && k + 1 < len && s[k + 1] == '(') {
        const char *end = memchr(s + k + 2, ')', len - k - 2);
        if (end) {
          emit(o, s + literal, i - literal, style, depth);
          g_ptr_array_add(o->links, g_strndup(s + k + 2, (gsize)(end - s) - k - 2));
          guint outer_link = o->link;
          o->link = o->links->len;
          render_inline(o, s + i + 1, k - i - 1, style | VF_MARKDOWN_LINK, depth);
          o->link = outer_link;
          i = (gsize)(end - s) + 1;
          literal = i;
          continue;
        }
      }
    }
    i++;
  }
  emit(o, s + literal, len - literal, style, depth);
}

/* ---------------------------------------------------------------------------------------------------
 * Blocks
 * ------------------------------------------------------------------------------------------------- */

/* Columns of leading white space (a tab counts 4) and the bytes it takes. */
static guint
indentation(const char *line, gsize *bytes)
{
  guint col = 0;
  gsize i = 0;
  for (; line[i] == ' ' || line[i] == '\t'; i++)
    col += line[i] == '\t' ? 4 - col % 4 : 1;
  if (bytes)
    *bytes = i;
  return col;
}

static gboolean
is_blank(const char *line)
{
  for (; *line; line++)
    if (!is_space(*line))
      return FALSE;
  return TRUE;
}

/* ``` or ~~~ (3 or more) after at most 3 spaces: the fence character and length. */
static gboolean
is_fence(const char *line, char *fence_char, gsize *fence_len)
{
  gsize skip;
  if (indentation(line, &skip) > 3)
    return FALSE;
  char c = line[skip];
  if (c != '`' && c != '~')
    return FALSE;
  gsize n = 0;
  while (line[skip + n] == c)
    n++;
  if (n < 3)
    return FALSE;
  *fence_char = c;
  *fence_len = n;
  return TRUE;
}

static gboolean
is_closing_fence(const char *line, char fence_char, gsize fence_len)
{
  char c;
  gsize n;
  if (!is_fence(line, &c, &n) || c != fence_char || n < fence_len)
    return FALSE;
  gsize skip;
  indentation(line, &skip);
  return is_blank(line + skip + n);
}

static gboolean
is_rule(const char *line)
{
  gsize skip;
  if (indentation(line, &skip) > 3)
    return FALSE;
  char c = line[skip];
  if (c != '-' && c != '*' && c != '_')
    return FALSE;
  guint count = 0;
  for (const char *p = line + skip; *p; p++) {
    if (*p == c)
      count++;
    else if (!is_space(*p))
      return FALSE;
  }
  return count >= 3;
}

/* "# Title" → level 1..6 and the title's bytes (closing #s removed). */
static guint
heading_level(const char *line, const char **title, gsize *title_len)
{
  gsize skip;
  if (indentation(line, &skip) > 3)
    return 0;
  const char *p = line + skip;
  guint level = 0;
  while (p[level] == '#')
    level++;
  if (level == 0 || level > 6 || (p[level] != ' ' && p[level] != '\t' && p[level] != 0))
    return 0;
  const char *start = p + level;
  while (*start == ' ' || *start == '\t')
    start++;
  const char *end = start + strlen(start);
  while (end > start && is_space(end[-1]))
    end--;
  /* An optional closing sequence of #s, preceded by a space. */
  const char *hashes = end;
  while (hashes > start && hashes[-1] == '#')
    hashes--;
  if (hashes < end && (hashes == start || hashes[-1] == ' ')) {
    end = hashes;
    while (end > start && is_space(end[-1]))
      end--;
  }
  *title = start;
  *title_len = (gsize)(end - start);
  return level;
}

/* A list item: its indentation, marker ("-", "12.") and where its text starts. */
static gboolean
list_item(const char *line, guint *indent, const char **marker, gsize *marker_len, const char **content)
{
  gsize skip;
  guint col = indentation(line, &skip);
  const char *p = line + skip;
  gsize n = 0;
  if (*p == '-' || *p == '*' || *p == '+') {
    n = 1;
  } else {
    while (g_ascii_isdigit(p[n]) && n < 9)
      n++;
    if (n == 0 || (p[n] != '.' && p[n] != ')'))
      return FALSE;
    n++;
  }
  if (p[n] != ' ' && p[n] != '\t' && p[n] != 0)
    return FALSE;
  *indent = col;
  *marker = p;
  *marker_len = n;
  const char *text = p + n;
  while (*text == ' ' || *text == '\t')
    text++;
  *content = text;
  return TRUE;
}

/* ---------------------------------------------------------------------------------------------------
 * Tables
 * ------------------------------------------------------------------------------------------------- */

typedef enum { ALIGN_LEFT, ALIGN_CENTER, ALIGN_RIGHT } Align;

/* The cells of "| a | b |" (outer pipes optional, "\|" kept inside a cell), trimmed. */
static GPtrArray *
split_row(const char *line)
{
  GPtrArray *cells = g_ptr_array_new_with_free_func(g_free);
  const char *p = line;
  while (is_space(*p))
    p++;
  if (*p == '|')
    p++;
  const char *end = p + strlen(p);
  while (end > p && is_space(end[-1]))
    end--;
  if (end > p && end[-1] == '|' && (end - 1 == p || end[-2] != '\\'))
    end--;
  const char *cell = p;
  gboolean in_code = FALSE;
  for (const char *q = p;; q++) {
    if (q < end && *q == '`')
      in_code = !in_code;
    if (q == end || (*q == '|' && !in_code && (q == p || q[-1] != '\\'))) {
      g_autofree char *raw = g_strndup(cell, (gsize)(q - cell));
      g_ptr_array_add(cells, g_strdup(g_strstrip(raw)));
      if (q == end)
        break;
      cell = q + 1;
    }
  }
  return cells;
}

/* "|:---|---:|:-:|": one alignment per column, or NULL when the line is not a delimiter row. */
static GArray *
delimiter_row(const char *line)
{
  if (!strchr(line, '-'))
    return NULL;
  g_autoptr(GPtrArray) cells = split_row(line);
  g_autoptr(GArray) aligns = g_array_new(FALSE, FALSE, sizeof(Align));
  for (guint i = 0; i < cells->len; i++) {
    const char *c = cells->pdata[i];
    gsize n = strlen(c);
    gboolean left = n > 0 && c[0] == ':', right = n > 0 && c[n - 1] == ':';
    gsize dashes = 0;
    for (gsize k = left; k < n - right; k++) {
      if (c[k] != '-')
        return NULL;
      dashes++;
    }
    if (dashes == 0)
      return NULL;
    Align a = left && right ? ALIGN_CENTER : right ? ALIGN_RIGHT : ALIGN_LEFT;
    g_array_append_val(aligns, a);
  }
  return g_steal_pointer(&aligns);
}

/* Display width in terminal columns (wide East Asian characters count 2, combining marks 0). */
static guint
display_width(const char *s, gsize len)
{
  guint width = 0;
  for (const char *p = s; p < s + len; p = g_utf8_next_char(p)) {
    gunichar ch = g_utf8_get_char(p);
    width += g_unichar_iszerowidth(ch) ? 0 : g_unichar_iswide(ch) ? 2 : 1;
  }
  return width;
}

static void
emit_spaces(Out *o, guint n, guint style)
{
  for (guint i = 0; i < n; i++)
    emit(o, " ", 1, style, 0);
}

/* Renders rows (GPtrArray of cell arrays; row 0 is the header) as aligned monospace lines. */
static void
render_table(Out *o, GPtrArray *rows, GArray *aligns)
{
  guint ncols = aligns->len;
  g_autofree guint *widths = g_new0(guint, ncols);
  /* Each cell rendered once, into its own Out, to measure and then copy. */
  g_autoptr(GPtrArray) rendered = g_ptr_array_new();
  for (guint r = 0; r < rows->len; r++) {
    GPtrArray *cells = rows->pdata[r];
    for (guint c = 0; c < ncols; c++) {
      Out *cell = g_new0(Out, 1);
      cell->text = g_string_new(NULL);
      cell->runs = g_array_new(FALSE, FALSE, sizeof(VfMarkdownRun));
      cell->links = o->links;
      const char *src = c < cells->len ? cells->pdata[c] : "";
      guint base = VF_MARKDOWN_TABLE | (r == 0 ? VF_MARKDOWN_TABLE_HEADER : 0);
      render_inline(cell, src, strlen(src), base, 0);
      widths[c] = MAX(widths[c], display_width(cell->text->str, cell->text->len));
      g_ptr_array_add(rendered, cell);
    }
  }
  for (guint r = 0; r < rows->len; r++) {
    guint base = VF_MARKDOWN_TABLE | (r == 0 ? VF_MARKDOWN_TABLE_HEADER : 0);
    for (guint c = 0; c < ncols; c++) {
      Out *cell = rendered->pdata[r * ncols + c];
      guint pad = widths[c] - display_width(cell->text->str, cell->text->len);
      Align a = g_array_index(aligns, Align, c);
      guint before = a == ALIGN_RIGHT ? pad : a == ALIGN_CENTER ? pad / 2 : 0;
      if (c > 0)
        emit_str(o, " │ ", VF_MARKDOWN_TABLE, 0);
      emit_spaces(o, before, base);
      for (guint k = 0; k < cell->runs->len; k++) {
        const VfMarkdownRun *run = &g_array_index(cell->runs, VfMarkdownRun, k);
        o->link = run->link;
        emit(o, cell->text->str + run->start, run->end - run->start, run->style, 0);
        o->link = 0;
      }
      /* No trailing padding on the last column. */
      if (c + 1 < ncols)
        emit_spaces(o, pad - before, base);
    }
    emit_str(o, "\n", VF_MARKDOWN_TABLE, 0);
    if (r == 0) {
      for (guint c = 0; c < ncols; c++) {
        if (c > 0)
          emit_str(o, "─┼─", VF_MARKDOWN_TABLE, 0);
        for (guint k = 0; k < widths[c]; k++)
          emit_str(o, "─", VF_MARKDOWN_TABLE, 0);
      }
      emit_str(o, "\n", VF_MARKDOWN_TABLE, 0);
    }
  }
  for (guint i = 0; i < rendered->len; i++) {
    Out *cell = rendered->pdata[i];
    g_string_free(cell->text, TRUE);
    g_array_unref(cell->runs);
    g_free(cell);
  }
}

/* ---------------------------------------------------------------------------------------------------
 * Document
 * ------------------------------------------------------------------------------------------------- */

static const char *const bullets[] = {"• ", "◦ ", "▪ "};

/* The closing delimiter of display math opened by `line` ("$$" or "\\]"), or NULL. */
static const char *
display_math_closer(const char *line)
{
  gsize skip;
  if (indentation(line, &skip) > 3)
    return NULL;
  if (g_str_has_prefix(line + skip, "$$"))
    return "$$";
  if (g_str_has_prefix(line + skip, "\\["))
    return "\\]";
  return NULL;
}

/* How many lines, from lines[i], a display-math block takes ($$ .. $$ or \[ .. \], on one line or several
 * with the closer ending the last), or 0 when there is none or it is not closed yet (then it is text). */
static guint
display_math(char **lines, guint n, guint i)
{
  const char *closer = display_math_closer(lines[i]);
  if (!closer)
    return 0;
  gsize skip;
  indentation(lines[i], &skip);
  const char *after_open = lines[i] + skip + 2;
  g_autofree char *first = g_strstrip(g_strdup(after_open));
  if (strlen(first) >= 2 && g_str_has_suffix(first, closer))
    return 1;
  for (guint k = i + 1; k < n; k++) {
    g_autofree char *line = g_strstrip(g_strdup(lines[k]));
    if (g_str_has_suffix(line, closer))
      return k - i + 1;
  }
  return 0;
}

/* The lines of display math without their delimiters, blank ones dropped. */
static void
render_display_math(Out *o, char **lines, guint count)
{
  for (guint k = 0; k < count; k++) {
    g_autofree char *line = g_strstrip(g_strdup(lines[k]));
    char *text = line;
    if (k == 0)
      text += 2;
    gsize len = strlen(text);
    if (k + 1 == count)
      len -= 2;
    g_autofree char *content = g_strstrip(g_strndup(text, len));
    if (*content == 0)
      continue;
    emit_str(o, content, VF_MARKDOWN_MATH_BLOCK, 0);
    emit_str(o, "\n", VF_MARKDOWN_MATH_BLOCK, 0);
  }
}

VfMarkdown *
vf_markdown_render(const char *markdown)
{
  Out o = {.text = g_string_new(NULL),
           .runs = g_array_new(FALSE, FALSE, sizeof(VfMarkdownRun)),
           .links = g_ptr_array_new_with_free_func(g_free)};
  g_auto(GStrv) lines = g_strsplit(markdown ? markdown : "", "\n", -1);
  guint n = g_strv_length(lines);
  for (guint i = 0; i < n; i++) {
    gsize len = strlen(lines[i]);
    if (len > 0 && lines[i][len - 1] == '\r')
      lines[i][len - 1] = 0;
  }

  gboolean in_fence = FALSE;
  char fence_char = 0;
  gsize fence_len = 0;
  guint fence_indent = 0;
  gboolean blank_pending = FALSE;
  /* The style of the paragraph or quote that the next plain (or quoted) line continues; -1: none. */
  gint continues = -1;
  /* Indentation of the open list items, outermost first. */
  g_autoptr(GArray) list = g_array_new(FALSE, FALSE, sizeof(guint));

  for (guint i = 0; i < n; i++) {
    const char *line = lines[i];
    if (in_fence) {
      if (is_closing_fence(line, fence_char, fence_len)) {
        in_fence = FALSE;
        continue;
      }
      /* Code lines lose at most the fence's own indentation. */
      gsize skip = 0;
      while (skip < fence_indent && line[skip] == ' ')
        skip++;
      emit_str(&o, line + skip, VF_MARKDOWN_CODE_BLOCK, 0);
      emit_str(&o, "\n", VF_MARKDOWN_CODE_BLOCK, 0);
      continue;
    }
    if (is_blank(line)) {
      blank_pending = o.text->len > 0;
      continues = -1;
      continue;
    }
    if (blank_pending)
      emit_str(&o, "\n", 0, 0);
    blank_pending = FALSE;
    gint continued = continues;
    continues = -1;

    guint math_lines = display_math(lines, n, i);
    if (math_lines) {
      start_block(&o);
      render_display_math(&o, lines + i, math_lines);
      i += math_lines - 1;
      g_array_set_size(list, 0);
      continue;
    }

    if (is_fence(line, &fence_char, &fence_len)) {
      start_block(&o);
      in_fence = TRUE;
      fence_indent = indentation(line, NULL);
      g_array_set_size(list, 0);
      continue;
    }

    const char *title;
    gsize title_len;
    guint level = heading_level(line, &title, &title_len);
    if (level) {
      start_block(&o);
      guint style = level == 1 ? VF_MARKDOWN_HEADING1 : level == 2 ? VF_MARKDOWN_HEADING2 : VF_MARKDOWN_HEADING3;
      render_inline(&o, title, title_len, style, 0);
      emit_str(&o, "\n", style, 0);
      g_array_set_size(list, 0);
      continue;
    }

    if (is_rule(line)) {
      start_block(&o);
      emit_str(&o, "────────\n", VF_MARKDOWN_RULE, 0);
      g_array_set_size(list, 0);
      continue;
    }

    g_autoptr(GArray) aligns = strchr(line, '|') && i + 1 < n && strchr(lines[i + 1], '|')
                                 ? delimiter_row(lines[i + 1])
                                 : NULL;
    g_autoptr(GPtrArray) header = aligns ? split_row(line) : NULL;
    if (aligns && header->len == aligns->len) {
      g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_ptr_array_unref);
      g_ptr_array_add(rows, g_steal_pointer(&header));
      guint k = i + 2;
      for (; k < n && !is_blank(lines[k]) && strchr(lines[k], '|'); k++)
        g_ptr_array_add(rows, split_row(lines[k]));
      start_block(&o);
      render_table(&o, rows, aligns);
      i = k - 1;
      g_array_set_size(list, 0);
      continue;
    }

    gsize skip;
    guint col = indentation(line, &skip);
    if (line[skip] == '>' && col <= 3) {
      const char *p = line + skip;
      while (*p == '>' || *p == ' ')
        p++;
      if (continued != VF_MARKDOWN_QUOTE)
        start_block(&o);
      continues = VF_MARKDOWN_QUOTE;
      render_inline(&o, p, strlen(p), VF_MARKDOWN_QUOTE, 0);
      emit_str(&o, "\n", VF_MARKDOWN_QUOTE, 0);
      g_array_set_size(list, 0);
      continue;
    }

    guint indent;
    const char *marker, *content;
    gsize marker_len;
    if (list_item(line, &indent, &marker, &marker_len, &content)) {
      while (list->len > 0 && indent < g_array_index(list, guint, list->len - 1))
        g_array_set_size(list, list->len - 1);
      if (list->len == 0 || indent > g_array_index(list, guint, list->len - 1))
        g_array_append_val(list, indent);
      guint depth = list->len;
      start_block(&o);
      if (g_ascii_isdigit(marker[0])) {
        emit(&o, marker, marker_len - 1, VF_MARKDOWN_BULLET, depth);
        emit_str(&o, ". ", VF_MARKDOWN_BULLET, depth);
      } else {
        emit_str(&o, bullets[(depth - 1) % G_N_ELEMENTS(bullets)], VF_MARKDOWN_BULLET, depth);
      }
      render_inline(&o, content, strlen(content), 0, depth);
      emit_str(&o, "\n", 0, depth);
      continue;
    }

    /* An indented line under a list item continues that item; anything else ends the list. */
    guint depth = 0;
    if (list->len > 0 && col > 0) {
      depth = list->len; /* the item's block goes on */
    } else {
      g_array_set_size(list, 0);
      if (continued != 0)
        start_block(&o);
      continues = 0;
    }
    render_inline(&o, line + skip, strlen(line + skip), 0, depth);
    emit_str(&o, "\n", 0, depth);
  }

  /* The last line's newline is not part of the display. */
  while (o.text->len > 0 && o.text->str[o.text->len - 1] == '\n') {
    g_string_truncate(o.text, o.text->len - 1);
    VfMarkdownRun *last = &g_array_index(o.runs, VfMarkdownRun, o.runs->len - 1);
    if (--last->end == last->start)
      g_array_set_size(o.runs, o.runs->len - 1);
  }
  VfMarkdown *md = g_new0(VfMarkdown, 1);
  md->text = g_string_free(o.text, FALSE);
  md->runs = o.runs;
  md->links = o.links;
  return md;
}

void
vf_markdown_free(VfMarkdown *md)
{
  if (!md)
    return;
  g_free(md->text);
  g_array_unref(md->runs);
  g_ptr_array_unref(md->links);
  g_free(md);
}
