/* Markdown in a text view. See vf_markdown_view.h. */
#define G_LOG_DOMAIN "vf-markdown-view"

#include "vf_markdown_view.h"

#include "vf_markdown.h"

#define MAX_LIST_DEPTH 6

struct _VfMarkdownView {
  GtkTextView parent_instance;

  char *markdown;
  GtkTextTag *style_tags[14]; /* indexed by the bit number of VfMarkdownStyle */
  GtkTextTag *list_tags[MAX_LIST_DEPTH + 1];
};

G_DEFINE_FINAL_TYPE(VfMarkdownView, vf_markdown_view, GTK_TYPE_TEXT_VIEW)

enum {
  PROP_0,
  PROP_MARKDOWN,
  N_PROPS,
};

static GParamSpec *properties[N_PROPS];

const char *vf_markdown_view_get_markdown(VfMarkdownView *self) { return self->markdown; }

void
vf_markdown_view_set_markdown(VfMarkdownView *self, const char *markdown)
{
  if (g_strcmp0(self->markdown, markdown) == 0)
    return;
  g_free(self->markdown);
  self->markdown = g_strdup(markdown);

  g_autoptr(VfMarkdown) md = vf_markdown_render(markdown);
  GtkTextBuffer *buffer = gtk_text_view_get_buffer(GTK_TEXT_VIEW(self));
  gtk_text_buffer_set_text(buffer, "", 0);
  GtkTextIter end;
  gtk_text_buffer_get_end_iter(buffer, &end);
  for (guint r = 0; r < md->runs->len; r++) {
    const VfMarkdownRun *run = &g_array_index(md->runs, VfMarkdownRun, r);
    GtkTextIter start_iter;
    int start_offset = gtk_text_iter_get_offset(&end);
    gtk_text_buffer_insert(buffer, &end, md->text + run->start, (int)(run->end - run->start));
    gtk_text_buffer_get_iter_at_offset(buffer, &start_iter, start_offset);
    for (guint bit = 0; bit < G_N_ELEMENTS(self->style_tags); bit++)
      if (run->style & (1u << bit) && self->style_tags[bit])
        gtk_text_buffer_apply_tag(buffer, self->style_tags[bit], &start_iter, &end);
    if (run->list_depth)
      gtk_text_buffer_apply_tag(buffer, self->list_tags[MIN(run->list_depth, MAX_LIST_DEPTH)], &start_iter, &end);
  }
  g_object_notify_by_pspec(G_OBJECT(self), properties[PROP_MARKDOWN]);
}

static void
add_style_tag(VfMarkdownView *self, VfMarkdownStyle style, const char *first_property, ...)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer(GTK_TEXT_VIEW(self));
  GtkTextTag *tag = gtk_text_tag_new(NULL);
  va_list args;
  va_start(args, first_property);
  g_object_set_valist(G_OBJECT(tag), first_property, args);
  va_end(args);
  gtk_text_tag_table_add(gtk_text_buffer_get_tag_table(buffer), tag);
  g_object_unref(tag);
  self->style_tags[g_bit_nth_lsf(style, -1)] = tag;
}

static void
create_tags(VfMarkdownView *self)
{
  /* Translucent greys and the accent blue read well on both the light and the dark style. */
  GdkRGBA code_bg = {0.5, 0.5, 0.5, 0.15}, dim = {0.5, 0.5, 0.5, 1}, link = {0.21, 0.52, 0.89, 1};
  add_style_tag(self, VF_MARKDOWN_BOLD, "weight", PANGO_WEIGHT_BOLD, NULL);
  add_style_tag(self, VF_MARKDOWN_ITALIC, "style", PANGO_STYLE_ITALIC, NULL);
  add_style_tag(self, VF_MARKDOWN_STRIKE, "strikethrough", TRUE, NULL);
  add_style_tag(self, VF_MARKDOWN_CODE, "family", "monospace", "background-rgba", &code_bg, NULL);
  add_style_tag(self, VF_MARKDOWN_CODE_BLOCK, "family", "monospace", "paragraph-background-rgba", &code_bg,
                "left-margin", 12, "right-margin", 12, "wrap-mode", GTK_WRAP_CHAR, NULL);
  add_style_tag(self, VF_MARKDOWN_HEADING1, "weight", PANGO_WEIGHT_BOLD, "scale", 1.5, "pixels-above-lines", 6,
                "pixels-below-lines", 4, NULL);
  add_style_tag(self, VF_MARKDOWN_HEADING2, "weight", PANGO_WEIGHT_BOLD, "scale", 1.3, "pixels-above-lines", 4,
                "pixels-below-lines", 3, NULL);
  add_style_tag(self, VF_MARKDOWN_HEADING3, "weight", PANGO_WEIGHT_BOLD, "scale", 1.1, "pixels-above-lines", 2,
                "pixels-below-lines", 2, NULL);
  add_style_tag(self, VF_MARKDOWN_QUOTE, "style", PANGO_STYLE_ITALIC, "foreground-rgba", &dim, "left-margin", 16,
                NULL);
  add_style_tag(self, VF_MARKDOWN_TABLE, "family", "monospace", "wrap-mode", GTK_WRAP_NONE, NULL);
  add_style_tag(self, VF_MARKDOWN_TABLE_HEADER, "weight", PANGO_WEIGHT_BOLD, NULL);
  add_style_tag(self, VF_MARKDOWN_LINK, "foreground-rgba", &link, "underline", PANGO_UNDERLINE_SINGLE, NULL);
  add_style_tag(self, VF_MARKDOWN_RULE, "foreground-rgba", &dim, NULL);
  add_style_tag(self, VF_MARKDOWN_BULLET, "foreground-rgba", &dim, NULL);

  GtkTextTagTable *table = gtk_text_buffer_get_tag_table(gtk_text_view_get_buffer(GTK_TEXT_VIEW(self)));
  for (guint depth = 1; depth <= MAX_LIST_DEPTH; depth++) {
    /* A hanging indent: the bullet sits left of the item's wrapped lines. */
    GtkTextTag *tag = gtk_text_tag_new(NULL);
    g_object_set(tag, "left-margin", (int)(depth * 18 + 6), "indent", -14, NULL);
    gtk_text_tag_table_add(table, tag);
    g_object_unref(tag);
    self->list_tags[depth] = tag;
  }
}

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
  object_class->finalize = vf_markdown_view_finalize;

  properties[PROP_MARKDOWN] = g_param_spec_string("markdown", NULL, NULL, NULL,
                                                  G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties(object_class, N_PROPS, properties);
  gtk_widget_class_set_css_name(GTK_WIDGET_CLASS(klass), "textview");
  gtk_widget_class_set_accessible_role(GTK_WIDGET_CLASS(klass), GTK_ACCESSIBLE_ROLE_TEXT_BOX);
}

static void
vf_markdown_view_init(VfMarkdownView *self)
{
  GtkTextView *view = GTK_TEXT_VIEW(self);
  gtk_text_view_set_editable(view, FALSE);
  gtk_text_view_set_cursor_visible(view, FALSE);
  gtk_text_view_set_wrap_mode(view, GTK_WRAP_WORD_CHAR);
  gtk_widget_add_css_class(GTK_WIDGET(self), "answer");
  create_tags(self);
}

GtkWidget *
vf_markdown_view_new(void)
{
  return g_object_new(VF_TYPE_MARKDOWN_VIEW, NULL);
}
