/* libFuzzer target for time and expiry parsing (core/timeutil.c, core/expiry.c):
 * time_parse_rfc3339, time_format_rfc3339, expiry_parse_text, expiry_parse_human, expiry_check and
 * expiry_within_policy. Built and run by scripts/fuzz (see fuzz/README.md).
 *
 * Input: fixed fields, zero-padded when the input is shorter, then text:
 *   seconds[8] now[8] days[2] text...
 * seconds is a little-endian int64 (formatted, and checked as an expiry); now a little-endian
 * uint64 taken modulo the last second of 9999 (the clock); days a little-endian int16 (an
 * organization's lifetime cap); text runs to the end of the input or its first NUL.
 *
 * Properties checked (abort() on violation), against oracles written here from the civil
 * calendar rather than from libc's time functions:
 * - time_format_rfc3339 always writes a NUL-terminated string into its RFC3339_LEN + 1 bytes;
 *   for every second of the years 0000 to 9999 it is exactly "YYYY-MM-DDTHH:MM:SSZ" for that
 *   second, and parses back to it;
 * - time_parse_rfc3339 accepts exactly what a separate strict parser accepts, with the same value;
 * - expiry_parse_text takes decimal seconds as themselves (refusing what overflows) and RFC 3339
 *   as time_parse_rfc3339 does, dates at or before 1970 becoming -1: only a literal zero means
 *   never;
 * - expiry_parse_human: "never" is 0, durations are now + n units (n >= 1), dates are midnight
 *   UTC, anything else is expiry_parse_text; 0 comes only from "never" or a literal zero;
 * - expiry_check and expiry_within_policy agree with their definitions computed without
 *   overflow; a refusal says why.
 */
#include "core/error.h"
#include "core/expiry.h"
#include "core/limits.h"
#include "core/timeutil.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FIRST_SECOND (-62167219200LL) /* 0000-01-01T00:00:00Z */
#define LAST_SECOND 253402300799LL    /* 9999-12-31T23:59:59Z */

static void check(bool ok, const char *invariant) {
  if (!ok) {
    fprintf(stderr, "fuzz_time: broken invariant: %s\n", invariant);
    abort();
  }
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

/* n digits at s as a number, or -1. */
static int number(const char *s, int n) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!is_digit(s[i]))
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

static int month_days(int64_t y, int m) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : days[m - 1];
}

/* The oracle for time_parse_rfc3339: "YYYY-MM-DD" [Tt ] "HH:MM:SS" ["." digits] (Z | z | +HH:MM |
 * -HH:MM), with real dates, hours to 23, minutes to 59, seconds to 60 (a leap second) and
 * offsets to 23:59. */
static bool reference_parse(const char *s, int64_t *out) {
  if (strnlen(s, 19) < 19 || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' '))
    return false;
  int y = number(s, 4), mo = number(s + 5, 2), d = number(s + 8, 2), h = number(s + 11, 2),
      mi = number(s + 14, 2), sec = number(s + 17, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h < 0 || h > 23 || mi < 0 ||
      mi > 59 || sec < 0 || sec > 60)
    return false;
  const char *p = s + 19;
  if (*p == '.') {
    if (!is_digit(*++p))
      return false;
    while (is_digit(*p))
      p++;
  }
  int64_t offset = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int oh = number(p + 1, 2), om = oh < 0 || p[3] != ':' ? -1 : number(p + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59)
      return false;
    offset = (*p == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    p += 6;
  } else {
    return false;
  }
  if (*p != '\0')
    return false;
  *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
  return true;
}

static void check_format(int64_t t) {
  char *text = malloc(RFC3339_LEN + 1); /* exact size: ASan sees any overrun */
  check(text != NULL, "memory");
  memset(text, 'x', RFC3339_LEN + 1);
  time_format_rfc3339(t, text);
  check(memchr(text, '\0', RFC3339_LEN + 1) != NULL, "a formatted time ends inside its buffer");
  int64_t shown = t < FIRST_SECOND ? FIRST_SECOND : t > LAST_SECOND ? LAST_SECOND : t;
  int64_t days = (shown - FIRST_SECOND) / 86400 + days_from_civil(0, 1, 1);
  int64_t second = (shown - FIRST_SECOND) % 86400, y;
  int m, d;
  civil_from_days(days, &y, &m, &d);
  char expected[64];
  snprintf(expected, sizeof expected, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, m, d,
           (int)(second / 3600), (int)(second / 60 % 60), (int)(second % 60));
  if (t == shown)
    check(strcmp(text, expected) == 0, "a time of the years 0000-9999 formats as RFC 3339");
  int64_t back = 0;
  check(time_parse_rfc3339(text, &back) == TE_OK, "a formatted time parses");
  check(t != shown || back == t, "a formatted time parses back to itself");
  free(text);
}

static void check_parse(const char *text) {
  int64_t got = 0, want = 0;
  bool ok = time_parse_rfc3339(text, &got) == TE_OK;
  check(ok == reference_parse(text, &want), "time_parse_rfc3339 accepts what the oracle does");
  check(!ok || got == want, "time_parse_rfc3339 gives the oracle's value");
}

/* [+-]digits as a number; false when it is not that shape, *overflow when too big. */
static bool decimal(const char *s, int64_t *out, bool *overflow) {
  bool negative = *s == '-';
  if (*s == '-' || *s == '+')
    s++;
  if (!*s || strspn(s, "0123456789") != strlen(s))
    return false;
  int64_t v = 0;
  *overflow = false;
  for (; *s; s++) {
    int digit = *s - '0';
    if (__builtin_mul_overflow(v, 10, &v) ||
        (negative ? __builtin_sub_overflow(v, digit, &v) : __builtin_add_overflow(v, digit, &v)))
      *overflow = true;
  }
  *out = v;
  return true;
}

static bool literal_zero(const char *s) {
  int64_t v;
  bool overflow;
  return decimal(s, &v, &overflow) && !overflow && v == 0;
}

/* What expiry_parse_text must give: TE_OK and *out, or TE_BAD_REQUEST. */
static int expected_text(const char *text, int64_t *out) {
  bool overflow = false;
  if (decimal(text, out, &overflow))
    return overflow ? TE_BAD_REQUEST : TE_OK;
  if (!reference_parse(text, out))
    return TE_BAD_REQUEST;
  if (*out <= 0)
    *out = -1;
  return TE_OK;
}

static void check_expiry_text(const char *text) {
  int64_t got = 0, want = 0;
  int rc = expiry_parse_text(text, &got);
  check(rc == expected_text(text, &want), "expiry_parse_text accepts what it should");
  check(rc != TE_OK || got == want, "expiry_parse_text gives the right value");
  check(rc != TE_OK || got != 0 || literal_zero(text), "only a literal 0 means never (text)");
}

/* ws* [+-] digits unit: strtoll's view of a duration, as expiry_parse_human reads one. */
static bool duration(const char *text, int64_t *n, int64_t *unit) {
  const char *s = text;
  while (*s == ' ' || (*s >= '\t' && *s <= '\r'))
    s++;
  size_t len = strlen(s);
  if (len < 2)
    return false;
  static const char units[] = "mhdw";
  static const int64_t seconds[] = {60, 3600, 86400, 7 * 86400};
  const char *u = strchr(units, s[len - 1]);
  if (!u || !*u)
    return false;
  char *number_text = strndup(s, len - 1);
  check(number_text != NULL, "memory");
  bool overflow = false;
  bool shaped = decimal(number_text, n, &overflow) && !overflow;
  free(number_text);
  *unit = seconds[u - units];
  return shaped;
}

static void check_expiry_human(const char *text, int64_t now) {
  int64_t got = 0, want = 0, n, unit;
  int rc = expiry_parse_human(text, now, &got), expected;
  if (strcmp(text, "never") == 0) {
    expected = TE_OK;
    want = 0;
  } else if (duration(text, &n, &unit)) {
    expected = n >= 1 && n <= TOKEN_LIFETIME_MAX / unit + 1 ? TE_OK : TE_BAD_REQUEST;
    want = expected == TE_OK ? now + n * unit : 0;
  } else if (strlen(text) == 10 && text[4] == '-' && text[7] == '-') {
    char full[32];
    snprintf(full, sizeof full, "%sT00:00:00Z", text);
    expected = expected_text(full, &want);
  } else {
    expected = expected_text(text, &want);
  }
  check(rc == expected, "expiry_parse_human accepts what it should");
  check(rc != TE_OK || got == want, "expiry_parse_human gives the right value");
  check(rc != TE_OK || got != 0 || strcmp(text, "never") == 0 || literal_zero(text),
        "only never or a literal 0 means never (human)");
}

static void check_expiry_limits(int64_t expires, int64_t now, int days) {
  const char *why = NULL;
  int rc = expiry_check(expires, now, &why);
  __int128 ahead = (__int128)expires - now;
  bool fine = expires == 0 || (ahead > 0 && ahead <= TOKEN_LIFETIME_MAX);
  check((rc == TE_OK) == fine, "expiry_check accepts never and up to two years ahead");
  check(rc == TE_OK || (rc == TE_BAD_REQUEST && why && *why), "an expiry refused says why");
  /* Stored expiries are 0 or past the creation time: never negative. */
  if (expires < 0)
    return;
  bool within = days <= 0 || (expires != 0 && ahead <= (__int128)days * 86400);
  check(expiry_within_policy(expires, now, days) == within,
        "expiry_within_policy is the lifetime cap");
}

static uint64_t little_endian(const uint8_t *data, size_t size, size_t at, size_t bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < bytes && at + i < size; i++)
    v |= (uint64_t)data[at + i] << (8 * i);
  return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int64_t seconds = (int64_t)little_endian(data, size, 0, 8);
  int64_t now = (int64_t)(little_endian(data, size, 8, 8) % (uint64_t)(LAST_SECOND + 1));
  int days = (int16_t)little_endian(data, size, 16, 2);
  size_t at = size < 18 ? size : 18;
  char *text = strndup((const char *)data + at, size - at);
  check(text != NULL, "memory");

  check_format(seconds);
  check_format(now);
  check_parse(text);
  check_expiry_text(text);
  check_expiry_human(text, now);
  check_expiry_limits(seconds, now, days);
  int64_t parsed;
  if (time_parse_rfc3339(text, &parsed) == TE_OK)
    check_format(parsed);

  free(text);
  return 0;
}
