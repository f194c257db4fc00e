/* store/pg_pool.c against a real PostgreSQL 15 (a throwaway cluster, pg_cluster.h): bounded, and
 * a caller that finds every connection in use waits, then gets TE_UNAVAILABLE; statements are
 * prepared once per connection; a connection the server closed is replaced before it costs a
 * request; one handed back inside a transaction is closed; many threads share a few connections;
 * an unreachable database is TE_UNAVAILABLE, never a hang; a chain (pipeline) answers each of
 * its queries, ends at the first that fails, and times out as a statement does; every connection
 * has its statement timeout and plans joins in the order written. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/error.h"
#include "store/pg_pool.h"

#include "pg_cluster.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const struct pg_statement statements[] = {
    {"SELECT $1::int + 1", 1},
    {"SELECT pg_backend_pid()", 0},
};

static struct pg_pool *pool_of(int size, int wait_ms) {
  struct pg_pool *p;
  assert_int_equal(pg_pool_create(cluster.conninfo, size, wait_ms, statements, 2, &p), TE_OK);
  return p;
}

static int plus_one(struct pg_pool *p, PGconn *conn, int n) {
  char arg[16];
  snprintf(arg, sizeof arg, "%d", n);
  const char *values[] = {arg};
  PGresult *res = pg_pool_exec(p, conn, 0, values);
  assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
  int v = atoi(PQgetvalue(res, 0, 0));
  PQclear(res);
  return v;
}

static int backend_pid(struct pg_pool *p, PGconn *conn) {
  PGresult *res = pg_pool_exec(p, conn, 1, NULL);
  assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
  int pid = atoi(PQgetvalue(res, 0, 0));
  PQclear(res);
  return pid;
}

static void at_most_size_connections_then_unavailable(void **state) {
  (void)state;
  struct pg_pool *p = pool_of(2, 200);
  PGconn *a, *b, *c;
  assert_int_equal(pg_pool_acquire(p, &a), TE_OK);
  assert_int_equal(pg_pool_acquire(p, &b), TE_OK);
  assert_ptr_not_equal(a, b);
  assert_int_equal(pg_pool_acquire(p, &c), TE_UNAVAILABLE);
  assert_int_equal(pg_pool_open_count(p), 2);
  pg_pool_release(p, a, false);
  assert_int_equal(pg_pool_acquire(p, &c), TE_OK);
  assert_ptr_equal(c, a); /* reused, not a new connection */
  pg_pool_release(p, b, false);
  pg_pool_release(p, c, false);
  pg_pool_free(p);
}

static void statements_are_prepared_once_per_connection(void **state) {
  (void)state;
  struct pg_pool *p = pool_of(1, 1000);
  PGconn *conn;
  assert_int_equal(pg_pool_acquire(p, &conn), TE_OK);
  for (int i = 0; i < 3; i++)
    assert_int_equal(plus_one(p, conn, 41 + i), 42 + i);
  PGresult *res = PQexec(conn, "SELECT count(*) FROM pg_prepared_statements");
  assert_string_equal(PQgetvalue(res, 0, 0), "1"); /* only the statement used, and once */
  PQclear(res);
  assert_null(pg_pool_exec(p, conn, 2, NULL)); /* no such statement */
  pg_pool_release(p, conn, false);
  pg_pool_free(p);
}

static const char *text_of(PGresult *res) {
  assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
  return PQgetvalue(res, 0, 0);
}

static char *setting(PGconn *conn, const char *name) {
  char sql[64];
  snprintf(sql, sizeof sql, "SHOW %s", name);
  PGresult *res = PQexec(conn, sql);
  char *v = strdup(text_of(res));
  PQclear(res);
  return v;
}

/* Every connection ends an abandoned statement itself, and plans joins in the order written. */
static void connections_carry_their_settings(void **state) {
  (void)state;
  struct pg_pool *p = pool_of(1, 1000);
  PGconn *conn;
  assert_int_equal(pg_pool_acquire(p, &conn), TE_OK);
  char *timeout = setting(conn, "statement_timeout"), *joins = setting(conn, "join_collapse_limit");
  assert_string_equal(timeout, "6s");
  assert_string_equal(joins, "1");
  free(timeout);
  free(joins);
  pg_pool_release(p, conn, false);
  pg_pool_free(p);
}

static void a_connection_the_server_closed_is_replaced(void **state) {
  (void)state;
  struct pg_pool *p = pool_of(1, 1000);
  PGconn *conn;
  assert_int_equal(pg_pool_acquire(p, &conn), TE_OK);
  int pid = backend_pid(p, conn);
  pg_pool_release(p, conn, false);
  PGconn *admin = pg_cluster_connect(&cluster, NULL);
  char text[96];
  snprintf(text, sizeof text, "SELECT pg_terminate_backend(%d, 5000)", pid);
  PGresult *res = PQexec(admin, text);
  assert_string_equal(PQgetvalue(res, 0, 0), "t"); /* waited until it was gone */
  PQclear(res);
  PQfinish(admin);
  /* The FATAL and the close may take a moment to reach our socket: the next acquire must not
   * hand out the dead connection once they have. */
  for (int tries = 0; tries < 50; tries++) {
    assert_int_equal(pg_pool_acquire(p, &conn), TE_OK);
    PGresult *probe = pg_pool_exec(p, conn, 1, NULL);
    bool works = PQresultStatus(probe) == PGRES_TUPLES_OK;
    int now = works ? atoi(PQgetvalue(probe, 0, 0)) : 0;
    PQclear(probe);
    pg_pool_release(p, conn, !works);
    if (works) {
      assert_int_not_equal(now, pid);
      assert_int_equal(tries, 0); /* replaced before any request saw the dead one */
      break;
    }
    struct timespec ms = {0, 20 * 1000000L};
    nanosleep(&ms, NULL);
  }
  assert_int_equal(pg_pool_open_count(p), 1);
  pg_pool_free(p);
}

static void one_handed_back_inside_a_transaction_is_closed(void **state) {
  (void)state;
  struct pg_pool *p = pool_of(2, 1000);
  PGconn *conn;
  assert_int_equal(pg_pool_acquire(p, &conn), TE_OK);
  PQclear(PQexec(conn, "BEGIN"));
  pg_pool_release(p, conn, false);
  assert_int_equal(pg_pool_open_count(p), 0);
  assert_int_equal(pg_pool_acquire(p, &conn), TE_OK);
  assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);
  pg_pool_release(p, conn, true); /* the caller says it broke: closed too */
  assert_int_equal(pg_pool_open_count(p), 0);
  pg_pool_free(p);
}

struct worker {
  struct pg_pool *pool;
  int failures;
};

static void *hammer(void *arg) {
  struct worker *w = arg;
  for (int i = 0; i < 50; i++) {
    PGconn *conn;
    if (pg_pool_acquire(w->pool, &conn) != TE_OK) {
      w->failures++;
      continue;
    }
    char n[16];
    snprintf(n, sizeof n, "%d", i);
    const char *values[] = {n};
    PGresult *res = pg_pool_exec(w->pool, conn, 0, values);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || atoi(PQgetvalue(res, 0, 0)) != i + 1)
      w->failures++;
    PQclear(res);
    pg_pool_release(w->pool, conn, false);
  }
  return NULL;
}

static void many_threads_share_a_few_connections(void **state) {
  (void)state;
  struct pg_pool *p = pool_of(3, 10000);
  struct worker workers[8];
  pthread_t threads[8];
  for (int i = 0; i < 8; i++) {
    workers[i] = (struct worker){.pool = p, .failures = 0};
    assert_int_equal(pthread_create(&threads[i], NULL, hammer, &workers[i]), 0);
  }
  for (int i = 0; i < 8; i++) {
    pthread_join(threads[i], NULL);
    assert_int_equal(workers[i].failures, 0);
  }
  assert_true(pg_pool_open_count(p) <= 3);
  pg_pool_free(p);
}

static void an_unreachable_database_is_unavailable(void **state) {
  (void)state;
  char info[128];
  snprintf(info, sizeof info, "host=127.0.0.1 port=%d user=tessera connect_timeout=2",
           pg_cluster_free_port());
  struct pg_pool *p;
  assert_int_equal(pg_pool_create(info, 1, 100, statements, 2, &p), TE_OK);
  PGconn *conn;
  assert_int_equal(pg_pool_acquire(p, &conn), TE_UNAVAILABLE);
  assert_int_equal(pg_pool_acquire(p, &conn), TE_UNAVAILABLE); /* the slot was given back */
  assert_int_equal(pg_pool_open_count(p), 0);
  pg_pool_free(p);
}

/* A server that accepts but never answers (SIGSTOPped, as a partition looks): the statement gets
 * NULL after the timeout instead of holding its caller, and for a moment after that the pool
 * says TE_UNAVAILABLE without trying; once the server answers again, so does the pool. */
static void a_database_that_stops_answering_times_out(void **state) {
  (void)state;
  struct pg_pool *p = pool_of(2, 1000);
  pg_pool_set_timeouts(p, 300, 60000);
  PGconn *conn, *other;
  assert_int_equal(pg_pool_acquire(p, &conn), TE_OK);
  int pid = backend_pid(p, conn);
  assert_int_equal(kill(pid, SIGSTOP), 0);
  const char *values[] = {"1"};
  PGresult *res = pg_pool_exec(p, conn, 0, values);
  assert_int_equal(kill(pid, SIGCONT), 0);
  assert_null(res);
  pg_pool_release(p, conn, true);
  assert_int_equal(pg_pool_acquire(p, &other), TE_UNAVAILABLE); /* down: not even tried */
  pg_pool_set_timeouts(p, 300, 0);                              /* the window is over */
  assert_int_equal(pg_pool_acquire(p, &other), TE_OK);
  assert_int_equal(plus_one(p, other, 41), 42);
  pg_pool_release(p, other, false);
  pg_pool_free(p);
}

static int prepared_count(PGconn *conn, const char *name) {
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_prepared_statements WHERE name = '%s'", name);
  PGresult *res = PQexec(conn, sql);
  int n = atoi(text_of(res));
  PQclear(res);
  return n;
}

/* Every query's own result, in order; a statement twice in one chain, and a multi-row form, are
 * prepared once each, and not again by the next chain (which PostgreSQL would refuse). */
static void a_chain_answers_each_query(void **state) {
  (void)state;
  struct pg_pool *p = pool_of(1, 1000);
  PGconn *conn;
  assert_int_equal(pg_pool_acquire(p, &conn), TE_OK);
  const char *v41[] = {"41"}, *v1[] = {"1"}, *va[] = {"a"}, *v2[] = {"2", "3"};
  const struct pg_query q[] = {
      {.index = 0, .n = 1, .values = v41},
      {.index = 1},
      {.index = 0, .n = 1, .values = v1},
      {.index = -1, .sql = "SELECT $1::text || 'b'", .n = 1, .values = va},
      {.index = 0, .sql = "SELECT $1::int + $2::int", .rows = 2, .n = 2, .values = v2},
  };
  for (int round = 0; round < 2; round++) {
    PGresult *res[5];
    assert_true(pg_pool_exec_chain(p, conn, q, 5, res));
    assert_string_equal(text_of(res[0]), "42");
    assert_int_equal(atoi(text_of(res[1])), PQbackendPID(conn));
    assert_string_equal(text_of(res[2]), "2");
    assert_string_equal(text_of(res[3]), "ab");
    assert_string_equal(text_of(res[4]), "5");
    for (int i = 0; i < 5; i++)
      PQclear(res[i]);
  }
  assert_int_equal(prepared_count(conn, "s0"), 1);
  assert_int_equal(prepared_count(conn, "s1"), 1);
  assert_int_equal(prepared_count(conn, "s0r2"), 1);
  PGresult *all = PQexec(conn, "SELECT count(*) FROM pg_prepared_statements");
  assert_string_equal(text_of(all), "3"); /* the plain text is never prepared */
  PQclear(all);
  pg_pool_release(p, conn, false);
  pg_pool_free(p);
}

/* A failed query says why; the server runs none after it (their preparations included: a
 * statement whose preparation was skipped is prepared when next used), and the connection
 * serves the next statement. */
static void a_failed_query_ends_the_chain(void **state) {
  (void)state;
  struct pg_pool *p = pool_of(1, 1000);
  PGconn *conn;
  assert_int_equal(pg_pool_acquire(p, &conn), TE_OK);
  const char *v1[] = {"1"};
  const struct pg_query q[] = {
      {.index = 0, .n = 1, .values = v1},
      {.index = -1, .sql = "SELECT 1 / 0"},
      {.index = 1},
  };
  PGresult *res[3];
  assert_true(pg_pool_exec_chain(p, conn, q, 3, res));
  assert_string_equal(text_of(res[0]), "2");
  assert_int_equal(PQresultStatus(res[1]), PGRES_FATAL_ERROR);
  assert_string_equal(PQresultErrorField(res[1], PG_DIAG_SQLSTATE), "22012");
  assert_int_equal(PQresultStatus(res[2]), PGRES_PIPELINE_ABORTED);
  for (int i = 0; i < 3; i++)
    PQclear(res[i]);
  assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);
  assert_int_equal(backend_pid(p, conn), PQbackendPID(conn));
  assert_int_equal(plus_one(p, conn, 1), 2);
  pg_pool_release(p, conn, false);
  pg_pool_free(p);
}

/* As a single statement does: no answer within the timeout, and the chain gets nothing. */
static void a_chain_that_gets_no_answer_times_out(void **state) {
  (void)state;
  struct pg_pool *p = pool_of(1, 1000);
  pg_pool_set_timeouts(p, 300, 0);
  PGconn *conn;
  assert_int_equal(pg_pool_acquire(p, &conn), TE_OK);
  int pid = backend_pid(p, conn);
  const char *v1[] = {"1"};
  const struct pg_query q[] = {{.index = 0, .n = 1, .values = v1}, {.index = 1}};
  PGresult *res[2] = {NULL, NULL};
  assert_int_equal(kill(pid, SIGSTOP), 0);
  bool answered = pg_pool_exec_chain(p, conn, q, 2, res);
  assert_int_equal(kill(pid, SIGCONT), 0);
  assert_false(answered);
  assert_null(res[0]);
  assert_null(res[1]);
  pg_pool_release(p, conn, true);
  pg_pool_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(at_most_size_connections_then_unavailable),
      cmocka_unit_test(statements_are_prepared_once_per_connection),
      cmocka_unit_test(connections_carry_their_settings),
      cmocka_unit_test(a_connection_the_server_closed_is_replaced),
      cmocka_unit_test(one_handed_back_inside_a_transaction_is_closed),
      cmocka_unit_test(many_threads_share_a_few_connections),
      cmocka_unit_test(an_unreachable_database_is_unavailable),
      cmocka_unit_test(a_database_that_stops_answering_times_out),
      cmocka_unit_test(a_chain_answers_each_query),
      cmocka_unit_test(a_failed_query_ends_the_chain),
      cmocka_unit_test(a_chain_that_gets_no_answer_times_out),
  };
  return cmocka_run_group_tests(tests, pg_cluster_group_setup, pg_cluster_group_teardown);
}
