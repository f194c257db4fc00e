/* Names, paging parameters, continuation tokens and the token-lifetime policy (core/names.c,
 * core/paging.c, core/expiry.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/expiry.h"
#include "core/names.h"
#include "core/paging.h"

#include <stdio.h>
#include <string.h>

static void names(void **state) {
  (void)state;
  assert_true(name_is_valid("alice"));
  assert_true(name_is_valid("Acme-Corp.io_2"));
  assert_true(name_is_valid("0day"));
  char longest[LOGIN_MAX + 2];
  memset(longest, 'a', LOGIN_MAX);
  longest[LOGIN_MAX] = '\0';
  assert_true(name_is_valid(longest));
  longest[LOGIN_MAX] = 'a';
  longest[LOGIN_MAX + 1] = '\0';
  assert_false(name_is_valid(longest));
  assert_false(name_is_valid(""));
  assert_false(name_is_valid("-alice"));
  assert_false(name_is_valid(".hidden"));
  assert_false(name_is_valid("a b"));
  assert_false(name_is_valid("a/b"));
  assert_false(name_is_valid("caf\xc3\xa9"));
  assert_true(role_is_valid("admin"));
  assert_true(role_is_valid("member"));
  assert_false(role_is_valid("owner"));
  assert_false(role_is_valid("Admin"));
}

static void token_names(void **state) {
  (void)state;
  assert_true(token_name_is_valid("ci"));
  assert_true(token_name_is_valid("-deploy_Bot-2"));
  char longest[TOKEN_NAME_MAX + 2];
  memset(longest, 'x', TOKEN_NAME_MAX);
  longest[TOKEN_NAME_MAX] = '\0';
  assert_true(token_name_is_valid(longest));
  longest[TOKEN_NAME_MAX] = 'x';
  longest[TOKEN_NAME_MAX + 1] = '\0';
  assert_false(token_name_is_valid(longest));
  assert_false(token_name_is_valid(""));
  assert_false(token_name_is_valid("a.b"));
  assert_false(token_name_is_valid("a b"));
  assert_false(token_name_is_valid("caf\xc3\xa9"));
  assert_false(token_name_is_valid("a/b"));
  assert_true(actor_is_valid("alice"));
  assert_true(actor_is_valid("acme/ci-bot"));
  assert_false(actor_is_valid("acme/"));
  assert_false(actor_is_valid("/ci"));
  assert_false(actor_is_valid("acme/ci/x"));
  assert_false(actor_is_valid("acme/a.b"));
  assert_false(actor_is_valid("-acme/ci"));
}

static void human_expiries(void **state) {
  (void)state;
  int64_t now = 1800000000, out = -1;
  assert_int_equal(expiry_parse_human("never", now, &out), TE_OK);
  assert_int_equal(out, 0);
  assert_int_equal(expiry_parse_human("30d", now, &out), TE_OK);
  assert_int_equal(out, now + 30 * 86400);
  assert_int_equal(expiry_parse_human("2w", now, &out), TE_OK);
  assert_int_equal(out, now + 14 * 86400);
  assert_int_equal(expiry_parse_human("12h", now, &out), TE_OK);
  assert_int_equal(out, now + 12 * 3600);
  assert_int_equal(expiry_parse_human("90m", now, &out), TE_OK);
  assert_int_equal(out, now + 90 * 60);
  assert_int_equal(expiry_parse_human("2027-01-31", now, &out), TE_OK);
  assert_int_equal(out, 1801353600); /* 2027-01-31T00:00:00Z */
  assert_int_equal(expiry_parse_human("2027-01-31T12:00:00Z", now, &out), TE_OK);
  assert_int_equal(out, 1801396800);
  assert_int_equal(expiry_parse_human("0d", now, &out), TE_BAD_REQUEST);
  assert_int_equal(expiry_parse_human("-3d", now, &out), TE_BAD_REQUEST);
  assert_int_equal(expiry_parse_human("3y", now, &out), TE_BAD_REQUEST);
  assert_int_equal(expiry_parse_human("soon", now, &out), TE_BAD_REQUEST);
  assert_int_equal(expiry_parse_human("2027-13-01", now, &out), TE_BAD_REQUEST);
}

/* Found by fuzz/fuzz_time.c: the date form skipped the rule that only a literal 0 means never,
 * so `--expires 1970-01-01` made a token that never expires instead of being refused as past. */
static void human_dates_at_the_epoch_are_past(void **state) {
  (void)state;
  int64_t now = 1800000000, out = 0;
  assert_int_equal(expiry_parse_human("1970-01-01", now, &out), TE_OK);
  assert_int_equal(out, -1);
  assert_int_equal(expiry_parse_human("1969-07-20", now, &out), TE_OK);
  assert_int_equal(out, -1);
  const char *why = NULL;
  assert_int_equal(expiry_check(out, now, &why), TE_BAD_REQUEST);
}

static void expiry_policy(void **state) {
  (void)state;
  int64_t now = 1800000000, day = 86400;
  assert_true(expiry_within_policy(0, now, 0)); /* no policy: anything goes */
  assert_true(expiry_within_policy(now + 5000 * day, now, 0));
  assert_false(expiry_within_policy(0, now, 30)); /* never expires */
  assert_true(expiry_within_policy(now + 30 * day, now, 30));
  assert_false(expiry_within_policy(now + 30 * day + 1, now, 30));
  assert_true(expiry_within_policy(now + 1, now, 1));
  assert_true(expiry_within_policy(now + 3650 * day, now, 3650));
}

static void emails_and_display_names(void **state) {
  (void)state;
  assert_true(email_is_valid(""));
  assert_true(email_is_valid("a@example.com"));
  assert_false(email_is_valid("example.com"));
  assert_false(email_is_valid("@example.com"));
  assert_false(email_is_valid("a@"));
  assert_false(email_is_valid("a@b@c"));
  assert_false(email_is_valid("a b@c"));
  assert_true(display_name_is_valid("Alice Liddell"));
  assert_true(display_name_is_valid("Caf\xc3\xa9"));
  assert_false(display_name_is_valid("Alice\nLiddell"));
  assert_false(display_name_is_valid("Caf\xe9")); /* Latin-1, not UTF-8 */
  assert_false(email_is_valid("caf\xe9@example.com"));
  assert_true(text_is_utf8("d\xc3\xa9j\xc3\xa0 vu"));
  assert_false(text_is_utf8("d\xff"));
}

static void control_characters(void **state) {
  (void)state;
  /* C0 (tab and newline included), DEL and C1 (U+009B is CSI to some terminals) are refused. */
  const char *refused[] = {"a\tb",
                           "a\nb",
                           "\x1b[31m",
                           "bell\a",
                           "del\x7f",
                           "c1 \xc2\x9b"
                           "31m",
                           "c1 \xc2\x80"};
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    assert_false(text_is_printable(refused[i]));
    assert_non_null(text_control_at(refused[i]));
  }
  const char *s = "ok\x1b";
  assert_ptr_equal(text_control_at(s), s + 2);
  assert_true(text_is_printable("Caf\xc3\xa9 \xc2\xa0\xc2\xa9 \xe2\x82\xac \xf0\x9f\x94\x91"));
  assert_null(text_control_at("Caf\xc3\xa9 \xc2\xa0"));
}

static void escaping_for_terminals(void **state) {
  (void)state;
  char out[64];
  assert_string_equal(text_escape("plain text", out, sizeof out), "plain text");
  assert_string_equal(text_escape("\x1b[31mred\a", out, sizeof out), "\\x1b[31mred\\x07");
  assert_string_equal(text_escape("a\nb\tc\x7f", out, sizeof out), "a\\x0ab\\x09c\\x7f");
  assert_string_equal(text_escape("csi \xc2\x9b"
                                  "2J",
                                  out, sizeof out),
                      "csi \\xc2\\x9b2J");
  assert_string_equal(text_escape("caf\xc3\xa9 \xe2\x82\xac", out, sizeof out),
                      "caf\xc3\xa9 \xe2\x82\xac");
  /* Invalid UTF-8: stray continuation, truncated sequence, overlong, surrogate. */
  assert_string_equal(text_escape("\x80", out, sizeof out), "\\x80");
  assert_string_equal(text_escape("\xc3", out, sizeof out), "\\xc3");
  assert_string_equal(text_escape("\xc0\xaf", out, sizeof out), "\\xc0\\xaf");
  assert_string_equal(text_escape("\xed\xa0\x80", out, sizeof out), "\\xed\\xa0\\x80");
  /* Never cut inside an escape or a character. */
  char small[6];
  assert_string_equal(text_escape("ab\x1b", small, sizeof small), "ab");
  assert_string_equal(text_escape("abcd\xc3\xa9", small, sizeof small), "abcd");
  assert_string_equal(text_escape("\x1b"
                                  "b",
                                  small, sizeof small),
                      "\\x1bb");
  char one[1];
  assert_string_equal(text_escape("x", one, sizeof one), "");
}

static void rfc3339_expiries(void **state) {
  (void)state;
  int64_t t = 0;
  assert_int_equal(expiry_parse_rfc3339("2026-12-01T00:00:00Z", &t), TE_OK);
  assert_int_equal(t, 1796083200);
  assert_int_equal(expiry_parse_rfc3339("1970-01-01T00:00:00Z", &t), TE_OK);
  assert_int_equal(t, -1); /* in the past, never "never" */
  assert_int_not_equal(expiry_parse_rfc3339("1767225600", &t), TE_OK);
  assert_int_not_equal(expiry_parse_rfc3339("", &t), TE_OK);
}

static void page_sizes(void **state) {
  (void)state;
  int n = 0;
  assert_int_equal(page_size_parse(NULL, &n), TE_OK);
  assert_int_equal(n, PAGE_DEFAULT);
  assert_int_equal(page_size_parse("1", &n), TE_OK);
  assert_int_equal(n, 1);
  assert_int_equal(page_size_parse("1000", &n), TE_OK);
  assert_int_equal(n, 1000);
  static const char *const bad[] = {"0", "-1", "1001", "abc", "", "10x", " 5", "99999", "+5"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (page_size_parse(bad[i], &n) != TE_BAD_REQUEST)
      fail_msg("accepted maxResults '%s'", bad[i]);
  }
}

static void continuation_tokens_round_trip_within_their_scope(void **state) {
  (void)state;
  char text[CONTINUATION_MAX + 1];
  int64_t pos = 0;
  page_token_encode(12345, "user-a", text);
  assert_int_equal(page_token_decode(text, "user-a", &pos), TE_OK);
  assert_int_equal(pos, 12345);
  /* another user's token, an edited position, garbage: all refused */
  assert_int_equal(page_token_decode(text, "user-b", &pos), TE_BAD_REQUEST);
  char edited[CONTINUATION_MAX + 1];
  strcpy(edited, text);
  edited[0] = edited[0] == '1' ? '2' : '1';
  assert_int_equal(page_token_decode(edited, "user-a", &pos), TE_BAD_REQUEST);
  assert_int_equal(page_token_decode("", "user-a", &pos), TE_BAD_REQUEST);
  assert_int_equal(page_token_decode("abc", "user-a", &pos), TE_BAD_REQUEST);
  assert_int_equal(page_token_decode("0.00000000", "user-a", &pos), TE_BAD_REQUEST);
  char padded[CONTINUATION_MAX + 8];
  snprintf(padded, sizeof padded, "%s0", text);
  assert_int_equal(page_token_decode(padded, "user-a", &pos), TE_BAD_REQUEST);
  snprintf(padded, sizeof padded, "0%s", text); /* one spelling per position */
  assert_int_equal(page_token_decode(padded, "user-a", &pos), TE_BAD_REQUEST);
}

/* The MAC is keyed: whoever lacks the server's key cannot make a token for another position,
 * even of a scope they know; and a token made under one key is refused under another. */
static void continuation_tokens_are_keyed(void **state) {
  (void)state;
  unsigned char k1[32] = {1}, k2[32] = {2};
  char text[CONTINUATION_MAX + 1], other[CONTINUATION_MAX + 1];
  int64_t pos = 0;
  page_token_set_key(k1);
  page_token_encode(77, "team-tokens:3", text);
  assert_int_equal(page_token_decode(text, "team-tokens:3", &pos), TE_OK);
  assert_int_equal(strlen(strchr(text, '.') + 1), 16); /* 64 bits of HMAC-SHA-256 */
  page_token_set_key(k2);
  assert_int_equal(page_token_decode(text, "team-tokens:3", &pos), TE_BAD_REQUEST);
  page_token_encode(77, "team-tokens:3", other);
  assert_string_not_equal(text, other);
  unsigned char zero[32] = {0};
  page_token_set_key(zero);
}

/* Found by fuzz/fuzz_paging.c: the checksum covered only the first ~110 bytes of the scope, so
 * listings whose scopes share that much accepted each other's tokens. */
static void continuation_tokens_bind_the_whole_scope(void **state) {
  (void)state;
  char text[CONTINUATION_MAX + 1], a[200], b[200];
  int64_t pos = 0;
  memset(a, 'x', sizeof a - 1);
  a[sizeof a - 1] = '\0';
  memcpy(b, a, sizeof b);
  b[sizeof b - 2] = 'y';
  page_token_encode(77, a, text);
  assert_int_equal(page_token_decode(text, a, &pos), TE_OK);
  assert_int_equal(pos, 77);
  assert_int_equal(page_token_decode(text, b, &pos), TE_BAD_REQUEST);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(names),
      cmocka_unit_test(token_names),
      cmocka_unit_test(expiry_policy),
      cmocka_unit_test(human_expiries),
      cmocka_unit_test(human_dates_at_the_epoch_are_past),
      cmocka_unit_test(emails_and_display_names),
      cmocka_unit_test(control_characters),
      cmocka_unit_test(escaping_for_terminals),
      cmocka_unit_test(rfc3339_expiries),
      cmocka_unit_test(page_sizes),
      cmocka_unit_test(continuation_tokens_round_trip_within_their_scope),
      cmocka_unit_test(continuation_tokens_are_keyed),
      cmocka_unit_test(continuation_tokens_bind_the_whole_scope),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
