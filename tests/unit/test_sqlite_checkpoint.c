/* The SQLite store's checkpointer (store/sqlite_checkpoint.c): the writer's commits no longer
 * checkpoint; the checkpointer's thread does, once the log holds 1000 pages. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/error.h"
#include "store/sqlite_checkpoint.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct fixture {
  char dir[64], path[96], wal[112];
  sqlite3 *writer;
};

static int setup(void **state) {
  struct fixture *f = calloc(1, sizeof *f);
  strcpy(f->dir, "/tmp/tessera-ckpt-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
  snprintf(f->wal, sizeof f->wal, "%s-wal", f->path);
  assert_int_equal(sqlite3_open(f->path, &f->writer), SQLITE_OK);
  assert_int_equal(sqlite3_exec(f->writer,
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                                "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB);",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  sqlite3_close(f->writer);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
  assert_int_equal(system(cmd), 0);
  free(f);
  return 0;
}

static off_t file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Commits of about 400 pages each (1.6 MB of 4 KiB pages), as separate transactions. */
static void write_pages(sqlite3 *db, int commits) {
  for (int c = 0; c < commits; c++)
    assert_int_equal(sqlite3_exec(db,
                                  "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
                                  "FROM n WHERE i < 400) INSERT INTO t (v) SELECT randomblob(4000) "
                                  "FROM n; COMMIT;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
}

static void the_thread_checkpoints_once_the_log_is_long(void **state) {
  struct fixture *f = *state;
  struct sqlite_checkpointer *cp;
  assert_int_equal(sqlite_checkpointer_start(f->path, f->writer, &cp), TE_OK);
  off_t before = file_size(f->path);
  write_pages(f->writer, 2); /* about 800 pages: below the threshold */
  assert_int_equal(sqlite_checkpointer_runs(cp), 0);
  assert_int_equal(file_size(f->path), before); /* nothing copied into the database yet */
  write_pages(f->writer, 2);                    /* past 1000 pages */
  for (int i = 0; i < 500 && sqlite_checkpointer_runs(cp) == 0; i++)
    usleep(10 * 1000); /* a bounded wait for the thread, not a timing assertion */
  assert_true(sqlite_checkpointer_runs(cp) >= 1);
  assert_true(file_size(f->path) > before); /* pages were copied into the database */
  sqlite_checkpointer_stop(cp);
}

/* Commits back to back, each beginning while the checkpoint of the one before may still run:
 * the log is nevertheless started again (by the thread's checkpoint or, past 4000 pages, the
 * writer's own), so the file stays shorter than the 10000 pages that went through it. */
static void under_steady_writes_the_log_stays_bounded(void **state) {
  struct fixture *f = *state;
  struct sqlite_checkpointer *cp;
  assert_int_equal(sqlite_checkpointer_start(f->path, f->writer, &cp), TE_OK);
  write_pages(f->writer, 25); /* 10000 pages */
  assert_true(sqlite_checkpointer_restarts(cp) >= 1);
  assert_true(file_size(f->wal) < 9000 * 4096);
  sqlite_checkpointer_stop(cp);
}

static void without_it_the_writer_checkpoints_inside_its_commit(void **state) {
  /* The control: SQLite's own automatic checkpoint copies the pages during the commit itself,
   * which is what the checkpointer takes off the writer. */
  struct fixture *f = *state;
  off_t before = file_size(f->path);
  write_pages(f->writer, 3);
  assert_true(file_size(f->path) > before + 1000 * 4000);
}

static void stopping_leaves_the_writer_usable(void **state) {
  struct fixture *f = *state;
  struct sqlite_checkpointer *cp;
  assert_int_equal(sqlite_checkpointer_start(f->path, f->writer, &cp), TE_OK);
  write_pages(f->writer, 1);
  sqlite_checkpointer_stop(cp);
  off_t before = file_size(f->path);
  write_pages(f->writer, 3); /* past 1000 pages: SQLite's own checkpoint is back */
  assert_true(file_size(f->path) > before);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(f->writer, "SELECT count(*) FROM t", -1, &st, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 1600);
  sqlite3_finalize(st);
}

static void a_missing_database_is_an_error(void **state) {
  struct fixture *f = *state;
  struct sqlite_checkpointer *cp = NULL;
  char missing[128];
  snprintf(missing, sizeof missing, "%s/none/t.db", f->dir);
  assert_int_equal(sqlite_checkpointer_start(missing, f->writer, &cp), TE_INTERNAL);
  assert_null(cp);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(the_thread_checkpoints_once_the_log_is_long, setup, teardown),
      cmocka_unit_test_setup_teardown(under_steady_writes_the_log_stays_bounded, setup, teardown),
      cmocka_unit_test_setup_teardown(without_it_the_writer_checkpoints_inside_its_commit, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(stopping_leaves_the_writer_usable, setup, teardown),
      cmocka_unit_test_setup_teardown(a_missing_database_is_an_error, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
