/* What the process counts (core/metrics.c) and the HTTP families (http/route_metrics.c), as
 * GET /metrics renders them: each count moves its own series by exactly what was counted, and
 * nothing else. The counters are process-wide, so each test compares before and after. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/metrics.h"
#include "http/route_metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void render(struct prom_text *out) {
  *out = (struct prom_text){0};
  route_metrics_render(out);
  metrics_render(out);
}

/* The value of the series written exactly as `series` ("name{labels}"), or -1 when absent. */
static long long value_of(const char *text, const char *series) {
  size_t n = strlen(series);
  for (const char *line = text; line && *line;
       line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
    if (strncmp(line, series, n) == 0 && line[n] == ' ')
      return strtoll(line + n + 1, NULL, 10);
  return -1;
}

static long long now_of(const char *series) {
  struct prom_text text;
  render(&text);
  long long v = value_of(text.data, series);
  free(text.data);
  return v;
}

static void every_family_has_help_and_type(void **state) {
  (void)state;
  static const char *const families[] = {
      "tessera_http_requests_total counter",
      "tessera_http_request_duration_seconds histogram",
      "tessera_http_requests_unrecorded_total counter",
      "tessera_build_info gauge",
      "tessera_start_time_seconds gauge",
      "tessera_auth_checks_total counter",
      "tessera_cache_lookups_total counter",
      "tessera_cache_invalidations_total counter",
      "tessera_cache_tokens gauge",
      "tessera_cache_complete gauge",
      "tessera_store_commits_total counter",
      "tessera_store_commit_failures_total counter",
      "tessera_store_group_commit_jobs histogram",
      "tessera_audit_records_total counter",
      "tessera_oidc_exchanges_total counter",
      "tessera_leaked_tokens_total counter",
  };
  struct prom_text text;
  render(&text);
  size_t types = 0;
  for (const char *p = text.data; (p = strstr(p, "# TYPE ")); p++)
    types++;
  assert_int_equal(types, sizeof families / sizeof *families);
  for (size_t i = 0; i < types; i++) {
    char line[128];
    snprintf(line, sizeof line, "# TYPE %s\n", families[i]);
    assert_non_null(strstr(text.data, line));
    snprintf(line, sizeof line, "# HELP %.*s ", (int)strcspn(families[i], " "), families[i]);
    assert_non_null(strstr(text.data, line));
  }
  assert_int_equal(text.data[text.len - 1], '\n');
  free(text.data);
}

static void auth_results_count_apart_and_none_is_not_counted(void **state) {
  (void)state;
  static const char *const series[] = {
      NULL,
      "tessera_auth_checks_total{result=\"ok\"}",
      "tessera_auth_checks_total{result=\"unknown\"}",
      "tessera_auth_checks_total{result=\"expired\"}",
      "tessera_auth_checks_total{result=\"revoked\"}",
      "tessera_auth_checks_total{result=\"policy\"}",
  };
  long long before[METRICS_AUTH_RESULTS];
  for (int r = METRICS_AUTH_OK; r < METRICS_AUTH_RESULTS; r++)
    before[r] = now_of(series[r]);
  metrics_auth_check(METRICS_AUTH_NONE);
  for (int r = METRICS_AUTH_OK; r < METRICS_AUTH_RESULTS; r++)
    for (int times = 0; times < r; times++) /* ok once, unknown twice, ... policy five times */
      metrics_auth_check((enum metrics_auth_result)r);
  for (int r = METRICS_AUTH_OK; r < METRICS_AUTH_RESULTS; r++)
    assert_int_equal(now_of(series[r]) - before[r], r);
}

static void cache_store_and_oidc_counts(void **state) {
  (void)state;
  const char *hit = "tessera_cache_lookups_total{cache=\"principal\",result=\"hit\"}";
  const char *miss = "tessera_cache_lookups_total{cache=\"membership\",result=\"miss\"}";
  const char *entry = "tessera_cache_invalidations_total{scope=\"entry\"}";
  const char *all = "tessera_cache_invalidations_total{scope=\"all\"}";
  const char *grant = "tessera_oidc_exchanges_total{result=\"invalid_grant\"}";
  long long h = now_of(hit), m = now_of(miss), e = now_of(entry), a = now_of(all);
  long long c = now_of("tessera_store_commits_total"),
            f = now_of("tessera_store_commit_failures_total");
  long long r = now_of("tessera_audit_records_total"), g = now_of(grant);
  long long jobs = now_of("tessera_store_group_commit_jobs_bucket{le=\"4\"}");
  long long jobs_in_2 = now_of("tessera_store_group_commit_jobs_bucket{le=\"2\"}");
  long long sum = now_of("tessera_store_group_commit_jobs_sum");
  metrics_cache_lookup(METRICS_CACHE_PRINCIPAL, true);
  metrics_cache_lookup(METRICS_CACHE_MEMBERSHIP, false);
  metrics_cache_lookup(METRICS_CACHE_MEMBERSHIP, false);
  metrics_cache_dropped(3);
  metrics_cache_forgotten();
  metrics_commit(3, 2); /* 3 jobs: in the le="4" bucket, not in le="2" */
  metrics_commit_failed();
  metrics_oidc_exchange(METRICS_OIDC_INVALID_GRANT);
  assert_int_equal(now_of(hit) - h, 1);
  assert_int_equal(now_of(miss) - m, 2);
  assert_int_equal(now_of(entry) - e, 3);
  assert_int_equal(now_of(all) - a, 1);
  assert_int_equal(now_of("tessera_store_commits_total") - c, 1);
  assert_int_equal(now_of("tessera_store_commit_failures_total") - f, 1);
  assert_int_equal(now_of("tessera_audit_records_total") - r, 2);
  assert_int_equal(now_of("tessera_store_group_commit_jobs_bucket{le=\"4\"}") - jobs, 1);
  assert_int_equal(now_of("tessera_store_group_commit_jobs_bucket{le=\"2\"}") - jobs_in_2, 0);
  assert_int_equal(now_of("tessera_store_group_commit_jobs_sum") - sum, 3);
  assert_int_equal(now_of(grant) - g, 1);
  assert_string_equal(metrics_oidc_result_name(METRICS_OIDC_UNSUPPORTED_GRANT_TYPE),
                      "unsupported_grant_type");
  metrics_started(1700000000);
  assert_int_equal(now_of("tessera_start_time_seconds"), 1700000000);
}

static void handle(struct request *req) {
  (void)req;
}

static const struct route routes[] = {
    {"GET", "/a", handle, true},
    {"POST", "/a/{}", handle, true},
    {NULL, NULL, NULL, false},
};

static void requests_count_by_route_pattern_method_and_status(void **state) {
  (void)state;
  route_metrics_use(routes);
  route_metrics_count(&routes[0], "GET", 200, 150); /* in le="0.00025" */
  route_metrics_count(&routes[0], "GET", 200, 100); /* on the first bound */
  route_metrics_count(&routes[0], "HEAD", 200, 10);
  route_metrics_count(&routes[1], "POST", 409, 3000000);
  route_metrics_count(NULL, "BREW", 404, 20000000); /* no route, a method outside RFC 9110's */
  static const struct {
    const char *series;
    long long value;
  } expected[] = {
      {"tessera_http_requests_total{route=\"/a\",method=\"GET\",status=\"200\"}", 2},
      {"tessera_http_requests_total{route=\"/a\",method=\"HEAD\",status=\"200\"}", 1},
      {"tessera_http_requests_total{route=\"/a/{}\",method=\"POST\",status=\"409\"}", 1},
      {"tessera_http_requests_total{route=\"other\",method=\"OTHER\",status=\"404\"}", 1},
      {"tessera_http_request_duration_seconds_bucket{route=\"/a\",method=\"GET\",le=\"0.0001\"}",
       1},
      {"tessera_http_request_duration_seconds_bucket{route=\"/a\",method=\"GET\",le=\"0.00025\"}",
       2},
      {"tessera_http_request_duration_seconds_count{route=\"/a\",method=\"GET\"}", 2},
      {"tessera_http_request_duration_seconds_bucket{route=\"/a/{}\",method=\"POST\",le=\"2.5\"}",
       0},
      {"tessera_http_request_duration_seconds_bucket{route=\"/a/{}\",method=\"POST\",le=\"5\"}", 1},
      {"tessera_http_request_duration_seconds_bucket{route=\"other\",method=\"OTHER\",le=\"10\"}",
       0},
      {"tessera_http_request_duration_seconds_bucket{route=\"other\",method=\"OTHER\",le=\"+Inf\"}",
       1},
      {"tessera_http_requests_unrecorded_total", 0},
  };
  struct prom_text text;
  render(&text);
  for (size_t i = 0; i < sizeof expected / sizeof *expected; i++) {
    long long got = value_of(text.data, expected[i].series);
    if (got != expected[i].value)
      fail_msg("%s is %lld, not %lld", expected[i].series, got, expected[i].value);
  }
  assert_non_null(
      strstr(text.data,
             "tessera_http_request_duration_seconds_sum{route=\"/a\",method=\"GET\"} 0.00025\n"));
  /* Sorted by route, method, status: /a's series come before /a/{}'s, and other's last. */
  const char *a = strstr(text.data, "{route=\"/a\",method=\"GET\",status=\"200\"}");
  const char *b = strstr(text.data, "{route=\"/a/{}\",method=\"POST\",status=\"409\"}");
  const char *o = strstr(text.data, "{route=\"other\",method=\"OTHER\",status=\"404\"}");
  assert_true(a && b && o && a < b && b < o);
  free(text.data);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_family_has_help_and_type),
      cmocka_unit_test(auth_results_count_apart_and_none_is_not_counted),
      cmocka_unit_test(cache_store_and_oidc_counts),
      cmocka_unit_test(requests_count_by_route_pattern_method_and_status),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
