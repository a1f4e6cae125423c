/* Markdown as a stack of block widgets. See vf_markdown_view.h. */
#define G_LOG_DOMAIN "vf-markdown-view"

#include "vf_markdown_view.h"

#include <adwaita.h>
#include <string.h>

#include "vf_markdown.h"

#define LIST_INDENT 18 /* px per nesting level */

typedef enum { BLOCK_TEXT, BLOCK_CODE, BLOCK_TABLE, BLOCK_MATH, BLOCK_RULE } BlockKind;

typedef struct {
  char *key;         /* the kind, classes and markup it was built from: an equal key keeps the widget */
  GtkWidget *widget; /* child of the view */
  char *code;        /* BLOCK_CODE: what its Copy button copies */
} Block;

struct _VfMarkdownView {
  GtkWidget parent_instance;

  char *markdown;
  GPtrArray *blocks; /* Block, in display order */
};

G_DEFINE_FINAL_TYPE(VfMarkdownView, vf_markdown_view, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_MARKDOWN,
  N_PROPS,
};

static GParamSpec *properties[N_PROPS];

enum {
  SIGNAL_OPEN_LINK,
  N_SIGNALS,
};

static guint signals[N_SIGNALS];

static void
block_free(Block *block)
{
  g_free(block->key);
  g_free(block->code);
  g_free(block);
}

/* ---------------------------------------------------------------------------------------------------
 * Links
 * ------------------------------------------------------------------------------------------------- */

static void
open_link(VfMarkdownView *self, const char *uri)
{
  gboolean handled = FALSE;
  g_signal_emit(self, signals[SIGNAL_OPEN_LINK], 0, uri, &handled);
}

static void
on_confirm_response(AdwMessageDialog *dialog, const char *response, VfMarkdownView *self)
{
  if (g_strcmp0(response, "open") == 0)
    open_link(self, g_object_get_data(G_OBJECT(dialog), "uri"));
}

static gboolean
on_activate_link(GtkLabel *label, const char *uri, VfMarkdownView *self)
{
  if (g_str_has_prefix(uri, "https://")) {
    open_link(self, uri);
    return TRUE;
  }
  /* Anything else (http, mailto, file, an app's own scheme) may leave the machine unencrypted or start another
   * program: the user sees the address first. */
  GtkRoot *root = gtk_widget_get_root(GTK_WIDGET(self));
  GtkWidget *dialog = adw_message_dialog_new(GTK_IS_WINDOW(root) ? GTK_WINDOW(root) : NULL,
                                             "Open this link?", NULL);
  adw_message_dialog_format_body(ADW_MESSAGE_DIALOG(dialog), "%s\n\nIt is not an https address.", uri);
  adw_message_dialog_add_responses(ADW_MESSAGE_DIALOG(dialog), "cancel", "_Cancel", "open", "_Open", NULL);
  adw_message_dialog_set_default_response(ADW_MESSAGE_DIALOG(dialog), "cancel");
  adw_message_dialog_set_close_response(ADW_MESSAGE_DIALOG(dialog), "cancel");
  g_object_set_data_full(G_OBJECT(dialog), "uri", g_strdup(uri), g_free);
  g_signal_connect_object(dialog, "response", G_CALLBACK(on_confirm_response), self, 0);
  gtk_window_present(GTK_WINDOW(dialog));
  return TRUE;
}

static gboolean
default_open_link(VfMarkdownView *self, const char *uri)
{
  GtkRoot *root = gtk_widget_get_root(GTK_WIDGET(self));
  gtk_show_uri(GTK_IS_WINDOW(root) ? GTK_WINDOW(root) : NULL, uri, GDK_CURRENT_TIME);
  return TRUE;
}

/* ---------------------------------------------------------------------------------------------------
 * Blocks
 * ------------------------------------------------------------------------------------------------- */

static void
on_copy_code(GtkButton *button, Block *block)
{
  gdk_clipboard_set_text(gtk_widget_get_clipboard(GTK_WIDGET(button)), block->code);
  gtk_widget_set_tooltip_text(GTK_WIDGET(button), "Copied");
}

/* One run as Pango markup. A block's own monospace (code, table, math block) comes from its label's
 * "monospace" class, so only inline code and inline math set a family here. */
static void
append_run_markup(GString *markup, const char *text, gsize len, const VfMarkdownRun *run, const VfMarkdown *md)
{
  static const struct {
    guint style;
    const char *open, *close;
  } tags[] = {
    {VF_MARKDOWN_BOLD | VF_MARKDOWN_TABLE_HEADER, "<b>", "</b>"},
    {VF_MARKDOWN_ITALIC, "<i>", "</i>"},
    {VF_MARKDOWN_STRIKE, "<s>", "</s>"},
    {VF_MARKDOWN_CODE, "<span font_family=\"monospace\" background=\"#808080\" bgalpha=\"20%\">", "</span>"},
    {VF_MARKDOWN_MATH, "<span font_family=\"monospace\">", "</span>"},
    {VF_MARKDOWN_BULLET | VF_MARKDOWN_RULE, "<span alpha=\"60%\">", "</span>"},
  };
  if (len == 0)
    return;
  if (run->link) {
    g_autofree char *href = g_markup_escape_text(md->links->pdata[run->link - 1], -1);
    g_string_append_printf(markup, "<a href=\"%s\">", href);
  }
  for (guint t = 0; t < G_N_ELEMENTS(tags); t++)
    if (run->style & tags[t].style)
      g_string_append(markup, tags[t].open);
  g_autofree char *escaped = g_markup_escape_text(text, (gssize)len);
  g_string_append(markup, escaped);
  for (guint t = G_N_ELEMENTS(tags); t-- > 0;)
    if (run->style & tags[t].style)
      g_string_append(markup, tags[t].close);
  if (run->link)
    g_string_append(markup, "</a>");
}

static GtkWidget *
new_label(VfMarkdownView *self, const char *markup, gboolean wrap)
{
  GtkWidget *label = gtk_label_new(NULL);
  gtk_label_set_markup(GTK_LABEL(label), markup);
  gtk_label_set_selectable(GTK_LABEL(label), TRUE);
  gtk_label_set_xalign(GTK_LABEL(label), 0);
  gtk_label_set_wrap(GTK_LABEL(label), wrap);
  gtk_label_set_wrap_mode(GTK_LABEL(label), PANGO_WRAP_WORD_CHAR);
  gtk_widget_set_hexpand(label, TRUE);
  g_signal_connect_object(label, "activate-link", G_CALLBACK(on_activate_link), self, 0);
  return label;
}

/* The widget for runs [first, last) of one block. */
static Block *
build_block(VfMarkdownView *self, const VfMarkdown *md, guint first, guint last)
{
  const VfMarkdownRun *runs = &g_array_index(md->runs, VfMarkdownRun, 0);
  guint style = 0, depth = 0;
  for (guint r = first; r < last; r++) {
    style |= runs[r].style;
    depth = MAX(depth, runs[r].list_depth);
  }
  BlockKind kind = style & VF_MARKDOWN_CODE_BLOCK   ? BLOCK_CODE
                   : style & VF_MARKDOWN_TABLE      ? BLOCK_TABLE
                   : style & VF_MARKDOWN_MATH_BLOCK ? BLOCK_MATH
                   : style & VF_MARKDOWN_RULE       ? BLOCK_RULE
                                                    : BLOCK_TEXT;
  /* The text without the block's trailing newlines; a list item's bullet apart from it. */
  guint end = runs[last - 1].end;
  while (end > runs[first].start && md->text[end - 1] == '\n')
    end--;
  g_autoptr(GString) markup = g_string_new(NULL);
  g_autoptr(GString) bullet = g_string_new(NULL);
  g_autoptr(GString) plain = g_string_new(NULL);
  for (guint r = first; r < last; r++) {
    guint from = runs[r].start, to = MIN(runs[r].end, end);
    if (to <= from)
      continue;
    append_run_markup(runs[r].style & VF_MARKDOWN_BULLET ? bullet : markup, md->text + from, to - from, &runs[r],
                      md);
    g_string_append_len(plain, md->text + from, to - from);
  }

  const char *heading = style & VF_MARKDOWN_HEADING1   ? "title-2"
                        : style & VF_MARKDOWN_HEADING2 ? "title-3"
                        : style & VF_MARKDOWN_HEADING3 ? "title-4"
                                                       : NULL;
  gboolean quote = (style & VF_MARKDOWN_QUOTE) != 0;
  Block *block = g_new0(Block, 1);
  block->key = g_strdup_printf("%d %s %d %u %s|%s", kind, heading ? heading : "-", quote, depth, bullet->str,
                               markup->str);
  switch (kind) {
  case BLOCK_CODE: {
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
    gtk_widget_add_css_class(box, "code-block");
    GtkWidget *copy = gtk_button_new_from_icon_name("edit-copy-symbolic");
    gtk_widget_add_css_class(copy, "flat");
    gtk_widget_set_halign(copy, GTK_ALIGN_END);
    gtk_widget_set_tooltip_text(copy, "Copy code");
    gtk_accessible_update_property(GTK_ACCESSIBLE(copy), GTK_ACCESSIBLE_PROPERTY_LABEL, "Copy code", -1);
    block->code = g_strdup(plain->str);
    g_signal_connect(copy, "clicked", G_CALLBACK(on_copy_code), block);
    GtkWidget *label = new_label(self, markup->str, TRUE);
    gtk_label_set_wrap_mode(GTK_LABEL(label), PANGO_WRAP_CHAR);
    gtk_widget_add_css_class(label, "monospace");
    gtk_box_append(GTK_BOX(box), copy);
    gtk_box_append(GTK_BOX(box), label);
    block->widget = box;
    break;
  }
  case BLOCK_TABLE: {
    GtkWidget *label = new_label(self, markup->str, FALSE);
    gtk_widget_add_css_class(label, "monospace");
    GtkWidget *scroller = gtk_scrolled_window_new();
    gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(scroller), GTK_POLICY_AUTOMATIC, GTK_POLICY_NEVER);
    gtk_scrolled_window_set_propagate_natural_height(GTK_SCROLLED_WINDOW(scroller), TRUE);
    gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(scroller), label);
    gtk_widget_add_css_class(scroller, "table-block");
    block->widget = scroller;
    break;
  }
  case BLOCK_MATH: {
    GtkWidget *label = new_label(self, markup->str, TRUE);
    gtk_label_set_wrap_mode(GTK_LABEL(label), PANGO_WRAP_CHAR);
    gtk_widget_add_css_class(label, "monospace");
    gtk_widget_add_css_class(label, "math-block");
    gtk_widget_set_margin_start(label, 24);
    block->widget = label;
    break;
  }
  case BLOCK_RULE:
    block->widget = gtk_separator_new(GTK_ORIENTATION_HORIZONTAL);
    gtk_widget_set_margin_top(block->widget, 6);
    gtk_widget_set_margin_bottom(block->widget, 6);
    break;
  case BLOCK_TEXT:
  default: {
    if (quote)
      g_string_prepend(markup, "<i>"), g_string_append(markup, "</i>");
    GtkWidget *label = new_label(self, markup->str, TRUE);
    if (heading) {
      gtk_widget_add_css_class(label, heading);
      gtk_widget_set_margin_top(label, 6);
    }
    if (quote)
      gtk_widget_add_css_class(label, "quote");
    block->widget = label;
    if (depth > 0) {
      /* A hanging indent: the bullet sits left of the item's wrapped lines. */
      GtkWidget *row = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 0);
      GtkWidget *marker = gtk_label_new(NULL);
      gtk_label_set_markup(GTK_LABEL(marker), bullet->str);
      gtk_widget_set_valign(marker, GTK_ALIGN_START);
      gtk_widget_set_margin_start(row, (int)(depth - 1) * LIST_INDENT + 6);
      gtk_box_append(GTK_BOX(row), marker);
      gtk_box_append(GTK_BOX(row), label);
      block->widget = row;
    }
    break;
  }
  }
  return block;
}

void
vf_markdown_view_set_markdown(VfMarkdownView *self, const char *markdown)
{
  if (g_strcmp0(self->markdown, markdown) == 0)
    return;
  g_free(self->markdown);
  self->markdown = g_strdup(markdown);

  g_autoptr(VfMarkdown) md = vf_markdown_render(markdown);
  guint index = 0; /* blocks kept or made so far */
  for (guint first = 0; first < md->runs->len;) {
    guint block_number = g_array_index(md->runs, VfMarkdownRun, first).block, last = first + 1;
    while (last < md->runs->len && g_array_index(md->runs, VfMarkdownRun, last).block == block_number)
      last++;
    Block *block = build_block(self, md, first, last);
    first = last;
    Block *old = index < self->blocks->len ? self->blocks->pdata[index] : NULL;
    if (old && strcmp(old->key, block->key) == 0) {
      /* Unchanged (every block but the last while an answer streams): keep its widget and any selection. */
      g_object_ref_sink(block->widget);
      g_object_unref(block->widget);
      block_free(block);
      index++;
      continue;
    }
    GtkWidget *before = index > 0 ? ((Block *)self->blocks->pdata[index - 1])->widget : NULL;
    gtk_widget_insert_after(block->widget, GTK_WIDGET(self), before);
    if (old) {
      gtk_widget_unparent(old->widget);
      block_free(old);
      self->blocks->pdata[index] = block;
    } else {
      g_ptr_array_add(self->blocks, block);
    }
    index++;
  }
  while (self->blocks->len > index) {
    Block *old = self->blocks->pdata[self->blocks->len - 1];
    gtk_widget_unparent(old->widget);
    g_ptr_array_remove_index(self->blocks, self->blocks->len - 1);
  }
  g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_MARKDOWN]);
}

const char *vf_markdown_view_get_markdown(VfMarkdownView *self) { return self->markdown; }

/* ---------------------------------------------------------------------------------------------------
 * GObject
 * ------------------------------------------------------------------------------------------------- */

static void
vf_markdown_view_get_property(GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  VfMarkdownView *self = VF_MARKDOWN_VIEW(object);
  switch (prop_id) {
  case PROP_MARKDOWN:
    g_value_set_string(value, self->markdown);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void
vf_markdown_view_set_property(GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  VfMarkdownView *self = VF_MARKDOWN_VIEW(object);
  switch (prop_id) {
  case PROP_MARKDOWN:
    vf_markdown_view_set_markdown(self, g_value_get_string(value));
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void
vf_markdown_view_dispose(GObject *object)
{
  VfMarkdownView *self = VF_MARKDOWN_VIEW(object);
  if (self->blocks) {
    for (guint i = 0; i < self->blocks->len; i++)
      gtk_widget_unparent(((Block *)self->blocks->pdata[i])->widget);
    g_clear_pointer(&self->blocks, g_ptr_array_unref);
  }
  G_OBJECT_CLASS(vf_markdown_view_parent_class)->dispose(object);
}

static void
vf_markdown_view_finalize(GObject *object)
{
  VfMarkdownView *self = VF_MARKDOWN_VIEW(object);
  g_free(self->markdown);
  G_OBJECT_CLASS(vf_markdown_view_parent_class)->finalize(object);
}

static void
vf_markdown_view_class_init(VfMarkdownViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  object_class->get_property = vf_markdown_view_get_property;
  object_class->set_property = vf_markdown_view_set_property;
  object_class->dispose = vf_markdown_view_dispose;
  object_class->finalize = vf_markdown_view_finalize;

  properties[PROP_MARKDOWN] = g_param_spec_string("markdown", NULL, NULL, NULL,
                                                  G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties(object_class, N_PROPS, properties);

  signals[SIGNAL_OPEN_LINK] =
    g_signal_new_class_handler("open-link", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, G_CALLBACK(default_open_link),
                               g_signal_accumulator_true_handled, NULL, NULL, G_TYPE_BOOLEAN, 1, G_TYPE_STRING);

  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
  gtk_widget_class_set_layout_manager_type(widget_class, GTK_TYPE_BOX_LAYOUT);
  gtk_widget_class_set_css_name(widget_class, "markdownview");
  gtk_widget_class_set_accessible_role(widget_class, GTK_ACCESSIBLE_ROLE_GROUP);
}

static void
vf_markdown_view_init(VfMarkdownView *self)
{
  self->blocks = g_ptr_array_new_with_free_func((GDestroyNotify)block_free);
  GtkLayoutManager *layout = gtk_widget_get_layout_manager(GTK_WIDGET(self));
  gtk_orientable_set_orientation(GTK_ORIENTABLE(layout), GTK_ORIENTATION_VERTICAL);
  gtk_box_layout_set_spacing(GTK_BOX_LAYOUT(layout), 8);
  gtk_widget_add_css_class(GTK_WIDGET(self), "answer");
}

GtkWidget *
vf_markdown_view_new(void)
{
  return g_object_new(VF_TYPE_MARKDOWN_VIEW, NULL);
}
