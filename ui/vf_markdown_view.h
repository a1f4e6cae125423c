/* VfMarkdownView: a read-only, selectable GtkTextView that shows Markdown through vf_markdown_render(),
 * one GtkTextTag per style. Setting the text again (every streamed token) re-renders it. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define VF_TYPE_MARKDOWN_VIEW (vf_markdown_view_get_type())
G_DECLARE_FINAL_TYPE(VfMarkdownView, vf_markdown_view, VF, MARKDOWN_VIEW, GtkTextView)

GtkWidget *vf_markdown_view_new(void);
const char *vf_markdown_view_get_markdown(VfMarkdownView *self);
void vf_markdown_view_set_markdown(VfMarkdownView *self, const char *markdown);

G_END_DECLS
