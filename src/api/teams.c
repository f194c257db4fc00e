/* Teams: ListTeams, CreatePulumiTeam, GetTeam, UpdateTeam (texts and member add, remove, promote,
 * demote), DeleteTeam. Members read; org admins create, change and delete; a team's own admins
 * change their team. */

#include "api/api.h"

#include "api/audit_event.h"
#include "api/org_access.h"
#include "core/error.h"
#include "core/names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static json_t *team_json(const struct store_team *t, const char *user_role,
                         const struct store_member *members, size_t count) {
  json_t *team =
      json_pack("{s:s, s:s, s:s, s:s, s:s}", "kind", "pulumi", "name", t->name, "displayName",
                t->display_name, "description", t->description, "userRole", user_role);
  if (team && members) {
    json_t *list = json_array();
    for (size_t i = 0; i < count; i++)
      json_array_append_new(
          list, json_pack("{s:s, s:s, s:s, s:s}", "name",
                          members[i].user.name[0] ? members[i].user.name : members[i].user.login,
                          "githubLogin", members[i].user.login, "avatarUrl", "", "role",
                          members[i].role));
    json_object_set_new(team, "members", list);
  }
  return team;
}

void api_teams_list(struct request *req) {
  struct org_access access;
  if (!org_access_check(req, false, &access))
    return;
  struct store *store = req->app->store;
  struct store_team *teams;
  size_t count;
  int rc = store->ops->teams_list(store, access.org.id, &teams, &count);
  if (rc) {
    reply_failure(req, rc, "");
    return;
  }
  json_t *list = json_array();
  for (size_t i = 0; i < count; i++) {
    char role[16];
    json_array_append_new(list,
                          team_json(&teams[i], team_caller_role(req, &teams[i], role), NULL, 0));
  }
  free(teams);
  reply_json(req, 200, json_pack("{s:o}", "teams", list));
}

static void reply_team(struct request *req, int status, const struct store_team *team) {
  struct store *store = req->app->store;
  struct store_member *members;
  size_t count;
  int rc = store->ops->team_members(store, team->id, &members, &count);
  if (rc) {
    reply_failure(req, rc, "");
    return;
  }
  char role[16];
  reply_json(req, status, team_json(team, team_caller_role(req, team, role), members, count));
  free(members);
}

void api_team_get(struct request *req) {
  struct org_access access;
  struct store_team team;
  if (org_access_check(req, false, &access) && team_find(req, &access, &team))
    reply_team(req, 200, &team);
}

/* CreatePulumiTeamRequest into team; replies 400 itself. Pulumi's Cloud provider also sends
 * "organization" and "teamType", which must then name this organization and a Pulumi team. */
static bool read_create_body(struct request *req, const struct org_access *access,
                             struct store_team *team) {
  static const char *const fields[] = {"name",         "displayName", "description",
                                       "organization", "teamType",    NULL};
  json_t *body = request_json_object(req);
  if (!body)
    return false;
  const char *name, *display, *description, *org, *type;
  bool ok = request_fields_allowed(req, body, fields) &&
            request_text_field(req, body, "name", 0, LOGIN_MAX, &name) &&
            request_text_field(req, body, "displayName", 0, TEAM_DISPLAY_NAME_MAX, &display) &&
            request_text_field(req, body, "description", 0, DESCRIPTION_MAX, &description) &&
            request_text_field(req, body, "organization", 0, LOGIN_MAX, &org) &&
            request_text_field(req, body, "teamType", 0, 16, &type);
  if (ok && (!name || !name_is_valid(name))) {
    reply_error(req, TE_BAD_REQUEST, "name must be 1-%d letters, digits, '.', '_' or '-'.",
                LOGIN_MAX);
    ok = false;
  }
  if (ok && org && strcasecmp(org, access->org.name) != 0) {
    reply_error(req, TE_BAD_REQUEST, "organization must be %s, the organization in the path.",
                access->org.name);
    ok = false;
  }
  if (ok && type && strcmp(type, "pulumi") != 0) {
    reply_error(req, TE_BAD_REQUEST, "teamType must be pulumi: Tessera has no GitHub teams.");
    ok = false;
  }
  if (ok) {
    snprintf(team->name, sizeof team->name, "%s", name);
    snprintf(team->display_name, sizeof team->display_name, "%s", display ? display : name);
    snprintf(team->description, sizeof team->description, "%s", description ? description : "");
  }
  json_decref(body);
  return ok;
}

void api_team_create(struct request *req) {
  struct org_access access;
  if (!org_access_check(req, true, &access))
    return;
  struct store_team team = {0};
  if (!read_create_body(req, &access, &team))
    return;
  struct audit_record a;
  audit_event(&a, req, access.org.name, "team-created", true, "created team %s in %s", team.name,
              access.org.name);
  struct store *store = req->app->store;
  struct store_actor actor = org_actor(req, ACTOR_ORG_ADMIN);
  int rc = store->ops->team_create(store, &actor, access.org.id, &team, &a);
  if (rc == TE_FORBIDDEN)
    org_access_refuse(req, &access, "the admin role in organization");
  else if (rc == TE_CONFLICT)
    reply_error(req, TE_CONFLICT, "organization %s already has a team named %s.", access.org.name,
                team.name);
  else if (rc)
    reply_failure(req, rc, "");
  else if (store->ops->team_get(store, access.org.id, team.name, &team) == TE_OK)
    reply_team(req, 201, &team);
  else
    reply_failure(req, TE_INTERNAL, "");
}

static bool read_member_action(struct request *req, json_t *body, struct store_team_update *u,
                               struct store_user *member) {
  static const char *const actions[] = {"", "add", "remove", "promote", "demote"};
  const char *action, *name;
  if (!request_string_field(req, body, "memberAction", 0, 16, &action) ||
      !request_string_field(req, body, "member", 0, LOGIN_MAX, &name))
    return false;
  if (!action && !name)
    return true;
  if (!action || !name) {
    reply_error(req, TE_BAD_REQUEST,
                "memberAction (add, remove, promote or demote) and member go together.");
    return false;
  }
  for (int i = 1; i < 5; i++)
    if (strcmp(action, actions[i]) == 0)
      u->action = (enum team_member_action)i;
  if (u->action == TEAM_MEMBER_NONE) {
    reply_error(req, TE_BAD_REQUEST, "memberAction must be add, remove, promote or demote.");
    return false;
  }
  struct store *store = req->app->store;
  int rc = name_is_valid(name) ? store->ops->user_by_login(store, name, member) : TE_NOT_FOUND;
  if (rc == TE_NOT_FOUND) {
    reply_error(req, TE_NOT_FOUND, "no user named %s.", name_is_valid(name) ? name : "like that");
    return false;
  }
  if (rc) { /* the store's failure, as such: 503 when it is busy, no internals */
    reply_failure(req, rc, "");
    return false;
  }
  u->member_id = member->id;
  return true;
}

static void team_change_failed(struct request *req, int rc, const struct org_access *access,
                               const struct store_user *member) {
  if (rc == TE_BAD_REQUEST)
    reply_error(req, TE_BAD_REQUEST, "%s is not a member of organization %s.", member->login,
                access->org.name);
  else if (rc == TE_CONFLICT)
    reply_error(req, TE_CONFLICT, "%s is already in this team.", member->login);
  else if (rc == TE_NOT_FOUND)
    reply_error(req, TE_NOT_FOUND, "%s is not in this team.", member->login);
  else if (rc == TE_FORBIDDEN) /* the caller's role went away while this was queued */
    org_access_refuse(req, access, "the admin role in this team or in organization");
  else
    reply_failure(req, rc, "");
}

void api_team_update(struct request *req) {
  static const char *const fields[] = {"newDisplayName", "newDescription", "memberAction", "member",
                                       NULL};
  static const char *const unsupported[] = {
      "addStackPermission",       "editStackPermission",       "removeStack",
      "addEnvironmentPermission", "editEnvironmentPermission", "removeEnvironment"};
  struct org_access access;
  struct store_team team;
  if (!org_access_check(req, false, &access) || !team_find(req, &access, &team) ||
      !team_admin_check(req, &access, &team))
    return;
  json_t *body = request_json_object(req);
  if (!body)
    return;
  for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
    if (json_object_get(body, unsupported[i])) {
      reply_error(req, TE_BAD_REQUEST,
                  "%s: Tessera manages access tokens; it has no stacks or environments.",
                  unsupported[i]);
      json_decref(body);
      return;
    }
  }
  struct store_team_update u = {0};
  struct store_user member = {0};
  bool ok =
      request_fields_allowed(req, body, fields) &&
      request_text_field(req, body, "newDisplayName", 0, TEAM_DISPLAY_NAME_MAX, &u.display_name) &&
      request_text_field(req, body, "newDescription", 0, DESCRIPTION_MAX, &u.description) &&
      read_member_action(req, body, &u, &member);
  if (ok && !u.display_name && !u.description && u.action == TEAM_MEMBER_NONE) {
    reply_error(req, TE_BAD_REQUEST,
                "nothing to change: give newDisplayName, newDescription, or "
                "memberAction with member.");
    ok = false;
  }
  if (ok && u.action != TEAM_MEMBER_NONE && !org_access_may_change_access(req, &access))
    ok = false;
  if (ok) {
    struct audit_record a;
    if (u.action)
      audit_event(&a, req, access.org.name, "team-updated", access.admin, "updated team %s: %s %s",
                  team.name, json_string_value(json_object_get(body, "memberAction")),
                  member.login);
    else
      audit_event(&a, req, access.org.name, "team-updated", access.admin, "updated team %s",
                  team.name);
    struct store *store = req->app->store;
    struct store_actor actor = u.action != TEAM_MEMBER_NONE
                                   ? org_actor_changing_access(req, ACTOR_TEAM_ADMIN)
                                   : org_actor(req, ACTOR_TEAM_ADMIN);
    int rc = store->ops->team_update(store, &actor, access.org.id, team.id, &u, &a);
    if (rc)
      team_change_failed(req, rc, &access, &member);
    else
      reply_empty(req, 204);
  }
  json_decref(body);
}

void api_team_delete(struct request *req) {
  struct org_access access;
  struct store_team team;
  if (!org_access_check(req, true, &access) || !team_find(req, &access, &team))
    return;
  struct audit_record a;
  audit_event(&a, req, access.org.name, "team-deleted", true, "deleted team %s from %s", team.name,
              access.org.name);
  struct store *store = req->app->store;
  struct store_actor actor = org_actor(req, ACTOR_ORG_ADMIN);
  int rc = store->ops->team_delete(store, &actor, access.org.id, team.id, &a);
  if (rc == TE_FORBIDDEN)
    org_access_refuse(req, &access, "the admin role in organization");
  else if (rc)
    reply_failure(req, rc, "team not found.");
  else
    reply_empty(req, 204);
}
