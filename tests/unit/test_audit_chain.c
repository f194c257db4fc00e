/* audit/chain.c: chain values and the verifier, without any store: what makes a log verify,
 * and the sentence each kind of tampering gets. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "audit/chain.h"
#include "core/error.h"

#include <stdio.h>
#include <string.h>

static const unsigned char KEY[AUDIT_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};

static struct audit_record record(int64_t when, const char *event) {
  struct audit_record a;
  memset(&a, 0, sizeof a);
  a.timestamp = when;
  snprintf(a.org, sizeof a.org, "acme");
  snprintf(a.event, sizeof a.event, "%s", event);
  snprintf(a.user, sizeof a.user, "alice");
  return a;
}

/* A log of n records as a store would hold it: each with its chain value. */
struct log {
  struct audit_record a[4];
  unsigned char chain[4][AUDIT_CHAIN_LEN];
};

static void build(struct log *l, int n) {
  unsigned char prev[AUDIT_CHAIN_LEN] = {0};
  for (int i = 0; i < n; i++) {
    l->a[i] = record(1000 + i, i % 2 ? "member-added" : "team-created");
    audit_chain_value(KEY, prev, i + 1, &l->a[i], l->chain[i]);
    memcpy(prev, l->chain[i], AUDIT_CHAIN_LEN);
  }
}

/* Verifies records in the given order (seqs[i] for each); the head is the log's last record
 * unless head_seq says otherwise. Returns the result and the report. */
static int walk(struct log *l, const int *order, const int64_t *seqs, int n, int64_t head_seq,
                const unsigned char *head, char *report, size_t size) {
  struct audit_verifier v;
  report[0] = '\0';
  audit_verify_begin(&v, KEY, head_seq, head);
  for (int i = 0; i < n; i++) {
    int rc =
        audit_verify_next(&v, true, seqs[i], &l->a[order[i]], l->chain[order[i]], report, size);
    if (rc)
      return rc;
  }
  return audit_verify_end(&v, report, size);
}

static void values_depend_on_key_seq_previous_and_every_field(void **state) {
  (void)state;
  struct audit_record a = record(1, "team-created"), b = a;
  unsigned char zero[AUDIT_CHAIN_LEN] = {0}, x[32], y[32];
  audit_chain_value(KEY, zero, 1, &a, x);
  audit_chain_value(KEY, zero, 1, &b, y);
  assert_memory_equal(x, y, 32);
  unsigned char other_key[AUDIT_KEY_LEN] = {9};
  audit_chain_value(other_key, zero, 1, &a, y);
  assert_memory_not_equal(x, y, 32);
  audit_chain_value(KEY, zero, 2, &a, y);
  assert_memory_not_equal(x, y, 32);
  audit_chain_value(KEY, x, 1, &a, y);
  assert_memory_not_equal(x, y, 32);
  b.auth_failure = true;
  audit_chain_value(KEY, zero, 1, &b, y);
  assert_memory_not_equal(x, y, 32);
  /* Length prefixes: moving a character from one field to the next changes the value. */
  struct audit_record c = a, d = a;
  snprintf(c.user, sizeof c.user, "ab");
  snprintf(c.token_id, sizeof c.token_id, "c");
  snprintf(d.user, sizeof d.user, "a");
  snprintf(d.token_id, sizeof d.token_id, "bc");
  audit_chain_value(KEY, zero, 1, &c, x);
  audit_chain_value(KEY, zero, 1, &d, y);
  assert_memory_not_equal(x, y, 32);
}

static void an_intact_log_verifies(void **state) {
  (void)state;
  struct log l;
  build(&l, 3);
  char report[256];
  int order[] = {0, 1, 2};
  int64_t seqs[] = {1, 2, 3};
  assert_int_equal(walk(&l, order, seqs, 3, 3, l.chain[2], report, sizeof report), TE_OK);
  /* A head that lags the log (a crash between commit and head write) is fine. */
  assert_int_equal(walk(&l, order, seqs, 3, 2, l.chain[1], report, sizeof report), TE_OK);
  unsigned char none[AUDIT_CHAIN_LEN] = {0};
  assert_int_equal(walk(&l, order, seqs, 0, 0, none, report, sizeof report), TE_OK);
}

static void each_kind_of_tampering_is_named(void **state) {
  (void)state;
  struct log l;
  build(&l, 3);
  char report[256];
  int64_t seqs[] = {1, 2, 3};
  int swapped[] = {0, 2, 1};
  assert_int_equal(walk(&l, swapped, seqs, 3, 3, l.chain[2], report, sizeof report), TE_CONFLICT);
  assert_non_null(strstr(report, "audit record 2 (team-created at 1002) does not match"));
  int gap_order[] = {0, 2};
  int64_t gap[] = {1, 3};
  assert_int_equal(walk(&l, gap_order, gap, 2, 3, l.chain[2], report, sizeof report), TE_CONFLICT);
  assert_non_null(strstr(report, "audit record 2 is missing (the log jumps from 1 to 3): removed"));
  int64_t again[] = {1, 1};
  int dup[] = {0, 0};
  assert_int_equal(walk(&l, dup, again, 2, 2, l.chain[1], report, sizeof report), TE_CONFLICT);
  assert_non_null(strstr(report, "numbered 1 stands where record 2 was expected"));
  int two[] = {0, 1};
  assert_int_equal(walk(&l, two, seqs, 2, 3, l.chain[2], report, sizeof report), TE_CONFLICT);
  assert_non_null(strstr(report, "ends at record 2 but had reached record 3"));
  unsigned char forged[AUDIT_CHAIN_LEN] = {7};
  int all[] = {0, 1, 2};
  assert_int_equal(walk(&l, all, seqs, 3, 3, forged, report, sizeof report), TE_CONFLICT);
  assert_non_null(strstr(report, "differs from the one the head file recorded"));
  l.a[1].req_org_admin = true;
  assert_int_equal(walk(&l, all, seqs, 3, 3, l.chain[2], report, sizeof report), TE_CONFLICT);
  assert_non_null(strstr(report, "audit record 2"));
}

static void an_unreadable_record_is_altered(void **state) {
  (void)state;
  struct log l;
  build(&l, 1);
  struct audit_verifier v;
  char report[256];
  audit_verify_begin(&v, KEY, 1, l.chain[0]);
  assert_int_equal(audit_verify_next(&v, false, 1, &l.a[0], l.chain[0], report, sizeof report),
                   TE_CONFLICT);
  assert_string_equal(report, "audit record 1 holds values of the wrong type or size: altered");
}

static void event_names_are_shown_printable(void **state) {
  (void)state;
  struct log l;
  build(&l, 1);
  snprintf(l.a[0].event, sizeof l.a[0].event, "bad\x1b[2Jname");
  struct audit_verifier v;
  char report[256];
  audit_verify_begin(&v, KEY, 1, l.chain[0]);
  assert_int_equal(audit_verify_next(&v, true, 1, &l.a[0], l.chain[0], report, sizeof report),
                   TE_CONFLICT);
  assert_non_null(strstr(report, "(bad?[2Jname at 1000)"));
}

static void hex(const unsigned char *bytes, char out[65]) {
  for (int i = 0; i < 32; i++)
    snprintf(out + 2 * i, 3, "%02x", bytes[i]);
}

/* Fixed values, computed apart from this code (HMAC-SHA-256 over the documented encoding, in
 * Python): an encoding change would make every existing log fail to verify, so it must fail here
 * first. */
static void the_encoding_is_the_one_existing_logs_were_written_with(void **state) {
  (void)state;
  struct audit_record a;
  memset(&a, 0, sizeof a);
  a.timestamp = 1767225600;
  snprintf(a.org, sizeof a.org, "acme");
  snprintf(a.source_ip, sizeof a.source_ip, "127.0.0.1");
  snprintf(a.event, sizeof a.event, "team-created");
  snprintf(a.description, sizeof a.description, "created team ops");
  snprintf(a.user, sizeof a.user, "alice");
  a.req_org_admin = true;
  unsigned char zero[AUDIT_CHAIN_LEN] = {0}, first[32], second[32], id[32];
  char shown[65];
  audit_chain_value(KEY, zero, 1, &a, first);
  hex(first, shown);
  assert_string_equal(shown, "68c4e214844c87e9715aab318f012e760b4f45c45c9bec127b647bbaa65ac263");
  struct audit_record b;
  memset(&b, 0, sizeof b);
  b.timestamp = 1767225601;
  snprintf(b.org, sizeof b.org, "acme");
  snprintf(b.event, sizeof b.event, "member-added");
  snprintf(b.description, sizeof b.description, "added bob");
  snprintf(b.user, sizeof b.user, "alice");
  b.auth_failure = true;
  audit_chain_value(KEY, first, 2, &b, second);
  hex(second, shown);
  assert_string_equal(shown, "702d5d726c01e7574d6755fc1e8ea826ec12caad6c922cfc58922da58f9b28b2");
  audit_key_id(KEY, id);
  hex(id, shown);
  assert_string_equal(shown, "e96a64833515a14071c754d281eb68e9fdc4098c6bfa40897cb5701b4865f774");
}

static void key_ids_tell_keys_apart(void **state) {
  (void)state;
  unsigned char other[AUDIT_KEY_LEN] = {9}, a[32], b[32], c[32];
  audit_key_id(KEY, a);
  audit_key_id(KEY, b);
  audit_key_id(other, c);
  assert_memory_equal(a, b, 32);
  assert_memory_not_equal(a, c, 32);
  assert_memory_not_equal(a, KEY, 32);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(values_depend_on_key_seq_previous_and_every_field),
      cmocka_unit_test(an_intact_log_verifies),
      cmocka_unit_test(each_kind_of_tampering_is_named),
      cmocka_unit_test(an_unreadable_record_is_altered),
      cmocka_unit_test(event_names_are_shown_printable),
      cmocka_unit_test(the_encoding_is_the_one_existing_logs_were_written_with),
      cmocka_unit_test(key_ids_tell_keys_apart),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
