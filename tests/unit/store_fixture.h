#ifndef TESSERA_TESTS_STORE_FIXTURE_H
#define TESSERA_TESTS_STORE_FIXTURE_H

/* For the store's unit tests (include after cmocka.h): databases in fresh temporary directories
 * or a throwaway PostgreSQL cluster, and tokens with fresh secrets. Header-only: each test file is
 * its own executable. */

#include "core/token.h"
#include "store/store.h"

#include "pg_cluster.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The store suites run against either store: SQLite by default, PostgreSQL when
 * TESSERA_TEST_STORE=postgres (ctest runs each suite both ways: test_store and test_store_pg).
 * On PostgreSQL one throwaway cluster serves the whole test process (pg_cluster.h), each
 * database made is a new one in it, and one audit key file in the cluster's directory serves
 * them all (each database records the key's id; its head file sits beside the key). */
static inline bool fixture_is_pg(void) {
  const char *store = getenv("TESSERA_TEST_STORE");
  return store && strcmp(store, "postgres") == 0;
}

static struct pg_cluster fixture_cluster;
static char fixture_key_path[128];

static void fixture_cluster_stop(void) {
  pg_cluster_stop(&fixture_cluster);
}

static inline void fixture_cluster_need(void) {
  if (fixture_cluster.dir[0])
    return;
  if (!pg_cluster_start(&fixture_cluster))
    fail_msg("cannot start a PostgreSQL cluster for the store tests");
  atexit(fixture_cluster_stop);
  snprintf(fixture_key_path, sizeof fixture_key_path, "%s/audit-key", fixture_cluster.dir);
}

/* Makes /tmp/tessera-<tag>-XXXXXX into dir (64 bytes), and the store's --db value into path (96):
 * t.db in that directory, or on PostgreSQL the URL of a new empty database. */
static inline void temp_db_make(char *dir, char *path, const char *tag) {
  static int made;
  snprintf(dir, 64, "/tmp/tessera-%s-XXXXXX", tag);
  assert_non_null(mkdtemp(dir));
  if (!fixture_is_pg()) {
    snprintf(path, 96, "%s/t.db", dir);
    return;
  }
  fixture_cluster_need();
  char name[48], sql[96];
  snprintf(name, sizeof name, "t%d_%d", (int)getpid(), ++made);
  snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
  PGconn *admin = PQconnectdb(fixture_cluster.conninfo);
  PGresult *res = PQexec(admin, sql);
  if (PQresultStatus(res) != PGRES_COMMAND_OK)
    fail_msg("%s: %s", sql, PQerrorMessage(admin));
  PQclear(res);
  PQfinish(admin);
  snprintf(path, 96, "postgres://tessera@127.0.0.1:%d/%s", fixture_cluster.port, name);
}

/* The databases themselves go with the cluster at exit. */
static inline void temp_db_remove(const char *dir) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

/* The audit key file of the store at db. */
static inline void fixture_key_file(const char *db, char *out, size_t size) {
  if (fixture_is_pg())
    snprintf(out, size, "%s", fixture_key_path);
  else
    snprintf(out, size, "%s.audit-key", db);
}

static inline int fixture_open(const char *db, int readers, struct store **out) {
  return store_open(db, fixture_is_pg() ? fixture_key_path : NULL, readers, out);
}

static inline int fixture_verify(const char *db, int64_t *count, char *report, size_t size) {
  return store_audit_verify(db, fixture_is_pg() ? fixture_key_path : NULL, count, report, size);
}

/* Runs SQL on the database behind the store's back, as someone with access to it could. */
static inline void fixture_sql(const char *db, const char *sql) {
  if (fixture_is_pg()) {
    PGconn *conn = PQconnectdb(db);
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
      fail_msg("SQL failed: %s: %s", sql, PQerrorMessage(conn));
    PQclear(res);
    PQfinish(conn);
    return;
  }
  sqlite3 *handle;
  assert_int_equal(sqlite3_open(db, &handle), SQLITE_OK);
  sqlite3_busy_timeout(handle, 5000);
  char *err = NULL;
  if (sqlite3_exec(handle, sql, NULL, NULL, &err) != SQLITE_OK)
    fail_msg("SQL failed: %s: %s", sql, err);
  sqlite3_close(handle);
}

/* The number the query (one row, one integer column) answers, read behind the store's back. */
static inline long long fixture_number(const char *db, const char *sql) {
  long long v = -1;
  if (fixture_is_pg()) {
    PGconn *conn = PQconnectdb(db);
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
      fail_msg("SQL failed: %s: %s", sql, PQerrorMessage(conn));
    v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    PQfinish(conn);
    return v;
  }
  sqlite3 *handle;
  sqlite3_stmt *stmt;
  assert_int_equal(sqlite3_open(db, &handle), SQLITE_OK);
  sqlite3_busy_timeout(handle, 5000);
  if (sqlite3_prepare_v2(handle, sql, -1, &stmt, NULL) != SQLITE_OK ||
      sqlite3_step(stmt) != SQLITE_ROW)
    fail_msg("SQL failed: %s: %s", sql, sqlite3_errmsg(handle));
  v = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(handle);
  return v;
}

/* For a test about one store only. */
#define SQLITE_ONLY()                                                                              \
  do {                                                                                             \
    if (fixture_is_pg())                                                                           \
      skip();                                                                                      \
  } while (0)

/* A new id and the hash of a new secret value in t; the value itself into value when not NULL. */
static inline void token_fill_secret(struct store_token *t, char *value_out) {
  char value[TOKEN_VALUE_LEN + 1];
  token_new_id(t->id);
  token_generate(value);
  token_hash(value, TOKEN_VALUE_LEN, t->hash);
  if (value_out)
    snprintf(value_out, TOKEN_VALUE_LEN + 1, "%s", value);
}

#endif
