/* The URI half of http/framing.c: bytes a URI may not hold, and the query-parameter bound that
 * keeps libmicrohttpd's connection pool from running out. (The head checks need a live
 * connection; tests/robustness/http_framing.test.mjs drives them with real sockets.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "http/framing.h"

#include <stdio.h>
#include <string.h>

static struct framing_uri scan(char *uri) {
  struct framing_uri u;
  framing_scan_uri(uri, &u);
  return u;
}

static void visible_ascii_is_fine(void **state) {
  (void)state;
  char uri[] = "/api/orgs/acme/tokens?filter=all&maxResults=10&x=%00%2F~!$'()*+,;=:@";
  struct framing_uri u = scan(uri);
  assert_false(u.bad_bytes);
  assert_false(u.too_many_params);
  assert_ptr_equal(u.start, uri);
  assert_int_equal(u.len, strlen(uri));
}

static void spaces_controls_and_high_bytes_are_not(void **state) {
  (void)state;
  const unsigned char bad[] = {' ', '\t', '\r', 0x01, 0x1b, 0x7f, 0x80, 0xe9, 0xff};
  for (size_t i = 0; i < sizeof bad; i++) {
    char uri[16];
    snprintf(uri, sizeof uri, "/a%cb?c=d", bad[i]);
    assert_true(scan(uri).bad_bytes);
    snprintf(uri, sizeof uri, "/ab?c=%c", bad[i]);
    assert_true(scan(uri).bad_bytes);
  }
}

static void parameters_are_counted_and_an_excess_is_cut(void **state) {
  (void)state;
  char uri[4096];
  int n = snprintf(uri, sizeof uri, "/healthz?");
  for (int i = 0; i < QUERY_PARAMS_MAX; i++)
    n += snprintf(uri + n, sizeof uri - (size_t)n, "%sp%d=1", i ? "&" : "", i);
  struct framing_uri u = scan(uri);
  assert_false(u.too_many_params);
  assert_string_equal(uri + n - 4, "31=1"); /* untouched */
  snprintf(uri + n, sizeof uri - (size_t)n, "&one=more");
  u = scan(uri);
  assert_true(u.too_many_params);
  /* libmicrohttpd is left an empty query to parse; the length as sent is kept for the 414 */
  assert_string_equal(uri, "/healthz?");
  assert_true(u.len > strlen(uri));
}

static void encoded_nul_and_slash_in_the_path_are_found(void **state) {
  (void)state;
  char nul[] = "/api/user/tokens/%00x", slash[] = "/api/user%2ftokens", upper[] = "/a%2Fb";
  assert_true(scan(nul).hides_bytes);
  assert_true(scan(slash).hides_bytes);
  assert_true(scan(upper).hides_bytes);
  char in_query[] = "/healthz?a=%00&b=%2F", fine[] = "/a%20b%41", slash_query[] = "/h?b=%2F";
  assert_false(scan(in_query).hides_bytes);
  assert_true(scan(in_query).nul_in_query);
  assert_false(scan(slash_query).nul_in_query);
  assert_false(scan(fine).hides_bytes);
  assert_false(scan(fine).nul_in_query);
  assert_false(scan(nul).nul_in_query);
}

static void empty_parameters_count_too(void **state) {
  (void)state;
  char uri[256];
  memset(uri, '&', 200);
  uri[0] = '/';
  uri[1] = '?';
  uri[200] = '\0';
  assert_true(scan(uri).too_many_params); /* each '&' costs libmicrohttpd a record */
  char none[] = "/healthz?";
  assert_false(scan(none).too_many_params);
  char plain[] = "/healthz";
  assert_false(scan(plain).too_many_params);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(visible_ascii_is_fine),
      cmocka_unit_test(spaces_controls_and_high_bytes_are_not),
      cmocka_unit_test(parameters_are_counted_and_an_excess_is_cut),
      cmocka_unit_test(encoded_nul_and_slash_in_the_path_are_found),
      cmocka_unit_test(empty_parameters_count_too),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
