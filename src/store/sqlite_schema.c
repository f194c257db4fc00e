#include "store/sqlite_schema.h"

#include "core/error.h"

#include <stdio.h>

/* Numbered migrations: entry i takes the schema from user_version i to i + 1. Append only; never
 * edit a released entry. */
static const char *const migrations[] = {
    /* 1: users, organizations, memberships, personal access tokens. */
    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY,"
    "  uuid TEXT NOT NULL UNIQUE,"
    "  login TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    "  name TEXT NOT NULL,"
    "  email TEXT NOT NULL,"
    "  site_admin INTEGER NOT NULL DEFAULT 0,"
    "  created INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE orgs ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE COLLATE NOCASE,"
    "  created INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE memberships ("
    "  org_id INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  role TEXT NOT NULL CHECK (role IN ('admin', 'member')),"
    "  created INTEGER NOT NULL,"
    "  PRIMARY KEY (org_id, user_id)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX memberships_by_user ON memberships(user_id);"
    /* seq is AUTOINCREMENT so a deleted token's seq is never reused: continuation tokens stay
     * meaningful across deletions. hash is SHA-256 of the value; the value itself is never stored.
     */
    "CREATE TABLE tokens ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  id TEXT NOT NULL UNIQUE,"
    "  hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),"
    "  kind TEXT NOT NULL,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  description TEXT NOT NULL,"
    "  created_by INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  created INTEGER NOT NULL,"
    "  expires INTEGER NOT NULL DEFAULT 0,"
    "  last_used INTEGER NOT NULL DEFAULT 0"
    ") STRICT;"
    "CREATE INDEX tokens_by_user ON tokens(user_id, seq);",
    /* 2: the audit log. seq is assigned by the writer (last + 1) because it is part of what each
     * record's chain value covers; chain = HMAC-SHA-256(key, previous chain || this record). */
    "CREATE TABLE audit ("
    "  seq INTEGER PRIMARY KEY,"
    "  org TEXT NOT NULL,"
    "  timestamp INTEGER NOT NULL,"
    "  source_ip TEXT NOT NULL,"
    "  event TEXT NOT NULL CHECK (length(event) BETWEEN 1 AND 64),"
    "  description TEXT NOT NULL,"
    "  user_login TEXT NOT NULL,"
    "  token_id TEXT NOT NULL,"
    "  token_name TEXT NOT NULL,"
    "  req_org_admin INTEGER NOT NULL,"
    "  auth_failure INTEGER NOT NULL,"
    "  chain BLOB NOT NULL CHECK (length(chain) = 32)"
    ") STRICT;"
    "CREATE INDEX audit_by_org_time ON audit(org, timestamp);"
    /* Which key signs the chain: HMAC(key, "tessera-audit-key-id"), so that a lost or different key
     * (another path to the same file, a restored backup) is refused rather than used. */
    "CREATE TABLE audit_meta (key_id BLOB NOT NULL CHECK (length(key_id) = 32)) STRICT;",
    /* 3: teams within organizations, and their members (team admins manage their team). */
    "CREATE TABLE teams ("
    "  id INTEGER PRIMARY KEY,"
    "  org_id INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL COLLATE NOCASE,"
    "  display_name TEXT NOT NULL,"
    "  description TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  UNIQUE (org_id, name)"
    ") STRICT;"
    "CREATE TABLE team_members ("
    "  team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  role TEXT NOT NULL CHECK (role IN ('admin', 'member')),"
    "  created INTEGER NOT NULL,"
    "  PRIMARY KEY (team_id, user_id)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX team_members_by_user ON team_members(user_id);",
    /* 4: organization and team tokens, and organizations' token-lifetime policy. The tokens table
     * is rebuilt (SQLite cannot relax NOT NULL in place): a token is owned by a user (personal)
     * or by an organization (and team); created_by becomes the creator's login, since machine
     * tokens can create tokens too. The AUTOINCREMENT counter is carried over so that no seq is
     * ever reused. token_names keeps every name an organization's tokens ever had: a deleted
     * token's name is not given to another. */
    "CREATE TABLE tokens_v4 ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  id TEXT NOT NULL UNIQUE,"
    "  hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),"
    "  kind TEXT NOT NULL CHECK (kind IN ('personal', 'organization', 'team')),"
    "  user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,"
    "  org_id INTEGER REFERENCES orgs(id) ON DELETE CASCADE,"
    "  team_id INTEGER REFERENCES teams(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  admin INTEGER NOT NULL DEFAULT 0 CHECK (admin IN (0, 1)),"
    "  description TEXT NOT NULL,"
    "  created_by TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  expires INTEGER NOT NULL DEFAULT 0,"
    "  last_used INTEGER NOT NULL DEFAULT 0,"
    "  CHECK ((kind = 'personal') = (user_id IS NOT NULL)),"
    "  CHECK ((kind = 'personal') = (org_id IS NULL)),"
    "  CHECK ((kind = 'team') = (team_id IS NOT NULL)),"
    "  CHECK (kind = 'organization' OR admin = 0)"
    ") STRICT;"
    "INSERT INTO tokens_v4 (seq, id, hash, kind, user_id, name, description, created_by, created,"
    "  expires, last_used) "
    "SELECT t.seq, t.id, t.hash, 'personal', t.user_id, '', t.description, coalesce(c.login, ''),"
    "  t.created, t.expires, t.last_used FROM tokens t LEFT JOIN users c ON c.id = t.created_by;"
    "DELETE FROM sqlite_sequence WHERE name = 'tokens_v4';"
    "INSERT INTO sqlite_sequence (name, seq) SELECT 'tokens_v4', seq FROM sqlite_sequence "
    "  WHERE name = 'tokens';"
    "DROP TABLE tokens;"
    "ALTER TABLE tokens_v4 RENAME TO tokens;"
    "CREATE INDEX tokens_by_user ON tokens(user_id, seq);"
    "CREATE INDEX tokens_by_org ON tokens(org_id, seq);"
    "CREATE INDEX tokens_by_team ON tokens(team_id, seq);"
    "CREATE TABLE token_names ("
    "  org_id INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL COLLATE NOCASE,"
    "  PRIMARY KEY (org_id, name)"
    ") STRICT, WITHOUT ROWID;"
    "ALTER TABLE orgs ADD COLUMN max_token_expiry_days INTEGER NOT NULL DEFAULT 0"
    "  CHECK (max_token_expiry_days BETWEEN 0 AND 3650);",
    /* 5: OIDC issuers an organization trusts, each with its authorization policy (one per issuer,
     * kept in the same row: they live and die together). jwks is the key set in use, fetched
     * from jwks_uri or given statically; thumbprints pin the TLS certificates of fetches. Tokens
     * issued by an exchange remember their issuer: they are exempt from the org lifetime policy
     * (their lifetime is the issuer's to bound). */
    "CREATE TABLE oidc_issuers ("
    "  id TEXT PRIMARY KEY,"
    "  org_id INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  url TEXT NOT NULL,"
    "  issuer TEXT NOT NULL,"
    "  jwks_uri TEXT NOT NULL,"
    "  jwks TEXT NOT NULL,"
    "  static_jwks INTEGER NOT NULL CHECK (static_jwks IN (0, 1)),"
    "  thumbprints TEXT NOT NULL,"
    "  max_expiration INTEGER NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  modified INTEGER NOT NULL,"
    "  last_used INTEGER NOT NULL DEFAULT 0,"
    "  policy_id TEXT NOT NULL UNIQUE,"
    "  policy TEXT NOT NULL,"
    "  policy_version INTEGER NOT NULL,"
    "  policy_modified INTEGER NOT NULL,"
    "  UNIQUE (org_id, issuer)"
    ") STRICT;"
    "ALTER TABLE tokens ADD COLUMN oidc_issuer TEXT NOT NULL DEFAULT '';",
    /* 6: the web console. Users may have a password (argon2id, PHC string form); a console sign-in
     * is a token of source 'session' (kept out of token listings), so revocation, expiry and the
     * in-transaction rights checks are the tokens' own. source records where a token came from. */
    "ALTER TABLE users ADD COLUMN password_hash TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE tokens ADD COLUMN source TEXT NOT NULL DEFAULT 'api'"
    "  CHECK (source IN ('api', 'console', 'oidc', 'admin', 'session'));"
    "UPDATE tokens SET source = 'oidc' WHERE oidc_issuer <> '';"
    /* A session opened with a token depends on it: revoking the token ends the session. */
    "ALTER TABLE tokens ADD COLUMN parent_seq INTEGER REFERENCES tokens(seq) ON DELETE CASCADE;",
    /* 7: what an OIDC exchange's policy granted beyond the token's kind and role: changing who
     * has access (membership, roles, the lifetime policy). parent_seq now also ties a token that
     * a machine or exchange-issued token made to its maker. */
    ("ALTER TABLE tokens ADD COLUMN manage_access INTEGER NOT NULL DEFAULT 0"
     "  CHECK (manage_access IN (0, 1));"), /* parenthesized: one element, for clang's checks */
    /* 8: the context that triggered a token's creation (CreatePersonalToken's ?reason=, and the
     * same on organization and team tokens), kept for the console and the token listings. */
    ("ALTER TABLE tokens ADD COLUMN reason TEXT NOT NULL DEFAULT '';"),
    /* 9: the database's own id beside its key id, as the PostgreSQL store keeps it (there it names
     * the audit head file; a SQLite database's head sits beside the file instead). */
    ("ALTER TABLE audit_meta ADD COLUMN db_id TEXT NOT NULL DEFAULT '';"),
    /* 10: the change feed (store.h, store_change): a row per change that may make a cache
     * stale, each with the next data version, written by triggers in the change's own
     * transaction, so that no write escapes it (not even one made with the sqlite3 shell). A
     * token deleted by a cascade (its parent, its user, its issuer) fires its own trigger. Only
     * the last versions are kept (store/sql_writer.c prunes); pruned is the highest removed. */
    "CREATE TABLE tessera_version (one INTEGER PRIMARY KEY CHECK (one = 1), v INTEGER NOT NULL,"
    "  pruned INTEGER NOT NULL) STRICT;"
    "INSERT INTO tessera_version VALUES (1, 0, 0);"
    "CREATE TABLE changes (version INTEGER NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL) STRICT;"
    "CREATE INDEX changes_by_version ON changes(version);"
    "CREATE TRIGGER tokens_deleted AFTER DELETE ON tokens BEGIN UPDATE tessera_version SET v = v + "
    "1; "
    "  INSERT INTO changes SELECT v, 'token', CAST(OLD.seq AS TEXT) FROM tessera_version; END;"
    "CREATE TRIGGER users_updated AFTER UPDATE ON users BEGIN UPDATE tessera_version SET v = v + "
    "1; "
    "  INSERT INTO changes SELECT v, 'user', CAST(OLD.id AS TEXT) FROM tessera_version; END;"
    "CREATE TRIGGER users_deleted AFTER DELETE ON users BEGIN UPDATE tessera_version SET v = v + "
    "1; "
    "  INSERT INTO changes SELECT v, 'user', CAST(OLD.id AS TEXT) FROM tessera_version; END;"
    "CREATE TRIGGER memberships_inserted AFTER INSERT ON memberships BEGIN UPDATE tessera_version "
    "SET v = v + 1; "
    "  INSERT INTO changes SELECT v, 'user', CAST(NEW.user_id AS TEXT) FROM tessera_version; END;"
    "CREATE TRIGGER memberships_updated AFTER UPDATE ON memberships BEGIN UPDATE tessera_version "
    "SET v = v + 1; "
    "  INSERT INTO changes SELECT v, 'user', CAST(NEW.user_id AS TEXT) FROM tessera_version; END;"
    "CREATE TRIGGER memberships_deleted AFTER DELETE ON memberships BEGIN UPDATE tessera_version "
    "SET v = v + 1; "
    "  INSERT INTO changes SELECT v, 'user', CAST(OLD.user_id AS TEXT) FROM tessera_version; END;"
    "CREATE TRIGGER orgs_updated AFTER UPDATE ON orgs BEGIN UPDATE tessera_version SET v = v + 1; "
    "  INSERT INTO changes SELECT v, 'org', CAST(OLD.id AS TEXT) FROM tessera_version; END;"
    "CREATE TRIGGER orgs_deleted AFTER DELETE ON orgs BEGIN UPDATE tessera_version SET v = v + 1; "
    "  INSERT INTO changes SELECT v, 'org', CAST(OLD.id AS TEXT) FROM tessera_version; END;"
    "CREATE TRIGGER teams_updated AFTER UPDATE ON teams BEGIN UPDATE tessera_version SET v = v + "
    "1; "
    "  INSERT INTO changes SELECT v, 'team', CAST(OLD.id AS TEXT) FROM tessera_version; END;"
    "CREATE TRIGGER teams_deleted AFTER DELETE ON teams BEGIN UPDATE tessera_version SET v = v + "
    "1; "
    "  INSERT INTO changes SELECT v, 'team', CAST(OLD.id AS TEXT) FROM tessera_version; END;"
    "CREATE TRIGGER issuers_updated AFTER UPDATE OF name, org_id ON oidc_issuers BEGIN UPDATE "
    "tessera_version SET v = v + 1; "
    "  INSERT INTO changes SELECT v, 'issuer', CAST(OLD.id AS TEXT) FROM tessera_version; END;"
    "CREATE TRIGGER issuers_deleted AFTER DELETE ON oidc_issuers BEGIN UPDATE tessera_version SET "
    "v = v + 1; "
    "  INSERT INTO changes SELECT v, 'issuer', CAST(OLD.id AS TEXT) FROM tessera_version; END;",
    /* 11: a new token is in the feed too, as its seq under the same kind as a deleted one, so
     * that a cache holding every token (store/cache.c) learns of it and can refuse a value it
     * does not hold without asking the database. A release that knows only deletions drops the
     * entry of that seq, which it cannot hold: nothing. */
    ("CREATE TRIGGER tokens_inserted AFTER INSERT ON tokens BEGIN UPDATE tessera_version SET "
     "v = v + 1; "
     "  INSERT INTO changes SELECT v, 'token', CAST(NEW.seq AS TEXT) FROM tessera_version; END;"
     /* A token changed in place (an expiry set by hand, say) is in the feed too; its lastUsed,
      * written for every use, is not. */
     "CREATE TRIGGER tokens_updated AFTER UPDATE OF id, hash, kind, user_id, org_id, team_id, "
     "  name, admin, created, expires, oidc_issuer, source, parent_seq, manage_access ON tokens "
     "  BEGIN UPDATE tessera_version SET v = v + 1; "
     "  INSERT INTO changes SELECT v, 'token', CAST(NEW.seq AS TEXT) FROM tessera_version; END;"),
    /* 12: a token's lastUsed in a narrow table of its own. Writing it in the token's row dirtied
     * a page of a dozen wide rows a use: with a million tokens in use, tens of thousands of
     * pages to read and log a second. The effective value is the greater of the two columns
     * (tokens.last_used keeps what was written before). */
    ("CREATE TABLE token_uses (seq INTEGER PRIMARY KEY REFERENCES tokens(seq) ON DELETE CASCADE,"
     "  last_used INTEGER NOT NULL) STRICT;"),
    /* 13: fewer pages written a creation (each is logged, synced and copied by a checkpoint).
     * A personal token wrote an entry of NULLs into tokens_by_org and tokens_by_team, and an
     * organization's token one into tokens_by_user, that no query reads: a lookup by x = ?
     * implies x IS NOT NULL, so the partial indexes serve every query the full ones did (and
     * the foreign keys' cascades). And tokens_by_parent, which the SQLite store lacked: the
     * cascade from a deleted token to the ones made with it (parent_seq) scanned the whole
     * table at every deletion; PostgreSQL has had it (its migration 4 makes it partial too). */
    ("DROP INDEX tokens_by_user;"
     "CREATE INDEX tokens_by_user ON tokens(user_id, seq) WHERE user_id IS NOT NULL;"
     "DROP INDEX tokens_by_org;"
     "CREATE INDEX tokens_by_org ON tokens(org_id, seq) WHERE org_id IS NOT NULL;"
     "DROP INDEX tokens_by_team;"
     "CREATE INDEX tokens_by_team ON tokens(team_id, seq) WHERE team_id IS NOT NULL;"
     "CREATE INDEX tokens_by_parent ON tokens(parent_seq) WHERE parent_seq IS NOT NULL;"),
};

int sqlite_schema_version_latest(void) {
  return (int)(sizeof migrations / sizeof migrations[0]);
}

static int user_version(sqlite3 *db, int *out) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
    return TE_INTERNAL;
  int rc = sqlite3_step(st) == SQLITE_ROW ? TE_OK : TE_INTERNAL;
  *out = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return rc;
}

static int apply(sqlite3 *db, int from) {
  char bump[64];
  snprintf(bump, sizeof bump, "PRAGMA user_version = %d;", from + 1);
  if (sqlite3_exec(db, migrations[from], NULL, NULL, NULL) != SQLITE_OK ||
      sqlite3_exec(db, bump, NULL, NULL, NULL) != SQLITE_OK) {
    fprintf(stderr, "tessera: migration %d failed: %s\n", from + 1, sqlite3_errmsg(db));
    return TE_INTERNAL;
  }
  return TE_OK;
}

int sqlite_schema_migrate(sqlite3 *db) {
  return sqlite_schema_migrate_to(db, sqlite_schema_version_latest());
}

int sqlite_schema_migrate_to(sqlite3 *db, int target) {
  /* IMMEDIATE takes the write lock first, so two processes starting at once cannot both migrate. */
  if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
    return TE_INTERNAL;
  int version, rc = user_version(db, &version);
  if (rc == TE_OK && version > sqlite_schema_version_latest()) {
    fprintf(stderr, "tessera: the database has schema %d, newer than this binary knows (%d)\n",
            version, sqlite_schema_version_latest());
    rc = TE_INTERNAL;
  }
  for (int v = version; rc == TE_OK && v < target && v < sqlite_schema_version_latest(); v++)
    rc = apply(db, v);
  if (rc == TE_OK && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
    return TE_OK;
  sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  return rc ? rc : TE_INTERNAL;
}
