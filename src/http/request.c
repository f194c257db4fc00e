#include "http/request.h"

#include "core/error.h"
#include "core/limits.h"
#include "core/names.h"
#include "core/token.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void request_reply_clear(struct request *req) {
  if (req->reply_release)
    req->reply_release(req->reply_release_arg);
  else
    free(req->reply_body);
  req->reply_body = NULL;
  req->reply_len = 0;
  req->reply_release = NULL;
  req->reply_release_arg = NULL;
}

static void set_reply_bytes(struct request *req, int status, char *body, size_t len) {
  request_reply_clear(req);
  req->status = status;
  req->reply_body = body;
  req->reply_len = len;
  req->replied = true;
}

static void set_reply(struct request *req, int status, char *body) {
  set_reply_bytes(req, status, body, body ? strlen(body) : 0);
}

static char *render_error(int status, const char *detail) {
  char message[512];
  snprintf(message, sizeof message, "%s: %s", error_status_text(status), detail);
  json_t *j = json_pack("{s:i, s:s}", "code", status, "message", message);
  char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  return body;
}

/* A detail that is not valid UTF-8 (say, echoing bytes a client sent) cannot be JSON; a generic
 * detail then takes its place rather than the reply failing. */
static char *error_body(int status, const char *detail) {
  char *body = render_error(status, detail);
  if (!body)
    body = render_error(status, "the request could not be processed.");
  if (!body)
    abort();
  return body;
}

void reply_bytes(struct request *req, int status, char *body, size_t len, const char *content_type,
                 const char *encoding) {
  set_reply_bytes(req, status, body, len); /* binary: no strlen, which would read past it */
  req->content_type = content_type;
  req->content_encoding = encoding;
}

void reply_shared(struct request *req, int status, const char *body, size_t len,
                  void (*release)(void *), void *arg) {
  set_reply_bytes(req, status, (char *)body, len); /* never written to: see reply_release */
  req->reply_release = release;
  req->reply_release_arg = arg;
}

void reply_json_text(struct request *req, int status, char *text) {
  set_reply(req, status, text);
}

void reply_json(struct request *req, int status, json_t *json) {
  char *body = json ? json_dumps(json, JSON_COMPACT) : NULL;
  json_decref(json);
  if (!body) {
    set_reply(req, 500, error_body(500, "could not render the response."));
    return;
  }
  set_reply(req, status, body);
}

void reply_error(struct request *req, int err, const char *detail_fmt, ...) {
  if (err >= TE_OK) { /* a status or TE_OK where a TE_* error belongs: a bug, answered as one */
    fprintf(stderr, "tessera: reply_error given %d, which is not a TE_* error code\n", err);
    err = TE_INTERNAL;
  }
  int status = error_http_status(err);
  char detail[384], redacted[384];
  va_list ap;
  va_start(ap, detail_fmt);
  vsnprintf(detail, sizeof detail, detail_fmt, ap);
  va_end(ap);
  /* Details quote what clients sent (a login, a field name, a path): a token value pasted there
   * must not come back in a reply, which proxies and clients may log. */
  set_reply(req, status, error_body(status, token_redact(detail, redacted, sizeof redacted)));
}

static void keep_fixed(void *body) {
  (void)body; /* rendered once, for the process's life */
}

void reply_fixed_error(struct request *req, struct fixed_error *fixed) {
  if (fixed->err >= TE_OK) { /* not a TE_* error: reply_error says so, and answers 500 */
    reply_error(req, fixed->err, "%s", fixed->detail);
    return;
  }
  int status = error_http_status(fixed->err);
  char *body = atomic_load_explicit(&fixed->body, memory_order_acquire);
  if (!body) {
    char *rendered = error_body(status, fixed->detail);
    if (atomic_compare_exchange_strong_explicit(&fixed->body, &body, rendered, memory_order_acq_rel,
                                                memory_order_acquire))
      body = rendered;
    else
      free(rendered); /* another thread rendered it first; body is now theirs */
  }
  reply_shared(req, status, body, strlen(body), keep_fixed, NULL);
}

void reply_failure(struct request *req, int err, const char *detail) {
  int status = error_http_status(err);
  if (status >= 500 && status != 501) /* 501 names what the client asked for, not our internals */
    detail = status == 503 ? "the store is busy; retry shortly." : "an unexpected error occurred.";
  reply_error(req, err, "%s", detail);
}

void reply_empty(struct request *req, int status) {
  set_reply(req, status, NULL);
}

static int depth_of(json_t *j) {
  int deepest = 0;
  if (json_is_object(j)) {
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v) {
      int d = depth_of(v);
      deepest = d > deepest ? d : deepest;
    }
    return deepest + 1;
  }
  if (json_is_array(j)) {
    size_t i;
    json_t *v;
    json_array_foreach(j, i, v) {
      int d = depth_of(v);
      deepest = d > deepest ? d : deepest;
    }
    return deepest + 1;
  }
  return 0;
}

json_t *request_json_value(struct request *req) {
  if (req->body_len == 0 || !req->body) {
    reply_error(req, TE_BAD_REQUEST, "the request body is empty; JSON was expected.");
    return NULL;
  }
  /* JSON text never holds a raw NUL (in a string it must be \u0000), and jansson would quietly
   * skip one between tokens: {"expires":17\0}" must not parse. */
  if (memchr(req->body, '\0', req->body_len)) {
    reply_error(req, TE_BAD_REQUEST, "the request body is not valid JSON: it contains a NUL byte.");
    return NULL;
  }
  json_error_t err;
  /* jansson bounds its own recursion (2048 levels), so parsing 64 KiB of brackets is safe; our
   * tighter depth limit is applied to the result. */
  json_t *j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &err);
  if (!j) {
    /* jansson quotes the offending input after " near "; it could be a secret, so it is cut. */
    char *near = strstr(err.text, " near ");
    if (near)
      *near = '\0';
    reply_error(req, TE_BAD_REQUEST, "the request body is not valid JSON: %s (line %d, column %d).",
                err.text, err.line, err.column);
    return NULL;
  }
  if (depth_of(j) > JSON_DEPTH_MAX) {
    json_decref(j);
    reply_error(req, TE_BAD_REQUEST, "the request body is nested deeper than %d levels.",
                JSON_DEPTH_MAX);
    return NULL;
  }
  return j;
}

json_t *request_json_object(struct request *req) {
  if (req->body_len == 0)
    return json_object();
  json_t *j = request_json_value(req);
  if (j && !json_is_object(j)) {
    json_decref(j);
    reply_error(req, TE_BAD_REQUEST, "the request body must be a JSON object.");
    return NULL;
  }
  return j;
}

bool request_fields_allowed(struct request *req, json_t *body, const char *const allowed[]) {
  const char *key;
  json_t *value;
  json_object_foreach(body, key, value) {
    bool known = false;
    for (int i = 0; allowed[i] && !known; i++)
      known = strcmp(key, allowed[i]) == 0;
    if (known)
      continue;
    char expected[128] = "";
    for (int i = 0; allowed[i]; i++)
      snprintf(expected + strlen(expected), sizeof expected - strlen(expected), "%s%s",
               i ? ", " : "", allowed[i]);
    bool shown = strlen(key) <= 32;
    reply_error(req, TE_BAD_REQUEST, "unknown field %s%s%s; expected %s.", shown ? "\"" : "",
                shown ? key : "in the body", shown ? "\"" : "", expected);
    return false;
  }
  return true;
}

#define FORWARDED_FIELDS_MAX 8

struct forwarded_fields {
  const char *values[FORWARDED_FIELDS_MAX];
  int count;
};

static enum MHD_Result collect_forwarded(void *cls, enum MHD_ValueKind kind, const char *key,
                                         const char *value) {
  (void)kind;
  struct forwarded_fields *f = cls;
  if (strcasecmp(key, "X-Forwarded-For") != 0 || !value)
    return MHD_YES;
  if (f->count == FORWARDED_FIELDS_MAX) /* keep the last ones: the nearest proxies wrote them */
    memmove(f->values, f->values + 1, sizeof f->values[0] * (FORWARDED_FIELDS_MAX - 1));
  f->values[f->count < FORWARDED_FIELDS_MAX ? f->count++ : FORWARDED_FIELDS_MAX - 1] = value;
  return MHD_YES;
}

void request_client_ip(struct request *req, char *out, size_t size) {
  out[0] = '\0';
  if (!req->conn)
    return;
  const union MHD_ConnectionInfo *info =
      MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (!info || !info->client_addr)
    return;
  struct forwarded_fields f = {.count = 0};
  if (req->app->trusted_proxy_count)
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, collect_forwarded, &f);
  forwarded_client(req->app->trusted_proxies, req->app->trusted_proxy_count, info->client_addr,
                   f.values, f.count, out, size);
}

/* The first value of that name, compared without case as MHD compares them. */
static const char *lookup(struct request *req, enum MHD_ValueKind kind, const char *name) {
  if (req->conn)
    return MHD_lookup_connection_value(req->conn, kind, name);
  const struct request_value *v = kind == MHD_HEADER_KIND   ? req->headers
                                  : kind == MHD_COOKIE_KIND ? req->cookies
                                                            : req->query;
  for (; v && v->name; v++)
    if (strcasecmp(v->name, name) == 0)
      return v->value;
  return NULL;
}

const char *request_query(struct request *req, const char *name) {
  return lookup(req, MHD_GET_ARGUMENT_KIND, name);
}

struct query_match {
  const char *name;
  int count;      /* parameters of that name in any case */
  bool same_case; /* every one spelled exactly as asked */
};

/* Calls visit(arg, name) for each query parameter's name, from the connection or, for a request
 * made without one (tests, fuzzing), from req->query. */
struct name_visit {
  void (*visit)(void *arg, const char *name);
  void *arg;
};

static enum MHD_Result visit_parameter(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value) {
  (void)kind;
  (void)value;
  const struct name_visit *v = cls;
  v->visit(v->arg, key);
  return MHD_YES;
}

static void each_query_name(struct request *req, void (*visit)(void *, const char *), void *arg) {
  struct name_visit v = {visit, arg};
  if (req->conn)
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, visit_parameter, &v);
  else
    for (const struct request_value *q = req->query; q && q->name; q++)
      visit(arg, q->name);
}

static void match_parameter(void *arg, const char *key) {
  struct query_match *m = arg;
  if (strcasecmp(key, m->name) != 0)
    return;
  m->count++;
  m->same_case = m->same_case && strcmp(key, m->name) == 0;
}

bool request_query_single(struct request *req, const char *name, const char **value) {
  struct query_match m = {.name = name, .count = 0, .same_case = true};
  each_query_name(req, match_parameter, &m);
  *value = m.count == 1 && m.same_case ? request_query(req, name) : NULL;
  return m.count == 0 || (m.count == 1 && m.same_case);
}

struct query_names {
  const char *const *allowed;
  const char *unknown; /* the first name not allowed */
};

static void check_name(void *arg, const char *key) {
  struct query_names *q = arg;
  for (const char *const *a = q->allowed; *a; a++)
    if (strcmp(key, *a) == 0)
      return;
  if (!q->unknown)
    q->unknown = key;
}

const char *request_query_unknown(struct request *req, const char *const allowed[]) {
  struct query_names q = {allowed, NULL};
  each_query_name(req, check_name, &q);
  return q.unknown;
}

const char *request_header(struct request *req, const char *name) {
  return lookup(req, MHD_HEADER_KIND, name);
}

const char *request_cookie(struct request *req, const char *name) {
  return lookup(req, MHD_COOKIE_KIND, name);
}

/* Shutdown waits until `deferred` is 0 with `draining` set; counting first and checking second
 * means either the shutdown sees this request or this request sees the shutdown. */
bool request_defer(struct request *req) {
  atomic_fetch_add(&req->app->deferred, 1);
  if (atomic_load(&req->app->draining)) {
    atomic_fetch_sub(&req->app->deferred, 1);
    reply_error(req, TE_UNAVAILABLE, "the server is shutting down; retry.");
    return false;
  }
  req->deferred = true;
  if (req->conn)
    MHD_suspend_connection(req->conn);
  return true;
}

void request_resume(struct request *req) {
  struct app *app = req->app; /* once resumed, the request may complete and be freed at once */
  if (req->conn)
    MHD_resume_connection(req->conn);
  /* Counted here rather than when the handler runs again: a client that hung up is closed by MHD
   * without calling the handler, and shutdown must not wait for it forever. */
  atomic_fetch_sub(&app->deferred, 1);
}

static const char *json_kind(json_t *value) {
  switch (json_typeof(value)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "an array";
  case JSON_STRING:
    return "a string";
  case JSON_INTEGER:
    return "an integer";
  case JSON_REAL:
    return "a floating-point number";
  case JSON_TRUE:
  case JSON_FALSE:
    return "a boolean";
  default:
    return "null";
  }
}

void request_refuse_type(struct request *req, const char *field, json_t *value,
                         const char *expected) {
  if (json_is_null(value))
    reply_error(req, TE_BAD_REQUEST, "%s must be %s; null is not allowed.", field, expected);
  else
    reply_error(req, TE_BAD_REQUEST, "%s must be %s, not %s.", field, expected, json_kind(value));
}

static bool string_value(struct request *req, const char *field, json_t *value, size_t min,
                         size_t max, bool printable, const char **out) {
  *out = NULL;
  if (!value)
    return true;
  if (!json_is_string(value)) {
    request_refuse_type(req, field, value, printable ? "text (a string)" : "a string");
    return false;
  }
  const char *text = json_string_value(value);
  size_t len = json_string_length(value);
  /* jansson guarantees UTF-8 and refuses \u0000 unless asked not to; checked anyway, since an
   * embedded NUL would make C and JSON disagree about the value. */
  if (memchr(text, '\0', len)) {
    reply_error(req, TE_BAD_REQUEST, "%s must not contain NUL characters.", field);
    return false;
  }
  if (len < min || len > max) {
    if (len == 0)
      reply_error(req, TE_BAD_REQUEST, "%s must not be empty.", field);
    else if (min == 0)
      reply_error(req, TE_BAD_REQUEST, "%s must be at most %zu bytes long; it is %zu.", field, max,
                  len);
    else
      reply_error(req, TE_BAD_REQUEST, "%s must be %zu to %zu bytes long; it is %zu.", field, min,
                  max, len);
    return false;
  }
  const char *bad = printable ? text_control_at(text) : NULL;
  if (bad) {
    unsigned char c = (unsigned char)bad[0];
    unsigned code = c < 0x80 ? c : ((c & 0x1fu) << 6) | ((unsigned char)bad[1] & 0x3fu);
    reply_error(req, TE_BAD_REQUEST,
                "%s must not contain control characters (newlines, tabs, escapes); it has U+%04X "
                "at byte %zu.",
                field, code, (size_t)(bad - text));
    return false;
  }
  *out = text;
  return true;
}

bool request_string_value(struct request *req, const char *field, json_t *value, size_t min,
                          size_t max, const char **out) {
  return string_value(req, field, value, min, max, false, out);
}

bool request_string_field(struct request *req, json_t *body, const char *field, size_t min,
                          size_t max, const char **out) {
  return string_value(req, field, json_object_get(body, field), min, max, false, out);
}

bool request_text_value(struct request *req, const char *field, json_t *value, size_t min,
                        size_t max, const char **out) {
  return string_value(req, field, value, min, max, true, out);
}

bool request_text_field(struct request *req, json_t *body, const char *field, size_t min,
                        size_t max, const char **out) {
  return string_value(req, field, json_object_get(body, field), min, max, true, out);
}

bool request_bool_field(struct request *req, json_t *body, const char *field, bool *out) {
  json_t *v = json_object_get(body, field);
  if (!v)
    return true;
  if (!json_is_boolean(v)) {
    request_refuse_type(req, field, v, "true or false");
    return false;
  }
  *out = json_is_true(v);
  return true;
}

bool request_integer_field(struct request *req, json_t *body, const char *field, int64_t min,
                           int64_t max, int64_t *out) {
  json_t *v = json_object_get(body, field);
  if (!v)
    return true;
  char expected[96];
  snprintf(expected, sizeof expected, "an integer from %lld to %lld", (long long)min,
           (long long)max);
  if (!json_is_integer(v)) {
    request_refuse_type(req, field, v, expected);
    return false;
  }
  json_int_t n = json_integer_value(v);
  if (n < min || n > max) {
    reply_error(req, TE_BAD_REQUEST, "%s must be %s; it is %lld.", field, expected, (long long)n);
    return false;
  }
  *out = n;
  return true;
}
