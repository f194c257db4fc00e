#ifndef TESSERA_HTTP_ROUTER_H
#define TESSERA_HTTP_ROUTER_H

#include "http/request.h"

#include <stdbool.h>

typedef void (*route_handler)(struct request *req);

struct route {
  const char *method;
  const char *pattern; /* "/api/user/tokens/{}": each {} matches one non-empty segment */
  route_handler handler;
  bool needs_auth;
};

enum route_match { ROUTE_FOUND, ROUTE_NO_PATH, ROUTE_NO_METHOD };

/* Finds the route for method and path in `table` (ended by an entry with a NULL method: the
 * layer above owns it, api/routes.c), filling req->params; HEAD finds the GET route. On
 * ROUTE_NO_METHOD, *allow lists the methods the path does accept (a thread's static string). */
enum route_match router_find(const struct route *table, const char *method, const char *path,
                             struct request *req, const struct route **found, const char **allow);

/* The method as logs and errors may show it: one of RFC 9110's, else "OTHER" (a client can send
 * any token as its method, a pasted secret too). */
const char *router_method_shown(const char *method);

/* The same as a number below ROUTER_METHODS (the last is "OTHER"), and back: for metrics, whose
 * series are found by small keys. */
#define ROUTER_METHODS 10
int router_method_index(const char *method);
const char *router_method_name(int index);

#endif
