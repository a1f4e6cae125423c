/* VfSidebar in a real window under Xvfb over a history in a temporary folder: the empty state, conversations
 * newest first with their titles, search (and "No Results"), rename (an empty title refused), delete with
 * Undo (the row leaves at once, the history keeps it until the toast goes), and the current conversation
 * selected. */
#include <adwaita.h>
#include <glib/gstdio.h>

#include "vf_history.h"
#include "vf_sidebar.h"
#include "vf_test_dir.h"

typedef struct {
  char *dir;
  GtkWindow *window;
  VfSidebar *sidebar;
  GArray *activated, *deleted; /* gint64 */
} Fixture;

static void
on_deleted(VfSidebar *sidebar, gint64 conversation, Fixture *f)
{
  g_array_append_val(f->deleted, conversation);
}

static void
setup(Fixture *f)
{
  f->dir = vf_test_dir_new("vf-sidebar-XXXXXX");
  f->activated = g_array_new(FALSE, FALSE, sizeof(gint64));
  f->deleted = g_array_new(FALSE, FALSE, sizeof(gint64));
  f->window = GTK_WINDOW(adw_window_new());
  gtk_window_set_default_size(f->window, 280, 500);
  f->sidebar = VF_SIDEBAR(vf_sidebar_new());
  g_signal_connect(f->sidebar, "conversation-deleted", G_CALLBACK(on_deleted), f);
  adw_window_set_content(ADW_WINDOW(f->window), GTK_WIDGET(f->sidebar));
  gtk_window_present(f->window);
  while (g_main_context_iteration(NULL, FALSE))
    ;
}

static void
teardown(Fixture *f)
{
  gtk_window_destroy(f->window);
  while (g_main_context_iteration(NULL, FALSE))
    ;
  g_array_unref(f->activated);
  g_array_unref(f->deleted);
  vf_test_dir_remove(f->dir);
  g_free(f->dir);
}

static gint64
store(VfHistory *h, const char *title, const char *question)
{
  g_autoptr(GError) error = NULL;
  gint64 c = vf_history_create(h, title, &error);
  g_assert_no_error(error);
  vf_history_append(h, c, "user", question, NULL, &error);
  g_assert_no_error(error);
  g_usleep(2000); /* distinct update times: the list's order */
  return c;
}

static void
test_sidebar(void)
{
  Fixture f = {0};
  setup(&f);
  g_autoptr(GError) error = NULL;

  g_assert_true(vf_sidebar_open(f.sidebar, f.dir, &error));
  g_assert_no_error(error);
  g_assert_cmpstr(vf_sidebar_get_state(f.sidebar), ==, "empty");
  g_assert_cmpuint(vf_sidebar_get_n_rows(f.sidebar), ==, 0);

  g_autoptr(VfHistory) h = vf_history_open(f.dir, NULL, &error);
  g_assert_no_error(error);
  gint64 cat = store(h, "A cat on a sofa", "What is this cat doing?");
  gint64 receipt = store(h, "Receipt total", "What is the total?");
  gint64 flag = store(h, "Flag colours", "Which colours are on the flag?");
  vf_sidebar_reload(f.sidebar);
  g_assert_cmpstr(vf_sidebar_get_state(f.sidebar), ==, "list");
  g_assert_cmpuint(vf_sidebar_get_n_rows(f.sidebar), ==, 3);
  g_assert_cmpint(vf_sidebar_get_row_id(f.sidebar, 0), ==, flag);
  g_assert_cmpint(vf_sidebar_get_row_id(f.sidebar, 1), ==, receipt);
  g_assert_cmpint(vf_sidebar_get_row_id(f.sidebar, 2), ==, cat);
  g_assert_cmpstr(vf_sidebar_get_row_title(f.sidebar, 2), ==, "A cat on a sofa");

  /* Search in titles and messages, ignoring case; none found shows "No Results". */
  vf_sidebar_set_search(f.sidebar, "TOTAL");
  g_assert_cmpuint(vf_sidebar_get_n_rows(f.sidebar), ==, 1);
  g_assert_cmpint(vf_sidebar_get_row_id(f.sidebar, 0), ==, receipt);
  vf_sidebar_set_search(f.sidebar, "doing");
  g_assert_cmpint(vf_sidebar_get_row_id(f.sidebar, 0), ==, cat);
  vf_sidebar_set_search(f.sidebar, "giraffe");
  g_assert_cmpstr(vf_sidebar_get_state(f.sidebar), ==, "no-results");
  vf_sidebar_set_search(f.sidebar, "");
  g_assert_cmpuint(vf_sidebar_get_n_rows(f.sidebar), ==, 3);

  /* Rename: the new title is stored; an empty one is refused and changes nothing. */
  g_assert_true(vf_sidebar_rename(f.sidebar, cat, "  Sleepy cat ", &error));
  g_assert_no_error(error);
  g_assert_cmpstr(vf_sidebar_get_row_title(f.sidebar, 2), ==, "Sleepy cat"); /* renaming keeps its place */
  g_assert_false(vf_sidebar_rename(f.sidebar, cat, "   ", &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);
  g_autoptr(GPtrArray) renamed = vf_history_list(h, "Sleepy", &error);
  g_assert_cmpuint(renamed->len, ==, 1);

  /* The current conversation is selected. */
  vf_sidebar_set_current(f.sidebar, receipt);
  g_assert_cmpuint(vf_sidebar_get_selected_row(f.sidebar), ==, 1);
  vf_sidebar_set_current(f.sidebar, 0);
  g_assert_cmpuint(vf_sidebar_get_selected_row(f.sidebar), ==, GTK_INVALID_LIST_POSITION);
  vf_sidebar_set_current(f.sidebar, receipt);

  /* Delete: the row goes at once, the history keeps it until the toast goes; Undo brings it back. */
  guint before = vf_sidebar_get_n_rows(f.sidebar);
  vf_sidebar_delete(f.sidebar, flag);
  g_assert_cmpuint(vf_sidebar_get_n_rows(f.sidebar), ==, before - 1);
  g_assert_cmpuint(f.deleted->len, ==, 1);
  g_assert_cmpint(g_array_index(f.deleted, gint64, 0), ==, flag);
  g_autoptr(GPtrArray) kept = vf_history_list(h, NULL, &error);
  g_assert_cmpuint(kept->len, ==, 3);
  vf_sidebar_undo_delete(f.sidebar);
  g_assert_cmpuint(vf_sidebar_get_n_rows(f.sidebar), ==, 3);

  /* Deleted for good when the toast goes (here: at once). */
  vf_sidebar_delete(f.sidebar, flag);
  vf_sidebar_commit_delete(f.sidebar);
  g_autoptr(GPtrArray) left = vf_history_list(h, NULL, &error);
  g_assert_cmpuint(left->len, ==, 2);
  vf_sidebar_undo_delete(f.sidebar); /* too late: nothing to undo */
  g_assert_cmpuint(vf_sidebar_get_n_rows(f.sidebar), ==, 2);

  /* A second delete commits the first: one Undo at a time. */
  vf_sidebar_delete(f.sidebar, receipt);
  vf_sidebar_delete(f.sidebar, cat);
  g_autoptr(GPtrArray) one = vf_history_list(h, NULL, &error);
  g_assert_cmpuint(one->len, ==, 1);
  vf_sidebar_undo_delete(f.sidebar);
  g_assert_cmpuint(vf_sidebar_get_n_rows(f.sidebar), ==, 1);
  g_assert_cmpint(vf_sidebar_get_row_id(f.sidebar, 0), ==, cat);

  /* A history that cannot be opened: the error state says why. */
  g_autofree char *file = g_build_filename(f.dir, "not-a-folder", NULL);
  g_assert_true(g_file_set_contents(file, "x", -1, NULL));
  g_assert_false(vf_sidebar_open(f.sidebar, file, &error));
  g_assert_error(error, VF_HISTORY_ERROR, VF_HISTORY_ERROR_IO);
  g_clear_error(&error);
  g_assert_cmpstr(vf_sidebar_get_state(f.sidebar), ==, "error");
  teardown(&f);
}

int
main(int argc, char **argv)
{
  gtk_test_init(&argc, &argv, NULL);
  adw_init();
  g_test_add_func("/sidebar/list-search-rename-delete", test_sidebar);
  return g_test_run();
}
