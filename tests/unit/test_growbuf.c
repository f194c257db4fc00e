/* The bounded body buffer (core/growbuf.c) that the OIDC fetcher and the CLI collect replies in. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/growbuf.h"

#include <stdlib.h>
#include <string.h>

static void appends_up_to_the_bound_and_no_further(void **state) {
  (void)state;
  struct growbuf b = {.max = 8};
  assert_int_equal(growbuf_append("abc", 1, 3, &b), 3);
  assert_int_equal(growbuf_append("de", 2, 1, &b), 2);
  assert_string_equal(b.data, "abcde"); /* NUL-terminated after each append */
  assert_int_equal(b.len, 5);
  assert_false(b.too_big);
  assert_int_equal(growbuf_append("fghi", 1, 4, &b), 0); /* 9 > 8: refused whole */
  assert_true(b.too_big);
  assert_string_equal(b.data, "abcde");
  assert_int_equal(growbuf_append("fgh", 1, 3, &b), 3); /* exactly 8 fits */
  assert_string_equal(b.data, "abcdefgh");
  free(b.data);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(appends_up_to_the_bound_and_no_further)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
