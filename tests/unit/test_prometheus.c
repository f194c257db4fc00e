/* Metrics as Prometheus keeps them and its text format (core/prometheus.c): counting, histogram
 * buckets at their edges, series found by key, and the exact text written, escapes included. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/prometheus.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const uint64_t bounds[] = {10, 20, 30};
static const struct prom_buckets buckets = {bounds, 3, 0};

static void counters_add_and_read(void **state) {
  (void)state;
  struct prom_counter c = {0};
  assert_int_equal(prom_read(&c), 0);
  prom_add(&c, 1);
  prom_add(&c, 41);
  assert_int_equal(prom_read(&c), 42);
}

static void an_observation_on_a_bound_counts_in_that_bucket(void **state) {
  (void)state;
  struct prom_histogram h = {0};
  uint64_t seen[] = {0, 10, 11, 20, 30, 31, 1000};
  for (size_t i = 0; i < sizeof seen / sizeof *seen; i++)
    prom_observe(&h, &buckets, seen[i]);
  /* le is "less than or equal": 10 is in the first bucket, 11 in the second, 31 above them all. */
  assert_int_equal(h.counts[0], 2); /* 0, 10 */
  assert_int_equal(h.counts[1], 2); /* 11, 20 */
  assert_int_equal(h.counts[2], 1); /* 30 */
  assert_int_equal(h.counts[3], 2); /* 31, 1000: +Inf */
  assert_int_equal(h.sum, 0 + 10 + 11 + 20 + 30 + 31 + 1000);
}

static void decimals_are_exact_and_shortest(void **state) {
  (void)state;
  char out[32];
  struct {
    uint64_t v;
    unsigned decimals;
    const char *shown;
  } cases[] = {{100, 6, "0.0001"},       {250, 6, "0.00025"}, {1000000, 6, "1"},
               {2500000, 6, "2.5"},      {10000000, 6, "10"}, {0, 6, "0"},
               {1234567, 6, "1.234567"}, {512, 0, "512"},     {0, 0, "0"}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    prom_decimal(cases[i].v, cases[i].decimals, out);
    assert_string_equal(out, cases[i].shown);
  }
}

static void writes_families_samples_and_histograms_exactly(void **state) {
  (void)state;
  struct prom_text out = {0};
  prom_family(&out, "t_requests_total", "counter", "Requests.");
  struct prom_label labels[] = {{"route", "/a/{}"}, {"status", "200"}};
  prom_sample(&out, "t_requests_total", labels, 2, 3);
  prom_sample(&out, "t_requests_total", NULL, 0, 0);
  struct prom_histogram h = {0};
  prom_observe(&h, &buckets, 10);
  prom_observe(&h, &buckets, 25);
  prom_observe(&h, &buckets, 99);
  const struct prom_buckets in_tenths = {bounds, 3, 1}; /* the same bounds as 1, 2 and 3 */
  prom_family(&out, "t_seconds", "histogram", "Time.");
  prom_histogram_samples(&out, "t_seconds", labels, 1, &h, &in_tenths);
  assert_string_equal(out.data, "# HELP t_requests_total Requests.\n"
                                "# TYPE t_requests_total counter\n"
                                "t_requests_total{route=\"/a/{}\",status=\"200\"} 3\n"
                                "t_requests_total 0\n"
                                "# HELP t_seconds Time.\n"
                                "# TYPE t_seconds histogram\n"
                                "t_seconds_bucket{route=\"/a/{}\",le=\"1\"} 1\n"
                                "t_seconds_bucket{route=\"/a/{}\",le=\"2\"} 1\n"
                                "t_seconds_bucket{route=\"/a/{}\",le=\"3\"} 2\n"
                                "t_seconds_bucket{route=\"/a/{}\",le=\"+Inf\"} 3\n"
                                "t_seconds_sum{route=\"/a/{}\"} 13.4\n"
                                "t_seconds_count{route=\"/a/{}\"} 3\n");
  assert_int_equal(out.len, strlen(out.data));
  free(out.data);
}

static void escapes_label_values_and_help(void **state) {
  (void)state;
  struct prom_text out = {0};
  /* Label values escape backslash, double quote and line feed; HELP escapes backslash and line
   * feed only (the format's two rules). */
  prom_family(&out, "t", "gauge", "a \\ b\n\"c\"");
  prom_sample(&out, "t", &(struct prom_label){"v", "x\\y\"z\nw"}, 1, 1);
  prom_sample(&out, "t", &(struct prom_label){"v", ""}, 1, 2);
  assert_string_equal(out.data, "# HELP t a \\\\ b\\n\"c\"\n"
                                "# TYPE t gauge\n"
                                "t{v=\"x\\\\y\\\"z\\nw\"} 1\n"
                                "t{v=\"\"} 2\n");
  free(out.data);
}

static void keys_find_their_slot_until_the_table_is_full(void **state) {
  (void)state;
  atomic_uint_least32_t storage[4] = {0};
  struct prom_keys k = {storage, 4};
  long a = prom_keys_slot(&k, 7);
  assert_true(a >= 0 && a < 4);
  assert_int_equal(prom_keys_slot(&k, 7), a);
  assert_int_equal(prom_keys_at(&k, (size_t)a), 7);
  long b = prom_keys_slot(&k, 8), c = prom_keys_slot(&k, 9), d = prom_keys_slot(&k, 10);
  assert_true(b >= 0 && c >= 0 && d >= 0);
  assert_true(a != b && a != c && a != d && b != c && b != d && c != d);
  assert_int_equal(prom_keys_slot(&k, 11), -1); /* full: no slot for a fifth key */
  assert_int_equal(prom_keys_slot(&k, 9), c);   /* known keys still have theirs */
}

#define THREADS 4
#define ROUNDS 20000

struct shared {
  struct prom_counter counter;
  struct prom_histogram histogram;
  atomic_uint_least32_t storage[8];
  struct prom_keys keys;
  struct prom_counter per_slot[8];
};

static void *count_concurrently(void *arg) {
  struct shared *s = arg;
  for (uint32_t i = 0; i < ROUNDS; i++) {
    prom_add(&s->counter, 1);
    prom_observe(&s->histogram, &buckets, i % 40);
    long slot = prom_keys_slot(&s->keys, 1 + i % 5); /* every thread races to claim the same keys */
    prom_add(&s->per_slot[slot], 1);
  }
  return NULL;
}

static void counts_from_many_threads_add_up_exactly(void **state) {
  (void)state;
  struct shared *s = calloc(1, sizeof *s);
  s->keys = (struct prom_keys){s->storage, 8};
  pthread_t threads[THREADS];
  for (int t = 0; t < THREADS; t++)
    assert_int_equal(pthread_create(&threads[t], NULL, count_concurrently, s), 0);
  for (int t = 0; t < THREADS; t++)
    pthread_join(threads[t], NULL);
  assert_int_equal(prom_read(&s->counter), THREADS * ROUNDS);
  uint64_t in_buckets = 0, claimed = 0, total = 0;
  for (int i = 0; i <= 3; i++)
    in_buckets += s->histogram.counts[i];
  assert_int_equal(in_buckets, THREADS * ROUNDS);
  for (size_t i = 0; i < 8; i++) {
    claimed += prom_keys_at(&s->keys, i) != 0;
    total += prom_read(&s->per_slot[i]);
  }
  assert_int_equal(claimed, 5); /* each key claimed one slot, whoever won the race */
  assert_int_equal(total, THREADS * ROUNDS);
  free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(counters_add_and_read),
      cmocka_unit_test(an_observation_on_a_bound_counts_in_that_bucket),
      cmocka_unit_test(decimals_are_exact_and_shortest),
      cmocka_unit_test(writes_families_samples_and_histograms_exactly),
      cmocka_unit_test(escapes_label_values_and_help),
      cmocka_unit_test(keys_find_their_slot_until_the_table_is_full),
      cmocka_unit_test(counts_from_many_threads_add_up_exactly),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
