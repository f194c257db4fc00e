/* The caching store decorator (store/cache.c) over a real SQLite store. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "store/store.h"
#include "store_fixture.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The value of one series of tessera_cache_* as GET /metrics would show it now. */
static long long counted(const char *series) {
  struct prom_text text = {0};
  metrics_render(&text);
  const char *at = strstr(text.data, series);
  long long v = at ? strtoll(at + strlen(series), NULL, 10) : -1;
  free(text.data);
  return v;
}

/* Waits (bounded) until the last cache opened has loaded every token. */
static void until_complete(void) {
  for (int i = 0; i < 500 && counted("\ntessera_cache_complete ") != 1; i++) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  assert_int_equal(counted("\ntessera_cache_complete "), 1);
}

struct fixture {
  char dir[64];
  char path[96];
  struct store *cached; /* the decorator, as the server uses it */
  struct store *other;  /* a second, uncached handle: "another process" writing */
  struct store_user alice;
};

static int setup(void **state) {
  struct fixture *f = calloc(1, sizeof *f);
  temp_db_make(f->dir, f->path, "cache");
  struct store *inner;
  assert_int_equal(fixture_open(f->path, 2, &inner), TE_OK);
  assert_int_equal(store_cache_wrap(inner, 50, 60000, 3600, &f->cached), TE_OK);
  assert_int_equal(fixture_open(f->path, 1, &f->other), TE_OK);
  struct store_user u = {0};
  snprintf(u.login, sizeof u.login, "alice");
  assert_int_equal(f->cached->ops->user_create(f->cached, &u, &f->alice), TE_OK);
  until_complete();
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  f->cached->ops->close(f->cached);
  f->other->ops->close(f->other);
  temp_db_remove(f->dir);
  free(f);
  return 0;
}

static struct store_token insert_token(struct store *s, int64_t user_id) {
  struct store_token t = {.kind = TOKEN_PERSONAL, .user_id = user_id, .created = time_now()};
  char value[TOKEN_VALUE_LEN + 1];
  token_fill_secret(&t, value);
  assert_int_equal(s->ops->token_insert(s, &t, NULL, NULL, NULL), TE_OK);
  return t;
}

static void lookups_carry_a_version_that_moves_with_what_they_show(void **state) {
  struct fixture *f = *state;
  struct store *s = f->cached;
  struct store_token t = insert_token(s, f->alice.id);
  struct store_principal a, b;
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &a), TE_OK);
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &b), TE_OK);
  assert_true(a.version != 0);
  assert_int_equal(a.version, b.version); /* a hit: nothing was written in between */
  assert_int_equal(s->ops->org_create(s, "acme"), TE_OK);
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &b), TE_OK);
  assert_int_equal(b.version, a.version); /* a write alice's token does not depend on */
  assert_int_equal(s->ops->member_set(s, "acme", "alice", "member"), TE_OK);
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &b), TE_OK);
  assert_true(b.version != a.version); /* her memberships changed: what /api/user shows */
}

/* Polls (bounded) until the cached store no longer finds the token. */
static int until_gone(struct store *s, const unsigned char hash[TOKEN_HASH_LEN]) {
  struct store_principal p;
  int found = TE_OK;
  for (int i = 0; i < 200 && found == TE_OK; i++) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
    found = s->ops->principal_by_token_hash(s, hash, &p);
  }
  return found;
}

static void a_change_drops_only_the_entries_that_depend_on_it(void **state) {
  struct fixture *f = *state;
  struct store *s = f->cached;
  struct store_token gone = insert_token(s, f->alice.id), kept = insert_token(s, f->alice.id);
  struct store_principal before, after;
  assert_int_equal(s->ops->principal_by_token_hash(s, gone.hash, &after), TE_OK);
  assert_int_equal(s->ops->principal_by_token_hash(s, kept.hash, &before), TE_OK);
  /* Deleted by another process (or node): the feed names that token, and only it. */
  assert_int_equal(f->other->ops->token_delete(f->other, f->alice.id, gone.id, NULL, NULL, NULL),
                   TE_OK);
  assert_int_equal(until_gone(s, gone.hash), TE_NOT_FOUND);
  assert_int_equal(s->ops->principal_by_token_hash(s, kept.hash, &after), TE_OK);
  assert_int_equal(after.version, before.version); /* still the same entry: a hit */
}

static void deleting_a_token_drops_the_tokens_made_with_it(void **state) {
  struct fixture *f = *state;
  struct store *s = f->cached;
  struct store_token parent = insert_token(s, f->alice.id);
  struct store_principal p;
  assert_int_equal(s->ops->principal_by_token_hash(s, parent.hash, &p), TE_OK);
  struct store_token child = {.kind = TOKEN_PERSONAL,
                              .user_id = f->alice.id,
                              .created = time_now(),
                              .source = TOKEN_SOURCE_SESSION,
                              .parent_seq = p.token.seq};
  char value[TOKEN_VALUE_LEN + 1];
  token_fill_secret(&child, value);
  assert_int_equal(s->ops->token_insert(s, &child, NULL, NULL, NULL), TE_OK);
  assert_int_equal(s->ops->principal_by_token_hash(s, child.hash, &p), TE_OK);
  /* The database's cascade deletes the child; its trigger names it in the feed too. */
  assert_int_equal(f->other->ops->token_delete(f->other, f->alice.id, parent.id, NULL, NULL, NULL),
                   TE_OK);
  assert_int_equal(until_gone(s, child.hash), TE_NOT_FOUND);
}

/* A database restored from a backup (or failed over to a standby that was behind) has a lower
 * data version than the cache has read: changes made after it would reuse versions the cache
 * thinks it has seen. It must forget everything instead of missing them. */
static void a_version_that_went_back_makes_the_cache_forget(void **state) {
  struct fixture *f = *state;
  struct store *s = f->cached;
  struct store_token t = insert_token(s, f->alice.id);
  struct store_principal p;
  /* Some changes first, so that the version the cache has read is above the restored one. */
  assert_int_equal(s->ops->org_create(s, "acme"), TE_OK);
  assert_int_equal(s->ops->member_set(s, "acme", "alice", "member"), TE_OK);
  assert_int_equal(s->ops->member_set(s, "acme", "alice", "admin"), TE_OK);
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_OK); /* cached */
  fixture_sql(f->path, "UPDATE tessera_version SET v = 0"); /* as a restore would leave it */
  /* Its change is numbered 1: "seen" already, were the cache to believe its numbers. */
  assert_int_equal(f->other->ops->token_delete(f->other, f->alice.id, t.id, NULL, NULL, NULL),
                   TE_OK);
  assert_int_equal(until_gone(s, t.hash), TE_NOT_FOUND);
}

static void a_cache_that_cannot_read_its_feed_stops_answering_from_memory(void **state) {
  SQLITE_ONLY(); /* PostgreSQL's case, the database stopped, is the multi-node suite's */
  struct fixture *f = *state;
  struct store *inner, *s;
  assert_int_equal(fixture_open(f->path, 1, &inner), TE_OK);
  assert_int_equal(store_cache_wrap(inner, 20, 200, 3600, &s), TE_OK);
  struct store_token t = insert_token(s, f->alice.id);
  struct store_principal p;
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_OK);
  assert_true(p.version != 0); /* cached */
  /* The feed becomes unreadable (the triggers follow the rename, so writes still work). */
  fixture_sql(f->path, "ALTER TABLE changes RENAME TO changes_unreadable");
  assert_int_equal(f->other->ops->token_delete(f->other, f->alice.id, t.id, NULL, NULL, NULL),
                   TE_OK);
  struct timespec ts = {0, 400 * 1000 * 1000}; /* past the 200 ms bound */
  nanosleep(&ts, NULL);
  /* Not the stale yes from memory: the store's own answer. */
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_NOT_FOUND);
  struct store_token other = insert_token(f->other, f->alice.id);
  assert_int_equal(s->ops->principal_by_token_hash(s, other.hash, &p), TE_OK);
  assert_int_equal(p.version, 0); /* and nothing kept while the feed is out */
  s->ops->close(s);
}

/* A token changed in place behind the server's back (its expiry set with the sqlite3 shell) is in
 * the feed too: the entry is read again, not dropped as if deleted, nor kept as it was. */
static void a_token_changed_in_place_is_read_again(void **state) {
  struct fixture *f = *state;
  struct store *s = f->cached;
  struct store_token t = insert_token(s, f->alice.id);
  struct store_principal p;
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_OK);
  assert_int_equal(p.token.expires, 0);
  char sql[160];
  snprintf(sql, sizeof sql, "UPDATE tokens SET expires = 1000 WHERE id = '%s'", t.id);
  fixture_sql(f->path, sql);
  for (int i = 0; i < 200 && p.token.expires != 1000; i++) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_OK);
  }
  assert_int_equal(p.token.expires, 1000);
  assert_false(s->ops->token_revoked(s, t.hash)); /* it was not deleted */
  /* A new lastUsed alone is no change. */
  struct store_change_page page;
  assert_int_equal(s->ops->changes_since(s, INT64_MAX, 1, &page), TE_OK);
  free(page.items);
  int64_t before = page.current;
  struct store_last_used touch = {p.token.seq, 2000000000};
  assert_int_equal(f->other->ops->tokens_touch(f->other, &touch, 1), TE_OK);
  assert_int_equal(s->ops->changes_since(s, before, 10, &page), TE_OK);
  assert_int_equal(page.count, 0);
  free(page.items);
}

/* The cache leaves out the uses of tokens its feed said were deleted: PostgreSQL's statement
 * writes every use it is given (pg_sql.c), without a look at tokens. */
static void uses_of_tokens_gone_are_left_out(void **state) {
  struct fixture *f = *state;
  struct store *s = f->cached;
  struct store_token kept = insert_token(s, f->alice.id), gone = insert_token(s, f->alice.id);
  struct store_principal p;
  assert_int_equal(s->ops->principal_by_token_hash(s, kept.hash, &p), TE_OK);
  int64_t kept_seq = p.token.seq;
  assert_int_equal(s->ops->principal_by_token_hash(s, gone.hash, &p), TE_OK);
  int64_t gone_seq = p.token.seq;
  assert_int_equal(s->ops->token_delete(s, f->alice.id, gone.id, NULL, NULL, NULL), TE_OK);
  struct store_last_used uses[] = {{gone_seq, 2000000000}, {kept_seq, 2000000000}};
  assert_int_equal(s->ops->tokens_touch(s, uses, 2), TE_OK);
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM token_uses WHERE seq = %lld",
           (long long)kept_seq);
  assert_int_equal(fixture_number(f->path, sql), 1);
  assert_int_equal(fixture_number(f->path, "SELECT count(*) FROM token_uses"), 1);
  /* Only gone ones: nothing to write, and no error. */
  assert_int_equal(s->ops->tokens_touch(s, uses, 1), TE_OK);
  assert_int_equal(fixture_number(f->path, "SELECT count(*) FROM token_uses"), 1);
  assert_int_equal(s->ops->principal_by_token_hash(s, kept.hash, &p), TE_OK);
  assert_int_equal(p.token.last_used, 2000000000);
  /* A token made by another process a moment ago and used through this cache (read from the
   * store, so held from then on) is written, whether or not the feed has named it yet. */
  struct store_token elsewhere = insert_token(f->other, f->alice.id);
  assert_int_equal(s->ops->principal_by_token_hash(s, elsewhere.hash, &p), TE_OK);
  struct store_last_used use = {p.token.seq, 2000000001};
  assert_int_equal(s->ops->tokens_touch(s, &use, 1), TE_OK);
  assert_int_equal(fixture_number(f->path, "SELECT count(*) FROM token_uses"), 2);
}

static void a_delete_through_the_cache_is_seen_at_once(void **state) {
  struct fixture *f = *state;
  struct store *s = f->cached;
  struct store_token t = insert_token(s, f->alice.id);
  struct store_principal p;
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_OK); /* now cached */
  assert_int_equal(s->ops->token_delete(s, f->alice.id, t.id, NULL, NULL, NULL), TE_OK);
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_NOT_FOUND);
}

/* Tokens the cache held when their deletion came through the feed are remembered as revoked
 * (for tessera_auth_checks_total), also one never looked up: the cache holds every token. A hash
 * never issued is not. */
static void a_deleted_token_it_held_is_known_as_revoked(void **state) {
  struct fixture *f = *state;
  struct store *s = f->cached;
  struct store_token held = insert_token(s, f->alice.id), unseen = insert_token(s, f->alice.id);
  struct store_principal p;
  assert_int_equal(s->ops->principal_by_token_hash(s, held.hash, &p), TE_OK);
  assert_false(s->ops->token_revoked(s, held.hash));
  assert_int_equal(s->ops->token_delete(s, f->alice.id, held.id, NULL, NULL, NULL), TE_OK);
  assert_int_equal(s->ops->principal_by_token_hash(s, held.hash, &p), TE_NOT_FOUND);
  assert_true(s->ops->token_revoked(s, held.hash));
  /* Asked before the next deletion: one of 1024 slots, which a later deletion may take. */
  assert_int_equal(s->ops->token_delete(s, f->alice.id, unseen.id, NULL, NULL, NULL), TE_OK);
  assert_true(s->ops->token_revoked(s, unseen.hash));
  unsigned char never[TOKEN_HASH_LEN] = {0};
  assert_false(s->ops->token_revoked(s, never)); /* an all-zero hash is no free slot's match */
}

static void lookups_and_drops_are_counted(void **state) {
  struct fixture *f = *state;
  struct store *s = f->cached;
  const char *hits = "tessera_cache_lookups_total{cache=\"principal\",result=\"hit\"} ";
  const char *misses = "tessera_cache_lookups_total{cache=\"principal\",result=\"miss\"} ";
  const char *dropped = "tessera_cache_invalidations_total{scope=\"entry\"} ";
  long long hit = counted(hits), miss = counted(misses), drop = counted(dropped);
  long long held = counted("\ntessera_cache_tokens ");
  struct store_token t = insert_token(s, f->alice.id); /* loaded when the feed names it */
  assert_int_equal(counted("\ntessera_cache_tokens ") - held, 1);
  struct store_principal p;
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_OK); /* from memory */
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_OK);
  assert_int_equal(counted(hits) - hit, 2);
  assert_int_equal(counted(misses) - miss, 0);
  assert_int_equal(s->ops->token_delete(s, f->alice.id, t.id, NULL, NULL, NULL), TE_OK);
  assert_int_equal(counted(dropped) - drop, 1); /* its entry, and nothing else depended on it */
  assert_int_equal(counted("\ntessera_cache_tokens ") - held, 0);
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_NOT_FOUND);
}

/* A token made by another process (or node) is loaded when the feed names it: looked up later, it
 * is answered from memory, without a read of the store. */
static void a_token_made_elsewhere_is_loaded_from_the_feed(void **state) {
  struct fixture *f = *state;
  struct store *s = f->cached;
  const char *misses = "tessera_cache_lookups_total{cache=\"principal\",result=\"miss\"} ";
  long long held = counted("\ntessera_cache_tokens ");
  struct store_token t = insert_token(f->other, f->alice.id);
  for (int i = 0; i < 200 && counted("\ntessera_cache_tokens ") == held; i++) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL); /* the next poll of the feed (every 50 ms here) */
  }
  assert_int_equal(counted("\ntessera_cache_tokens ") - held, 1);
  long long miss = counted(misses);
  struct store_principal p;
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_OK);
  assert_string_equal(p.user.login, "alice");
  assert_memory_equal(p.token.hash, t.hash, TOKEN_HASH_LEN);
  assert_string_equal(p.token.id, t.id);
  assert_int_equal(counted(misses), miss);
}

/* A cache opened on a database that has tokens loads them all, in pages, while it already
 * answers (from the store); once complete, it answers them from memory and refuses a hash it
 * does not hold without reading the store. */
static void a_new_cache_loads_every_token_and_refuses_others_from_memory(void **state) {
  struct fixture *f = *state;
  struct store_token a = insert_token(f->other, f->alice.id),
                     b = insert_token(f->other, f->alice.id);
  char sql[512];
  /* 2500 more: several of the loader's pages. */
  snprintf(sql, sizeof sql,
           fixture_is_pg()
               ? "INSERT INTO tokens (id, hash, kind, user_id, name, description, created_by, "
                 "created) SELECT 'bulk-' || i, sha256(i::text::bytea), 'personal', %lld, '', '', "
                 "'', 1 FROM generate_series(1, 2500) i"
               : "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500) "
                 "INSERT INTO tokens (id, hash, kind, user_id, name, description, created_by, "
                 "created) SELECT 'bulk-' || i, randomblob(32), 'personal', %lld, '', '', '', 1 "
                 "FROM n",
           (long long)f->alice.id);
  fixture_sql(f->path, sql);
  /* The new cache in place of the fixture's, so that the gauges are its own. */
  f->cached->ops->close(f->cached);
  struct store *inner, *s;
  assert_int_equal(fixture_open(f->path, 1, &inner), TE_OK);
  assert_int_equal(store_cache_wrap(inner, 50, 60000, 3600, &s), TE_OK);
  f->cached = s;
  until_complete();
  assert_int_equal(counted("\ntessera_cache_tokens "), 2502);
  const char *misses = "tessera_cache_lookups_total{cache=\"principal\",result=\"miss\"} ";
  long long miss = counted(misses);
  struct store_principal p;
  assert_int_equal(s->ops->principal_by_token_hash(s, a.hash, &p), TE_OK);
  assert_int_equal(s->ops->principal_by_token_hash(s, b.hash, &p), TE_OK);
  assert_int_equal(counted(misses), miss); /* both from memory */
  /* Hashes it does not hold: the first 20 a second are asked of the store (a token
   * made elsewhere a moment ago, not in the feed yet), the rest of a flood refused from memory. */
  for (int i = 0; i < 2000; i++) {
    unsigned char never[TOKEN_HASH_LEN];
    memset(never, 0x5a, sizeof never);
    memcpy(never, &i, sizeof i);
    assert_int_equal(s->ops->principal_by_token_hash(s, never, &p), TE_NOT_FOUND);
  }
  long long read = counted(misses) - miss;
  assert_true(read >= 20 && read <= 200); /* 20 a second; the loop may span a few seconds */
  /* Deleted elsewhere: refused once the feed says so. */
  assert_int_equal(f->other->ops->token_delete(f->other, f->alice.id, a.id, NULL, NULL, NULL),
                   TE_OK);
  assert_int_equal(until_gone(s, a.hash), TE_NOT_FOUND);
  /* The gauge is published once the whole page of the feed is applied, a moment after the entry
   * went (applying a deletion reads the store again). */
  for (int i = 0; i < 200 && counted("\ntessera_cache_tokens ") != 2501; i++) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  assert_int_equal(counted("\ntessera_cache_tokens "), 2501);
}

/* A revoked token, retried, is refused from memory without spending the store reads a complete
 * cache keeps for values it does not hold: a token made elsewhere a moment ago is found at once. */
static void retried_revoked_tokens_spend_no_store_reads(void **state) {
  struct fixture *f = *state;
  struct store *s = f->cached;
  const char *misses = "tessera_cache_lookups_total{cache=\"principal\",result=\"miss\"} ";
  struct store_token t = insert_token(s, f->alice.id);
  assert_int_equal(s->ops->token_delete(s, f->alice.id, t.id, NULL, NULL, NULL), TE_OK);
  long long miss = counted(misses);
  struct store_principal p;
  for (int i = 0; i < 500; i++)
    assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_NOT_FOUND);
  assert_int_equal(counted(misses), miss);
  struct store_token made = insert_token(f->other, f->alice.id);
  assert_int_equal(s->ops->principal_by_token_hash(s, made.hash, &p), TE_OK);
}

/* A token changed in place while made-up values flood the cache (its reads of the store spent):
 * the change replaces its entry, and it is never refused meanwhile. */
static void a_token_changed_in_place_under_a_flood_is_never_refused(void **state) {
  struct fixture *f = *state;
  struct store *s = f->cached;
  struct store_token t = insert_token(s, f->alice.id);
  char sql[160];
  snprintf(sql, sizeof sql, "UPDATE tokens SET expires = 4000000000 WHERE id = '%s'", t.id);
  fixture_sql(f->path, sql);
  struct store_principal p = {0};
  for (int round = 0; round < 40 && p.token.expires != 4000000000; round++) {
    for (int i = 0; i < 300; i++) {
      unsigned char never[TOKEN_HASH_LEN];
      memset(never, 0x77, sizeof never);
      memcpy(never, &i, sizeof i);
      assert_int_equal(s->ops->principal_by_token_hash(s, never, &p), TE_NOT_FOUND);
    }
    assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_OK);
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  assert_int_equal(p.token.expires, 4000000000);
}

/* --- a store whose feed lags, and whose lookup of one hash has a change applied meanwhile ---
 * Its ops table is a copy of the real store's with three entries replaced, set on the real
 * store itself, so every other op still gets the object it expects. */
static struct {
  const struct store_ops *real;
  struct store_ops ops;
  int64_t visible;                          /* the feed shows changes up to this version */
  int64_t apply_meanwhile;                  /* > 0: the version the armed lookup lets through */
  unsigned char armed_hash[TOKEN_HASH_LEN]; /* the lookup during which a change is applied */
  void (*watcher)(void *arg);
  void *watcher_arg;
} lag;

static int lag_changes_since(struct store *store, int64_t after, int limit,
                             struct store_change_page *page) {
  int rc = lag.real->changes_since(store, after, limit, page);
  if (rc == TE_OK) {
    int64_t visible = atomic_load(&lag.visible);
    while (page->count && page->items[page->count - 1].version > visible)
      page->count--;
    if (page->current > visible)
      page->current = visible;
  }
  return rc;
}

static void lag_watch(struct store *store, void (*fn)(void *arg), void *arg) {
  lag.watcher = fn;
  lag.watcher_arg = arg;
  lag.real->watch(store, fn, arg);
}

static int lag_lookup(struct store *store, const unsigned char hash[TOKEN_HASH_LEN],
                      struct store_principal *out) {
  int rc = lag.real->principal_by_token_hash(store, hash, out);
  if (lag.apply_meanwhile && memcmp(hash, lag.armed_hash, TOKEN_HASH_LEN) == 0) {
    atomic_store(&lag.visible, lag.apply_meanwhile); /* the feed brings a change meanwhile */
    lag.apply_meanwhile = 0;
    lag.watcher(lag.watcher_arg);
  }
  return rc;
}

static int64_t feed_now(struct store *s) {
  struct store_change_page page;
  assert_int_equal(lag.real->changes_since(s, INT64_MAX, 1, &page), TE_OK);
  free(page.items);
  return page.current;
}

/* A token made elsewhere, which the feed has not brought yet, found by a read of the store while
 * the feed applies another change (which could have been its deletion, so that read's fill is not
 * kept): its next lookup, when made-up values have spent the second's reads of the store, is
 * answered from memory all the same. It was refused: accepted once, then not, until the feed
 * caught up. */
static void a_token_found_while_a_change_is_applied_stays_accepted(void **state) {
  struct fixture *f = *state;
  f->cached->ops->close(f->cached);
  struct store *inner, *s;
  assert_int_equal(fixture_open(f->path, 2, &inner), TE_OK);
  lag.real = inner->ops;
  lag.ops = *inner->ops;
  lag.ops.changes_since = lag_changes_since;
  lag.ops.watch = lag_watch;
  lag.ops.principal_by_token_hash = lag_lookup;
  atomic_store(&lag.visible, INT64_MAX);
  lag.apply_meanwhile = 0;
  inner->ops = &lag.ops;
  assert_int_equal(store_cache_wrap(inner, 50, 60000, 3600, &s), TE_OK);
  f->cached = s;
  until_complete();

  assert_int_equal(f->other->ops->org_create(f->other, "acme"), TE_OK);
  atomic_store(&lag.visible, feed_now(inner)); /* from here the feed shows nothing new */
  /* The change applied meanwhile: alice's memberships (a new token's, loading it, would not do). */
  assert_int_equal(f->other->ops->member_set(f->other, "acme", "alice", "member"), TE_OK);
  int64_t joined = feed_now(inner);
  assert_true(joined > atomic_load(&lag.visible));
  struct store_token t = insert_token(f->other, f->alice.id);
  memcpy(lag.armed_hash, t.hash, TOKEN_HASH_LEN);
  struct store_principal p;
  /* The first lookup reads the store unless this second's reads are spent already: then the
   * next second's. */
  lag.apply_meanwhile = joined;
  for (int i = 0; i < 30 && lag.apply_meanwhile; i++) {
    if (s->ops->principal_by_token_hash(s, t.hash, &p) == TE_OK)
      break;
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  assert_int_equal(lag.apply_meanwhile, 0);
  assert_int_equal(atomic_load(&lag.visible), joined);
  /* Made-up values until one is refused without a read of the store: this second's are spent. */
  const char *misses = "tessera_cache_lookups_total{cache=\"principal\",result=\"miss\"} ";
  bool spent = false;
  for (int i = 0; i < 1000 && !spent; i++) {
    unsigned char never[TOKEN_HASH_LEN];
    memset(never, 0x3c, sizeof never);
    memcpy(never, &i, sizeof i);
    long long miss = counted(misses);
    assert_int_equal(s->ops->principal_by_token_hash(s, never, &p), TE_NOT_FOUND);
    spent = counted(misses) == miss;
  }
  assert_true(spent);
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_OK);
  assert_string_equal(p.token.id, t.id);
  atomic_store(&lag.visible, INT64_MAX);
}

struct done_flag {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool done;
  int result;
  struct store *store;
  unsigned char hash[TOKEN_HASH_LEN];
  int lookup_in_callback; /* what a lookup returned from inside done(): must already be fresh */
};

static void on_deleted(void *arg, int result) {
  struct done_flag *d = arg;
  struct store_principal p;
  d->lookup_in_callback = d->store->ops->principal_by_token_hash(d->store, d->hash, &p);
  pthread_mutex_lock(&d->lock);
  d->done = true;
  d->result = result;
  pthread_cond_signal(&d->cond);
  pthread_mutex_unlock(&d->lock);
}

static void an_async_delete_invalidates_before_it_reports(void **state) {
  struct fixture *f = *state;
  struct store *s = f->cached;
  struct store_token t = insert_token(s, f->alice.id);
  struct store_principal p;
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_OK);
  struct done_flag d = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, -1, s, {0}, -1};
  memcpy(d.hash, t.hash, TOKEN_HASH_LEN);
  assert_int_equal(s->ops->token_delete(s, f->alice.id, t.id, NULL, on_deleted, &d), TE_OK);
  pthread_mutex_lock(&d.lock);
  while (!d.done)
    pthread_cond_wait(&d.cond, &d.lock);
  pthread_mutex_unlock(&d.lock);
  assert_int_equal(d.result, TE_OK);
  assert_int_equal(d.lookup_in_callback, TE_NOT_FOUND);
}

static void writes_by_another_process_are_seen_after_a_poll(void **state) {
  struct fixture *f = *state;
  struct store *s = f->cached;
  struct store_token t = insert_token(s, f->alice.id);
  struct store_principal p;
  struct store_membership *m;
  size_t n;
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_OK);
  assert_int_equal(s->ops->memberships(s, f->alice.id, &m, &n), TE_OK);
  free(m);
  assert_int_equal(n, 0);
  /* The uncached handle stands for `tessera admin` in another process. */
  assert_int_equal(f->other->ops->org_create(f->other, "acme"), TE_OK);
  assert_int_equal(f->other->ops->member_set(f->other, "acme", "alice", "admin"), TE_OK);
  assert_int_equal(f->other->ops->token_delete(f->other, f->alice.id, t.id, NULL, NULL, NULL),
                   TE_OK);
  int found = TE_OK;
  for (int i = 0; i < 100 && (found == TE_OK || n == 0); i++) { /* the poll runs every 50 ms */
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    found = s->ops->principal_by_token_hash(s, t.hash, &p);
    assert_int_equal(s->ops->memberships(s, f->alice.id, &m, &n), TE_OK);
    free(m);
  }
  assert_int_equal(found, TE_NOT_FOUND);
  assert_int_equal(n, 1);
}

/* Organizations by name come from memory until the feed names them: a change by another process
 * is seen after a poll, one through the cache at once, and a deleted one is no longer found. */
static void organizations_are_read_again_once_the_feed_names_them(void **state) {
  struct fixture *f = *state;
  struct store *s = f->cached;
  /* A cache that never polls: what it answers after another process's change is its memory (on
   * SQLite; on PostgreSQL the other handle's NOTIFY reaches it at once, as it would another
   * node). */
  struct store *inner, *frozen;
  assert_int_equal(fixture_open(f->path, 1, &inner), TE_OK);
  assert_int_equal(store_cache_wrap(inner, 3600 * 1000, 3600 * 1000, 3600, &frozen), TE_OK);
  assert_int_equal(f->other->ops->org_create(f->other, "acme"), TE_OK);
  struct store_org org, again;
  assert_int_equal(s->ops->org_by_name(s, "acme", &org), TE_OK);
  assert_int_equal(frozen->ops->org_by_name(frozen, "acme", &org), TE_OK);
  assert_int_equal(org.max_token_expiry_days, 0);
  assert_int_equal(f->other->ops->org_set_expiry_policy(f->other, NULL, org.id, 30, NULL), TE_OK);
  assert_int_equal(frozen->ops->org_by_name(frozen, "acme", &again), TE_OK);
  if (!fixture_is_pg())
    assert_int_equal(again.max_token_expiry_days, 0);                  /* held */
  for (int i = 0; i < 500 && again.max_token_expiry_days != 30; i++) { /* polls every 50 ms */
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_int_equal(s->ops->org_by_name(s, "acme", &again), TE_OK);
  }
  assert_int_equal(again.max_token_expiry_days, 30);
  assert_int_equal(again.id, org.id);
  /* Through the cache itself: seen by the very next read. */
  assert_int_equal(s->ops->org_set_expiry_policy(s, NULL, org.id, 7, NULL), TE_OK);
  assert_int_equal(s->ops->org_by_name(s, "acme", &again), TE_OK);
  assert_int_equal(again.max_token_expiry_days, 7);
  /* A name never found is asked of the store each time. */
  assert_int_equal(s->ops->org_by_name(s, "later", &again), TE_NOT_FOUND);
  assert_int_equal(f->other->ops->org_create(f->other, "later"), TE_OK);
  assert_int_equal(s->ops->org_by_name(s, "later", &again), TE_OK);
  frozen->ops->close(frozen);
}

static void entries_expire_after_their_ttl(void **state) {
  struct fixture *f = *state;
  /* A cache that never polls, with a 1 s TTL: only the TTL can refresh it. */
  struct store *inner, *s;
  assert_int_equal(fixture_open(f->path, 1, &inner), TE_OK);
  assert_int_equal(store_cache_wrap(inner, 3600 * 1000, 3600 * 1000, 1, &s), TE_OK);
  struct store_membership *m;
  size_t n;
  assert_int_equal(s->ops->memberships(s, f->alice.id, &m, &n), TE_OK);
  free(m);
  assert_int_equal(n, 0);
  assert_int_equal(f->other->ops->org_create(f->other, "late"), TE_OK);
  assert_int_equal(f->other->ops->member_set(f->other, "late", "alice", "member"), TE_OK);
  sleep(2);
  assert_int_equal(s->ops->memberships(s, f->alice.id, &m, &n), TE_OK);
  assert_int_equal(n, 1);
  assert_string_equal(m[0].org, "late");
  free(m);
  s->ops->close(s);
}

/* Every entry is read again in the background before its ttl is up: past the ttl, a request finds
 * every token it held fresh, without reading the store itself. One deleted meanwhile, which the
 * walk no longer finds (and a cache that never polls is not told of, on SQLite; on PostgreSQL
 * the deletion's NOTIFY tells it at once), is refused once its ttl is up. */
static void entries_are_read_again_before_their_ttl_is_up(void **state) {
  struct fixture *f = *state;
  enum { TOKENS = 600 }; /* more than two of the walk's pages */
  static struct store_token t[TOKENS];
  for (int i = 0; i < TOKENS; i++)
    t[i] = insert_token(f->other, f->alice.id);
  struct store *inner, *s;
  assert_int_equal(fixture_open(f->path, 1, &inner), TE_OK);
  /* ttl 8 s: a pass of the walk over its 3 pages takes about 3 s (a page a second at most) */
  assert_int_equal(store_cache_wrap(inner, 3600 * 1000, 3600 * 1000, 8, &s), TE_OK);
  const char *misses = "tessera_cache_lookups_total{cache=\"principal\",result=\"miss\"} ";
  struct store_principal p;
  long long before = -1;
  for (int round = 0; round < 500 && counted(misses) != before; round++) { /* loaded: all held */
    before = counted(misses);
    for (int i = 0; i < TOKENS; i++)
      assert_int_equal(s->ops->principal_by_token_hash(s, t[i].hash, &p), TE_OK);
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  assert_int_equal(counted(misses), before);
  assert_int_equal(f->other->ops->token_delete(f->other, f->alice.id, t[0].id, NULL, NULL, NULL),
                   TE_OK);
  sleep(9); /* past the ttl of everything the loader read */
  before = counted(misses);
  for (int i = 1; i < TOKENS; i++) {
    assert_int_equal(s->ops->principal_by_token_hash(s, t[i].hash, &p), TE_OK);
    assert_string_equal(p.token.id, t[i].id);
  }
  assert_int_equal(counted(misses), before);
  assert_int_equal(s->ops->principal_by_token_hash(s, t[0].hash, &p), TE_NOT_FOUND);
  s->ops->close(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(lookups_carry_a_version_that_moves_with_what_they_show, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_change_drops_only_the_entries_that_depend_on_it, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(deleting_a_token_drops_the_tokens_made_with_it, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_cache_that_cannot_read_its_feed_stops_answering_from_memory,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(a_version_that_went_back_makes_the_cache_forget, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_delete_through_the_cache_is_seen_at_once, setup, teardown),
      cmocka_unit_test_setup_teardown(uses_of_tokens_gone_are_left_out, setup, teardown),
      cmocka_unit_test_setup_teardown(a_deleted_token_it_held_is_known_as_revoked, setup, teardown),
      cmocka_unit_test_setup_teardown(lookups_and_drops_are_counted, setup, teardown),
      cmocka_unit_test_setup_teardown(an_async_delete_invalidates_before_it_reports, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(writes_by_another_process_are_seen_after_a_poll, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(organizations_are_read_again_once_the_feed_names_them, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(entries_expire_after_their_ttl, setup, teardown),
      cmocka_unit_test_setup_teardown(entries_are_read_again_before_their_ttl_is_up, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_token_made_elsewhere_is_loaded_from_the_feed, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(a_token_changed_in_place_is_read_again, setup, teardown),
      cmocka_unit_test_setup_teardown(retried_revoked_tokens_spend_no_store_reads, setup, teardown),
      cmocka_unit_test_setup_teardown(a_token_changed_in_place_under_a_flood_is_never_refused,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(a_new_cache_loads_every_token_and_refuses_others_from_memory,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(a_token_found_while_a_change_is_applied_stays_accepted, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
