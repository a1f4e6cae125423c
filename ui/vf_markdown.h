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
 *   inline: **bold** __bold__ *italic* _italic_ ***both*** ~~strike~~ `code` [text](url) and \-escapes.
 * Line breaks are kept as written (answers use them deliberately); runs of blank lines become one. */
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
} VfMarkdownStyle;

typedef struct {
  guint start, end;  /* byte offsets into text */
  guint style;       /* VfMarkdownStyle bits */
  guint list_depth;  /* 0 outside lists; 1 for a top-level item's line, 2 nested, ... */
} VfMarkdownRun;

typedef struct {
  char *text;  /* what is displayed, UTF-8 */
  GArray *runs; /* VfMarkdownRun: in order, covering text exactly, neighbours differ in style or depth */
} VfMarkdown;

VfMarkdown *vf_markdown_render(const char *markdown);
void vf_markdown_free(VfMarkdown *markdown);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfMarkdown, vf_markdown_free)

G_END_DECLS
