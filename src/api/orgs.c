/* GetOrganization and the organization's members: ListOrganizationMembers,
 * AddOrganizationMember, UpdateOrganizationMember, DeleteOrganizationMember. */

#include "api/api.h"

#include "api/audit_event.h"
#include "api/org_access.h"
#include "core/error.h"
#include "core/names.h"
#include "core/paging.h"
#include "core/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MEMBERS_PAGE 100

void api_org_get(struct request *req) {
  struct org_access access;
  if (!org_access_check(req, false, &access))
    return;
  const char *name = access.org.name;
  json_t *org = json_pack("{s:s, s:s, s:s, s:[]}", "name", name, "githubLogin", name, "avatarUrl",
                          "", "repos");
  /* Beyond the Organization schema, as OrganizationMetadata names it: present only when set. */
  if (org && access.org.max_token_expiry_days)
    json_object_set_new(org, "maxAccessTokenExpiryDays",
                        json_integer(access.org.max_token_expiry_days));
  reply_json(req, 200, org);
}

/* OrganizationMember. Emails are shown to admins only: the spec calls them sensitive. */
static json_t *member_json(const struct store_member *m, bool show_email) {
  char created[RFC3339_LEN + 1];
  time_format_rfc3339(m->created, created);
  bool admin = strcmp(m->role, "admin") == 0;
  json_t *user =
      json_pack("{s:s, s:s, s:s}", "name", m->user.name[0] ? m->user.name : m->user.login,
                "githubLogin", m->user.login, "avatarUrl", "");
  if (user && show_email && m->user.email[0])
    json_object_set_new(user, "email", json_string(m->user.email));
  return json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:b, s:o, s:b}", "created", created, "role",
                   m->role, "fgaRole", "id", m->role, "name", admin ? "Admin" : "Member",
                   "modifiedAt", created, "knownToPulumi", 1, "user", user, "virtualAdmin", 0);
}

static void members_scope(const struct store_org *org, char *out, size_t size) {
  snprintf(out, size, "org-members:%lld", (long long)org->id);
}

void api_org_members_list(struct request *req) {
  struct org_access access;
  if (!org_access_check(req, false, &access))
    return;
  const char *type = request_query(req, "type");
  if (type && strcmp(type, "frontend") != 0) {
    reply_error(req, TE_BAD_REQUEST, "type must be frontend: Tessera has no organization backend.");
    return;
  }
  char scope[64];
  members_scope(&access.org, scope, sizeof scope);
  int64_t after = 0;
  const char *continuation = request_query(req, "continuationToken");
  if (continuation && page_token_decode(continuation, scope, &after) != TE_OK) {
    reply_error(req, TE_BAD_REQUEST, "continuationToken is not one this listing returned.");
    return;
  }
  struct store *store = req->app->store;
  struct store_member *members;
  size_t count;
  int rc = store->ops->org_members(store, access.org.id, after, MEMBERS_PAGE + 1, &members, &count);
  if (rc) {
    reply_failure(req, rc, "");
    return;
  }
  json_t *items = json_array();
  for (size_t i = 0; i < count && i < MEMBERS_PAGE; i++) {
    if (json_array_append_new(items, member_json(&members[i], access.admin)) != 0) {
      json_decref(items);
      free(members);
      reply_failure(req, TE_INTERNAL, "");
      return;
    }
  }
  json_t *reply = json_pack("{s:o}", "members", items);
  if (count > MEMBERS_PAGE) {
    char next[CONTINUATION_MAX + 1];
    page_token_encode(members[MEMBERS_PAGE - 1].user.id, scope, next);
    json_object_set_new(reply, "continuationToken", json_string(next));
  }
  free(members);
  reply_json(req, 200, reply);
}

/* The target user of /members/{login}; replies 404 itself. */
static bool target_user(struct request *req, struct store_user *out) {
  const char *login = req->params[1];
  struct store *store = req->app->store;
  int rc = name_is_valid(login) ? store->ops->user_by_login(store, login, out) : TE_NOT_FOUND;
  if (rc == TE_NOT_FOUND)
    reply_error(req, TE_NOT_FOUND, "no user named %s.", name_is_valid(login) ? login : "like that");
  else if (rc)
    reply_failure(req, rc, "");
  return rc == TE_OK;
}

/* Reads {"role": "admin"|"member"} (and, for updates, an fgaRoleId naming the same roles). */
static bool read_role(struct request *req, bool allow_fga, char role[16]) {
  static const char *const add_fields[] = {"role", NULL};
  static const char *const update_fields[] = {"role", "fgaRoleId", NULL};
  json_t *body = request_json_object(req);
  if (!body)
    return false;
  const char *value = NULL, *fga = NULL;
  bool ok = request_fields_allowed(req, body, allow_fga ? update_fields : add_fields) &&
            request_string_field(req, body, "role", 0, 32, &value) &&
            request_string_field(req, body, "fgaRoleId", 0, 64, &fga);
  if (ok && fga && !role_is_valid(fga)) { /* the spec: fgaRoleId wins when both are given */
    reply_error(req, TE_BAD_REQUEST,
                "fgaRoleId must be admin or member: Tessera has no custom roles.");
    ok = false;
  }
  if (ok && !fga && (!value || !role_is_valid(value))) {
    reply_error(req, TE_BAD_REQUEST, "role must be admin or member.");
    ok = false;
  }
  if (ok)
    snprintf(role, 16, "%s", fga ? fga : value);
  json_decref(body);
  return ok;
}

static void member_change_failed(struct request *req, int rc, const struct org_access *access,
                                 const char *login) {
  if (rc == TE_NOT_FOUND)
    reply_error(req, TE_NOT_FOUND, "%s is not a member of this organization.", login);
  else if (rc == TE_BAD_REQUEST)
    reply_error(req, TE_BAD_REQUEST, "an organization must keep at least one admin.");
  else if (rc == TE_CONFLICT)
    reply_error(req, TE_CONFLICT, "%s is already a member of this organization.", login);
  else if (rc == TE_FORBIDDEN) /* the caller's admin role went away while this was queued */
    org_access_refuse(req, access, "the admin role in organization");
  else
    reply_failure(req, rc, "");
}

void api_org_member_add(struct request *req) {
  struct org_access access;
  struct store_user user;
  char role[16];
  if (!org_access_check(req, true, &access) || !org_access_may_change_access(req, &access) ||
      !target_user(req, &user) || !read_role(req, false, role))
    return;
  struct audit_record a;
  audit_event(&a, req, access.org.name, "member-added", true, "added %s to %s as %s", user.login,
              access.org.name, role);
  struct store *store = req->app->store;
  struct store_actor actor = org_actor_changing_access(req, ACTOR_ORG_ADMIN);
  int rc = store->ops->org_member_add(store, &actor, access.org.id, user.id, role, &a);
  if (rc) {
    member_change_failed(req, rc, &access, user.login);
    return;
  }
  struct store_member m = {.user = user, .created = time_now()};
  snprintf(m.role, sizeof m.role, "%s", role);
  /* No email here: an admin of any organization can add any user, so this must not reveal it. */
  reply_json(req, 200, member_json(&m, false));
}

void api_org_member_update(struct request *req) {
  struct org_access access;
  struct store_user user;
  char role[16];
  if (!org_access_check(req, true, &access) || !org_access_may_change_access(req, &access) ||
      !target_user(req, &user) || !read_role(req, true, role))
    return;
  struct audit_record a;
  audit_event(&a, req, access.org.name, "member-role-changed", true, "made %s %s of %s", user.login,
              role, access.org.name);
  struct store *store = req->app->store;
  struct store_actor actor = org_actor_changing_access(req, ACTOR_ORG_ADMIN);
  int rc = store->ops->org_member_update(store, &actor, access.org.id, user.id, role, &a);
  if (rc)
    member_change_failed(req, rc, &access, user.login);
  else
    reply_empty(req, 204);
}

/* The spec: "The caller cannot remove themselves" (400). Non-admins are refused before the target
 * is even looked up, so that they cannot probe which logins exist. */
void api_org_member_delete(struct request *req) {
  struct org_access access;
  struct store_user user;
  if (!org_access_check(req, false, &access))
    return;
  if (req->principal.token.kind == TOKEN_PERSONAL &&
      strcasecmp(req->params[1], req->principal.user.login) == 0) {
    reply_error(req, TE_BAD_REQUEST, "you cannot remove yourself from an organization.");
    return;
  }
  if (!access.admin) {
    org_access_refuse(req, &access, "the admin role in organization");
    return;
  }
  if (!org_access_may_change_access(req, &access) || !target_user(req, &user))
    return;
  struct audit_record a;
  audit_event(&a, req, access.org.name, "member-removed", true, "removed %s from %s", user.login,
              access.org.name);
  struct store *store = req->app->store;
  struct store_actor actor = org_actor_changing_access(req, ACTOR_ORG_ADMIN);
  int rc = store->ops->org_member_remove(store, &actor, access.org.id, user.id, &a);
  if (rc)
    member_change_failed(req, rc, &access, user.login);
  else
    reply_empty(req, 204);
}
