/* A small Markdown renderer for answers: Markdown in, display text plus styled runs out. It knows no GTK
 * (VfMarkdownView turns the runs into GtkTextTags), so it is tested as a unit.
 *
 *   g_autoptr(VfMarkdown) md = vf_markdown_render("## Result\nThe cat is **asleep**.");
 *   md->text                      "Result\nThe cat is asleep."
 *   runs                          [0,6) HEADING2   [6,18) plain   [18,24) BOLD   [24,25) plain
 *
 * Supported, line by line as a chat answer streams in (an unfinished construct shows as plain text until
 * it is closed; an unclosed code fence runs to the end):
 *   # .. ######  headings (levels 1, 2 and 3+)     ```lang / ~~~  fenced code blocks (text kept verbatim)
 *   - * +  and  1. 1)  list items, nested by indentation ("•", "◦", "▪" bullets; numbers kept as written)
 *   > quote      ---  *** ___ rules ("────────")   | a | b |  tables with a |---| delimiter row, laid out
 *   in aligned monospace columns (" │ " between cells, "─┼─" under the header)
 *   $$ .. $$  \[ .. \]  display math (its own block, shown as monospace: answers are read, not typeset)
 *   inline: **bold** __bold__ *italic* _italic_ ***both*** ~~strike~~ `code` [text](url), math \( .. \) and
 *   $..$ (no space inside the dollars, none followed by a digit, so "$5 and $6" stays text) and \-escapes.
 * Line breaks are kept as written (answers use them deliberately); runs of blank lines become one.
 *
 * Every run also names its block (a paragraph, heading, list item, quote, table, code block, rule or display
 * math), numbered in order from 0, so a view can give each block its own widget. A separating blank line's
 * "\n" belongs to the block before it. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  VF_MARKDOWN_BOLD = 1 << 0,
  VF_MARKDOWN_ITALIC = 1 << 1,
  VF_MARKDOWN_STRIKE = 1 << 2,
  VF_MARKDOWN_CODE = 1 << 3,       /* inline code */
  VF_MARKDOWN_CODE_BLOCK = 1 << 4, /* a fenced block's lines */
  VF_MARKDOWN_HEADING1 = 1 << 5,
  VF_MARKDOWN_HEADING2 = 1 << 6,
  VF_MARKDOWN_HEADING3 = 1 << 7,   /* levels 3 to 6 */
  VF_MARKDOWN_QUOTE = 1 << 8,
  VF_MARKDOWN_TABLE = 1 << 9,      /* a table's lines (monospace) */
  VF_MARKDOWN_TABLE_HEADER = 1 << 10,
  VF_MARKDOWN_LINK = 1 << 11,
  VF_MARKDOWN_RULE = 1 << 12,
  VF_MARKDOWN_BULLET = 1 << 13,    /* a list item's marker ("• ", "2. ") */
  VF_MARKDOWN_MATH = 1 << 14,      /* inline math, delimiters removed */
  VF_MARKDOWN_MATH_BLOCK = 1 << 15, /* a display-math block's lines */
} VfMarkdownStyle;

typedef struct {
  guint start, end;  /* byte offsets into text */
  guint style;       /* VfMarkdownStyle bits */
  guint list_depth;  /* 0 outside lists; 1 for a top-level item's line, 2 nested, ... */
  guint block;       /* the block this run belongs to: 0, 1, ... in order */
  guint link;        /* 0, or 1 + the index in links of the URL this run's text points to */
} VfMarkdownRun;

typedef struct {
  char *text;      /* what is displayed, UTF-8 */
  GArray *runs;    /* VfMarkdownRun: in order, covering text exactly, neighbours differ in style, depth, block
                    * or link */
  GPtrArray *links; /* char *: the targets of [text](url) links, as written */
} VfMarkdown;

VfMarkdown *vf_markdown_render(const char *markdown);
void vf_markdown_free(VfMarkdown *markdown);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfMarkdown, vf_markdown_free)

G_END_DECLS
