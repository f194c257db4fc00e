/* The principal table (store/principal_table.c): compact entries, shared identities, staleness by
 * what a change names, growth past its first buckets. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/token.h"
#include "store/principal_table.h"

#include <stdio.h>
#include <string.h>

/* A personal token of user `user` (login "user<N>"), seq `seq`, its hash made of the seq. */
static struct store_principal personal(int64_t user, int64_t seq) {
  struct store_principal p;
  memset(&p, 0, sizeof p);
  p.token.seq = seq;
  p.token.kind = TOKEN_PERSONAL;
  p.token.user_id = user;
  p.token.created = 1700000000 + seq;
  p.token.expires = 1800000000;
  p.token.last_used = 0;
  snprintf(p.token.id, sizeof p.token.id, "0000%04llx-aaaa-4bbb-8ccc-0123456789ab",
           (unsigned long long)seq);
  snprintf(p.token.description, sizeof p.token.description, "not kept");
  unsigned char seed[16];
  memcpy(seed, &seq, sizeof seq);
  memcpy(seed + 8, "tessera!", 8);
  token_hash((const char *)seed, sizeof seed, p.token.hash);
  p.user.id = user;
  snprintf(p.user.login, sizeof p.user.login, "user%lld", (long long)user);
  snprintf(p.user.email, sizeof p.user.email, "user%lld@example.com", (long long)user);
  snprintf(p.actor, sizeof p.actor, "%s", p.user.login);
  p.parent_expires = -1;
  return p;
}

static void a_stored_principal_comes_back_as_it_was_but_for_the_long_texts(void **state) {
  (void)state;
  struct principal_table *t = ptable_new();
  struct store_principal p = personal(7, 1), out;
  assert_int_equal(ptable_get(t, p.token.hash, 100, &out), PTABLE_ABSENT);
  uint64_t version = ptable_put(t, &p, 200, NULL, 0);
  assert_true(version != 0);
  assert_int_equal(ptable_get(t, p.token.hash, 100, &out), PTABLE_FRESH);
  assert_int_equal(out.token.seq, 1);
  assert_string_equal(out.token.id, p.token.id);
  assert_memory_equal(out.token.hash, p.token.hash, TOKEN_HASH_LEN);
  assert_int_equal(out.token.created, p.token.created);
  assert_int_equal(out.token.expires, p.token.expires);
  assert_int_equal(out.token.user_id, 7);
  assert_string_equal(out.user.login, "user7");
  assert_string_equal(out.user.email, "user7@example.com");
  assert_string_equal(out.actor, "user7");
  assert_int_equal(out.parent_expires, -1);
  assert_string_equal(out.token.description, ""); /* read the token itself for that */
  assert_int_equal(out.version, version);
  /* Past its time it is still known, to be read again. */
  assert_int_equal(ptable_get(t, p.token.hash, 200, &out), PTABLE_STALE);
  ptable_free(t);
}

static void
tokens_of_one_user_share_an_identity_that_a_change_to_the_user_makes_stale(void **state) {
  (void)state;
  struct principal_table *t = ptable_new();
  struct store_principal a = personal(7, 1), b = personal(7, 2), c = personal(8, 3), out;
  uint64_t va = ptable_put(t, &a, 1000, NULL, 0), vb = ptable_put(t, &b, 1000, NULL, 0);
  uint64_t vc = ptable_put(t, &c, 1000, NULL, 0);
  assert_int_equal(va, vb); /* the same user and scope: the same version */
  assert_true(vc != va);
  struct store_change ch = {.kind = CHANGE_USER, .id = 7};
  assert_int_equal(ptable_stale_matching(t, &ch), 1);
  assert_int_equal(ptable_get(t, a.token.hash, 1, &out), PTABLE_STALE);
  assert_int_equal(ptable_get(t, b.token.hash, 1, &out), PTABLE_STALE);
  assert_int_equal(ptable_get(t, c.token.hash, 1, &out), PTABLE_FRESH);
  /* Read again, it gets a new identity: a new version, which cached views notice. */
  uint64_t again = ptable_put(t, &a, 1000, NULL, 0);
  assert_true(again != va && again != 0);
  assert_int_equal(ptable_get(t, a.token.hash, 1, &out), PTABLE_FRESH);
  assert_int_equal(out.version, again);
  assert_int_equal(ptable_get(t, b.token.hash, 1, &out), PTABLE_STALE);
  ptable_stale_all(t);
  assert_int_equal(ptable_get(t, c.token.hash, 1, &out), PTABLE_STALE);
  assert_int_equal(ptable_count(t), 3);
  ptable_free(t);
}

/* Organization acme's (id 40) token ci-<seq>, as the store reads one. */
static struct store_principal machine(int64_t seq) {
  struct store_principal m = personal(0, seq);
  m.token.kind = TOKEN_ORG;
  m.token.org_id = 40;
  m.scope_org_id = 40;
  snprintf(m.org, sizeof m.org, "acme");
  snprintf(m.token.name, sizeof m.token.name, "ci-%lld", (long long)seq);
  snprintf(m.actor, sizeof m.actor, "acme/%s", m.token.name);
  snprintf(m.user.login, sizeof m.user.login, "acme");
  snprintf(m.user.uuid, sizeof m.user.uuid, "%s", m.token.id);
  return m;
}

/* An organization's machine tokens each stand for themselves ("org/name"); a change to the
 * organization marks them all, a session's parent token's change marks the session. */
static void machine_tokens_and_sessions_follow_what_they_depend_on(void **state) {
  (void)state;
  struct principal_table *t = ptable_new();
  struct store_principal a = machine(1), b = machine(2), s = personal(7, 3), out;
  s.token.source = TOKEN_SOURCE_SESSION;
  s.token.parent_seq = 9;
  s.parent_expires = 1900000000;
  uint64_t va = ptable_put(t, &a, 1000, NULL, 0), vb = ptable_put(t, &b, 1000, NULL, 0);
  assert_true(va != vb);
  ptable_put(t, &s, 1000, NULL, 0);
  assert_int_equal(ptable_get(t, b.token.hash, 1, &out), PTABLE_FRESH);
  assert_string_equal(out.actor, "acme/ci-2");
  assert_string_equal(out.token.name, "ci-2");
  assert_string_equal(out.user.uuid, b.token.id);
  assert_int_equal(out.token.kind, TOKEN_ORG);
  assert_int_equal(out.scope_org_id, 40);
  struct store_change org = {.kind = CHANGE_ORG, .id = 40};
  assert_int_equal(ptable_stale_matching(t, &org), 2);
  assert_int_equal(ptable_get(t, a.token.hash, 1, &out), PTABLE_STALE);
  assert_int_equal(ptable_get(t, s.token.hash, 1, &out), PTABLE_FRESH);
  assert_int_equal(out.parent_expires, 1900000000);
  struct store_change parent = {.kind = CHANGE_TOKEN, .id = 9};
  assert_int_equal(ptable_stale_matching(t, &parent), 1);
  assert_int_equal(ptable_get(t, s.token.hash, 1, &out), PTABLE_STALE);
  ptable_free(t);
}

static void removing_by_seq_forgets_the_hash(void **state) {
  (void)state;
  struct principal_table *t = ptable_new();
  struct store_principal a = personal(7, 1), b = personal(7, 2), out;
  ptable_put(t, &a, 1000, NULL, 0);
  ptable_put(t, &b, 1000, NULL, 0);
  struct store_token was;
  assert_true(ptable_remove_seq(t, 1, &was));
  assert_memory_equal(was.hash, a.token.hash, TOKEN_HASH_LEN);
  assert_int_equal(was.expires, a.token.expires);
  assert_false(ptable_remove_seq(t, 1, NULL));
  assert_int_equal(ptable_get(t, a.token.hash, 1, &out), PTABLE_ABSENT);
  assert_int_equal(ptable_get(t, b.token.hash, 1, &out), PTABLE_FRESH);
  atomic_uint_fast64_t epoch;
  atomic_init(&epoch, 3);
  ptable_remove_hash(t, b.token.hash, &epoch, 2); /* a change came in between: kept */
  assert_int_equal(ptable_get(t, b.token.hash, 1, &out), PTABLE_FRESH);
  ptable_remove_hash(t, b.token.hash, &epoch, 3);
  assert_int_equal(ptable_get(t, b.token.hash, 1, &out), PTABLE_ABSENT);
  assert_int_equal(ptable_count(t), 0);
  ptable_free(t);
}

/* A token's hash changed in place (by hand, in SQL): one seq keeps one entry, the old hash goes,
 * and the seq's chain stays whole for the other tokens in it. */
static void a_new_hash_for_a_seq_replaces_its_entry(void **state) {
  (void)state;
  struct principal_table *t = ptable_new();
  struct store_principal a = personal(7, 5), moved = personal(7, 5), other = personal(7, 6), out;
  moved.token.hash[0] ^= 0xff;
  ptable_put(t, &a, 1000, NULL, 0);
  ptable_put(t, &other, 1000, NULL, 0);
  ptable_put(t, &moved, 1000, NULL, 0);
  assert_int_equal(ptable_count(t), 2);
  assert_int_equal(ptable_get(t, a.token.hash, 1, &out), PTABLE_ABSENT);
  assert_int_equal(ptable_get(t, moved.token.hash, 1, &out), PTABLE_FRESH);
  struct store_token was;
  assert_true(ptable_find_seq(t, 5, &was));
  assert_memory_equal(was.hash, moved.token.hash, TOKEN_HASH_LEN);
  assert_true(ptable_remove_seq(t, 5, NULL));
  assert_false(ptable_find_seq(t, 5, &was));
  assert_true(ptable_remove_seq(t, 6, NULL));
  assert_int_equal(ptable_count(t), 0);
  ptable_free(t);
}

/* After everything was marked stale and the tokens that exist were stored again, the sweep drops
 * the others: tokens deleted while the feed could not say so. */
static void the_sweep_drops_what_was_not_stored_again(void **state) {
  (void)state;
  struct principal_table *t = ptable_new();
  struct store_principal kept = personal(7, 1), gone = personal(7, 2), out;
  ptable_put(t, &kept, 1000, NULL, 0);
  ptable_put(t, &gone, 1000, NULL, 0);
  assert_int_equal(ptable_sweep(t), 0);
  ptable_stale_all(t);
  ptable_put(t, &kept, 1000, NULL, 0);
  assert_int_equal(ptable_sweep(t), 1);
  assert_int_equal(ptable_get(t, kept.token.hash, 1, &out), PTABLE_FRESH);
  assert_int_equal(ptable_get(t, gone.token.hash, 1, &out), PTABLE_ABSENT);
  assert_false(ptable_overflowed(t));
  ptable_free(t);
}

static void a_moved_epoch_stores_nothing(void **state) {
  (void)state;
  struct principal_table *t = ptable_new();
  atomic_uint_fast64_t epoch;
  atomic_init(&epoch, 5);
  struct store_principal a = personal(7, 1), out;
  assert_int_equal(ptable_put(t, &a, 1000, &epoch, 4), 0);
  assert_int_equal(ptable_get(t, a.token.hash, 1, &out), PTABLE_ABSENT);
  assert_true(ptable_put(t, &a, 1000, &epoch, 5) != 0);
  ptable_free(t);
}

static void an_id_that_is_no_lowercase_uuid_is_known_but_never_fresh(void **state) {
  (void)state;
  struct principal_table *t = ptable_new();
  struct store_principal a = personal(7, 1), out;
  snprintf(a.token.id, sizeof a.token.id, "bulk-1");
  assert_true(ptable_put(t, &a, 1000, NULL, 0) != 0);
  assert_int_equal(ptable_get(t, a.token.hash, 1, &out), PTABLE_STALE);
  struct store_principal b = personal(7, 2);
  b.token.id[0] = 'A'; /* upper case would not come back the same */
  ptable_put(t, &b, 1000, NULL, 0);
  assert_int_equal(ptable_get(t, b.token.hash, 1, &out), PTABLE_STALE);
  ptable_free(t);
}

/* Each machine token is an identity of its own: 50,000 of one organization's must each find their
 * intern bucket without walking the others (this took seconds when the bucket ignored the id). */
static void many_machine_tokens_each_get_their_own_identity(void **state) {
  (void)state;
  struct principal_table *t = ptable_new();
  uint64_t last = 0;
  for (int64_t seq = 1; seq <= 50000; seq++) {
    struct store_principal m = machine(seq);
    uint64_t v = ptable_put(t, &m, 1000, NULL, 0);
    assert_true(v > last); /* a new identity each */
    last = v;
  }
  struct store_change org = {.kind = CHANGE_ORG, .id = 40};
  assert_int_equal(ptable_stale_matching(t, &org), 50000);
  ptable_free(t);
}

static void many_tokens_are_all_found_after_the_indexes_grow(void **state) {
  (void)state;
  struct principal_table *t = ptable_new();
  enum { N = 20000 };
  for (int64_t seq = 1; seq <= N; seq++) {
    struct store_principal p = personal(seq % 3, seq);
    assert_true(ptable_put(t, &p, 1000, NULL, 0) != 0);
  }
  assert_int_equal(ptable_count(t), N);
  for (int64_t seq = 1; seq <= N; seq += 7) {
    struct store_principal p = personal(seq % 3, seq), out;
    assert_int_equal(ptable_get(t, p.token.hash, 1, &out), PTABLE_FRESH);
    assert_int_equal(out.token.seq, seq);
  }
  for (int64_t seq = 1; seq <= N; seq += 2)
    assert_true(ptable_remove_seq(t, seq, NULL));
  assert_int_equal(ptable_count(t), N / 2);
  /* Freed entries are reused. */
  for (int64_t seq = N + 1; seq <= N + 100; seq++) {
    struct store_principal p = personal(1, seq), out;
    ptable_put(t, &p, 1000, NULL, 0);
    assert_int_equal(ptable_get(t, p.token.hash, 1, &out), PTABLE_FRESH);
  }
  ptable_touch(t, 2, 1750000000);
  struct store_principal two = personal(2, 2), out;
  assert_int_equal(ptable_get(t, two.token.hash, 1, &out), PTABLE_FRESH);
  assert_int_equal(out.token.last_used, 1750000000);
  ptable_free(t);
}

/* The cache's walk: a page read again extends what it confirms, makes stale what no longer
 * matches, and brings back nothing that is gone or stale. */
static void a_confirmation_extends_only_what_still_matches(void **state) {
  (void)state;
  struct principal_table *t = ptable_new();
  struct store_principal same = personal(1, 1), changed = personal(1, 2), gone = personal(1, 3),
                         held_stale = personal(2, 4), out;
  ptable_put(t, &same, 10, NULL, 0);
  ptable_put(t, &changed, 10, NULL, 0);
  ptable_put(t, &gone, 10, NULL, 0);
  ptable_put(t, &held_stale, 10, NULL, 0);
  assert_true(ptable_remove_seq(t, 3, NULL));
  struct store_change user2 = {.kind = CHANGE_USER, .id = 2};
  assert_int_equal(ptable_stale_matching(t, &user2), 1);
  struct store_principal page[4] = {same, changed, gone, held_stale};
  page[0].token.last_used = 1750000000;
  page[1].token.expires = 1800000001; /* changed in the store, the feed not told */
  assert_int_equal(ptable_confirm(t, page, 4, 100), 1);
  assert_int_equal(ptable_get(t, same.token.hash, 50, &out), PTABLE_FRESH); /* past 10 */
  assert_int_equal(out.token.last_used, 1750000000);
  assert_int_equal(ptable_get(t, changed.token.hash, 5, &out), PTABLE_STALE);
  assert_int_equal(ptable_get(t, gone.token.hash, 5, &out), PTABLE_ABSENT);
  assert_int_equal(ptable_get(t, held_stale.token.hash, 5, &out), PTABLE_STALE);
  assert_int_equal(ptable_count(t), 3);
  ptable_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_stored_principal_comes_back_as_it_was_but_for_the_long_texts),
      cmocka_unit_test(tokens_of_one_user_share_an_identity_that_a_change_to_the_user_makes_stale),
      cmocka_unit_test(machine_tokens_and_sessions_follow_what_they_depend_on),
      cmocka_unit_test(removing_by_seq_forgets_the_hash),
      cmocka_unit_test(a_confirmation_extends_only_what_still_matches),
      cmocka_unit_test(a_new_hash_for_a_seq_replaces_its_entry),
      cmocka_unit_test(the_sweep_drops_what_was_not_stored_again),
      cmocka_unit_test(a_moved_epoch_stores_nothing),
      cmocka_unit_test(an_id_that_is_no_lowercase_uuid_is_known_but_never_fresh),
      cmocka_unit_test(many_machine_tokens_each_get_their_own_identity),
      cmocka_unit_test(many_tokens_are_all_found_after_the_indexes_grow),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
