/* core/error.c and reply_error (http/request.c): the one error table. Every TE_* code has one HTTP
 * status and reason phrase, and nothing unknown passes for a success. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/error.h"
#include "http/request.h"

#include <pthread.h>
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
  static struct fixed_error not_an_error = FIXED_ERROR(401, "a status where a code belongs");
  reply_fixed_error(&req, &not_an_error);
  assert_int_equal(req.status, 500);
  assert_null(not_an_error.body); /* nothing rendered, nothing kept */
  reply_failure(&req, TE_UNAVAILABLE, "internal detail");
  assert_int_equal(req.status, 503);
  assert_null(strstr(req.reply_body, "internal detail"));
  free(req.reply_body);
}

/* A fixed error is the body reply_error would render, made once: every reply after the first
 * sends the very same bytes, and letting go of a reply leaves them for the next one. */
static void fixed_errors_are_rendered_once(void **state) {
  (void)state;
  static struct fixed_error refused = FIXED_ERROR(TE_UNAUTHORIZED, "bad credentials.");
  struct request a, b, c;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  memset(&c, 0, sizeof c);
  reply_error(&c, TE_UNAUTHORIZED, "bad credentials.");
  reply_fixed_error(&a, &refused);
  reply_fixed_error(&b, &refused);
  assert_int_equal(a.status, 401);
  assert_int_equal(b.status, 401);
  assert_string_equal(a.reply_body, c.reply_body);
  assert_int_equal(a.reply_len, strlen(c.reply_body));
  assert_ptr_equal(a.reply_body, b.reply_body);
  const char *shared = a.reply_body;
  request_reply_clear(&a); /* must not free what b still sends */
  assert_null(a.reply_body);
  assert_string_equal(b.reply_body, c.reply_body);
  request_reply_clear(&b);
  reply_fixed_error(&a, &refused);
  assert_ptr_equal(a.reply_body, shared);
  request_reply_clear(&a);
  request_reply_clear(&c);
}

static struct fixed_error raced = FIXED_ERROR(TE_FORBIDDEN, "raced.");
static pthread_barrier_t start_together;

static void *reply_raced(void *out) {
  struct request req;
  memset(&req, 0, sizeof req);
  pthread_barrier_wait(&start_together); /* so that first uses really overlap */
  reply_fixed_error(&req, &raced);
  *(const char **)out = req.reply_body;
  request_reply_clear(&req);
  return NULL;
}

/* Threads whose first use races all get the one body that won (the losers' are freed: LeakSanitizer
 * and TSan check that under make test's sanitizer builds). */
static void fixed_errors_race_to_one_body(void **state) {
  (void)state;
  enum { THREADS = 8 };
  pthread_t threads[THREADS];
  const char *bodies[THREADS];
  assert_int_equal(pthread_barrier_init(&start_together, NULL, THREADS), 0);
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(pthread_create(&threads[i], NULL, reply_raced, &bodies[i]), 0);
  for (int i = 0; i < THREADS; i++)
    assert_int_equal(pthread_join(threads[i], NULL), 0);
  pthread_barrier_destroy(&start_together);
  for (int i = 1; i < THREADS; i++)
    assert_ptr_equal(bodies[i], bodies[0]);
  assert_string_equal(bodies[0], "{\"code\":403,\"message\":\"Forbidden: raced.\"}");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_code_has_its_status_and_phrase),
      cmocka_unit_test(unknown_codes_are_internal_errors),
      cmocka_unit_test(replies_are_made_from_codes),
      cmocka_unit_test(fixed_errors_are_rendered_once),
      cmocka_unit_test(fixed_errors_race_to_one_body),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
