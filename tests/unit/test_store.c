/* The store through its public interface, on SQLite and on PostgreSQL (store_fixture.h). */
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
#include <sys/stat.h>
#include <unistd.h>

struct fixture {
  char dir[64];
  char path[96];
  struct store *store;
  struct store_user alice, bob;
};

static struct store_user make_user(struct store *s, const char *login) {
  struct store_user u = {0}, out = {0};
  snprintf(u.login, sizeof u.login, "%s", login);
  snprintf(u.name, sizeof u.name, "%s name", login);
  assert_int_equal(s->ops->user_create(s, &u, &out), TE_OK);
  assert_true(out.id > 0);
  return out;
}

static int setup(void **state) {
  struct fixture *f = calloc(1, sizeof *f);
  temp_db_make(f->dir, f->path, "store");
  assert_int_equal(fixture_open(f->path, 2, &f->store), TE_OK);
  f->alice = make_user(f->store, "alice");
  f->bob = make_user(f->store, "bob");
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  if (f->store)
    f->store->ops->close(f->store);
  temp_db_remove(f->dir);
  free(f);
  return 0;
}

static struct store_token make_token(int64_t user_id, const char *description, int64_t expires) {
  struct store_token t = {.kind = TOKEN_PERSONAL, .user_id = user_id, .expires = expires};
  char value[TOKEN_VALUE_LEN + 1];
  token_fill_secret(&t, value);
  snprintf(t.description, sizeof t.description, "%s", description);
  t.created = time_now();
  return t;
}

static void database_file_is_private(void **state) {
  SQLITE_ONLY();
  struct fixture *f = *state;
  struct stat st;
  assert_int_equal(stat(f->path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  char wal[128];
  snprintf(wal, sizeof wal, "%s-wal", f->path);
  assert_int_equal(stat(wal, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
}

static void an_existing_world_readable_file_is_tightened(void **state) {
  SQLITE_ONLY();
  struct fixture *f = *state;
  f->store->ops->close(f->store);
  f->store = NULL;
  assert_int_equal(chmod(f->path, 0644), 0);
  assert_int_equal(fixture_open(f->path, 1, &f->store), TE_OK);
  struct stat st;
  assert_int_equal(stat(f->path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
}

static void logins_are_unique_ignoring_case(void **state) {
  struct fixture *f = *state;
  struct store_user u = {0}, out;
  snprintf(u.login, sizeof u.login, "ALICE");
  assert_int_equal(f->store->ops->user_create(f->store, &u, &out), TE_CONFLICT);
  assert_int_equal(f->store->ops->user_by_login(f->store, "Alice", &out), TE_OK);
  assert_int_equal(out.id, f->alice.id);
  assert_string_equal(out.name, "alice name");
  assert_int_equal(f->store->ops->user_by_login(f->store, "carol", &out), TE_NOT_FOUND);
}

static void memberships_are_listed_by_org_name_with_roles(void **state) {
  struct fixture *f = *state;
  struct store *s = f->store;
  assert_int_equal(s->ops->org_create(s, "zeta"), TE_OK);
  assert_int_equal(s->ops->org_create(s, "acme"), TE_OK);
  assert_int_equal(s->ops->org_create(s, "ACME"), TE_CONFLICT);
  assert_int_equal(s->ops->member_set(s, "zeta", "alice", "member"), TE_OK);
  assert_int_equal(s->ops->member_set(s, "acme", "alice", "member"), TE_OK);
  assert_int_equal(s->ops->member_set(s, "acme", "alice", "admin"), TE_OK); /* role change */
  assert_int_equal(s->ops->member_set(s, "nope", "alice", "admin"), TE_NOT_FOUND);
  assert_int_equal(s->ops->member_set(s, "acme", "nobody", "admin"), TE_NOT_FOUND);
  struct store_membership *m;
  size_t n;
  assert_int_equal(s->ops->memberships(s, f->alice.id, &m, &n), TE_OK);
  assert_int_equal(n, 2);
  assert_string_equal(m[0].org, "acme");
  assert_string_equal(m[0].role, "admin");
  assert_string_equal(m[1].org, "zeta");
  assert_string_equal(m[1].role, "member");
  free(m);
  assert_int_equal(s->ops->memberships(s, f->bob.id, &m, &n), TE_OK);
  assert_int_equal(n, 0);
  free(m);
}

static void tokens_are_found_by_hash_and_only_by_hash(void **state) {
  struct fixture *f = *state;
  struct store *s = f->store;
  struct store_token t = make_token(f->alice.id, "laptop", 0);
  snprintf(t.reason, sizeof t.reason, "cli-login");
  assert_int_equal(s->ops->token_insert(s, &t, NULL, NULL, NULL), TE_OK);
  struct store_principal p;
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_OK);
  assert_string_equal(p.token.id, t.id);
  assert_memory_equal(p.token.hash, t.hash, TOKEN_HASH_LEN);
  assert_string_equal(p.token.description, "laptop");
  assert_string_equal(p.token.reason, "cli-login");
  assert_string_equal(p.token.created_by, "alice");
  assert_string_equal(p.user.login, "alice");
  assert_int_equal(p.user.id, f->alice.id);
  unsigned char other[TOKEN_HASH_LEN];
  memcpy(other, t.hash, sizeof other);
  other[31] ^= 1;
  assert_int_equal(s->ops->principal_by_token_hash(s, other, &p), TE_NOT_FOUND);
  /* the same hash twice is a conflict, never a second row */
  struct store_token dup = make_token(f->alice.id, "dup", 0);
  memcpy(dup.hash, t.hash, TOKEN_HASH_LEN);
  assert_int_equal(s->ops->token_insert(s, &dup, NULL, NULL, NULL), TE_CONFLICT);
}

static void delete_is_scoped_to_the_owner(void **state) {
  struct fixture *f = *state;
  struct store *s = f->store;
  struct store_token t = make_token(f->alice.id, "x", 0);
  assert_int_equal(s->ops->token_insert(s, &t, NULL, NULL, NULL), TE_OK);
  assert_int_equal(s->ops->token_delete(s, f->bob.id, t.id, NULL, NULL, NULL), TE_NOT_FOUND);
  struct store_principal p;
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_OK);
  assert_int_equal(s->ops->token_delete(s, f->alice.id, t.id, NULL, NULL, NULL), TE_OK);
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_NOT_FOUND);
  assert_int_equal(s->ops->token_delete(s, f->alice.id, t.id, NULL, NULL, NULL), TE_NOT_FOUND);
}

static void listing_filters_and_pages_newest_first(void **state) {
  struct fixture *f = *state;
  struct store *s = f->store;
  int64_t now = time_now();
  struct store_token never = make_token(f->alice.id, "never", 0);
  struct store_token later = make_token(f->alice.id, "later", now + 3600);
  struct store_token gone = make_token(f->alice.id, "gone", now - 10);
  struct store_token bobs = make_token(f->bob.id, "bob's", 0);
  assert_int_equal(s->ops->token_insert(s, &never, NULL, NULL, NULL), TE_OK);
  assert_int_equal(s->ops->token_insert(s, &later, NULL, NULL, NULL), TE_OK);
  assert_int_equal(s->ops->token_insert(s, &gone, NULL, NULL, NULL), TE_OK);
  assert_int_equal(s->ops->token_insert(s, &bobs, NULL, NULL, NULL), TE_OK);

  struct store_token_query q = {TOKEN_PERSONAL, f->alice.id, TOKEN_FILTER_ALL, now, INT64_MAX, 10};
  struct store_token *items;
  size_t n;
  assert_int_equal(s->ops->token_list(s, &q, &items, &n), TE_OK);
  assert_int_equal(n, 3);
  assert_string_equal(items[0].description, "gone");
  assert_string_equal(items[2].description, "never");
  free(items);

  q.filter = TOKEN_FILTER_ACTIVE;
  assert_int_equal(s->ops->token_list(s, &q, &items, &n), TE_OK);
  assert_int_equal(n, 2);
  assert_string_equal(items[0].description, "later");
  assert_string_equal(items[1].description, "never");
  free(items);

  q.filter = TOKEN_FILTER_EXPIRED;
  assert_int_equal(s->ops->token_list(s, &q, &items, &n), TE_OK);
  assert_int_equal(n, 1);
  assert_string_equal(items[0].description, "gone");
  free(items);

  q.filter = TOKEN_FILTER_ALL;
  q.limit = 2;
  assert_int_equal(s->ops->token_list(s, &q, &items, &n), TE_OK);
  assert_int_equal(n, 2);
  q.before_seq = items[1].seq;
  free(items);
  assert_int_equal(s->ops->token_list(s, &q, &items, &n), TE_OK);
  assert_int_equal(n, 1);
  assert_string_equal(items[0].description, "never");
  free(items);
}

static void touch_only_raises_last_used(void **state) {
  struct fixture *f = *state;
  struct store *s = f->store;
  struct store_token t = make_token(f->alice.id, "x", 0);
  assert_int_equal(s->ops->token_insert(s, &t, NULL, NULL, NULL), TE_OK);
  struct store_principal p;
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_OK);
  assert_int_equal(p.token.last_used, 0);
  struct store_last_used up = {p.token.seq, 2000};
  assert_int_equal(s->ops->tokens_touch(s, &up, 1), TE_OK);
  up.last_used = 1000;
  assert_int_equal(s->ops->tokens_touch(s, &up, 1), TE_OK);
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_OK);
  assert_int_equal(p.token.last_used, 2000);
  /* More uses than one statement takes, with seqs of no token (deleted meanwhile): no error;
   * SQLite skips them, PostgreSQL keeps them, unread (pg_sql.c). */
  static struct store_last_used many[6001];
  for (int i = 0; i < 6000; i++)
    many[i] = (struct store_last_used){1000000 + i, 5000};
  many[6000] = (struct store_last_used){p.token.seq, 3000};
  assert_int_equal(s->ops->tokens_touch(s, many, 6001), TE_OK);
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_OK);
  assert_int_equal(p.token.last_used, 3000);
  struct store_token_query q = {.kind = TOKEN_PERSONAL,
                                .owner_id = f->alice.id,
                                .before_seq = INT64_MAX,
                                .filter = TOKEN_FILTER_ALL,
                                .limit = 10};
  struct store_token *items;
  size_t n;
  assert_int_equal(s->ops->token_list(s, &q, &items, &n), TE_OK);
  assert_int_equal(n, 1);
  assert_int_equal(items[0].last_used, 3000); /* listings show it too */
  free(items);
}

/* Group commit: many concurrent asynchronous inserts all become durable, each reported once. */
struct counter {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int ok, failed;
};

static void count_done(void *arg, int result) {
  struct counter *c = arg;
  pthread_mutex_lock(&c->lock);
  if (result == TE_OK)
    c->ok++;
  else
    c->failed++;
  pthread_cond_signal(&c->cond);
  pthread_mutex_unlock(&c->lock);
}

static void concurrent_async_inserts_all_commit(void **state) {
  struct fixture *f = *state;
  struct store *s = f->store;
  enum { N = 300 };
  struct counter c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
  static struct store_token tokens[N];
  for (int i = 0; i < N; i++) {
    tokens[i] = make_token(f->alice.id, "batch", 0);
    if (i == N / 2)
      memcpy(tokens[i].hash, tokens[0].hash, TOKEN_HASH_LEN); /* one bad job in a batch */
    assert_int_equal(s->ops->token_insert(s, &tokens[i], NULL, count_done, &c), TE_OK);
  }
  pthread_mutex_lock(&c.lock);
  while (c.ok + c.failed < N)
    pthread_cond_wait(&c.cond, &c.lock);
  pthread_mutex_unlock(&c.lock);
  assert_int_equal(c.ok, N - 1);
  assert_int_equal(c.failed, 1);
  /* a failing job must not take its batch down with it: reopen and count what is on disk */
  s->ops->close(s);
  assert_int_equal(fixture_open(f->path, 1, &f->store), TE_OK);
  s = f->store;
  struct store_token_query q = {TOKEN_PERSONAL, f->alice.id, TOKEN_FILTER_ALL,
                                time_now(),     INT64_MAX,   1000};
  struct store_token *items;
  size_t n;
  assert_int_equal(s->ops->token_list(s, &q, &items, &n), TE_OK);
  assert_int_equal(n, N - 1);
  free(items);
}

static void reopening_keeps_the_schema_and_data(void **state) {
  struct fixture *f = *state;
  struct store *s = f->store;
  struct store_token t = make_token(f->alice.id, "persist", 0);
  assert_int_equal(s->ops->token_insert(s, &t, NULL, NULL, NULL), TE_OK);
  s->ops->close(s);
  assert_int_equal(fixture_open(f->path, 1, &f->store), TE_OK);
  struct store_principal p;
  assert_int_equal(f->store->ops->principal_by_token_hash(f->store, t.hash, &p), TE_OK);
  assert_string_equal(p.token.description, "persist");
}

/* Console sessions are tokens of source "session": usable, never listed, purged once expired. */
static void sessions_are_unlisted_and_purged_once_expired(void **state) {
  struct fixture *f = *state;
  struct store *s = f->store;
  struct store_token live = make_token(f->alice.id, "session", time_now() + 3600);
  struct store_token dead = make_token(f->alice.id, "old session", time_now() - 10);
  struct store_token token = make_token(f->alice.id, "laptop", 0);
  live.source = dead.source = TOKEN_SOURCE_SESSION;
  assert_int_equal(s->ops->token_insert(s, &live, NULL, NULL, NULL), TE_OK);
  assert_int_equal(s->ops->token_insert(s, &dead, NULL, NULL, NULL), TE_OK);
  assert_int_equal(s->ops->token_insert(s, &token, NULL, NULL, NULL), TE_OK);
  struct store_token_query q = {TOKEN_PERSONAL, f->alice.id, TOKEN_FILTER_ALL,
                                time_now(),     INT64_MAX,   10};
  struct store_token *items;
  size_t n;
  assert_int_equal(s->ops->token_list(s, &q, &items, &n), TE_OK);
  assert_int_equal(n, 1);
  assert_string_equal(items[0].description, "laptop");
  free(items);
  assert_int_equal(s->ops->sessions_purge(s, time_now()), TE_OK);
  struct store_principal p;
  assert_int_equal(s->ops->principal_by_token_hash(s, dead.hash, &p), TE_NOT_FOUND);
  assert_int_equal(s->ops->principal_by_token_hash(s, live.hash, &p), TE_OK);
  assert_int_equal(p.token.source, TOKEN_SOURCE_SESSION);
  assert_int_equal(s->ops->principal_by_token_hash(s, token.hash, &p), TE_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(sessions_are_unlisted_and_purged_once_expired, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(database_file_is_private, setup, teardown),
      cmocka_unit_test_setup_teardown(an_existing_world_readable_file_is_tightened, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(logins_are_unique_ignoring_case, setup, teardown),
      cmocka_unit_test_setup_teardown(memberships_are_listed_by_org_name_with_roles, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(tokens_are_found_by_hash_and_only_by_hash, setup, teardown),
      cmocka_unit_test_setup_teardown(delete_is_scoped_to_the_owner, setup, teardown),
      cmocka_unit_test_setup_teardown(listing_filters_and_pages_newest_first, setup, teardown),
      cmocka_unit_test_setup_teardown(touch_only_raises_last_used, setup, teardown),
      cmocka_unit_test_setup_teardown(concurrent_async_inserts_all_commit, setup, teardown),
      cmocka_unit_test_setup_teardown(reopening_keeps_the_schema_and_data, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
