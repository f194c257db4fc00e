// Baseline for the token-creation benchmark: the best naive one-row-per-transaction insert rate
// that SQLite reaches on this machine and filesystem with the durability settings of the server
// (WAL, synchronous=FULL: every COMMIT is on disk before it returns).
//
// Usage: sqlite_raw DIR SECONDS [THREADS]
// Creates DIR/sqlite_raw.db afresh, inserts token-shaped rows (random 32-byte hash) with one
// BEGIN IMMEDIATE; INSERT; COMMIT per row from THREADS threads (each with its own connection) for
// SECONDS seconds, removes the database and prints `inserts/s: X` on stdout.
#define _GNU_SOURCE // clock_gettime, getrandom with any -std
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

enum { MAX_THREADS = 256, BUSY_TIMEOUT_MS = 10000 };

static char db_path[4096];
static double deadline;
static atomic_long total_rows;
static atomic_int failed;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(sqlite3 *db, const char *what) {
  fprintf(stderr, "sqlite_raw: %s: %s\n", what, db ? sqlite3_errmsg(db) : "cannot allocate");
  atomic_store(&failed, 1);
}

static sqlite3 *open_db(void) {
  sqlite3 *db = NULL;
  if (sqlite3_open(db_path, &db) != SQLITE_OK) {
    fail(db, "open");
    sqlite3_close(db);
    return NULL;
  }
  sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
  // journal_mode is persistent in the file; synchronous is per connection.
  if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, NULL) !=
      SQLITE_OK) {
    fail(db, "pragmas");
    sqlite3_close(db);
    return NULL;
  }
  return db;
}

static int exec_step(sqlite3 *db, sqlite3_stmt *stmt) {
  int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) {
    fail(db, sqlite3_sql(stmt));
    return -1;
  }
  return 0;
}

static void *worker(void *arg) {
  (void)arg;
  sqlite3 *db = open_db();
  if (!db) {
    return NULL;
  }
  sqlite3_stmt *begin = NULL, *insert = NULL, *commit = NULL;
  if (sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db,
                         "INSERT INTO tokens (id, hash, user_id, description, created, expires, "
                         "last_used) VALUES (?1, ?2, 1, 'bench', ?3, 0, 0)",
                         -1, &insert, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL) != SQLITE_OK) {
    fail(db, "prepare");
    goto out;
  }
  long rows = 0;
  while (now() < deadline && !atomic_load(&failed)) {
    unsigned char rnd[48];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
      fprintf(stderr, "sqlite_raw: getrandom: %s\n", strerror(errno));
      atomic_store(&failed, 1);
      break;
    }
    char hex[33], id[37];
    for (int i = 0; i < 16; i++) {
      snprintf(hex + 2 * i, 3, "%02x", rnd[32 + i]);
    }
    snprintf(id, sizeof id, "%.8s-%.4s-4%.3s-a%.3s-%.12s", hex, hex + 8, hex + 12, hex + 15,
             hex + 18);
    sqlite3_bind_text(insert, 1, id, 36, SQLITE_TRANSIENT);
    sqlite3_bind_blob(insert, 2, rnd, 32, SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert, 3, (sqlite3_int64)time(NULL));
    if (exec_step(db, begin) || exec_step(db, insert) || exec_step(db, commit)) {
      break;
    }
    rows++;
  }
  atomic_fetch_add(&total_rows, rows);
out:
  sqlite3_finalize(begin);
  sqlite3_finalize(insert);
  sqlite3_finalize(commit);
  sqlite3_close(db);
  return NULL;
}

static void remove_db(void) {
  char path[sizeof db_path + 8];
  unlink(db_path);
  snprintf(path, sizeof path, "%s-wal", db_path);
  unlink(path);
  snprintf(path, sizeof path, "%s-shm", db_path);
  unlink(path);
}

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: %s DIR SECONDS [THREADS]\n", argv[0]);
    return 2;
  }
  double seconds = atof(argv[2]);
  int threads = argc == 4 ? atoi(argv[3]) : 1;
  if (seconds <= 0 || threads < 1 || threads > MAX_THREADS) {
    fprintf(stderr, "sqlite_raw: SECONDS must be > 0 and THREADS in 1..%d\n", MAX_THREADS);
    return 2;
  }
  if ((size_t)snprintf(db_path, sizeof db_path, "%s/sqlite_raw.db", argv[1]) >= sizeof db_path) {
    fprintf(stderr, "sqlite_raw: directory path too long\n");
    return 2;
  }
  remove_db();

  sqlite3 *db = open_db();
  if (!db || sqlite3_exec(db,
                          "CREATE TABLE tokens (id TEXT PRIMARY KEY, hash BLOB UNIQUE NOT NULL, "
                          "user_id INTEGER, description TEXT, created INTEGER, expires INTEGER, "
                          "last_used INTEGER)",
                          NULL, NULL, NULL) != SQLITE_OK) {
    if (db) {
      fail(db, "create table");
    }
    sqlite3_close(db);
    return 1;
  }

  pthread_t tids[MAX_THREADS];
  double start = now();
  deadline = start + seconds;
  int started = 0;
  for (; started < threads; started++) {
    if (pthread_create(&tids[started], NULL, worker, NULL) != 0) {
      fprintf(stderr, "sqlite_raw: pthread_create failed\n");
      atomic_store(&failed, 1);
      break;
    }
  }
  for (int i = 0; i < started; i++) {
    pthread_join(tids[i], NULL);
  }
  double elapsed = now() - start;

  sqlite3_stmt *count = NULL;
  long stored = -1;
  if (sqlite3_prepare_v2(db, "SELECT count(*) FROM tokens", -1, &count, NULL) == SQLITE_OK &&
      sqlite3_step(count) == SQLITE_ROW) {
    stored = (long)sqlite3_column_int64(count, 0);
  }
  sqlite3_finalize(count);
  sqlite3_close(db);
  remove_db();

  long rows = atomic_load(&total_rows);
  if (atomic_load(&failed)) {
    return 1;
  }
  if (stored != rows) {
    fprintf(stderr, "sqlite_raw: committed %ld rows but the table holds %ld\n", rows, stored);
    return 1;
  }
  fprintf(stderr, "sqlite_raw: %ld rows in %.2f s with %d thread(s)\n", rows, elapsed, threads);
  printf("inserts/s: %.1f\n", (double)rows / elapsed);
  return 0;
}
