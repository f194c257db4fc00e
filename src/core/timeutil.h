#ifndef TESSERA_CORE_TIMEUTIL_H
#define TESSERA_CORE_TIMEUTIL_H

#include <stdint.h>
#include <time.h>

#define RFC3339_LEN 20 /* "YYYY-MM-DDTHH:MM:SSZ" */

/* Wall-clock Unix seconds. */
int64_t time_now(void);

/* Monotonic clock, for durations and expiry of in-memory entries (never goes back). */
int64_t time_monotonic_us(void);
int64_t time_monotonic_ms(void);

/* The moment ms milliseconds from now on clock, for pthread_cond_timedwait (whose condition
 * variable must be set to that clock). */
struct timespec time_deadline(clockid_t clock, int64_t ms);

/* The same two clocks as the kernel last ticked them: a few milliseconds behind (its tick, 4 ms
 * here), a quarter of the cost (8 ns against 30 in a VM, no TSC read). For deadlines and ages of
 * a second or more read on every request (connection timeouts, cache entries, the access log's
 * second), where a tick early or late changes nothing. */
int64_t time_coarse_now(void);
int64_t time_coarse_ms(void);

/* Parses an RFC 3339 date-time ("2026-12-01T00:00:00Z", "…T10:00:00.5+02:00"); fractional seconds
 * are truncated. Returns 0, or TE_BAD_REQUEST for anything else. */
int time_parse_rfc3339(const char *text, int64_t *out);

#define TIME_FIRST_SECOND (-62167219200LL) /* 0000-01-01T00:00:00Z */
#define TIME_LAST_SECOND 253402300799LL    /* 9999-12-31T23:59:59Z */

/* Formats Unix seconds as "YYYY-MM-DDTHH:MM:SSZ" into out (RFC3339_LEN + 1 bytes), always
 * terminated; times outside the years 0000-9999 are shown as the nearest of those two seconds. */
void time_format_rfc3339(int64_t seconds, char out[RFC3339_LEN + 1]);

#endif
