#ifndef TESSERA_CORE_EXPIRY_H
#define TESSERA_CORE_EXPIRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parses an RFC 3339 date-time as an expiry (one at or before 1970 is -1: in the past, never
 * "never"). Returns 0 or TE_BAD_REQUEST. */
int expiry_parse_rfc3339(const char *text, int64_t *out);

/* Parses an expiry given as text: Unix seconds ("1767225600", "0" for never) or an RFC 3339
 * date-time. Returns 0 or TE_BAD_REQUEST. */
int expiry_parse_text(const char *text, int64_t *out);

/* Parses what people type for an expiry (the CLI's --expires): a duration from now ("30d", "2w",
 * "12h", "90m"), a date ("2027-01-31", midnight UTC), an RFC 3339 date-time, Unix seconds, or
 * "never" (0). TE_BAD_REQUEST for anything else. */
int expiry_parse_human(const char *text, int64_t now, int64_t *out);

/* Checks an expiry against now: 0 (never) is fine; the past and more than TOKEN_LIFETIME_MAX ahead
 * are not. On TE_BAD_REQUEST, *why says which, in words fit for an error message. */
int expiry_check(int64_t expires, int64_t now, const char **why);

/* An organization's token-lifetime policy of `days` (> 0; 0 allows anything): the token must
 * expire, and its remaining lifetime must not exceed that many days. */
bool expiry_within_policy(int64_t expires, int64_t now, int days);

#endif
