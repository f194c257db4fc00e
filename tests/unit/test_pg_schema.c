/* store/pg_schema.c against a real PostgreSQL 15 (a throwaway cluster, pg_cluster.h): an empty
 * database reaches the latest version; running again changes nothing; four nodes migrating one
 * database at once apply each step once; a database newer than the binary is refused; the
 * schema keeps names unique without regard to case, as the SQLite store does. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/error.h"
#include "store/pg_schema.h"

#include "pg_cluster.h"

#include <pthread.h>

static void sql(PGconn *conn, const char *text) {
  PGresult *res = PQexec(conn, text);
  ExecStatusType st = PQresultStatus(res);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    fail_msg("%s: %s", text, PQerrorMessage(conn));
  PQclear(res);
}

/* A fresh database of its own for each test. */
static PGconn *fresh(const char *name) {
  PGconn *admin = pg_cluster_connect(&cluster, NULL);
  assert_int_equal(PQstatus(admin), CONNECTION_OK);
  char text[128];
  snprintf(text, sizeof text, "CREATE DATABASE %s", name);
  sql(admin, text);
  PQfinish(admin);
  PGconn *conn = pg_cluster_connect(&cluster, name);
  assert_int_equal(PQstatus(conn), CONNECTION_OK);
  return conn;
}

static void an_empty_database_reaches_the_latest_version_once(void **state) {
  (void)state;
  PGconn *conn = fresh("empty");
  assert_int_equal(pg_schema_version(conn), 0);
  assert_int_equal(pg_schema_migrate(conn), TE_OK);
  assert_int_equal(pg_schema_version(conn), pg_schema_version_latest());
  assert_true(pg_schema_version_latest() >= 1);
  sql(conn, "INSERT INTO orgs (name, created) VALUES ('acme', 1)");
  assert_int_equal(pg_schema_migrate(conn), TE_OK); /* nothing to do: data untouched */
  PGresult *res = PQexec(conn, "SELECT count(*) FROM orgs");
  assert_string_equal(PQgetvalue(res, 0, 0), "1");
  PQclear(res);
  res = PQexec(conn, "SELECT count(*) FROM tessera_schema");
  assert_string_equal(PQgetvalue(res, 0, 0), "1");
  PQclear(res);
  PQfinish(conn);
}

struct node {
  char name[32];
  int rc;
};

static void *migrate_as_a_node(void *arg) {
  struct node *n = arg;
  PGconn *conn = pg_cluster_connect(&cluster, n->name);
  n->rc = PQstatus(conn) == CONNECTION_OK ? pg_schema_migrate(conn) : TE_INTERNAL;
  PQfinish(conn);
  return NULL;
}

static void nodes_starting_together_migrate_once(void **state) {
  (void)state;
  PQfinish(fresh("together"));
  struct node nodes[4];
  pthread_t threads[4];
  for (int i = 0; i < 4; i++) {
    snprintf(nodes[i].name, sizeof nodes[i].name, "together");
    nodes[i].rc = -100;
    assert_int_equal(pthread_create(&threads[i], NULL, migrate_as_a_node, &nodes[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(threads[i], NULL);
    assert_int_equal(nodes[i].rc, TE_OK); /* none saw a half-made schema or a duplicate table */
  }
  PGconn *conn = pg_cluster_connect(&cluster, "together");
  assert_int_equal(pg_schema_version(conn), pg_schema_version_latest());
  PQfinish(conn);
}

static void a_newer_database_is_refused(void **state) {
  (void)state;
  PGconn *conn = fresh("newer");
  assert_int_equal(pg_schema_migrate(conn), TE_OK);
  char text[96];
  snprintf(text, sizeof text, "UPDATE tessera_schema SET version = %d",
           pg_schema_version_latest() + 1);
  sql(conn, text);
  assert_int_equal(pg_schema_migrate(conn), TE_CONFLICT);
  assert_int_equal(pg_schema_version(conn), pg_schema_version_latest() + 1); /* left alone */
  PQfinish(conn);
}

static void names_are_unique_without_regard_to_case(void **state) {
  (void)state;
  PGconn *conn = fresh("names");
  assert_int_equal(pg_schema_migrate(conn), TE_OK);
  sql(conn,
      "INSERT INTO users (uuid, login, name, email, created) VALUES ('u1', 'Alice', '', '', 1)");
  PGresult *res = PQexec(
      conn,
      "INSERT INTO users (uuid, login, name, email, created) VALUES ('u2', 'alice', '', '', 1)");
  assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
  assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE), "23505"); /* unique_violation */
  PQclear(res);
  /* and the kinds' rules hold: a personal token needs its user, an org token no user */
  res = PQexec(conn, "INSERT INTO tokens (id, hash, kind, name, description, created_by, created) "
                     "VALUES ('t', decode(repeat('00', 32), 'hex'), 'personal', '', '', '', 1)");
  assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
  assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE), "23514"); /* check_violation */
  PQclear(res);
  PQfinish(conn);
}

static long long number(PGconn *conn, const char *query) {
  PGresult *res = PQexec(conn, query);
  if (PQresultStatus(res) != PGRES_TUPLES_OK)
    fail_msg("%s: %s", query, PQerrorMessage(conn));
  long long n = atoll(PQgetvalue(res, 0, 0));
  PQclear(res);
  return n;
}

/* The change feed's triggers: a statement's changes share one version however many rows it
 * touched (a version a row made big deletes quadratic, holding the write lock), each change
 * naming its row; one that touched nothing (an insert of no rows too) records nothing; TRUNCATE,
 * which fires no row's trigger, records 'all'; an issuer's last use is no change, its new name is.
 */
static void the_feed_records_a_version_a_statement(void **state) {
  (void)state;
  PGconn *conn = fresh("feed");
  assert_int_equal(pg_schema_migrate(conn), TE_OK);
  sql(conn,
      "INSERT INTO users (uuid, login, name, email, created) VALUES ('u1', 'ann', '', '', 1)");
  sql(conn, "INSERT INTO tokens (id, hash, kind, user_id, name, description, created_by, created) "
            "SELECT 't' || i, sha256(i::text::bytea), 'personal', 1, '', '', '', 1 "
            "FROM generate_series(1, 20000) i");
  long long v = number(conn, "SELECT v FROM tessera_version");
  /* The insert: one version, a change a new token (store/cache.c loads them). */
  assert_int_equal(number(conn, "SELECT count(DISTINCT version) FROM changes WHERE kind = 'token'"),
                   1);
  assert_int_equal(number(conn, "SELECT count(*) FROM changes WHERE kind = 'token'"), 20000);
  /* Each change names its token's seq. */
  assert_int_equal(number(conn, "SELECT count(*) FROM changes c JOIN tokens t ON c.key = "
                                "t.seq::text WHERE c.kind = 'token'"),
                   20000);
  sql(conn, "INSERT INTO tokens (id, hash, kind, user_id, name, description, created_by, created) "
            "SELECT id, hash, kind, user_id, name, description, created_by, created FROM tokens "
            "WHERE false"); /* no row: no version */
  assert_int_equal(number(conn, "SELECT v FROM tessera_version"), v);
  sql(conn, "DELETE FROM tokens WHERE user_id = 1");
  assert_int_equal(number(conn, "SELECT v FROM tessera_version"), v + 1);
  assert_int_equal(number(conn, "SELECT count(*) FROM changes WHERE kind = 'token'"), 40000);
  sql(conn, "DELETE FROM tokens WHERE user_id = 1"); /* nothing left: nothing recorded */
  assert_int_equal(number(conn, "SELECT v FROM tessera_version"), v + 1);
  sql(conn, "INSERT INTO orgs (name, created) VALUES ('acme', 1)");
  sql(conn, "INSERT INTO oidc_issuers (id, org_id, name, url, issuer, jwks_uri, jwks, static_jwks, "
            "thumbprints, max_expiration, created, modified, policy_id, policy, policy_version, "
            "policy_modified) SELECT 'i1', id, 'ci', 'u', 'u', 'u', '{}', false, '[]', 1, 1, 1, "
            "'p1', '[]', 1, 1 FROM orgs");
  v = number(conn, "SELECT v FROM tessera_version");
  sql(conn, "UPDATE oidc_issuers SET last_used = 99");
  assert_int_equal(number(conn, "SELECT v FROM tessera_version"), v);
  sql(conn, "UPDATE oidc_issuers SET name = 'ci2'");
  assert_int_equal(number(conn, "SELECT count(*) FROM changes WHERE kind = 'issuer' AND key = "
                                "'i1'"),
                   1);
  sql(conn, "TRUNCATE memberships");
  assert_int_equal(number(conn, "SELECT count(*) FROM changes WHERE kind = 'all'"), 1);
  PQfinish(conn);
}

/* A token's uses go with it, however it goes (deleted, by its user's cascade, by TRUNCATE), by a
 * trigger rather than a foreign key: a use takes no lock on the token's row (the key's check
 * took KEY SHARE, writing the wide row's page at every token's first use). */
static void uses_go_with_their_token_and_lock_no_token(void **state) {
  (void)state;
  PGconn *conn = fresh("uses");
  assert_int_equal(pg_schema_migrate(conn), TE_OK);
  sql(conn, "INSERT INTO users (uuid, login, name, email, created) VALUES ('u1', 'ann', '', ''"
            ", 1), ('u2', 'bob', '', '', 1)");
  sql(conn, "INSERT INTO tokens (id, hash, kind, user_id, name, description, created_by, created) "
            "SELECT 't' || i, sha256(i::text::bytea), 'personal', 1 + i % 2, '', '', '', 1 "
            "FROM generate_series(1, 10) i");
  /* As STMT_TOKEN_TOUCH writes them. */
  sql(conn, "INSERT INTO token_uses (seq, last_used) SELECT seq, 5 FROM tokens");
  /* A first use while another transaction holds the token's row (as a delete does, or FOR UPDATE)
   * does not wait for it: the key's check would, for the KEY SHARE lock it takes. */
  sql(conn, "DELETE FROM token_uses WHERE seq = (SELECT seq FROM tokens WHERE id = 't2')");
  PGconn *other = pg_cluster_connect(&cluster, "uses");
  assert_int_equal(PQstatus(other), CONNECTION_OK);
  sql(other, "BEGIN");
  sql(other, "SELECT 1 FROM tokens WHERE id = 't2' FOR UPDATE");
  sql(conn, "SET statement_timeout = '5s'");
  sql(conn, "INSERT INTO token_uses (seq, last_used) SELECT t.seq, 6 FROM tokens t "
            "WHERE t.id = 't2' ON CONFLICT (seq) DO UPDATE SET last_used = excluded.last_used");
  sql(other, "ROLLBACK");
  PQfinish(other);
  assert_int_equal(number(conn, "SELECT count(*) FROM token_uses WHERE last_used = 6"), 1);
  sql(conn, "DELETE FROM tokens WHERE id = 't1'");
  assert_int_equal(number(conn, "SELECT count(*) FROM token_uses"), 9);
  assert_int_equal(number(conn, "SELECT count(*) FROM token_uses u WHERE NOT EXISTS (SELECT 1 "
                                "FROM tokens t WHERE t.seq = u.seq)"),
                   0);
  sql(conn, "DELETE FROM users WHERE login = 'ann'"); /* its 5 tokens by cascade */
  assert_int_equal(number(conn, "SELECT count(*) FROM tokens"), 4);
  assert_int_equal(number(conn, "SELECT count(*) FROM token_uses"), 4);
  sql(conn, "TRUNCATE tokens");
  assert_int_equal(number(conn, "SELECT count(*) FROM token_uses"), 0);
  PQfinish(conn);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(an_empty_database_reaches_the_latest_version_once),
      cmocka_unit_test(nodes_starting_together_migrate_once),
      cmocka_unit_test(a_newer_database_is_refused),
      cmocka_unit_test(names_are_unique_without_regard_to_case),
      cmocka_unit_test(the_feed_records_a_version_a_statement),
      cmocka_unit_test(uses_go_with_their_token_and_lock_no_token),
  };
  return cmocka_run_group_tests(tests, pg_cluster_group_setup, pg_cluster_group_teardown);
}
