/* The audit log of an organization: ListAuditLogEventsHandlerV1 and V2 (JSON pages) and
 * ExportAuditLogEventsHandlerV2 (gzipped CSV). Org admins only. */

#include "api/api.h"

#include "api/org_access.h"
#include "core/error.h"
#include "core/gzip.h"
#include "core/names.h"
#include "core/paging.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_PAGE 100
#define EXPORT_MAX 10000 /* per response; the rest is reached with the continuation token */

enum audit_api { AUDIT_V1, AUDIT_V2, AUDIT_EXPORT };

/* A non-negative decimal Unix time, or absent (0). Replies 400 itself. */
static bool read_time(struct request *req, const char *name, int64_t *out) {
  const char *text = request_query(req, name);
  *out = 0;
  if (!text)
    return true;
  char *end;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (!*text || *end || errno || v < 0) {
    reply_error(req, TE_BAD_REQUEST, "%s must be Unix seconds.", name);
    return false;
  }
  *out = v;
  return true;
}

static void audit_scope(const struct org_access *access, char *out, size_t size) {
  snprintf(out, size, "audit:%lld", (long long)access->org.id);
}

/* Reads the query parameters shared by the three operations. V1 reads startTime as "older than";
 * V2 and the export read it as the lower bound and endTime as the upper. */
static bool read_query(struct request *req, enum audit_api api, const struct org_access *access,
                       struct store_audit_query *q) {
  int64_t start, end;
  if (!read_time(req, "startTime", &start) || !read_time(req, "endTime", &end))
    return false;
  const char *event = request_query(req, "eventFilter");
  const char *user = request_query(req, "userFilter");
  const char *format = request_query(req, "format");
  const char *continuation = request_query(req, "continuationToken");
  if (event && strlen(event) > AUDIT_EVENT_MAX) {
    reply_error(req, TE_BAD_REQUEST, "eventFilter is longer than %d bytes.", AUDIT_EVENT_MAX);
    return false;
  }
  if (user && *user && !actor_is_valid(user)) {
    reply_error(req, TE_BAD_REQUEST, "userFilter is not a login, nor an org/token-name.");
    return false;
  }
  if (format && strcmp(format, api == AUDIT_EXPORT ? "csv" : "json") != 0) {
    reply_error(req, TE_BAD_REQUEST, "format must be %s.", api == AUDIT_EXPORT ? "csv" : "json");
    return false;
  }
  if (api == AUDIT_V1 && !start && !continuation) {
    reply_error(req, TE_BAD_REQUEST, "either continuationToken or startTime is required.");
    return false;
  }
  *q = (struct store_audit_query){.org = access->org.name,
                                  .event = event ? event : "",
                                  .user = user ? user : "",
                                  .before_seq = INT64_MAX};
  if (api == AUDIT_V1) {
    q->until = start && end ? (start < end ? start : end) : (start ? start : end);
  } else {
    q->since = start;
    q->until = end;
  }
  char scope[64];
  audit_scope(access, scope, sizeof scope);
  if (continuation && page_token_decode(continuation, scope, &q->before_seq) != TE_OK) {
    reply_error(req, TE_BAD_REQUEST, "continuationToken is not one this listing returned.");
    return false;
  }
  return true;
}

/* A page of records (limit + 1 asked, to learn whether more exist); replies itself on failure. */
static bool load(struct request *req, struct store_audit_query *q, int limit,
                 struct store_audit_record **records, size_t *count) {
  struct store *store = req->app->store;
  q->limit = limit + 1;
  int rc = store->ops->audit_list(store, q, records, count);
  if (rc)
    reply_failure(req, rc, "");
  return rc == TE_OK;
}

static json_t *event_json(const struct audit_record *a) {
  json_t *e = json_pack("{s:I, s:s, s:s, s:s, s:{s:s, s:s, s:s}, s:b, s:b, s:b}", "timestamp",
                        (json_int_t)a->timestamp, "sourceIP", a->source_ip, "event", a->event,
                        "description", a->description, "user", "name", a->user, "githubLogin",
                        a->user, "avatarUrl", "", "reqOrgAdmin", a->req_org_admin, "reqStackAdmin",
                        0, "authFailure", a->auth_failure);
  if (e && a->token_id[0])
    json_object_set_new(e, "tokenID", json_string(a->token_id));
  if (e && a->token_name[0])
    json_object_set_new(e, "tokenName", json_string(a->token_name));
  return e;
}

static void list(struct request *req, enum audit_api api) {
  struct org_access access;
  struct store_audit_query q;
  struct store_audit_record *records;
  size_t count;
  if (!org_access_check(req, true, &access) || !read_query(req, api, &access, &q) ||
      !load(req, &q, LIST_PAGE, &records, &count))
    return;
  json_t *events = json_array();
  for (size_t i = 0; i < count && i < LIST_PAGE; i++)
    json_array_append_new(events, event_json(&records[i].audit));
  json_t *reply = json_pack("{s:o}", "auditLogEvents", events);
  if (count > LIST_PAGE) {
    char scope[64], next[CONTINUATION_MAX + 1];
    audit_scope(&access, scope, sizeof scope);
    page_token_encode(records[LIST_PAGE - 1].seq, scope, next);
    json_object_set_new(reply, "continuationToken", json_string(next));
  }
  free(records);
  reply_json(req, 200, reply);
}

void api_auditlogs_v1(struct request *req) {
  list(req, AUDIT_V1);
}

void api_auditlogs_v2(struct request *req) {
  list(req, AUDIT_V2);
}

/* A growing text buffer for the CSV. */
struct text {
  char *data;
  size_t len, cap;
};

static void put(struct text *t, const char *s, size_t n) {
  if (t->len + n + 1 > t->cap) {
    t->cap = (t->len + n + 1) * 2;
    t->data = realloc(t->data, t->cap);
    if (!t->data)
      abort();
  }
  memcpy(t->data + t->len, s, n);
  t->len += n;
  t->data[t->len] = '\0';
}

/* One CSV cell (RFC 4180 quoting). A cell a spreadsheet would run as a formula (=, +, -, @) is
 * prefixed with ' so that opening an export never executes what a client put in a field. */
static void put_cell(struct text *t, const char *value, bool last) {
  bool formula = strchr("=+-@", value[0]) && value[0];
  bool quote = formula || strpbrk(value, ",\"\r\n") != NULL;
  if (quote)
    put(t, "\"", 1);
  if (formula)
    put(t, "'", 1);
  for (const char *p = value; *p; p++) {
    put(t, p, 1);
    if (*p == '"') /* a quote inside a quoted cell is doubled */
      put(t, "\"", 1);
  }
  if (quote)
    put(t, "\"", 1);
  put(t, last ? "\r\n" : ",", last ? 2 : 1);
}

static void put_record(struct text *t, const struct audit_record *a) {
  char timestamp[24];
  snprintf(timestamp, sizeof timestamp, "%lld", (long long)a->timestamp);
  put_cell(t, timestamp, false);
  put_cell(t, a->source_ip, false);
  put_cell(t, a->event, false);
  put_cell(t, a->description, false);
  put_cell(t, a->user, false);
  put_cell(t, a->token_id, false);
  put_cell(t, a->token_name, false);
  put_cell(t, a->req_org_admin ? "true" : "false", false);
  put_cell(t, "false", false);
  put_cell(t, a->auth_failure ? "true" : "false", true);
}

void api_auditlogs_export(struct request *req) {
  struct org_access access;
  struct store_audit_query q;
  struct store_audit_record *records;
  size_t count;
  if (!org_access_check(req, true, &access) || !read_query(req, AUDIT_EXPORT, &access, &q) ||
      !load(req, &q, EXPORT_MAX, &records, &count))
    return;
  static const char header[] = "timestamp,sourceIP,event,description,user,tokenID,tokenName,"
                               "reqOrgAdmin,reqStackAdmin,authFailure\r\n";
  struct text csv = {0};
  put(&csv, header, sizeof header - 1);
  for (size_t i = 0; i < count && i < EXPORT_MAX; i++)
    put_record(&csv, &records[i].audit);
  if (count > EXPORT_MAX) {
    char scope[64], next[CONTINUATION_MAX + 1];
    audit_scope(&access, scope, sizeof scope);
    page_token_encode(records[EXPORT_MAX - 1].seq, scope, next);
    snprintf(req->continuation, sizeof req->continuation, "%s", next);
  }
  free(records);
  char *gz;
  size_t gz_len;
  int rc = gzip_compress(csv.data, csv.len, &gz, &gz_len);
  free(csv.data);
  if (rc) {
    reply_failure(req, rc, "");
    return;
  }
  reply_bytes(req, 200, gz, gz_len, "text/plain; charset=utf-8", "gzip");
}
