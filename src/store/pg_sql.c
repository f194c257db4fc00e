/* The PostgreSQL store's statements: the same meaning as the SQLite store's (store/sqlite.c),
 * statement for statement, in PostgreSQL's terms. Names compare without regard to case through
 * lower(x COLLATE "C"), which folds ASCII only, whatever the database's locale (the unique indexes
 * are on the same expression, pg_schema.c), and sort by it bytewise, as SQLite's NOCASE does;
 * booleans are booleans; integer parameters compared with a literal first are cast to bigint, so
 * PostgreSQL does not infer a 32-bit integer for them. */

#include "store/pg_sql.h"

#define TOKEN_COLUMNS                                                                              \
  "t.seq, t.id, t.hash, t.kind, coalesce(t.user_id, 0), t.description, t.created, t.expires, "     \
  "greatest(t.last_used, coalesce((SELECT u.last_used FROM token_uses u WHERE u.seq = t.seq), "    \
  "0)), "                                                                                          \
  "t.created_by, coalesce(t.org_id, 0), coalesce(t.team_id, 0), t.name, t.admin, "                 \
  "t.oidc_issuer, t.source, coalesce(t.parent_seq, 0), t.manage_access, t.reason"

/* A token with who it stands for, as the hot path needs it (read_principal_row in sql_store.c). A
 * token an OIDC exchange made counts only while its issuer exists. */
#define PRINCIPAL_SELECT                                                                           \
  "SELECT " TOKEN_COLUMNS ", u.id, u.uuid, u.login, u.name, u.email, u.site_admin, "               \
  "coalesce(o.name, so.name), tm.name, coalesce(t.org_id, oi.org_id, 0), "                         \
  "coalesce(pt.expires, -1), coalesce(oi.name, ''), coalesce(pt.oidc_issuer <> '', false) "        \
  "FROM tokens t LEFT JOIN users u ON u.id = t.user_id "                                           \
  "LEFT JOIN tokens pt ON pt.seq = t.parent_seq "                                                  \
  "LEFT JOIN orgs o ON o.id = t.org_id LEFT JOIN teams tm ON tm.id = t.team_id "                   \
  "LEFT JOIN oidc_issuers oi ON oi.id = t.oidc_issuer LEFT JOIN orgs so ON so.id = oi.org_id "
#define PRINCIPAL_LIVE "(t.oidc_issuer = '' OR oi.id IS NOT NULL)"

#define OIDC_COLUMNS                                                                               \
  "id, org_id, name, url, issuer, jwks_uri, jwks, static_jwks, thumbprints, max_expiration, "      \
  "created, modified, last_used, policy_id, policy, policy_version, policy_modified"

/* The filter of token listings: $2 the seq to list below, $3 the token_filter, $4 now, $5 limit. */
#define TOKEN_PAGE                                                                                 \
  " AND t.seq < $2 AND ("                                                                          \
  "  $3::bigint = 2"                                                                               \
  "  OR ($3::bigint = 0 AND (t.expires = 0 OR t.expires > $4::bigint))"                            \
  "  OR ($3::bigint = 1 AND t.expires <> 0 AND t.expires <= $4::bigint)) "                         \
  "ORDER BY t.seq DESC LIMIT $5"

#define AUDIT_COLUMNS                                                                              \
  "seq, org, timestamp, source_ip, event, description, user_login, token_id, token_name, "         \
  "req_org_admin, auth_failure"

const char *const pg_statement_sql[STMT_COUNT] = {
    [STMT_USER_INSERT] = "INSERT INTO users (uuid, login, name, email, site_admin, created) "
                         "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    [STMT_USER_BY_LOGIN] = "SELECT id, uuid, login, name, email, site_admin FROM users "
                           "WHERE lower(login COLLATE \"C\") = lower($1::text COLLATE \"C\")",
    [STMT_ORG_INSERT] = "INSERT INTO orgs (name, created) VALUES ($1, $2)",
    [STMT_MEMBER_SET] = "INSERT INTO memberships (org_id, user_id, role, created) "
                        "SELECT o.id, u.id, $3::text, $4::bigint FROM orgs o, users u "
                        "WHERE lower(o.name COLLATE \"C\") = lower($1::text COLLATE \"C\") AND "
                        "lower(u.login COLLATE \"C\") = lower($2::text COLLATE \"C\") "
                        "ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
    [STMT_MEMBERSHIPS] = "SELECT o.name, m.role FROM memberships m JOIN orgs o ON o.id = m.org_id "
                         "WHERE m.user_id = $1 ORDER BY lower(o.name COLLATE \"C\")",
    [STMT_TOKEN_INSERT] =
        "INSERT INTO tokens (id, hash, kind, user_id, org_id, team_id, name, admin, description, "
        "created_by, created, expires, oidc_issuer, source, parent_seq, manage_access, reason) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
        "coalesce(nullif($10::text, ''), (SELECT login FROM users WHERE id = $4), ''), "
        "$11, $12, $13, $14, nullif($15::bigint, 0), $16, $17)",
    [STMT_TOKEN_DELETE] = "DELETE FROM tokens WHERE user_id = $1 AND id = $2",
    [STMT_PRINCIPAL_BY_HASH] = PRINCIPAL_SELECT "WHERE t.hash = $1 AND " PRINCIPAL_LIVE,
    [STMT_PRINCIPALS_AFTER] =
        PRINCIPAL_SELECT "WHERE t.seq > $1 AND " PRINCIPAL_LIVE " ORDER BY t.seq LIMIT $2",
    [STMT_TOKEN_LIST] = "SELECT " TOKEN_COLUMNS " FROM tokens t WHERE t.user_id = $1 "
                        "AND t.source <> 'session'" TOKEN_PAGE,
    [STMT_USER_PASSWORD] = "SELECT password_hash FROM users WHERE lower(login COLLATE \"C\") = "
                           "lower($1::text COLLATE \"C\")",
    [STMT_USER_SET_PASSWORD] = "UPDATE users SET password_hash = $2 WHERE lower(login COLLATE "
                               "\"C\") = lower($1::text COLLATE \"C\")",
    [STMT_USER_SESSIONS_END] =
        "DELETE FROM tokens WHERE source = 'session' AND user_id = "
        "(SELECT id FROM users WHERE lower(login COLLATE \"C\") = lower($1::text COLLATE \"C\"))",
    [STMT_SESSIONS_PURGE] =
        "DELETE FROM tokens WHERE source = 'session' AND expires <> 0 AND expires < $1",
    [STMT_ORG_TOKEN_LIST] = "SELECT " TOKEN_COLUMNS " FROM tokens t "
                            "WHERE t.org_id = $1 AND t.kind = 'organization'" TOKEN_PAGE,
    [STMT_TEAM_TOKEN_LIST] =
        "SELECT " TOKEN_COLUMNS " FROM tokens t WHERE t.team_id = $1" TOKEN_PAGE,
    [STMT_MACHINE_TOKEN_GET] =
        "SELECT " TOKEN_COLUMNS " FROM tokens t WHERE t.org_id = $1 AND t.id = $2",
    [STMT_MACHINE_TOKEN_DELETE] =
        "DELETE FROM tokens WHERE org_id = $1 AND id = $3 AND "
        "(($2::bigint = 0 AND kind = 'organization') OR team_id = $2::bigint)",
    [STMT_TOKEN_NAME_RESERVE] = "INSERT INTO token_names (org_id, name) VALUES ($1, $2)",
    [STMT_TEAM_IN_ORG] = "SELECT 1 FROM teams WHERE id = $1 AND org_id = $2",
    [STMT_ORG_SET_EXPIRY_POLICY] = "UPDATE orgs SET max_token_expiry_days = $2 WHERE id = $1",
    [STMT_ORG_EXPIRY_POLICY] = "SELECT max_token_expiry_days FROM orgs WHERE id = $1",
    [STMT_ORG_MEMBER_COUNT] = "SELECT count(*) FROM memberships WHERE org_id = $1",
    [STMT_OIDC_INSERT] = "INSERT INTO oidc_issuers (" OIDC_COLUMNS ") VALUES ($1, $2, $3, $4, $5, "
                         "$6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    [STMT_OIDC_UPDATE] = "UPDATE oidc_issuers SET name = $3, jwks_uri = $4, jwks = $5, "
                         "static_jwks = $6, thumbprints = $7, max_expiration = $8, modified = $9 "
                         "WHERE org_id = $1 AND id = $2",
    [STMT_OIDC_SET_KEYS] = "UPDATE oidc_issuers SET jwks = $4, modified = $5 "
                           "WHERE org_id = $1 AND id = $2 AND modified = $3 AND NOT static_jwks "
                           "AND jwks = $6 AND name = $7 AND thumbprints = $8 "
                           "AND max_expiration = $9 AND jwks_uri = $10",
    [STMT_OIDC_DELETE] = "DELETE FROM oidc_issuers WHERE org_id = $1 AND id = $2",
    [STMT_OIDC_TOKENS_DELETE] = "DELETE FROM tokens WHERE oidc_issuer = $2 AND EXISTS "
                                "(SELECT 1 FROM oidc_issuers WHERE org_id = $1 AND id = $2)",
    [STMT_OIDC_POLICY_UPDATE] = "UPDATE oidc_issuers SET policy = $3, policy_version = "
                                "policy_version + 1, policy_modified = $4 "
                                "WHERE org_id = $1 AND policy_id = $2",
    [STMT_OIDC_GET] = "SELECT " OIDC_COLUMNS " FROM oidc_issuers WHERE org_id = $1 AND id = $2",
    [STMT_OIDC_BY_POLICY] =
        "SELECT " OIDC_COLUMNS " FROM oidc_issuers WHERE org_id = $1 AND policy_id = $2",
    [STMT_OIDC_BY_ISS] =
        "SELECT " OIDC_COLUMNS " FROM oidc_issuers WHERE org_id = $1 AND issuer = $2",
    [STMT_OIDC_LIST] =
        "SELECT " OIDC_COLUMNS " FROM oidc_issuers WHERE org_id = $1 ORDER BY created, id",
    [STMT_OIDC_TOUCH] = "UPDATE oidc_issuers SET last_used = $2 WHERE id = $1",
    [STMT_TOKEN_EXPIRES] = "SELECT expires FROM tokens WHERE seq = $1",
    /* Only forward, and no new row version when there is nothing to raise. Not joined to
     * tokens: the join's probe of the wide table's index and heap was half the statement's time
     * (7.2 us a first use against 3.9 without, a million tokens, 1000 uses a statement). The
     * caching store leaves out the uses of tokens it knows are gone; one written anyway (its
     * token deleted on another node within the flush's second) is left, never read (every read
     * joins tokens; seqs are never issued again). Removing such rows in the feed's pruning, in
     * the writer's transaction, would put a bulk deletion's million probes in every batch's way. */
    [STMT_TOKEN_TOUCH] =
        "INSERT INTO token_uses (seq, last_used) SELECT (e ->> 0)::bigint, (e ->> 1)::bigint "
        "FROM jsonb_array_elements($1::jsonb) e "
        "ON CONFLICT (seq) DO UPDATE SET last_used = excluded.last_used "
        "WHERE token_uses.last_used < excluded.last_used",
    [STMT_CHANGES_STATE] = "SELECT v, pruned FROM tessera_version",
    [STMT_CHANGES_SINCE] =
        "SELECT version, kind, key FROM changes WHERE version > $1 ORDER BY version LIMIT $2",
    [STMT_CHANGES_PRUNE_MARK] =
        "UPDATE tessera_version SET pruned = v - $1::bigint WHERE v - $1::bigint > pruned",
    [STMT_CHANGES_PRUNE] =
        "DELETE FROM changes WHERE version <= (SELECT pruned FROM tessera_version)",
    /* Delivered to every node's LISTEN when (and only if) the transaction commits. */
    [STMT_NOTIFY] = "SELECT pg_notify('tessera_changes', '')",
    [STMT_COPY_FIXUP] =
        "SELECT setval(pg_get_serial_sequence('users', 'id'), coalesce(max(id), 0) + 1, false) "
        "FROM users UNION ALL "
        "SELECT setval(pg_get_serial_sequence('orgs', 'id'), coalesce(max(id), 0) + 1, false) "
        "FROM orgs UNION ALL "
        "SELECT setval(pg_get_serial_sequence('teams', 'id'), coalesce(max(id), 0) + 1, false) "
        "FROM teams UNION ALL "
        "SELECT setval(pg_get_serial_sequence('tokens', 'seq'), coalesce(max(seq), 0) + 1, false) "
        "FROM tokens",
    [STMT_ORG_BY_NAME] = "SELECT id, name, created, max_token_expiry_days FROM orgs "
                         "WHERE lower(name COLLATE \"C\") = lower($1::text COLLATE \"C\")",
    [STMT_ORG_ROLE] = "SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2",
    [STMT_ORG_MEMBERS] = "SELECT u.id, u.uuid, u.login, u.name, u.email, u.site_admin, m.role, "
                         "m.created FROM memberships m JOIN users u ON u.id = m.user_id "
                         "WHERE m.org_id = $1 AND m.user_id > $2 ORDER BY m.user_id LIMIT $3",
    [STMT_MEMBER_INSERT] = "INSERT INTO memberships (org_id, user_id, role, created) "
                           "VALUES ($1, $2, $3, $4)",
    [STMT_MEMBER_UPDATE] = "UPDATE memberships SET role = $3 WHERE org_id = $1 AND user_id = $2",
    [STMT_MEMBER_DELETE] = "DELETE FROM memberships WHERE org_id = $1 AND user_id = $2",
    [STMT_ORG_ADMIN_COUNT] =
        "SELECT count(*) FROM memberships WHERE org_id = $1 AND role = 'admin'",
    [STMT_MEMBER_TEAMS_DELETE] = "DELETE FROM team_members WHERE user_id = $2 AND team_id IN "
                                 "(SELECT id FROM teams WHERE org_id = $1)",
    [STMT_TEAMS_LIST] = "SELECT id, name, display_name, description FROM teams WHERE org_id = $1 "
                        "ORDER BY lower(name COLLATE \"C\")",
    [STMT_TEAM_GET] =
        "SELECT id, name, display_name, description FROM teams "
        "WHERE org_id = $1 AND lower(name COLLATE \"C\") = lower($2::text COLLATE \"C\")",
    [STMT_TEAM_MEMBERS] = "SELECT u.id, u.uuid, u.login, u.name, u.email, u.site_admin, t.role, "
                          "t.created FROM team_members t JOIN users u ON u.id = t.user_id "
                          "WHERE t.team_id = $1 ORDER BY lower(u.login COLLATE \"C\")",
    [STMT_TEAM_ROLE] = "SELECT role FROM team_members WHERE team_id = $1 AND user_id = $2",
    [STMT_TEAM_INSERT] = "INSERT INTO teams (org_id, name, display_name, description, created) "
                         "VALUES ($1, $2, $3, $4, $5)",
    [STMT_TEAM_SET_DISPLAY] = "UPDATE teams SET display_name = $2 WHERE id = $1",
    [STMT_TEAM_SET_DESCRIPTION] = "UPDATE teams SET description = $2 WHERE id = $1",
    /* Only organization members can join one of its teams. */
    [STMT_TEAM_MEMBER_INSERT] =
        "INSERT INTO team_members (team_id, user_id, role, created) "
        "SELECT t.id, $2::bigint, 'member', $3::bigint FROM teams t JOIN memberships m "
        "ON m.org_id = t.org_id AND m.user_id = $2::bigint WHERE t.id = $1",
    [STMT_TEAM_MEMBER_DELETE] = "DELETE FROM team_members WHERE team_id = $1 AND user_id = $2",
    [STMT_TEAM_MEMBER_ROLE] =
        "UPDATE team_members SET role = $3 WHERE team_id = $1 AND user_id = $2",
    [STMT_TEAM_DELETE] = "DELETE FROM teams WHERE id = $1",
    /* As the SQLite store's (store/sqlite.c says what each clause is for). */
    [STMT_ACTOR_ALLOWED] =
        "WITH tok AS (SELECT kind, oidc_issuer, org_id, admin, manage_access FROM tokens "
        "  WHERE seq = $5 AND (expires = 0 OR expires > $6::bigint)) "
        "SELECT EXISTS (SELECT 1 FROM tok WHERE $7::bigint = 0 "
        "  OR (kind = 'personal' AND oidc_issuer = '')) "
        "AND EXISTS (SELECT 1 FROM tok WHERE $8::bigint = 0 OR oidc_issuer = '' OR manage_access) "
        "AND (EXISTS (SELECT 1 FROM tok WHERE oidc_issuer = '') OR EXISTS (SELECT 1 FROM tok "
        "  JOIN oidc_issuers oi ON oi.id = tok.oidc_issuer AND oi.org_id = $2::bigint)) "
        "AND ((EXISTS (SELECT 1 FROM tok WHERE oidc_issuer = '') "
        "  AND coalesce((SELECT site_admin FROM users WHERE id = $1::bigint), false)) "
        "OR EXISTS (SELECT 1 FROM memberships WHERE org_id = $2::bigint AND user_id = $1::bigint "
        "  AND role = 'admin') "
        "OR EXISTS (SELECT 1 FROM tok WHERE org_id = $2::bigint AND kind = 'organization' "
        "  AND admin) "
        "OR ($4::bigint = 1 AND EXISTS (SELECT 1 FROM team_members t JOIN memberships m "
        "ON m.user_id = t.user_id AND m.org_id = $2::bigint "
        "WHERE t.team_id = $3::bigint AND t.user_id = $1::bigint AND t.role = 'admin')))",
    [STMT_AUDIT_LIST] =
        "SELECT " AUDIT_COLUMNS " FROM audit WHERE org = $1 "
        "AND ($2::bigint = 0 OR timestamp >= $2::bigint) "
        "AND ($3::bigint = 0 OR timestamp <= $3::bigint) "
        "AND ($4::text = '' OR event = $4::text) AND ($5::text = '' OR user_login = $5::text) "
        "AND seq < $6::bigint ORDER BY seq DESC LIMIT $7",
    [STMT_AUDIT_LAST] = "SELECT seq, chain FROM audit ORDER BY seq DESC LIMIT 1",
    [STMT_AUDIT_INSERT] = "INSERT INTO audit (" AUDIT_COLUMNS ", chain) "
                          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    [STMT_AUDIT_PAGE] = "SELECT " AUDIT_COLUMNS ", chain FROM audit "
                        "WHERE seq >= $1 ORDER BY seq LIMIT $2",
    [STMT_AUDIT_META] = "SELECT key_id, db_id FROM audit_meta LIMIT 1",
    [STMT_AUDIT_META_SET] = "INSERT INTO audit_meta (key_id, db_id) VALUES ($1, $2)",
    /* Two nodes opening a new database at once: one makes the key's record, the other reads it. */
    [STMT_AUDIT_META_LOCK] = "LOCK TABLE audit_meta IN EXCLUSIVE MODE",
    /* READ COMMITTED whatever the server's default: after the write lock, the writer must see
     * the commits it waited for (the audit tail above all). */
    [STMT_BEGIN] = "BEGIN ISOLATION LEVEL READ COMMITTED",
    [STMT_BEGIN_READ] = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    /* The version row, locked until commit: every node's writer waits here for the one ahead. */
    [STMT_WRITE_LOCK] = "SELECT v FROM tessera_version FOR UPDATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_SAVEPOINT] = "SAVEPOINT job",
    [STMT_RELEASE] = "RELEASE SAVEPOINT job",
    [STMT_ROLLBACK_TO] = "ROLLBACK TO SAVEPOINT job",
};
