#ifndef TESSERA_CORE_TIMEUTIL_H
#define TESSERA_CORE_TIMEUTIL_H

#include <stdint.h>

#define RFC3339_LEN 20 /* "YYYY-MM-DDTHH:MM:SSZ" */

/* Wall-clock Unix seconds. */
int64_t time_now(void);

/* Monotonic clock, for durations and expiry of in-memory entries (never goes back). */
int64_t time_monotonic_us(void);
int64_t time_monotonic_ms(void);

/* Parses an RFC 3339 date-time ("2026-12-01T00:00:00Z", "…T10:00:00.5+02:00"); fractional seconds
 * are truncated. Returns 0, or TE_BAD_REQUEST for anything else. */
int time_parse_rfc3339(const char *text, int64_t *out);

/* Formats Unix seconds as "YYYY-MM-DDTHH:MM:SSZ" into out (RFC3339_LEN + 1 bytes). */
void time_format_rfc3339(int64_t seconds, char out[RFC3339_LEN + 1]);

#endif
