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

static const char *allow_for(const char *path) {
  static __thread char allow[64]; /* "GET, POST, DELETE" at most: the table is ours */
  const char *params[ROUTE_PARAMS_MAX];
  allow[0] = '\0';
  for (const struct route *r = routes; r->method; r++) {
    if (match(r->pattern, path, params) < 0 || strstr(allow, r->method))
      continue;
    if (allow[0])
      strncat(allow, ", ", sizeof allow - strlen(allow) - 1);
    strncat(allow, r->method, sizeof allow - strlen(allow) - 1);
  }
  return allow;
}

enum route_match router_find(const char *method, const char *path, struct request *req,
                             const struct route **found, const char **allow) {
  const char *params[ROUTE_PARAMS_MAX];
  bool path_known = false;
  for (const struct route *r = routes; r->method; r++) {
    int n = match(r->pattern, path, params);
    if (n < 0)
      continue;
    path_known = true;
    if (strcmp(r->method, method) != 0)
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
  *allow = allow_for(path);
  return ROUTE_NO_METHOD;
}
