#ifndef TESSERA_API_ORG_ACCESS_H
#define TESSERA_API_ORG_ACCESS_H

#include "http/request.h"

#include <stdbool.h>

/* The caller's standing in the organization named by the route's first {} segment. */
struct org_access {
  struct store_org org;
  bool admin; /* org admin, an admin org token of it, or a site admin (admin of every org) */
};

/* Resolves the organization and checks the caller may act in it, as an admin when need_admin.
 * Replies and returns false otherwise: 404 to outsiders (an organization's existence is not
 * disclosed to them; a machine token is an outsider to every other organization), 403 when the
 * caller's token breaks the organization's token-lifetime policy, and 403 to members asking for an
 * admin action. Both 403s are audited. */
bool org_access_check(struct request *req, bool need_admin, struct org_access *out);

/* The caller as the actor of a change that needs the given role (re-checked by the store). */
struct store_actor org_actor(struct request *req, enum store_actor_need need);

/* The same for a change of who has access: membership, roles, the lifetime policy. */
struct store_actor org_actor_changing_access(struct request *req, enum store_actor_need need);

/* Changing who has access (org and team membership and roles, the token-lifetime policy) is
 * refused (403, audited) to a token from an OIDC exchange unless its issuer's policy granted
 * "manage-access": a CI job's short-lived token must not leave lasting admins behind. */
bool org_access_may_change_access(struct request *req, const struct org_access *access);

/* Replies 403 to a member whose role does not allow what they asked, and audits the attempt as
 * auth-failure-organization-role (the refusal stands even if the record cannot be written). */
void org_access_refuse(struct request *req, const struct org_access *access, const char *needed);

/* Handing out credentials (org tokens, OIDC issuers and their policies) is for people using their
 * own tokens: a machine token or one from an OIDC exchange could otherwise mint its successors.
 * Refuses others with org_access_refuse. */
bool org_access_person(struct request *req, const struct org_access *access);

/* Resolves the route's second {} segment as a team of the organization, replying 404 itself. */
bool team_find(struct request *req, const struct org_access *access, struct store_team *out);

/* The caller's role in the team: "admin", "member" or "none" (machine tokens: "none"). */
const char *team_caller_role(struct request *req, const struct store_team *team, char role[16]);

/* Org admins and the team's own admins may manage a team; others get org_access_refuse. */
bool team_admin_check(struct request *req, const struct org_access *access,
                      const struct store_team *team);

#endif
