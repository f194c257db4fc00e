/* Token values, hashing and ids (core/token.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/token.h"

#include <stdio.h>
#include <string.h>
#include <zlib.h>

static void generated_tokens_have_pulumi_shape_and_checksum(void **state) {
  (void)state;
  char value[TOKEN_VALUE_LEN + 1];
  token_generate(value);
  assert_int_equal(strlen(value), 44);
  assert_memory_equal(value, "pul-", 4);
  for (int i = 4; i < 44; i++)
    assert_non_null(strchr("0123456789abcdef", value[i]));
  char expected[9];
  snprintf(expected, sizeof expected, "%08lx", crc32(0L, (const Bytef *)value, 36));
  assert_string_equal(value + 36, expected);
  assert_true(token_is_well_formed(value, strlen(value)));
}

/* Tokens issued by any earlier version stay well formed: checksums computed apart (Python's
 * zlib.crc32), with a high bit set in the first's and in the second's leading digits. */
static void tokens_of_known_checksums_are_well_formed(void **state) {
  (void)state;
  static const char *const known[] = {"pul-0123456789abcdef0123456789abcdefe5c625db",
                                      "pul-ffffffffffffffffffffffffffffffffe2fcf6c4"};
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    assert_true(token_is_well_formed(known[i], strlen(known[i])));
  assert_false(token_is_well_formed("pul-0123456789abcdef0123456789abcdefe5c625dc", 44));
}

static void generated_tokens_differ(void **state) {
  (void)state;
  char a[TOKEN_VALUE_LEN + 1], b[TOKEN_VALUE_LEN + 1];
  token_generate(a);
  token_generate(b);
  assert_string_not_equal(a, b);
}

static void look_alikes_are_rejected(void **state) {
  (void)state;
  char value[TOKEN_VALUE_LEN + 1];
  token_generate(value);
  char bad[TOKEN_VALUE_LEN + 2];

  strcpy(bad, value);
  bad[10] = bad[10] == 'a' ? 'b' : 'a'; /* one random digit changed: checksum no longer matches */
  assert_false(token_is_well_formed(bad, strlen(bad)));

  strcpy(bad, value);
  bad[43] = bad[43] == '0' ? '1' : '0'; /* checksum digit changed */
  assert_false(token_is_well_formed(bad, strlen(bad)));

  strcpy(bad, value);
  bad[36] = bad[36] == 'f' ? 'e' : 'f'; /* its first (most significant) digit */
  assert_false(token_is_well_formed(bad, strlen(bad)));

  strcpy(bad, value);
  bad[40] = 'G'; /* not a digit at all, in the checksum */
  assert_false(token_is_well_formed(bad, strlen(bad)));

  strcpy(bad, value);
  bad[20] = 'A'; /* uppercase is not Pulumi's alphabet */
  assert_false(token_is_well_formed(bad, strlen(bad)));

  assert_false(token_is_well_formed(value, 43));
  strcpy(bad, value);
  strcat(bad, "0");
  assert_false(token_is_well_formed(bad, strlen(bad)));

  strcpy(bad, value);
  memcpy(bad, "pux-", 4);
  assert_false(token_is_well_formed(bad, strlen(bad)));
  assert_false(token_is_well_formed("", 0));
}

static void hash_is_sha256_of_the_value(void **state) {
  (void)state;
  unsigned char hash[TOKEN_HASH_LEN];
  token_hash("abc", 3, hash);
  static const unsigned char sha256_abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
                                               0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                                               0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
                                               0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
  assert_memory_equal(hash, sha256_abc, 32);
}

static void hex_is_lowercase_and_terminated(void **state) {
  (void)state;
  const unsigned char bytes[] = {0x00, 0x0f, 0xa5, 0xff, 0x10};
  char out[2 * sizeof bytes + 2];
  memset(out, 'x', sizeof out);
  token_hex(bytes, sizeof bytes, out);
  assert_string_equal(out, "000fa5ff10");
  assert_int_equal(out[sizeof out - 1], 'x'); /* nothing past the terminator */
  char digest[2 * TOKEN_HASH_LEN + 1];
  token_hash_hex("abc", 3, digest); /* SHA-256("abc"), FIPS 180-2's example */
  assert_string_equal(digest, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void ids_are_uuid_v4(void **state) {
  (void)state;
  char id[TOKEN_ID_LEN + 1], other[TOKEN_ID_LEN + 1];
  token_new_id(id);
  token_new_id(other);
  assert_true(token_id_is_valid(id));
  assert_string_not_equal(id, other);
  assert_int_equal(id[14], '4');
  assert_non_null(strchr("89ab", id[19]));
  assert_true(token_id_is_valid("6EF46239-E314-4DDD-AD5C-969E6ACD951E"));
  assert_false(token_id_is_valid("6ef46239-e314-4ddd-ad5c-969e6acd951"));
  assert_false(token_id_is_valid("6ef46239xe314-4ddd-ad5c-969e6acd951e"));
  assert_false(token_id_is_valid("6ef46239-e314-4ddd-ad5c-969e6acd951g"));
  assert_false(token_id_is_valid("../../etc/passwd"));
}

static void redaction_hides_tokens_and_near_misses(void **state) {
  (void)state;
  char value[TOKEN_VALUE_LEN + 1], text[256], out[256];
  token_generate(value);
  snprintf(text, sizeof text, "/api/user/tokens/%s/x", value);
  assert_string_equal(token_redact(text, out, sizeof out), "/api/user/tokens/pul-[redacted]/x");
  assert_null(strstr(out, value + 4));
  /* uppercase, truncated and overlong look-alikes are secrets too */
  assert_string_equal(token_redact("a PUL-0123456789ABCDEF0123 b", out, sizeof out),
                      "a PUL-[redacted] b");
  assert_string_equal(
      token_redact("pul-0123456789abcdef0123456789abcdef0123456789", out, sizeof out),
      "pul-[redacted]");
  /* short hex after pul- and ordinary text are left alone */
  assert_string_equal(token_redact("pul-abc /healthz", out, sizeof out), "pul-abc /healthz");
  /* the 40 digits of a token without its prefix, in any case and inside longer hex runs */
  snprintf(text, sizeof text, "/x/%s/y", value + 4);
  assert_string_equal(token_redact(text, out, sizeof out), "/x/[redacted]/y");
  for (char *c = text; *c; c++)
    *c = (char)(*c >= 'a' && *c <= 'f' ? *c - 'a' + 'A' : *c);
  assert_string_equal(token_redact(text, out, sizeof out), "/x/[redacted]/y");
  snprintf(text, sizeof text, "/x/ab%sff", value + 4);
  assert_string_equal(token_redact(text, out, sizeof out), "/x/[redacted]");
  /* 40 hex digits whose checksum does not hold are not a token (ids, digests) */
  assert_string_equal(token_redact("/x/0123456789abcdef0123456789abcdef01234567", out, sizeof out),
                      "/x/0123456789abcdef0123456789abcdef01234567");
  /* never overflows the output */
  char tiny[8];
  token_redact(text, tiny, sizeof tiny);
  assert_int_equal(strlen(tiny), 7);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(generated_tokens_have_pulumi_shape_and_checksum),
      cmocka_unit_test(tokens_of_known_checksums_are_well_formed),
      cmocka_unit_test(generated_tokens_differ),
      cmocka_unit_test(look_alikes_are_rejected),
      cmocka_unit_test(hash_is_sha256_of_the_value),
      cmocka_unit_test(hex_is_lowercase_and_terminated),
      cmocka_unit_test(ids_are_uuid_v4),
      cmocka_unit_test(redaction_hides_tokens_and_near_misses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
