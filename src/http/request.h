#ifndef TESSERA_HTTP_REQUEST_H
#define TESSERA_HTTP_REQUEST_H

#include "core/metrics.h"
#include "http/forwarded.h"
#include "http/framing.h"
#include "oidc/fetch.h"
#include "store/store.h"

#include <jansson.h>
#include <stdatomic.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#define ROUTE_PARAMS_MAX 3
#define REQUEST_ID_LEN 24

/* What every handler can reach: the process-wide services. */
struct offload;

struct route;

struct app {
  const struct route *routes; /* what the server answers (http/router.h; api/routes.c) */
  struct store *store;
  struct lastused *lastused;
  atomic_int deferred;  /* requests suspended in request_defer() and not yet resumed */
  atomic_bool draining; /* shutting down: no new request may be suspended */
  struct oidc_fetch_policy issuer_fetch; /* how OIDC issuers' documents may be fetched */
  bool secure_cookies;                   /* the console's cookie carries Secure (served over TLS) */
  struct offload *offload;               /* threads for work that may block (http/offload.h) */
  struct cidr trusted_proxies[TRUSTED_PROXIES_MAX]; /* whose X-Forwarded-For is believed */
  int trusted_proxy_count;
};

/* A header, query parameter or cookie of a request made without a connection. */
struct request_value {
  const char *name;
  const char *value;
};

/* One HTTP request from its first byte to its access-log line. A handler must end by calling one of
 * the reply_* functions, or request_defer() and later, from any thread, a reply_* then
 * request_resume(). */
struct request {
  struct app *app;
  struct MHD_Connection *conn; /* NULL for a request made in memory (fuzz/fuzz_router.c) */
  /* Without a connection, request_header, request_query and request_cookie read these instead:
   * arrays ended by a NULL name, or NULL for none. */
  const struct request_value *headers, *query, *cookies;
  const char *method;
  char *path;
  char id[REQUEST_ID_LEN + 1];
  int64_t started_us;
  struct framing_uri uri; /* the URI as sent: path, query and escapes */

  char *body;
  size_t body_len;
  bool body_too_large;

  char *params[ROUTE_PARAMS_MAX]; /* copies of the segments matched by {} */
  const struct route *route;      /* the route that answers it; NULL for none (yet) */

  /* How its credential fared, counted once the request is done (tessera_auth_checks_total): set
   * by http/auth.c, and to POLICY by a handler that refuses a valid token for a requirement. */
  enum metrics_auth_result auth_result;
  bool counted; /* in the metrics already (http/server.c) */

  bool authenticated;
  bool via_session; /* authenticated by the console's session cookie */
  bool offloaded;   /* running on an offload thread, where it may block (http/offload.h) */
  struct store_principal principal;
  char warning[192]; /* X-Pulumi-Warning, empty for none */

  bool replied;
  bool deferred;
  int status;
  char *reply_body; /* malloc'd, or shared when reply_release is set; NULL for none */
  size_t reply_len;
  void (*reply_release)(void *); /* NULL: reply_body is malloc'd; else how to let go of it */
  void *reply_release_arg;
  const char *allow;            /* Allow header for 405s */
  const char *content_type;     /* NULL: application/json */
  const char *content_encoding; /* NULL: none */
  char continuation[72];        /* X-Continuation-Token for non-JSON pages; empty for none */
  char set_cookie[192];         /* Set-Cookie, empty for none */
  bool console_page;            /* the console's own files: send its Content-Security-Policy */
  bool close_connection;        /* answered before its body was read: no request may follow */
  int retry_after;              /* seconds, for a Retry-After header; 0 for none */
  /* Forward auth (/auth/check): send who the token is as X-Tessera-* headers; the organization
   * and team they name (checked, or the token's own), "" for none. */
  bool identity_headers;
  char identity_org[LOGIN_MAX + 1];
  char identity_team[LOGIN_MAX + 1];
};

/* Sends len bytes of body (malloc'd, stolen) as content_type, with a Content-Encoding when
 * encoding is not NULL. */
void reply_bytes(struct request *req, int status, char *body, size_t len, const char *content_type,
                 const char *encoding);
/* Sends `text` (malloc'd JSON, stolen) with `status`. */
void reply_json_text(struct request *req, int status, char *text);
/* Sends len bytes of a body the request does not own (immutable, such as a cache's entry): no
 * copy is made, and release(arg) is called once, when the reply no longer needs it. */
void reply_shared(struct request *req, int status, const char *body, size_t len,
                  void (*release)(void *), void *arg);
/* Lets go of the reply's body (freed, or released when shared); for whoever ends a request. */
void request_reply_clear(struct request *req);
/* Sends `json` (stolen) with `status`. */
void reply_json(struct request *req, int status, json_t *json);
/* Sends the Pulumi error shape {"code": status, "message": "<Status text>: <detail>"} for err, a
 * TE_* code of core/error.h (whose one HTTP status is the reply's): handlers name what went
 * wrong, the table decides the status. The detail is token-redacted. */
void reply_error(struct request *req, int err, const char *detail_fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An error whose detail never changes, rendered on first use and then sent as the same bytes
 * each time: the 401 every refused credential gets costs a flood of bad tokens no formatting, no
 * JSON and no allocation per request. Declare one per distinct error (code and detail) with
 * FIXED_ERROR, static: its body lives as long as the process. */
struct fixed_error {
  int err;            /* a TE_* code */
  const char *detail; /* a literal, not token-redacted: it quotes nothing a client sent */
  _Atomic(char *) body;
};
#define FIXED_ERROR(e, d)                                                                          \
  { .err = (e), .detail = (d), .body = NULL }
void reply_fixed_error(struct request *req, struct fixed_error *fixed);
/* Sends the error for a TE_* code with the given detail (a generic one for 5xx: no internals). */
void reply_failure(struct request *req, int err, const char *detail);
/* Sends an empty body (204). */
void reply_empty(struct request *req, int status);

/* Parses the body as a JSON object (an empty body counts as {}): rejects malformed JSON, duplicate
 * keys, other types and nesting beyond JSON_DEPTH_MAX, replying 400 itself. NULL after a reply. */
json_t *request_json_object(struct request *req);
/* The same for a body of any JSON type (an empty body is refused: it is no JSON value). */
json_t *request_json_value(struct request *req);

/* Refuses (400, replied) a body with a field not in allowed (NULL-terminated): a misspelt field
 * must not be silently ignored. Short names are echoed; long ones could be pasted secrets. */
bool request_fields_allowed(struct request *req, json_t *body, const char *const allowed[]);

/* Strict readers for one field of a JSON body. No request field of Pulumi's spec is nullable, so
 * null is refused like any other wrong type: a client that sends "expires": null must not get a
 * token that never expires. Each returns true with the value, or true leaving the output as it
 * was when the field is absent (text readers set NULL); otherwise it replies 400 saying which
 * field and what is wrong, and returns false. */

/* A string of min to max bytes: UTF-8 (jansson checks) without NUL; for values that are not
 * shown to people as they are (passwords, ID tokens, URNs). */
bool request_string_field(struct request *req, json_t *body, const char *field, size_t min,
                          size_t max, const char **out);
/* The same for a value already taken out of the body (NULL when absent). */
bool request_string_value(struct request *req, const char *field, json_t *value, size_t min,
                          size_t max, const char **out);

/* A string as above without control characters (C0, DEL or C1; text_is_printable): names,
 * descriptions and other text that terminals, logs and pages show. */
bool request_text_field(struct request *req, json_t *body, const char *field, size_t min,
                        size_t max, const char **out);
bool request_text_value(struct request *req, const char *field, json_t *value, size_t min,
                        size_t max, const char **out);

/* true or false. */
bool request_bool_field(struct request *req, json_t *body, const char *field, bool *out);

/* A JSON integer (not 1.5, 1e3 or "15") from min to max. */
bool request_integer_field(struct request *req, json_t *body, const char *field, int64_t min,
                           int64_t max, int64_t *out);

/* Replies 400 for a field of the wrong JSON type: "<field> must be <expected>; null is not
 * allowed." or "<field> must be <expected>, not an array." */
void request_refuse_type(struct request *req, const char *field, json_t *value,
                         const char *expected);

/* The client's IP address as text ("" when unknown): the peer's, or behind trusted proxies the one
 * they forwarded for (http/forwarded.h). */
void request_client_ip(struct request *req, char *out, size_t size);

/* A query parameter, header or cookie, or NULL. */
const char *request_query(struct request *req, const char *name);

/* For a parameter that a page's script reads too (it compares names exactly, and takes the first
 * of several): false when `name` is given more than once, in any case, or in another case than
 * this. Otherwise true, with *value the parameter's value or NULL when it is absent. */
bool request_query_single(struct request *req, const char *name, const char **value);
/* The first query parameter whose name is not one of allowed (NULL-terminated, exact case), or
 * NULL: for a route whose parameters are requirements, a misspelt one must not pass unchecked. */
const char *request_query_unknown(struct request *req, const char *const allowed[]);
const char *request_header(struct request *req, const char *name);
const char *request_cookie(struct request *req, const char *name);

/* Suspends the connection while the reply is produced elsewhere (e.g. a group commit). Returns
 * false, having replied 503, when the server is shutting down: the caller must then not start the
 * work. */
bool request_defer(struct request *req);
/* Wakes a deferred request once its reply_* has been called. Safe from any thread; the request
 * may be gone by the time it returns. A request without a connection has its reply once
 * app->deferred has dropped back. */
void request_resume(struct request *req);

#endif
