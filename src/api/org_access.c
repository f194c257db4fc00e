#include "api/org_access.h"

#include "api/audit_event.h"
#include "core/error.h"
#include "core/expiry.h"
#include "core/names.h"
#include "core/timeutil.h"
#include "http/accesslog.h"

#include <stdio.h>
#include <string.h>

static void not_found(struct request *req) {
  reply_error(req, TE_NOT_FOUND, "organization not found.");
}

/* Audits a refused request against the organization (queued, not awaited). */
static void audit_refusal(struct request *req, const struct store_org *org, const char *event,
                          bool needed_admin, const char *why) {
  struct store *store = req->app->store;
  struct audit_record a;
  char shown[256];
  /* The path as the client sent it may hold anything: it is recorded redacted and escaped. */
  accesslog_show_path(req->path, shown, sizeof shown);
  audit_event(&a, req, org->name, event, needed_admin, "%s %s refused: %s", req->method, shown,
              why);
  a.auth_failure = true;
  audit_event_queue(store, &a);
}

/* The organization's cap on token lifetimes applies to every token used against it. */
static bool within_policy(struct request *req, const struct store_org *org, bool need_admin) {
  int days = org->max_token_expiry_days;
  const struct store_token *t = &req->principal.token;
  int64_t now = time_now();
  /* Tokens from an OIDC exchange are exempt: the issuer's maxExpiration bounds them. So are
   * console sessions opened with a password, as Pulumi's web sessions are; a session opened with
   * a token stands for that token, whose expiry is what counts. */
  int64_t expires = t->expires;
  if (t->source == TOKEN_SOURCE_SESSION && req->principal.parent_expires >= 0)
    expires = req->principal.parent_expires;
  else if (t->source == TOKEN_SOURCE_SESSION || t->oidc_issuer[0])
    return true;
  if (expiry_within_policy(expires, now, days))
    return true;
  char why[160], left[48], fix[160];
  /* Rounded up: a token 30 days and 2 hours from expiry is not one that "expires in 30 days". */
  if (expires)
    snprintf(left, sizeof left, "expires in %lld days",
             (long long)((expires - now + 86399) / 86400));
  else
    snprintf(left, sizeof left, "never expires");
  if (t->kind == TOKEN_PERSONAL)
    snprintf(fix, sizeof fix, "Create a token that expires within %d days.", days);
  else
    snprintf(fix, sizeof fix, "An admin of %s must issue a token that expires within %d days.",
             org->name, days);
  snprintf(why, sizeof why, "organization %s accepts only access tokens that expire within %d days",
           org->name, days);
  audit_refusal(req, org, "auth-failure-token-expiry-policy", need_admin, why);
  req->auth_result = METRICS_AUTH_POLICY;
  reply_error(req, TE_FORBIDDEN, "%s; this token %s. %s", why, left, fix);
  return false;
}

/* Where the caller stands: member or not, admin or not. */
static int standing(struct request *req, const struct store_org *org, bool *member, bool *admin) {
  const struct store_principal *p = &req->principal;
  if (p->scope_org_id && p->scope_org_id != org->id) { /* confined elsewhere: an outsider here */
    *member = *admin = false;
    return TE_OK;
  }
  if (p->token.kind != TOKEN_PERSONAL) {
    *member = p->token.org_id == org->id;
    *admin = *member && p->token.kind == TOKEN_ORG && p->token.admin;
    return TE_OK;
  }
  struct store *store = req->app->store;
  char role[16] = "";
  int rc = store->ops->org_role(store, org->id, p->user.id, role);
  if (rc && rc != TE_NOT_FOUND)
    return rc;
  *member = rc == TE_OK;
  *admin = p->user.site_admin || (*member && strcmp(role, "admin") == 0);
  return TE_OK;
}

bool org_access_check(struct request *req, bool need_admin, struct org_access *out) {
  struct store *store = req->app->store;
  const char *name = req->params[0];
  int rc =
      strlen(name) <= LOGIN_MAX ? store->ops->org_by_name(store, name, &out->org) : TE_NOT_FOUND;
  bool member = false;
  if (rc == TE_OK)
    rc = standing(req, &out->org, &member, &out->admin);
  if (rc == TE_OK && !member && !out->admin)
    rc = TE_NOT_FOUND;
  if (rc == TE_NOT_FOUND)
    not_found(req);
  else if (rc)
    reply_failure(req, rc, "");
  if (rc || !within_policy(req, &out->org, need_admin))
    return false;
  if (need_admin && !out->admin) {
    org_access_refuse(req, out, "the admin role in organization");
    return false;
  }
  return true;
}

struct store_actor org_actor(struct request *req, enum store_actor_need need) {
  return (struct store_actor){
      .token_seq = req->principal.token.seq, .user_id = req->principal.user.id, .need = need};
}

struct store_actor org_actor_changing_access(struct request *req, enum store_actor_need need) {
  struct store_actor actor = org_actor(req, need);
  actor.changes_access = true;
  return actor;
}

bool org_access_may_change_access(struct request *req, const struct org_access *access) {
  const struct store_token *t = &req->principal.token;
  if (!t->oidc_issuer[0] || t->manage_access)
    return true;
  char why[256];
  snprintf(why, sizeof why,
           "a token from OIDC issuer %s changes membership, roles or the lifetime policy only when "
           "the issuer's policy grants \"manage-access\"",
           req->principal.issuer_name);
  audit_refusal(req, &access->org, "auth-failure-organization-role", true, why);
  reply_error(req, TE_FORBIDDEN, "%s; this one's did not.", why);
  return false;
}

void org_access_refuse(struct request *req, const struct org_access *access, const char *needed) {
  char why[160];
  snprintf(why, sizeof why, "requires %s %s", needed, access->org.name);
  audit_refusal(req, &access->org, "auth-failure-organization-role", true, why);
  reply_error(req, TE_FORBIDDEN, "this requires %s %s.", needed, access->org.name);
}

bool org_access_person(struct request *req, const struct org_access *access) {
  if (principal_is_person(&req->principal))
    return true;
  org_access_refuse(req, access, "a user's own access token with the admin role in organization");
  return false;
}

bool team_find(struct request *req, const struct org_access *access, struct store_team *out) {
  struct store *store = req->app->store;
  const char *name = req->params[1];
  int rc =
      name_is_valid(name) ? store->ops->team_get(store, access->org.id, name, out) : TE_NOT_FOUND;
  if (rc == TE_NOT_FOUND)
    reply_error(req, TE_NOT_FOUND, "team not found.");
  else if (rc)
    reply_failure(req, rc, "");
  return rc == TE_OK;
}

const char *team_caller_role(struct request *req, const struct store_team *team, char role[16]) {
  struct store *store = req->app->store;
  if (req->principal.token.kind != TOKEN_PERSONAL ||
      store->ops->team_role(store, team->id, req->principal.user.id, role) != TE_OK)
    snprintf(role, 16, "none");
  return role;
}

bool team_admin_check(struct request *req, const struct org_access *access,
                      const struct store_team *team) {
  char role[16];
  if (access->admin || strcmp(team_caller_role(req, team, role), "admin") == 0)
    return true;
  org_access_refuse(req, access, "the admin role in this team or in organization");
  return false;
}
