/* oidc/fetch.c's rules on where issuer documents may come from: the addresses refused at connect
 * time, in every IPv6 form that carries an IPv4 address, and the URLs refused before. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "oidc/fetch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static bool blocked(const char *text) {
  struct sockaddr_storage s;
  memset(&s, 0, sizeof s);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&s;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&s;
  if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
  } else {
    assert_int_equal(inet_pton(AF_INET6, text, &v6->sin6_addr), 1);
    v6->sin6_family = AF_INET6;
  }
  return oidc_address_blocked((struct sockaddr *)&s);
}

static void internal_addresses_are_blocked_in_every_form(void **state) {
  (void)state;
  const char *refused[] = {
      "127.0.0.1",
      "127.9.9.9",
      "0.0.0.0",
      "169.254.169.254",
      "224.0.0.1",
      "255.255.255.255",
      "::1",
      "::",
      "fe80::1",
      "ff02::1",
      "::ffff:127.0.0.1",
      "::ffff:169.254.169.254", /* IPv4-mapped */
      "::127.0.0.1",
      "::169.254.169.254", /* IPv4-compatible */
      "64:ff9b::7f00:1",
      "64:ff9b::a9fe:a9fe",   /* NAT64 */
      "64:ff9b:1::a9fe:a9fe", /* local-use NAT64 */
      "2002:7f00:1::",
      "2002:a9fe:a9fe::1",
      "2002:e000:1::", /* 6to4 */
  };
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
    if (!blocked(refused[i]))
      fail_msg("%s is not blocked", refused[i]);
}

static void public_and_private_networks_are_not(void **state) {
  (void)state;
  const char *allowed[] = {"93.184.216.34",   "10.1.2.3",           "192.168.0.10",
                           "172.16.5.5",      "2606:4700::1111",    "fd12:3456::1",
                           "::ffff:10.1.2.3", "64:ff9b::5db8:d822", "2002:5db8:d822::1"};
  for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
    if (blocked(allowed[i]))
      fail_msg("%s is blocked", allowed[i]);
}

static void issuer_urls_carry_no_query_fragment_or_credentials(void **state) {
  (void)state;
  assert_true(oidc_issuer_url_allowed("https://token.actions.githubusercontent.com", false));
  assert_true(oidc_issuer_url_allowed("https://gitlab.example.com/oidc/", false));
  assert_false(oidc_issuer_url_allowed("https://ci.example/?tenant=1", false));
  assert_false(oidc_issuer_url_allowed("https://ci.example/#x", false));
  assert_false(oidc_issuer_url_allowed("https://ci.example/?", false));
  assert_false(oidc_issuer_url_allowed("https://user:pw@ci.example/", false));
  assert_false(oidc_issuer_url_allowed("http://ci.example/", true)); /* plain HTTP: loopback only */
  assert_true(oidc_issuer_url_allowed("http://127.0.0.1:8080/i", true));
  assert_false(oidc_issuer_url_allowed("http://127.0.0.1:8080/i", false));
  /* a key set's URL may have a query */
  assert_true(oidc_url_allowed("https://ci.example/keys?v=2", false));
  assert_false(oidc_url_allowed("ftp://ci.example/keys", false));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(internal_addresses_are_blocked_in_every_form),
      cmocka_unit_test(public_and_private_networks_are_not),
      cmocka_unit_test(issuer_urls_carry_no_query_fragment_or_credentials),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
