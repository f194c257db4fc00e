/* Route matching (http/router.c) against the real route table (api/routes.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "api/api.h"
#include "http/router.h"

#include <stdlib.h>
#include <string.h>

static enum route_match find(const char *method, const char *path, struct request *req,
                             const struct route **found, const char **allow) {
  memset(req, 0, sizeof *req);
  *found = NULL;
  *allow = NULL;
  return router_find(api_routes, method, path, req, found, allow);
}

static void known_routes_match_exactly(void **state) {
  (void)state;
  struct request req;
  const struct route *r;
  const char *allow;
  assert_int_equal(find("GET", "/api/user", &req, &r, &allow), ROUTE_FOUND);
  assert_string_equal(r->pattern, "/api/user");
  assert_true(r->needs_auth);
  assert_int_equal(find("GET", "/healthz", &req, &r, &allow), ROUTE_FOUND);
  assert_false(r->needs_auth);
  assert_int_equal(find("GET", "/api/user/", &req, &r, &allow), ROUTE_NO_PATH);
  assert_int_equal(find("GET", "/api/users", &req, &r, &allow), ROUTE_NO_PATH);
  assert_int_equal(find("GET", "/api", &req, &r, &allow), ROUTE_NO_PATH);
  assert_int_equal(find("GET", "", &req, &r, &allow), ROUTE_NO_PATH);
}

static void parameters_are_single_non_empty_segments(void **state) {
  (void)state;
  struct request req;
  const struct route *r;
  const char *allow;
  assert_int_equal(find("DELETE", "/api/user/tokens/abc-123", &req, &r, &allow), ROUTE_FOUND);
  assert_string_equal(req.params[0], "abc-123");
  free(req.params[0]);
  assert_int_equal(find("DELETE", "/api/user/tokens/", &req, &r, &allow), ROUTE_NO_PATH);
  assert_int_equal(find("DELETE", "/api/user/tokens/a/b", &req, &r, &allow), ROUTE_NO_PATH);
}

static void wrong_methods_list_the_allowed_ones(void **state) {
  (void)state;
  struct request req;
  const struct route *r;
  const char *allow;
  assert_int_equal(find("PUT", "/api/user/tokens", &req, &r, &allow), ROUTE_NO_METHOD);
  assert_string_equal(allow, "GET, HEAD, POST");
  assert_int_equal(find("GET", "/api/user/tokens/x", &req, &r, &allow), ROUTE_NO_METHOD);
  assert_string_equal(allow, "DELETE");
  assert_int_equal(find("get", "/api/user", &req, &r, &allow), ROUTE_NO_METHOD); /* case matters */
  assert_string_equal(allow, "GET, HEAD");
}

static void head_finds_the_get_route(void **state) {
  (void)state;
  struct request req;
  const struct route *r;
  const char *allow;
  assert_int_equal(find("HEAD", "/api/user", &req, &r, &allow), ROUTE_FOUND);
  assert_string_equal(r->method, "GET");
  assert_int_equal(find("HEAD", "/api/user/tokens/x", &req, &r, &allow), ROUTE_NO_METHOD);
  assert_string_equal(allow, "DELETE");
}

static void only_standard_methods_are_shown(void **state) {
  (void)state;
  assert_string_equal(router_method_shown("PATCH"), "PATCH");
  assert_string_equal(router_method_shown("pul-0123456789abcdef0123456789abcdef01234567"), "OTHER");
  assert_string_equal(router_method_shown("get"), "OTHER");
  assert_string_equal(router_method_shown(""), "OTHER");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(known_routes_match_exactly),
      cmocka_unit_test(parameters_are_single_non_empty_segments),
      cmocka_unit_test(wrong_methods_list_the_allowed_ones),
      cmocka_unit_test(head_finds_the_get_route),
      cmocka_unit_test(only_standard_methods_are_shown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
