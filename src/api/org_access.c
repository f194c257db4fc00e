#include "api/org_access.h"

#include "api/audit_event.h"
#include "core/error.h"
#include "http/accesslog.h"

#include <string.h>

static void not_found(struct request *req) {
  reply_error(req, 404, "organization not found.");
}

bool org_access_check(struct request *req, bool need_admin, struct org_access *out) {
  struct store *store = req->app->store;
  const char *name = req->params[0];
  int rc =
      strlen(name) <= LOGIN_MAX ? store->ops->org_by_name(store, name, &out->org) : TE_NOT_FOUND;
  if (rc == TE_NOT_FOUND) {
    not_found(req);
    return false;
  }
  if (rc) {
    reply_failure(req, rc, "");
    return false;
  }
  char role[16] = "";
  rc = store->ops->org_role(store, out->org.id, req->principal.user.id, role);
  if (rc && rc != TE_NOT_FOUND) {
    reply_failure(req, rc, "");
    return false;
  }
  bool member = rc == TE_OK;
  out->admin = req->principal.user.site_admin || (member && strcmp(role, "admin") == 0);
  if (!member && !out->admin) {
    not_found(req);
    return false;
  }
  if (need_admin && !out->admin) {
    org_access_refuse(req, out, "the admin role in organization");
    return false;
  }
  return true;
}

struct store_actor org_actor(struct request *req, enum store_actor_need need) {
  return (struct store_actor){req->principal.user.id, need};
}

static void ignore_result(void *arg, int result) {
  (void)arg;
  (void)result;
}

void org_access_refuse(struct request *req, const struct org_access *access, const char *needed) {
  struct store *store = req->app->store;
  struct store_audit a;
  char shown[256];
  /* The path as the client sent it may hold anything: it is recorded redacted and escaped. */
  accesslog_show_path(req->path, shown, sizeof shown);
  audit_event(&a, req, access->org.name, "auth-failure-organization-role", true,
              "%s %s requires %s %s", req->method, shown, needed, access->org.name);
  a.auth_failure = true;
  /* Queued, not awaited: it shares the next group commit, so a burst of refused requests cannot
   * tie up a worker thread with a disk flush each. The refusal stands whatever happens to it. */
  store->ops->audit_append(store, &a, ignore_result, NULL);
  reply_error(req, 403, "this requires %s %s.", needed, access->org.name);
}
