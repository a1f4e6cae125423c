/* The answer renderer (ui/vf_markdown.c): display text and styled runs for each construct, and what a
 * half-streamed answer looks like. Runs are written as {styles}text{} with these names: */
#include <string.h>

#include "vf_markdown.h"

static const struct {
  guint bit;
  const char *name;
} style_names[] = {
  {VF_MARKDOWN_BOLD, "b"},       {VF_MARKDOWN_ITALIC, "i"},      {VF_MARKDOWN_STRIKE, "s"},
  {VF_MARKDOWN_CODE, "code"},    {VF_MARKDOWN_CODE_BLOCK, "pre"}, {VF_MARKDOWN_HEADING1, "h1"},
  {VF_MARKDOWN_HEADING2, "h2"},  {VF_MARKDOWN_HEADING3, "h3"},    {VF_MARKDOWN_QUOTE, "quote"},
  {VF_MARKDOWN_TABLE, "table"},  {VF_MARKDOWN_TABLE_HEADER, "th"}, {VF_MARKDOWN_LINK, "a"},
  {VF_MARKDOWN_RULE, "hr"},      {VF_MARKDOWN_BULLET, "bullet"},  {VF_MARKDOWN_MATH, "math"},
  {VF_MARKDOWN_MATH_BLOCK, "mathblock"},
};

/* The blocks' texts, "|" between them (each block's trailing newlines left out). */
static char *
blocks(const char *markdown)
{
  g_autoptr(VfMarkdown) md = vf_markdown_render(markdown);
  GString *out = g_string_new(NULL);
  GString *block = g_string_new(NULL);
  for (guint r = 0; r < md->runs->len; r++) {
    const VfMarkdownRun *run = &g_array_index(md->runs, VfMarkdownRun, r);
    if (r > 0 && run->block != run[-1].block) {
      while (block->len && block->str[block->len - 1] == '\n')
        g_string_truncate(block, block->len - 1);
      g_string_append_printf(out, "%s|", block->str);
      g_string_truncate(block, 0);
    }
    g_string_append_len(block, md->text + run->start, run->end - run->start);
  }
  g_string_append(out, block->str);
  g_string_free(block, TRUE);
  return g_string_free(out, FALSE);
}

/* The link targets of the runs, in order, each once per link: "url1 url2". */
static char *
link_targets(const char *markdown)
{
  g_autoptr(VfMarkdown) md = vf_markdown_render(markdown);
  GString *out = g_string_new(NULL);
  guint last = 0;
  for (guint r = 0; r < md->runs->len; r++) {
    const VfMarkdownRun *run = &g_array_index(md->runs, VfMarkdownRun, r);
    if (run->link && run->link != last) {
      g_assert_cmpuint(run->link, <=, md->links->len);
      g_assert_true(run->style & VF_MARKDOWN_LINK);
      g_string_append_printf(out, "%s%s", out->len ? " " : "", (char *)md->links->pdata[run->link - 1]);
    }
    last = run->link;
  }
  return g_string_free(out, FALSE);
}

/* "{b}bold{} plain": each run's styles (and list depth as "liN") in braces before its text. */
static char *
annotate(const char *markdown)
{
  g_autoptr(VfMarkdown) md = vf_markdown_render(markdown);
  GString *out = g_string_new(NULL);
  guint at = 0;
  for (guint r = 0; r < md->runs->len; r++) {
    const VfMarkdownRun *run = &g_array_index(md->runs, VfMarkdownRun, r);
    g_assert_cmpuint(run->start, ==, at); /* runs cover the text in order, without gaps */
    g_assert_cmpuint(run->end, >, run->start);
    const VfMarkdownRun *before = r > 0 ? run - 1 : NULL;
    g_assert_true(!before || run->block == before->block || run->block == before->block + 1);
    if (before && before->style == run->style && before->list_depth == run->list_depth) {
      /* Only the block (checked by test_blocks) or the link target differs. */
      g_string_append_len(out, md->text + run->start, run->end - run->start);
      at = run->end;
      continue;
    }
    g_string_append_c(out, '{');
    gboolean first = TRUE;
    for (guint k = 0; k < G_N_ELEMENTS(style_names); k++)
      if (run->style & style_names[k].bit) {
        g_string_append_printf(out, "%s%s", first ? "" : ",", style_names[k].name);
        first = FALSE;
      }
    if (run->list_depth)
      g_string_append_printf(out, "%sli%u", first ? "" : ",", run->list_depth);
    g_string_append_c(out, '}');
    g_string_append_len(out, md->text + run->start, run->end - run->start);
    at = run->end;
  }
  g_assert_cmpuint(at, ==, strlen(md->text));
  return g_string_free(out, FALSE);
}

#define CHECK(markdown, expected)                 \
  do {                                            \
    g_autofree char *got_ = annotate(markdown);   \
    g_assert_cmpstr(got_, ==, expected);          \
  } while (0)

static void
test_plain(void)
{
  CHECK("", "");
  CHECK("Hello world", "{}Hello world");
  /* Line breaks are kept; blank-line runs become one blank line; trailing blank lines go. */
  CHECK("one\ntwo\n\n\n\nthree\n\n", "{}one\ntwo\n\nthree");
  CHECK("crlf\r\nline", "{}crlf\nline");
}

static void
test_emphasis(void)
{
  CHECK("a **bold** b", "{}a {b}bold{} b");
  CHECK("a __bold__ b", "{}a {b}bold{} b");
  CHECK("an *italic* and _also_", "{}an {i}italic{} and {i}also");
  CHECK("***both***", "{b,i}both");
  CHECK("~~gone~~ kept", "{s}gone{} kept");
  CHECK("*outer **inner** outer*", "{i}outer {b,i}inner{i} outer");
  /* Not emphasis: spaces inside the delimiters, intraword underscores, a lone star. */
  CHECK("2 * 3 * 4", "{}2 * 3 * 4");
  CHECK("snake_case_name", "{}snake_case_name");
  CHECK("a * b", "{}a * b");
  /* Escapes. */
  CHECK("\\*not italic\\*", "{}*not italic*");
}

static void
test_code_and_links(void)
{
  CHECK("use `ls -l` here", "{}use {code}ls -l{} here");
  CHECK("``a ` b``", "{code}a ` b");
  CHECK("`**not bold**`", "{code}**not bold**");
  CHECK("**bold `code` bold**", "{b}bold {b,code}code{b} bold");
  CHECK("see [the docs](https://example.org) now", "{}see {a}the docs{} now");
  CHECK("[**bold link**](x)", "{b,a}bold link");
}

static void
test_headings_rules_quotes(void)
{
  CHECK("# Title\ntext", "{h1}Title\n{}text");
  CHECK("## Sub ##\n### Three\n###### Six", "{h2}Sub\n{h3}Three\nSix");
  CHECK("#hashtag", "{}#hashtag");
  CHECK("## The *cat*", "{h2}The {i,h2}cat");
  CHECK("above\n---\nbelow", "{}above\n{hr}────────\n{}below");
  CHECK("> quoted **text**\nafter", "{quote}quoted {b,quote}text{quote}\n{}after");
}

static void
test_lists(void)
{
  CHECK("- one\n- two", "{bullet,li1}• {li1}one\n{bullet,li1}• {li1}two");
  CHECK("1. first\n2) second", "{bullet,li1}1. {li1}first\n{bullet,li1}2. {li1}second");
  CHECK("* a\n  * nested **b**\n    + deeper\n* back",
        "{bullet,li1}• {li1}a\n"
        "{bullet,li2}◦ {li2}nested {b,li2}b{li2}\n"
        "{bullet,li3}▪ {li3}deeper\n"
        "{bullet,li1}• {li1}back");
  /* An indented line continues the item; an unindented one ends the list. */
  CHECK("- item\n  more\nafter", "{bullet,li1}• {li1}item\nmore\n{}after");
  /* A blank line between items keeps the list. */
  CHECK("- a\n\n- b", "{bullet,li1}• {li1}a\n{}\n{bullet,li1}• {li1}b");
}

static void
test_code_blocks(void)
{
  CHECK("text\n```c\nint x = 2 * 3;\n  **y**\n```\nafter",
        "{}text\n{pre}int x = 2 * 3;\n  **y**\n{}after");
  CHECK("~~~\na\n\n\nb\n~~~", "{pre}a\n\n\nb");
  /* Streaming: an unclosed fence runs to the end. */
  CHECK("```python\ndef f():\n    return 1", "{pre}def f():\n    return 1");
}

static void
test_tables(void)
{
  CHECK("| Name | Count |\n|:-----|------:|\n| cat | 2 |\n| **dog** | 10 |\nafter",
        "{table,th}Name{table} │ {table,th}Count{table}\n"
        "─────┼──────\n"
        "cat  │     2\n"
        "{b,table}dog{table}  │    10\n"
        "{}after");
  /* Centre alignment (odd padding goes right), a missing cell, a wide character (2 columns). */
  CHECK("a|b\n:-:|---\n猫|x\n|y",
        "{table,th}a {table} │ {table,th}b{table}\n"
        "───┼──\n"
        "猫 │ x\n"
        "y  │ ");
  /* A header without its delimiter row yet (streaming) is a plain line. */
  CHECK("| a | b |", "{}| a | b |");
  /* A delimiter row whose column count differs is not a table. */
  CHECK("a | b\n|---|", "{}a | b\n|---|");
}

static void
test_blocks(void)
{
  g_autofree char *doc = blocks("# Title\npara one\nstill one\n\npara two\n- item a\n  more a\n- item b\n"
                                "> quoted\n> also\n\n```\ncode 1\ncode 2\n```\n| a | b |\n|---|---|\n| 1 | 2 |\n---\n"
                                "last");
  g_assert_cmpstr(doc, ==,
                  "Title|para one\nstill one|para two|• item a\nmore a|• item b|quoted\nalso|code 1\ncode 2|"
                  "a │ b\n──┼──\n1 │ 2|────────|last");
  /* Two fences in a row are two blocks; an empty one takes no number. */
  g_autofree char *fences = blocks("```\none\n```\n```\n```\n```\ntwo\n```");
  g_assert_cmpstr(fences, ==, "one|two");
}

static void
test_links(void)
{
  g_autofree char *one = link_targets("see [the docs](https://example.org/a?b=1) now");
  g_assert_cmpstr(one, ==, "https://example.org/a?b=1");
  g_autofree char *styled = link_targets("[**bold** link](http://x.test/) and [two](mailto:a@b.test)");
  g_assert_cmpstr(styled, ==, "http://x.test/ mailto:a@b.test");
  g_autofree char *in_table = link_targets("| site |\n|---|\n| [home](https://h.test/) |");
  g_assert_cmpstr(in_table, ==, "https://h.test/");
  CHECK("[**bold** link](http://x.test/)", "{b,a}bold{a} link");
}

static void
test_math(void)
{
  CHECK("area \\(\\pi r^2\\) here", "{}area {math}\\pi r^2{} here");
  CHECK("so $x_1 + y$ and $$E=mc^2$$.", "{}so {math}x_1 + y{} and {math}E=mc^2{}.");
  /* Prices are not math: a space after the opener, a digit after the closer. */
  CHECK("costs $5 and $6 today", "{}costs $5 and $6 today");
  CHECK("from $ 3 to $4", "{}from $ 3 to $4");
  CHECK("$$\n\\int_0^1 x\\,dx\n$$", "{mathblock}\\int_0^1 x\\,dx");
  CHECK("\\[ a^2 + b^2 = c^2 \\]", "{mathblock}a^2 + b^2 = c^2");
  g_autofree char *math_blocks = blocks("before\n$$ x $$\nafter");
  g_assert_cmpstr(math_blocks, ==, "before|x|after");
  /* Still streaming: an unclosed display block shows as text until its closer arrives. */
  CHECK("$$\n\\int", "{}$$\n\\int");
}

static void
test_partial_stream(void)
{
  /* What the view shows while "**bold**" arrives token by token. */
  CHECK("The **bo", "{}The **bo");
  CHECK("The **bold*", "{}The **bold*");
  CHECK("The **bold**", "{}The {b}bold");
  CHECK("Use `co", "{}Use `co");
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/markdown/plain", test_plain);
  g_test_add_func("/markdown/emphasis", test_emphasis);
  g_test_add_func("/markdown/code-and-links", test_code_and_links);
  g_test_add_func("/markdown/headings-rules-quotes", test_headings_rules_quotes);
  g_test_add_func("/markdown/lists", test_lists);
  g_test_add_func("/markdown/code-blocks", test_code_blocks);
  g_test_add_func("/markdown/tables", test_tables);
  g_test_add_func("/markdown/partial-stream", test_partial_stream);
  g_test_add_func("/markdown/blocks", test_blocks);
  g_test_add_func("/markdown/links", test_links);
  g_test_add_func("/markdown/math", test_math);
  return g_test_run();
}
