/* Finding token values in a buffer (core/token_find.c), for tessera scan. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/token.h"
#include "core/token_find.h"

#include <stdio.h>
#include <string.h>

#define MAX_HITS 8

struct hits {
  size_t n;
  size_t offset[MAX_HITS], line[MAX_HITS];
};

static struct hits find_all(const char *data, size_t len) {
  struct hits h = {0};
  struct token_finder f;
  token_find_start(&f, data, len);
  size_t offset, line;
  while (token_find_next(&f, &offset, &line)) {
    assert_true(h.n < MAX_HITS);
    h.offset[h.n] = offset;
    h.line[h.n++] = line;
  }
  assert_false(token_find_next(&f, &offset, &line)); /* stays done */
  return h;
}

static struct hits find_in(const char *text) {
  return find_all(text, strlen(text));
}

static char v[TOKEN_VALUE_LEN + 1], w[TOKEN_VALUE_LEN + 1];

static int make_values(void **state) {
  (void)state;
  token_generate(v);
  token_generate(w);
  return 0;
}

static void finds_a_value_alone_and_inside_a_line(void **state) {
  (void)state;
  char text[256];
  struct hits h = find_in(v);
  assert_int_equal(h.n, 1);
  assert_int_equal(h.offset[0], 0);
  assert_int_equal(h.line[0], 1);
  snprintf(text, sizeof text, "a\nb\nexport TOKEN=%s # keep\n", v);
  h = find_in(text);
  assert_int_equal(h.n, 1);
  assert_int_equal(h.offset[0], 17);
  assert_int_equal(h.line[0], 3);
  snprintf(text, sizeof text, "{\"token\":\"%s\"}", v);
  h = find_in(text);
  assert_int_equal(h.n, 1);
  assert_int_equal(h.offset[0], 10);
}

static void refuses_a_broken_checksum(void **state) {
  (void)state;
  char bad[TOKEN_VALUE_LEN + 1];
  memcpy(bad, v, sizeof bad);
  bad[TOKEN_VALUE_LEN - 1] = bad[TOKEN_VALUE_LEN - 1] == '0' ? '1' : '0';
  assert_int_equal(find_in(bad).n, 0);
  memcpy(bad, v, sizeof bad);
  bad[10] = bad[10] == 'a' ? 'b' : 'a'; /* the random part changed, the checksum kept */
  assert_int_equal(find_in(bad).n, 0);
}

static void refuses_uppercase(void **state) {
  (void)state;
  char up[TOKEN_VALUE_LEN + 1];
  memcpy(up, v, sizeof up);
  memcpy(up, "PUL-", 4);
  assert_int_equal(find_in(up).n, 0);
  memcpy(up, v, sizeof up);
  for (char *p = up + 4; *p; p++)
    if (*p >= 'a' && *p <= 'f')
      *p = (char)(*p - 'a' + 'A');
  /* Unchanged only if the value had no letter at all, which a test value must have. */
  assert_string_not_equal(up, v);
  assert_int_equal(find_in(up).n, 0);
}

static void refuses_a_value_glued_to_letters_or_digits(void **state) {
  (void)state;
  char text[256];
  const char *before[] = {"x", "7", "A", "f"};
  const char *after[] = {"0", "a", "g", "Z"};
  for (size_t i = 0; i < 4; i++) {
    snprintf(text, sizeof text, "%s%s", before[i], v);
    assert_int_equal(find_in(text).n, 0);
    snprintf(text, sizeof text, "%s%s", v, after[i]);
    assert_int_equal(find_in(text).n, 0);
  }
  /* Punctuation, blanks and control bytes on either side do not glue. */
  const char *edges[] = {"=", "_", "-", ".", "/", "'", " ", "\t", "\x01", "\xc3\xa9"};
  for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
    snprintf(text, sizeof text, "%s%s%s", edges[i], v, edges[i]);
    struct hits h = find_in(text);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.offset[0], strlen(edges[i]));
  }
}

static void finds_two_on_one_line_and_back_to_back(void **state) {
  (void)state;
  char text[256];
  snprintf(text, sizeof text, "a=%s b=%s\n", v, w);
  struct hits h = find_in(text);
  assert_int_equal(h.n, 2);
  assert_int_equal(h.offset[0], 2);
  assert_int_equal(h.offset[1], 2 + TOKEN_VALUE_LEN + 3);
  assert_int_equal(h.line[0], 1);
  assert_int_equal(h.line[1], 1);
  snprintf(text, sizeof text, "%s,%s", v, v);
  h = find_in(text);
  assert_int_equal(h.n, 2);
  assert_int_equal(h.offset[1], TOKEN_VALUE_LEN + 1);
  snprintf(text, sizeof text, "pul-%s", v); /* "pul-" before a value is not a letter or digit */
  h = find_in(text);
  assert_int_equal(h.n, 1);
  assert_int_equal(h.offset[0], 4);
}

static void handles_the_buffer_end(void **state) {
  (void)state;
  char text[256];
  snprintf(text, sizeof text, "\n\nkey: %s", v);
  struct hits h = find_in(text);
  assert_int_equal(h.n, 1);
  assert_int_equal(h.line[0], 3);
  /* Cut short by the buffer's end (not by a NUL: the length says where the data ends). */
  assert_int_equal(find_all(text, strlen(text) - 1).n, 0);
  assert_int_equal(find_all(v, TOKEN_PREFIX_LEN).n, 0);
  assert_int_equal(find_all("", 0).n, 0);
  assert_int_equal(find_in("pul-").n, 0);
}

static void a_value_split_across_lines_is_not_one(void **state) {
  (void)state;
  char text[256];
  snprintf(text, sizeof text, "%.20s\n%s", v, v + 20);
  assert_int_equal(find_in(text).n, 0);
  snprintf(text, sizeof text, "%.20s\\\n%s", v, v + 20);
  assert_int_equal(find_in(text).n, 0);
}

static void counts_lines_by_newline_with_crlf(void **state) {
  (void)state;
  char text[256];
  snprintf(text, sizeof text, "one\r\ntwo\r\n%s\r\nfour\r\n%s\r\n", v, w);
  struct hits h = find_in(text);
  assert_int_equal(h.n, 2);
  assert_int_equal(h.line[0], 3);
  assert_int_equal(h.line[1], 5);
  assert_int_equal(h.offset[0], 10);
}

static void reads_binary_data_with_nul_bytes(void **state) {
  (void)state;
  char data[200];
  memset(data, 0, sizeof data);
  data[3] = '\n';
  data[50] = '\xff';
  memcpy(data + 100, v, TOKEN_VALUE_LEN); /* NUL bytes on both sides */
  memcpy(data + 60, "pul-", 4);           /* a prefix with nothing after it */
  struct hits h = find_all(data, sizeof data);
  assert_int_equal(h.n, 1);
  assert_int_equal(h.offset[0], 100);
  assert_int_equal(h.line[0], 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(finds_a_value_alone_and_inside_a_line),
      cmocka_unit_test(refuses_a_broken_checksum),
      cmocka_unit_test(refuses_uppercase),
      cmocka_unit_test(refuses_a_value_glued_to_letters_or_digits),
      cmocka_unit_test(finds_two_on_one_line_and_back_to_back),
      cmocka_unit_test(handles_the_buffer_end),
      cmocka_unit_test(a_value_split_across_lines_is_not_one),
      cmocka_unit_test(counts_lines_by_newline_with_crlf),
      cmocka_unit_test(reads_binary_data_with_nul_bytes),
  };
  return cmocka_run_group_tests(tests, make_values, NULL);
}
