#include "http/router.h"

#include <stdlib.h>
#include <string.h>

/* Matches path against pattern; on success points params at the {} segments inside path. */
static int match(const char *pattern, const char *path, const char *params[ROUTE_PARAMS_MAX]) {
  int n = 0;
  while (*pattern && *path) {
    if (pattern[0] == '{' && pattern[1] == '}') {
      size_t len = strcspn(path, "/");
      if (len == 0 || n == ROUTE_PARAMS_MAX)
        return -1;
      params[n++] = path;
      path += len;
      pattern += 2;
    } else if (*pattern++ != *path++) {
      return -1;
    }
  }
  return *pattern == '\0' && *path == '\0' ? n : -1;
}

static void allow_add(char *allow, size_t size, const char *method) {
  if (strstr(allow, method))
    return;
  if (allow[0])
    strncat(allow, ", ", size - strlen(allow) - 1);
  strncat(allow, method, size - strlen(allow) - 1);
}

static const char *allow_for(const struct route *table, const char *path) {
  static __thread char allow[64]; /* "GET, HEAD, POST, DELETE" at most: the table is ours */
  const char *params[ROUTE_PARAMS_MAX];
  allow[0] = '\0';
  for (const struct route *r = table; r->method; r++) {
    if (match(r->pattern, path, params) < 0)
      continue;
    allow_add(allow, sizeof allow, r->method);
    if (strcmp(r->method, "GET") == 0)
      allow_add(allow, sizeof allow, "HEAD");
  }
  return allow;
}

static const char *const known_methods[ROUTER_METHODS - 1] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};

int router_method_index(const char *method) {
  for (int i = 0; i < ROUTER_METHODS - 1; i++)
    if (strcmp(method, known_methods[i]) == 0)
      return i;
  return ROUTER_METHODS - 1;
}

const char *router_method_name(int index) {
  return index >= 0 && index < ROUTER_METHODS - 1 ? known_methods[index] : "OTHER";
}

const char *router_method_shown(const char *method) {
  return router_method_name(router_method_index(method));
}

enum route_match router_find(const struct route *table, const char *method, const char *path,
                             struct request *req, const struct route **found, const char **allow) {
  const char *params[ROUTE_PARAMS_MAX];
  bool path_known = false;
  /* HEAD is GET without the body (RFC 9110 §9.3.2); libmicrohttpd leaves the body out. */
  const char *wanted = strcmp(method, "HEAD") == 0 ? "GET" : method;
  for (const struct route *r = table; r->method; r++) {
    int n = match(r->pattern, path, params);
    if (n < 0)
      continue;
    path_known = true;
    if (strcmp(r->method, wanted) != 0)
      continue;
    for (int i = 0; i < n; i++) {
      req->params[i] = strndup(params[i], strcspn(params[i], "/"));
      if (!req->params[i])
        abort();
    }
    *found = r;
    return ROUTE_FOUND;
  }
  if (!path_known)
    return ROUTE_NO_PATH;
  *allow = allow_for(table, path);
  return ROUTE_NO_METHOD;
}
