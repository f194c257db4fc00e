/* api/sign_in_budget.c: a client's minute of failures, and an account's growing, bounded delay. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "api/sign_in_budget.h"

#include <stdio.h>

static void a_client_gets_ten_failures_a_minute(void **state) {
  (void)state;
  for (int i = 0; i < CLIENT_FAILURES; i++) {
    assert_int_equal(sign_in_client_wait_ms("192.0.2.1"), 0);
    sign_in_failed("192.0.2.1", NULL);
  }
  int64_t wait = sign_in_client_wait_ms("192.0.2.1");
  assert_true(wait > (CLIENT_WINDOW_S - 5) * 1000 && wait <= CLIENT_WINDOW_S * 1000);
  assert_int_equal(sign_in_client_wait_ms("192.0.2.2"), 0); /* nobody else's */
}

static void an_ipv6_client_is_its_slash_64(void **state) {
  (void)state;
  for (int i = 0; i < CLIENT_FAILURES; i++)
    sign_in_failed(i % 2 ? "2001:db8:1:2::a" : "2001:db8:1:2:ffff::b", NULL);
  assert_true(sign_in_client_wait_ms("2001:db8:1:2::c") > 0);
  assert_int_equal(sign_in_client_wait_ms("2001:db8:1:3::a"), 0);
}

static void an_account_slows_down_after_its_free_failures(void **state) {
  (void)state;
  /* from many addresses: the client budget never bites, the account's does */
  char ip[32];
  for (int i = 0; i < ACCOUNT_FREE_FAILURES; i++) {
    assert_int_equal(sign_in_account_wait_ms("Alice"), 0);
    snprintf(ip, sizeof ip, "198.51.100.%d", i);
    sign_in_failed(ip, "alice");
  }
  assert_int_equal(sign_in_account_wait_ms("alice"), 0);
  int64_t expected_s[] = {1, 2, 4, 8, 16, 30, 30, 30};
  for (size_t i = 0; i < sizeof expected_s / sizeof expected_s[0]; i++) {
    snprintf(ip, sizeof ip, "198.51.101.%zu", i);
    sign_in_failed(ip, "alice");
    int64_t wait = sign_in_account_wait_ms("ALICE"); /* logins are compared without case */
    assert_true(wait > expected_s[i] * 1000 - 500 && wait <= expected_s[i] * 1000);
  }
  assert_true(sign_in_account_wait_ms("alice") <= ACCOUNT_MAX_DELAY_S * 1000);
  assert_int_equal(sign_in_account_wait_ms("bob"), 0);
  sign_in_succeeded("alice");
  assert_int_equal(sign_in_account_wait_ms("alice"), 0);
  sign_in_failed("198.51.102.1", "alice");
  assert_int_equal(sign_in_account_wait_ms("alice"), 0); /* counting starts again */
}

static void many_accounts_do_not_push_out_a_slowed_one_by_aim(void **state) {
  (void)state;
  for (int i = 0; i < ACCOUNT_FREE_FAILURES + 1; i++)
    sign_in_failed("203.0.113.1", "target");
  assert_true(sign_in_account_wait_ms("target") > 0);
  /* a few hundred other logins land elsewhere: the slots come from a secret-keyed hash */
  char login[32];
  for (int i = 0; i < 300; i++) {
    snprintf(login, sizeof login, "spray%d", i);
    sign_in_failed("203.0.113.2", login);
  }
  assert_true(sign_in_account_wait_ms("target") > 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_client_gets_ten_failures_a_minute),
      cmocka_unit_test(an_ipv6_client_is_its_slash_64),
      cmocka_unit_test(an_account_slows_down_after_its_free_failures),
      cmocka_unit_test(many_accounts_do_not_push_out_a_slowed_one_by_aim),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
