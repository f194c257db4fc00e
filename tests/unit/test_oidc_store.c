/* OIDC issuers and exchange-issued tokens in the store (store/sql_oidc.c), on both stores. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/timeutil.h"
#include "store/store.h"
#include "store_fixture.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fixture {
  char dir[64];
  char path[96];
  struct store *store;
  struct store_org acme, other;
};

static int setup(void **state) {
  struct fixture *f = calloc(1, sizeof *f);
  temp_db_make(f->dir, f->path, "oidc");
  assert_int_equal(fixture_open(f->path, 2, &f->store), TE_OK);
  struct store *s = f->store;
  assert_int_equal(s->ops->org_create(s, "acme"), TE_OK);
  assert_int_equal(s->ops->org_create(s, "other"), TE_OK);
  assert_int_equal(s->ops->org_by_name(s, "acme", &f->acme), TE_OK);
  assert_int_equal(s->ops->org_by_name(s, "other", &f->other), TE_OK);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  f->store->ops->close(f->store);
  temp_db_remove(f->dir);
  free(f);
  return 0;
}

static struct store_oidc_issuer make_issuer(int64_t org_id, const char *iss) {
  struct store_oidc_issuer i = {.org_id = org_id, .max_expiration = 3600, .policy_version = 1};
  token_new_id(i.id);
  token_new_id(i.policy_id);
  snprintf(i.name, sizeof i.name, "ci");
  snprintf(i.url, sizeof i.url, "%s", iss);
  snprintf(i.issuer, sizeof i.issuer, "%s", iss);
  snprintf(i.jwks_uri, sizeof i.jwks_uri, "%s/jwks", iss);
  snprintf(i.thumbprints, sizeof i.thumbprints, "[]");
  i.jwks = "{\"keys\":[]}";
  i.policy = "[]";
  i.created = i.modified = i.policy_modified = time_now();
  return i;
}

static void issuers_are_kept_per_organization(void **state) {
  struct fixture *f = *state;
  struct store *s = f->store;
  struct store_oidc_issuer a = make_issuer(f->acme.id, "https://ci.example");
  assert_int_equal(s->ops->oidc_issuer_insert(s, NULL, &a, NULL), TE_OK);
  struct store_oidc_issuer dup = make_issuer(f->acme.id, "https://ci.example");
  assert_int_equal(s->ops->oidc_issuer_insert(s, NULL, &dup, NULL), TE_CONFLICT);
  struct store_oidc_issuer elsewhere = make_issuer(f->other.id, "https://ci.example");
  assert_int_equal(s->ops->oidc_issuer_insert(s, NULL, &elsewhere, NULL), TE_OK);

  struct store_oidc_issuer got;
  assert_int_equal(s->ops->oidc_issuer_by_iss(s, f->acme.id, "https://ci.example", &got), TE_OK);
  assert_string_equal(got.id, a.id);
  assert_string_equal(got.jwks, "{\"keys\":[]}");
  assert_string_equal(got.policy, "[]");
  store_oidc_issuer_clear(&got);
  assert_int_equal(s->ops->oidc_issuer_get(s, f->other.id, a.id, &got), TE_NOT_FOUND);
  assert_int_equal(s->ops->oidc_issuer_by_iss(s, f->acme.id, "https://ci.example/", &got),
                   TE_NOT_FOUND);

  struct store_oidc_issuer *list;
  size_t n;
  assert_int_equal(s->ops->oidc_issuers_list(s, f->acme.id, &list, &n), TE_OK);
  assert_int_equal(n, 1);
  store_oidc_issuers_free(list, n);
}

static void updates_and_policies_change_what_they_say(void **state) {
  struct fixture *f = *state;
  struct store *s = f->store;
  struct store_oidc_issuer a = make_issuer(f->acme.id, "https://ci.example");
  assert_int_equal(s->ops->oidc_issuer_insert(s, NULL, &a, NULL), TE_OK);
  a.jwks = "{\"keys\":[{\"kty\":\"EC\"}]}";
  snprintf(a.name, sizeof a.name, "renamed");
  assert_int_equal(s->ops->oidc_issuer_update(s, NULL, &a, NULL), TE_OK);
  assert_int_equal(
      s->ops->oidc_policy_update(s, NULL, f->acme.id, a.policy_id, "[{\"x\":1}]", NULL), TE_OK);
  /* Not through another organization. */
  assert_int_equal(s->ops->oidc_policy_update(s, NULL, f->other.id, a.policy_id, "[]", NULL),
                   TE_NOT_FOUND);
  struct store_oidc_issuer got;
  assert_int_equal(s->ops->oidc_issuer_by_policy(s, f->acme.id, a.policy_id, &got), TE_OK);
  assert_string_equal(got.name, "renamed");
  assert_string_equal(got.jwks, "{\"keys\":[{\"kty\":\"EC\"}]}");
  assert_string_equal(got.policy, "[{\"x\":1}]");
  assert_int_equal(got.policy_version, 2);
  store_oidc_issuer_clear(&got);
  assert_int_equal(s->ops->oidc_issuer_delete(s, NULL, f->other.id, a.id, NULL), TE_NOT_FOUND);
  assert_int_equal(s->ops->oidc_issuer_delete(s, NULL, f->acme.id, a.id, NULL), TE_OK);
  assert_int_equal(s->ops->oidc_issuer_get(s, f->acme.id, a.id, &got), TE_NOT_FOUND);
}

static void exchange_tokens_note_their_issuer_and_its_use(void **state) {
  struct fixture *f = *state;
  struct store *s = f->store;
  struct store_oidc_issuer a = make_issuer(f->acme.id, "https://ci.example");
  assert_int_equal(s->ops->oidc_issuer_insert(s, NULL, &a, NULL), TE_OK);
  struct store_token t = {.kind = TOKEN_ORG, .org_id = f->acme.id, .created = time_now()};
  char value[TOKEN_VALUE_LEN + 1];
  token_fill_secret(&t, value);
  t.expires = t.created + 600;
  snprintf(t.name, sizeof t.name, "oidc-1");
  snprintf(t.oidc_issuer, sizeof t.oidc_issuer, "%s", a.id);
  assert_int_equal(s->ops->oidc_token_insert(s, &t, NULL, NULL, NULL), TE_OK);
  struct store_principal p;
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_OK);
  assert_string_equal(p.token.oidc_issuer, a.id);
  struct store_oidc_issuer got;
  assert_int_equal(s->ops->oidc_issuer_get(s, f->acme.id, a.id, &got), TE_OK);
  assert_int_equal(got.last_used, t.created);
  store_oidc_issuer_clear(&got);
  /* Names are reserved like any org token's. */
  token_fill_secret(&t, value);
  assert_int_equal(s->ops->oidc_token_insert(s, &t, NULL, NULL, NULL), TE_CONFLICT);
  /* An issuer deleted meanwhile issues nothing. */
  assert_int_equal(s->ops->oidc_issuer_delete(s, NULL, f->acme.id, a.id, NULL), TE_OK);
  snprintf(t.name, sizeof t.name, "oidc-2");
  assert_int_equal(s->ops->oidc_token_insert(s, &t, NULL, NULL, NULL), TE_NOT_FOUND);
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_NOT_FOUND);
}

/* Queued exchanges (done != NULL): each is reported once with its own result, and those queued
 * together share commits; a taken name, or an issuer deleted meanwhile, fails only its own job. */
struct results {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int reported;
  int result[64];
};

struct slot {
  struct results *all;
  int index;
};

static void note_result(void *arg, int result) {
  struct slot *slot = arg;
  pthread_mutex_lock(&slot->all->lock);
  slot->all->result[slot->index] = result;
  slot->all->reported++;
  pthread_cond_signal(&slot->all->cond);
  pthread_mutex_unlock(&slot->all->lock);
}

static void wait_reported(struct results *r, int n) {
  pthread_mutex_lock(&r->lock);
  while (r->reported < n)
    pthread_cond_wait(&r->cond, &r->lock);
  pthread_mutex_unlock(&r->lock);
}

static void queued_exchange_tokens_report_each_result(void **state) {
  struct fixture *f = *state;
  struct store *s = f->store;
  enum { N = 40 };
  struct store_oidc_issuer a = make_issuer(f->acme.id, "https://ci.example");
  assert_int_equal(s->ops->oidc_issuer_insert(s, NULL, &a, NULL), TE_OK);
  static struct results r = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, {0}};
  static struct slot slots[N + 1];
  static struct store_token tokens[N + 1];
  for (int i = 0; i < N; i++) {
    struct store_token *t = &tokens[i];
    *t = (struct store_token){.kind = TOKEN_ORG, .org_id = f->acme.id, .created = time_now() + i};
    token_fill_secret(t, NULL);
    t->expires = t->created + 600;
    snprintf(t->name, sizeof t->name, "oidc-q%d", i == N - 1 ? 0 : i); /* the last one: taken */
    snprintf(t->oidc_issuer, sizeof t->oidc_issuer, "%s", a.id);
    slots[i] = (struct slot){&r, i};
    r.result[i] = 1;
    assert_int_equal(s->ops->oidc_token_insert(s, t, NULL, note_result, &slots[i]), TE_OK);
  }
  wait_reported(&r, N);
  for (int i = 0; i < N - 1; i++) {
    assert_int_equal(r.result[i], TE_OK);
    struct store_principal p;
    assert_int_equal(s->ops->principal_by_token_hash(s, tokens[i].hash, &p), TE_OK);
    assert_string_equal(p.token.name, tokens[i].name);
  }
  assert_int_equal(r.result[N - 1], TE_CONFLICT);
  /* The issuer's last use is its last token's, and the names are taken. */
  struct store_oidc_issuer got;
  assert_int_equal(s->ops->oidc_issuer_get(s, f->acme.id, a.id, &got), TE_OK);
  assert_int_equal(got.last_used, tokens[N - 2].created);
  store_oidc_issuer_clear(&got);
  token_fill_secret(&tokens[N - 1], NULL);
  snprintf(tokens[N - 1].name, sizeof tokens[N - 1].name, "oidc-q%d", N - 2);
  assert_int_equal(s->ops->oidc_token_insert(s, &tokens[N - 1], NULL, NULL, NULL), TE_CONFLICT);
  /* The issuer is gone: a queued exchange issues nothing. */
  assert_int_equal(s->ops->oidc_issuer_delete(s, NULL, f->acme.id, a.id, NULL), TE_OK);
  struct store_token *t = &tokens[N];
  *t = tokens[0];
  token_fill_secret(t, NULL);
  snprintf(t->name, sizeof t->name, "oidc-late");
  slots[N] = (struct slot){&r, N};
  assert_int_equal(s->ops->oidc_token_insert(s, t, NULL, note_result, &slots[N]), TE_OK);
  wait_reported(&r, N + 1);
  assert_int_equal(r.result[N], TE_NOT_FOUND);
  struct store_principal p;
  assert_int_equal(s->ops->principal_by_token_hash(s, t->hash, &p), TE_NOT_FOUND);
}

/* The in-transaction actor check for a token an exchange made: confined to the issuer's org,
 * without its user's site-admin powers, never a "person", and dead with its issuer. */
static void exchange_tokens_are_confined_actors(void **state) {
  struct fixture *f = *state;
  struct store *s = f->store;
  struct store_user u = {.site_admin = true}, alice;
  snprintf(u.login, sizeof u.login, "alice");
  assert_int_equal(s->ops->user_create(s, &u, &alice), TE_OK);
  struct store_oidc_issuer a = make_issuer(f->acme.id, "https://ci.example");
  assert_int_equal(s->ops->oidc_issuer_insert(s, NULL, &a, NULL), TE_OK);
  struct store_token t = {.kind = TOKEN_PERSONAL, .user_id = alice.id, .created = time_now()};
  char value[TOKEN_VALUE_LEN + 1];
  token_fill_secret(&t, value);
  t.expires = t.created + 600;
  snprintf(t.oidc_issuer, sizeof t.oidc_issuer, "%s", a.id);
  assert_int_equal(s->ops->oidc_token_insert(s, &t, NULL, NULL, NULL), TE_OK);
  struct store_principal p;
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_OK);
  assert_false(p.user.site_admin);
  assert_int_equal(p.scope_org_id, f->acme.id);
  assert_string_equal(p.org, "acme");
  struct store_actor actor = {
      .token_seq = p.token.seq, .user_id = alice.id, .need = ACTOR_ORG_ADMIN};
  /* A site admin's own token could; her CI job's cannot, in either org. */
  assert_int_equal(s->ops->org_set_expiry_policy(s, &actor, f->other.id, 5, NULL), TE_FORBIDDEN);
  assert_int_equal(s->ops->org_set_expiry_policy(s, &actor, f->acme.id, 5, NULL), TE_FORBIDDEN);
  assert_int_equal(s->ops->member_set(s, "acme", "alice", "admin"), TE_OK);
  assert_int_equal(s->ops->org_set_expiry_policy(s, &actor, f->acme.id, 5, NULL), TE_OK);
  assert_int_equal(s->ops->member_set(s, "other", "alice", "admin"), TE_OK);
  assert_int_equal(s->ops->org_set_expiry_policy(s, &actor, f->other.id, 5, NULL), TE_FORBIDDEN);
  actor.need = ACTOR_ORG_ADMIN_PERSON;
  assert_int_equal(s->ops->org_set_expiry_policy(s, &actor, f->acme.id, 6, NULL), TE_FORBIDDEN);
  actor.need = ACTOR_ORG_ADMIN;
  assert_int_equal(s->ops->oidc_issuer_delete(s, NULL, f->acme.id, a.id, NULL), TE_OK);
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_NOT_FOUND);
  assert_int_equal(s->ops->org_set_expiry_policy(s, &actor, f->acme.id, 7, NULL), TE_FORBIDDEN);
}

/* An org token an exchange issued, admin, in acme, expiring in 600 s. */
static struct store_token exchange_admin_token(struct fixture *f, const char *issuer_id,
                                               const char *name, bool manage_access) {
  struct store_token t = {.kind = TOKEN_ORG,
                          .org_id = f->acme.id,
                          .admin = true,
                          .source = TOKEN_SOURCE_OIDC,
                          .manage_access = manage_access,
                          .created = time_now()};
  token_fill_secret(&t, NULL);
  t.expires = t.created + 600;
  snprintf(t.name, sizeof t.name, "%s", name);
  snprintf(t.oidc_issuer, sizeof t.oidc_issuer, "%s", issuer_id);
  assert_int_equal(f->store->ops->oidc_token_insert(f->store, &t, NULL, NULL, NULL), TE_OK);
  struct store_principal p;
  assert_int_equal(f->store->ops->principal_by_token_hash(f->store, t.hash, &p), TE_OK);
  assert_string_equal(p.issuer_name, "ci");
  assert_int_equal(p.token.manage_access, manage_access);
  return p.token;
}

/* Changing who has access takes the issuer's explicit grant, checked in the transaction. */
static void exchange_tokens_change_access_only_when_granted(void **state) {
  struct fixture *f = *state;
  struct store *s = f->store;
  struct store_oidc_issuer a = make_issuer(f->acme.id, "https://ci.example");
  assert_int_equal(s->ops->oidc_issuer_insert(s, NULL, &a, NULL), TE_OK);
  struct store_token plain = exchange_admin_token(f, a.id, "oidc-plain", false);
  struct store_token granted = exchange_admin_token(f, a.id, "oidc-granted", true);
  struct store_actor actor = {.token_seq = plain.seq, .need = ACTOR_ORG_ADMIN};
  assert_int_equal(s->ops->org_set_expiry_policy(s, &actor, f->acme.id, 5, NULL), TE_OK);
  actor.changes_access = true;
  assert_int_equal(s->ops->org_set_expiry_policy(s, &actor, f->acme.id, 6, NULL), TE_FORBIDDEN);
  actor.token_seq = granted.seq;
  assert_int_equal(s->ops->org_set_expiry_policy(s, &actor, f->acme.id, 6, NULL), TE_OK);
}

/* What a machine or exchange-issued token makes expires no later than its maker and dies with
 * it, and with the maker's issuer. */
static void tokens_made_by_tokens_die_with_their_maker(void **state) {
  struct fixture *f = *state;
  struct store *s = f->store;
  struct store_oidc_issuer a = make_issuer(f->acme.id, "https://ci.example");
  assert_int_equal(s->ops->oidc_issuer_insert(s, NULL, &a, NULL), TE_OK);
  struct store_team team = {0};
  snprintf(team.name, sizeof team.name, "ops");
  assert_int_equal(s->ops->team_create(s, NULL, f->acme.id, &team, NULL), TE_OK);
  assert_int_equal(s->ops->team_get(s, f->acme.id, "ops", &team), TE_OK);
  struct store_token maker = exchange_admin_token(f, a.id, "oidc-maker", false);
  struct store_actor actor = {.token_seq = maker.seq, .need = ACTOR_TEAM_ADMIN};
  struct store_token child = {.kind = TOKEN_TEAM,
                              .org_id = f->acme.id,
                              .team_id = team.id,
                              .parent_seq = maker.seq,
                              .created = time_now()};
  token_fill_secret(&child, NULL);
  const char *names[] = {"outlives", "never-expires", "child"};
  int64_t expiries[] = {maker.expires + 1, 0, maker.expires};
  int expected[] = {TE_BAD_REQUEST, TE_BAD_REQUEST, TE_OK};
  for (int i = 0; i < 3; i++) {
    snprintf(child.name, sizeof child.name, "%s", names[i]);
    child.expires = expiries[i];
    assert_int_equal(s->ops->machine_token_insert(s, &actor, &child, NULL), expected[i]);
  }
  struct store_principal p;
  assert_int_equal(s->ops->principal_by_token_hash(s, child.hash, &p), TE_OK);
  assert_int_equal(p.token.parent_seq, maker.seq);
  /* The issuer goes: so do the tokens it issued, and what they made. */
  assert_int_equal(s->ops->oidc_issuer_delete(s, NULL, f->acme.id, a.id, NULL), TE_OK);
  assert_int_equal(s->ops->principal_by_token_hash(s, child.hash, &p), TE_NOT_FOUND);
  struct store_token gone;
  assert_int_equal(s->ops->machine_token_get(s, f->acme.id, child.id, &gone), TE_NOT_FOUND);
  assert_int_equal(s->ops->machine_token_get(s, f->acme.id, maker.id, &gone), TE_NOT_FOUND);
  /* A maker that is gone makes nothing. */
  snprintf(child.name, sizeof child.name, "orphan");
  token_fill_secret(&child, NULL);
  assert_int_equal(s->ops->machine_token_insert(s, NULL, &child, NULL), TE_FORBIDDEN);
}

/* A key refresh stores the keys only over the issuer exactly as it read it. */
static void key_refreshes_never_undo_a_change(void **state) {
  struct fixture *f = *state;
  struct store *s = f->store;
  struct store_oidc_issuer a = make_issuer(f->acme.id, "https://ci.example");
  assert_int_equal(s->ops->oidc_issuer_insert(s, NULL, &a, NULL), TE_OK);
  struct store_oidc_issuer read;
  assert_int_equal(s->ops->oidc_issuer_get(s, f->acme.id, a.id, &read), TE_OK);
  struct store_oidc_issuer changed = a;
  changed.max_expiration = 60; /* an admin's change while the refresh fetched */
  assert_int_equal(s->ops->oidc_issuer_update(s, NULL, &changed, NULL), TE_OK);
  assert_int_equal(s->ops->oidc_issuer_set_keys(s, &read, "{\"keys\":[1]}", time_now()),
                   TE_CONFLICT);
  store_oidc_issuer_clear(&read);
  assert_int_equal(s->ops->oidc_issuer_get(s, f->acme.id, a.id, &read), TE_OK);
  assert_int_equal(read.max_expiration, 60);
  assert_string_equal(read.jwks, "{\"keys\":[]}");
  assert_int_equal(s->ops->oidc_issuer_set_keys(s, &read, "{\"keys\":[1]}", time_now()), TE_OK);
  store_oidc_issuer_clear(&read);
  assert_int_equal(s->ops->oidc_issuer_get(s, f->acme.id, a.id, &read), TE_OK);
  assert_string_equal(read.jwks, "{\"keys\":[1]}");
  assert_int_equal(read.max_expiration, 60);
  store_oidc_issuer_clear(&read);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(issuers_are_kept_per_organization, setup, teardown),
      cmocka_unit_test_setup_teardown(updates_and_policies_change_what_they_say, setup, teardown),
      cmocka_unit_test_setup_teardown(exchange_tokens_note_their_issuer_and_its_use, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(queued_exchange_tokens_report_each_result, setup, teardown),
      cmocka_unit_test_setup_teardown(exchange_tokens_are_confined_actors, setup, teardown),
      cmocka_unit_test_setup_teardown(key_refreshes_never_undo_a_change, setup, teardown),
      cmocka_unit_test_setup_teardown(exchange_tokens_change_access_only_when_granted, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(tokens_made_by_tokens_die_with_their_maker, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
