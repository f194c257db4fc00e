#ifndef TESSERA_CORE_ERROR_H
#define TESSERA_CORE_ERROR_H

/* Every fallible function returns 0 on success or one of these negative codes. Each code maps to
 * one HTTP status; the human detail travels separately (reply_failure in http/request.h). */
enum tessera_error {
  TE_OK = 0,
  TE_BAD_REQUEST = -1,
  TE_UNAUTHORIZED = -2,
  TE_FORBIDDEN = -3,
  TE_NOT_FOUND = -4,
  TE_METHOD_NOT_ALLOWED = -5,
  TE_CONFLICT = -6,
  TE_TOO_LARGE = -7,
  TE_UNSUPPORTED_MEDIA = -8,
  TE_INTERNAL = -9,
  TE_UNAVAILABLE = -10,
  TE_NOT_IMPLEMENTED = -11,   /* a request feature we do not implement (RFC 9110 §15.6.2) */
  TE_TOO_MANY_REQUESTS = -12, /* a budget is spent: retry after req->retry_after seconds */
  TE_URI_TOO_LONG = -13,      /* the URL, or its query, is over its limit */
  TE_HEADERS_TOO_LARGE = -14, /* the request's header lines are over their limits */
};

/* The HTTP status for an error code (500 for anything unknown). */
int error_http_status(int err);

/* The HTTP reason phrase for a status ("Bad Request"); "Error" for unknown statuses. */
const char *error_status_text(int http_status);

#endif
