/* VfSidebar: the kept conversations (model/store/vf_history.h), newest first, as the window's side pane:
 * a search entry, a list (title from the first question, when it was last changed and with which model; a ⋯ menu
 * to rename or delete), and an empty state ("No Conversations", or "No Results" for a search). A deleted
 * conversation leaves the list at once with an Undo toast; it is deleted from the history when the toast goes.
 * It reads the history through a connection of its own on the main thread (the engine's worker writes through
 * another; SQLite's WAL lets both), and is told to reload when the engine stored something. */
#pragma once

#include <adwaita.h>

#include "vf_history.h"

G_BEGIN_DECLS

#define VF_TYPE_SIDEBAR (vf_sidebar_get_type())
G_DECLARE_FINAL_TYPE(VfSidebar, vf_sidebar, VF, SIDEBAR, GtkWidget)

GtkWidget *vf_sidebar_new(void);
/* Opens the history in `dir` (NULL: $XDG_DATA_HOME/viewfinder) and lists it. On failure the empty state says
 * why. */
gboolean vf_sidebar_open(VfSidebar *self, const char *dir, GError **error);
/* The sidebar's connection to the history (main thread), or NULL when it could not be opened. */
VfHistory *vf_sidebar_get_history(VfSidebar *self);
/* Reads the list again (the search kept). */
void vf_sidebar_reload(VfSidebar *self);
/* Selects the engine's conversation (0: none). */
void vf_sidebar_set_current(VfSidebar *self, gint64 conversation);
gint64 vf_sidebar_get_current(VfSidebar *self);
void vf_sidebar_set_search(VfSidebar *self, const char *text);

/* What the list shows, for tests and the window: rows in order. */
guint vf_sidebar_get_n_rows(VfSidebar *self);
gint64 vf_sidebar_get_row_id(VfSidebar *self, guint row);
const char *vf_sidebar_get_row_title(VfSidebar *self, guint row);
/* Opens the row's conversation, as a click does ("conversation-activated"). */
void vf_sidebar_activate_row(VfSidebar *self, guint row);
/* The current conversation's row, or GTK_INVALID_LIST_POSITION. */
guint vf_sidebar_get_selected_row(VfSidebar *self);
/* "list", "empty" (no conversations), "no-results" (none match the search) or "error". */
const char *vf_sidebar_get_state(VfSidebar *self);

/* The row menu's actions, also for tests: rename at once; delete with the Undo toast; undo the last delete. */
gboolean vf_sidebar_rename(VfSidebar *self, gint64 conversation, const char *title, GError **error);
void vf_sidebar_delete(VfSidebar *self, gint64 conversation);
void vf_sidebar_undo_delete(VfSidebar *self);
/* Deletes what waits for its toast to go now (the window does it before it closes). */
void vf_sidebar_commit_delete(VfSidebar *self);

G_END_DECLS
