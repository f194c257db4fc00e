/* Organization and team tokens in the store (store/sql_machine_tokens.c, on both stores), the
 * actor re-check for token actors, the token-lifetime policy column, and migrations 4 and 13
 * from a database of an earlier schema (SQLite). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/timeutil.h"
#include "store/sqlite_schema.h"
#include "store/store.h"
#include "store_fixture.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fixture {
  char dir[64];
  char path[96];
  struct store *store;
  struct store_user alice;
  struct store_org acme, other;
  struct store_team ops;
};

static int setup(void **state) {
  struct fixture *f = calloc(1, sizeof *f);
  temp_db_make(f->dir, f->path, "machine");
  assert_int_equal(fixture_open(f->path, 2, &f->store), TE_OK);
  struct store *s = f->store;
  struct store_user u = {0};
  snprintf(u.login, sizeof u.login, "alice");
  assert_int_equal(s->ops->user_create(s, &u, &f->alice), TE_OK);
  assert_int_equal(s->ops->org_create(s, "acme"), TE_OK);
  assert_int_equal(s->ops->org_create(s, "other"), TE_OK);
  assert_int_equal(s->ops->member_set(s, "acme", "alice", "admin"), TE_OK);
  assert_int_equal(s->ops->org_by_name(s, "acme", &f->acme), TE_OK);
  assert_int_equal(s->ops->org_by_name(s, "other", &f->other), TE_OK);
  struct store_team team = {0};
  snprintf(team.name, sizeof team.name, "ops");
  assert_int_equal(s->ops->team_create(s, NULL, f->acme.id, &team, NULL), TE_OK);
  assert_int_equal(s->ops->team_get(s, f->acme.id, "ops", &f->ops), TE_OK);
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

/* A machine token of org (and team when team_id), with its value's hash. */
static struct store_token machine_token(int64_t org_id, int64_t team_id, const char *name,
                                        bool admin, char value[TOKEN_VALUE_LEN + 1]) {
  struct store_token t = {.kind = team_id ? TOKEN_TEAM : TOKEN_ORG,
                          .org_id = org_id,
                          .team_id = team_id,
                          .admin = admin,
                          .created = time_now()};
  token_fill_secret(&t, value);
  snprintf(t.name, sizeof t.name, "%s", name);
  snprintf(t.created_by, sizeof t.created_by, "alice");
  return t;
}

static int insert(struct store *s, const struct store_token *t) {
  return s->ops->machine_token_insert(s, NULL, t, NULL);
}

static void org_tokens_act_as_their_organization(void **state) {
  struct fixture *f = *state;
  struct store *s = f->store;
  char value[TOKEN_VALUE_LEN + 1];
  struct store_token t = machine_token(f->acme.id, 0, "ci", true, value);
  assert_int_equal(insert(s, &t), TE_OK);
  struct store_principal p;
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_OK);
  assert_int_equal(p.token.kind, TOKEN_ORG);
  assert_true(p.token.admin);
  assert_int_equal(p.token.org_id, f->acme.id);
  assert_int_equal(p.token.team_id, 0);
  assert_string_equal(p.token.name, "ci");
  assert_string_equal(p.token.created_by, "alice");
  assert_string_equal(p.org, "acme");
  assert_string_equal(p.team, "");
  /* The robot: no user's id, the organization's name, never a site admin. */
  assert_int_equal(p.user.id, 0);
  assert_string_equal(p.user.login, "acme");
  assert_false(p.user.site_admin);
  assert_string_equal(p.actor, "acme/ci"); /* what logs and the audit log name */
}

static void team_tokens_name_their_team_and_die_with_it(void **state) {
  struct fixture *f = *state;
  struct store *s = f->store;
  char value[TOKEN_VALUE_LEN + 1];
  struct store_token t = machine_token(f->acme.id, f->ops.id, "deploy", false, value);
  assert_int_equal(insert(s, &t), TE_OK);
  struct store_principal p;
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_OK);
  assert_int_equal(p.token.kind, TOKEN_TEAM);
  assert_string_equal(p.team, "ops");
  assert_string_equal(p.org, "acme");
  assert_int_equal(s->ops->team_delete(s, NULL, f->acme.id, f->ops.id, NULL), TE_OK);
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_NOT_FOUND);
  /* A token for a team that is gone is refused, and its name stays free. */
  struct store_token late = machine_token(f->acme.id, f->ops.id, "late", false, value);
  assert_int_equal(insert(s, &late), TE_NOT_FOUND);
  struct store_token again = machine_token(f->acme.id, 0, "late", false, value);
  assert_int_equal(insert(s, &again), TE_OK);
}

static void names_are_reserved_in_the_organization_forever(void **state) {
  struct fixture *f = *state;
  struct store *s = f->store;
  char value[TOKEN_VALUE_LEN + 1];
  struct store_token t = machine_token(f->acme.id, 0, "ci", false, value);
  assert_int_equal(insert(s, &t), TE_OK);
  struct store_token same = machine_token(f->acme.id, f->ops.id, "CI", false, value);
  assert_int_equal(insert(s, &same), TE_CONFLICT); /* across kinds, ignoring case */
  assert_int_equal(s->ops->machine_token_delete(s, NULL, f->acme.id, 0, t.id, NULL), TE_OK);
  struct store_token after = machine_token(f->acme.id, 0, "ci", false, value);
  assert_int_equal(insert(s, &after), TE_CONFLICT); /* deleted names too */
  struct store_token elsewhere = machine_token(f->other.id, 0, "ci", false, value);
  assert_int_equal(insert(s, &elsewhere), TE_OK); /* names are per organization */
}

static void deletion_takes_the_owners_kind(void **state) {
  struct fixture *f = *state;
  struct store *s = f->store;
  char value[TOKEN_VALUE_LEN + 1];
  struct store_token org = machine_token(f->acme.id, 0, "org", false, value);
  struct store_token team = machine_token(f->acme.id, f->ops.id, "team", false, value);
  assert_int_equal(insert(s, &org), TE_OK);
  assert_int_equal(insert(s, &team), TE_OK);
  struct store_token got;
  assert_int_equal(s->ops->machine_token_get(s, f->acme.id, team.id, &got), TE_OK);
  assert_int_equal(got.kind, TOKEN_TEAM);
  assert_int_equal(got.team_id, f->ops.id);
  assert_int_equal(s->ops->machine_token_get(s, f->other.id, team.id, &got), TE_NOT_FOUND);
  /* Through the wrong path, or the wrong organization, nothing is deleted. */
  assert_int_equal(s->ops->machine_token_delete(s, NULL, f->acme.id, 0, team.id, NULL),
                   TE_NOT_FOUND);
  assert_int_equal(s->ops->machine_token_delete(s, NULL, f->acme.id, f->ops.id, org.id, NULL),
                   TE_NOT_FOUND);
  assert_int_equal(s->ops->machine_token_delete(s, NULL, f->other.id, 0, org.id, NULL),
                   TE_NOT_FOUND);
  struct store_principal p;
  assert_int_equal(s->ops->principal_by_token_hash(s, org.hash, &p), TE_OK);
  assert_int_equal(s->ops->principal_by_token_hash(s, team.hash, &p), TE_OK);
  assert_int_equal(s->ops->machine_token_delete(s, NULL, f->acme.id, f->ops.id, team.id, NULL),
                   TE_OK);
  assert_int_equal(s->ops->principal_by_token_hash(s, team.hash, &p), TE_NOT_FOUND);
}

static size_t leak_records(struct store *s, const char *org) {
  struct store_audit_query q = {.org = org,
                                .event = "token-leak-reported",
                                .user = "",
                                .before_seq = INT64_MAX,
                                .limit = 100};
  struct store_audit_record *out;
  size_t count = 0;
  assert_int_equal(s->ops->audit_list(s, &q, &out, &count), TE_OK);
  free(out);
  return count;
}

/* Revocation as a leak report does it: any kind, by what its hash found, with a record in each
 * organization named, all in one transaction; a second revocation finds nothing and records
 * nothing. */
static void a_revocation_takes_any_kind_with_all_its_records(void **state) {
  struct fixture *f = *state;
  struct store *s = f->store;
  char value[TOKEN_VALUE_LEN + 1];
  struct store_token team = machine_token(f->acme.id, f->ops.id, "leaky", false, value);
  assert_int_equal(insert(s, &team), TE_OK);
  struct store_token mine = {.kind = TOKEN_PERSONAL, .user_id = f->alice.id, .created = time_now()};
  token_fill_secret(&mine, value);
  assert_int_equal(s->ops->token_insert(s, &mine, NULL, NULL, NULL), TE_OK);

  struct audit_record a[2] = {{.timestamp = time_now()}, {.timestamp = time_now()}};
  snprintf(a[0].org, sizeof a[0].org, "acme");
  snprintf(a[1].org, sizeof a[1].org, "other");
  for (int i = 0; i < 2; i++)
    snprintf(a[i].event, sizeof a[i].event, "token-leak-reported");
  assert_int_equal(s->ops->token_revoke(s, &mine, a, 2), TE_OK);
  assert_int_equal(s->ops->token_revoke(s, &team, a, 1), TE_OK);
  struct store_principal p;
  assert_int_equal(s->ops->principal_by_token_hash(s, mine.hash, &p), TE_NOT_FOUND);
  assert_int_equal(s->ops->principal_by_token_hash(s, team.hash, &p), TE_NOT_FOUND);
  assert_int_equal(leak_records(s, "acme"), 2);
  assert_int_equal(leak_records(s, "other"), 1);

  assert_int_equal(s->ops->token_revoke(s, &mine, a, 2), TE_NOT_FOUND);
  assert_int_equal(s->ops->token_revoke(s, &team, a, 1), TE_NOT_FOUND);
  assert_int_equal(leak_records(s, "acme"), 2);
  assert_int_equal(leak_records(s, "other"), 1);
  int64_t verified = 0;
  char report[256];
  assert_int_equal(fixture_verify(f->path, &verified, report, sizeof report), TE_OK);
  assert_int_equal(verified, 3);
}

static void listings_keep_kinds_apart(void **state) {
  struct fixture *f = *state;
  struct store *s = f->store;
  char value[TOKEN_VALUE_LEN + 1];
  struct store_token org = machine_token(f->acme.id, 0, "org", true, value);
  struct store_token team = machine_token(f->acme.id, f->ops.id, "team", false, value);
  assert_int_equal(insert(s, &org), TE_OK);
  assert_int_equal(insert(s, &team), TE_OK);
  struct store_token_query q = {TOKEN_ORG, f->acme.id, TOKEN_FILTER_ALL, time_now(), INT64_MAX, 10};
  struct store_token *items;
  size_t n;
  assert_int_equal(s->ops->token_list(s, &q, &items, &n), TE_OK);
  assert_int_equal(n, 1);
  assert_string_equal(items[0].name, "org");
  assert_true(items[0].admin);
  free(items);
  q.kind = TOKEN_TEAM;
  q.owner_id = f->ops.id;
  assert_int_equal(s->ops->token_list(s, &q, &items, &n), TE_OK);
  assert_int_equal(n, 1);
  assert_string_equal(items[0].name, "team");
  free(items);
  q.kind = TOKEN_PERSONAL;
  q.owner_id = f->alice.id;
  assert_int_equal(s->ops->token_list(s, &q, &items, &n), TE_OK);
  assert_int_equal(n, 0);
  free(items);
}

static void token_actors_are_rechecked_in_the_transaction(void **state) {
  struct fixture *f = *state;
  struct store *s = f->store;
  char value[TOKEN_VALUE_LEN + 1];
  struct store_token admin = machine_token(f->acme.id, 0, "admin", true, value);
  struct store_token plain = machine_token(f->acme.id, 0, "plain", false, value);
  assert_int_equal(insert(s, &admin), TE_OK);
  assert_int_equal(insert(s, &plain), TE_OK);
  struct store_principal pa, pp;
  assert_int_equal(s->ops->principal_by_token_hash(s, admin.hash, &pa), TE_OK);
  assert_int_equal(s->ops->principal_by_token_hash(s, plain.hash, &pp), TE_OK);
  struct store_actor by_admin = {.token_seq = pa.token.seq, .user_id = 0, .need = ACTOR_ORG_ADMIN};
  struct store_actor by_plain = {.token_seq = pp.token.seq, .user_id = 0, .need = ACTOR_ORG_ADMIN};
  /* Organization tokens are made by people only, even an admin token cannot. */
  struct store_actor person_only = {
      .token_seq = pa.token.seq, .user_id = 0, .need = ACTOR_ORG_ADMIN_PERSON};
  struct store_token successor = machine_token(f->acme.id, 0, "successor", true, value);
  assert_int_equal(s->ops->machine_token_insert(s, &person_only, &successor, NULL), TE_FORBIDDEN);
  assert_int_equal(s->ops->machine_token_delete(s, &person_only, f->acme.id, 0, plain.id, NULL),
                   TE_FORBIDDEN);
  struct store_token t1 = machine_token(f->acme.id, f->ops.id, "t1", false, value);
  struct store_token t2 = machine_token(f->acme.id, f->ops.id, "t2", false, value);
  assert_int_equal(s->ops->machine_token_insert(s, &by_plain, &t1, NULL), TE_FORBIDDEN);
  assert_int_equal(s->ops->machine_token_insert(s, &by_admin, &t1, NULL), TE_OK);
  /* Not in another organization. */
  assert_int_equal(s->ops->org_set_expiry_policy(s, &by_admin, f->other.id, 5, NULL), TE_FORBIDDEN);
  /* Once the admin token is deleted, a request that still holds it can do nothing. */
  assert_int_equal(s->ops->machine_token_delete(s, NULL, f->acme.id, 0, admin.id, NULL), TE_OK);
  assert_int_equal(s->ops->machine_token_insert(s, &by_admin, &t2, NULL), TE_FORBIDDEN);
  /* The same holds for a user's token: an admin's deleted token loses the admin's rights. */
  struct store_token personal = {.kind = TOKEN_PERSONAL, .user_id = f->alice.id};
  token_fill_secret(&personal, value);
  assert_int_equal(s->ops->token_insert(s, &personal, NULL, NULL, NULL), TE_OK);
  struct store_principal pu;
  assert_int_equal(s->ops->principal_by_token_hash(s, personal.hash, &pu), TE_OK);
  assert_string_equal(pu.token.created_by, "alice"); /* a user's own token names them */
  struct store_actor by_alice = {
      .token_seq = pu.token.seq, .user_id = f->alice.id, .need = ACTOR_ORG_ADMIN_PERSON};
  assert_int_equal(s->ops->machine_token_insert(s, &by_alice, &t2, NULL), TE_OK);
  assert_int_equal(s->ops->token_delete(s, f->alice.id, personal.id, NULL, NULL, NULL), TE_OK);
  struct store_token t3 = machine_token(f->acme.id, 0, "t3", false, value);
  assert_int_equal(s->ops->machine_token_insert(s, &by_alice, &t3, NULL), TE_FORBIDDEN);
}

static void the_expiry_policy_is_kept_per_organization(void **state) {
  struct fixture *f = *state;
  struct store *s = f->store;
  struct audit_record a = {.timestamp = time_now()};
  snprintf(a.org, sizeof a.org, "acme");
  snprintf(a.event, sizeof a.event, "organization-settings-changed");
  assert_int_equal(f->acme.max_token_expiry_days, 0);
  assert_int_equal(s->ops->org_set_expiry_policy(s, NULL, f->acme.id, 30, &a), TE_OK);
  assert_int_equal(s->ops->org_set_expiry_policy(s, NULL, f->acme.id, 30, &a), TE_OK);
  assert_int_equal(s->ops->org_set_expiry_policy(s, NULL, f->acme.id, 3651, &a), TE_BAD_REQUEST);
  struct store_org got;
  assert_int_equal(s->ops->org_by_name(s, "acme", &got), TE_OK);
  assert_int_equal(got.max_token_expiry_days, 30);
  assert_int_equal(s->ops->org_by_name(s, "other", &got), TE_OK);
  assert_int_equal(got.max_token_expiry_days, 0);
  /* Setting the value it already has records nothing. */
  struct store_audit_query q = {
      .org = "acme", .event = "", .user = "", .before_seq = INT64_MAX, .limit = 10};
  struct store_audit_record *records;
  size_t n;
  assert_int_equal(s->ops->audit_list(s, &q, &records, &n), TE_OK);
  assert_int_equal(n, 1);
  free(records);
  int64_t members;
  assert_int_equal(s->ops->org_member_count(s, f->acme.id, &members), TE_OK);
  assert_int_equal(members, 1);
}

/* A new SQLite database at path, migrated to schema version (an earlier release's), open with
 * foreign keys on as the store has them. */
static sqlite3 *database_at_schema(const char *path, int version) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(sqlite_schema_migrate_to(db, version), TE_OK);
  return db;
}

/* A database made by the previous release (schema 3) keeps its tokens, their creators, and its
 * seq counter: a deleted token's seq is not handed out again after the tokens table is rebuilt. */
static void migration_4_keeps_tokens_and_never_reuses_seq(void **state) {
  (void)state;
  SQLITE_ONLY(); /* SQLite's own migrations from an earlier release */
  char dir[64], path[96];
  temp_db_make(dir, path, "migrate");
  sqlite3 *db = database_at_schema(path, 3);
  const char *old_rows =
      "INSERT INTO users (id, uuid, login, name, email, created) VALUES "
      "(1, 'u1', 'alice', '', '', 0), (2, 'u2', 'bob', '', '', 0);"
      "INSERT INTO tokens (id, hash, kind, user_id, description, created_by, created) VALUES "
      "('t1', zeroblob(32), 'personal', 1, 'laptop', 1, 0),"
      "('t2', randomblob(32), 'personal', 2, 'made by alice', 1, 0),"
      "('t3', randomblob(32), 'personal', 1, 'deleted', 1, 0);"
      "DELETE FROM tokens WHERE id = 't3';";
  assert_int_equal(sqlite3_exec(db, old_rows, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);

  struct store *s;
  assert_int_equal(fixture_open(path, 1, &s), TE_OK);
  unsigned char zero[TOKEN_HASH_LEN] = {0};
  struct store_principal p;
  assert_int_equal(s->ops->principal_by_token_hash(s, zero, &p), TE_OK);
  assert_string_equal(p.token.id, "t1");
  assert_int_equal(p.token.kind, TOKEN_PERSONAL);
  assert_string_equal(p.user.login, "alice");
  assert_string_equal(p.token.created_by, "alice");
  struct store_token_query q = {TOKEN_PERSONAL, 2, TOKEN_FILTER_ALL, time_now(), INT64_MAX, 10};
  struct store_token *items;
  size_t n;
  assert_int_equal(s->ops->token_list(s, &q, &items, &n), TE_OK);
  assert_int_equal(n, 1);
  assert_string_equal(items[0].created_by, "alice");
  free(items);
  struct store_token t = {.kind = TOKEN_PERSONAL, .user_id = 1};
  char value[TOKEN_VALUE_LEN + 1];
  token_fill_secret(&t, value);
  assert_int_equal(s->ops->token_insert(s, &t, NULL, NULL, NULL), TE_OK);
  assert_int_equal(s->ops->principal_by_token_hash(s, t.hash, &p), TE_OK);
  assert_int_equal(p.token.seq, 4);
  s->ops->close(s);
  temp_db_remove(dir);
}

/* How SQLite would run sql on the database at path: its EXPLAIN QUERY PLAN's details, joined. */
static void query_plan(const char *path, const char *sql, char *out, size_t size) {
  sqlite3 *db;
  sqlite3_stmt *st;
  char explain[512];
  snprintf(explain, sizeof explain, "EXPLAIN QUERY PLAN %s", sql);
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, explain, -1, &st, NULL), SQLITE_OK);
  out[0] = '\0';
  while (sqlite3_step(st) == SQLITE_ROW)
    snprintf(out + strlen(out), size - strlen(out), "%s;",
             (const char *)sqlite3_column_text(st, 3));
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/* Migration 13 makes the owner indexes partial (no entries of NULLs) and adds one on parent_seq:
 * a database of schema 12 keeps every kind of token listed by its owner, lookups of the shapes
 * the store's statements use (x = ?; checked against sqlite.c's by hand) go through the indexes,
 * and a deleted team still takes its tokens with it. */
static void migration_13_keeps_owner_lookups_on_their_indexes(void **state) {
  (void)state;
  SQLITE_ONLY(); /* SQLite's own migration; PostgreSQL's 4 is the same indexes */
  char dir[64], path[96];
  temp_db_make(dir, path, "migrate13");
  sqlite3 *db = database_at_schema(path, 12);
  const char *rows =
      "INSERT INTO users (id, uuid, login, name, email, created) VALUES (1, 'u1', 'alice', '', '',"
      "  0);"
      "INSERT INTO orgs (id, name, created) VALUES (1, 'acme', 0);"
      "INSERT INTO teams (id, org_id, name, display_name, description, created)"
      "  VALUES (1, 1, 'ops', '', '', 0);"
      "INSERT INTO tokens (id, hash, kind, user_id, org_id, team_id, name, description, "
      "  created_by, created) VALUES "
      "('p1', randomblob(32), 'personal', 1, NULL, NULL, '', 'laptop', 'alice', 0),"
      "('o1', randomblob(32), 'organization', NULL, 1, NULL, 'ci', '', 'alice', 0),"
      "('t1', randomblob(32), 'team', NULL, 1, 1, 'deploy', '', 'alice', 0);";
  assert_int_equal(sqlite3_exec(db, rows, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);

  struct store *s;
  assert_int_equal(fixture_open(path, 1, &s), TE_OK); /* migrates to the latest */
  static const struct {
    enum token_kind kind;
    const char *id;
  } owners[] = {{TOKEN_PERSONAL, "p1"}, {TOKEN_ORG, "o1"}, {TOKEN_TEAM, "t1"}};
  for (size_t i = 0; i < sizeof owners / sizeof owners[0]; i++) {
    struct store_token_query q = {owners[i].kind, 1, TOKEN_FILTER_ALL, time_now(), INT64_MAX, 10};
    struct store_token *items;
    size_t n;
    assert_int_equal(s->ops->token_list(s, &q, &items, &n), TE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(items[0].id, owners[i].id);
    free(items);
  }
  s->ops->close(s);

  char plan[512];
  query_plan(path, "SELECT seq FROM tokens WHERE user_id = 1 ORDER BY seq DESC", plan, sizeof plan);
  assert_non_null(strstr(plan, "tokens_by_user"));
  query_plan(path, "SELECT seq FROM tokens WHERE org_id = 1 AND kind = 'organization'", plan,
             sizeof plan);
  assert_non_null(strstr(plan, "tokens_by_org"));
  query_plan(path, "SELECT seq FROM tokens WHERE team_id = 1 ORDER BY seq DESC", plan, sizeof plan);
  assert_non_null(strstr(plan, "tokens_by_team"));
  /* What the cascade from a deleted token to those made with it looks up (a full scan of the
   * table at every deletion before migration 13). */
  query_plan(path, "SELECT seq FROM tokens WHERE parent_seq = 1", plan, sizeof plan);
  assert_non_null(strstr(plan, "tokens_by_parent"));
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_stmt *st;
  /* Partial: the personal token has no entry in the organization's index, nor the others in
   * the user's. */
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT count(*) FROM sqlite_master WHERE type = 'index' "
                                      "AND name LIKE 'tokens_by_%' AND sql LIKE '%IS NOT NULL'",
                                      -1, &st, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 4);
  sqlite3_finalize(st);
  assert_int_equal(sqlite3_exec(db, "PRAGMA foreign_keys = ON; DELETE FROM teams WHERE id = 1",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  assert_int_equal(
      sqlite3_prepare_v2(db, "SELECT group_concat(id) FROM (SELECT id FROM tokens ORDER BY seq)",
                         -1, &st, NULL),
      SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 0), "p1,o1");
  sqlite3_finalize(st);
  sqlite3_close(db);
  temp_db_remove(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(org_tokens_act_as_their_organization, setup, teardown),
      cmocka_unit_test_setup_teardown(team_tokens_name_their_team_and_die_with_it, setup, teardown),
      cmocka_unit_test_setup_teardown(names_are_reserved_in_the_organization_forever, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(deletion_takes_the_owners_kind, setup, teardown),
      cmocka_unit_test_setup_teardown(listings_keep_kinds_apart, setup, teardown),
      cmocka_unit_test_setup_teardown(a_revocation_takes_any_kind_with_all_its_records, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(token_actors_are_rechecked_in_the_transaction, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(the_expiry_policy_is_kept_per_organization, setup, teardown),
      cmocka_unit_test(migration_4_keeps_tokens_and_never_reuses_seq),
      cmocka_unit_test(migration_13_keeps_owner_lookups_on_their_indexes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
