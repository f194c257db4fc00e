/* Personal access tokens: CreatePersonalToken, ListPersonalTokens, DeletePersonalToken. Creation
 * and deletion go through the store's group commit, so the request is suspended meanwhile rather
 * than holding a worker thread through the disk flush. */

#include "api/api.h"

#include "api/tokens.h"
#include "core/error.h"
#include "core/timeutil.h"
#include "core/token.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

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
  /* reason (what led to the creation, e.g. "cli-login") is kept with the token and listed. */
  const char *reason;
  if (!token_require_personal(req) || !token_read_reason(req, &reason))
    return;
  json_t *body = request_json_object(req);
  if (!body)
    return;
  struct store_token token = {.kind = TOKEN_PERSONAL,
                              .user_id = req->principal.user.id,
                              .source = req->via_session ? TOKEN_SOURCE_CONSOLE : TOKEN_SOURCE_API};
  memcpy(token.reason, reason, strlen(reason) + 1);
  static const char *const fields[] = {"description", "expires", NULL};
  bool ok = request_fields_allowed(req, body, fields) &&
            token_read_description(req, json_object_get(body, "description"), token.description) &&
            token_read_expires(req, json_object_get(body, "expires"), &token.expires);
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

void api_personal_token_list(struct request *req) {
  if (token_require_personal(req))
    token_list_reply(req, TOKEN_PERSONAL, req->principal.user.id, req->principal.user.uuid);
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
  if (!token_require_personal(req) || !token_read_id(req, id) || !request_defer(req))
    return;
  struct store *store = req->app->store;
  store->ops->token_delete(store, req->principal.user.id, id, NULL, deleted, req);
}
