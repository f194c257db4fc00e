/* Organization and team access tokens: CreateOrgToken, ListOrgTokens, DeleteOrgToken,
 * CreateTeamToken, ListTeamTokens, DeleteTeamToken. Org admins manage both kinds; a team's admins
 * manage that team's tokens. Such tokens act as the organization, so no token may make or remove
 * organization tokens (an admin org token could otherwise mint itself successors forever). */

#include "api/api.h"

#include "api/audit_event.h"
#include "api/org_access.h"
#include "api/tokens.h"
#include "core/error.h"
#include "core/expiry.h"
#include "core/names.h"
#include "core/timeutil.h"
#include "core/token.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

/* Whose token is being made or deleted: the organization's own (team NULL) or a team's. */
struct token_owner {
  struct org_access access;
  struct store_team team;
  bool is_team;
};

static const char *kind_words(const struct token_owner *o) {
  return o->is_team ? "team token" : "organization token";
}

/* The org's token-lifetime policy binds tokens from the moment they are made. */
static bool expiry_allowed(struct request *req, const struct store_org *org, int64_t expires) {
  int days = org->max_token_expiry_days;
  if (expiry_within_policy(expires, time_now(), days))
    return true;
  reply_error(req, TE_BAD_REQUEST,
              "organization %s requires access tokens to expire within %d days: give expires at "
              "most %d days ahead.",
              org->name, days, days);
  return false;
}

/* Reads the creation body into token; replies 400 itself. */
static bool read_create_body(struct request *req, const struct token_owner *o,
                             struct store_token *token) {
  static const char *const org_fields[] = {"name",  "description", "expires",
                                           "admin", "roleID",      NULL};
  static const char *const team_fields[] = {"name", "description", "expires", NULL};
  json_t *body = request_json_object(req);
  if (!body)
    return false;
  const char *name = NULL, *role = NULL;
  bool admin = false;
  bool ok = request_fields_allowed(req, body, o->is_team ? team_fields : org_fields) &&
            request_string_field(req, body, "name", 0, TOKEN_NAME_MAX, &name) &&
            request_bool_field(req, body, "admin", &admin) &&
            request_string_field(req, body, "roleID", 0, 64, &role);
  if (ok && (!name || !token_name_is_valid(name))) {
    reply_error(req, TE_BAD_REQUEST, "name must be 1-%d letters, digits, '_' or '-'.",
                TOKEN_NAME_MAX);
    ok = false;
  }
  if (ok && role && role[0]) {
    reply_error(req, TE_BAD_REQUEST,
                "roleID: Tessera has no custom roles; use admin true or false.");
    ok = false;
  }
  ok = ok &&
       token_read_description(req, json_object_get(body, "description"), token->description) &&
       token_read_expires(req, json_object_get(body, "expires"), &token->expires) &&
       expiry_allowed(req, &o->access.org, token->expires);
  if (ok) {
    snprintf(token->name, sizeof token->name, "%s", name);
    token->admin = admin;
  }
  json_decref(body);
  return ok;
}

/* Nothing a token creates may outlive it: a token made with a machine token, or with one from an
 * OIDC exchange, expires no later than its maker and is deleted with it (parent_seq). People's own
 * tokens make tokens that stand on their own. */
static bool within_maker(struct request *req, struct store_token *token) {
  const struct store_principal *p = &req->principal;
  if (principal_is_person(p))
    return true;
  token->parent_seq = p->token.seq;
  int64_t bound = p->token.expires;
  if (!bound || (token->expires && token->expires <= bound))
    return true;
  char when[RFC3339_LEN + 1];
  time_format_rfc3339(bound, when);
  reply_error(req, TE_BAD_REQUEST,
              "a token made with this %s%s token must expire no later than it does: give expires "
              "at most %lld (%s).",
              p->token.oidc_issuer[0] ? "OIDC-issued " : "", token_kind_name(p->token.kind),
              (long long)bound, when);
  return false;
}

static void reply_change_failure(struct request *req, int rc, const struct token_owner *o,
                                 const char *name) {
  if (rc == TE_CONFLICT)
    reply_error(req, TE_CONFLICT,
                "organization %s already has or had a token named %s; token names are never "
                "reused.",
                o->access.org.name, name);
  else if (rc == TE_BAD_REQUEST) /* the store's own check of within_maker */
    reply_error(req, TE_BAD_REQUEST, "the token would outlive the token that makes it.");
  else if (rc == TE_FORBIDDEN) /* the caller's role went away while this was queued */
    org_access_refuse(req, &o->access,
                      o->is_team ? "the admin role in this team or in organization"
                                 : "the admin role in organization");
  else if (rc == TE_NOT_FOUND)
    reply_error(req, TE_NOT_FOUND, "team not found.");
  else
    reply_failure(req, rc, "");
}

static void create_token(struct request *req, const struct token_owner *o) {
  const char *reason;
  if (!token_read_reason(req, &reason))
    return;
  struct store_token token = {.kind = o->is_team ? TOKEN_TEAM : TOKEN_ORG,
                              .org_id = o->access.org.id,
                              .team_id = o->is_team ? o->team.id : 0};
  if (!read_create_body(req, o, &token) || !within_maker(req, &token))
    return;
  memcpy(token.reason, reason, strlen(reason) + 1);
  char value[TOKEN_VALUE_LEN + 1];
  token_new_id(token.id);
  token_generate(value);
  token_hash(value, TOKEN_VALUE_LEN, token.hash);
  token.created = time_now();
  snprintf(token.created_by, sizeof token.created_by, "%s", req->principal.actor);

  struct audit_record a;
  audit_event(&a, req, o->access.org.name,
              o->is_team ? "team-token-created" : "organization-token-created", o->access.admin,
              "created %s%s %s%s%s%s%s", token.admin ? "admin " : "", kind_words(o), token.name,
              o->is_team ? " for team " : "", o->is_team ? o->team.name : "",
              reason[0] ? "; reason: " : "", reason);
  struct store *store = req->app->store;
  struct store_actor actor = org_actor(req, o->is_team ? ACTOR_TEAM_ADMIN : ACTOR_ORG_ADMIN_PERSON);
  int rc = store->ops->machine_token_insert(store, &actor, &token, &a);
  if (rc)
    reply_change_failure(req, rc, o, token.name);
  else
    reply_json(req, 200, json_pack("{s:s, s:s}", "id", token.id, "tokenValue", value));
  OPENSSL_cleanse(value, sizeof value);
}

/* The token named by the path's last segment, which must be of the owner's kind. */
static bool find_token(struct request *req, const struct token_owner *o, char *id,
                       struct store_token *out) {
  struct store *store = req->app->store;
  if (!token_read_id(req, id))
    return false;
  int rc = store->ops->machine_token_get(store, o->access.org.id, id, out);
  if (rc == TE_OK && o->is_team && out->kind != TOKEN_TEAM) {
    reply_error(req, TE_BAD_REQUEST, "the requested token is not a team token");
    return false;
  }
  if (rc == TE_OK && !o->is_team && out->kind != TOKEN_ORG) {
    reply_error(req, TE_BAD_REQUEST, "the requested token is not an organization token");
    return false;
  }
  if (rc == TE_NOT_FOUND || (rc == TE_OK && o->is_team && out->team_id != o->team.id))
    reply_error(req, TE_NOT_FOUND, "no such access token.");
  else if (rc)
    reply_failure(req, rc, "");
  return rc == TE_OK && (!o->is_team || out->team_id == o->team.id);
}

static void delete_token(struct request *req, const struct token_owner *o, char *id) {
  const char *reason;
  struct store_token token;
  if (!token_read_reason(req, &reason) || !find_token(req, o, id, &token))
    return;
  struct audit_record a;
  audit_event(&a, req, o->access.org.name,
              o->is_team ? "team-token-deleted" : "organization-token-deleted", o->access.admin,
              "deleted %s %s%s%s%s%s", kind_words(o), token.name, o->is_team ? " of team " : "",
              o->is_team ? o->team.name : "", reason[0] ? "; reason: " : "", reason);
  struct store *store = req->app->store;
  struct store_actor actor = org_actor(req, o->is_team ? ACTOR_TEAM_ADMIN : ACTOR_ORG_ADMIN_PERSON);
  int rc = store->ops->machine_token_delete(store, &actor, o->access.org.id,
                                            o->is_team ? o->team.id : 0, token.id, &a);
  if (rc == TE_NOT_FOUND)
    reply_error(req, TE_NOT_FOUND, "no such access token.");
  else if (rc)
    reply_change_failure(req, rc, o, token.name);
  else
    reply_empty(req, 204);
}

/* Org admins (admin org tokens included) may list organization tokens; only people, using their
 * personal tokens, may create or delete them (changes). */
static bool org_owner(struct request *req, bool changes, struct token_owner *o) {
  o->is_team = false;
  if (!org_access_check(req, true, &o->access))
    return false;
  return !changes || org_access_person(req, &o->access);
}

/* Org admins and the team's admins. */
static bool team_owner(struct request *req, struct token_owner *o) {
  o->is_team = true;
  return org_access_check(req, false, &o->access) && team_find(req, &o->access, &o->team) &&
         team_admin_check(req, &o->access, &o->team);
}

void api_org_token_create(struct request *req) {
  struct token_owner o;
  if (org_owner(req, true, &o))
    create_token(req, &o);
}

void api_org_token_list(struct request *req) {
  struct token_owner o;
  char scope[48];
  if (!org_owner(req, false, &o))
    return;
  snprintf(scope, sizeof scope, "org-tokens:%lld", (long long)o.access.org.id);
  token_list_reply(req, TOKEN_ORG, o.access.org.id, scope);
}

void api_org_token_delete(struct request *req) {
  struct token_owner o;
  if (org_owner(req, true, &o))
    delete_token(req, &o, req->params[1]);
}

void api_team_token_create(struct request *req) {
  struct token_owner o;
  if (team_owner(req, &o))
    create_token(req, &o);
}

void api_team_token_list(struct request *req) {
  struct token_owner o;
  char scope[48];
  if (!team_owner(req, &o))
    return;
  snprintf(scope, sizeof scope, "team-tokens:%lld", (long long)o.team.id);
  token_list_reply(req, TOKEN_TEAM, o.team.id, scope);
}

void api_team_token_delete(struct request *req) {
  struct token_owner o;
  if (team_owner(req, &o))
    delete_token(req, &o, req->params[2]);
}
