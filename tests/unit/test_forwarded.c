/* http/forwarded.c: trusted-proxy CIDR blocks, and finding the client in X-Forwarded-For. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/error.h"
#include "http/forwarded.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static struct sockaddr_storage addr(const char *text) {
  struct sockaddr_storage s;
  memset(&s, 0, sizeof s);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&s;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&s;
  if (inet_pton(AF_INET, text, &v4->sin_addr) == 1)
    v4->sin_family = AF_INET;
  else {
    assert_int_equal(inet_pton(AF_INET6, text, &v6->sin6_addr), 1);
    v6->sin6_family = AF_INET6;
  }
  return s;
}

static bool contains(const char *cidr, const char *address) {
  struct cidr c;
  assert_int_equal(cidr_parse(cidr, &c), TE_OK);
  struct sockaddr_storage a = addr(address);
  return cidr_contains(&c, (struct sockaddr *)&a);
}

static void blocks_are_parsed_strictly(void **state) {
  (void)state;
  struct cidr c;
  for (const char *ok[] = {"10.0.0.0/8", "127.0.0.1", "0.0.0.0/0", "fd00::/8", "::1", "::/0",
                           "192.168.1.128/25", NULL},
                  **p = ok;
       *p; p++)
    assert_int_equal(cidr_parse(*p, &c), TE_OK);
  for (const char *bad[] = {"", "/8", "10.0.0.0/", "10.0.0.0/33", "10.1.2.3/8", "fd00::1/8",
                            "10.0.0.0/-1", "10.0.0.0/8x", "localhost", "10.0.0", "::/129", NULL},
                  **p = bad;
       *p; p++)
    assert_int_equal(cidr_parse(*p, &c), TE_BAD_REQUEST);
}

static void blocks_contain_what_they_should(void **state) {
  (void)state;
  assert_true(contains("10.0.0.0/8", "10.255.1.2"));
  assert_false(contains("10.0.0.0/8", "11.0.0.1"));
  assert_true(contains("192.168.1.128/25", "192.168.1.200"));
  assert_false(contains("192.168.1.128/25", "192.168.1.127"));
  assert_true(contains("127.0.0.1", "127.0.0.1"));
  assert_false(contains("127.0.0.1", "127.0.0.2"));
  assert_true(contains("fd00::/8", "fd12::1"));
  assert_false(contains("fd00::/8", "fe80::1"));
  assert_true(contains("10.0.0.0/8", "::ffff:10.1.2.3")); /* IPv4 peers on IPv6 sockets */
  assert_false(contains("::/0", "10.1.2.3"));
}

static void client(const char *trusted_text, const char *peer_text, const char *const *xff, int n,
                   const char *want) {
  struct cidr trusted[2];
  int count = 0;
  if (trusted_text)
    assert_int_equal(cidr_parse(trusted_text, &trusted[count++]), TE_OK);
  assert_int_equal(cidr_parse("10.0.0.0/8", &trusted[count++]), TE_OK); /* the proxies' network */
  if (!trusted_text)
    count = 0;
  struct sockaddr_storage peer = addr(peer_text);
  char out[64];
  forwarded_client(trusted, count, (struct sockaddr *)&peer, xff, n, out, sizeof out);
  assert_string_equal(out, want);
}

static void the_client_is_the_first_untrusted_hop_from_the_right(void **state) {
  (void)state;
  const char *one[] = {"203.0.113.7"};
  const char *chain[] = {"198.51.100.1, 203.0.113.7, 10.1.1.1"};
  const char *split[] = {"198.51.100.1, 203.0.113.7", "10.1.1.1"};
  const char *spoofed[] = {"1.2.3.4, 203.0.113.7"};
  const char *ported[] = {"203.0.113.7:4711", "[2001:db8::5]:80"};
  const char *junk[] = {"203.0.113.7, not-an-address"};
  const char *all_trusted[] = {"10.2.2.2, 10.3.3.3"};
  /* without trusted proxies, or from an untrusted peer, the header is anyone's to forge */
  client(NULL, "127.0.0.1", one, 1, "127.0.0.1");
  client("127.0.0.1", "192.0.2.9", one, 1, "192.0.2.9");
  client("127.0.0.1", "127.0.0.1", NULL, 0, "127.0.0.1");
  client("127.0.0.1", "127.0.0.1", one, 1, "203.0.113.7");
  /* past every trusted proxy, and only the rightmost untrusted hop is believed */
  client("127.0.0.1", "127.0.0.1", chain, 1, "203.0.113.7");
  client("127.0.0.1", "127.0.0.1", split, 2, "203.0.113.7");
  client("127.0.0.1", "127.0.0.1", spoofed, 1, "203.0.113.7");
  client("127.0.0.1", "127.0.0.1", ported, 2, "2001:db8::5");
  /* junk written by the nearest proxy: the client is the last hop that could be read */
  client("127.0.0.1", "127.0.0.1", junk, 1, "127.0.0.1");
  client("127.0.0.1", "127.0.0.1", all_trusted, 1, "10.2.2.2");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(blocks_are_parsed_strictly),
      cmocka_unit_test(blocks_contain_what_they_should),
      cmocka_unit_test(the_client_is_the_first_untrusted_hop_from_the_right),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
