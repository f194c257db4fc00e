/* The periodic background thread (core/ticker.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/ticker.h"

#include <stdatomic.h>
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
  assert_int_equal(ticker_start(20, count, &ticks, &t), TE_OK);
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
  assert_int_equal(ticker_start(3600 * 1000, count, &ticks, &t), TE_OK);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  ticker_stop(t);
  clock_gettime(CLOCK_MONOTONIC, &b);
  assert_true(b.tv_sec - a.tv_sec < 5); /* not an hour: stop wakes the thread */
  assert_int_equal(atomic_load(&ticks), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(ticks_repeat_and_stop_for_good),
      cmocka_unit_test(stopping_does_not_wait_for_the_period),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
