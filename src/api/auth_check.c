/* GET /auth/check: forward auth for reverse proxies (nginx auth_request, Caddy forward_auth,
 * Traefik ForwardAuth). The proxy sends the request's Authorization here; 204 with who the token
 * is (X-Tessera-* headers, server.c) lets the request through, 401 (with WWW-Authenticate) or 403
 * stops it. What a route needs is in the query, set by the proxy's configuration:
 *   org=NAME       the token belongs to that organization (its machine tokens, or its members);
 *   role=admin     ...and is an admin there (an admin org token, or an admin member);
 *   team=NAME      ...and belongs to that team (the team's token, or a member of it);
 *   kind=personal|organization|team.
 * Same hot path as GET /api/user: the token and memberships come from the cache; only team=
 * reads the store. A misspelt or repeated requirement is a 400, never a pass. */

#include "api/api.h"

#include "core/error.h"
#include "core/names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The kind a requirement names, spelt exactly as the API spells kinds. */
static bool kind_named(const char *name, enum token_kind *out) {
  for (enum token_kind k = TOKEN_PERSONAL; k <= TOKEN_TEAM; k++)
    if (strcmp(name, token_kind_name(k)) == 0) {
      *out = k;
      return true;
    }
  return false;
}

struct requirements {
  const char *org, *role, *team, *kind;
};

static bool read_requirements(struct request *req, struct requirements *r) {
  static const char *const allowed[] = {"org", "role", "team", "kind", NULL};
  const char *unknown = request_query_unknown(req, allowed);
  if (unknown) {
    reply_error(req, TE_BAD_REQUEST,
                "unknown requirement '%.32s': the query takes org, role, "
                "team and kind",
                unknown);
    return false;
  }
  if (!request_query_single(req, "org", &r->org) || !request_query_single(req, "role", &r->role) ||
      !request_query_single(req, "team", &r->team) ||
      !request_query_single(req, "kind", &r->kind)) {
    reply_error(req, TE_BAD_REQUEST, "each requirement may be given once");
    return false;
  }
  if ((r->org && !name_is_valid(r->org)) || (r->team && !name_is_valid(r->team))) {
    reply_error(req, TE_BAD_REQUEST, "org and team must be names");
    return false;
  }
  if (r->role && strcmp(r->role, "admin") != 0 && strcmp(r->role, "member") != 0) {
    reply_error(req, TE_BAD_REQUEST, "role must be admin or member");
    return false;
  }
  enum token_kind kind;
  if (r->kind && !kind_named(r->kind, &kind)) {
    reply_error(req, TE_BAD_REQUEST, "kind must be personal, organization or team");
    return false;
  }
  if ((r->role || r->team) && !r->org) {
    reply_error(req, TE_BAD_REQUEST, "role and team need org");
    return false;
  }
  return true;
}

/* The principal's role in org ("admin", "member") into role, or "" when it has none there. A
 * machine token has its organization only; a token an OIDC exchange made acts in its issuer's
 * organization only, with its user's role there; any other personal token has its user's. */
static int role_in(struct request *req, const char *org, char role[16]) {
  const struct store_principal *p = &req->principal;
  role[0] = '\0';
  bool confined = p->token.kind != TOKEN_PERSONAL || p->scope_org_id;
  if (confined && strcasecmp(p->org, org) != 0)
    return TE_OK;
  if (p->token.kind != TOKEN_PERSONAL) {
    snprintf(role, 16, "%s", p->token.kind == TOKEN_ORG && p->token.admin ? "admin" : "member");
    return TE_OK;
  }
  struct store *store = req->app->store;
  struct store_membership *m;
  size_t count;
  int rc = store->ops->memberships(store, p->user.id, &m, &count);
  if (rc)
    return rc;
  for (size_t i = 0; i < count; i++)
    if (strcasecmp(m[i].org, org) == 0)
      snprintf(role, 16, "%s", m[i].role);
  free(m);
  return TE_OK;
}

/* Whether the principal is in the team: the team's own token, or a member of it. */
static int in_team(struct request *req, const char *org, const char *team, bool *in) {
  const struct store_principal *p = &req->principal;
  *in = false;
  if (p->token.kind == TOKEN_TEAM) {
    *in = strcasecmp(p->team, team) == 0;
    return TE_OK;
  }
  if (p->token.kind != TOKEN_PERSONAL)
    return TE_OK;
  struct store *store = req->app->store;
  struct store_org o;
  struct store_team t;
  char role[16];
  int rc = store->ops->org_by_name(store, org, &o);
  if (rc == TE_OK)
    rc = store->ops->team_get(store, o.id, team, &t);
  if (rc == TE_OK)
    rc = store->ops->team_role(store, t.id, p->user.id, role);
  *in = rc == TE_OK;
  return rc == TE_NOT_FOUND ? TE_OK : rc;
}

static void check(struct request *req) {
  struct requirements r = {NULL, NULL, NULL, NULL};
  if (!read_requirements(req, &r))
    return;
  const struct store_principal *p = &req->principal;
  enum token_kind kind;
  if (r.kind && (!kind_named(r.kind, &kind) || kind != p->token.kind)) {
    reply_error(req, TE_FORBIDDEN, "this route takes %s tokens only", r.kind);
    return;
  }
  char role[16] = "";
  int rc = r.org ? role_in(req, r.org, role) : TE_OK;
  if (rc) {
    reply_failure(req, rc, "");
    return;
  }
  if (r.org && !role[0]) {
    reply_error(req, TE_FORBIDDEN, "this route is for organization %s", r.org);
    return;
  }
  if (r.role && strcmp(r.role, "admin") == 0 && strcmp(role, "admin") != 0) {
    reply_error(req, TE_FORBIDDEN, "this route is for admins of organization %s", r.org);
    return;
  }
  bool in = true;
  if (r.team && (rc = in_team(req, r.org, r.team, &in)) != TE_OK) {
    reply_failure(req, rc, "");
    return;
  }
  if (!in) {
    reply_error(req, TE_FORBIDDEN, "this route is for team %s of %s", r.team, r.org);
    return;
  }
  req->identity_headers = true;
  snprintf(req->identity_org, sizeof req->identity_org, "%s", r.org ? r.org : p->org);
  snprintf(req->identity_team, sizeof req->identity_team, "%s", r.team ? r.team : p->team);
  reply_empty(req, 204);
}

void api_auth_check(struct request *req) {
  check(req);
  /* Every 403 here is a valid token that does not meet a requirement. Refusals are counted (the
   * 401s by http/auth.c), never written: a proxy asks on every request it forwards. */
  if (req->status == error_http_status(TE_FORBIDDEN))
    req->auth_result = METRICS_AUTH_POLICY;
}
