/* The SQLite store: its statements in SQLite's dialect, its connections (one writer, a pool of
 * readers), its driver for the shared SQL layer (store/sql.h), and opening
 * a database file with its audit key beside it. */

#include "store/store.h"

#include "audit/files.h"
#include "core/error.h"
#include "store/sql.h"
#include "store/sqlite_schema.h"
#include "store/sqlite_checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN_COLUMNS                                                                              \
  "t.seq, t.id, t.hash, t.kind, coalesce(t.user_id, 0), t.description, t.created, t.expires, "     \
  "max(t.last_used, coalesce((SELECT u.last_used FROM token_uses u WHERE u.seq = t.seq), 0)), "    \
  "t.created_by, coalesce(t.org_id, 0), coalesce(t.team_id, 0), t.name, t.admin, "                 \
  "t.oidc_issuer, t.source, coalesce(t.parent_seq, 0), t.manage_access, t.reason"
#define TOKEN_COLUMN_COUNT 19

/* A token with who it stands for, as the hot path needs it (read_principal_row in sql_store.c). A
 * token an OIDC exchange made counts only while its issuer exists. */
#define PRINCIPAL_SELECT                                                                           \
  "SELECT " TOKEN_COLUMNS ", u.id, u.uuid, u.login, u.name, u.email, u.site_admin, "               \
  "coalesce(o.name, so.name), tm.name, coalesce(t.org_id, oi.org_id, 0), "                         \
  "coalesce(pt.expires, -1), coalesce(oi.name, ''), coalesce(pt.oidc_issuer <> '', 0) "            \
  "FROM tokens t LEFT JOIN users u ON u.id = t.user_id "                                           \
  "LEFT JOIN tokens pt ON pt.seq = t.parent_seq "                                                  \
  "LEFT JOIN orgs o ON o.id = t.org_id LEFT JOIN teams tm ON tm.id = t.team_id "                   \
  "LEFT JOIN oidc_issuers oi ON oi.id = t.oidc_issuer LEFT JOIN orgs so ON so.id = oi.org_id "
#define PRINCIPAL_LIVE "(t.oidc_issuer = '' OR oi.id IS NOT NULL)"

#define OIDC_COLUMNS                                                                               \
  "id, org_id, name, url, issuer, jwks_uri, jwks, static_jwks, thumbprints, max_expiration, "      \
  "created, modified, last_used, policy_id, policy, policy_version, policy_modified"

/* The filter of token listings: ?2 the seq to list below, ?3 the token_filter, ?4 now, ?5 limit. */
#define TOKEN_PAGE                                                                                 \
  " AND t.seq < ?2 AND ("                                                                          \
  "  ?3 = 2"                                                                                       \
  "  OR (?3 = 0 AND (t.expires = 0 OR t.expires > ?4))"                                            \
  "  OR (?3 = 1 AND t.expires <> 0 AND t.expires <= ?4)) "                                         \
  "ORDER BY t.seq DESC LIMIT ?5"

static const char *const statement_sql[STMT_COUNT] = {
    [STMT_USER_INSERT] = "INSERT INTO users (uuid, login, name, email, site_admin, created) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
    [STMT_USER_BY_LOGIN] = "SELECT id, uuid, login, name, email, site_admin FROM users "
                           "WHERE login = ?1",
    [STMT_ORG_INSERT] = "INSERT INTO orgs (name, created) VALUES (?1, ?2)",
    [STMT_MEMBER_SET] = "INSERT INTO memberships (org_id, user_id, role, created) "
                        "SELECT o.id, u.id, ?3, ?4 FROM orgs o, users u "
                        "WHERE o.name = ?1 AND u.login = ?2 "
                        "ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
    [STMT_MEMBERSHIPS] = "SELECT o.name, m.role FROM memberships m JOIN orgs o ON o.id = m.org_id "
                         "WHERE m.user_id = ?1 ORDER BY o.name COLLATE NOCASE",
    /* created_by: as given, or (personal tokens made for themselves) the owner's login. */
    [STMT_TOKEN_INSERT] =
        "INSERT INTO tokens (id, hash, kind, user_id, org_id, team_id, name, admin, description, "
        "created_by, created, expires, oidc_issuer, source, parent_seq, manage_access, reason) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
        "coalesce(nullif(?10, ''), (SELECT login FROM users WHERE id = ?4), ''), "
        "?11, ?12, ?13, ?14, nullif(?15, 0), ?16, ?17)",
    [STMT_TOKEN_DELETE] = "DELETE FROM tokens WHERE user_id = ?1 AND id = ?2",
    /* A token an OIDC exchange made is confined to its issuer's organization, and dies with the
     * issuer: deleting a (perhaps compromised) trust relationship revokes what it issued. */
    [STMT_PRINCIPAL_BY_HASH] = PRINCIPAL_SELECT "WHERE t.hash = ?1 AND " PRINCIPAL_LIVE,
    [STMT_PRINCIPALS_AFTER] =
        PRINCIPAL_SELECT "WHERE t.seq > ?1 AND " PRINCIPAL_LIVE " ORDER BY t.seq LIMIT ?2",
    /* Console sign-ins are tokens too, but not ones to list or revoke as such. */
    [STMT_TOKEN_LIST] = "SELECT " TOKEN_COLUMNS " FROM tokens t WHERE t.user_id = ?1 "
                        "AND t.source <> 'session'" TOKEN_PAGE,
    [STMT_USER_PASSWORD] = "SELECT password_hash FROM users WHERE login = ?1",
    [STMT_USER_SET_PASSWORD] = "UPDATE users SET password_hash = ?2 WHERE login = ?1",
    /* A new (or no) password ends the user's console sessions. */
    [STMT_USER_SESSIONS_END] = "DELETE FROM tokens WHERE source = 'session' AND user_id = "
                               "(SELECT id FROM users WHERE login = ?1)",
    [STMT_SESSIONS_PURGE] =
        "DELETE FROM tokens WHERE source = 'session' AND expires <> 0 AND expires < ?1",
    [STMT_ORG_TOKEN_LIST] = "SELECT " TOKEN_COLUMNS " FROM tokens t "
                            "WHERE t.org_id = ?1 AND t.kind = 'organization'" TOKEN_PAGE,
    [STMT_TEAM_TOKEN_LIST] =
        "SELECT " TOKEN_COLUMNS " FROM tokens t WHERE t.team_id = ?1" TOKEN_PAGE,
    [STMT_MACHINE_TOKEN_GET] =
        "SELECT " TOKEN_COLUMNS " FROM tokens t WHERE t.org_id = ?1 AND t.id = ?2",
    [STMT_MACHINE_TOKEN_DELETE] = "DELETE FROM tokens WHERE org_id = ?1 AND id = ?3 AND "
                                  "((?2 = 0 AND kind = 'organization') OR team_id = ?2)",
    [STMT_TOKEN_NAME_RESERVE] = "INSERT INTO token_names (org_id, name) VALUES (?1, ?2)",
    [STMT_TEAM_IN_ORG] = "SELECT 1 FROM teams WHERE id = ?1 AND org_id = ?2",
    [STMT_ORG_SET_EXPIRY_POLICY] = "UPDATE orgs SET max_token_expiry_days = ?2 WHERE id = ?1",
    [STMT_ORG_EXPIRY_POLICY] = "SELECT max_token_expiry_days FROM orgs WHERE id = ?1",
    [STMT_ORG_MEMBER_COUNT] = "SELECT count(*) FROM memberships WHERE org_id = ?1",
    [STMT_OIDC_INSERT] = "INSERT INTO oidc_issuers (" OIDC_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, "
                         "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    [STMT_OIDC_UPDATE] = "UPDATE oidc_issuers SET name = ?3, jwks_uri = ?4, jwks = ?5, "
                         "static_jwks = ?6, thumbprints = ?7, max_expiration = ?8, modified = ?9 "
                         "WHERE org_id = ?1 AND id = ?2",
    [STMT_OIDC_SET_KEYS] = "UPDATE oidc_issuers SET jwks = ?4, modified = ?5 "
                           "WHERE org_id = ?1 AND id = ?2 AND modified = ?3 AND static_jwks = 0 "
                           "AND jwks = ?6 AND name = ?7 AND thumbprints = ?8 "
                           "AND max_expiration = ?9 AND jwks_uri = ?10",
    [STMT_OIDC_DELETE] = "DELETE FROM oidc_issuers WHERE org_id = ?1 AND id = ?2",
    /* What an issuer's exchanges made dies with it, and with them what those tokens made. */
    [STMT_OIDC_TOKENS_DELETE] = "DELETE FROM tokens WHERE oidc_issuer = ?2 AND EXISTS "
                                "(SELECT 1 FROM oidc_issuers WHERE org_id = ?1 AND id = ?2)",
    [STMT_OIDC_POLICY_UPDATE] = "UPDATE oidc_issuers SET policy = ?3, policy_version = "
                                "policy_version + 1, policy_modified = ?4 "
                                "WHERE org_id = ?1 AND policy_id = ?2",
    [STMT_OIDC_GET] = "SELECT " OIDC_COLUMNS " FROM oidc_issuers WHERE org_id = ?1 AND id = ?2",
    [STMT_OIDC_BY_POLICY] =
        "SELECT " OIDC_COLUMNS " FROM oidc_issuers WHERE org_id = ?1 AND policy_id = ?2",
    [STMT_OIDC_BY_ISS] =
        "SELECT " OIDC_COLUMNS " FROM oidc_issuers WHERE org_id = ?1 AND issuer = ?2",
    [STMT_OIDC_LIST] =
        "SELECT " OIDC_COLUMNS " FROM oidc_issuers WHERE org_id = ?1 ORDER BY created, id",
    [STMT_OIDC_TOUCH] = "UPDATE oidc_issuers SET last_used = ?2 WHERE id = ?1",
    [STMT_TOKEN_EXPIRES] = "SELECT expires FROM tokens WHERE seq = ?1",
    /* The narrow table (migration 12): a use dirties a page of a few hundred tokens' uses, not
     * the wide row's own page. ?1 is a JSON array of [seq, lastUsed] pairs (sql_writes.c); a
     * token deleted meanwhile has none. */
    [STMT_TOKEN_TOUCH] =
        "INSERT INTO token_uses (seq, last_used) SELECT t.seq, u.last_used FROM "
        "(SELECT json_extract(value, '$[0]') AS seq, json_extract(value, '$[1]') AS last_used "
        "FROM json_each(?1)) u JOIN tokens t ON t.seq = u.seq WHERE true "
        "ON CONFLICT (seq) DO UPDATE SET last_used = max(last_used, excluded.last_used)",
    [STMT_CHANGES_STATE] = "SELECT v, pruned FROM tessera_version",
    [STMT_CHANGES_SINCE] =
        "SELECT version, kind, key FROM changes WHERE version > ?1 ORDER BY version LIMIT ?2",
    [STMT_CHANGES_PRUNE_MARK] = "UPDATE tessera_version SET pruned = v - ?1 WHERE v - ?1 > pruned",
    [STMT_CHANGES_PRUNE] =
        "DELETE FROM changes WHERE version <= (SELECT pruned FROM tessera_version)",
    [STMT_ORG_BY_NAME] =
        "SELECT id, name, created, max_token_expiry_days FROM orgs WHERE name = ?1",
    [STMT_ORG_ROLE] = "SELECT role FROM memberships WHERE org_id = ?1 AND user_id = ?2",
    [STMT_ORG_MEMBERS] = "SELECT u.id, u.uuid, u.login, u.name, u.email, u.site_admin, m.role, "
                         "m.created FROM memberships m JOIN users u ON u.id = m.user_id "
                         "WHERE m.org_id = ?1 AND m.user_id > ?2 ORDER BY m.user_id LIMIT ?3",
    [STMT_MEMBER_INSERT] = "INSERT INTO memberships (org_id, user_id, role, created) "
                           "VALUES (?1, ?2, ?3, ?4)",
    [STMT_MEMBER_UPDATE] = "UPDATE memberships SET role = ?3 WHERE org_id = ?1 AND user_id = ?2",
    [STMT_MEMBER_DELETE] = "DELETE FROM memberships WHERE org_id = ?1 AND user_id = ?2",
    [STMT_ORG_ADMIN_COUNT] =
        "SELECT count(*) FROM memberships WHERE org_id = ?1 AND role = 'admin'",
    [STMT_MEMBER_TEAMS_DELETE] = "DELETE FROM team_members WHERE user_id = ?2 AND team_id IN "
                                 "(SELECT id FROM teams WHERE org_id = ?1)",
    [STMT_TEAMS_LIST] = "SELECT id, name, display_name, description FROM teams WHERE org_id = ?1 "
                        "ORDER BY name COLLATE NOCASE",
    [STMT_TEAM_GET] = "SELECT id, name, display_name, description FROM teams "
                      "WHERE org_id = ?1 AND name = ?2",
    [STMT_TEAM_MEMBERS] = "SELECT u.id, u.uuid, u.login, u.name, u.email, u.site_admin, t.role, "
                          "t.created FROM team_members t JOIN users u ON u.id = t.user_id "
                          "WHERE t.team_id = ?1 ORDER BY u.login COLLATE NOCASE",
    [STMT_TEAM_ROLE] = "SELECT role FROM team_members WHERE team_id = ?1 AND user_id = ?2",
    [STMT_TEAM_INSERT] = "INSERT INTO teams (org_id, name, display_name, description, created) "
                         "VALUES (?1, ?2, ?3, ?4, ?5)",
    [STMT_TEAM_SET_DISPLAY] = "UPDATE teams SET display_name = ?2 WHERE id = ?1",
    [STMT_TEAM_SET_DESCRIPTION] = "UPDATE teams SET description = ?2 WHERE id = ?1",
    /* Only organization members can join one of its teams. */
    [STMT_TEAM_MEMBER_INSERT] = "INSERT INTO team_members (team_id, user_id, role, created) "
                                "SELECT t.id, ?2, 'member', ?3 FROM teams t JOIN memberships m "
                                "ON m.org_id = t.org_id AND m.user_id = ?2 WHERE t.id = ?1",
    [STMT_TEAM_MEMBER_DELETE] = "DELETE FROM team_members WHERE team_id = ?1 AND user_id = ?2",
    [STMT_TEAM_MEMBER_ROLE] =
        "UPDATE team_members SET role = ?3 WHERE team_id = ?1 AND user_id = ?2",
    [STMT_TEAM_DELETE] = "DELETE FROM teams WHERE id = ?1",
    /* The actor's token (?5) is still valid at ?6, is a person's own token when ?7 asks for one,
     * and if an OIDC exchange made it, its issuer still exists and belongs to the org (?2); and:
     * its user is a site admin (own tokens only) or an admin of the org, or it is an admin token
     * of the org, or (?4, team changes) its user administers the team (?3). */
    [STMT_ACTOR_ALLOWED] =
        "WITH tok AS (SELECT kind, oidc_issuer, org_id, admin, manage_access FROM tokens "
        "  WHERE seq = ?5 AND (expires = 0 OR expires > ?6)) "
        "SELECT EXISTS (SELECT 1 FROM tok WHERE ?7 = 0 OR (kind = 'personal' AND oidc_issuer = "
        "'')) "
        "AND EXISTS (SELECT 1 FROM tok WHERE ?8 = 0 OR oidc_issuer = '' OR manage_access = 1) "
        "AND (EXISTS (SELECT 1 FROM tok WHERE oidc_issuer = '') OR EXISTS (SELECT 1 FROM tok "
        "  JOIN oidc_issuers oi ON oi.id = tok.oidc_issuer AND oi.org_id = ?2)) "
        "AND ((EXISTS (SELECT 1 FROM tok WHERE oidc_issuer = '') "
        "  AND coalesce((SELECT site_admin FROM users WHERE id = ?1), 0)) "
        "OR EXISTS (SELECT 1 FROM memberships WHERE org_id = ?2 AND user_id = ?1 AND role = "
        "'admin') "
        "OR EXISTS (SELECT 1 FROM tok WHERE org_id = ?2 AND kind = 'organization' AND admin = 1) "
        "OR (?4 = 1 AND EXISTS (SELECT 1 FROM team_members t JOIN memberships m "
        "ON m.user_id = t.user_id AND m.org_id = ?2 "
        "WHERE t.team_id = ?3 AND t.user_id = ?1 AND t.role = 'admin')))",
    [STMT_AUDIT_LIST] =
        "SELECT seq, org, timestamp, source_ip, event, description, user_login, "
        "token_id, token_name, req_org_admin, auth_failure FROM audit "
        "WHERE org = ?1 AND (?2 = 0 OR timestamp >= ?2) AND (?3 = 0 OR timestamp <= ?3) "
        "AND (?4 = '' OR event = ?4) AND (?5 = '' OR user_login = ?5) AND seq < ?6 "
        "ORDER BY seq DESC LIMIT ?7",
    [STMT_AUDIT_LAST] = "SELECT seq, chain FROM audit ORDER BY seq DESC LIMIT 1",
    [STMT_AUDIT_INSERT] = "INSERT INTO audit (seq, org, timestamp, source_ip, event, description, "
                          "user_login, token_id, token_name, req_org_admin, auth_failure, chain) "
                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [STMT_AUDIT_PAGE] = "SELECT seq, org, timestamp, source_ip, event, description, user_login, "
                        "token_id, token_name, req_org_admin, auth_failure, chain FROM audit "
                        "WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
    [STMT_AUDIT_META] = "SELECT key_id, db_id FROM audit_meta LIMIT 1",
    [STMT_AUDIT_META_SET] = "INSERT INTO audit_meta (key_id, db_id) VALUES (?1, ?2)",
    /* BEGIN IMMEDIATE takes the database's one write lock: SQLite needs no lock statement, and
     * other processes learn of commits by reading the feed (the cache polls it). */
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_BEGIN_READ] = "BEGIN",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_SAVEPOINT] = "SAVEPOINT job",
    [STMT_RELEASE] = "RELEASE job",
    [STMT_ROLLBACK_TO] = "ROLLBACK TO job",
};

struct sqlite_conn {
  struct sql_conn base;
  sqlite3 *db;
  sqlite3_stmt *stmts[STMT_COUNT];
};

struct sqlite_store {
  struct sql_store base;
  struct sqlite_conn *writer_conn;
  struct sqlite_checkpointer *checkpointer;
  pthread_mutex_t pool_lock;
  pthread_cond_t pool_free;
  struct sqlite_conn **readers; /* stack of idle read connections */
  int idle_readers;
};

/* The statement, reset and with bindings cleared, ready to bind; NULL only if preparing failed. */
static sqlite3_stmt *conn_stmt(struct sqlite_conn *c, enum stmt_id id) {
  sqlite3_stmt *st = c->stmts[id];
  if (!st) {
    if (sqlite3_prepare_v3(c->db, statement_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) !=
        SQLITE_OK) {
      fprintf(stderr, "tessera: store: cannot prepare statement %d: %s\n", (int)id,
              sqlite3_errmsg(c->db));
      return NULL;
    }
    c->stmts[id] = st;
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return st;
}

/* Maps an SQLite result code to a TE_* code, logging unexpected failures (never with values). */
static int conn_error(int rc, const char *what) {
  if ((rc & 0xff) == SQLITE_CONSTRAINT)
    return TE_CONFLICT;
  if ((rc & 0xff) == SQLITE_BUSY)
    return TE_UNAVAILABLE;
  fprintf(stderr, "tessera: store: %s failed: %s\n", what, sqlite3_errstr(rc));
  return TE_INTERNAL;
}

static void bind_params(sqlite3_stmt *st, const struct param *params, int n) {
  for (int i = 0; i < n; i++) {
    const struct param *p = &params[i];
    if (p->type == PARAM_INT)
      sqlite3_bind_int64(st, i + 1, p->i);
    else if (p->type == PARAM_TEXT && p->p)
      sqlite3_bind_text(st, i + 1, p->p, -1, SQLITE_STATIC);
    else if (p->type == PARAM_BLOB)
      sqlite3_bind_blob(st, i + 1, p->p, p->len, SQLITE_STATIC);
    else
      sqlite3_bind_null(st, i + 1);
  }
}

static const struct sql_driver sqlite_driver;

/* Binds and steps a prepared statement to its end, handing each row to each(). */
static int step_all(struct sqlite_conn *c, sqlite3_stmt *st, const struct param *params, int n,
                    void (*each)(const struct sql_row *, void *), void *arg, int64_t *changed,
                    const char *what) {
  bind_params(st, params, n);
  struct sql_row row = {&sqlite_driver, st, 0};
  int step;
  while ((step = sqlite3_step(st)) == SQLITE_ROW)
    if (each)
      each(&row, arg);
  int rc = step == SQLITE_DONE ? TE_OK : conn_error(step, what);
  if (rc == TE_OK && changed)
    *changed = sqlite3_changes(c->db);
  sqlite3_reset(st);
  return rc;
}

static int sqlite_run(struct sql_conn *base, enum stmt_id id, const struct param *params, int n,
                      void (*each)(const struct sql_row *, void *), void *arg, int64_t *changed) {
  struct sqlite_conn *c = (struct sqlite_conn *)base;
  if (changed)
    *changed = 0;
  if (!statement_sql[id])
    return TE_OK; /* a step SQLite does not need */
  sqlite3_stmt *st = conn_stmt(c, id);
  return st ? step_all(c, st, params, n, each, arg, changed, statement_sql[id]) : TE_INTERNAL;
}

static int sqlite_run_text(struct sql_conn *base, const char *sql, const struct param *params,
                           int n, void (*each)(const struct sql_row *, void *), void *arg,
                           int64_t *changed) {
  struct sqlite_conn *c = (struct sqlite_conn *)base;
  sqlite3_stmt *st;
  if (changed)
    *changed = 0;
  if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
    fprintf(stderr, "tessera: store: cannot prepare %s: %s\n", sql, sqlite3_errmsg(c->db));
    return TE_INTERNAL;
  }
  int rc = step_all(c, st, params, n, each, arg, changed, sql);
  sqlite3_finalize(st);
  return rc;
}

/* In-process: a row at a time costs no round trip. */
static int sqlite_run_rows(struct sql_conn *c, enum stmt_id id, const struct param *params,
                           int columns, int rows) {
  int rc = TE_OK;
  for (int r = 0; r < rows && rc == TE_OK; r++)
    rc = sqlite_run(c, id, params + (size_t)r * (size_t)columns, columns, NULL, NULL, NULL);
  return rc;
}

static enum sql_type sqlite_type(const struct sql_row *r, int col) {
  switch (sqlite3_column_type(r->native, col)) {
  case SQLITE_NULL:
    return SQL_NULL;
  case SQLITE_INTEGER:
    return SQL_INTEGER;
  case SQLITE_TEXT:
    return SQL_TEXT;
  case SQLITE_BLOB:
    return SQL_BLOB;
  default:
    return SQL_OTHER;
  }
}

static int64_t sqlite_integer(const struct sql_row *r, int col) {
  return sqlite3_column_int64(r->native, col);
}

static const char *sqlite_text(const struct sql_row *r, int col, size_t *len) {
  const char *text = (const char *)sqlite3_column_text(r->native, col);
  *len = text ? (size_t)sqlite3_column_bytes(r->native, col) : 0;
  return text;
}

static bool sqlite_blob(const struct sql_row *r, int col, void *dst, size_t len) {
  if (sqlite3_column_type(r->native, col) != SQLITE_BLOB ||
      (size_t)sqlite3_column_bytes(r->native, col) != len)
    return false;
  memcpy(dst, sqlite3_column_blob(r->native, col), len);
  return true;
}

static const struct sql_driver sqlite_driver = {
    .run = sqlite_run,
    .run_text = sqlite_run_text,
    .param_prefix = '?',
    .run_rows = sqlite_run_rows,
    .type = sqlite_type,
    .integer = sqlite_integer,
    .text = sqlite_text,
    .blob = sqlite_blob,
};

/* Creates the file owner-only before SQLite sees it: SQLite gives its -wal and -shm files the
 * database file's mode, so this keeps all three private. An existing file is tightened to 0600. */
static int ensure_private_file(const char *path) {
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    fprintf(stderr, "tessera: cannot open %s: %s\n", path, strerror(errno));
    return TE_INTERNAL;
  }
  struct stat st;
  int rc = fstat(fd, &st) == 0 && ((st.st_mode & 077) == 0 || fchmod(fd, 0600) == 0) ? TE_OK
                                                                                     : TE_INTERNAL;
  if (rc)
    fprintf(stderr, "tessera: cannot make %s private (mode 0600): %s\n", path, strerror(errno));
  close(fd);
  return rc;
}

enum conn_kind { CONN_WRITER, CONN_READER, CONN_READ_ONLY_FILE };

static int conn_open(const char *path, enum conn_kind kind, struct sqlite_conn **out) {
  struct sqlite_conn *c = calloc(1, sizeof *c);
  if (!c)
    abort();
  c->base.driver = &sqlite_driver;
  int flags = (kind == CONN_READ_ONLY_FILE ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
              SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
    fprintf(stderr, "tessera: cannot open database %s: %s\n", path, sqlite3_errmsg(c->db));
    sqlite3_close(c->db);
    free(c);
    return TE_INTERNAL;
  }
  /* synchronous=FULL: a write is acknowledged only once it survives power loss. The busy timeout
   * lets the offline admin commands and the server share the file. */
  const char *pragmas = kind == CONN_WRITER
                            ? "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;"
                              "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                            : "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;"
                              "PRAGMA query_only = ON;";
  if (sqlite3_exec(c->db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
    fprintf(stderr, "tessera: cannot configure database %s: %s\n", path, sqlite3_errmsg(c->db));
    sqlite3_close(c->db);
    free(c);
    return TE_INTERNAL;
  }
  *out = c;
  return TE_OK;
}

static void conn_close(struct sqlite_conn *c) {
  if (!c)
    return;
  for (int i = 0; i < STMT_COUNT; i++)
    sqlite3_finalize(c->stmts[i]);
  sqlite3_close(c->db);
  free(c);
}

static int reader_acquire(struct sql_store *base, struct sql_conn **out) {
  struct sqlite_store *s = (struct sqlite_store *)base;
  pthread_mutex_lock(&s->pool_lock);
  while (s->idle_readers == 0)
    pthread_cond_wait(&s->pool_free, &s->pool_lock);
  *out = &s->readers[--s->idle_readers]->base;
  pthread_mutex_unlock(&s->pool_lock);
  return TE_OK;
}

static void reader_release(struct sql_store *base, struct sql_conn *c) {
  struct sqlite_store *s = (struct sqlite_store *)base;
  pthread_mutex_lock(&s->pool_lock);
  s->readers[s->idle_readers++] = (struct sqlite_conn *)c;
  pthread_cond_signal(&s->pool_free);
  pthread_mutex_unlock(&s->pool_lock);
}

static int writer_acquire(struct sql_store *base, struct sql_conn **out) {
  *out = &((struct sqlite_store *)base)->writer_conn->base;
  return TE_OK;
}

static void writer_release(struct sql_store *base, struct sql_conn *c) {
  (void)base;
  (void)c;
}

static void backend_close(struct sql_store *base) {
  struct sqlite_store *s = (struct sqlite_store *)base;
  sqlite_checkpointer_stop(s->checkpointer);
  conn_close(s->writer_conn);
  for (int i = 0; i < s->idle_readers; i++)
    conn_close(s->readers[i]);
  free(s->readers);
  pthread_mutex_destroy(&s->pool_lock);
  pthread_cond_destroy(&s->pool_free);
  free(s);
}

static const struct sql_backend sqlite_backend = {
    .reader_acquire = reader_acquire,
    .reader_release = reader_release,
    .writer_acquire = writer_acquire,
    .writer_release = writer_release,
    .close = backend_close,
};

/* SQLite's allocation statistics take a process-wide mutex on every malloc; with several reader
 * threads that mutex was the main source of futex calls on the hot path. We never read them. */
static void configure_sqlite(void) {
  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int store_sqlite_open(const char *path, int read_connections, struct store **out) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, configure_sqlite);
  if (read_connections < 1)
    read_connections = 1;
  int rc = ensure_private_file(path);
  if (rc)
    return rc;
  struct sqlite_conn *writer_conn;
  if ((rc = conn_open(path, CONN_WRITER, &writer_conn)) != 0)
    return rc;
  if ((rc = sqlite_schema_migrate(writer_conn->db)) != 0) {
    conn_close(writer_conn);
    return rc;
  }
  struct sqlite_store *s = calloc(1, sizeof *s);
  if (!s || !(s->readers = calloc((size_t)read_connections, sizeof *s->readers)))
    abort();
  s->base.backend = &sqlite_backend;
  s->writer_conn = writer_conn;
  pthread_mutex_init(&s->pool_lock, NULL);
  pthread_cond_init(&s->pool_free, NULL);
  char key_path[PATH_MAX + 16], head_path[PATH_MAX + 16];
  rc = audit_files_paths(path, key_path, sizeof key_path, head_path, sizeof head_path);
  for (int i = 0; rc == TE_OK && i < read_connections; i++)
    if ((rc = conn_open(path, CONN_READER, &s->readers[i])) == TE_OK)
      s->idle_readers = i + 1;
  if (rc == TE_OK)
    rc = sqlite_checkpointer_start(path, writer_conn->db, &s->checkpointer);
  if (rc == TE_OK)
    rc = sql_store_start(&s->base, &writer_conn->base, key_path, head_path);
  if (rc != TE_OK) {
    sql_store_stop(&s->base);
    backend_close(&s->base);
    return rc;
  }
  *out = &s->base.base;
  return TE_OK;
}

int store_sqlite_audit_verify(const char *path, int64_t *count, char *report, size_t report_size) {
  report[0] = '\0';
  *count = 0;
  char key_path[PATH_MAX + 16], head_path[PATH_MAX + 16];
  struct sqlite_conn *c;
  int rc = audit_files_paths(path, key_path, sizeof key_path, head_path, sizeof head_path);
  if (rc == TE_OK && (rc = conn_open(path, CONN_READ_ONLY_FILE, &c)) == TE_OK) {
    rc = audit_verify_on(&c->base, key_path, head_path, count, report, report_size);
    conn_close(c);
  }
  return rc;
}
