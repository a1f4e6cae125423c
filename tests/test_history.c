/* The conversation history (vf_history.h) against real SQLite files: conversations, messages, alternatives,
 * attachments copied by content; kill -9 of a process streaming an answer loses at most what it had not
 * committed; a corrupt database and one from a newer schema are kept aside with a notice; a database of the
 * first schema is migrated with its data; 1,000 conversations list and search within the budgets. */
#include <glib/gstdio.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vf_history.h"
#include "vf_test_dir.h"

static const char *self_exe;

static VfHistory *
open_history(const char *dir)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *notice = NULL;
  VfHistory *h = vf_history_open(dir, &notice, &error);
  g_assert_no_error(error);
  g_assert_null(notice);
  return h;
}

static void
test_conversations_and_messages(void)
{
  g_autofree char *dir = vf_test_dir_new("vf-history-XXXXXX");
  g_autoptr(GError) error = NULL;
  {
    g_autoptr(VfHistory) h = open_history(dir);
    gint64 first = vf_history_create(h, "What is in the picture?", &error);
    g_assert_no_error(error);
    gint64 user = vf_history_append(h, first, "user", "What is in the picture?", NULL, &error);
    gint64 answer = vf_history_append(h, first, "assistant", "A cat.", "{\"tokens\":3}", &error);
    g_assert_no_error(error);
    g_usleep(2000);
    gint64 second = vf_history_create(h, "Second", &error);
    vf_history_append(h, second, "user", "Hello", NULL, &error);
    g_assert_no_error(error);

    /* A picture kept by content: stored once, readable after the original is gone. */
    g_autofree char *picture = g_build_filename(dir, "cat.png", NULL);
    g_assert_true(g_file_set_contents(picture, "not really a PNG, but bytes", -1, NULL));
    g_autofree char *blob = vf_history_store_file(h, picture, &error);
    g_assert_no_error(error);
    g_autofree char *again = vf_history_store_file(h, picture, &error);
    g_assert_cmpstr(blob, ==, again);
    g_assert_cmpstr(blob, ==, "bc57ee18d1dbfb21f54462cd0910a65d215d2927f8b11d8ac2c7d34cc5c57f9d");
    g_assert_cmpint(vf_history_attach(h, user, "image", "cat.png", blob, picture, "{\"max_pixels\":200704}", &error),
                    >, 0);
    g_remove(picture);

    /* Regenerate: both answers kept, the new one chosen; choosing the old one back. */
    gint64 other = vf_history_add_alternative(h, answer, "A small grey cat.", NULL, &error);
    g_assert_no_error(error);
    g_autoptr(GPtrArray) messages = vf_history_messages(h, first, &error);
    g_assert_no_error(error);
    g_assert_cmpuint(messages->len, ==, 3);
    VfHistoryMessage *m0 = messages->pdata[0], *m1 = messages->pdata[1], *m2 = messages->pdata[2];
    g_assert_cmpstr(m0->role, ==, "user");
    g_assert_cmpuint(m0->attachments->len, ==, 1);
    VfHistoryAttachment *a = m0->attachments->pdata[0];
    g_assert_cmpstr(a->name, ==, "cat.png");
    g_assert_cmpstr(a->options, ==, "{\"max_pixels\":200704}");
    g_autofree char *kept = vf_history_blob_path(h, a->blob);
    g_autofree char *contents = NULL;
    g_assert_true(g_file_get_contents(kept, &contents, NULL, NULL));
    g_assert_cmpstr(contents, ==, "not really a PNG, but bytes");
    g_assert_cmpuint(m1->position, ==, 1);
    g_assert_cmpuint(m1->alternative, ==, 0);
    g_assert_false(m1->chosen);
    g_assert_cmpstr(m1->stats, ==, "{\"tokens\":3}");
    g_assert_cmpuint(m2->position, ==, 1);
    g_assert_cmpuint(m2->alternative, ==, 1);
    g_assert_true(m2->chosen);
    g_assert_cmpint(m2->id, ==, other);
    g_assert_true(vf_history_choose(h, answer, &error));
    g_autoptr(GPtrArray) chosen = vf_history_messages(h, first, &error);
    g_assert_true(((VfHistoryMessage *)chosen->pdata[1])->chosen);
    g_assert_false(((VfHistoryMessage *)chosen->pdata[2])->chosen);

    /* The first conversation was answered last: newest first. */
    g_autoptr(GPtrArray) list = vf_history_list(h, NULL, &error);
    g_assert_cmpuint(list->len, ==, 2);
    g_assert_cmpint(((VfHistoryConversation *)list->pdata[0])->id, ==, first);
    g_assert_true(vf_history_rename(h, second, "Greetings", &error));
    g_assert_true(vf_history_set_model(h, first, "Qwen2-VL-2B-Instruct", &error));
    g_assert_no_error(error);

    /* Edit the first message: everything after it goes. */
    g_assert_true(vf_history_truncate(h, first, 0, &error));
    g_autoptr(GPtrArray) cut = vf_history_messages(h, first, &error);
    g_assert_cmpuint(cut->len, ==, 1);

    g_assert_false(vf_history_rename(h, 999, "x", &error));
    g_assert_error(error, VF_HISTORY_ERROR, VF_HISTORY_ERROR_NOT_FOUND);
    g_assert_cmpstr(error->message, ==, "the conversation history has no conversation 999");
    g_clear_error(&error);
    g_assert_null(vf_history_messages(h, 999, &error));
    g_assert_error(error, VF_HISTORY_ERROR, VF_HISTORY_ERROR_NOT_FOUND);
    g_clear_error(&error);
    g_assert_cmpint(vf_history_append(h, 999, "user", "x", NULL, &error), ==, 0);
    g_assert_error(error, VF_HISTORY_ERROR, VF_HISTORY_ERROR_NOT_FOUND);
    g_clear_error(&error);
  }
  /* Reopened: all of it is there; deleting a conversation takes its messages with it. */
  g_autoptr(VfHistory) h = open_history(dir);
  g_autoptr(GPtrArray) list = vf_history_list(h, NULL, &error);
  g_assert_cmpuint(list->len, ==, 2);
  VfHistoryConversation *c = list->pdata[1];
  g_assert_cmpstr(c->title, ==, "Greetings");
  VfHistoryConversation *f = list->pdata[0];
  g_assert_cmpstr(f->model, ==, "Qwen2-VL-2B-Instruct");
  g_assert_true(vf_history_delete(h, f->id, &error));
  g_assert_null(vf_history_messages(h, f->id, &error));
  g_clear_error(&error);
  vf_test_dir_remove(dir);
}

static void
test_search(void)
{
  g_autofree char *dir = vf_test_dir_new("vf-history-XXXXXX");
  g_autoptr(VfHistory) h = open_history(dir);
  g_autoptr(GError) error = NULL;
  gint64 a = vf_history_create(h, "Receipt from March", &error);
  vf_history_append(h, a, "assistant", "TOTAL 12.50 EUR", NULL, &error);
  gint64 b = vf_history_create(h, "A cat", &error);
  vf_history_append(h, b, "user", "Is 100% of the cat_visible?", NULL, &error);
  g_assert_no_error(error);
  static const struct {
    const char *search;
    guint n;
  } cases[] = {{"receipt", 1}, {"total 12", 1}, {"CAT", 1}, {"100%", 1}, {"cat_v", 1}, {"1_.5", 0}, {"%", 1},
               {"nothing", 0}, {"", 2}};
  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GPtrArray) found = vf_history_list(h, cases[i].search, &error);
    g_assert_no_error(error);
    if (found->len != cases[i].n)
      g_error("search \"%s\": %u conversations, expected %u", cases[i].search, found->len, cases[i].n);
  }
  vf_test_dir_remove(dir);
}

/* ---- kill -9 while an answer streams ----------------------------------------------------------------------- */

#define STREAMED_WORD "token "

/* The child: one conversation whose answer grows by a word every 20 ms and is committed every 100 ms; it
 * prints the committed length after each commit. It never ends by itself. */
static int
child_stream(const char *dir)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VfHistory) h = vf_history_open(dir, NULL, &error);
  if (!h)
    return 1;
  gint64 c = vf_history_create(h, "Streaming", &error);
  vf_history_append(h, c, "user", "Count for me.", NULL, &error);
  gint64 answer = vf_history_append(h, c, "assistant", "", NULL, &error);
  g_autoptr(GString) text = g_string_new(NULL);
  gint64 last_commit = g_get_monotonic_time();
  for (;;) {
    g_string_append(text, STREAMED_WORD);
    if (g_get_monotonic_time() - last_commit >= 100000) {
      if (!vf_history_set_text(h, answer, text->str, NULL, &error))
        return 1;
      last_commit = g_get_monotonic_time();
      printf("COMMITTED %zu\n", text->len);
      fflush(stdout);
    }
    g_usleep(20000);
  }
}

static void
test_kill_during_answer(void)
{
  g_autofree char *dir = vf_test_dir_new("vf-history-XXXXXX");
  const char *argv[] = {self_exe, "--child-stream", dir, NULL};
  GPid pid;
  int out_fd = -1;
  g_autoptr(GError) error = NULL;
  g_assert_true(g_spawn_async_with_pipes(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, NULL,
                                         &out_fd, NULL, &error));
  g_assert_no_error(error);
  FILE *out = fdopen(out_fd, "r");
  char line[128];
  gsize committed = 0;
  guint commits = 0;
  while (commits < 10 && fgets(line, sizeof line, out)) /* about a second of answer */
    if (sscanf(line, "COMMITTED %zu", &committed) == 1)
      commits++;
  g_assert_cmpuint(commits, ==, 10);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  g_assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  /* Lines it printed after the last one read were committed too: the stored answer may be longer. */
  while (fgets(line, sizeof line, out))
    sscanf(line, "COMMITTED %zu", &committed);
  fclose(out);
  g_spawn_close_pid(pid);

  g_autoptr(VfHistory) h = open_history(dir);
  g_autoptr(GPtrArray) list = vf_history_list(h, NULL, &error);
  g_assert_cmpuint(list->len, ==, 1);
  g_autoptr(GPtrArray) messages = vf_history_messages(h, ((VfHistoryConversation *)list->pdata[0])->id, &error);
  g_assert_cmpuint(messages->len, ==, 2);
  const char *stored = ((VfHistoryMessage *)messages->pdata[1])->text;
  g_test_message("committed %zu bytes before kill -9; %zu stored", committed, strlen(stored));
  g_assert_cmpuint(strlen(stored), ==, committed);
  for (gsize i = 0; i < committed; i += strlen(STREAMED_WORD))
    g_assert_cmpint(strncmp(stored + i, STREAMED_WORD, strlen(STREAMED_WORD)), ==, 0);
  vf_test_dir_remove(dir);
}

/* ---- damaged, newer and older databases -------------------------------------------------------------------- */

static char *
only_file_with_prefix(const char *dir, const char *prefix)
{
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  char *found = NULL;
  for (const char *name; (name = g_dir_read_name(d));)
    if (g_str_has_prefix(name, prefix)) {
      g_assert_null(found);
      found = g_build_filename(dir, name, NULL);
    }
  g_assert_nonnull(found);
  return found;
}

static void
test_corrupt_kept_aside(void)
{
  g_autofree char *dir = vf_test_dir_new("vf-history-XXXXXX");
  g_autofree char *db = g_build_filename(dir, "history.db", NULL);
  const char *garbage = "This is not a database. It used to be one before the disk hiccuped.";
  g_assert_true(g_file_set_contents(db, garbage, -1, NULL));
  g_autoptr(GError) error = NULL;
  g_autofree char *notice = NULL;
  g_autoptr(VfHistory) h = vf_history_open(dir, &notice, &error);
  g_assert_no_error(error);
  g_assert_nonnull(notice);
  g_test_message("%s", notice);
  g_autofree char *aside = only_file_with_prefix(dir, "history.db.corrupt-");
  g_autofree char *want = g_strdup_printf("The conversation history could not be read, so a new one was started. "
                                          "The old file is kept as %s.", aside);
  g_assert_cmpstr(notice, ==, want);
  g_autofree char *kept = NULL;
  g_assert_true(g_file_get_contents(aside, &kept, NULL, NULL));
  g_assert_cmpstr(kept, ==, garbage);
  g_assert_cmpint(vf_history_create(h, "after", &error), >, 0);
  vf_test_dir_remove(dir);
}

static void
test_newer_schema_kept_aside(void)
{
  g_autofree char *dir = vf_test_dir_new("vf-history-XXXXXX");
  g_autofree char *db_path = g_build_filename(dir, "history.db", NULL);
  sqlite3 *db = NULL;
  g_assert_cmpint(sqlite3_open(db_path, &db), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_exec(db, "CREATE TABLE future (x); INSERT INTO future VALUES (42); PRAGMA user_version = 9;",
                               NULL, NULL, NULL),
                  ==, SQLITE_OK);
  sqlite3_close(db);
  g_autoptr(GError) error = NULL;
  g_autofree char *notice = NULL;
  g_autoptr(VfHistory) h = vf_history_open(dir, &notice, &error);
  g_assert_no_error(error);
  g_autofree char *aside = only_file_with_prefix(dir, "history.db.newer-v9-");
  g_autofree char *want = g_strdup_printf("The conversation history was written by a newer Viewfinder (schema 9; this "
                                          "one knows %d), so a new one was started. The newer file is kept as %s.",
                                          VF_HISTORY_SCHEMA, aside);
  g_assert_cmpstr(notice, ==, want);
  /* The newer file is intact. */
  g_assert_cmpint(sqlite3_open(aside, &db), ==, SQLITE_OK);
  sqlite3_stmt *st = NULL;
  g_assert_cmpint(sqlite3_prepare_v2(db, "SELECT x FROM future", -1, &st, NULL), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
  g_assert_cmpint(sqlite3_column_int(st, 0), ==, 42);
  sqlite3_finalize(st);
  sqlite3_close(db);
  vf_test_dir_remove(dir);
}

/* A database as the first schema wrote it (user_version 1) opens with its data and the new columns. */
static void
test_migration_from_schema_1(void)
{
  g_autofree char *dir = vf_test_dir_new("vf-history-XXXXXX");
  g_autofree char *db_path = g_build_filename(dir, "history.db", NULL);
  sqlite3 *db = NULL;
  g_assert_cmpint(sqlite3_open(db_path, &db), ==, SQLITE_OK);
  const char *v1 =
    "CREATE TABLE conversations (id INTEGER PRIMARY KEY, title TEXT NOT NULL, created_us INTEGER NOT NULL,"
    " updated_us INTEGER NOT NULL);"
    "CREATE TABLE messages (id INTEGER PRIMARY KEY, conversation_id INTEGER NOT NULL REFERENCES conversations(id)"
    " ON DELETE CASCADE, position INTEGER NOT NULL, role TEXT NOT NULL, text TEXT NOT NULL, stats TEXT);"
    "CREATE INDEX messages_by_conversation ON messages(conversation_id, position);"
    "CREATE TABLE attachments (id INTEGER PRIMARY KEY, message_id INTEGER NOT NULL REFERENCES messages(id)"
    " ON DELETE CASCADE, position INTEGER NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, blob TEXT,"
    " source TEXT, options TEXT);"
    "CREATE INDEX attachments_by_message ON attachments(message_id, position);"
    "INSERT INTO conversations VALUES (7, 'Old chat', 1000, 2000);"
    "INSERT INTO messages VALUES (1, 7, 0, 'user', 'Hi', NULL), (2, 7, 1, 'assistant', 'Hello!', '{}');"
    "PRAGMA user_version = 1;";
  g_assert_cmpint(sqlite3_exec(db, v1, NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close(db);

  g_autoptr(VfHistory) h = open_history(dir);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) list = vf_history_list(h, NULL, &error);
  g_assert_cmpuint(list->len, ==, 1);
  VfHistoryConversation *c = list->pdata[0];
  g_assert_cmpint(c->id, ==, 7);
  g_assert_cmpstr(c->title, ==, "Old chat");
  g_assert_null(c->model);
  g_autoptr(GPtrArray) messages = vf_history_messages(h, 7, &error);
  g_assert_cmpuint(messages->len, ==, 2);
  VfHistoryMessage *answer = messages->pdata[1];
  g_assert_cmpstr(answer->text, ==, "Hello!");
  g_assert_cmpuint(answer->alternative, ==, 0);
  g_assert_true(answer->chosen);
  /* The new schema's features work on the old data. */
  g_assert_cmpint(vf_history_add_alternative(h, answer->id, "Hi there!", NULL, &error), >, 0);
  g_assert_no_error(error);
  vf_test_dir_remove(dir);
}

/* ---- 1,000 conversations ----------------------------------------------------------------------------------- */

static void
test_thousand_conversations(void)
{
  g_autofree char *dir = vf_test_dir_new("vf-history-XXXXXX");
  g_autoptr(VfHistory) h = open_history(dir);
  g_autoptr(GError) error = NULL;
  g_autofree char *db_path = g_build_filename(dir, "history.db", NULL);
  /* Filled in one transaction through SQLite directly: the point is reading, not 10,000 commits. */
  sqlite3 *db = NULL;
  g_assert_cmpint(sqlite3_open(db_path, &db), ==, SQLITE_OK);
  g_assert_cmpint(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), ==, SQLITE_OK);
  for (int c = 1; c <= 1000; c++) {
    g_autofree char *sql = g_strdup_printf("INSERT INTO conversations (id, title, created_us, updated_us) VALUES "
                                           "(%d, 'Scan %d of the archive', %d, %d)",
                                           c, c, c, c);
    g_assert_cmpint(sqlite3_exec(db, sql, NULL, NULL, NULL), ==, SQLITE_OK);
    for (int m = 0; m < 10; m++) {
      g_autofree char *msg = g_strdup_printf(
        "INSERT INTO messages (conversation_id, position, role, text) VALUES (%d, %d, '%s', "
        "'Line %d of page %d: the quick brown fox jumps over the lazy dog, invoice number %d, amount %d.%02d EUR, "
        "and a few more words so that a message is as long as a short answer usually is in practice.')",
        c, m, m % 2 ? "assistant" : "user", m, c, c * 10 + m, c, m);
      g_assert_cmpint(sqlite3_exec(db, msg, NULL, NULL, NULL), ==, SQLITE_OK);
    }
  }
  g_assert_cmpint(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close(db);

  gint64 start = g_get_monotonic_time();
  g_autoptr(GPtrArray) all = vf_history_list(h, NULL, &error);
  double list_ms = (g_get_monotonic_time() - start) / 1000.0;
  g_assert_cmpuint(all->len, ==, 1000);
  g_assert_cmpint(((VfHistoryConversation *)all->pdata[0])->id, ==, 1000);
  start = g_get_monotonic_time();
  g_autoptr(GPtrArray) found = vf_history_list(h, "invoice number 5003", &error);
  double search_ms = (g_get_monotonic_time() - start) / 1000.0;
  g_assert_cmpuint(found->len, ==, 1);
  g_assert_cmpint(((VfHistoryConversation *)found->pdata[0])->id, ==, 500);
  start = g_get_monotonic_time();
  g_autoptr(GPtrArray) none = vf_history_list(h, "no such words", &error);
  double miss_ms = (g_get_monotonic_time() - start) / 1000.0;
  g_assert_cmpuint(none->len, ==, 0);
  g_test_message("1000 conversations, 10000 messages: list %.1f ms, search (hit) %.1f ms, search (miss) %.1f ms",
                 list_ms, search_ms, miss_ms);
  g_assert_cmpfloat(list_ms, <, 200);
  g_assert_cmpfloat(search_ms, <, 100);
  g_assert_cmpfloat(miss_ms, <, 100);
  vf_test_dir_remove(dir);
}

static gpointer
open_in_thread(gpointer dir)
{
  GError *error = NULL;
  VfHistory *h = vf_history_open(dir, NULL, &error);
  if (h)
    vf_history_close(h);
  return error;
}

/* The app opens a new history from two threads at once (the engine's worker and the sidebar): every opener
 * gets it, and the schema is made once. Eight openers, twenty fresh folders. */
static void
test_concurrent_first_open(void)
{
  for (guint round = 0; round < 20; round++) {
    g_autofree char *dir = vf_test_dir_new("vf-history-XXXXXX");
    GThread *threads[8];
    for (guint i = 0; i < G_N_ELEMENTS(threads); i++)
      threads[i] = g_thread_new("open", open_in_thread, dir);
    for (guint i = 0; i < G_N_ELEMENTS(threads); i++) {
      g_autoptr(GError) error = g_thread_join(threads[i]);
      g_assert_no_error(error);
    }
    g_autoptr(GError) error = NULL;
    VfHistory *h = vf_history_open(dir, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpint(vf_history_create(h, "one", &error), >, 0);
    vf_history_close(h);
    vf_test_dir_remove(dir);
  }
}

int
main(int argc, char **argv)
{
  if (argc == 3 && g_str_equal(argv[1], "--child-stream"))
    return child_stream(argv[2]);
  self_exe = argv[0];
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/history/conversations-and-messages", test_conversations_and_messages);
  g_test_add_func("/history/search", test_search);
  g_test_add_func("/history/concurrent-first-open", test_concurrent_first_open);
  g_test_add_func("/history/kill-during-answer", test_kill_during_answer);
  g_test_add_func("/history/corrupt-kept-aside", test_corrupt_kept_aside);
  g_test_add_func("/history/newer-schema-kept-aside", test_newer_schema_kept_aside);
  g_test_add_func("/history/migration-from-schema-1", test_migration_from_schema_1);
  g_test_add_func("/history/thousand-conversations", test_thousand_conversations);
  return g_test_run();
}
