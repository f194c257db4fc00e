#include "api/api.h"

#include "core/error.h"
#include "core/expiry.h"
#include "core/lastused.h"
#include "core/paging.h"
#include "core/timeutil.h"
#include "core/token.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

/* Reads "expires": absent, null or 0 mean never; an integer is Unix seconds; a string is RFC 3339
 * (or decimal seconds). Replies 400 itself and returns false on anything else. */
static bool read_expires(struct request *req, json_t *value, int64_t *out) {
  const char *why = NULL;
  *out = 0;
  if (!value || json_is_null(value))
    return true;
  if (json_is_integer(value)) {
    *out = json_integer_value(value);
  } else if (!json_is_string(value)) {
    reply_error(req, 400, "expires must be Unix seconds (an integer) or an RFC 3339 string.");
    return false;
  } else if (expiry_parse_text(json_string_value(value), out) != TE_OK) {
    reply_error(req, 400, "expires is not a valid RFC 3339 date-time, e.g. 2026-12-01T00:00:00Z.");
    return false;
  }
  if (expiry_check(*out, time_now(), &why) != TE_OK) {
    reply_error(req, 400, "%s", why);
    return false;
  }
  return true;
}

static bool read_description(struct request *req, json_t *value, char out[DESCRIPTION_MAX + 1]) {
  out[0] = '\0';
  if (!value || json_is_null(value))
    return true;
  if (!json_is_string(value)) {
    reply_error(req, 400, "description must be a string.");
    return false;
  }
  if (json_string_length(value) > DESCRIPTION_MAX ||
      strlen(json_string_value(value)) != json_string_length(value)) {
    reply_error(req, 400, "description must be at most %d bytes of text.", DESCRIPTION_MAX);
    return false;
  }
  memcpy(out, json_string_value(value), json_string_length(value) + 1);
  return true;
}

struct pending_create {
  struct request *req;
  char id[TOKEN_ID_LEN + 1];
  char value[TOKEN_VALUE_LEN + 1];
};

/* Runs on the store's writer thread once the token is durable (or failed). */
static void created(void *arg, int result) {
  struct pending_create *p = arg;
  if (result == TE_OK)
    reply_json(p->req, 200, json_pack("{s:s, s:s}", "id", p->id, "tokenValue", p->value));
  else
    reply_failure(p->req, result, "");
  struct request *req = p->req;
  OPENSSL_cleanse(p, sizeof *p);
  free(p);
  request_resume(req);
}

void api_personal_token_create(struct request *req) {
  const char *reason = request_query(req, "reason");
  if (reason && strlen(reason) > REASON_MAX) {
    reply_error(req, 400, "reason must be at most %d bytes.", REASON_MAX);
    return;
  }
  json_t *body = request_json_object(req);
  if (!body)
    return;
  struct store_token token = {.kind = TOKEN_PERSONAL, .user_id = req->principal.user.id};
  static const char *const fields[] = {"description", "expires", NULL};
  bool ok = request_fields_allowed(req, body, fields) &&
            read_description(req, json_object_get(body, "description"), token.description) &&
            read_expires(req, json_object_get(body, "expires"), &token.expires);
  json_decref(body);
  if (!ok)
    return;

  struct pending_create *p = calloc(1, sizeof *p);
  if (!p)
    abort();
  p->req = req;
  token_new_id(p->id);
  token_generate(p->value);
  memcpy(token.id, p->id, sizeof token.id);
  token_hash(p->value, TOKEN_VALUE_LEN, token.hash);
  token.created = time_now();
  /* Suspend first: the commit may finish on the writer thread before this function returns. */
  if (!request_defer(req)) {
    OPENSSL_cleanse(p, sizeof *p);
    free(p);
    return;
  }
  struct store *store = req->app->store;
  store->ops->token_insert(store, &token, NULL, created, p);
}

static json_t *access_token_json(const struct store_token *t, int64_t last_used) {
  char created[RFC3339_LEN + 1];
  time_format_rfc3339(t->created, created);
  return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:b, s:s, s:s}", "id", t->id, "name", "",
                   "description", t->description, "created", created, "lastUsed",
                   (json_int_t)last_used, "expires", (json_int_t)t->expires, "admin", 0,
                   "createdBy", t->created_by, "type", "personal");
}

/* filter=active|expired|all; the legacy show_expired=true means all. */
static bool read_filter(struct request *req, enum token_filter *out) {
  const char *filter = request_query(req, "filter");
  const char *show_expired = request_query(req, "show_expired");
  *out = TOKEN_FILTER_ACTIVE;
  if (filter) {
    if (strcmp(filter, "active") == 0)
      return true;
    if (strcmp(filter, "expired") == 0)
      *out = TOKEN_FILTER_EXPIRED;
    else if (strcmp(filter, "all") == 0)
      *out = TOKEN_FILTER_ALL;
    else {
      reply_error(req, 400, "filter must be active, expired or all.");
      return false;
    }
    return true;
  }
  if (show_expired) {
    if (strcmp(show_expired, "true") == 0)
      *out = TOKEN_FILTER_ALL;
    else if (strcmp(show_expired, "false") != 0) {
      reply_error(req, 400, "show_expired must be true or false.");
      return false;
    }
  }
  return true;
}

void api_personal_token_list(struct request *req) {
  struct store_token_query q = {.user_id = req->principal.user.id, .now = time_now()};
  const char *continuation = request_query(req, "continuationToken");
  if (!read_filter(req, &q.filter))
    return;
  if (page_size_parse(request_query(req, "maxResults"), &q.limit) != TE_OK) {
    reply_error(req, 400, "maxResults must be an integer from 1 to %d.", PAGE_MAX);
    return;
  }
  q.before_seq = INT64_MAX;
  if (continuation && page_token_decode(continuation, req->principal.user.uuid, &q.before_seq)) {
    reply_error(req, 400, "continuationToken is not one this listing returned.");
    return;
  }
  int page = q.limit;
  q.limit = page + 1; /* one extra row tells whether another page exists */
  struct store_token *tokens;
  size_t count;
  struct store *store = req->app->store;
  int rc = store->ops->token_list(store, &q, &tokens, &count);
  if (rc) {
    reply_failure(req, rc, "");
    return;
  }
  json_t *items = json_array();
  for (size_t i = 0; i < count && i < (size_t)page; i++) {
    int64_t last_used = lastused_effective(req->app->lastused, tokens[i].seq, tokens[i].last_used);
    /* A row that cannot be rendered fails the listing: silently skipping it would corrupt paging.
     */
    if (json_array_append_new(items, access_token_json(&tokens[i], last_used)) != 0) {
      json_decref(items);
      free(tokens);
      reply_failure(req, TE_INTERNAL, "");
      return;
    }
  }
  json_t *reply = json_pack("{s:o}", "tokens", items);
  if (count > (size_t)page) {
    char next[CONTINUATION_MAX + 1];
    page_token_encode(tokens[page - 1].seq, req->principal.user.uuid, next);
    json_object_set_new(reply, "continuationToken", json_string(next));
  }
  free(tokens);
  reply_json(req, 200, reply);
}

static void deleted(void *arg, int result) {
  struct request *req = arg;
  if (result == TE_OK)
    reply_empty(req, 204);
  else
    reply_failure(req, result, "no such access token.");
  request_resume(req);
}

void api_personal_token_delete(struct request *req) {
  char *id = req->params[0];
  if (!token_id_is_valid(id)) {
    reply_error(req, 404, "no such access token.");
    return;
  }
  for (char *c = id; *c; c++)
    *c = (char)(*c >= 'A' && *c <= 'F' ? *c - 'A' + 'a' : *c);
  if (!request_defer(req))
    return;
  struct store *store = req->app->store;
  store->ops->token_delete(store, req->principal.user.id, id, NULL, deleted, req);
}
