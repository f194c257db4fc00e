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
  /* IMMEDIATE takes the write lock first, so two processes starting at once cannot both migrate. */
  if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
    return TE_INTERNAL;
  int version, rc = user_version(db, &version);
  if (rc == TE_OK && version > sqlite_schema_version_latest()) {
    fprintf(stderr, "tessera: the database has schema %d, newer than this binary knows (%d)\n",
            version, sqlite_schema_version_latest());
    rc = TE_INTERNAL;
  }
  for (int v = version; rc == TE_OK && v < sqlite_schema_version_latest(); v++)
    rc = apply(db, v);
  if (rc == TE_OK && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
    return TE_OK;
  sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  return rc ? rc : TE_INTERNAL;
}
