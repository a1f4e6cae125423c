/* VfMarkdownView in a real window under Xvfb, laid out as the chat lays out answers (a vertical box in a
 * scrolled window): an answer reflows when the window narrows and widens again (its height is always its
 * natural height for its width, so no line is cut and no gap is left), a wide table scrolls sideways instead of
 * being clipped, a code block's Copy button puts exactly the code on the clipboard, https links open at once and
 * other links after a confirmation, and math is shown as monospace without its delimiters. */
#include <adwaita.h>
#include <string.h>

#include "vf_markdown_view.h"

static const char *const answer_markdown =
  "The picture shows a harbour at dusk with several fishing boats moored along a stone quay, gulls on the "
  "railings, and a lighthouse whose lamp is already lit although the sky is still bright in the west. The water "
  "is calm and reflects the boats' hulls.\n"
  "\n"
  "| boat | colour | length (m) | registration | home port | crew |\n"
  "|---|---|---:|---|---|---:|\n"
  "| Marie-Louise | blue and white | 12.5 | CC-123456-FR | Concarneau | 4 |\n"
  "| Saint-Guénolé | red | 9.0 | GV-998877-FR | Guilvinec | 3 |\n"
  "\n"
  "```\n"
  "boats = count(picture)\n"
  "```\n"
  "See [the chart](https://charts.example.test/harbour) or [the old chart](http://old.example.test/x).\n"
  "\n"
  "The area is \\(\\pi r^2\\).\n"
  "\n"
  "$$\n"
  "a^2 + b^2 = c^2\n"
  "$$\n";

typedef struct {
  GtkWindow *window;
  VfMarkdownView *view;
  GPtrArray *opened; /* char *: what "open-link" was asked to open */
} Fixture;

static void
iterate_until(gboolean (*done)(Fixture *), Fixture *f)
{
  gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
  while (!done(f)) {
    g_assert_cmpint(g_get_monotonic_time(), <, deadline);
    g_main_context_iteration(NULL, FALSE);
    g_usleep(2000);
  }
  /* A few more frames so a relayout started by the last allocation settles. */
  for (int i = 0; i < 20; i++) {
    g_main_context_iteration(NULL, FALSE);
    g_usleep(2000);
  }
}

static int wanted_width;

static gboolean
window_has_wanted_width(Fixture *f)
{
  return gtk_widget_get_width(GTK_WIDGET(f->window)) == wanted_width && gtk_widget_get_width(GTK_WIDGET(f->view)) > 0;
}

static void
resize_to(Fixture *f, int width)
{
  wanted_width = width;
  gtk_window_set_default_size(f->window, width, 600);
  iterate_until(window_has_wanted_width, f);
}

static gboolean
on_open_link(VfMarkdownView *view, const char *uri, Fixture *f)
{
  g_ptr_array_add(f->opened, g_strdup(uri));
  return TRUE; /* handled: no browser under test */
}

static void
fixture_set_up(Fixture *f, gconstpointer unused)
{
  f->opened = g_ptr_array_new_with_free_func(g_free);
  f->window = GTK_WINDOW(gtk_window_new());
  GtkWidget *scroller = gtk_scrolled_window_new();
  gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(scroller), GTK_POLICY_NEVER, GTK_POLICY_AUTOMATIC);
  GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
  f->view = VF_MARKDOWN_VIEW(vf_markdown_view_new());
  g_signal_connect(f->view, "open-link", G_CALLBACK(on_open_link), f);
  gtk_box_append(GTK_BOX(box), GTK_WIDGET(f->view));
  gtk_scrolled_window_set_child(GTK_SCROLLED_WINDOW(scroller), box);
  /* An entry below, holding the focus as the composer does in the app. */
  GtkWidget *page = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
  gtk_widget_set_vexpand(scroller, TRUE);
  gtk_box_append(GTK_BOX(page), scroller);
  GtkWidget *entry = gtk_entry_new();
  gtk_box_append(GTK_BOX(page), entry);
  gtk_window_set_child(f->window, page);
  gtk_window_set_focus(f->window, entry);
  vf_markdown_view_set_markdown(f->view, answer_markdown);
  gtk_window_set_default_size(f->window, 760, 600);
  gtk_window_present(f->window);
  resize_to(f, 760);
}

static void
fixture_tear_down(Fixture *f, gconstpointer unused)
{
  gtk_window_destroy(f->window);
  g_ptr_array_unref(f->opened);
}

/* The view's blocks, in order. */
static GtkWidget *
block(Fixture *f, guint n)
{
  GtkWidget *child = gtk_widget_get_first_child(GTK_WIDGET(f->view));
  for (guint i = 0; child && i < n; i++)
    child = gtk_widget_get_next_sibling(child);
  g_assert_nonnull(child);
  return child;
}

static GtkWidget *
find_descendant(GtkWidget *widget, GType type)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE(widget, type))
    return widget;
  for (GtkWidget *c = gtk_widget_get_first_child(widget); c; c = gtk_widget_get_next_sibling(c)) {
    GtkWidget *found = find_descendant(c, type);
    if (found)
      return found;
  }
  return NULL;
}

static int
natural_height_for_width(GtkWidget *widget)
{
  int minimum, natural;
  gtk_widget_measure(widget, GTK_ORIENTATION_VERTICAL, gtk_widget_get_width(widget), &minimum, &natural, NULL,
                     NULL);
  return natural;
}

static void
assert_fits(Fixture *f, int width)
{
  GtkWidget *paragraph = block(f, 0);
  g_test_message("window %d px: view %d×%d, paragraph %d×%d", width, gtk_widget_get_width(GTK_WIDGET(f->view)),
                 gtk_widget_get_height(GTK_WIDGET(f->view)), gtk_widget_get_width(paragraph),
                 gtk_widget_get_height(paragraph));
  g_assert_cmpint(gtk_widget_get_width(GTK_WIDGET(f->view)), <=, width);
  g_assert_cmpint(gtk_widget_get_height(GTK_WIDGET(f->view)), ==, natural_height_for_width(GTK_WIDGET(f->view)));
  g_assert_cmpint(gtk_widget_get_height(paragraph), ==, natural_height_for_width(paragraph));
}

/* The window as it is drawn, to VF_SCREENSHOT_DIR/NAME (when set), for people to look at. */
static void
screenshot(Fixture *f, const char *name)
{
  const char *dir = g_getenv("VF_SCREENSHOT_DIR");
  if (!dir)
    return;
  g_autoptr(GdkPaintable) paintable = gtk_widget_paintable_new(GTK_WIDGET(f->window));
  GtkSnapshot *snapshot = gtk_snapshot_new();
  int width = gtk_widget_get_width(GTK_WIDGET(f->window)), height = gtk_widget_get_height(GTK_WIDGET(f->window));
  gdk_paintable_snapshot(paintable, snapshot, width, height);
  g_autoptr(GskRenderNode) node = gtk_snapshot_free_to_node(snapshot);
  g_assert_nonnull(node);
  GskRenderer *renderer = gtk_native_get_renderer(GTK_NATIVE(f->window));
  g_autoptr(GdkTexture) texture = gsk_renderer_render_texture(renderer, node, NULL);
  g_autofree char *path = g_build_filename(dir, name, NULL);
  g_assert_true(gdk_texture_save_to_png(texture, path));
}

static void
test_reflow(Fixture *f, gconstpointer unused)
{
  assert_fits(f, 760);
  int wide_height = gtk_widget_get_height(block(f, 0));
  screenshot(f, "markdown-view-760.png");
  resize_to(f, 360);
  assert_fits(f, 360);
  screenshot(f, "markdown-view-360.png");
  int narrow_height = gtk_widget_get_height(block(f, 0));
  g_assert_cmpint(narrow_height, >, wide_height); /* the paragraph wrapped onto more lines */
  resize_to(f, 760);
  assert_fits(f, 760);
  g_assert_cmpint(gtk_widget_get_height(block(f, 0)), ==, wide_height); /* and back: no gap left */
}

static void
test_table_scrolls(Fixture *f, gconstpointer unused)
{
  resize_to(f, 360);
  GtkWidget *table = block(f, 1);
  g_assert_true(GTK_IS_SCROLLED_WINDOW(table));
  GtkAdjustment *h = gtk_scrolled_window_get_hadjustment(GTK_SCROLLED_WINDOW(table));
  g_test_message("table: %d px wide in the window, %.0f px of columns", gtk_widget_get_width(table),
                 gtk_adjustment_get_upper(h));
  g_assert_cmpint(gtk_widget_get_width(table), <=, 360);
  g_assert_cmpfloat(gtk_adjustment_get_upper(h), >, gtk_adjustment_get_page_size(h));
  /* Every row is there, in monospace columns. */
  GtkLabel *cells = GTK_LABEL(find_descendant(table, GTK_TYPE_LABEL));
  g_assert_nonnull(strstr(gtk_label_get_text(cells), "Saint-Guénolé"));
  g_assert_true(gtk_widget_has_css_class(GTK_WIDGET(cells), "monospace"));
}

static void
on_clipboard_text(GObject *clipboard, GAsyncResult *result, gpointer user_data)
{
  char **text = user_data;
  g_autoptr(GError) error = NULL;
  *text = gdk_clipboard_read_text_finish(GDK_CLIPBOARD(clipboard), result, &error);
  g_assert_no_error(error);
}

static void
test_code_copy(Fixture *f, gconstpointer unused)
{
  GtkWidget *code = block(f, 2);
  g_assert_true(gtk_widget_has_css_class(code, "code-block"));
  GtkWidget *copy = find_descendant(code, GTK_TYPE_BUTTON);
  g_assert_nonnull(copy);
  g_signal_emit_by_name(copy, "clicked");
  char *text = NULL;
  gdk_clipboard_read_text_async(gtk_widget_get_clipboard(copy), NULL, on_clipboard_text, &text);
  while (!text)
    g_main_context_iteration(NULL, TRUE);
  g_assert_cmpstr(text, ==, "boats = count(picture)");
  g_free(text);
}

static AdwMessageDialog *
open_dialog(void)
{
  GListModel *toplevels = gtk_window_get_toplevels(); /* owned by GTK */
  for (guint i = 0; i < g_list_model_get_n_items(toplevels); i++) {
    g_autoptr(GObject) w = g_list_model_get_item(toplevels, i);
    if (ADW_IS_MESSAGE_DIALOG(w) && gtk_widget_get_visible(GTK_WIDGET(w)))
      return ADW_MESSAGE_DIALOG(w);
  }
  return NULL;
}

static void
test_links(Fixture *f, gconstpointer unused)
{
  GtkWidget *links = block(f, 3);
  g_assert_true(GTK_IS_LABEL(links));
  g_assert_nonnull(strstr(gtk_label_get_label(GTK_LABEL(links)), "<a href=\"https://charts.example.test/harbour\">"));
  gboolean handled = FALSE;
  g_signal_emit_by_name(links, "activate-link", "https://charts.example.test/harbour", &handled);
  g_assert_true(handled);
  g_assert_null(open_dialog()); /* https: no question asked */
  g_assert_cmpuint(f->opened->len, ==, 1);
  g_assert_cmpstr(f->opened->pdata[0], ==, "https://charts.example.test/harbour");

  g_signal_emit_by_name(links, "activate-link", "http://old.example.test/x", &handled);
  AdwMessageDialog *dialog = open_dialog();
  g_assert_nonnull(dialog);
  g_assert_nonnull(strstr(adw_message_dialog_get_body(dialog), "http://old.example.test/x"));
  g_assert_cmpuint(f->opened->len, ==, 1); /* not before the user says so */
  adw_message_dialog_response(dialog, "open");
  g_assert_cmpuint(f->opened->len, ==, 2);
  g_assert_cmpstr(f->opened->pdata[1], ==, "http://old.example.test/x");

  /* Cancel opens nothing. */
  g_signal_emit_by_name(links, "activate-link", "mailto:someone@example.test", &handled);
  dialog = open_dialog();
  g_assert_nonnull(dialog);
  adw_message_dialog_response(dialog, "cancel");
  g_assert_cmpuint(f->opened->len, ==, 2);
}

static void
test_math(Fixture *f, gconstpointer unused)
{
  GtkLabel *inline_math = GTK_LABEL(block(f, 4));
  g_assert_cmpstr(gtk_label_get_text(inline_math), ==, "The area is \\pi r^2.");
  g_assert_nonnull(strstr(gtk_label_get_label(inline_math), "<span font_family=\"monospace\">\\pi r^2</span>"));
  GtkLabel *display = GTK_LABEL(block(f, 5));
  g_assert_cmpstr(gtk_label_get_text(display), ==, "a^2 + b^2 = c^2");
  g_assert_true(gtk_widget_has_css_class(GTK_WIDGET(display), "monospace"));
}

/* While an answer streams, the blocks before the one growing keep their widgets. */
static void
test_streaming_keeps_blocks(Fixture *f, gconstpointer unused)
{
  GtkWidget *paragraph = block(f, 0), *table = block(f, 1);
  g_autofree char *longer = g_strconcat(answer_markdown, "\nOne more line", NULL);
  vf_markdown_view_set_markdown(f->view, longer);
  g_assert_true(block(f, 0) == paragraph);
  g_assert_true(block(f, 1) == table);
  g_assert_cmpstr(gtk_label_get_text(GTK_LABEL(block(f, 6))), ==, "One more line");
  vf_markdown_view_set_markdown(f->view, "Short now.");
  g_assert_cmpstr(gtk_label_get_text(GTK_LABEL(block(f, 0))), ==, "Short now.");
  g_assert_null(gtk_widget_get_next_sibling(block(f, 0)));
}

int
main(int argc, char **argv)
{
  gtk_test_init(&argc, &argv, NULL);
  adw_init();
  /* The app's own style sheet (its path is the one argument left), so the screenshots look like the app. */
  g_assert_cmpint(argc, ==, 2);
  GtkCssProvider *css = gtk_css_provider_new();
  gtk_css_provider_load_from_path(css, argv[1]);
  gtk_style_context_add_provider_for_display(gdk_display_get_default(), GTK_STYLE_PROVIDER(css),
                                             GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
  g_test_add("/markdown-view/reflow", Fixture, NULL, fixture_set_up, test_reflow, fixture_tear_down);
  g_test_add("/markdown-view/table-scrolls", Fixture, NULL, fixture_set_up, test_table_scrolls, fixture_tear_down);
  g_test_add("/markdown-view/code-copy", Fixture, NULL, fixture_set_up, test_code_copy, fixture_tear_down);
  g_test_add("/markdown-view/links", Fixture, NULL, fixture_set_up, test_links, fixture_tear_down);
  g_test_add("/markdown-view/math", Fixture, NULL, fixture_set_up, test_math, fixture_tear_down);
  g_test_add("/markdown-view/streaming-keeps-blocks", Fixture, NULL, fixture_set_up, test_streaming_keeps_blocks,
             fixture_tear_down);
  return g_test_run();
}
