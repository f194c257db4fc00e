#include "store/pg_schema.h"

#include "core/error.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Any constant of our own: every node takes the same lock (pg_advisory_xact_lock). */
#define MIGRATION_LOCK 0x7465737365726131LL /* "tessera1" */

/* Numbered migrations: entry i takes the schema from version i to i + 1. Append only; never edit
 * an entry once released. Entry 1 is the schema the SQLite store reached at its version 8
 * (store/sqlite_schema.c), in PostgreSQL's terms: names unique without regard to case through
 * indexes on lower(name COLLATE "C") (ASCII folding only, as SQLite's NOCASE, whatever the
 * database's locale), bytea for hashes and chain values, bigint for times and ids. */
static const char *const migrations[] = {
    "CREATE TABLE users ("
    "  id bigserial PRIMARY KEY,"
    "  uuid text NOT NULL UNIQUE,"
    "  login text NOT NULL,"
    "  name text NOT NULL,"
    "  email text NOT NULL,"
    "  site_admin boolean NOT NULL DEFAULT false,"
    "  password_hash text NOT NULL DEFAULT '',"
    "  created bigint NOT NULL"
    ");"
    "CREATE UNIQUE INDEX users_login ON users (lower(login COLLATE \"C\"));"
    "CREATE TABLE orgs ("
    "  id bigserial PRIMARY KEY,"
    "  name text NOT NULL,"
    "  created bigint NOT NULL,"
    "  max_token_expiry_days integer NOT NULL DEFAULT 0"
    "    CHECK (max_token_expiry_days BETWEEN 0 AND 3650)"
    ");"
    "CREATE UNIQUE INDEX orgs_name ON orgs (lower(name COLLATE \"C\"));"
    "CREATE TABLE memberships ("
    "  org_id bigint NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  role text NOT NULL CHECK (role IN ('admin', 'member')),"
    "  created bigint NOT NULL,"
    "  PRIMARY KEY (org_id, user_id)"
    ");"
    "CREATE INDEX memberships_by_user ON memberships (user_id);"
    "CREATE TABLE teams ("
    "  id bigserial PRIMARY KEY,"
    "  org_id bigint NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  name text NOT NULL,"
    "  display_name text NOT NULL,"
    "  description text NOT NULL,"
    "  created bigint NOT NULL"
    ");"
    "CREATE UNIQUE INDEX teams_name ON teams (org_id, lower(name COLLATE \"C\"));"
    "CREATE TABLE team_members ("
    "  team_id bigint NOT NULL REFERENCES teams(id) ON DELETE CASCADE,"
    "  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  role text NOT NULL CHECK (role IN ('admin', 'member')),"
    "  created bigint NOT NULL,"
    "  PRIMARY KEY (team_id, user_id)"
    ");"
    "CREATE INDEX team_members_by_user ON team_members (user_id);"
    "CREATE TABLE oidc_issuers ("
    "  id text PRIMARY KEY,"
    "  org_id bigint NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  name text NOT NULL,"
    "  url text NOT NULL,"
    "  issuer text NOT NULL,"
    "  jwks_uri text NOT NULL,"
    "  jwks text NOT NULL,"
    "  static_jwks boolean NOT NULL,"
    "  thumbprints text NOT NULL,"
    "  max_expiration bigint NOT NULL,"
    "  created bigint NOT NULL,"
    "  modified bigint NOT NULL,"
    "  last_used bigint NOT NULL DEFAULT 0,"
    "  policy_id text NOT NULL UNIQUE,"
    "  policy text NOT NULL,"
    "  policy_version bigint NOT NULL,"
    "  policy_modified bigint NOT NULL,"
    "  UNIQUE (org_id, issuer)"
    ");"
    /* seq is never reused (a sequence), so continuation tokens stay meaningful across deletions;
     * hash is SHA-256 of the value, which is never stored. */
    "CREATE TABLE tokens ("
    "  seq bigserial PRIMARY KEY,"
    "  id text NOT NULL UNIQUE,"
    "  hash bytea NOT NULL UNIQUE CHECK (length(hash) = 32),"
    "  kind text NOT NULL CHECK (kind IN ('personal', 'organization', 'team')),"
    "  user_id bigint REFERENCES users(id) ON DELETE CASCADE,"
    "  org_id bigint REFERENCES orgs(id) ON DELETE CASCADE,"
    "  team_id bigint REFERENCES teams(id) ON DELETE CASCADE,"
    "  name text NOT NULL,"
    "  admin boolean NOT NULL DEFAULT false,"
    "  description text NOT NULL,"
    "  reason text NOT NULL DEFAULT '',"
    "  created_by text NOT NULL,"
    "  created bigint NOT NULL,"
    "  expires bigint NOT NULL DEFAULT 0,"
    "  last_used bigint NOT NULL DEFAULT 0,"
    "  oidc_issuer text NOT NULL DEFAULT '',"
    "  source text NOT NULL DEFAULT 'api'"
    "    CHECK (source IN ('api', 'console', 'oidc', 'admin', 'session')),"
    "  parent_seq bigint REFERENCES tokens(seq) ON DELETE CASCADE,"
    "  manage_access boolean NOT NULL DEFAULT false,"
    "  CHECK ((kind = 'personal') = (user_id IS NOT NULL)),"
    "  CHECK ((kind = 'personal') = (org_id IS NULL)),"
    "  CHECK ((kind = 'team') = (team_id IS NOT NULL)),"
    "  CHECK (kind = 'organization' OR NOT admin)"
    ");"
    "CREATE INDEX tokens_by_user ON tokens (user_id, seq);"
    "CREATE INDEX tokens_by_org ON tokens (org_id, seq);"
    "CREATE INDEX tokens_by_team ON tokens (team_id, seq);"
    "CREATE INDEX tokens_by_parent ON tokens (parent_seq);"
    /* Every name an organization's tokens ever had: a deleted token's name is not given again. */
    "CREATE TABLE token_names ("
    "  org_id bigint NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  name text NOT NULL"
    ");"
    "CREATE UNIQUE INDEX token_names_name ON token_names (org_id, lower(name COLLATE \"C\"));"
    /* The audit log: seq is the writer's (last + 1), part of what each chain value covers. */
    "CREATE TABLE audit ("
    "  seq bigint PRIMARY KEY,"
    "  org text NOT NULL,"
    "  timestamp bigint NOT NULL,"
    "  source_ip text NOT NULL,"
    "  event text NOT NULL CHECK (length(event) BETWEEN 1 AND 64),"
    "  description text NOT NULL,"
    "  user_login text NOT NULL,"
    "  token_id text NOT NULL,"
    "  token_name text NOT NULL,"
    "  req_org_admin boolean NOT NULL,"
    "  auth_failure boolean NOT NULL,"
    "  chain bytea NOT NULL CHECK (length(chain) = 32)"
    ");"
    "CREATE INDEX audit_by_org_time ON audit (org, timestamp);"
    /* The key's id, and the database's own id, which names the audit head file beside the key
     * (nodes share the key; each database has its own head). */
    "CREATE TABLE audit_meta ("
    "  key_id bytea NOT NULL CHECK (length(key_id) = 32),"
    "  db_id text NOT NULL CHECK (db_id ~ '^[0-9a-f]{32}$')"
    ");"
    /* The data version: one row that every write transaction locks first, so writers across
     * nodes commit one at a time (the audit chain's order), and that each change in the feed
     * moves, so versions grow in commit order. */
    "CREATE TABLE tessera_version ("
    "  one boolean PRIMARY KEY DEFAULT true CHECK (one),"
    "  v bigint NOT NULL,"
    "  pruned bigint NOT NULL DEFAULT 0"
    ");"
    "INSERT INTO tessera_version (v) VALUES (0);"
    /* The change feed (store.h, store_change), as the SQLite store's migration 10 has it: a row
     * per change that may make a cache stale, each with the next data version, written by
     * triggers in the change's own transaction (also a change made with psql; the row lock then
     * orders it with the nodes' writers). */
    "CREATE TABLE changes (version bigint NOT NULL, kind text NOT NULL, key text NOT NULL);"
    "CREATE INDEX changes_by_version ON changes (version);"
    /* Statement-level, with transition tables: one version a statement, however many rows it
     * touched (a row-level UPDATE of the version row would cost each row a scan of the versions
     * the rows before it left behind). A statement that touched nothing records nothing. The
     * functions' search_path is the migration's, so a caller's cannot redirect them. */
    "CREATE FUNCTION tessera_note(kind text, keys text[]) RETURNS void LANGUAGE plpgsql "
    "  SET search_path FROM CURRENT AS $$ DECLARE version bigint; BEGIN "
    "  IF coalesce(cardinality(keys), 0) = 0 THEN RETURN; END IF; "
    "  UPDATE tessera_version SET v = v + 1 RETURNING v INTO version; "
    "  INSERT INTO changes SELECT version, kind, k FROM unnest(keys) k; END $$;"
    "CREATE FUNCTION tessera_rows_changed() RETURNS trigger LANGUAGE plpgsql "
    "  SET search_path FROM CURRENT AS $$ BEGIN "
    "  IF TG_OP = 'DELETE' THEN "
    "    PERFORM tessera_note(TG_ARGV[0], ARRAY(SELECT to_jsonb(r) ->> TG_ARGV[1] FROM old_rows "
    "r)); "
    "  ELSE "
    "    PERFORM tessera_note(TG_ARGV[0], ARRAY(SELECT to_jsonb(r) ->> TG_ARGV[1] FROM new_rows "
    "r)); "
    "  END IF; RETURN NULL; END $$;"
    /* An issuer's exchanges touch its last_used: only a new name or organization is a change. */
    "CREATE FUNCTION tessera_issuers_updated() RETURNS trigger LANGUAGE plpgsql "
    "  SET search_path FROM CURRENT AS $$ BEGIN "
    "  PERFORM tessera_note('issuer', ARRAY(SELECT o.id FROM old_rows o JOIN new_rows n USING (id) "
    "    WHERE o.name IS DISTINCT FROM n.name OR o.org_id IS DISTINCT FROM n.org_id)); "
    "  RETURN NULL; END $$;"
    /* TRUNCATE fires no row's trigger: the caches forget everything ('all' is no kind they know).
     */
    "CREATE FUNCTION tessera_truncated() RETURNS trigger LANGUAGE plpgsql "
    "  SET search_path FROM CURRENT AS $$ BEGIN "
    "  PERFORM tessera_note('all', ARRAY['']); RETURN NULL; END $$;"
    "CREATE TRIGGER tokens_deleted AFTER DELETE ON tokens REFERENCING OLD TABLE AS old_rows "
    "  FOR EACH STATEMENT EXECUTE FUNCTION tessera_rows_changed('token', 'seq');"
    "CREATE TRIGGER users_updated AFTER UPDATE ON users REFERENCING NEW TABLE AS new_rows "
    "  FOR EACH STATEMENT EXECUTE FUNCTION tessera_rows_changed('user', 'id');"
    "CREATE TRIGGER users_deleted AFTER DELETE ON users REFERENCING OLD TABLE AS old_rows "
    "  FOR EACH STATEMENT EXECUTE FUNCTION tessera_rows_changed('user', 'id');"
    "CREATE TRIGGER memberships_inserted AFTER INSERT ON memberships REFERENCING NEW TABLE AS "
    "new_rows "
    "  FOR EACH STATEMENT EXECUTE FUNCTION tessera_rows_changed('user', 'user_id');"
    "CREATE TRIGGER memberships_updated AFTER UPDATE ON memberships REFERENCING NEW TABLE AS "
    "new_rows "
    "  FOR EACH STATEMENT EXECUTE FUNCTION tessera_rows_changed('user', 'user_id');"
    "CREATE TRIGGER memberships_deleted AFTER DELETE ON memberships REFERENCING OLD TABLE AS "
    "old_rows "
    "  FOR EACH STATEMENT EXECUTE FUNCTION tessera_rows_changed('user', 'user_id');"
    "CREATE TRIGGER orgs_updated AFTER UPDATE ON orgs REFERENCING NEW TABLE AS new_rows "
    "  FOR EACH STATEMENT EXECUTE FUNCTION tessera_rows_changed('org', 'id');"
    "CREATE TRIGGER orgs_deleted AFTER DELETE ON orgs REFERENCING OLD TABLE AS old_rows "
    "  FOR EACH STATEMENT EXECUTE FUNCTION tessera_rows_changed('org', 'id');"
    "CREATE TRIGGER teams_updated AFTER UPDATE ON teams REFERENCING NEW TABLE AS new_rows "
    "  FOR EACH STATEMENT EXECUTE FUNCTION tessera_rows_changed('team', 'id');"
    "CREATE TRIGGER teams_deleted AFTER DELETE ON teams REFERENCING OLD TABLE AS old_rows "
    "  FOR EACH STATEMENT EXECUTE FUNCTION tessera_rows_changed('team', 'id');"
    "CREATE TRIGGER issuers_deleted AFTER DELETE ON oidc_issuers REFERENCING OLD TABLE AS old_rows "
    "  FOR EACH STATEMENT EXECUTE FUNCTION tessera_rows_changed('issuer', 'id');"
    "CREATE TRIGGER issuers_updated AFTER UPDATE ON oidc_issuers "
    "  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "  FOR EACH STATEMENT EXECUTE FUNCTION tessera_issuers_updated();"
    "CREATE TRIGGER tokens_truncated AFTER TRUNCATE ON tokens "
    "  FOR EACH STATEMENT EXECUTE FUNCTION tessera_truncated();"
    "CREATE TRIGGER users_truncated AFTER TRUNCATE ON users "
    "  FOR EACH STATEMENT EXECUTE FUNCTION tessera_truncated();"
    "CREATE TRIGGER memberships_truncated AFTER TRUNCATE ON memberships "
    "  FOR EACH STATEMENT EXECUTE FUNCTION tessera_truncated();"
    "CREATE TRIGGER orgs_truncated AFTER TRUNCATE ON orgs "
    "  FOR EACH STATEMENT EXECUTE FUNCTION tessera_truncated();"
    "CREATE TRIGGER teams_truncated AFTER TRUNCATE ON teams "
    "  FOR EACH STATEMENT EXECUTE FUNCTION tessera_truncated();"
    "CREATE TRIGGER oidc_issuers_truncated AFTER TRUNCATE ON oidc_issuers "
    "  FOR EACH STATEMENT EXECUTE FUNCTION tessera_truncated();",
    /* 2: new tokens in the feed too, as the SQLite store's migration 11 has it: one version a
     * statement, a change (kind 'token', the seq) a row. */
    ("CREATE TRIGGER tokens_inserted AFTER INSERT ON tokens REFERENCING NEW TABLE AS new_rows "
     "  FOR EACH STATEMENT EXECUTE FUNCTION tessera_rows_changed('token', 'seq');"
     /* A token changed in place is a change too; a new lastUsed alone is not. */
     "CREATE FUNCTION tessera_tokens_updated() RETURNS trigger LANGUAGE plpgsql "
     "  SET search_path FROM CURRENT AS $$ BEGIN "
     "  PERFORM tessera_note('token', ARRAY(SELECT o.seq::text FROM old_rows o "
     "    JOIN new_rows n USING (seq) "
     "    WHERE to_jsonb(o) - 'last_used' IS DISTINCT FROM to_jsonb(n) - 'last_used')); "
     "  RETURN NULL; END $$;"
     "CREATE TRIGGER tokens_updated AFTER UPDATE ON tokens "
     "  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
     "  FOR EACH STATEMENT EXECUTE FUNCTION tessera_tokens_updated();"),
    /* 3: a token's lastUsed in a narrow table, as the SQLite store's migration 12 has it: a use
     * writes a small row version, not a new version of the wide token row. */
    ("CREATE TABLE token_uses (seq bigint PRIMARY KEY REFERENCES tokens(seq) ON DELETE CASCADE,"
     "  last_used bigint NOT NULL);"),
    /* 4: partial indexes, as the SQLite store's migration 13 has them: a token has no entry of
     * NULLs for the kinds no query looks it up by (x = $1 implies x IS NOT NULL), nor for a
     * parent it does not have. The rebuild locks the tokens table for its length (seconds at a
     * million tokens): step() lifts the statement timeout for it. */
    ("DROP INDEX tokens_by_user;"
     "CREATE INDEX tokens_by_user ON tokens (user_id, seq) WHERE user_id IS NOT NULL;"
     "DROP INDEX tokens_by_org;"
     "CREATE INDEX tokens_by_org ON tokens (org_id, seq) WHERE org_id IS NOT NULL;"
     "DROP INDEX tokens_by_team;"
     "CREATE INDEX tokens_by_team ON tokens (team_id, seq) WHERE team_id IS NOT NULL;"
     "DROP INDEX tokens_by_parent;"
     "CREATE INDEX tokens_by_parent ON tokens (parent_seq) WHERE parent_seq IS NOT NULL;"),
    /* 5: a token's use rows go with it by a trigger, not a foreign key. The key's check, at every
     * token's first use, took a KEY SHARE lock on the token's row: a write to a random page of
     * the wide tokens table (and a full-page image in the WAL after each checkpoint) for what is
     * a read. With a million tokens each used once, that was 500 bytes of WAL a use against 190
     * without, and 2 to 3 times the database's time on the inserts. A use written for a token
     * already gone (STMT_TOKEN_TOUCH says when) can outlive it, unread (every read joins
     * tokens), and its seq is never issued again. */
    ("ALTER TABLE token_uses DROP CONSTRAINT token_uses_seq_fkey;"
     "CREATE FUNCTION tessera_token_uses_gone() RETURNS trigger LANGUAGE plpgsql "
     "  SET search_path FROM CURRENT AS $$ BEGIN "
     "  IF TG_OP = 'TRUNCATE' THEN DELETE FROM token_uses; "
     "  ELSE DELETE FROM token_uses u USING old_rows o WHERE u.seq = o.seq; END IF; "
     "  RETURN NULL; END $$;"
     "CREATE TRIGGER tokens_deleted_uses AFTER DELETE ON tokens REFERENCING OLD TABLE AS old_rows "
     "  FOR EACH STATEMENT EXECUTE FUNCTION tessera_token_uses_gone();"
     "CREATE TRIGGER tokens_truncated_uses AFTER TRUNCATE ON tokens "
     "  FOR EACH STATEMENT EXECUTE FUNCTION tessera_token_uses_gone();"),
    /* 6: new tokens noted by a function of their own, as tessera_note would note them: the
     * general one turned each new row into JSON to read its seq and called tessera_note, a
     * second function with a search_path of its own to set and reset: about 170 µs of the
     * database's time an INSERT of a batch of five, a third of it. */
    ("CREATE FUNCTION tessera_tokens_inserted() RETURNS trigger LANGUAGE plpgsql "
     "  SET search_path FROM CURRENT AS $$ DECLARE version bigint; BEGIN "
     "  IF NOT EXISTS (SELECT 1 FROM new_rows) THEN RETURN NULL; END IF; "
     "  UPDATE tessera_version SET v = v + 1 RETURNING v INTO version; "
     "  INSERT INTO changes SELECT version, 'token', seq::text FROM new_rows; "
     "  RETURN NULL; END $$;"
     "DROP TRIGGER tokens_inserted ON tokens;"
     "CREATE TRIGGER tokens_inserted AFTER INSERT ON tokens REFERENCING NEW TABLE AS new_rows "
     "  FOR EACH STATEMENT EXECUTE FUNCTION tessera_tokens_inserted();"),
};

int pg_schema_version_latest(void) {
  return (int)(sizeof migrations / sizeof migrations[0]);
}

static bool ok(PGconn *conn, PGresult *res, ExecStatusType want, const char *what) {
  bool good = res && PQresultStatus(res) == want;
  if (!good)
    fprintf(stderr, "tessera: PostgreSQL: %s: %s", what, PQerrorMessage(conn));
  return good;
}

static bool exec(PGconn *conn, const char *sql, const char *what) {
  PGresult *res = PQexec(conn, sql);
  bool good = ok(conn, res, PGRES_COMMAND_OK, what);
  PQclear(res);
  return good;
}

/* 1 when the version table exists, 0 when not, or a negative TE_* code. */
static int has_version_table(PGconn *conn) {
  PGresult *res = PQexec(conn, "SELECT to_regclass('tessera_schema') IS NOT NULL");
  int rc = ok(conn, res, PGRES_TUPLES_OK, "schema version table") && PQntuples(res) == 1
               ? strcmp(PQgetvalue(res, 0, 0), "t") == 0
               : TE_INTERNAL;
  PQclear(res);
  return rc;
}

static int select_version(PGconn *conn) {
  PGresult *res = PQexec(conn, "SELECT max(version) FROM tessera_schema");
  int version = ok(conn, res, PGRES_TUPLES_OK, "schema version") && PQntuples(res) == 1 &&
                        !PQgetisnull(res, 0, 0)
                    ? atoi(PQgetvalue(res, 0, 0))
                    : TE_INTERNAL;
  PQclear(res);
  return version;
}

/* The version inside the caller's transaction, which holds the lock: the table is made if
 * absent. */
static int read_version(PGconn *conn) {
  int has = has_version_table(conn);
  if (has == 0 && !exec(conn,
                        "CREATE TABLE tessera_schema (version integer NOT NULL);"
                        "INSERT INTO tessera_schema (version) VALUES (0)",
                        "schema version table"))
    return TE_INTERNAL;
  return has < 0 ? has : select_version(conn);
}

/* One migration, or none when another node has done it: the lock is taken first, then the
 * version read, so two nodes never both apply the same step. The connection's statement timeout
 * (6 s, for requests) is lifted for the transaction: a step may rebuild an index of a million
 * tokens, and a node starting beside the one migrating waits for the lock that long; rolled back
 * at 6 s, the step would fail the same way at every start. */
static int step(PGconn *conn, int *version) {
  char lock[96];
  snprintf(lock, sizeof lock, "SELECT pg_advisory_xact_lock(%lld)", (long long)MIGRATION_LOCK);
  PGresult *res = NULL;
  bool good = exec(conn, "BEGIN", "begin") &&
              exec(conn, "SET LOCAL statement_timeout = 0", "migration statement timeout");
  if (good) {
    res = PQexec(conn, lock);
    good = ok(conn, res, PGRES_TUPLES_OK, "migration lock");
    PQclear(res);
  }
  int rc = good ? read_version(conn) : TE_INTERNAL;
  if (rc >= 0) {
    *version = rc;
    rc = TE_OK;
    if (*version > pg_schema_version_latest()) {
      fprintf(stderr,
              "tessera: the database is at schema version %d; this binary knows up to %d: "
              "upgrade it first\n",
              *version, pg_schema_version_latest());
      rc = TE_CONFLICT;
    } else if (*version < pg_schema_version_latest()) {
      char bump[64];
      snprintf(bump, sizeof bump, "UPDATE tessera_schema SET version = %d", *version + 1);
      rc = exec(conn, migrations[*version], "migration") && exec(conn, bump, "schema version")
               ? TE_OK
               : TE_INTERNAL;
      if (rc == TE_OK)
        ++*version;
    }
  }
  if (rc == TE_OK && exec(conn, "COMMIT", "commit"))
    return TE_OK;
  exec(conn, "ROLLBACK", "rollback");
  return rc == TE_OK ? TE_INTERNAL : rc;
}

int pg_schema_migrate(PGconn *conn) {
  for (int version = -1;;) {
    int rc = step(conn, &version);
    if (rc != TE_OK)
      return rc;
    if (version == pg_schema_version_latest())
      return TE_OK;
  }
}

int pg_schema_version(PGconn *conn) {
  int has = has_version_table(conn);
  return has <= 0 ? has : select_version(conn);
}
