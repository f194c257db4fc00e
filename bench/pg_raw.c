// Baseline for the PostgreSQL token-creation benchmark: the insert rate a naive server reaches
// with one transaction per request, on the same cluster and with the durability Tessera's writer
// asks for (synchronous_commit = on: every COMMIT is flushed to the WAL on disk before it returns).
//
// Usage: pg_raw CONNINFO SECONDS [THREADS]
// In the database CONNINFO names, (re)creates the table pg_raw_tokens, opens THREADS connections
// (all of them before the clock starts), and from one thread per connection inserts token-shaped
// rows (random 32-byte bytea hash, text id) with one BEGIN; INSERT; COMMIT per row for SECONDS
// seconds; then checks that the table holds every committed row, drops it and prints
// `inserts/s: X` on stdout (details on stderr). Unlike SQLite, PostgreSQL lets concurrent
// committers share a WAL flush, so more connections can mean more rows per second: scripts/bench
// runs it at several thread counts and takes the best.
#define _GNU_SOURCE // clock_gettime, getrandom with any -std
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

enum { MAX_THREADS = 256 };

static const char *conninfo;
static double deadline;
static atomic_long total_rows;
static atomic_int failed;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(PGconn *conn, const char *what) {
  // PQerrorMessage ends with a newline.
  fprintf(stderr, "pg_raw: %s: %s", what, conn ? PQerrorMessage(conn) : "cannot allocate\n");
  atomic_store(&failed, 1);
}

// exec: one statement (parameters optional); false after reporting the error.
static int exec(PGconn *conn, const char *what, PGresult *res, ExecStatusType want) {
  int ok = res && PQresultStatus(res) == want;
  if (!ok) {
    fail(conn, what);
  }
  PQclear(res);
  return ok;
}

static int simple(PGconn *conn, const char *sql) {
  return exec(conn, sql, PQexec(conn, sql), PGRES_COMMAND_OK);
}

static void quiet(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

static PGconn *connect_db(void) {
  PGconn *conn = PQconnectdb(conninfo);
  if (!conn || PQstatus(conn) != CONNECTION_OK) {
    fail(conn, "connect");
    PQfinish(conn);
    return NULL;
  }
  PQsetNoticeProcessor(conn, quiet, NULL); // "table does not exist, skipping"
  // What Tessera's writer sets too, whatever the server's or role's default says.
  if (!simple(conn, "SET synchronous_commit = on")) {
    PQfinish(conn);
    return NULL;
  }
  return conn;
}

static void *worker(void *arg) {
  PGconn *conn = arg;
  if (!exec(conn, "prepare",
            PQprepare(conn, "insert",
                      "INSERT INTO pg_raw_tokens (id, hash, user_id, description, created, "
                      "expires, last_used) VALUES ($1, $2, 1, 'bench', $3, 0, 0)",
                      3, NULL),
            PGRES_COMMAND_OK)) {
    return NULL;
  }
  long rows = 0;
  while (now() < deadline && !atomic_load(&failed)) {
    unsigned char rnd[48];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
      fprintf(stderr, "pg_raw: getrandom: %s\n", strerror(errno));
      atomic_store(&failed, 1);
      break;
    }
    char hex[33], id[37], created[24];
    for (int i = 0; i < 16; i++) {
      snprintf(hex + 2 * i, 3, "%02x", rnd[32 + i]);
    }
    snprintf(id, sizeof id, "%.8s-%.4s-4%.3s-a%.3s-%.12s", hex, hex + 8, hex + 12, hex + 15,
             hex + 18);
    snprintf(created, sizeof created, "%lld", (long long)time(NULL));
    // The hash goes in binary (as a bytea), the others as text.
    const char *values[3] = {id, (const char *)rnd, created};
    int lengths[3] = {0, 32, 0};
    int formats[3] = {0, 1, 0};
    if (!simple(conn, "BEGIN") ||
        !exec(conn, "insert", PQexecPrepared(conn, "insert", 3, values, lengths, formats, 0),
              PGRES_COMMAND_OK) ||
        !simple(conn, "COMMIT")) {
      break;
    }
    rows++;
  }
  atomic_fetch_add(&total_rows, rows);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: %s CONNINFO SECONDS [THREADS]\n", argv[0]);
    return 2;
  }
  conninfo = argv[1];
  double seconds = atof(argv[2]);
  int threads = argc == 4 ? atoi(argv[3]) : 1;
  if (seconds <= 0 || threads < 1 || threads > MAX_THREADS) {
    fprintf(stderr, "pg_raw: SECONDS must be > 0 and THREADS in 1..%d\n", MAX_THREADS);
    return 2;
  }

  PGconn *admin = connect_db();
  if (!admin || !simple(admin, "DROP TABLE IF EXISTS pg_raw_tokens") ||
      !simple(admin, "CREATE TABLE pg_raw_tokens (id text PRIMARY KEY, "
                     "hash bytea UNIQUE NOT NULL CHECK (length(hash) = 32), user_id bigint, "
                     "description text, created bigint, expires bigint, last_used bigint)")) {
    PQfinish(admin);
    return 1;
  }

  // Every connection is open before the clock starts: a backend's start-up is not an insert.
  PGconn *conns[MAX_THREADS] = {0};
  int opened = 0;
  for (; opened < threads; opened++) {
    if (!(conns[opened] = connect_db())) {
      break;
    }
  }
  pthread_t tids[MAX_THREADS];
  int started = 0;
  double start = now();
  deadline = start + seconds;
  if (opened == threads) {
    for (; started < threads; started++) {
      if (pthread_create(&tids[started], NULL, worker, conns[started]) != 0) {
        fprintf(stderr, "pg_raw: pthread_create failed\n");
        atomic_store(&failed, 1);
        break;
      }
    }
  }
  for (int i = 0; i < started; i++) {
    pthread_join(tids[i], NULL);
  }
  double elapsed = now() - start;
  for (int i = 0; i < opened; i++) {
    PQfinish(conns[i]);
  }

  long stored = -1;
  PGresult *res = PQexec(admin, "SELECT count(*) FROM pg_raw_tokens");
  if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
    stored = atol(PQgetvalue(res, 0, 0));
  } else {
    fail(admin, "count");
  }
  PQclear(res);
  simple(admin, "DROP TABLE IF EXISTS pg_raw_tokens");
  PQfinish(admin);

  long rows = atomic_load(&total_rows);
  if (atomic_load(&failed)) {
    return 1;
  }
  if (stored != rows) {
    fprintf(stderr, "pg_raw: committed %ld rows but the table holds %ld\n", rows, stored);
    return 1;
  }
  fprintf(stderr, "pg_raw: %ld rows in %.2f s with %d connection(s)\n", rows, elapsed, threads);
  printf("inserts/s: %.1f\n", (double)rows / elapsed);
  return 0;
}
