// Bench-only bulk loader for the scale benchmarks: makes COUNT personal tokens for one user,
// exactly as the server makes them (src/core/token.c: token_generate, token_new_id, token_hash),
// inserts their rows directly, in large transactions, with the columns of the server's own
// personal-token INSERT (STMT_TOKEN_INSERT in src/store/sqlite.c and pg_sql.c: kind 'personal',
// source 'api', created_by the owner's login, never expiring), and writes the plain values, one a
// line, to TOKENS_FILE. It also writes UNKNOWN_COUNT well-formed values (valid checksum) that it
// never inserts to UNKNOWN_FILE, for the flood of unknown tokens.
//
// Usage: bulk_tokens DB LOGIN COUNT TOKENS_FILE UNKNOWN_COUNT UNKNOWN_FILE
// DB is a SQLite file (made by `tessera admin bootstrap`, with the schema migrated) or a
// postgres:// URL. Prints `loaded: N rows in S s` on stdout. Every line of both files is
// TOKEN_VALUE_LEN characters and a newline (bench/tokens.lua relies on the fixed width).
#define _GNU_SOURCE // clock_gettime with any -std
#include "core/token.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { SQLITE_TXN_ROWS = 100000, PG_STMT_ROWS = 1000, PG_TXN_ROWS = 100000 };

// The columns of the server's STMT_TOKEN_INSERT, in its order.
#define COLUMNS                                                                                    \
  "id, hash, kind, user_id, org_id, team_id, name, admin, description, created_by, created, "      \
  "expires, oidc_issuer, source, parent_seq, manage_access, reason"
#define DESCRIPTION "bench bulk"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *detail) {
  fprintf(stderr, "bulk_tokens: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  exit(1);
}

// One token: its value (for the file), id and hash (for the row).
struct token {
  char value[TOKEN_VALUE_LEN + 1];
  char id[TOKEN_ID_LEN + 1];
  unsigned char hash[TOKEN_HASH_LEN];
};

static void make_token(struct token *t) {
  token_generate(t->value);
  token_new_id(t->id);
  token_hash(t->value, TOKEN_VALUE_LEN, t->hash);
}

static void write_value(FILE *f, const char *value) {
  if (fprintf(f, "%s\n", value) != TOKEN_VALUE_LEN + 1)
    die("cannot write the token file", NULL);
}

static void sqlite_check(sqlite3 *db, int rc, const char *what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
    die(what, sqlite3_errmsg(db));
}

static void sqlite_exec(sqlite3 *db, const char *sql) {
  sqlite_check(db, sqlite3_exec(db, sql, NULL, NULL, NULL), sql);
}

static long long sqlite_user_id(sqlite3 *db, const char *login) {
  sqlite3_stmt *st;
  sqlite_check(db, sqlite3_prepare_v2(db, "SELECT id FROM users WHERE login = ?1", -1, &st, NULL),
               "prepare the user lookup");
  sqlite3_bind_text(st, 1, login, -1, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_ROW)
    die("no such user", login);
  long long id = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return id;
}

// SQLite: one prepared INSERT, a transaction per SQLITE_TXN_ROWS rows, a cache large enough for
// both unique indexes (hash, id: random keys), then a checkpoint so that the server starts on a
// database without a large WAL to read.
static void load_sqlite(const char *path, const char *login, long count, FILE *out) {
  sqlite3 *db;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
    die("cannot open the SQLite database", path);
  sqlite3_busy_timeout(db, 10000);
  sqlite_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-524288;"
                  "PRAGMA foreign_keys=ON;");
  long long user_id = sqlite_user_id(db, login);
  sqlite3_stmt *st;
  sqlite_check(db,
               sqlite3_prepare_v2(db,
                                  "INSERT INTO tokens (" COLUMNS
                                  ") VALUES (?1, ?2, 'personal', ?3, "
                                  "NULL, NULL, '', 0, '" DESCRIPTION "', ?4, ?5, 0, '', 'api', "
                                  "NULL, 0, '')",
                                  -1, &st, NULL),
               "prepare the token INSERT");
  long long created = (long long)time(NULL);
  struct token t;
  for (long n = 0; n < count; n++) {
    if (n % SQLITE_TXN_ROWS == 0)
      sqlite_exec(db, n ? "COMMIT; BEGIN IMMEDIATE" : "BEGIN IMMEDIATE");
    make_token(&t);
    sqlite3_bind_text(st, 1, t.id, TOKEN_ID_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, t.hash, TOKEN_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, user_id);
    sqlite3_bind_text(st, 4, login, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, created);
    sqlite_check(db, sqlite3_step(st), "insert a token");
    sqlite3_reset(st);
    write_value(out, t.value);
  }
  if (count)
    sqlite_exec(db, "COMMIT");
  sqlite3_finalize(st);
  sqlite_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
  if (sqlite3_close(db) != SQLITE_OK)
    die("cannot close the SQLite database", NULL);
}

static void pg_exec(PGconn *conn, const char *sql, ExecStatusType want) {
  PGresult *res = PQexec(conn, sql);
  if (PQresultStatus(res) != want) {
    fprintf(stderr, "bulk_tokens: %.200s: %s", sql, PQerrorMessage(conn));
    exit(1);
  }
  PQclear(res);
}

// PostgreSQL: multi-row INSERTs of PG_STMT_ROWS literal rows (ids and hex hashes need no
// quoting), a transaction per PG_TXN_ROWS rows with synchronous_commit off (the loader's own
// commits need not wait for the disk: the data is there by the time the server starts), then
// VACUUM (ANALYZE): the planner learns the table's new size, the rows' hint bits are set here
// rather than by their first readers, and autovacuum (due after inserts of 20 % of a table) does
// not start on a million new rows in the middle of a measurement. Then a checkpoint, as the
// SQLite loader has, so that the server starts with no backlog of dirty pages to write.
static void load_pg(const char *url, const char *login, long count, FILE *out) {
  PGconn *conn = PQconnectdb(url);
  if (PQstatus(conn) != CONNECTION_OK)
    die("cannot connect to PostgreSQL", PQerrorMessage(conn));
  const char *params[] = {login};
  PGresult *res =
      PQexecParams(conn, "SELECT id FROM users WHERE login = $1", 1, NULL, params, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
    die("no such user", login);
  long long user_id = atoll(PQgetvalue(res, 0, 0));
  PQclear(res);
  if (strspn(login, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
      strlen(login))
    die("the login must need no quoting", login);
  long long created = (long long)time(NULL);
  size_t cap = 256 + (size_t)PG_STMT_ROWS * (400 + strlen(login));
  char *sql = malloc(cap);
  if (!sql)
    abort();
  struct token t;
  char hex[2 * TOKEN_HASH_LEN + 1];
  for (long n = 0; n < count;) {
    if (n % PG_TXN_ROWS == 0)
      pg_exec(conn, "BEGIN; SET LOCAL synchronous_commit = off", PGRES_COMMAND_OK);
    size_t len = (size_t)snprintf(sql, cap, "INSERT INTO tokens (" COLUMNS ") VALUES ");
    for (int k = 0; k < PG_STMT_ROWS && n < count; k++, n++) {
      make_token(&t);
      token_hex(t.hash, TOKEN_HASH_LEN, hex);
      len += (size_t)snprintf(sql + len, cap - len,
                              "%s('%s', '\\x%s', 'personal', %lld, NULL, NULL, '', false, "
                              "'" DESCRIPTION "', '%s', %lld, 0, '', 'api', NULL, false, '')",
                              k ? "," : "", t.id, hex, user_id, login, created);
      if (len >= cap)
        die("statement buffer too small", NULL);
      write_value(out, t.value);
    }
    pg_exec(conn, sql, PGRES_COMMAND_OK);
    if (n % PG_TXN_ROWS == 0 || n == count)
      pg_exec(conn, "COMMIT", PGRES_COMMAND_OK);
  }
  free(sql);
  pg_exec(conn, "VACUUM (ANALYZE) tokens", PGRES_COMMAND_OK);
  pg_exec(conn, "CHECKPOINT", PGRES_COMMAND_OK);
  PQfinish(conn);
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: bulk_tokens DB LOGIN COUNT TOKENS_FILE UNKNOWN_COUNT UNKNOWN_FILE\n");
    return 2;
  }
  const char *db = argv[1], *login = argv[2];
  long count = atol(argv[3]), unknown = atol(argv[5]);
  if (count < 1 || unknown < 0)
    die("COUNT must be positive and UNKNOWN_COUNT not negative", NULL);
  FILE *out = fopen(argv[4], "w"), *bad = fopen(argv[6], "w");
  if (!out || !bad)
    die("cannot create the token files", NULL);
  double start = now();
  if (strncmp(db, "postgres://", 11) == 0 || strncmp(db, "postgresql://", 13) == 0)
    load_pg(db, login, count, out);
  else
    load_sqlite(db, login, count, out);
  double took = now() - start;
  // Never inserted: well-formed and checksummed like any token, so only a lookup can refuse them.
  char value[TOKEN_VALUE_LEN + 1];
  for (long n = 0; n < unknown; n++) {
    token_generate(value);
    write_value(bad, value);
  }
  if (fclose(out) != 0 || fclose(bad) != 0)
    die("cannot write the token files", NULL);
  printf("loaded: %ld rows in %.2f s\n", count, took);
  return 0;
}
