/* RFC 3339 parsing and formatting, expiry parsing and checks (core/timeutil.c, core/expiry.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/expiry.h"
#include "core/limits.h"
#include "cli/cli.h"
#include "core/timeutil.h"

#include <stdint.h>
#include <string.h>

static int64_t parse(const char *text) {
  int64_t t = -1;
  assert_int_equal(time_parse_rfc3339(text, &t), TE_OK);
  return t;
}

static void rfc3339_forms_parse_to_unix_seconds(void **state) {
  (void)state;
  assert_int_equal(parse("2026-12-01T00:00:00Z"), 1796083200);
  assert_int_equal(parse("2026-12-01t00:00:00z"), 1796083200);
  assert_int_equal(parse("2026-12-01T02:00:00+02:00"), 1796083200);
  assert_int_equal(parse("2026-11-30T19:30:00-04:30"), 1796083200);
  assert_int_equal(parse("2026-12-01T00:00:00.999999Z"), 1796083200);
  assert_int_equal(parse("1970-01-01T00:00:00Z"), 0);
  assert_int_equal(parse("2028-02-29T00:00:00Z"), 1835395200);
}

static void malformed_dates_are_rejected(void **state) {
  (void)state;
  static const char *const bad[] = {"",
                                    "2026-12-01",
                                    "2026-12-01T00:00:00",
                                    "2026-13-01T00:00:00Z",
                                    "2026-02-29T00:00:00Z",
                                    "2026-12-32T00:00:00Z",
                                    "2026-12-01T24:00:00Z",
                                    "2026-12-01T00:60:00Z",
                                    "2026-12-01T00:00:00+2:00",
                                    "2026-12-01T00:00:00Zjunk",
                                    "26-12-01T00:00:00Z",
                                    "2026-12-01T00:00:00.Z",
                                    "tomorrow",
                                    "2026-12-01T00:00:00+24:00"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int64_t t;
    if (time_parse_rfc3339(bad[i], &t) != TE_BAD_REQUEST)
      fail_msg("accepted '%s'", bad[i]);
  }
}

static void formatting_round_trips(void **state) {
  (void)state;
  char text[RFC3339_LEN + 1];
  time_format_rfc3339(1796083200, text);
  assert_string_equal(text, "2026-12-01T00:00:00Z");
  assert_int_equal(parse(text), 1796083200);
}

/* Found by fuzz/fuzz_time.c: strftime's %Y left the buffer unterminated for years past 9999 (a
 * server's X-Tessera-Token-Expires reaches `tessera whoami -v`) and unpadded before 1000. Times
 * are clamped to 0000-9999, zero-padded, and always parse back. */
static void formatting_clamps_to_four_digit_years(void **state) {
  (void)state;
  static const struct {
    int64_t seconds;
    const char *text;
  } cases[] = {{253402300799, "9999-12-31T23:59:59Z"}, {253402300800, "9999-12-31T23:59:59Z"},
               {INT64_MAX, "9999-12-31T23:59:59Z"},    {-62167219200, "0000-01-01T00:00:00Z"},
               {-62167219201, "0000-01-01T00:00:00Z"}, {INT64_MIN, "0000-01-01T00:00:00Z"},
               {-30610224001, "0999-12-31T23:59:59Z"}, {-1, "1969-12-31T23:59:59Z"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char text[RFC3339_LEN + 2];
    memset(text, 'x', sizeof text);
    time_format_rfc3339(cases[i].seconds, text);
    assert_string_equal(text, cases[i].text);
    int64_t back;
    assert_int_equal(time_parse_rfc3339(text, &back), TE_OK);
  }
}

static void expiry_text_accepts_seconds_and_dates(void **state) {
  (void)state;
  int64_t t;
  assert_int_equal(expiry_parse_text("0", &t), TE_OK);
  assert_int_equal(t, 0);
  assert_int_equal(expiry_parse_text("1796083200", &t), TE_OK);
  assert_int_equal(t, 1796083200);
  assert_int_equal(expiry_parse_text("2026-12-01T00:00:00Z", &t), TE_OK);
  assert_int_equal(t, 1796083200);
  assert_int_equal(expiry_parse_text("-5", &t), TE_OK);
  assert_int_equal(t, -5);
  /* only a literal 0 means never: a date at or before the epoch is in the past */
  assert_int_equal(expiry_parse_text("1970-01-01T00:00:00Z", &t), TE_OK);
  assert_true(t < 0);
  assert_int_equal(expiry_parse_text("1970-01-01T01:00:00+01:00", &t), TE_OK);
  assert_true(t < 0);
  assert_int_equal(expiry_parse_text("", &t), TE_BAD_REQUEST);
  assert_int_equal(expiry_parse_text("-", &t), TE_BAD_REQUEST);
  assert_int_equal(expiry_parse_text("99999999999999999999999", &t), TE_BAD_REQUEST);
  assert_int_equal(expiry_parse_text("12abc", &t), TE_BAD_REQUEST);
}

static void expiry_bounds(void **state) {
  (void)state;
  const int64_t now = 1796083200;
  const char *why = NULL;
  assert_int_equal(expiry_check(0, now, &why), TE_OK);
  assert_int_equal(expiry_check(now + 1, now, &why), TE_OK);
  assert_int_equal(expiry_check(now + TOKEN_LIFETIME_MAX, now, &why), TE_OK);
  assert_int_equal(expiry_check(now, now, &why), TE_BAD_REQUEST);
  assert_non_null(strstr(why, "past"));
  why = NULL;
  assert_int_equal(expiry_check(-1, now, &why), TE_BAD_REQUEST);
  assert_non_null(strstr(why, "past"));
  assert_int_equal(expiry_check(now + TOKEN_LIFETIME_MAX + 1, now, &why), TE_BAD_REQUEST);
  assert_non_null(strstr(why, "two years"));
}

static void relative_times_read_naturally(void **state) {
  (void)state;
  char out[48];
  int64_t now = 1800000000;
  cli_relative(0, now, 1, out, sizeof out);
  assert_string_equal(out, "never");
  cli_relative(now - 5, now, 1, out, sizeof out);
  assert_string_equal(out, "expired");
  cli_relative(now + 10 * 86400 - 3, now, 1, out, sizeof out);
  assert_string_equal(out, "in 10 days");
  cli_relative(now - 3 * 86400, now, 0, out, sizeof out);
  assert_string_equal(out, "3 days ago");
  cli_relative(now + 3600, now, 1, out, sizeof out);
  assert_string_equal(out, "in 1 hour");
  cli_relative(now - 5 * 60, now, 0, out, sizeof out);
  assert_string_equal(out, "5 minutes ago");
  cli_relative(now - 10, now, 0, out, sizeof out);
  assert_string_equal(out, "moments ago");
}

/* A deadline is the clock now plus the milliseconds, its nanoseconds always below a second. */
static void deadlines_lie_ahead_by_the_milliseconds(void **state) {
  (void)state;
  const int64_t steps[] = {0, 3, 999, 1000, 1999, 2500, 86400000};
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
    struct timespec before, after;
    clock_gettime(CLOCK_MONOTONIC, &before);
    struct timespec d = time_deadline(CLOCK_MONOTONIC, steps[i]);
    clock_gettime(CLOCK_MONOTONIC, &after);
    assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
    int64_t d_ns = (int64_t)d.tv_sec * 1000000000 + d.tv_nsec;
    int64_t lo = (int64_t)before.tv_sec * 1000000000 + before.tv_nsec + steps[i] * 1000000;
    int64_t hi = (int64_t)after.tv_sec * 1000000000 + after.tv_nsec + steps[i] * 1000000;
    assert_true(d_ns >= lo && d_ns <= hi);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(rfc3339_forms_parse_to_unix_seconds),
      cmocka_unit_test(malformed_dates_are_rejected),
      cmocka_unit_test(formatting_round_trips),
      cmocka_unit_test(formatting_clamps_to_four_digit_years),
      cmocka_unit_test(expiry_text_accepts_seconds_and_dates),
      cmocka_unit_test(expiry_bounds),
      cmocka_unit_test(relative_times_read_naturally),
      cmocka_unit_test(deadlines_lie_ahead_by_the_milliseconds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
