#include "api/tokens.h"

#include "core/error.h"
#include "core/expiry.h"
#include "core/names.h"
#include "core/paging.h"
#include "core/timeutil.h"
#include "core/token.h"
#include "store/lastused.h"

#include <stdlib.h>
#include <string.h>

#define EXPIRES_EXPECTED "Unix seconds (an integer) or an RFC 3339 string"

bool token_read_expires(struct request *req, json_t *value, int64_t *out) {
  const char *why = NULL, *text;
  *out = 0;
  if (!value)
    return true;
  if (json_is_integer(value)) {
    *out = json_integer_value(value);
  } else if (!json_is_string(value)) {
    request_refuse_type(req, "expires", value, EXPIRES_EXPECTED);
    return false;
  } else if (!request_string_value(req, "expires", value, 1, 64, &text)) {
    return false;
  } else if (expiry_parse_rfc3339(text, out) != TE_OK) {
    /* Seconds in a string ("1767225600") are refused too: the spec says integer, and a client
     * that quotes numbers may well send other things it should not. */
    reply_error(req, TE_BAD_REQUEST,
                "expires must be " EXPIRES_EXPECTED
                "; this string is not an RFC 3339 date-time such as 2026-12-01T00:00:00Z.");
    return false;
  }
  if (expiry_check(*out, time_now(), &why) != TE_OK) {
    reply_error(req, TE_BAD_REQUEST, "%s", why);
    return false;
  }
  return true;
}

bool token_read_description(struct request *req, json_t *value, char out[DESCRIPTION_MAX + 1]) {
  const char *text;
  out[0] = '\0';
  if (!request_text_value(req, "description", value, 0, DESCRIPTION_MAX, &text))
    return false;
  if (text)
    memcpy(out, text, strlen(text) + 1);
  return true;
}

bool token_read_reason(struct request *req, const char **out) {
  const char *reason = request_query(req, "reason");
  *out = "";
  if (!reason)
    return true;
  if (strlen(reason) > REASON_MAX || !text_is_utf8(reason) || !text_is_printable(reason)) {
    reply_error(req, TE_BAD_REQUEST,
                "reason must be at most %d bytes of text, without control characters.", REASON_MAX);
    return false;
  }
  *out = reason;
  return true;
}

json_t *token_json(const struct store_token *t, int64_t last_used) {
  char created[RFC3339_LEN + 1];
  time_format_rfc3339(t->created, created);
  /* source (console, api, oidc, admin) and reason (the ?reason= of its creation, when one was
   * given) are Tessera's additions to AccessToken. */
  json_t *out = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:b, s:s, s:s, s:s}", "id", t->id, "name",
                          t->name, "description", t->description, "created", created, "lastUsed",
                          (json_int_t)last_used, "expires", (json_int_t)t->expires, "admin",
                          t->admin, "createdBy", t->created_by, "type", token_kind_name(t->kind),
                          "source", token_source_name(t->source));
  if (t->reason[0])
    json_object_set_new(out, "reason", json_string(t->reason));
  return out;
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
      reply_error(req, TE_BAD_REQUEST, "filter must be active, expired or all.");
      return false;
    }
    return true;
  }
  if (show_expired) {
    if (strcmp(show_expired, "true") == 0)
      *out = TOKEN_FILTER_ALL;
    else if (strcmp(show_expired, "false") != 0) {
      reply_error(req, TE_BAD_REQUEST, "show_expired must be true or false.");
      return false;
    }
  }
  return true;
}

void token_list_reply(struct request *req, enum token_kind kind, int64_t owner_id,
                      const char *scope) {
  struct store_token_query q = {.kind = kind, .owner_id = owner_id, .now = time_now()};
  const char *continuation = request_query(req, "continuationToken");
  if (!read_filter(req, &q.filter))
    return;
  if (page_size_parse(request_query(req, "maxResults"), &q.limit) != TE_OK) {
    reply_error(req, TE_BAD_REQUEST, "maxResults must be an integer from 1 to %d.", PAGE_MAX);
    return;
  }
  q.before_seq = INT64_MAX;
  if (continuation && page_token_decode(continuation, scope, &q.before_seq)) {
    reply_error(req, TE_BAD_REQUEST, "continuationToken is not one this listing returned.");
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
    if (json_array_append_new(items, token_json(&tokens[i], last_used)) != 0) {
      json_decref(items);
      free(tokens);
      reply_failure(req, TE_INTERNAL, "");
      return;
    }
  }
  json_t *reply = json_pack("{s:o}", "tokens", items);
  if (count > (size_t)page) {
    char next[CONTINUATION_MAX + 1];
    page_token_encode(tokens[page - 1].seq, scope, next);
    json_object_set_new(reply, "continuationToken", json_string(next));
  }
  free(tokens);
  reply_json(req, 200, reply);
}

bool token_require_personal(struct request *req) {
  if (principal_is_person(&req->principal))
    return true;
  if (req->principal.token.kind == TOKEN_PERSONAL) { /* from an OIDC exchange */
    reply_error(req, TE_FORBIDDEN,
                "a token from an OIDC exchange cannot manage personal access tokens; it acts only "
                "in organization %s.",
                req->principal.org);
    return false;
  }
  reply_error(req, TE_FORBIDDEN,
              "personal access tokens belong to users; this %s token acts as organization %s.",
              token_kind_name(req->principal.token.kind), req->principal.org);
  return false;
}

bool token_read_id(struct request *req, char *id) {
  if (!token_id_is_valid(id)) {
    reply_error(req, TE_NOT_FOUND, "no such access token.");
    return false;
  }
  for (char *c = id; *c; c++)
    *c = (char)(*c >= 'A' && *c <= 'F' ? *c - 'A' + 'a' : *c);
  return true;
}
