/* Conversations in SQLite; see vf_history.h. */
#define G_LOG_DOMAIN "vf-history"

#include "vf_history.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <string.h>

G_DEFINE_QUARK(vf-history-error-quark, vf_history_error)

struct VfHistory {
  char *dir;
  char *db_path;
  sqlite3 *db;
};

/* ---- migrations ------------------------------------------------------------------------------------------ */

/* migrations[v] brings a database from schema v to v + 1. Never edit one that has shipped: add the next. */
static const char *const migrations[VF_HISTORY_SCHEMA] = {
  /* 0 → 1: the first schema. */
  "CREATE TABLE conversations ("
  "  id INTEGER PRIMARY KEY,"
  "  title TEXT NOT NULL,"
  "  created_us INTEGER NOT NULL,"
  "  updated_us INTEGER NOT NULL);"
  "CREATE TABLE messages ("
  "  id INTEGER PRIMARY KEY,"
  "  conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
  "  position INTEGER NOT NULL,"
  "  role TEXT NOT NULL,"
  "  text TEXT NOT NULL,"
  "  stats TEXT);"
  "CREATE INDEX messages_by_conversation ON messages(conversation_id, position);"
  "CREATE TABLE attachments ("
  "  id INTEGER PRIMARY KEY,"
  "  message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
  "  position INTEGER NOT NULL,"
  "  kind TEXT NOT NULL,"
  "  name TEXT NOT NULL,"
  "  blob TEXT,"
  "  source TEXT,"
  "  options TEXT);"
  "CREATE INDEX attachments_by_message ON attachments(message_id, position);",
  /* 1 → 2: the model of the last answer and per-conversation settings; regenerated answers kept side by side
   * (alternatives at one position, one of them chosen); the sidebar's order indexed. */
  "ALTER TABLE conversations ADD COLUMN model TEXT;"
  "ALTER TABLE conversations ADD COLUMN settings TEXT;"
  "ALTER TABLE messages ADD COLUMN alternative INTEGER NOT NULL DEFAULT 0;"
  "ALTER TABLE messages ADD COLUMN chosen INTEGER NOT NULL DEFAULT 1;"
  "CREATE UNIQUE INDEX messages_at ON messages(conversation_id, position, alternative);"
  "CREATE INDEX conversations_by_update ON conversations(updated_us DESC);",
};

static gboolean
fail(GError **error, sqlite3 *db, const char *doing)
{
  g_set_error(error, VF_HISTORY_ERROR, VF_HISTORY_ERROR_DATABASE, "the conversation history: cannot %s: %s", doing,
              sqlite3_errmsg(db));
  return FALSE;
}

static gboolean
exec(sqlite3 *db, const char *sql, const char *doing, GError **error)
{
  char *message = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &message) != SQLITE_OK) {
    g_set_error(error, VF_HISTORY_ERROR, VF_HISTORY_ERROR_DATABASE, "the conversation history: cannot %s: %s",
                doing, message ? message : sqlite3_errmsg(db));
    sqlite3_free(message);
    return FALSE;
  }
  return TRUE;
}

/* ---- opening ---------------------------------------------------------------------------------------------- */

/* The connection's settings. Switching a new file to WAL takes an exclusive lock, and SQLite answers a second
 * connection doing the same at that moment with "database is locked" at once, without its busy handler (the
 * app's two connections open the file together at start-up): that is tried again for up to 2 s. */
static gboolean
set_up(sqlite3 *db, GError **error)
{
  const char *sql = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;";
  for (int tries = 0;; tries++) {
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
      return TRUE;
    if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || tries == 100)
      return exec(db, sql, "set up the database", error);
    g_usleep(20000);
  }
}

/* The schema version, or −1 when the file is not a readable SQLite database. */
static int
schema_version(sqlite3 *db)
{
  sqlite3_stmt *st = NULL;
  int version = -1;
  /* Reading the schema touches the header and the first page: a foreign or damaged file fails here. */
  if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
      version = sqlite3_column_int(st, 0);
  }
  sqlite3_finalize(st);
  return version;
}

/* Brings the database to VF_HISTORY_SCHEMA, one migration per transaction. The version is read again under the
 * write lock: the app's two connections (the engine's worker, the sidebar) open the same file at start-up, and
 * the one that waited finds the work done. */
static gboolean
migrate(sqlite3 *db, GError **error)
{
  for (;;) {
    if (!exec(db, "BEGIN IMMEDIATE", "start a transaction", error))
      return FALSE;
    int v = schema_version(db);
    if (v >= VF_HISTORY_SCHEMA)
      return exec(db, "COMMIT", "end a transaction", error);
    g_autofree char *sql = g_strdup_printf("%s PRAGMA user_version = %d; COMMIT;", migrations[v], v + 1);
    g_autofree char *doing = g_strdup_printf("update its schema from version %d to %d", v, v + 1);
    if (!exec(db, sql, doing, error)) {
      sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
      return FALSE;
    }
    if (v > 0) /* a fresh database is not news */
      g_message("conversation history: schema %d -> %d", v, v + 1);
  }
}

/* history.db (and its -wal, -shm) → history.db.<why>-<time>: kept for the user, never overwritten. */
static char *
put_aside(const char *db_path, const char *why, GError **error)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_local();
  g_autofree char *stamp = g_date_time_format(now, "%Y%m%d-%H%M%S");
  g_autofree char *aside = NULL;
  for (int n = 0; n < 100; n++) {
    g_free(aside);
    aside = n ? g_strdup_printf("%s.%s-%s-%d", db_path, why, stamp, n) : g_strdup_printf("%s.%s-%s", db_path, why, stamp);
    if (!g_file_test(aside, G_FILE_TEST_EXISTS))
      break;
  }
  if (g_rename(db_path, aside) != 0) {
    int err = errno;
    g_set_error(error, VF_HISTORY_ERROR, VF_HISTORY_ERROR_IO, "cannot move %s aside to %s: %s", db_path, aside,
                g_strerror(err));
    return NULL;
  }
  for (const char *const *suffix = (const char *const[]){"-wal", "-shm", NULL}; *suffix; suffix++) {
    g_autofree char *from = g_strconcat(db_path, *suffix, NULL), *to = g_strconcat(aside, *suffix, NULL);
    if (g_file_test(from, G_FILE_TEST_EXISTS))
      g_rename(from, to);
  }
  return g_steal_pointer(&aside);
}

static sqlite3 *
open_db(const char *path, GError **error)
{
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
    g_set_error(error, VF_HISTORY_ERROR, VF_HISTORY_ERROR_DATABASE, "cannot open the conversation history %s: %s",
                path, db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return NULL;
  }
  sqlite3_busy_timeout(db, 2000); /* another window of the app writing: wait, then report */
  return db;
}

VfHistory *
vf_history_open(const char *dir, char **notice, GError **error)
{
  if (notice)
    *notice = NULL;
  g_autofree char *folder = dir ? g_strdup(dir) : g_build_filename(g_get_user_data_dir(), "viewfinder", NULL);
  if (g_mkdir_with_parents(folder, 0700) != 0) {
    int err = errno;
    g_set_error(error, VF_HISTORY_ERROR, VF_HISTORY_ERROR_IO, "cannot create %s: %s", folder, g_strerror(err));
    return NULL;
  }
  g_autofree char *path = g_build_filename(folder, "history.db", NULL);
  sqlite3 *db = open_db(path, error);
  if (!db)
    return NULL;
  int version = schema_version(db);
  if (version < 0 || version > VF_HISTORY_SCHEMA) {
    sqlite3_close(db);
    g_autofree char *why = version < 0 ? g_strdup("corrupt") : g_strdup_printf("newer-v%d", version);
    g_autofree char *aside = put_aside(path, why, error);
    if (!aside)
      return NULL;
    if (notice)
      *notice = version < 0
                  ? g_strdup_printf("The conversation history could not be read, so a new one was started. The old "
                                    "file is kept as %s.", aside)
                  : g_strdup_printf("The conversation history was written by a newer Viewfinder (schema %d; this one "
                                    "knows %d), so a new one was started. The newer file is kept as %s.",
                                    version, VF_HISTORY_SCHEMA, aside);
    db = open_db(path, error);
    if (!db)
      return NULL;
  }
  if (!set_up(db, error) || !migrate(db, error)) {
    sqlite3_close(db);
    return NULL;
  }
  VfHistory *h = g_new0(VfHistory, 1);
  h->dir = g_steal_pointer(&folder);
  h->db_path = g_steal_pointer(&path);
  h->db = db;
  return h;
}

void
vf_history_close(VfHistory *h)
{
  if (!h)
    return;
  sqlite3_close(h->db);
  g_free(h->dir);
  g_free(h->db_path);
  g_free(h);
}

const char *
vf_history_dir(VfHistory *h)
{
  return h->dir;
}

/* ---- statements -------------------------------------------------------------------------------------------- */

/* Prepares `sql` and binds the arguments: 'i' gint64, 's' const char * (NULL binds NULL). */
static sqlite3_stmt *
prepare(VfHistory *h, const char *sql, const char *types, va_list args, GError **error)
{
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(h->db, sql, -1, &st, NULL) != SQLITE_OK) {
    fail(error, h->db, "prepare a query");
    return NULL;
  }
  for (int i = 0; types[i]; i++) {
    int rc = types[i] == 'i' ? sqlite3_bind_int64(st, i + 1, va_arg(args, gint64))
                             : sqlite3_bind_text(st, i + 1, va_arg(args, const char *), -1, SQLITE_TRANSIENT);
    if (rc != SQLITE_OK) {
      fail(error, h->db, "bind a value");
      sqlite3_finalize(st);
      return NULL;
    }
  }
  return st;
}

/* Runs a statement that returns no rows; *changes (may be NULL) gets the rows it changed. */
static gboolean
run(VfHistory *h, int *changes, GError **error, const char *sql, const char *types, ...)
{
  va_list args;
  va_start(args, types);
  sqlite3_stmt *st = prepare(h, sql, types, args, error);
  va_end(args);
  if (!st)
    return FALSE;
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    return fail(error, h->db, "write");
  if (changes)
    *changes = sqlite3_changes(h->db);
  return TRUE;
}

/* Runs a query whose first column of the first row is an integer; FALSE with NOT_FOUND when there is none. */
static gboolean
query_int(VfHistory *h, gint64 *out, const char *what, GError **error, const char *sql, const char *types, ...)
{
  va_list args;
  va_start(args, types);
  sqlite3_stmt *st = prepare(h, sql, types, args, error);
  va_end(args);
  if (!st)
    return FALSE;
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    *out = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  if (rc == SQLITE_ROW)
    return TRUE;
  if (rc == SQLITE_DONE) {
    g_set_error(error, VF_HISTORY_ERROR, VF_HISTORY_ERROR_NOT_FOUND, "the conversation history has no %s", what);
    return FALSE;
  }
  return fail(error, h->db, "read");
}

static char *
column_text(sqlite3_stmt *st, int i)
{
  const unsigned char *text = sqlite3_column_text(st, i);
  return text ? g_strdup((const char *)text) : NULL;
}

static gboolean
not_found_unless(int changes, gint64 id, const char *what, GError **error)
{
  if (changes > 0)
    return TRUE;
  g_set_error(error, VF_HISTORY_ERROR, VF_HISTORY_ERROR_NOT_FOUND, "the conversation history has no %s %" G_GINT64_FORMAT,
              what, id);
  return FALSE;
}

static gboolean
touch(VfHistory *h, gint64 conversation, GError **error)
{
  int changes = 0;
  return run(h, &changes, error, "UPDATE conversations SET updated_us = ? WHERE id = ?", "ii", g_get_real_time(),
             conversation) &&
         not_found_unless(changes, conversation, "conversation", error);
}

/* ---- conversations ----------------------------------------------------------------------------------------- */

void
vf_history_conversation_free(VfHistoryConversation *c)
{
  if (!c)
    return;
  g_free(c->title);
  g_free(c->model);
  g_free(c);
}

gint64
vf_history_create(VfHistory *h, const char *title, GError **error)
{
  gint64 now = g_get_real_time();
  if (!run(h, NULL, error, "INSERT INTO conversations (title, created_us, updated_us) VALUES (?, ?, ?)", "sii",
           title, now, now))
    return 0;
  return sqlite3_last_insert_rowid(h->db);
}

gboolean
vf_history_rename(VfHistory *h, gint64 conversation, const char *title, GError **error)
{
  int changes = 0;
  return run(h, &changes, error, "UPDATE conversations SET title = ? WHERE id = ?", "si", title, conversation) &&
         not_found_unless(changes, conversation, "conversation", error);
}

gboolean
vf_history_delete(VfHistory *h, gint64 conversation, GError **error)
{
  int changes = 0;
  return run(h, &changes, error, "DELETE FROM conversations WHERE id = ?", "i", conversation) &&
         not_found_unless(changes, conversation, "conversation", error);
}

gboolean
vf_history_set_model(VfHistory *h, gint64 conversation, const char *model, GError **error)
{
  int changes = 0;
  return run(h, &changes, error, "UPDATE conversations SET model = ? WHERE id = ?", "si", model, conversation) &&
         not_found_unless(changes, conversation, "conversation", error);
}

/* `text` as a LIKE pattern that matches it literally anywhere. */
static char *
like_pattern(const char *text)
{
  GString *p = g_string_new("%");
  for (const char *c = text; *c; c++) {
    if (*c == '%' || *c == '_' || *c == '\\')
      g_string_append_c(p, '\\');
    g_string_append_c(p, *c);
  }
  g_string_append_c(p, '%');
  return g_string_free(p, FALSE);
}

GPtrArray *
vf_history_list(VfHistory *h, const char *search, GError **error)
{
  gboolean all = !search || !*search;
  g_autofree char *pattern = all ? NULL : like_pattern(search);
  const char *sql = all ? "SELECT id, title, created_us, updated_us, model FROM conversations "
                          "ORDER BY updated_us DESC, id DESC"
                        : "SELECT id, title, created_us, updated_us, model FROM conversations c "
                          "WHERE title LIKE ?1 ESCAPE '\\' OR EXISTS (SELECT 1 FROM messages m "
                          "WHERE m.conversation_id = c.id AND m.text LIKE ?1 ESCAPE '\\') "
                          "ORDER BY updated_us DESC, id DESC";
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(h->db, sql, -1, &st, NULL) != SQLITE_OK ||
      (!all && sqlite3_bind_text(st, 1, pattern, -1, SQLITE_TRANSIENT) != SQLITE_OK)) {
    fail(error, h->db, "list the conversations");
    sqlite3_finalize(st);
    return NULL;
  }
  GPtrArray *list = g_ptr_array_new_with_free_func((GDestroyNotify)vf_history_conversation_free);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    VfHistoryConversation *c = g_new0(VfHistoryConversation, 1);
    c->id = sqlite3_column_int64(st, 0);
    c->title = column_text(st, 1);
    c->created_us = sqlite3_column_int64(st, 2);
    c->updated_us = sqlite3_column_int64(st, 3);
    c->model = column_text(st, 4);
    g_ptr_array_add(list, c);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    g_ptr_array_unref(list);
    fail(error, h->db, "list the conversations");
    return NULL;
  }
  return list;
}

/* ---- messages ---------------------------------------------------------------------------------------------- */

static void
attachment_free(VfHistoryAttachment *a)
{
  g_free(a->kind);
  g_free(a->name);
  g_free(a->blob);
  g_free(a->source);
  g_free(a->options);
  g_free(a);
}

void
vf_history_message_free(VfHistoryMessage *m)
{
  if (!m)
    return;
  g_free(m->role);
  g_free(m->text);
  g_free(m->stats);
  g_ptr_array_unref(m->attachments);
  g_free(m);
}

gint64
vf_history_append(VfHistory *h, gint64 conversation, const char *role, const char *text, const char *stats,
                  GError **error)
{
  if (!exec(h->db, "BEGIN IMMEDIATE", "start a transaction", error))
    return 0;
  gint64 id = 0;
  if (touch(h, conversation, error) &&
      run(h, NULL, error,
          "INSERT INTO messages (conversation_id, position, alternative, chosen, role, text, stats) "
          "VALUES (?1, (SELECT coalesce(max(position) + 1, 0) FROM messages WHERE conversation_id = ?1), 0, 1, ?2, ?3, ?4)",
          "isss", conversation, role, text, stats))
    id = sqlite3_last_insert_rowid(h->db);
  if (!exec(h->db, id ? "COMMIT" : "ROLLBACK", "finish a transaction", id ? error : NULL))
    return 0;
  return id;
}

gint64
vf_history_add_alternative(VfHistory *h, gint64 message, const char *text, const char *stats, GError **error)
{
  if (!exec(h->db, "BEGIN IMMEDIATE", "start a transaction", error))
    return 0;
  gint64 conversation = 0, id = 0;
  if (query_int(h, &conversation, "such message", error, "SELECT conversation_id FROM messages WHERE id = ?", "i",
                message) &&
      touch(h, conversation, error) &&
      run(h, NULL, error,
          "UPDATE messages SET chosen = 0 WHERE conversation_id = ?1 AND position = "
          "(SELECT position FROM messages WHERE id = ?2)",
          "ii", conversation, message) &&
      run(h, NULL, error,
          "INSERT INTO messages (conversation_id, position, alternative, chosen, role, text, stats) "
          "SELECT conversation_id, position, (SELECT max(alternative) + 1 FROM messages n WHERE "
          "n.conversation_id = m.conversation_id AND n.position = m.position), 1, role, ?2, ?3 FROM messages m "
          "WHERE id = ?1",
          "iss", message, text, stats))
    id = sqlite3_last_insert_rowid(h->db);
  if (!exec(h->db, id ? "COMMIT" : "ROLLBACK", "finish a transaction", id ? error : NULL))
    return 0;
  return id;
}

gboolean
vf_history_choose(VfHistory *h, gint64 message, GError **error)
{
  int changes = 0;
  return run(h, &changes, error,
             "UPDATE messages SET chosen = (id = ?1) WHERE (conversation_id, position) = "
             "(SELECT conversation_id, position FROM messages WHERE id = ?1)",
             "i", message) &&
         not_found_unless(changes, message, "message", error);
}

gboolean
vf_history_set_text(VfHistory *h, gint64 message, const char *text, const char *stats, GError **error)
{
  int changes = 0;
  if (stats)
    return run(h, &changes, error, "UPDATE messages SET text = ?, stats = ? WHERE id = ?", "ssi", text, stats,
               message) &&
           not_found_unless(changes, message, "message", error);
  return run(h, &changes, error, "UPDATE messages SET text = ? WHERE id = ?", "si", text, message) &&
         not_found_unless(changes, message, "message", error);
}

gboolean
vf_history_truncate(VfHistory *h, gint64 conversation, gint64 position, GError **error)
{
  return run(h, NULL, error, "DELETE FROM messages WHERE conversation_id = ? AND position > ?", "ii", conversation,
             position) &&
         touch(h, conversation, error);
}

gboolean
vf_history_delete_message(VfHistory *h, gint64 message, GError **error)
{
  int changes = 0;
  return run(h, &changes, error, "DELETE FROM messages WHERE id = ?", "i", message) &&
         not_found_unless(changes, message, "message", error);
}

gboolean
vf_history_remove(VfHistory *h, gint64 conversation, gint64 position, gint64 count, GError **error)
{
  if (!exec(h->db, "BEGIN IMMEDIATE", "start a transaction", error))
    return FALSE;
  /* The later messages move down through negative positions: (conversation, position, alternative) is unique at
   * every row's update. */
  gboolean ok = run(h, NULL, error, "DELETE FROM messages WHERE conversation_id = ?1 AND position >= ?2 AND "
                    "position < ?2 + ?3", "iii", conversation, position, count) &&
                run(h, NULL, error, "UPDATE messages SET position = -1 - (position - ?3) WHERE conversation_id = ?1 "
                    "AND position >= ?2 + ?3", "iii", conversation, position, count) &&
                run(h, NULL, error, "UPDATE messages SET position = -1 - position WHERE conversation_id = ?1 AND "
                    "position < 0", "i", conversation) &&
                touch(h, conversation, error);
  if (!exec(h->db, ok ? "COMMIT" : "ROLLBACK", "finish a transaction", ok ? error : NULL))
    return FALSE;
  return ok;
}

GPtrArray *
vf_history_messages(VfHistory *h, gint64 conversation, GError **error)
{
  gint64 exists = 0;
  if (!query_int(h, &exists, "such conversation", error, "SELECT id FROM conversations WHERE id = ?", "i",
                 conversation))
    return NULL;
  sqlite3_stmt *st = NULL, *at = NULL;
  if (sqlite3_prepare_v2(h->db,
                         "SELECT id, position, alternative, chosen, role, text, stats FROM messages "
                         "WHERE conversation_id = ? ORDER BY position, alternative",
                         -1, &st, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(h->db,
                         "SELECT id, position, kind, name, blob, source, options FROM attachments "
                         "WHERE message_id = ? ORDER BY position",
                         -1, &at, NULL) != SQLITE_OK) {
    sqlite3_finalize(st);
    fail(error, h->db, "read a conversation");
    return NULL;
  }
  sqlite3_bind_int64(st, 1, conversation);
  GPtrArray *messages = g_ptr_array_new_with_free_func((GDestroyNotify)vf_history_message_free);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    VfHistoryMessage *m = g_new0(VfHistoryMessage, 1);
    m->id = sqlite3_column_int64(st, 0);
    m->position = (guint)sqlite3_column_int(st, 1);
    m->alternative = (guint)sqlite3_column_int(st, 2);
    m->chosen = sqlite3_column_int(st, 3) != 0;
    m->role = column_text(st, 4);
    m->text = column_text(st, 5);
    m->stats = column_text(st, 6);
    m->attachments = g_ptr_array_new_with_free_func((GDestroyNotify)attachment_free);
    sqlite3_reset(at);
    sqlite3_bind_int64(at, 1, m->id);
    while (sqlite3_step(at) == SQLITE_ROW) {
      VfHistoryAttachment *a = g_new0(VfHistoryAttachment, 1);
      a->id = sqlite3_column_int64(at, 0);
      a->position = (guint)sqlite3_column_int(at, 1);
      a->kind = column_text(at, 2);
      a->name = column_text(at, 3);
      a->blob = column_text(at, 4);
      a->source = column_text(at, 5);
      a->options = column_text(at, 6);
      g_ptr_array_add(m->attachments, a);
    }
    g_ptr_array_add(messages, m);
  }
  sqlite3_finalize(st);
  sqlite3_finalize(at);
  if (rc != SQLITE_DONE) {
    g_ptr_array_unref(messages);
    fail(error, h->db, "read a conversation");
    return NULL;
  }
  return messages;
}

/* ---- attachments ------------------------------------------------------------------------------------------- */

char *
vf_history_blob_path(VfHistory *h, const char *blob)
{
  char shard[3] = {blob[0], blob[0] ? blob[1] : 0, 0};
  return g_build_filename(h->dir, "blobs", shard, blob, NULL);
}

char *
vf_history_store_bytes(VfHistory *h, GBytes *bytes, GError **error)
{
  g_autofree char *hash = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, bytes);
  g_autofree char *path = vf_history_blob_path(h, hash);
  if (g_file_test(path, G_FILE_TEST_IS_REGULAR))
    return g_steal_pointer(&hash);
  g_autofree char *dir = g_path_get_dirname(path);
  if (g_mkdir_with_parents(dir, 0700) != 0) {
    int err = errno;
    g_set_error(error, VF_HISTORY_ERROR, VF_HISTORY_ERROR_IO, "cannot create %s: %s", dir, g_strerror(err));
    return NULL;
  }
  /* g_file_set_contents writes a temporary file and renames it: a blob is whole or absent. */
  g_autoptr(GError) cause = NULL;
  gsize n = 0;
  const char *data = g_bytes_get_data(bytes, &n);
  if (!g_file_set_contents_full(path, data ? data : "", (gssize)n, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &cause)) {
    g_set_error(error, VF_HISTORY_ERROR, VF_HISTORY_ERROR_IO, "cannot keep a copy of an attachment: %s",
                cause->message);
    return NULL;
  }
  return g_steal_pointer(&hash);
}

char *
vf_history_store_file(VfHistory *h, const char *path, GError **error)
{
  g_autoptr(GMappedFile) mapped = g_mapped_file_new(path, FALSE, NULL);
  if (!mapped) {
    int err = errno;
    g_set_error(error, VF_HISTORY_ERROR, VF_HISTORY_ERROR_IO, "cannot read %s to keep a copy: %s", path,
                g_strerror(err));
    return NULL;
  }
  g_autoptr(GBytes) bytes = g_mapped_file_get_bytes(mapped);
  return vf_history_store_bytes(h, bytes, error);
}

gint64
vf_history_attach(VfHistory *h, gint64 message, const char *kind, const char *name, const char *blob,
                  const char *source, const char *options, GError **error)
{
  if (!run(h, NULL, error,
           "INSERT INTO attachments (message_id, position, kind, name, blob, source, options) VALUES "
           "(?1, (SELECT coalesce(max(position) + 1, 0) FROM attachments WHERE message_id = ?1), ?2, ?3, ?4, ?5, ?6)",
           "isssss", message, kind, name, blob, source, options))
    return 0;
  return sqlite3_last_insert_rowid(h->db);
}
