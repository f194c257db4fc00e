/* store/pg_listen.c against a real PostgreSQL 15 (a throwaway cluster, pg_cluster.h): a
 * notification on the channel calls back; one on another channel, or from the backend named as
 * the caller's own, does not; a listener whose
 * connection the server killed reconnects by itself and calls back once it is listening again
 * (what was sent meanwhile is lost, so its caller catches up then); stopping it ends its thread
 * promptly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/timeutil.h"
#include "store/pg_listen.h"

#include "pg_cluster.h"

#include <pthread.h>
#include <time.h>

struct calls {
  pthread_mutex_t lock;
  pthread_cond_t moved;
  int count;
};

static void called(void *arg) {
  struct calls *c = arg;
  pthread_mutex_lock(&c->lock);
  c->count++;
  pthread_cond_broadcast(&c->moved);
  pthread_mutex_unlock(&c->lock);
}

/* Waits (bounded) until more than `than` calls were made; returns the count. */
static int wait_beyond(struct calls *c, int than, int ms) {
  struct timespec deadline = time_deadline(CLOCK_REALTIME, ms);
  pthread_mutex_lock(&c->lock);
  while (c->count <= than && pthread_cond_timedwait(&c->moved, &c->lock, &deadline) == 0)
    ;
  int n = c->count;
  pthread_mutex_unlock(&c->lock);
  return n;
}

static void sql(const char *text) {
  PGconn *conn = pg_cluster_connect(&cluster, NULL);
  PGresult *res = PQexec(conn, text);
  ExecStatusType st = PQresultStatus(res);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    fail_msg("%s: %s", text, PQerrorMessage(conn));
  PQclear(res);
  PQfinish(conn);
}

/* The first call comes once the listener is connected and listening. */
static struct pg_listener *listening(struct calls *c) {
  struct pg_listener *l;
  assert_int_equal(pg_listener_start(cluster.conninfo, "tessera_test", called, c, NULL, &l), TE_OK);
  assert_true(wait_beyond(c, 0, 10000) >= 1);
  return l;
}

static void a_notification_on_the_channel_calls_back(void **state) {
  (void)state;
  struct calls c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
  struct pg_listener *l = listening(&c);
  int before = wait_beyond(&c, 0, 0);
  sql("NOTIFY tessera_test");
  assert_true(wait_beyond(&c, before, 10000) > before);
  pg_listener_stop(l);
}

static void another_channel_does_not(void **state) {
  (void)state;
  struct calls c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
  struct pg_listener *l = listening(&c);
  int before = wait_beyond(&c, 0, 0);
  sql("NOTIFY something_else");
  sql("SELECT pg_sleep(0.3)"); /* time for it to arrive, had it been ours */
  assert_int_equal(wait_beyond(&c, before, 0), before);
  pg_listener_stop(l);
}

/* The store's own writer catches up after its commits itself: what its backend sends is not
 * passed on, what any other sends is. */
static void the_own_backends_notifications_are_not_passed_on(void **state) {
  (void)state;
  struct calls c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
  PGconn *mine = pg_cluster_connect(&cluster, NULL);
  atomic_int own = PQbackendPID(mine);
  struct pg_listener *l;
  assert_int_equal(pg_listener_start(cluster.conninfo, "tessera_test", called, &c, &own, &l),
                   TE_OK);
  assert_true(wait_beyond(&c, 0, 10000) >= 1);
  int before = wait_beyond(&c, 0, 0);
  PGresult *res = PQexec(mine, "NOTIFY tessera_test");
  assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
  PQclear(res);
  sql("SELECT pg_sleep(0.3)"); /* time for it to arrive, had it been passed on */
  assert_int_equal(wait_beyond(&c, before, 0), before);
  sql("NOTIFY tessera_test"); /* another backend's */
  assert_true(wait_beyond(&c, before, 10000) > before);
  pg_listener_stop(l);
  PQfinish(mine);
}

static void a_killed_connection_comes_back_by_itself(void **state) {
  (void)state;
  struct calls c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
  struct pg_listener *l = listening(&c);
  int before = wait_beyond(&c, 0, 0);
  /* Like a database restart, as far as this connection knows. */
  sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
      "WHERE query = 'LISTEN tessera_test' AND pid <> pg_backend_pid()");
  int after = wait_beyond(&c, before, 10000); /* the call made once it listens again */
  assert_true(after > before);
  sql("NOTIFY tessera_test");
  assert_true(wait_beyond(&c, after, 10000) > after);
  pg_listener_stop(l);
}

static void stopping_is_prompt_even_while_the_database_is_unreachable(void **state) {
  (void)state;
  struct calls c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
  struct pg_listener *l;
  /* Nothing listens on port 1: the listener keeps retrying until asked to stop. */
  assert_int_equal(pg_listener_start("host=127.0.0.1 port=1 user=tessera connect_timeout=2",
                                     "tessera_test", called, &c, NULL, &l),
                   TE_OK);
  struct timespec pause = {0, 200 * 1000 * 1000};
  nanosleep(&pause, NULL);
  pg_listener_stop(l);
  assert_int_equal(c.count, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_notification_on_the_channel_calls_back),
      cmocka_unit_test(another_channel_does_not),
      cmocka_unit_test(the_own_backends_notifications_are_not_passed_on),
      cmocka_unit_test(a_killed_connection_comes_back_by_itself),
      cmocka_unit_test(stopping_is_prompt_even_while_the_database_is_unreachable),
  };
  return cmocka_run_group_tests(tests, pg_cluster_group_setup, pg_cluster_group_teardown);
}
