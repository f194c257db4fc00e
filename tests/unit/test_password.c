/* Console passwords (core/password.c) and the session's CSRF token (http/auth.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/password.h"
#include "http/auth.h"

#include <string.h>

static void hashes_verify_their_password_only(void **state) {
  (void)state;
  char a[PASSWORD_ENCODED_MAX + 1], b[PASSWORD_ENCODED_MAX + 1];
  assert_int_equal(password_hash("correct horse", a), TE_OK);
  assert_int_equal(password_hash("correct horse", b), TE_OK);
  assert_non_null(strstr(a, "$argon2id$"));
  assert_string_not_equal(a, b); /* a fresh salt each time */
  assert_true(password_verify(a, "correct horse"));
  assert_true(password_verify(b, "correct horse"));
  assert_false(password_verify(a, "correct horsf"));
  assert_false(password_verify(a, ""));
  /* No hash, or not an argon2id one, matches nothing (and still costs a check). */
  assert_false(password_verify("", "correct horse"));
  assert_false(password_verify(NULL, "correct horse"));
  assert_false(password_verify("$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$aGFzaA", "x"));
  a[strlen(a) - 2] = a[strlen(a) - 2] == 'A' ? 'B' : 'A';
  assert_false(password_verify(a, "correct horse")); /* a tampered hash */
}

static void csrf_tokens_are_bound_to_their_session(void **state) {
  (void)state;
  char one[CSRF_TOKEN_LEN + 1], again[CSRF_TOKEN_LEN + 1], other[CSRF_TOKEN_LEN + 1];
  const char *s1 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  const char *s2 = "1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  auth_session_csrf(s1, one);
  auth_session_csrf(s1, again);
  auth_session_csrf(s2, other);
  assert_int_equal(strlen(one), CSRF_TOKEN_LEN);
  assert_int_equal(strspn(one, "0123456789abcdef"), CSRF_TOKEN_LEN);
  assert_string_equal(one, again);
  assert_string_not_equal(one, other);
  assert_string_not_equal(one, s1); /* not the session value itself */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(hashes_verify_their_password_only),
      cmocka_unit_test(csrf_tokens_are_bound_to_their_session),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
