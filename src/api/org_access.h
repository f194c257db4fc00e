#ifndef TESSERA_API_ORG_ACCESS_H
#define TESSERA_API_ORG_ACCESS_H

#include "http/request.h"

#include <stdbool.h>

/* The caller's standing in the organization named by the route's first {} segment. */
struct org_access {
  struct store_org org;
  bool admin; /* org admin, or a site admin (who administers every organization) */
};

/* Resolves the organization and checks the caller may act in it, as an admin when need_admin.
 * Replies and returns false otherwise: 404 to outsiders (an organization's existence is not
 * disclosed to them), 403 to members asking for an admin action, which is also audited as
 * auth-failure-organization-role. */
bool org_access_check(struct request *req, bool need_admin, struct org_access *out);

/* The caller as the actor of a change that needs the given role (re-checked by the store). */
struct store_actor org_actor(struct request *req, enum store_actor_need need);

/* Replies 403 to a member whose role does not allow what they asked, and audits the attempt as
 * auth-failure-organization-role (the refusal stands even if the record cannot be written). */
void org_access_refuse(struct request *req, const struct org_access *access, const char *needed);

#endif
