/* api/budget_table.c: fixed windows per key, the /64 client key, a full table giving way. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "api/budget_table.h"

#include <stdio.h>
#include <string.h>

static struct budget_table table = BUDGET_TABLE_INIT;

static void a_window_holds_its_limit_then_tells_the_wait(void **state) {
  (void)state;
  for (int i = 0; i < 3; i++)
    assert_int_equal(budget_window_take(&table, "k1", 3, 60000, 1000 + i), 0);
  assert_int_equal(budget_window_take(&table, "k1", 3, 60000, 2000), 59000);
  assert_int_equal(budget_window_wait_ms(&table, "k1", 3, 60000, 60999), 1);
  /* A refused take spends nothing: the next window starts with the full limit. */
  for (int i = 0; i < 3; i++)
    assert_int_equal(budget_window_take(&table, "k1", 3, 60000, 61000 + i), 0);
  assert_true(budget_window_take(&table, "k1", 3, 60000, 61010) > 0);
  assert_int_equal(budget_window_take(&table, "k2", 3, 60000, 61010), 0); /* nobody else's */
}

static void spending_and_waiting_are_separate(void **state) {
  (void)state;
  assert_int_equal(budget_window_wait_ms(&table, "s1", 2, 1000, 5000), 0);
  budget_window_spend(&table, "s1", 1000, 5000);
  assert_int_equal(budget_window_wait_ms(&table, "s1", 2, 1000, 5100), 0);
  budget_window_spend(&table, "s1", 1000, 5200);
  assert_int_equal(budget_window_wait_ms(&table, "s1", 2, 1000, 5300), 700);
  assert_int_equal(budget_window_wait_ms(&table, "s1", 2, 1000, 6000), 0);
}

static void an_ipv6_client_is_its_64(void **state) {
  (void)state;
  char a[BUDGET_KEY_MAX], b[BUDGET_KEY_MAX], c[BUDGET_KEY_MAX], v4[BUDGET_KEY_MAX];
  budget_client_key("2001:db8:1:2:aaaa::1", a);
  budget_client_key("2001:db8:1:2:bbbb::7", b);
  budget_client_key("2001:db8:1:3::1", c);
  budget_client_key("192.0.2.7", v4);
  assert_string_equal(a, "2001:db8:1:2::");
  char m1[BUDGET_KEY_MAX], m2[BUDGET_KEY_MAX];
  budget_client_key("::ffff:192.0.2.7", m1);
  budget_client_key("::ffff:198.51.100.1", m2);
  assert_string_equal(m1, "192.0.2.7"); /* the same client as its IPv4 form */
  assert_string_equal(m2, "198.51.100.1");
  assert_string_equal(a, b);
  assert_string_not_equal(a, c);
  assert_string_equal(v4, "192.0.2.7");
}

/* Far more keys than slots: the table stays its size, and the newest key is always counted. */
static void a_full_table_gives_way_to_new_keys(void **state) {
  (void)state;
  static struct budget_table full = BUDGET_TABLE_INIT;
  char key[32];
  for (int i = 0; i < BUDGET_SLOTS * 4; i++) {
    snprintf(key, sizeof key, "10.%d.%d.%d", i >> 16 & 255, i >> 8 & 255, i & 255);
    assert_int_equal(budget_window_take(&full, key, 1, 60000, 100000 + i), 0);
    assert_true(budget_window_take(&full, key, 1, 60000, 100000 + i) > 0);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_window_holds_its_limit_then_tells_the_wait),
      cmocka_unit_test(spending_and_waiting_are_separate),
      cmocka_unit_test(an_ipv6_client_is_its_64),
      cmocka_unit_test(a_full_table_gives_way_to_new_keys),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
