#include "api/api.h"

#include "api/view_cache.h"
#include "core/error.h"

#include <stdlib.h>
#include <string.h>

static int load_memberships(struct request *req, struct store_membership **out, size_t *count) {
  struct store *store = req->app->store;
  int rc = store->ops->memberships(store, req->principal.user.id, out, count);
  if (rc)
    reply_failure(req, rc, "");
  return rc;
}

static json_t *organizations_json(const struct store_membership *m, size_t count) {
  json_t *orgs = json_array();
  for (size_t i = 0; i < count; i++)
    json_array_append_new(orgs, json_pack("{s:s, s:s, s:s, s:s}", "name", m[i].org, "githubLogin",
                                          m[i].org, "avatarUrl", "", "role", m[i].role));
  return orgs;
}

/* A machine token's view of itself: the organization as the user, with tokenInfo (whose three keys
 * the spec requires, team "" for organization tokens), a member of its organization only. */
static json_t *machine_user_json(const struct store_principal *p) {
  const char *role = p->token.kind == TOKEN_ORG && p->token.admin ? "admin" : "member";
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:[], s:b, s:b, s:[{s:s, s:s, s:s, s:s}], "
                   "s:b, s:{s:s, s:s, s:s}}",
                   "id", p->user.uuid, "githubLogin", p->org, "name", p->token.name, "email", "",
                   "avatarUrl", "", "hasMFA", 0, "identities", "isManagedByMultiOrg", 0,
                   "isOrgManaged", 0, "organizations", "name", p->org, "githubLogin", p->org,
                   "avatarUrl", "", "role", role, "siteAdmin", 0, "tokenInfo", "name",
                   p->token.name, "organization", p->org, "team", p->team);
}

/* What `pulumi login` and `pulumi whoami` read: githubLogin is the identity they print. */
void api_user_get(struct request *req) {
  const struct store_user *u = &req->principal.user;
  if (req->principal.token.kind != TOKEN_PERSONAL) {
    reply_json(req, 200, machine_user_json(&req->principal));
    return;
  }
  /* A token confined to one organization (from an OIDC exchange) sees only that one, without
   * site-admin powers: its view differs from its user's and is not cached under the user. */
  bool confined = req->principal.scope_org_id != 0;
  const struct view_body *cached = confined ? NULL : view_cache_get(u->id, req->principal.version);
  if (cached) {
    reply_shared(req, 200, cached->text, cached->len, view_body_release, (void *)cached);
    return;
  }
  struct store_membership *memberships;
  size_t count;
  if (load_memberships(req, &memberships, &count))
    return;
  if (confined) {
    size_t kept = 0;
    for (size_t i = 0; i < count; i++)
      if (strcmp(memberships[i].org, req->principal.org) == 0)
        memberships[kept++] = memberships[i];
    count = kept;
  }
  json_t *user = json_pack(
      "{s:s, s:s, s:s, s:s, s:s, s:b, s:[], s:b, s:b, s:o, s:b}", "id", u->uuid, "githubLogin",
      u->login, "name", u->name[0] ? u->name : u->login, "email", u->email, "avatarUrl", "",
      "hasMFA", 0, "identities", "isManagedByMultiOrg", 0, "isOrgManaged", 0, "organizations",
      organizations_json(memberships, count), "siteAdmin", u->site_admin);
  free(memberships);
  reply_json(req, 200, user);
  /* Rendered after the memberships were read, so it shows data at least as new as the version. */
  if (req->status == 200 && !confined)
    view_cache_put(u->id, req->principal.version, req->reply_body);
}

void api_user_default_org(struct request *req) {
  if (req->principal.scope_org_id) {
    reply_json(req, 200, json_pack("{s:s, s:[]}", "GitHubLogin", req->principal.org, "Messages"));
    return;
  }
  struct store_membership *memberships;
  size_t count;
  if (load_memberships(req, &memberships, &count))
    return;
  if (count == 0)
    reply_error(req, TE_BAD_REQUEST, "User is not a member of any organizations.");
  else
    reply_json(req, 200, json_pack("{s:s, s:[]}", "GitHubLogin", memberships[0].org, "Messages"));
  free(memberships);
}
