/* core/error.c and reply_error (http/request.c): the one error table. Every TE_* code has one HTTP
 * status and reason phrase, and nothing unknown passes for a success. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/error.h"
#include "http/request.h"

#include <stdlib.h>
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

/* reply_error takes a TE_* code; a status (or TE_OK) given by mistake is a bug, answered 500. */
static void replies_are_made_from_codes(void **state) {
  (void)state;
  struct request req;
  memset(&req, 0, sizeof req);
  reply_error(&req, TE_CONFLICT, "team %s exists.", "ops");
  assert_int_equal(req.status, 409);
  assert_string_equal(req.reply_body, "{\"code\":409,\"message\":\"Conflict: team ops exists.\"}");
  reply_error(&req, 404, "a status where a code belongs");
  assert_int_equal(req.status, 500);
  reply_error(&req, TE_OK, "not an error");
  assert_int_equal(req.status, 500);
  reply_failure(&req, TE_UNAVAILABLE, "internal detail");
  assert_int_equal(req.status, 503);
  assert_null(strstr(req.reply_body, "internal detail"));
  free(req.reply_body);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_code_has_its_status_and_phrase),
      cmocka_unit_test(unknown_codes_are_internal_errors),
      cmocka_unit_test(replies_are_made_from_codes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
