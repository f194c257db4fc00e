#include "http/dispatch.h"

#include "core/error.h"
#include "http/accesslog.h"
#include "http/auth.h"
#include "http/router.h"

void dispatch(struct request *req) {
  const struct route *route = NULL;
  char shown[160]; /* client bytes are echoed redacted, escaped and bounded */
  switch (router_find(req->app->routes, req->method, req->path, req, &route, &req->allow)) {
  case ROUTE_NO_PATH:
    reply_error(req, TE_NOT_FOUND, "no route for %s.",
                accesslog_show_path(req->path, shown, sizeof shown));
    return;
  case ROUTE_NO_METHOD: /* a method we do not know is not echoed: it could be a pasted secret */
    reply_error(req, TE_METHOD_NOT_ALLOWED, "%s is not allowed here; allowed: %s.",
                router_method_shown(req->method), req->allow);
    return;
  case ROUTE_FOUND:
    break;
  }
  req->route = route;
  if (route->needs_auth && !auth_authenticate(req))
    return;
  route->handler(req);
  /* deferred first: once deferred, `replied` belongs to whoever finishes the work */
  if (!req->deferred && !req->replied)
    reply_failure(req, TE_INTERNAL, "");
}
