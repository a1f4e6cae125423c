/* VfHistory: every conversation, message, attachment and answer, kept in SQLite so they outlast the app.
 *
 *   $XDG_DATA_HOME/viewfinder/            (~/.local/share/viewfinder)
 *     history.db (+ -wal, -shm)           WAL journal, synchronous=NORMAL: a commit survives a killed process
 *     blobs/ab/abcdef…                    attachments copied in by SHA-256, so a conversation reopens after
 *                                         the original file moved; identical files are stored once
 *     history.db.corrupt-<time>           a database that could not be read, kept aside, never overwritten
 *     history.db.newer-v<N>-<time>        one written by a newer Viewfinder (schema N), kept aside
 *
 * Schema (PRAGMA user_version = VF_HISTORY_SCHEMA; older files are migrated step by step on open):
 *   conversations(id, title, created_us, updated_us, model, settings)       settings: JSON or NULL
 *   messages(id, conversation_id → conversations ON DELETE CASCADE, position, alternative, chosen, role, text,
 *            stats)                       position: order in the conversation; alternative: regenerated answers
 *                                         at one position (0, 1, …), chosen = 1 for the one shown; stats: JSON
 *   attachments(id, message_id → messages ON DELETE CASCADE, position, kind, name, blob, source, options)
 *
 * A streaming answer is written with vf_history_set_message_text() as it grows (the caller does it at least
 * every second and at the end), each call one transaction. Times are microseconds since the epoch.
 * Not thread-safe: use one VfHistory from one thread. */
#pragma once

#include <gio/gio.h>
#include <glib.h>

G_BEGIN_DECLS

#define VF_HISTORY_ERROR (vf_history_error_quark())
GQuark vf_history_error_quark(void);

typedef enum {
  VF_HISTORY_ERROR_IO,        /* the folder or a file cannot be created, read or written */
  VF_HISTORY_ERROR_DATABASE,  /* SQLite failed (disk full, locked by another program, …) */
  VF_HISTORY_ERROR_NOT_FOUND, /* no such conversation or message */
} VfHistoryError;

#define VF_HISTORY_SCHEMA 2

typedef struct VfHistory VfHistory;

/* Opens (creating) the history in `dir` (NULL: $XDG_DATA_HOME/viewfinder). A database that is corrupt or from
 * a newer schema is renamed aside and a fresh one started; *notice (may be NULL) then says so in a sentence
 * for the user, else is set to NULL. */
VfHistory *vf_history_open(const char *dir, char **notice, GError **error);
void vf_history_close(VfHistory *history);
const char *vf_history_dir(VfHistory *history);

typedef struct {
  gint64 id;
  char *title;
  gint64 created_us, updated_us;
  char *model;   /* the model of its last answer, or NULL */
} VfHistoryConversation;

void vf_history_conversation_free(VfHistoryConversation *conversation);

gint64 vf_history_create(VfHistory *history, const char *title, GError **error);
gboolean vf_history_rename(VfHistory *history, gint64 conversation, const char *title, GError **error);
/* Deletes the conversation with its messages and attachments (their blobs stay for other conversations). */
gboolean vf_history_delete(VfHistory *history, gint64 conversation, GError **error);
/* Conversations newest first (VfHistoryConversation *); `search` (NULL or "": all) keeps those whose title
 * or any message contains it, ignoring ASCII case. */
GPtrArray *vf_history_list(VfHistory *history, const char *search, GError **error);

typedef struct {
  gint64 id;
  guint position;
  char *kind;     /* "image", "video", "pdf" */
  char *name;     /* the file name shown */
  char *blob;     /* SHA-256 of the stored copy, or NULL (a URL kept as a source) */
  char *source;   /* where it came from */
  char *options;  /* JSON or NULL */
} VfHistoryAttachment;

typedef struct {
  gint64 id;
  guint position, alternative;
  gboolean chosen;
  char *role;     /* "system", "user", "assistant" */
  char *text;
  char *stats;    /* JSON or NULL */
  GPtrArray *attachments; /* VfHistoryAttachment * */
} VfHistoryMessage;

void vf_history_message_free(VfHistoryMessage *message);

/* Appends a message after the conversation's last position and marks the conversation updated. */
gint64 vf_history_append(VfHistory *history, gint64 conversation, const char *role, const char *text,
                         const char *stats, GError **error);
/* Adds another answer at the position of `message` (regenerate): the new one is chosen, the old ones kept. */
gint64 vf_history_add_alternative(VfHistory *history, gint64 message, const char *text, const char *stats,
                                  GError **error);
/* Shows another alternative at its position. */
gboolean vf_history_choose(VfHistory *history, gint64 message, GError **error);
/* The text (and stats, when not NULL) of a message; one transaction, for a streaming answer. */
gboolean vf_history_set_text(VfHistory *history, gint64 message, const char *text, const char *stats,
                             GError **error);
/* Removes every message after `position` (−1: all), for edit, delete turn and continue-elsewhere. */
gboolean vf_history_truncate(VfHistory *history, gint64 conversation, gint64 position, GError **error);
/* Deletes one message (an alternative that failed). */
gboolean vf_history_delete_message(VfHistory *history, gint64 message, GError **error);
/* Removes the messages at positions [position, position + count) (delete a turn); the later ones move down. */
gboolean vf_history_remove(VfHistory *history, gint64 conversation, gint64 position, gint64 count,
                           GError **error);
/* The messages in order, every alternative included (VfHistoryMessage *). */
GPtrArray *vf_history_messages(VfHistory *history, gint64 conversation, GError **error);
gboolean vf_history_set_model(VfHistory *history, gint64 conversation, const char *model, GError **error);

/* Copies a file into blobs/ by its SHA-256 (once per content) and returns the hash. */
char *vf_history_store_file(VfHistory *history, const char *path, GError **error);
/* The same for bytes (a pasted picture). */
char *vf_history_store_bytes(VfHistory *history, GBytes *bytes, GError **error);
char *vf_history_blob_path(VfHistory *history, const char *blob);
gint64 vf_history_attach(VfHistory *history, gint64 message, const char *kind, const char *name, const char *blob,
                         const char *source, const char *options, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfHistory, vf_history_close)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfHistoryConversation, vf_history_conversation_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VfHistoryMessage, vf_history_message_free)

G_END_DECLS
