/* The shared state of the server's threads, each piece driven from several threads at once with
 * its own background thread running: the caching store over SQLite (worker lookups, the
 * group-commit writer, the change poller), lastUsed coalescing (notes against its flusher) and the
 * access log (per-thread buffers against its flusher). The assertions are the contracts; the point
 * is the ThreadSanitizer build (make tsan), in which any unsynchronized access here fails the test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/timeutil.h"
#include "http/accesslog.h"
#include "store/lastused.h"
#include "store/store.h"
#include "store_fixture.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THREADS 4

static void run_threads(void *(*fn)(void *), void *args, size_t arg_size) {
  pthread_t threads[THREADS];
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(pthread_create(&threads[i], NULL, fn, (char *)args + i * arg_size), 0);
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(pthread_join(threads[i], NULL), 0);
}

/* --- the caching store over SQLite --------------------------------------------------------- */

#define CACHE_ROUNDS 25

struct cache_worker {
  struct store *cached;
  struct store *other; /* "another process": moves data_version under the poller */
  int64_t user_id;
  int index;
  atomic_int *async_done;
  int failures; /* broken contracts, checked on the main thread (cmocka asserts are not
                 * thread-safe) */
};

static void count_done(void *arg, int result) {
  atomic_int *done = arg;
  if (result == TE_OK)
    atomic_fetch_add(done, 1);
}

static void *cache_work(void *arg) {
  struct cache_worker *w = arg;
  struct store *s = w->cached;
  for (int round = 0; round < CACHE_ROUNDS; round++) {
    struct store_token t = {.kind = TOKEN_PERSONAL, .user_id = w->user_id, .created = time_now()};
    token_fill_secret(&t, NULL);
    /* every other token goes through the writer's queue without waiting, as the API does */
    bool async = round % 2;
    if (s->ops->token_insert(s, &t, NULL, async ? count_done : NULL, w->async_done) != TE_OK)
      w->failures++;
    struct store_principal p;
    for (int tries = 0; async && tries < 10000; tries++) { /* until its commit is in (10 s) */
      if (s->ops->principal_by_token_hash(s, t.hash, &p) == TE_OK)
        break;
      usleep(1000);
    }
    for (int i = 0; i < 3; i++) /* hits once one has filled the cache */
      if (s->ops->principal_by_token_hash(s, t.hash, &p) != TE_OK || p.token.seq == 0)
        w->failures++;
    struct store_membership *m;
    size_t count;
    if (s->ops->memberships(s, w->user_id, &m, &count) != TE_OK)
      w->failures++;
    else
      free(m);
    if (w->index == 0) {
      char name[32];
      snprintf(name, sizeof name, "org-%d", round);
      if (w->other->ops->org_create(w->other, name) != TE_OK)
        w->failures++;
    }
    if (s->ops->token_delete(s, w->user_id, t.id, NULL, NULL, NULL) != TE_OK)
      w->failures++;
    /* a deleted token is refused by the very next lookup, whatever the other threads do */
    if (s->ops->principal_by_token_hash(s, t.hash, &p) != TE_NOT_FOUND)
      w->failures++;
  }
  return NULL;
}

static void cache_lookups_writes_and_polls_from_many_threads(void **state) {
  (void)state;
  char dir[64], path[96];
  temp_db_make(dir, path, "concurrency");
  struct store *inner, *cached, *other;
  assert_int_equal(fixture_open(path, 2, &inner), TE_OK); /* fewer readers than threads */
  assert_int_equal(store_cache_wrap(inner, 1, 60000, 3600, &cached), TE_OK);
  assert_int_equal(fixture_open(path, 1, &other), TE_OK);
  struct store_user u = {0}, alice;
  snprintf(u.login, sizeof u.login, "alice");
  assert_int_equal(cached->ops->user_create(cached, &u, &alice), TE_OK);

  atomic_int async_done = 0;
  struct cache_worker workers[THREADS];
  for (int i = 0; i < THREADS; i++)
    workers[i] = (struct cache_worker){cached, other, alice.id, i, &async_done, 0};
  run_threads(cache_work, workers, sizeof workers[0]);
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(workers[i].failures, 0);
  assert_int_equal(atomic_load(&async_done), THREADS * (CACHE_ROUNDS / 2));

  cached->ops->close(cached);
  other->ops->close(other);
  temp_db_remove(dir);
}

/* --- lastUsed coalescing ------------------------------------------------------------------- */

#define SEQS 64
#define NOTES 2000

struct touch_store {
  struct store base;
  pthread_mutex_t lock;
  int64_t written[SEQS + 1]; /* the newest lastUsed written per seq */
};

static int record_touch(struct store *store, const struct store_last_used *u, size_t n) {
  struct touch_store *f = (struct touch_store *)store;
  pthread_mutex_lock(&f->lock);
  for (size_t i = 0; i < n; i++)
    if (u[i].seq >= 1 && u[i].seq <= SEQS && u[i].last_used > f->written[u[i].seq])
      f->written[u[i].seq] = u[i].last_used;
  pthread_mutex_unlock(&f->lock);
  return TE_OK;
}

struct note_worker {
  struct lastused *lu;
  int index;
  int failures;
};

static void *note_work(void *arg) {
  struct note_worker *w = arg;
  int64_t now = time_now();
  for (int i = 0; i < NOTES; i++) {
    int64_t seq = 1 + (i * 7 + w->index) % SEQS;
    lastused_note(w->lu, seq, 0, now);
    if (lastused_effective(w->lu, seq, 0) < 0)
      w->failures++;
    if (i % 256 == 0)
      usleep(1000); /* let the flusher in */
  }
  return NULL;
}

static void lastused_notes_from_many_threads_while_flushing(void **state) {
  (void)state;
  static const struct store_ops ops = {.tokens_touch = record_touch};
  struct touch_store f = {.base.ops = &ops};
  pthread_mutex_init(&f.lock, NULL);
  struct lastused *lu;
  assert_int_equal(lastused_start(&f.base, 1, 1, &lu), TE_OK); /* flushes every millisecond */
  struct note_worker workers[THREADS];
  for (int i = 0; i < THREADS; i++)
    workers[i] = (struct note_worker){lu, i, 0};
  run_threads(note_work, workers, sizeof workers[0]);
  lastused_stop(lu); /* writes what is still pending */
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(workers[i].failures, 0);
  for (int seq = 1; seq <= SEQS; seq++) /* every token used was written, none lost */
    assert_true(f.written[seq] > 0);
  pthread_mutex_destroy(&f.lock);
}

/* --- the access log ------------------------------------------------------------------------ */

#define LOG_MS 1300 /* past the flusher's one-second tick, so it runs while threads log */

static void *log_work(void *arg) {
  int *lines = arg;
  char id[32];
  int64_t end = time_monotonic_ms() + LOG_MS;
  while (time_monotonic_ms() < end) {
    snprintf(id, sizeof id, "req-%p-%d", (void *)lines, *lines);
    struct access_entry e = {.request_id = id, .method = "GET", .path = "/api/user", .status = 200};
    accesslog_write(&e);
    ++*lines;
    usleep(500);
  }
  return NULL;
}

static void access_log_lines_from_many_threads_are_whole(void **state) {
  (void)state;
  char dir[64] = "/tmp/tessera-accesslog-XXXXXX", path[96];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/access.log", dir);
  FILE *log = fopen(path, "w+");
  assert_non_null(log);
  accesslog_start(fileno(log));
  int lines[THREADS] = {0};
  run_threads(log_work, lines, sizeof lines[0]);
  accesslog_stop(); /* the loggers have exited, as MHD's workers have when the server stops */

  int expected = 0, seen = 0;
  for (int i = 0; i < THREADS; i++)
    expected += lines[i];
  rewind(log);
  char line[1024];
  while (fgets(line, sizeof line, log)) {
    json_error_t error;
    json_t *j = json_loads(line, 0, &error);
    assert_non_null(j); /* never a torn or interleaved line */
    json_decref(j);
    seen++;
  }
  assert_int_equal(seen, expected);
  fclose(log);
  temp_db_remove(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(cache_lookups_writes_and_polls_from_many_threads),
      cmocka_unit_test(lastused_notes_from_many_threads_while_flushing),
      cmocka_unit_test(access_log_lines_from_many_threads_are_whole),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
