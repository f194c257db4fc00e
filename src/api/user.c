#include "api/api.h"

#include <stdlib.h>

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

/* What `pulumi login` and `pulumi whoami` read: githubLogin is the identity they print. */
void api_user_get(struct request *req) {
  struct store_membership *memberships;
  size_t count;
  if (load_memberships(req, &memberships, &count))
    return;
  const struct store_user *u = &req->principal.user;
  json_t *user = json_pack(
      "{s:s, s:s, s:s, s:s, s:s, s:b, s:[], s:b, s:b, s:o, s:b}", "id", u->uuid, "githubLogin",
      u->login, "name", u->name[0] ? u->name : u->login, "email", u->email, "avatarUrl", "",
      "hasMFA", 0, "identities", "isManagedByMultiOrg", 0, "isOrgManaged", 0, "organizations",
      organizations_json(memberships, count), "siteAdmin", u->site_admin);
  free(memberships);
  reply_json(req, 200, user);
}

void api_user_default_org(struct request *req) {
  struct store_membership *memberships;
  size_t count;
  if (load_memberships(req, &memberships, &count))
    return;
  if (count == 0)
    reply_error(req, 400, "User is not a member of any organizations.");
  else
    reply_json(req, 200, json_pack("{s:s, s:[]}", "GitHubLogin", memberships[0].org, "Messages"));
  free(memberships);
}
