/* lastUsed coalescing (store/lastused.c) against a recording fake store. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/timeutil.h"
#include "store/lastused.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEQS_TRACKED 8192

struct fake_store {
  struct store base;
  pthread_mutex_t lock;
  int calls;
  int fail_next;
  int fail_call; /* the call (1, 2, ...) that fails, 0 for none */
  struct store_last_used written[64];
  size_t written_count;
  size_t touched;               /* every update written, also past the 64 kept */
  int64_t by_seq[SEQS_TRACKED]; /* the last value written for each small seq */
};

static int fake_touch(struct store *store, const struct store_last_used *u, size_t n) {
  struct fake_store *f = (struct fake_store *)store;
  pthread_mutex_lock(&f->lock);
  int rc = TE_OK;
  if (f->fail_next || (f->fail_call && f->calls + 1 == f->fail_call)) {
    if (f->fail_next)
      f->fail_next--;
    else
      f->fail_call = 0;
    rc = TE_INTERNAL;
  } else {
    f->calls++;
    f->touched += n;
    for (size_t i = 0; i < n && f->written_count < 64; i++)
      f->written[f->written_count++] = u[i];
    for (size_t i = 0; i < n; i++)
      if (u[i].seq >= 0 && u[i].seq < SEQS_TRACKED)
        f->by_seq[u[i].seq] = u[i].last_used;
  }
  pthread_mutex_unlock(&f->lock);
  return rc;
}

static const struct store_ops fake_ops = {.tokens_touch = fake_touch};

/* Tests flush explicitly; the background tick is an hour so it cannot race them (but one). */
#define NO_TICK (3600 * 1000)
static int setup(void **state) {
  struct fake_store *f = calloc(1, sizeof *f);
  f->base.ops = &fake_ops;
  pthread_mutex_init(&f->lock, NULL);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  free(*state);
  return 0;
}

static void recently_stored_uses_are_not_written(void **state) {
  struct fake_store *f = *state;
  struct lastused *lu;
  assert_int_equal(lastused_start(&f->base, 60, NO_TICK, &lu), TE_OK);
  int64_t now = time_now();
  lastused_note(lu, 7, now - 30, now);
  assert_int_equal(lastused_effective(lu, 7, now - 30), now - 30);
  assert_int_equal(lastused_flush(lu), TE_OK);
  assert_int_equal(f->written_count, 0);
  lastused_stop(lu);
  assert_int_equal(f->written_count, 0);
}

static void many_uses_become_one_write(void **state) {
  struct fake_store *f = *state;
  struct lastused *lu;
  assert_int_equal(lastused_start(&f->base, 60, NO_TICK, &lu), TE_OK);
  int64_t now = time_now();
  for (int i = 0; i < 100; i++)
    lastused_note(lu, 7, 0, now + (i == 99)); /* the last use is a second later */
  assert_int_equal(lastused_effective(lu, 7, 0), now + 1);
  assert_int_equal(lastused_flush(lu), TE_OK);
  assert_int_equal(f->written_count, 1);
  assert_int_equal(f->written[0].seq, 7);
  assert_int_equal(f->written[0].last_used, now + 1);
  /* Within the interval a further use is not written again: the reader sees the stored value
   * just written (the caching store records it in its entry). */
  lastused_note(lu, 7, now + 1, now + 2);
  assert_int_equal(lastused_flush(lu), TE_OK);
  assert_int_equal(f->written_count, 1);
  /* Once the interval has passed, it is. */
  lastused_note(lu, 7, now + 1, now + 61);
  assert_int_equal(lastused_flush(lu), TE_OK);
  assert_int_equal(f->written_count, 2);
  assert_int_equal(f->written[1].last_used, now + 61);
  lastused_stop(lu);
}

/* Uses of many tokens in one tick are one write each, however many; once written, the table
 * forgets them (the next tick writes nothing). */
static void uses_of_many_tokens_are_each_written_once(void **state) {
  struct fake_store *f = *state;
  struct lastused *lu;
  assert_int_equal(lastused_start(&f->base, 60, NO_TICK, &lu), TE_OK);
  int64_t now = time_now();
  for (int64_t seq = 1; seq <= 50000; seq++)
    lastused_note(lu, seq, 0, now);
  assert_int_equal(lastused_effective(lu, 49999, 0), now);
  assert_int_equal(lastused_flush(lu), TE_OK);
  assert_int_equal(f->touched, 50000);
  assert_int_equal(f->calls, 50); /* a thousand a commit, so creations queue behind no more */
  assert_int_equal(lastused_effective(lu, 49999, now), now);
  assert_int_equal(lastused_effective(lu, 49999, 0), 0); /* forgotten: the store has it */
  assert_int_equal(lastused_flush(lu), TE_OK);
  assert_int_equal(f->touched, 50000);
  lastused_stop(lu);
}

static void a_failed_write_is_retried(void **state) {
  struct fake_store *f = *state;
  struct lastused *lu;
  assert_int_equal(lastused_start(&f->base, 60, NO_TICK, &lu), TE_OK);
  int64_t now = time_now();
  lastused_note(lu, 3, 0, now);
  lastused_note(lu, 4, 0, now);
  f->fail_next = 1;
  assert_int_equal(lastused_flush(lu), TE_INTERNAL);
  assert_int_equal(f->written_count, 0);
  assert_int_equal(lastused_effective(lu, 3, 0), now);
  assert_int_equal(lastused_flush(lu), TE_OK);
  assert_int_equal(f->written_count, 2);
  lastused_stop(lu);
}

/* A write that fails part-way: what was committed before it is not written again, the rest is. */
static void a_write_failing_part_way_retries_only_the_rest(void **state) {
  struct fake_store *f = *state;
  struct lastused *lu;
  assert_int_equal(lastused_start(&f->base, 60, NO_TICK, &lu), TE_OK);
  int64_t now = time_now();
  for (int64_t seq = 1; seq <= 2500; seq++)
    lastused_note(lu, seq, 0, now);
  f->fail_call = 2;
  assert_int_equal(lastused_flush(lu), TE_INTERNAL);
  assert_int_equal(f->touched, 1000);
  assert_int_equal(f->calls, 1); /* the third part was not tried after the second failed */
  assert_int_equal(lastused_flush(lu), TE_OK);
  assert_int_equal(f->touched, 2500);
  assert_int_equal(f->calls, 3);
  for (int64_t seq = 1; seq <= 2500; seq++)
    assert_int_equal(lastused_effective(lu, seq, 0), 0); /* all written: all forgotten */
  lastused_stop(lu);
}

static void stopping_writes_what_is_pending(void **state) {
  struct fake_store *f = *state;
  struct lastused *lu;
  assert_int_equal(lastused_start(&f->base, 3600, NO_TICK, &lu), TE_OK);
  int64_t now = time_now();
  lastused_note(lu, 11, 0, now);
  lastused_stop(lu);
  assert_int_equal(f->written_count, 1);
  assert_int_equal(f->written[0].seq, 11);
}

static void the_background_thread_writes_within_seconds(void **state) {
  struct fake_store *f = *state;
  struct lastused *lu;
  assert_int_equal(lastused_start(&f->base, 60, 100, &lu), TE_OK);
  lastused_note(lu, 5, 0, time_now());
  /* The flusher ticks every 100 ms; allow up to five seconds. */
  for (int i = 0; i < 50; i++) {
    pthread_mutex_lock(&f->lock);
    size_t n = f->written_count;
    pthread_mutex_unlock(&f->lock);
    if (n)
      break;
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  pthread_mutex_lock(&f->lock);
  assert_int_equal(f->written_count, 1);
  pthread_mutex_unlock(&f->lock);
  lastused_stop(lu);
}

/* Worker threads noting uses of the same tokens while the flusher writes them: every token
 * used is written, with a time one of its uses had, and nothing is left pending. (Also run under
 * ThreadSanitizer, which checks the sharded locks.) */
#define NOTERS 4
#define NOTED_SEQS 5000
struct noter {
  struct lastused *lu;
  int64_t base;
};

static void *note_many(void *arg) {
  struct noter *n = arg;
  for (int round = 0; round < 20; round++)
    for (int64_t seq = 1; seq <= NOTED_SEQS; seq++)
      lastused_note(n->lu, seq, 0, n->base + round);
  return NULL;
}

static void uses_noted_by_many_threads_while_flushing_are_all_written(void **state) {
  struct fake_store *f = *state;
  struct lastused *lu;
  assert_int_equal(lastused_start(&f->base, 60, NO_TICK, &lu), TE_OK);
  struct noter n = {lu, time_now()};
  pthread_t threads[NOTERS];
  for (int t = 0; t < NOTERS; t++)
    assert_int_equal(pthread_create(&threads[t], NULL, note_many, &n), 0);
  for (int i = 0; i < 20; i++)
    assert_int_equal(lastused_flush(lu), TE_OK);
  for (int t = 0; t < NOTERS; t++)
    pthread_join(threads[t], NULL);
  assert_int_equal(lastused_flush(lu), TE_OK);
  for (int64_t seq = 1; seq <= NOTED_SEQS; seq++) {
    assert_true(f->by_seq[seq] >= n.base && f->by_seq[seq] < n.base + 20);
    assert_int_equal(lastused_effective(lu, seq, f->by_seq[seq]), f->by_seq[seq]);
  }
  size_t touched = f->touched;
  assert_int_equal(lastused_flush(lu), TE_OK);
  assert_int_equal(f->touched, touched); /* nothing was left pending */
  lastused_stop(lu);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(recently_stored_uses_are_not_written, setup, teardown),
      cmocka_unit_test_setup_teardown(many_uses_become_one_write, setup, teardown),
      cmocka_unit_test_setup_teardown(uses_of_many_tokens_are_each_written_once, setup, teardown),
      cmocka_unit_test_setup_teardown(a_failed_write_is_retried, setup, teardown),
      cmocka_unit_test_setup_teardown(a_write_failing_part_way_retries_only_the_rest, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(stopping_writes_what_is_pending, setup, teardown),
      cmocka_unit_test_setup_teardown(the_background_thread_writes_within_seconds, setup, teardown),
      cmocka_unit_test_setup_teardown(uses_noted_by_many_threads_while_flushing_are_all_written,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
