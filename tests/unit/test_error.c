/* core/error.c: the one error table. Every TE_* code has one HTTP status and reason phrase, and
 * nothing unknown passes for a success. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/error.h"

#include <string.h>

static void every_code_has_its_status_and_phrase(void **state) {
  (void)state;
  static const struct {
    int err, status;
    const char *text;
  } table[] = {
      {TE_OK, 200, "OK"},
      {TE_BAD_REQUEST, 400, "Bad Request"},
      {TE_UNAUTHORIZED, 401, "Unauthorized"},
      {TE_FORBIDDEN, 403, "Forbidden"},
      {TE_NOT_FOUND, 404, "Not Found"},
      {TE_METHOD_NOT_ALLOWED, 405, "Method Not Allowed"},
      {TE_CONFLICT, 409, "Conflict"},
      {TE_TOO_LARGE, 413, NULL},
      {TE_URI_TOO_LONG, 414, NULL},
      {TE_UNSUPPORTED_MEDIA, 415, "Unsupported Media Type"},
      {TE_TOO_MANY_REQUESTS, 429, "Too Many Requests"},
      {TE_HEADERS_TOO_LARGE, 431, "Request Header Fields Too Large"},
      {TE_INTERNAL, 500, "Internal Server Error"},
      {TE_NOT_IMPLEMENTED, 501, "Not Implemented"},
      {TE_UNAVAILABLE, 503, "Service Unavailable"},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    assert_int_equal(error_http_status(table[i].err), table[i].status);
    const char *text = error_status_text(table[i].status);
    assert_string_not_equal(text, "Error");
    if (table[i].text)
      assert_string_equal(text, table[i].text);
  }
}

static void unknown_codes_are_internal_errors(void **state) {
  (void)state;
  assert_int_equal(error_http_status(-999), 500);
  assert_int_equal(error_http_status(7), 500);
  assert_string_equal(error_status_text(299), "Error");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_code_has_its_status_and_phrase),
      cmocka_unit_test(unknown_codes_are_internal_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
