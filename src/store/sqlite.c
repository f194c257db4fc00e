#include "store/store.h"

#include "core/error.h"
#include "store/sqlite_internal.h"
#include "store/sqlite_schema.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN_COLUMNS                                                                              \
  "t.seq, t.id, t.hash, t.kind, coalesce(t.user_id, 0), t.description, t.created, t.expires, "     \
  "t.last_used, t.created_by, coalesce(t.org_id, 0), coalesce(t.team_id, 0), t.name, t.admin, "    \
  "t.oidc_issuer, t.source, coalesce(t.parent_seq, 0), t.manage_access, t.reason"
#define TOKEN_COLUMN_COUNT 19

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
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
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
    [STMT_PRINCIPAL_BY_HASH] =
        "SELECT " TOKEN_COLUMNS ", u.id, u.uuid, u.login, u.name, u.email, u.site_admin, "
        "coalesce(o.name, so.name), tm.name, coalesce(t.org_id, oi.org_id, 0), "
        "coalesce(pt.expires, -1), coalesce(oi.name, ''), coalesce(pt.oidc_issuer <> '', 0) "
        "FROM tokens t LEFT JOIN users u ON u.id = t.user_id "
        "LEFT JOIN tokens pt ON pt.seq = t.parent_seq "
        "LEFT JOIN orgs o ON o.id = t.org_id LEFT JOIN teams tm ON tm.id = t.team_id "
        "LEFT JOIN oidc_issuers oi ON oi.id = t.oidc_issuer LEFT JOIN orgs so ON so.id = oi.org_id "
        "WHERE t.hash = ?1 AND (t.oidc_issuer = '' OR oi.id IS NOT NULL)",
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
    [STMT_TOKEN_TOUCH] = "UPDATE tokens SET last_used = max(last_used, ?2) WHERE seq = ?1",
    [STMT_DATA_VERSION] = "PRAGMA data_version",
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
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_SAVEPOINT] = "SAVEPOINT job",
    [STMT_RELEASE] = "RELEASE job",
    [STMT_ROLLBACK_TO] = "ROLLBACK TO job",
};

sqlite3_stmt *conn_stmt(struct conn *c, enum stmt_id id) {
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

int conn_error(struct conn *c, int rc, const char *what) {
  if ((rc & 0xff) == SQLITE_CONSTRAINT)
    return TE_CONFLICT;
  if ((rc & 0xff) == SQLITE_BUSY)
    return TE_UNAVAILABLE;
  fprintf(stderr, "tessera: store: %s failed: %s\n", what, sqlite3_errstr(rc));
  (void)c;
  return TE_INTERNAL;
}

int conn_exec(struct conn *c, enum stmt_id id) {
  sqlite3_stmt *st = conn_stmt(c, id);
  if (!st)
    return TE_INTERNAL;
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? TE_OK : conn_error(c, rc, statement_sql[id]);
}

void column_text(sqlite3_stmt *st, int col, char *dst, size_t size) {
  const unsigned char *text = sqlite3_column_text(st, col);
  snprintf(dst, size, "%s", text ? (const char *)text : "");
}

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

static int conn_open(const char *path, bool reader, struct conn **out) {
  struct conn *c = calloc(1, sizeof *c);
  if (!c)
    abort();
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
    fprintf(stderr, "tessera: cannot open database %s: %s\n", path, sqlite3_errmsg(c->db));
    sqlite3_close(c->db);
    free(c);
    return TE_INTERNAL;
  }
  /* synchronous=FULL: a write is acknowledged only once it survives power loss. The busy timeout
   * lets the offline admin commands and the server share the file. */
  const char *pragmas = reader ? "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;"
                                 "PRAGMA query_only = ON;"
                               : "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;"
                                 "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;";
  if (sqlite3_exec(c->db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
    fprintf(stderr, "tessera: cannot configure database %s: %s\n", path, sqlite3_errmsg(c->db));
    sqlite3_close(c->db);
    free(c);
    return TE_INTERNAL;
  }
  *out = c;
  return TE_OK;
}

static void conn_close(struct conn *c) {
  for (int i = 0; i < STMT_COUNT; i++)
    sqlite3_finalize(c->stmts[i]);
  sqlite3_close(c->db);
  free(c);
}

struct conn *sqlite_reader_acquire(struct sqlite_store *s) {
  pthread_mutex_lock(&s->pool_lock);
  while (s->idle_readers == 0)
    pthread_cond_wait(&s->pool_free, &s->pool_lock);
  struct conn *c = s->readers[--s->idle_readers];
  pthread_mutex_unlock(&s->pool_lock);
  return c;
}

void sqlite_reader_release(struct sqlite_store *s, struct conn *c) {
  pthread_mutex_lock(&s->pool_lock);
  s->readers[s->idle_readers++] = c;
  pthread_cond_signal(&s->pool_free);
  pthread_mutex_unlock(&s->pool_lock);
}

void read_user_columns(sqlite3_stmt *st, int col, struct store_user *u) {
  u->id = sqlite3_column_int64(st, col);
  column_text(st, col + 1, u->uuid, sizeof u->uuid);
  column_text(st, col + 2, u->login, sizeof u->login);
  column_text(st, col + 3, u->name, sizeof u->name);
  column_text(st, col + 4, u->email, sizeof u->email);
  u->site_admin = sqlite3_column_int(st, col + 5) != 0;
}

/* Reads TOKEN_COLUMNS starting at column 0. */
static void read_token(sqlite3_stmt *st, struct store_token *t) {
  t->seq = sqlite3_column_int64(st, 0);
  column_text(st, 1, t->id, sizeof t->id);
  if (sqlite3_column_bytes(st, 2) == TOKEN_HASH_LEN)
    memcpy(t->hash, sqlite3_column_blob(st, 2), TOKEN_HASH_LEN);
  t->kind = token_kind_parse((const char *)sqlite3_column_text(st, 3));
  t->user_id = sqlite3_column_int64(st, 4);
  column_text(st, 5, t->description, sizeof t->description);
  t->created = sqlite3_column_int64(st, 6);
  t->expires = sqlite3_column_int64(st, 7);
  t->last_used = sqlite3_column_int64(st, 8);
  column_text(st, 9, t->created_by, sizeof t->created_by);
  t->org_id = sqlite3_column_int64(st, 10);
  t->team_id = sqlite3_column_int64(st, 11);
  column_text(st, 12, t->name, sizeof t->name);
  t->admin = sqlite3_column_int(st, 13) != 0;
  column_text(st, 14, t->oidc_issuer, sizeof t->oidc_issuer);
  t->source = token_source_parse((const char *)sqlite3_column_text(st, 15));
  t->parent_seq = sqlite3_column_int64(st, 16);
  t->manage_access = sqlite3_column_int(st, 17) != 0;
  column_text(st, 18, t->reason, sizeof t->reason);
}

static void read_user_row(sqlite3_stmt *st, void *out) {
  read_user_columns(st, 0, out);
}

static int sqlite_user_by_login(struct store *store, const char *login, struct store_user *out) {
  struct param p[] = {PARAM_T(login)};
  return sqlite_read_one(store, STMT_USER_BY_LOGIN, p, 1, read_user_row, out);
}

static void read_principal_row(sqlite3_stmt *st, void *out) {
  struct store_principal *p = out;
  memset(p, 0, sizeof *p);
  read_token(st, &p->token);
  column_text(st, TOKEN_COLUMN_COUNT + 6, p->org, sizeof p->org);
  column_text(st, TOKEN_COLUMN_COUNT + 7, p->team, sizeof p->team);
  p->scope_org_id = sqlite3_column_int64(st, TOKEN_COLUMN_COUNT + 8);
  p->parent_expires = sqlite3_column_int64(st, TOKEN_COLUMN_COUNT + 9);
  column_text(st, TOKEN_COLUMN_COUNT + 10, p->issuer_name, sizeof p->issuer_name);
  p->parent_from_exchange = sqlite3_column_int(st, TOKEN_COLUMN_COUNT + 11) != 0;
  if (p->token.kind == TOKEN_PERSONAL) {
    read_user_columns(st, TOKEN_COLUMN_COUNT, &p->user);
    if (p->token.oidc_issuer[0])
      p->user.site_admin = false; /* a CI job is not its user's site-admin self */
    snprintf(p->actor, sizeof p->actor, "%s", p->user.login);
    return;
  }
  /* The organization's robot: what `pulumi whoami` shows for a machine token. */
  snprintf(p->user.login, sizeof p->user.login, "%s", p->org);
  snprintf(p->user.name, sizeof p->user.name, "%s", p->token.name);
  snprintf(p->user.uuid, sizeof p->user.uuid, "%s", p->token.id);
  snprintf(p->actor, sizeof p->actor, "%s/%s", p->org, p->token.name);
}

static int sqlite_principal_by_token_hash(struct store *store,
                                          const unsigned char hash[TOKEN_HASH_LEN],
                                          struct store_principal *out) {
  struct param p[] = {PARAM_B(hash, TOKEN_HASH_LEN)};
  return sqlite_read_one(store, STMT_PRINCIPAL_BY_HASH, p, 1, read_principal_row, out);
}

/* Runs a bound SELECT and collects its rows into a growing malloc'd array. */
static int collect_rows(struct conn *c, sqlite3_stmt *st, size_t item_size,
                        void (*read)(sqlite3_stmt *, void *), void **out, size_t *count) {
  size_t n = 0, cap = 8;
  char *items = malloc(cap * item_size);
  if (!items)
    abort();
  int step;
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    if (n == cap) {
      cap *= 2;
      items = realloc(items, cap * item_size);
      if (!items)
        abort();
    }
    read(st, items + n * item_size);
    n++;
  }
  sqlite3_reset(st);
  if (step != SQLITE_DONE) {
    free(items);
    return conn_error(c, step, "query");
  }
  *out = items;
  *count = n;
  return TE_OK;
}

static void bind_params(sqlite3_stmt *st, const struct param *params, int n) {
  for (int i = 0; i < n; i++) {
    const struct param *p = &params[i];
    if (p->type == PARAM_INT)
      sqlite3_bind_int64(st, i + 1, p->i);
    else if (p->type == PARAM_TEXT)
      sqlite3_bind_text(st, i + 1, p->p, -1, SQLITE_STATIC);
    else
      sqlite3_bind_blob(st, i + 1, p->p, p->len, SQLITE_STATIC);
  }
}

int sqlite_read_one(struct store *store, enum stmt_id id, const struct param *params, int n,
                    row_reader read, void *out) {
  struct sqlite_store *s = (struct sqlite_store *)store;
  struct conn *c = sqlite_reader_acquire(s);
  sqlite3_stmt *st = conn_stmt(c, id);
  int rc = TE_INTERNAL;
  if (st) {
    bind_params(st, params, n);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
      read(st, out);
      rc = TE_OK;
    } else {
      rc = step == SQLITE_DONE ? TE_NOT_FOUND : conn_error(c, step, statement_sql[id]);
    }
    sqlite3_reset(st);
  }
  sqlite_reader_release(s, c);
  return rc;
}

int sqlite_read_all(struct store *store, enum stmt_id id, const struct param *params, int n,
                    size_t item_size, row_reader read, void **out, size_t *count) {
  struct sqlite_store *s = (struct sqlite_store *)store;
  struct conn *c = sqlite_reader_acquire(s);
  sqlite3_stmt *st = conn_stmt(c, id);
  int rc = TE_INTERNAL;
  if (st) {
    bind_params(st, params, n);
    rc = collect_rows(c, st, item_size, read, out, count);
  }
  sqlite_reader_release(s, c);
  return rc;
}

static void read_membership(sqlite3_stmt *st, void *item) {
  struct store_membership *m = item;
  column_text(st, 0, m->org, sizeof m->org);
  column_text(st, 1, m->role, sizeof m->role);
}

static int sqlite_memberships(struct store *store, int64_t user_id, struct store_membership **out,
                              size_t *count) {
  struct param p[] = {PARAM_I(user_id)};
  return sqlite_read_all(store, STMT_MEMBERSHIPS, p, 1, sizeof **out, read_membership, (void **)out,
                         count);
}

static void read_token_item(sqlite3_stmt *st, void *item) {
  read_token(st, item);
}

static int sqlite_token_list(struct store *store, const struct store_token_query *q,
                             struct store_token **out, size_t *count) {
  static const enum stmt_id by_kind[] = {
      [TOKEN_PERSONAL] = STMT_TOKEN_LIST,
      [TOKEN_ORG] = STMT_ORG_TOKEN_LIST,
      [TOKEN_TEAM] = STMT_TEAM_TOKEN_LIST,
  };
  struct param p[] = {PARAM_I(q->owner_id), PARAM_I(q->before_seq), PARAM_I(q->filter),
                      PARAM_I(q->now), PARAM_I(q->limit)};
  return sqlite_read_all(store, by_kind[q->kind], p, 5, sizeof **out, read_token_item, (void **)out,
                         count);
}

static int sqlite_machine_token_get(struct store *store, int64_t org_id, const char *token_id,
                                    struct store_token *out) {
  struct param p[] = {PARAM_I(org_id), PARAM_T(token_id)};
  return sqlite_read_one(store, STMT_MACHINE_TOKEN_GET, p, 2, read_token_item, out);
}

static int sqlite_data_version(struct store *store, uint64_t *out) {
  struct sqlite_store *s = (struct sqlite_store *)store;
  pthread_mutex_lock(&s->version_lock);
  struct conn *c = s->version_conn;
  sqlite3_stmt *st = conn_stmt(c, STMT_DATA_VERSION);
  int rc = TE_INTERNAL;
  if (st) {
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
      *out = (uint64_t)sqlite3_column_int64(st, 0);
      rc = TE_OK;
    } else {
      rc = conn_error(c, step, "data_version");
    }
    sqlite3_reset(st);
  }
  pthread_mutex_unlock(&s->version_lock);
  return rc;
}

static void sqlite_close(struct store *store) {
  struct sqlite_store *s = (struct sqlite_store *)store;
  if (s->writer)
    writer_stop(s->writer); /* commits what is queued before the connection closes */
  if (s->writer_conn)
    conn_close(s->writer_conn);
  if (s->version_conn)
    conn_close(s->version_conn);
  pthread_mutex_destroy(&s->version_lock);
  for (int i = 0; i < s->idle_readers; i++)
    conn_close(s->readers[i]);
  free(s->readers);
  pthread_mutex_destroy(&s->pool_lock);
  pthread_cond_destroy(&s->pool_free);
  OPENSSL_cleanse(s->secret, sizeof s->secret);
  free(s);
}

/* HMAC-SHA-256(key, label): one key per purpose, none of which tells anything of the others. */
static void derive(const unsigned char key[32], const char *label, unsigned char out[32]) {
  size_t len = 0;
  if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, 32, (const unsigned char *)label,
                 strlen(label), out, 32, &len) ||
      len != 32)
    abort();
}

static void sqlite_derive_secret(struct store *store, const char *purpose, unsigned char out[32]) {
  derive(((struct sqlite_store *)store)->secret, purpose, out);
}

static const struct store_ops sqlite_ops = {
    .close = sqlite_close,
    .user_create = sqlite_user_create,
    .user_by_login = sqlite_user_by_login,
    .org_create = sqlite_org_create,
    .member_set = sqlite_member_set,
    .memberships = sqlite_memberships,
    .user_password_hash = sqlite_user_password_hash,
    .user_set_password_hash = sqlite_user_set_password_hash,
    .sessions_purge = sqlite_sessions_purge,
    .token_insert = sqlite_token_insert,
    .token_delete = sqlite_token_delete,
    .machine_token_insert = sqlite_machine_token_insert,
    .machine_token_delete = sqlite_machine_token_delete,
    .machine_token_get = sqlite_machine_token_get,
    .org_set_expiry_policy = sqlite_org_set_expiry_policy,
    .org_member_count = sqlite_org_member_count,
    .oidc_issuer_insert = sqlite_oidc_issuer_insert,
    .oidc_issuer_update = sqlite_oidc_issuer_update,
    .oidc_issuer_set_keys = sqlite_oidc_issuer_set_keys,
    .oidc_issuer_delete = sqlite_oidc_issuer_delete,
    .oidc_policy_update = sqlite_oidc_policy_update,
    .oidc_issuer_get = sqlite_oidc_issuer_get,
    .oidc_issuer_by_policy = sqlite_oidc_issuer_by_policy,
    .oidc_issuer_by_iss = sqlite_oidc_issuer_by_iss,
    .oidc_issuers_list = sqlite_oidc_issuers_list,
    .oidc_token_insert = sqlite_oidc_token_insert,
    .audit_append = sqlite_audit_append,
    .audit_list = sqlite_audit_list,
    .org_by_name = sqlite_org_by_name,
    .org_role = sqlite_org_role,
    .org_members = sqlite_org_members,
    .org_member_add = sqlite_org_member_add,
    .org_member_update = sqlite_org_member_update,
    .org_member_remove = sqlite_org_member_remove,
    .teams_list = sqlite_teams_list,
    .team_get = sqlite_team_get,
    .team_members = sqlite_team_members,
    .team_role = sqlite_team_role,
    .team_create = sqlite_team_create,
    .team_update = sqlite_team_update,
    .team_delete = sqlite_team_delete,
    .principal_by_token_hash = sqlite_principal_by_token_hash,
    .token_list = sqlite_token_list,
    .tokens_touch = sqlite_tokens_touch,
    .data_version = sqlite_data_version,
    .derive_secret = sqlite_derive_secret,
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
  struct conn *writer_conn;
  if ((rc = conn_open(path, false, &writer_conn)) != 0)
    return rc;
  if ((rc = sqlite_schema_migrate(writer_conn->db)) != 0) {
    conn_close(writer_conn);
    return rc;
  }
  unsigned char audit_key[AUDIT_KEY_LEN];
  if ((rc = audit_key_setup(writer_conn->db, path, audit_key)) != 0) {
    conn_close(writer_conn);
    return rc;
  }
  struct sqlite_store *s = calloc(1, sizeof *s);
  if (!s || !(s->readers = calloc((size_t)read_connections, sizeof *s->readers)))
    abort();
  s->writer_conn = writer_conn;
  s->base.ops = &sqlite_ops;
  pthread_mutex_init(&s->pool_lock, NULL);
  pthread_cond_init(&s->pool_free, NULL);
  pthread_mutex_init(&s->version_lock, NULL);
  if ((rc = conn_open(path, true, &s->version_conn)) != 0) {
    sqlite_close(&s->base);
    return rc;
  }
  for (int i = 0; i < read_connections; i++) {
    if ((rc = conn_open(path, true, &s->readers[i])) != 0) {
      sqlite_close(&s->base);
      return rc;
    }
    s->idle_readers = i + 1;
  }
  derive(audit_key, "tessera-secrets", s->secret);
  rc = writer_start(writer_conn, path, audit_key, &s->writer);
  OPENSSL_cleanse(audit_key, sizeof audit_key);
  if (rc != 0) {
    sqlite_close(&s->base);
    return rc;
  }
  *out = &s->base;
  return TE_OK;
}
