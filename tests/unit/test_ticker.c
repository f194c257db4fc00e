/* The periodic background thread (core/ticker.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/ticker.h"

#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void count(void *arg) {
  atomic_fetch_add((atomic_int *)arg, 1);
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

static void ticks_repeat_and_stop_for_good(void **state) {
  (void)state;
  atomic_int ticks = 0;
  struct ticker *t;
  assert_int_equal(ticker_start("test", 20, count, &ticks, &t), TE_OK);
  for (int i = 0; i < 200 && atomic_load(&ticks) < 3; i++) /* bounded: at most 2 s */
    sleep_ms(10);
  assert_true(atomic_load(&ticks) >= 3);
  ticker_stop(t);
  int after_stop = atomic_load(&ticks);
  sleep_ms(100);
  assert_int_equal(atomic_load(&ticks), after_stop);
}

static void stopping_does_not_wait_for_the_period(void **state) {
  (void)state;
  atomic_int ticks = 0;
  struct ticker *t;
  assert_int_equal(ticker_start("test", 3600 * 1000, count, &ticks, &t), TE_OK);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  ticker_stop(t);
  clock_gettime(CLOCK_MONOTONIC, &b);
  assert_true(b.tv_sec - a.tv_sec < 5); /* not an hour: stop wakes the thread */
  assert_int_equal(atomic_load(&ticks), 0);
}

/* How many of this process's threads are named name (/proc/self/task/TID/comm). */
static int threads_named(const char *name) {
  DIR *d = opendir("/proc/self/task");
  assert_non_null(d);
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    char path[64], comm[32] = "";
    snprintf(path, sizeof path, "/proc/self/task/%.20s/comm", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f)
      continue; /* "." and "..", or a thread gone meanwhile */
    if (fgets(comm, sizeof comm, f))
      comm[strcspn(comm, "\n")] = '\0';
    fclose(f);
    n += strcmp(comm, name) == 0;
  }
  closedir(d);
  return n;
}

/* The thread carries the name it was given, so that top -H and perf tell the tickers apart; a
 * name over the kernel's 15 bytes is cut, not refused. */
static void the_thread_is_named(void **state) {
  (void)state;
  atomic_int ticks = 0;
  struct ticker *a, *b;
  assert_int_equal(threads_named("tick-named"), 0);
  assert_int_equal(ticker_start("tick-named", 3600 * 1000, count, &ticks, &a), TE_OK);
  assert_int_equal(ticker_start("a-name-over-fifteen-bytes", 3600 * 1000, count, &ticks, &b),
                   TE_OK);
  assert_int_equal(threads_named("tick-named"), 1);
  assert_int_equal(threads_named("a-name-over-fi"), 0);
  assert_int_equal(threads_named("a-name-over-fif"), 1);
  ticker_stop(a);
  ticker_stop(b);
  /* Joined, the thread may linger in /proc/self/task a moment: wait (bounded) for it to go. */
  for (int i = 0; i < 200 && threads_named("tick-named") != 0; i++)
    sleep_ms(5);
  assert_int_equal(threads_named("tick-named"), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(ticks_repeat_and_stop_for_good),
      cmocka_unit_test(stopping_does_not_wait_for_the_period),
      cmocka_unit_test(the_thread_is_named),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
