#include "store/pg_pool.h"

#include "core/error.h"
#include "core/timeutil.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct slot {
  PGconn *conn;   /* NULL until first needed, and after a broken one is closed */
  bool in_use;    /* lent out, or being connected by the caller that reserved it */
  bool *prepared; /* per statement, then per multi-row form (flag_of): prepared on this one */
};

/* A database that does not answer (frozen, partitioned: TCP still accepts) must not hold a
 * request for long: a statement gets QUERY_TIMEOUT_MS, a connection attempt CONNECT_TIMEOUT
 * seconds (unless the URL says otherwise); after either, or a refused connection, the pool
 * answers TE_UNAVAILABLE at once for DOWN_MS instead of making every request find out again. */
#define QUERY_TIMEOUT_MS 5000
#define CONNECT_TIMEOUT "3"
#define DOWN_MS 1000
#define STATEMENT_TIMEOUT_MS "6000"

struct pg_pool {
  char *conninfo;
  int size, wait_ms, count;
  int query_timeout_ms, down_ms;
  const char *on_connect; /* run on every new connection (NULL: nothing) */
  int64_t down_until_ms;  /* under lock: until then, the database is taken to be down */
  const struct pg_statement *statements;
  pthread_mutex_t lock;
  pthread_cond_t freed; /* a slot was released */
  struct slot *slots;
};

/* libpq prints notices (a terminated backend's FATAL, say) to stderr by default; the pool's
 * callers report what matters themselves. */
static void quiet(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

/* A connection's prepared flags: one a statement, and PG_ROWS_PREPARED more each for its
 * multi-row forms. */
static size_t flags_count(int count) {
  return (size_t)(count ? count : 1) * (1 + PG_ROWS_PREPARED);
}

int pg_pool_create(const char *conninfo, int size, int wait_ms,
                   const struct pg_statement *statements, int count, struct pg_pool **out) {
  if (size < 1 || wait_ms < 0 || count < 0)
    return TE_BAD_REQUEST;
  struct pg_pool *p = calloc(1, sizeof *p);
  if (!p || !(p->conninfo = strdup(conninfo)) ||
      !(p->slots = calloc((size_t)size, sizeof *p->slots)))
    abort();
  for (int i = 0; i < size; i++)
    if (!(p->slots[i].prepared = calloc(flags_count(count), sizeof(bool))))
      abort();
  p->size = size;
  p->wait_ms = wait_ms;
  p->query_timeout_ms = QUERY_TIMEOUT_MS;
  p->down_ms = DOWN_MS;
  p->statements = statements;
  p->count = count;
  pthread_mutex_init(&p->lock, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* waits unaffected by clock changes */
  pthread_cond_init(&p->freed, &attr);
  pthread_condattr_destroy(&attr);
  *out = p;
  return TE_OK;
}

void pg_pool_free(struct pg_pool *p) {
  if (!p)
    return;
  for (int i = 0; i < p->size; i++) {
    if (p->slots[i].conn)
      PQfinish(p->slots[i].conn);
    free(p->slots[i].prepared);
  }
  pthread_cond_destroy(&p->freed);
  pthread_mutex_destroy(&p->lock);
  free(p->slots);
  free(p->conninfo);
  free(p);
}

/* An idle connection has nothing to say: the pool's connections LISTEN to nothing. When its
 * socket is readable, the server has closed it (a restart, pg_terminate_backend: a FATAL, then
 * the end of the stream) or sent something we do not wait for. Either way it is replaced before
 * it costs a request; the rare false alarm costs a reconnect. */
static bool still_good(PGconn *conn) {
  struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
  return PQstatus(conn) == CONNECTION_OK && pfd.fd >= 0 && poll(&pfd, 1, 0) == 0;
}

static void forget(struct pg_pool *p, struct slot *s) {
  if (s->conn)
    PQfinish(s->conn);
  s->conn = NULL;
  memset(s->prepared, 0, sizeof(bool) * flags_count(p->count));
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool pg_log_now(atomic_int_fast64_t *last_ms) {
  int64_t now = now_ms(), then = atomic_load(last_ms);
  return now - then >= 1000 && atomic_compare_exchange_strong(last_ms, &then, now);
}

void pg_pool_set_on_connect(struct pg_pool *p, const char *sql) {
  pthread_mutex_lock(&p->lock);
  p->on_connect = sql;
  pthread_mutex_unlock(&p->lock);
}

void pg_pool_set_timeouts(struct pg_pool *p, int query_timeout_ms, int down_ms) {
  pthread_mutex_lock(&p->lock);
  p->query_timeout_ms = query_timeout_ms;
  p->down_ms = down_ms;
  if (p->down_until_ms > now_ms() + down_ms) /* a window already running is the new length */
    p->down_until_ms = now_ms() + down_ms;
  pthread_mutex_unlock(&p->lock);
}

PGconn *pg_connect(const char *conninfo) {
  /* Ours first: what the URL (dbname, expanded) says comes later and so wins. The server ends a
   * statement a little after the client stopped waiting for it, so that one abandoned cannot
   * hold the write lock. Joins are planned in the order written (each statement's, pg_sql.c, is
   * the token first and then what it points at): the cache's read of the tokens after a seq
   * (PRINCIPALS_AFTER, seven tables) gets a custom plan at every execution, since a generic one
   * cannot know that the range holds a few rows, and searching its join orders took 1.2 ms of
   * the database's CPU each time (0.33 ms in written order) on a million tokens: after every
   * commit that made tokens; planning was a sixth of the machine's CPU during the OIDC
   * benchmark, the join-order search two thirds of that. */
  const char *const keys[] = {"connect_timeout", "options", "dbname", NULL};
  const char *const values[] = {
      CONNECT_TIMEOUT, "-c statement_timeout=" STATEMENT_TIMEOUT_MS " -c join_collapse_limit=1",
      conninfo, NULL};
  PGconn *conn = PQconnectdbParams(keys, values, 1);
  if (conn)
    PQsetNoticeProcessor(conn, quiet, NULL);
  return conn;
}

bool pg_conninfo_valid(const char *conninfo) {
  char *error = NULL;
  PQconninfoOption *options = PQconninfoParse(conninfo, &error);
  PQfreemem(error); /* it may quote the URL, password and all */
  PQconninfoFree(options);
  return options != NULL;
}

static void mark_down(struct pg_pool *p) {
  pthread_mutex_lock(&p->lock);
  p->down_until_ms = now_ms() + p->down_ms;
  pthread_mutex_unlock(&p->lock);
}

/* Connects for a slot the caller has reserved (in_use, no connection), outside the lock. */
static int connect_slot(struct pg_pool *p, struct slot *s, PGconn **out) {
  static atomic_int_fast64_t last_said = -1000000;
  PGconn *conn = pg_connect(p->conninfo);
  pthread_mutex_lock(&p->lock);
  const char *on_connect = p->on_connect;
  pthread_mutex_unlock(&p->lock);
  if (PQstatus(conn) == CONNECTION_OK && on_connect) {
    PGresult *res = PQexec(conn, on_connect);
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
      PQfinish(conn); /* a connection without its settings is not one to lend */
      conn = NULL;
    }
    PQclear(res);
  }
  if (!conn || PQstatus(conn) != CONNECTION_OK) {
    if (pg_log_now(&last_said)) /* while the database is down, every request would say it */
      fprintf(stderr, "tessera: PostgreSQL: cannot connect: %s",
              conn ? PQerrorMessage(conn) : "its settings could not be applied\n");
    PQfinish(conn);
    pthread_mutex_lock(&p->lock);
    p->down_until_ms = now_ms() + p->down_ms;
    s->in_use = false;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
    return TE_UNAVAILABLE;
  }
  pthread_mutex_lock(&p->lock);
  s->conn = conn;
  pthread_mutex_unlock(&p->lock);
  *out = conn;
  return TE_OK;
}

int pg_pool_acquire(struct pg_pool *p, PGconn **out) {
  struct timespec deadline = time_deadline(CLOCK_MONOTONIC, p->wait_ms);
  pthread_mutex_lock(&p->lock);
  if (now_ms() < p->down_until_ms) { /* found down a moment ago: say so at once */
    pthread_mutex_unlock(&p->lock);
    return TE_UNAVAILABLE;
  }
  for (;;) {
    struct slot *empty = NULL;
    for (int i = 0; i < p->size; i++) {
      struct slot *s = &p->slots[i];
      if (s->in_use)
        continue;
      if (s->conn && still_good(s->conn)) {
        s->in_use = true;
        pthread_mutex_unlock(&p->lock);
        *out = s->conn;
        return TE_OK;
      }
      if (s->conn)
        forget(p, s); /* closed by the server while idle */
      if (!empty)
        empty = s;
    }
    if (empty) {
      empty->in_use = true; /* reserved: connect without holding the lock */
      pthread_mutex_unlock(&p->lock);
      return connect_slot(p, empty, out);
    }
    if (pthread_cond_timedwait(&p->freed, &p->lock, &deadline) == ETIMEDOUT) {
      pthread_mutex_unlock(&p->lock);
      return TE_UNAVAILABLE;
    }
  }
}

static struct slot *slot_of(struct pg_pool *p, PGconn *conn) {
  for (int i = 0; i < p->size; i++)
    if (p->slots[i].conn == conn)
      return &p->slots[i];
  return NULL;
}

void pg_pool_release(struct pg_pool *p, PGconn *conn, bool broken) {
  pthread_mutex_lock(&p->lock);
  struct slot *s = slot_of(p, conn);
  if (s) {
    /* A connection left inside a transaction, or gone, is not one to lend again. */
    if (broken || PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE)
      forget(p, s);
    s->in_use = false;
    pthread_cond_signal(&p->freed);
  }
  pthread_mutex_unlock(&p->lock);
}

static int64_t query_deadline(struct pg_pool *p) {
  pthread_mutex_lock(&p->lock);
  int64_t deadline = now_ms() + p->query_timeout_ms;
  pthread_mutex_unlock(&p->lock);
  return deadline;
}

/* The next result on conn by the deadline (NULL: the end of a query's results), or NULL with
 * *late set when the server did not answer in time or the connection failed. PQgetResult blocks
 * when libpq is busy, so it is called only once input makes it not. */
static PGresult *next_result(PGconn *conn, int64_t deadline, bool *late) {
  while (!*late && PQisBusy(conn)) {
    int64_t left = deadline - now_ms();
    struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
    int ready = left > 0 && pfd.fd >= 0 ? poll(&pfd, 1, (int)left) : 0;
    if (ready < 0 && errno == EINTR)
      continue;
    if (ready <= 0 || !PQconsumeInput(conn))
      *late = true; /* out of time, or the connection failed */
  }
  return *late ? NULL : PQgetResult(conn);
}

/* The last of one query's results (the one before the NULL that ends them), read by the
 * deadline; NULL with *late set as next_result says. */
static PGresult *last_result(PGconn *conn, int64_t deadline, bool *late) {
  PGresult *last = NULL;
  for (PGresult *res; (res = next_result(conn, deadline, late)) != NULL;) {
    PQclear(last);
    last = res;
  }
  if (*late) {
    PQclear(last);
    return NULL;
  }
  return last;
}

/* The result of what was just sent on conn, waiting at most the pool's query timeout: the last
 * result (libpq's exec functions' convention), or NULL when the server did not answer in time or
 * the connection failed. A connection that timed out is unusable (a reply may still come): it
 * is closed and the database taken to be down for a moment. */
static PGresult *await_result(struct pg_pool *p, PGconn *conn, bool sent) {
  bool late = !sent;
  PGresult *last = late ? NULL : last_result(conn, query_deadline(p), &late);
  if (late) {
    mark_down(p);
    /* The caller releases the connection as broken (a reply may still come) and the pool
     * closes it; the server ends the statement itself (statement_timeout, pg_connect). */
    return NULL;
  }
  return last;
}

PGresult *pg_pool_exec(struct pg_pool *p, PGconn *conn, int index, const char *const *values) {
  char name[16];
  snprintf(name, sizeof name, "s%d", index);
  pthread_mutex_lock(&p->lock);
  struct slot *s = slot_of(p, conn);
  bool prepared = s && index >= 0 && index < p->count && s->prepared[index];
  pthread_mutex_unlock(&p->lock);
  if (!s || index < 0 || index >= p->count)
    return NULL;
  if (!prepared) {
    PGresult *res = await_result(
        p, conn,
        PQsendPrepare(conn, name, p->statements[index].sql, p->statements[index].params, NULL));
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
      return res; /* the caller sees why */
    PQclear(res);
    pthread_mutex_lock(&p->lock);
    s->prepared[index] = true;
    pthread_mutex_unlock(&p->lock);
  }
  return await_result(
      p, conn, PQsendQueryPrepared(conn, name, p->statements[index].params, values, NULL, NULL, 0));
}

PGresult *pg_pool_exec_text(struct pg_pool *p, PGconn *conn, const char *sql, int n,
                            const char *const *values) {
  return await_result(p, conn, PQsendQueryParams(conn, sql, n, NULL, values, NULL, NULL, 0));
}

#define CHAIN_MAX 16 /* sql.h's SQL_CHAIN_MAX, which the driver checks first */

/* The prepared flag of a query (and its statement's name into name), or -1 for text run as it
 * is: a numbered statement's own, or that of its multi-row form of q->rows rows. */
static int flag_of(const struct pg_pool *p, const struct pg_query *q, char name[24]) {
  if (!q->sql) {
    snprintf(name, 24, "s%d", q->index);
    return q->index;
  }
  if (q->index < 0 || q->rows < 1 || q->rows > PG_ROWS_PREPARED)
    return -1;
  snprintf(name, 24, "s%dr%d", q->index, q->rows);
  return p->count + q->index * PG_ROWS_PREPARED + q->rows - 1;
}

/* Sends the chain: each query, preceded by its statement's preparation where this connection has
 * not prepared it (flags[i] >= 0 then: preparing it), then the Sync that ends the pipeline. */
static bool send_chain(struct pg_pool *p, struct slot *s, PGconn *conn, const struct pg_query *q,
                       int count, int *flags) {
  for (int i = 0; i < count; i++) {
    char name[24];
    int flag = flag_of(p, &q[i], name);
    if (flag < 0) {
      if (!PQsendQueryParams(conn, q[i].sql, q[i].n, NULL, q[i].values, NULL, NULL, 0))
        return false;
      continue;
    }
    pthread_mutex_lock(&p->lock);
    bool preparing = !s->prepared[flag];
    pthread_mutex_unlock(&p->lock);
    for (int j = 0; j < i && preparing; j++) /* a statement twice in the chain: once */
      preparing = flags[j] != flag;
    flags[i] = preparing ? flag : -1;
    const char *sql = q[i].sql ? q[i].sql : p->statements[q[i].index].sql;
    int params = q[i].sql ? q[i].n : p->statements[q[i].index].params;
    if ((preparing && !PQsendPrepare(conn, name, sql, params, NULL)) ||
        !PQsendQueryPrepared(conn, name, params, q[i].values, NULL, NULL, 0))
      return false;
  }
  return PQpipelineSync(conn) == 1;
}

bool pg_pool_exec_chain(struct pg_pool *p, PGconn *conn, const struct pg_query *q, int count,
                        PGresult **results) {
  if (count < 1 || count > CHAIN_MAX)
    return false;
  int flags[CHAIN_MAX];
  for (int i = 0; i < count; i++) {
    results[i] = NULL;
    flags[i] = -1;
  }
  pthread_mutex_lock(&p->lock);
  struct slot *s = slot_of(p, conn);
  pthread_mutex_unlock(&p->lock);
  /* A numbered statement gets exactly its parameters; one left in a pipeline (a chain that
   * timed out) takes nothing more: libpq would queue it behind what never came. */
  bool valid = s && PQpipelineStatus(conn) == PQ_PIPELINE_OFF;
  for (int i = 0; valid && i < count; i++)
    valid = (q[i].index >= 0 && q[i].index < p->count &&
             (q[i].sql || q[i].n == p->statements[q[i].index].params)) ||
            (q[i].index == -1 && q[i].sql);
  if (!valid)
    return false;
  int64_t deadline = query_deadline(p);
  bool late = !PQenterPipelineMode(conn) || !send_chain(p, s, conn, q, count, flags);
  for (int i = 0; i < count && !late; i++) {
    if (flags[i] >= 0) {
      /* A preparation that failed (or was not run, after a failure) says why, and the query
       * after it was not run; one that worked is remembered once the chain is through. */
      PGresult *prepared = last_result(conn, deadline, &late);
      if (!prepared || PQresultStatus(prepared) != PGRES_COMMAND_OK)
        flags[i] = -1;
      if (prepared && flags[i] < 0) {
        results[i] = prepared;
        PQclear(last_result(conn, deadline, &late));
        continue;
      }
      PQclear(prepared);
    }
    results[i] = last_result(conn, deadline, &late);
  }
  /* The Sync's own result ends the pipeline. */
  PGresult *sync = late ? NULL : next_result(conn, deadline, &late);
  late |= !sync || PQresultStatus(sync) != PGRES_PIPELINE_SYNC || !PQexitPipelineMode(conn);
  PQclear(sync);
  if (late) {
    for (int i = 0; i < count; i++) {
      PQclear(results[i]);
      results[i] = NULL;
    }
    mark_down(p);
    return false;
  }
  pthread_mutex_lock(&p->lock);
  for (int i = 0; i < count; i++)
    if (flags[i] >= 0) /* by now: prepared */
      s->prepared[flags[i]] = true;
  pthread_mutex_unlock(&p->lock);
  return true;
}

int pg_pool_open_count(struct pg_pool *p) {
  pthread_mutex_lock(&p->lock);
  int n = 0;
  for (int i = 0; i < p->size; i++)
    n += p->slots[i].conn != NULL;
  pthread_mutex_unlock(&p->lock);
  return n;
}
