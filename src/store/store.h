#ifndef TESSERA_STORE_STORE_H
#define TESSERA_STORE_STORE_H

#include "audit/record.h"
#include "core/limits.h"
#include "core/principal.h"
#include "core/token.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The one interface to persistent state. Handlers and commands talk only to this; each backend
 * (SQLite, PostgreSQL: both through the shared SQL layer, sql.h) fills in a struct store_ops. All
 * functions return 0 or a negative TE_* code: TE_NOT_FOUND for a missing row, TE_CONFLICT for a
 * uniqueness violation, TE_INTERNAL for anything the caller cannot fix. Writes are durable when
 * they report success. */

struct store_user {
  int64_t id;
  char uuid[TOKEN_ID_LEN + 1];
  char login[LOGIN_MAX + 1];
  char name[USER_NAME_MAX + 1];
  char email[EMAIL_MAX + 1];
  bool site_admin;
};

#define PASSWORD_HASH_MAX 255

struct store_membership {
  char org[LOGIN_MAX + 1];
  char role[16]; /* "admin" | "member" */
};

/* Who a change is made for, and the role it needs: an org admin (site admins count as admins of
 * every org), or, for a team's own changes, an admin of that team or of its org. */
enum store_actor_need {
  ACTOR_ORG_ADMIN,
  ACTOR_TEAM_ADMIN,
  ACTOR_ORG_ADMIN_PERSON /* an org admin using a personal token: no token mints org tokens */
};

/* The actor is the token a request came with: a personal token's user, or an organization token
 * (admin rights when its admin flag is set); the token must still exist when the change is made. */
struct store_actor {
  int64_t token_seq;
  int64_t user_id; /* 0 for an organization or team token */
  enum store_actor_need need;
  /* The change decides who has access (membership, roles, the lifetime policy): a token from an
   * OIDC exchange may make it only if its issuer's policy granted "manage-access". */
  bool changes_access;
};

struct store_org {
  int64_t id;
  char name[LOGIN_MAX + 1];
  int64_t created;
  int max_token_expiry_days; /* the lifetime cap on tokens used against it; 0 = no policy */
};

/* A member of an organization, as ListOrganizationMembers shows it. */
struct store_member {
  struct store_user user;
  char role[16]; /* "admin" | "member" */
  int64_t created;
};

#define TEAM_DISPLAY_NAME_MAX 128

struct store_team {
  int64_t id;
  char name[LOGIN_MAX + 1];
  char display_name[TEAM_DISPLAY_NAME_MAX + 1];
  char description[DESCRIPTION_MAX + 1];
};

/* A change to a team (UpdateTeam): new texts when non-NULL, and at most one member action. */
enum team_member_action {
  TEAM_MEMBER_NONE,
  TEAM_MEMBER_ADD,
  TEAM_MEMBER_REMOVE,
  TEAM_MEMBER_PROMOTE,
  TEAM_MEMBER_DEMOTE
};

struct store_team_update {
  const char *display_name;
  const char *description;
  enum team_member_action action;
  int64_t member_id;
};

struct store_token {
  int64_t seq; /* insertion order; the key for paging */
  char id[TOKEN_ID_LEN + 1];
  unsigned char hash[TOKEN_HASH_LEN];
  enum token_kind kind;
  int64_t user_id;               /* personal tokens: the owner; 0 otherwise */
  int64_t org_id;                /* organization and team tokens: the organization; 0 otherwise */
  int64_t team_id;               /* team tokens: the team; 0 otherwise */
  char name[TOKEN_NAME_MAX + 1]; /* "" for personal tokens */
  bool admin;                    /* organization tokens with the admin role */
  char oidc_issuer[TOKEN_ID_LEN + 1]; /* the OIDC issuer whose exchange made it; "" for none */
  enum token_source source;
  /* The token whose holder made this one when that was not a person's own token (a session opened
   * with a token; a team token an org token made): deleting it deletes this one (0 for none). */
  int64_t parent_seq;
  bool manage_access; /* from an OIDC exchange whose policy granted "manage-access" */
  char description[DESCRIPTION_MAX + 1];
  char reason[REASON_MAX + 1];    /* the ?reason= its creation gave ("" for none) */
  char created_by[ACTOR_MAX + 1]; /* the creator's login ("org/token-name" for a machine token) */
  int64_t created;
  int64_t expires;   /* 0 = never */
  int64_t last_used; /* 0 = never */
};

#define OIDC_NAME_MAX 128
#define OIDC_URL_MAX 512
#define OIDC_THUMBPRINTS_MAX 1024 /* a JSON array of hex SHA-256 thumbprints */

/* An OIDC issuer an organization trusts, with its authorization policy. jwks and policy are
 * malloc'd JSON texts owned by the struct (store_oidc_issuer_clear frees them). */
struct store_oidc_issuer {
  char id[TOKEN_ID_LEN + 1];
  int64_t org_id;
  char name[OIDC_NAME_MAX + 1];
  char url[OIDC_URL_MAX + 1];    /* as registered */
  char issuer[OIDC_URL_MAX + 1]; /* the "iss" its ID tokens carry */
  char jwks_uri[OIDC_URL_MAX + 1];
  char *jwks;
  bool static_jwks;
  char thumbprints[OIDC_THUMBPRINTS_MAX + 1];
  int64_t max_expiration; /* seconds */
  int64_t created, modified, last_used;
  char policy_id[TOKEN_ID_LEN + 1];
  char *policy; /* a JSON array of AuthPolicyDefinition */
  int64_t policy_version;
  int64_t policy_modified;
};

void store_oidc_issuer_clear(struct store_oidc_issuer *issuer);
void store_oidc_issuers_free(struct store_oidc_issuer *issuers, size_t count);

/* What a valid token resolves to: the token itself and the identity it acts as. For machine
 * tokens `user` is the organization's robot: id 0 (no user has it), login the organization's name,
 * uuid the token's id, never a site admin. */
struct store_principal {
  struct store_token token;
  struct store_user user;
  /* The one organization the token may act in, 0 for a user's own token (wherever its user
   * may): a machine token's organization, or the organization whose OIDC issuer made it. A
   * personal token from an exchange never has its user's site-admin powers. */
  int64_t scope_org_id;
  char org[LOGIN_MAX + 1];  /* the scope organization's name ("" for none) */
  char team[LOGIN_MAX + 1]; /* team tokens: the team's name */
  /* Who acts, as logs and the audit log name them: the user's login, or "org/token-name" for a
   * machine token, which no login can be (logins have no '/'), so a user who happens to share an
   * organization's name is never confused with its tokens. */
  char actor[ACTOR_MAX + 1];
  /* A session opened with a token: that token's expiry, which the session stands for in lifetime
   * policies (-1 for none: a password sign-in, or not a session). */
  int64_t parent_expires;
  char issuer_name[OIDC_NAME_MAX + 1]; /* the OIDC issuer whose exchange made the token, or "" */
  /* The token was made with a token an OIDC exchange issued, so it expires no later than that. */
  bool parent_from_exchange;
  /* Nonzero when the backend vouches that nothing was written since this was read: the same
   * version means the same user and memberships (the caching store provides it; 0 = unknown). */
  uint64_t version;
};

/* An audit record as read back, with its position in the log. */
struct store_audit_record {
  int64_t seq;
  struct audit_record audit;
};

/* Which audit records to list: an organization's, newest first, within [since, until] (0 = open),
 * of one event and one user when given (""), older than before_seq, at most limit. */
struct store_audit_query {
  const char *org;
  int64_t since, until;
  const char *event;
  const char *user;
  int64_t before_seq;
  int limit;
};

enum token_filter { TOKEN_FILTER_ACTIVE, TOKEN_FILTER_EXPIRED, TOKEN_FILTER_ALL };

/* Tokens of one owner: a user's personal tokens (owner_id = user id), an organization's org tokens
 * (org id) or a team's tokens (team id). */
struct store_token_query {
  enum token_kind kind;
  int64_t owner_id;
  enum token_filter filter;
  int64_t now;        /* the instant that separates active from expired */
  int64_t before_seq; /* only tokens with seq < this; INT64_MAX for the first page */
  int limit;
};

struct store_last_used {
  int64_t seq;
  int64_t last_used;
};

/* The change feed: what a committed write may have made stale in a cache. Triggers in the
 * database record these in the same transaction as the change itself (the changes table), so no
 * write, by any node or process, escapes them: a deleted token (its seq; the tokens deleted with
 * it have changes of their own), a user whose details or memberships changed, an organization,
 * team or OIDC issuer changed or deleted. Versions grow in commit order. */
enum store_change_kind {
  CHANGE_TOKEN,
  CHANGE_USER,
  CHANGE_ORG,
  CHANGE_TEAM,
  CHANGE_ISSUER,
  CHANGE_UNKNOWN /* from a newer release: forget everything */
};

struct store_change {
  int64_t version;
  enum store_change_kind kind;
  int64_t id;                    /* the token's seq; the user's, org's or team's id */
  char issuer[TOKEN_ID_LEN + 1]; /* CHANGE_ISSUER */
};

/* A page of the feed after some version: items (malloc'd; freed with free()) oldest first;
 * gap when changes after that version were pruned (the caller must forget everything it holds),
 * with current the version to go on from. */
struct store_change_page {
  struct store_change *items;
  size_t count;
  bool gap;
  int64_t current;
};

/* Called once a queued write is durable (result 0) or has failed. Runs on a store thread: it must
 * be quick and must not call back into the store synchronously. */
typedef void (*store_done_fn)(void *arg, int result);

struct store;

struct store_ops {
  void (*close)(struct store *store);

  int (*user_create)(struct store *store, const struct store_user *user, struct store_user *out);
  int (*user_by_login)(struct store *store, const char *login, struct store_user *out);
  int (*org_create)(struct store *store, const char *name);
  int (*member_set)(struct store *store, const char *org, const char *login, const char *role);
  /* Memberships of a user ordered by org name; *out is freed with free(). */
  /* A user's password hash (argon2id PHC string; "" when none) into out (PASSWORD_HASH_MAX + 1),
   * and setting it (offline admin). TE_NOT_FOUND for an unknown login. */
  int (*user_password_hash)(struct store *store, const char *login, char *out);
  int (*user_set_password_hash)(struct store *store, const char *login, const char *hash);
  /* Deletes console sessions that expired before `now` (they could never be used again). */
  int (*sessions_purge)(struct store *store, int64_t now);
  int (*memberships)(struct store *store, int64_t user_id, struct store_membership **out,
                     size_t *count);

  /* Inserts a token, with its audit record when audit is not NULL. With done == NULL it blocks
   * until durable and returns the result; otherwise it returns 0 at once and reports through
   * done(arg, result) later (group commit). */
  int (*token_insert)(struct store *store, const struct store_token *token,
                      const struct audit_record *audit, store_done_fn done, void *arg);
  /* Deletes the user's token with this id (TE_NOT_FOUND when there is none). Same contract. */
  int (*token_delete)(struct store *store, int64_t user_id, const char *token_id,
                      const struct audit_record *audit, store_done_fn done, void *arg);
  /* Inserts an organization or team token (token->org_id, ->team_id, ->name set) for the actor,
   * synchronously. The name is reserved in the organization forever, across its org and team
   * tokens: TE_CONFLICT when it was ever used; TE_NOT_FOUND when the team is gone. */
  int (*machine_token_insert)(struct store *store, const struct store_actor *actor,
                              const struct store_token *token, const struct audit_record *audit);
  /* Deletes the org's token with this id: an org token when team_id is 0, else that team's token;
   * TE_NOT_FOUND when there is no such token (callers tell the kinds apart with machine_token_get
   * first). The token's name stays reserved. */
  int (*machine_token_delete)(struct store *store, const struct store_actor *actor, int64_t org_id,
                              int64_t team_id, const char *token_id,
                              const struct audit_record *audit);
  /* Revokes a token of any kind as it was found (by its hash): a personal token by its user and
   * id, a machine token by its organization, team and id; with its records, count >= 1, appended
   * in the same transaction (a leak report names it in each organization that must hear of it).
   * Synchronous. TE_NOT_FOUND when it is gone already. */
  int (*token_revoke)(struct store *store, const struct store_token *token,
                      const struct audit_record *audits, size_t count);
  /* A token of the organization by id (either kind), for naming it in audit records. */
  int (*machine_token_get)(struct store *store, int64_t org_id, const char *token_id,
                           struct store_token *out);
  /* Sets the organization's token-lifetime cap in days (0 clears it); an unchanged value records
   * nothing. Actor as for members. */
  int (*org_set_expiry_policy)(struct store *store, const struct store_actor *actor, int64_t org_id,
                               int days, const struct audit_record *audit);
  /* The number of members of the organization. */
  int (*org_member_count)(struct store *store, int64_t org_id, int64_t *out);
  /* Organizations and their members. The writes here are synchronous: they are rare, and an
   * admin's request may wait for its commit. Each takes the audit record of its change. */
  int (*org_by_name)(struct store *store, const char *name, struct store_org *out);
  /* The user's role in the org into role (16 bytes); TE_NOT_FOUND when not a member. */
  int (*org_role)(struct store *store, int64_t org_id, int64_t user_id, char *role);
  /* Members ordered by user id, after after_user_id, at most limit; *out freed with free(). */
  int (*org_members)(struct store *store, int64_t org_id, int64_t after_user_id, int limit,
                     struct store_member **out, size_t *count);
  /* The changes below take the actor on whose behalf they are made (NULL: offline admin) and
   * re-check, in the transaction that makes the change, that the actor still holds the role
   * required, so a right revoked meanwhile cannot be used: TE_FORBIDDEN then. TE_CONFLICT when
   * already a member. */
  int (*org_member_add)(struct store *store, const struct store_actor *actor, int64_t org_id,
                        int64_t user_id, const char *role, const struct audit_record *audit);
  /* TE_NOT_FOUND when not a member; TE_BAD_REQUEST when it would take the org's last admin away.
   * Setting the role a member already has changes nothing and records nothing. */
  int (*org_member_update)(struct store *store, const struct store_actor *actor, int64_t org_id,
                           int64_t user_id, const char *role, const struct audit_record *audit);
  /* Also removes the user from the org's teams. Same errors as org_member_update. */
  int (*org_member_remove)(struct store *store, const struct store_actor *actor, int64_t org_id,
                           int64_t user_id, const struct audit_record *audit);

  /* Teams of an organization, ordered by name; *out freed with free(). */
  int (*teams_list)(struct store *store, int64_t org_id, struct store_team **out, size_t *count);
  int (*team_get)(struct store *store, int64_t org_id, const char *name, struct store_team *out);
  /* A team's members (role is the team role) ordered by login; *out freed with free(). */
  int (*team_members)(struct store *store, int64_t team_id, struct store_member **out,
                      size_t *count);
  /* The user's team role into role (16 bytes); TE_NOT_FOUND when not in the team. */
  int (*team_role)(struct store *store, int64_t team_id, int64_t user_id, char *role);
  /* TE_CONFLICT when the org has a team of that name. Actor as for members. */
  int (*team_create)(struct store *store, const struct store_actor *actor, int64_t org_id,
                     const struct store_team *team, const struct audit_record *audit);
  /* TE_NOT_FOUND: no such team, or (remove/promote/demote) the user is not in it; TE_CONFLICT: add
   * of a user already in it; TE_BAD_REQUEST: add of a user outside the organization. A promote or
   * demote to the role the member already has records nothing. */
  int (*team_update)(struct store *store, const struct store_actor *actor, int64_t org_id,
                     int64_t team_id, const struct store_team_update *update,
                     const struct audit_record *audit);
  int (*team_delete)(struct store *store, const struct store_actor *actor, int64_t org_id,
                     int64_t team_id, const struct audit_record *audit);

  /* OIDC issuers of an organization. Writes take an actor (org admin) like the others and are
   * synchronous; the issuer's (org_id, issuer) is unique: TE_CONFLICT. */
  int (*oidc_issuer_insert)(struct store *store, const struct store_actor *actor,
                            const struct store_oidc_issuer *issuer,
                            const struct audit_record *audit);
  /* Rewrites name, jwks, static_jwks, jwks_uri, thumbprints, max_expiration and modified. */
  int (*oidc_issuer_update)(struct store *store, const struct store_actor *actor,
                            const struct store_oidc_issuer *issuer,
                            const struct audit_record *audit);
  /* Replaces a discovered issuer's key set (a refresh by the server itself, recorded nowhere),
   * only if the issuer is still exactly as `was` (as read before the fetch): TE_CONFLICT
   * otherwise, so a refresh can never undo an admin's change. */
  int (*oidc_issuer_set_keys)(struct store *store, const struct store_oidc_issuer *was,
                              const char *jwks, int64_t modified);
  int (*oidc_issuer_delete)(struct store *store, const struct store_actor *actor, int64_t org_id,
                            const char *id, const struct audit_record *audit);
  /* Sets the issuer's policy (by policy id), bumping its version. */
  int (*oidc_policy_update)(struct store *store, const struct store_actor *actor, int64_t org_id,
                            const char *policy_id, const char *policy,
                            const struct audit_record *audit);
  /* Reads: by id, by policy id, by the "iss" of its tokens; all of an org ordered by creation. */
  int (*oidc_issuer_get)(struct store *store, int64_t org_id, const char *id,
                         struct store_oidc_issuer *out);
  int (*oidc_issuer_by_policy)(struct store *store, int64_t org_id, const char *policy_id,
                               struct store_oidc_issuer *out);
  int (*oidc_issuer_by_iss)(struct store *store, int64_t org_id, const char *iss,
                            struct store_oidc_issuer *out);
  int (*oidc_issuers_list)(struct store *store, int64_t org_id, struct store_oidc_issuer **out,
                           size_t *count);
  /* Inserts a token made by an exchange (token->oidc_issuer set; an org or team token's name is
   * reserved like any other), records the exchange's audit record, and notes the issuer's last
   * use, in one transaction: TE_NOT_FOUND when the issuer is gone, TE_CONFLICT when the name was
   * ever used. With done == NULL it blocks until durable and returns the result; otherwise it
   * returns 0 at once and reports through done(arg, result) later, sharing a group commit with
   * other writes (token_insert's contract). */
  int (*oidc_token_insert)(struct store *store, const struct store_token *token,
                           const struct audit_record *audit, store_done_fn done, void *arg);

  /* A page of audit records; *out freed with free(). */
  int (*audit_list)(struct store *store, const struct store_audit_query *query,
                    struct store_audit_record **out, size_t *count);
  /* Appends an audit record that goes with no change (say, a failed authentication). */
  int (*audit_append)(struct store *store, const struct audit_record *audit, store_done_fn done,
                      void *arg);
  /* The hot path: one indexed lookup by hash. TE_NOT_FOUND when no token has this hash. */
  int (*principal_by_token_hash)(struct store *store, const unsigned char hash[TOKEN_HASH_LEN],
                                 struct store_principal *out);
  /* Whether a token of this hash is known to have been deleted (revoked): only for metrics,
   * after principal_by_token_hash found none. A deleted token's row is gone, so the SQL stores
   * cannot tell (false); the cache remembers the tokens it held when the feed said so. */
  bool (*token_revoked)(struct store *store, const unsigned char hash[TOKEN_HASH_LEN]);
  /* The principals of the tokens after seq `after`, in seq order, at most limit (*out freed with
   * free()): what principal_by_token_hash answers for each, read page by page to fill a cache
   * with every token, or the ones the feed says were just made. */
  int (*principals_after)(struct store *store, int64_t after, int limit,
                          struct store_principal **out, size_t *count);
  /* A page of tokens, newest first; *out is freed with free(). */
  int (*token_list)(struct store *store, const struct store_token_query *query,
                    struct store_token **out, size_t *count);
  /* Raises last_used of each token to the given value (never lowers it). Blocks until durable.
   * The caller (store/lastused.c) passes them in seq order: neighbouring rows share pages, which
   * a statement then visits once, and nodes touching the same rows take their locks in one
   * order. */
  int (*tokens_touch)(struct store *store, const struct store_last_used *updates, size_t count);
  /* The change feed after version `after`: at most limit changes (store_change_page). */
  int (*changes_since)(struct store *store, int64_t after, int limit,
                       struct store_change_page *page);
  /* Asks that fn(arg) be called after every commit this store makes, before the writes in it
   * are reported done, and whenever another node announces a commit (PostgreSQL's NOTIFY): a
   * cache reads the feed then. One watcher; fn runs on a store thread and may read the store. */
  void (*watch)(struct store *store, void (*fn)(void *arg), void *arg);
  /* A 32-byte secret for one purpose ("paging", ...), the same for every process and node on this
   * database and different for each purpose, derived from the deployment's key (for SQLite, the
   * audit key beside the database). */
  void (*derive_secret)(struct store *store, const char *purpose, unsigned char out[32]);
};

struct store {
  const struct store_ops *ops;
};

/* Wraps `inner` with an in-memory cache of token and membership lookups, taking ownership of it.
 * Entries are dropped one by one as the change feed names what they depend on: this process's
 * commits before their writes are reported done, other nodes' and processes' within poll_ms (or
 * at once on PostgreSQL's NOTIFY). A cache whose feed could not be read for stale_ms serves
 * nothing from memory (every lookup reads the store, which answers TE_UNAVAILABLE when it is
 * down): never a stale yes. No entry outlives ttl_seconds. */
int store_cache_wrap(struct store *inner, int poll_ms, int stale_ms, int ttl_seconds,
                     struct store **out);

/* Opens the SQLite store at path, creating it (mode 0600) and applying migrations as needed.
 * read_connections bounds concurrent readers. The audit-log key lives beside it in
 * "<path>.audit-key" (32 random bytes, mode 0600, made on first open); a database that has audit
 * records but no key is refused. */
int store_sqlite_open(const char *path, int read_connections, struct store **out);

/* Opens the PostgreSQL store at conninfo (a postgres:// URL, TLS through libpq's sslmode),
 * applying migrations as needed under an advisory lock. The audit-log key is the file at key_path
 * (made 0600 on first open of a new database; every node is given the same one); the database
 * records its id, so a node with another key is refused. read_connections bounds the pool. */
int store_pg_open(const char *conninfo, const char *key_path, int read_connections,
                  struct store **out);

/* Whether a --db value names a PostgreSQL database (postgres:// or postgresql://) rather than a
 * SQLite file. */
bool store_is_postgres(const char *db);

/* Opens the store a --db value names: store_pg_open or store_sqlite_open. audit_key is for
 * PostgreSQL (NULL otherwise: SQLite keeps its key beside the database, and refuses one given). */
int store_open(const char *db, const char *audit_key, int read_connections, struct store **out);

/* The tables tessera admin copy moves, and the rows it moved of each. */
#define STORE_COPY_TABLES 10
struct store_copy_report {
  int64_t rows[STORE_COPY_TABLES]; /* in store_copy_table_name order */
  int64_t audit_verified;          /* records the target's verify walked */
};
const char *store_copy_table_name(size_t i);

/* Copies every row of the store at from_db (users, organizations, members, teams, OIDC issuers,
 * tokens with their hashes, reserved token names, the audit log) into the empty store at to_db,
 * in one transaction: the source's audit log must verify first; the target is given the source's
 * audit key (to_key for PostgreSQL must be a new file or already hold it), must be empty (else
 * TE_CONFLICT, nothing written), and after the copy has the same number of rows in each table and
 * a log that verifies. The keys are for PostgreSQL ends (NULL for SQLite). problem: why not. */
int store_copy(const char *from_db, const char *from_key, const char *to_db, const char *to_key,
               struct store_copy_report *report, char *problem, size_t problem_size);

/* Checks the audit log's chain from its first record. Returns 0 and the number of records checked
 * in *count when intact; TE_CONFLICT with a sentence in report naming the first bad record when a
 * record was edited, removed or moved; another TE_* code when the check could not run. */
int store_audit_verify(const char *db, const char *audit_key, int64_t *count, char *report,
                       size_t report_size);
int store_sqlite_audit_verify(const char *path, int64_t *count, char *report, size_t report_size);
int store_pg_audit_verify(const char *conninfo, const char *key_path, int64_t *count, char *report,
                          size_t report_size);

#endif
