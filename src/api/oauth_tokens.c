/* OAuth's endpoints that resource servers already speak, for Tessera tokens:
 *   POST /api/oauth/introspect (RFC 7662): the caller, authenticated with its own Tessera token,
 *     learns about a token acting in an organization it belongs to (or one of its own user's);
 *     about anything else, a well-formed or a garbled value, known or not, it learns
 *     {"active": false}, the one answer that tells nothing apart;
 *   POST /api/oauth/revoke (RFC 7009): the holder of a token revokes it with the token alone (its
 *     possession is the proof); 200 whatever the token was.
 * Both take application/x-www-form-urlencoded bodies with `token` (and an optional
 * `token_type_hint`, which changes nothing: Tessera has one kind of value). */

#include "api/api.h"

#include "api/audit_event.h"
#include "core/error.h"
#include "core/timeutil.h"
#include "http/auth.h"
#include "http/form.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Reads `token` from the form body into value (TOKEN_VALUE_LEN + 1); false (replied 400, OAuth's
 * invalid_request) for a body that is no form or repeats a parameter. An absent or garbled token
 * is value "": it is no error, only a token that is not active. */
static bool read_token(struct request *req, char *value) {
  static const char *const names[] = {"token", "token_type_hint"};
  char *fields[2];
  value[0] = '\0';
  if (!form_parse(req->body ? req->body : "", req->body_len, names, fields, 2, 4096)) {
    reply_json(req, 400,
               json_pack("{s:s, s:s}", "error", "invalid_request", "error_description",
                         "the body must be a form (token=...) that repeats no parameter"));
    return false;
  }
  if (fields[0] && token_is_well_formed(fields[0], strlen(fields[0])))
    snprintf(value, TOKEN_VALUE_LEN + 1, "%s", fields[0]);
  form_free(fields, 2);
  return true;
}

/* The token a value is, when it is one and is usable now (http/auth.c's rules). TE_UNAUTHORIZED
 * for none, or the store's error. */
static int find(struct request *req, const char *value, struct store_principal *p) {
  if (!value[0])
    return TE_UNAUTHORIZED;
  return auth_principal_of(req->app->store, value, strlen(value), false, time_now(), p);
}

/* The organizations a principal acts in, sorted by name: a machine token's or an exchange's one,
 * or its user's. */
static int orgs_of(struct request *req, const struct store_principal *p,
                   struct store_membership **out, size_t *count) {
  if (p->token.kind != TOKEN_PERSONAL || p->scope_org_id) {
    if (!(*out = calloc(1, sizeof **out)))
      abort();
    snprintf((*out)[0].org, sizeof(*out)[0].org, "%s", p->org);
    *count = 1;
    return TE_OK;
  }
  struct store *store = req->app->store;
  return store->ops->memberships(store, p->user.id, out, count);
}

/* Whether the caller may learn about the token, and in which organization ("" for its own user's
 * token seen outside any shared one). */
static int visible(struct request *req, const struct store_principal *t, bool *seen, char *org) {
  const struct store_principal *c = &req->principal;
  *seen = false;
  org[0] = '\0';
  struct store_membership *mine, *theirs;
  size_t my_count, their_count;
  int rc = orgs_of(req, c, &mine, &my_count);
  if (rc)
    return rc;
  if ((rc = orgs_of(req, t, &theirs, &their_count)) != TE_OK) {
    free(mine);
    return rc;
  }
  for (size_t i = 0; i < their_count && !*seen; i++)
    for (size_t j = 0; j < my_count && !*seen; j++)
      if (strcasecmp(theirs[i].org, mine[j].org) == 0) {
        *seen = true;
        snprintf(org, LOGIN_MAX + 1, "%s", theirs[i].org);
      }
  /* One's own user's tokens, wherever they act. */
  if (!*seen && c->token.kind == TOKEN_PERSONAL && t->token.kind == TOKEN_PERSONAL &&
      c->user.id == t->user.id && !c->scope_org_id)
    *seen = true;
  free(mine);
  free(theirs);
  return TE_OK;
}

void api_oauth_introspect(struct request *req) {
  char value[TOKEN_VALUE_LEN + 1];
  if (!read_token(req, value))
    return;
  struct store_principal t;
  bool seen = false;
  int rc = find(req, value, &t);
  OPENSSL_cleanse(value, sizeof value);
  char org[LOGIN_MAX + 1] = "";
  if (rc == TE_OK)
    rc = visible(req, &t, &seen, org);
  if (rc && rc != TE_UNAUTHORIZED) {
    reply_failure(req, rc, "");
    return;
  }
  if (!seen) {
    reply_json(req, 200, json_pack("{s:b}", "active", 0));
    return;
  }
  json_t *answer =
      json_pack("{s:b, s:s, s:s, s:s, s:s, s:I, s:s}", "active", 1, "sub", t.user.uuid, "username",
                t.user.login, "token_type", token_kind_name(t.token.kind), "client_id", t.token.id,
                "iat", (json_int_t)t.token.created, "scope", "");
  if (org[0])
    json_object_set_new(answer, "org", json_string(org));
  if (t.team[0])
    json_object_set_new(answer, "team", json_string(t.team));
  if (t.token.expires)
    json_object_set_new(answer, "exp", json_integer((json_int_t)t.token.expires));
  reply_json(req, 200, answer);
}

void api_oauth_revoke(struct request *req) {
  char value[TOKEN_VALUE_LEN + 1];
  if (!read_token(req, value))
    return;
  struct store_principal t;
  int rc = find(req, value, &t);
  OPENSSL_cleanse(value, sizeof value);
  if (rc == TE_OK) {
    struct store *store = req->app->store;
    if (t.token.kind == TOKEN_PERSONAL) {
      rc = store->ops->token_delete(store, t.token.user_id, t.token.id, NULL, NULL, NULL);
    } else {
      struct audit_record a;
      audit_event(&a, req, t.org,
                  t.token.kind == TOKEN_TEAM ? "team-token-deleted" : "organization-token-deleted",
                  false, "revoked by its holder (RFC 7009): %s", t.token.name);
      snprintf(a.user, sizeof a.user, "%s", t.actor); /* no one signed in: the holder acted */
      snprintf(a.token_id, sizeof a.token_id, "%s", t.token.id);
      snprintf(a.token_name, sizeof a.token_name, "%s", t.token.name);
      rc = store->ops->machine_token_delete(store, NULL, t.token.org_id, t.token.team_id,
                                            t.token.id, &a);
    }
  }
  /* Revoked now, or never was: the same answer (RFC 7009 §2.2). A store that could not do it
   * says so: the holder must not believe a live token dead. */
  if (rc && rc != TE_NOT_FOUND && rc != TE_UNAUTHORIZED) {
    reply_failure(req, rc, "");
    return;
  }
  reply_empty(req, 200);
}
