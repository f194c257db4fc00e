#include "core/timeutil.h"

#include "core/error.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t time_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec;
}

int64_t time_monotonic_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t time_monotonic_ms(void) {
  return time_monotonic_us() / 1000;
}

int64_t time_coarse_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return (int64_t)ts.tv_sec;
}

int64_t time_coarse_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads exactly `n` decimal digits; false if any is not a digit. */
static int read_digits(const char **p, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)(*p)[i]))
      return 0;
    v = v * 10 + ((*p)[i] - '0');
  }
  *p += n;
  *out = v;
  return 1;
}

static int expect(const char **p, char c) {
  if (**p != c)
    return 0;
  (*p)++;
  return 1;
}

static int days_in_month(int year, int month) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : days[month - 1];
}

int time_parse_rfc3339(const char *text, int64_t *out) {
  const char *p = text;
  int year, month, day, hour, minute, second;
  if (!read_digits(&p, 4, &year) || !expect(&p, '-') || !read_digits(&p, 2, &month) ||
      !expect(&p, '-') || !read_digits(&p, 2, &day))
    return TE_BAD_REQUEST;
  if (*p != 'T' && *p != 't' && *p != ' ')
    return TE_BAD_REQUEST;
  p++;
  if (!read_digits(&p, 2, &hour) || !expect(&p, ':') || !read_digits(&p, 2, &minute) ||
      !expect(&p, ':') || !read_digits(&p, 2, &second))
    return TE_BAD_REQUEST;
  if (*p == '.') {
    p++;
    if (!isdigit((unsigned char)*p))
      return TE_BAD_REQUEST;
    while (isdigit((unsigned char)*p))
      p++;
  }
  int offset = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int sign = *p == '-' ? -1 : 1, oh, om;
    p++;
    if (!read_digits(&p, 2, &oh) || !expect(&p, ':') || !read_digits(&p, 2, &om) || oh > 23 ||
        om > 59)
      return TE_BAD_REQUEST;
    offset = sign * (oh * 3600 + om * 60);
  } else {
    return TE_BAD_REQUEST;
  }
  if (*p != '\0' || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
      hour > 23 || minute > 59 || second > 60)
    return TE_BAD_REQUEST;
  struct tm tm = {.tm_year = year - 1900,
                  .tm_mon = month - 1,
                  .tm_mday = day,
                  .tm_hour = hour,
                  .tm_min = minute,
                  .tm_sec = second};
  *out = (int64_t)timegm(&tm) - offset;
  return TE_OK;
}

void time_format_rfc3339(int64_t seconds, char out[RFC3339_LEN + 1]) {
  /* Only the years 0000-9999 fit the format: strftime's %Y would leave out unterminated past
   * them (and gmtime_r fails far enough out) and writes fewer than four digits before 1000. */
  time_t t = (time_t)(seconds < TIME_FIRST_SECOND  ? TIME_FIRST_SECOND
                      : seconds > TIME_LAST_SECOND ? TIME_LAST_SECOND
                                                   : seconds);
  struct tm tm;
  gmtime_r(&t, &tm);
  /* The fields are in range now; the remainders only tell the compiler so. */
  snprintf(out, RFC3339_LEN + 1, "%04u-%02u-%02uT%02u:%02u:%02uZ",
           (unsigned)(tm.tm_year + 1900) % 10000, (unsigned)(tm.tm_mon + 1) % 100,
           (unsigned)tm.tm_mday % 100, (unsigned)tm.tm_hour % 100, (unsigned)tm.tm_min % 100,
           (unsigned)tm.tm_sec % 100);
}

struct timespec time_deadline(clockid_t clock, int64_t ms) {
  struct timespec t;
  clock_gettime(clock, &t);
  t.tv_sec += ms / 1000;
  t.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (t.tv_nsec >= 1000000000L) {
    t.tv_sec++;
    t.tv_nsec -= 1000000000L;
  }
  return t;
}
