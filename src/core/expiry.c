#include "core/expiry.h"

#include "core/error.h"
#include "core/limits.h"
#include "core/timeutil.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int expiry_parse_rfc3339(const char *text, int64_t *out) {
  int rc = time_parse_rfc3339(text, out);
  /* Only a literal 0 means "never"; a date at or before 1970 is simply in the past. */
  if (rc == TE_OK && *out <= 0)
    *out = -1;
  return rc;
}

int expiry_parse_text(const char *text, int64_t *out) {
  const char *p = text;
  if (*p == '-' || *p == '+')
    p++;
  if (!*p)
    return TE_BAD_REQUEST;
  while (isdigit((unsigned char)*p))
    p++;
  if (*p != '\0')
    return expiry_parse_rfc3339(text, out);
  errno = 0;
  long long v = strtoll(text, NULL, 10);
  if (errno == ERANGE)
    return TE_BAD_REQUEST;
  *out = v;
  return TE_OK;
}

int expiry_check(int64_t expires, int64_t now, const char **why) {
  if (expires == 0)
    return TE_OK;
  if (expires <= now) {
    *why = "expires is in the past; use a future time, or 0 for a token that never expires.";
    return TE_BAD_REQUEST;
  }
  if (expires - now > TOKEN_LIFETIME_MAX) {
    *why = "expires is more than two years ahead; tokens may live at most two years.";
    return TE_BAD_REQUEST;
  }
  return TE_OK;
}

bool expiry_within_policy(int64_t expires, int64_t now, int days) {
  if (days <= 0)
    return true;
  return expires != 0 && expires - now <= (int64_t)days * 86400;
}

int expiry_parse_human(const char *text, int64_t now, int64_t *out) {
  if (strcmp(text, "never") == 0) {
    *out = 0;
    return TE_OK;
  }
  char *end;
  errno = 0;
  long long n = strtoll(text, &end, 10);
  static const struct {
    char unit;
    int64_t seconds;
  } units[] = {{'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400}};
  for (size_t i = 0; end != text && errno == 0 && i < sizeof units / sizeof units[0]; i++) {
    if (end[0] == units[i].unit && end[1] == '\0') {
      if (n <= 0 || n > TOKEN_LIFETIME_MAX / units[i].seconds + 1)
        return TE_BAD_REQUEST;
      *out = now + n * units[i].seconds;
      return TE_OK;
    }
  }
  if (strlen(text) == 10 && text[4] == '-' && text[7] == '-') {
    char full[32];
    snprintf(full, sizeof full, "%sT00:00:00Z", text);
    return expiry_parse_text(full, out); /* so 1970-01-01 is in the past, not "never" */
  }
  return expiry_parse_text(text, out);
}
