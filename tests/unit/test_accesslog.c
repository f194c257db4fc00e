/* The batched access log (http/accesslog.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "http/accesslog.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void escaping_leaves_only_safe_ascii(void **state) {
  (void)state;
  char out[64];
  assert_string_equal(accesslog_escape("/api/user", out, sizeof out), "/api/user");
  assert_string_equal(accesslog_escape("/a\"b\\c%d", out, sizeof out), "/a%22b%5Cc%25d");
  assert_string_equal(accesslog_escape("\x01\n\x7f\xff\xc3\xa9", out, sizeof out),
                      "%01%0A%7F%FF%C3%A9");
  /* truncation never splits an escape */
  char small[8];
  accesslog_escape("\xff\xff\xff", small, sizeof small);
  assert_string_equal(small, "%FF%FF");
}

/* Reads everything written to the pipe so far. */
static char *drain(int fd) {
  static char buf[1 << 16];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  buf[n > 0 ? n : 0] = '\0';
  return buf;
}

static void lines_are_held_until_stop_and_are_valid_json(void **state) {
  (void)state;
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  accesslog_start(fds[1]);
  struct access_entry e = {"req-1", "GET", "/x\"\xff", 404, 12, NULL};
  accesslog_write(&e);
  struct access_entry e2 = {"req-2", "DELETE", "/api/user/tokens/abc", 204, 99, "alice"};
  accesslog_write(&e2);
  accesslog_stop(); /* writes what is pending */
  close(fds[1]);
  char *text = drain(fds[0]);
  close(fds[0]);

  char *second = strchr(text, '\n');
  assert_non_null(second);
  *second++ = '\0';
  json_error_t err;
  json_t *a = json_loads(text, 0, &err), *b = json_loads(second, JSON_DISABLE_EOF_CHECK, &err);
  assert_non_null(a);
  assert_non_null(b);
  assert_string_equal(json_string_value(json_object_get(a, "path")), "/x%22%FF");
  assert_true(json_is_null(json_object_get(a, "user")));
  assert_int_equal(json_integer_value(json_object_get(a, "status")), 404);
  assert_string_equal(json_string_value(json_object_get(b, "user")), "alice");
  assert_string_equal(json_string_value(json_object_get(b, "method")), "DELETE");
  assert_int_equal(json_integer_value(json_object_get(b, "duration_us")), 99);
  json_decref(a);
  json_decref(b);
}

static void a_restart_gives_the_thread_a_fresh_buffer(void **state) {
  (void)state;
  for (int round = 0; round < 3; round++) { /* would touch freed memory under ASan if stale */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    accesslog_start(fds[1]);
    struct access_entry e = {"r", "GET", "/", 200, 1, NULL};
    accesslog_write(&e);
    accesslog_stop();
    close(fds[1]);
    assert_non_null(strstr(drain(fds[0]), "\"request_id\":\"r\""));
    close(fds[0]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(escaping_leaves_only_safe_ascii),
      cmocka_unit_test(lines_are_held_until_stop_and_are_valid_json),
      cmocka_unit_test(a_restart_gives_the_thread_a_fresh_buffer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
