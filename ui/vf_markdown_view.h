/* VfMarkdownView: an answer's Markdown (vf_markdown_render()) as one widget per block, stacked:
 *
 *   paragraph, heading, quote, list item   a selectable, wrapping GtkLabel with Pango markup (a list item's
 *                                          bullet sits in a label of its own left of the text: a hanging indent)
 *   fenced code                           a framed monospace label with a "Copy" button
 *   table                                 monospace columns in a horizontal GtkScrolledWindow, so a table wider
 *                                         than the window scrolls instead of being clipped
 *   display math                          an indented monospace label (inline math is monospace too)
 *   rule                                  a GtkSeparator
 *
 * Labels measure height-for-width, so answers reflow when the window is resized. Setting the text again (every
 * streamed token) re-renders it; blocks whose content did not change keep their widgets (and any selection).
 *
 * Links are clickable. An https link opens at once; any other scheme asks first ("Open this link?"). Opening
 * emits "open-link" (uri) whose default handler calls gtk_show_uri(); a handler that returns TRUE opens it
 * instead. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define VF_TYPE_MARKDOWN_VIEW (vf_markdown_view_get_type())
G_DECLARE_FINAL_TYPE(VfMarkdownView, vf_markdown_view, VF, MARKDOWN_VIEW, GtkWidget)

GtkWidget *vf_markdown_view_new(void);
const char *vf_markdown_view_get_markdown(VfMarkdownView *self);
void vf_markdown_view_set_markdown(VfMarkdownView *self, const char *markdown);

G_END_DECLS
