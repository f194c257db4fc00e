#ifndef TESSERA_STORE_SQLITE_INTERNAL_H
#define TESSERA_STORE_SQLITE_INTERNAL_H

/* Shared between the files of the SQLite backend only. */

#include "audit/chain.h"
#include "store/store.h"

#include <pthread.h>
#include <sqlite3.h>

/* Every statement the backend runs, prepared once per connection on first use. */
enum stmt_id {
  STMT_USER_INSERT,
  STMT_USER_BY_LOGIN,
  STMT_ORG_INSERT,
  STMT_MEMBER_SET,
  STMT_MEMBERSHIPS,
  STMT_TOKEN_INSERT,
  STMT_TOKEN_DELETE,
  STMT_PRINCIPAL_BY_HASH,
  STMT_TOKEN_LIST,
  STMT_USER_PASSWORD,
  STMT_USER_SET_PASSWORD,
  STMT_SESSIONS_PURGE,
  STMT_USER_SESSIONS_END,
  STMT_ORG_TOKEN_LIST,
  STMT_TEAM_TOKEN_LIST,
  STMT_MACHINE_TOKEN_GET,
  STMT_MACHINE_TOKEN_DELETE,
  STMT_TOKEN_NAME_RESERVE,
  STMT_TEAM_IN_ORG,
  STMT_ORG_SET_EXPIRY_POLICY,
  STMT_ORG_EXPIRY_POLICY,
  STMT_ORG_MEMBER_COUNT,
  STMT_OIDC_INSERT,
  STMT_OIDC_UPDATE,
  STMT_OIDC_SET_KEYS,
  STMT_OIDC_DELETE,
  STMT_OIDC_TOKENS_DELETE,
  STMT_OIDC_POLICY_UPDATE,
  STMT_OIDC_GET,
  STMT_OIDC_BY_POLICY,
  STMT_OIDC_BY_ISS,
  STMT_OIDC_LIST,
  STMT_OIDC_TOUCH,
  STMT_TOKEN_TOUCH,
  STMT_TOKEN_EXPIRES,
  STMT_DATA_VERSION,
  STMT_ORG_BY_NAME,
  STMT_ORG_ROLE,
  STMT_ORG_MEMBERS,
  STMT_MEMBER_INSERT,
  STMT_MEMBER_UPDATE,
  STMT_MEMBER_DELETE,
  STMT_ORG_ADMIN_COUNT,
  STMT_MEMBER_TEAMS_DELETE,
  STMT_TEAMS_LIST,
  STMT_TEAM_GET,
  STMT_TEAM_MEMBERS,
  STMT_TEAM_ROLE,
  STMT_TEAM_INSERT,
  STMT_TEAM_SET_DISPLAY,
  STMT_TEAM_SET_DESCRIPTION,
  STMT_TEAM_MEMBER_INSERT,
  STMT_TEAM_MEMBER_DELETE,
  STMT_TEAM_MEMBER_ROLE,
  STMT_TEAM_DELETE,
  STMT_ACTOR_ALLOWED,
  STMT_AUDIT_LIST,
  STMT_AUDIT_LAST,
  STMT_AUDIT_INSERT,
  STMT_BEGIN,
  STMT_COMMIT,
  STMT_ROLLBACK,
  STMT_SAVEPOINT,
  STMT_RELEASE,
  STMT_ROLLBACK_TO,
  STMT_COUNT
};

struct conn {
  sqlite3 *db;
  sqlite3_stmt *stmts[STMT_COUNT];
};

/* The statement, reset and with bindings cleared, ready to bind; NULL only if preparing failed. */
sqlite3_stmt *conn_stmt(struct conn *c, enum stmt_id id);
/* Maps an SQLite result code to a TE_* code, logging unexpected failures (never with values). */
int conn_error(struct conn *c, int rc, const char *what);
/* Runs a statement that returns no rows. */
int conn_exec(struct conn *c, enum stmt_id id);

/* The group-commit writer: one connection, one thread; jobs queued while a commit is in flight
 * share the next commit. */
struct write_job {
  /* Runs the job's statements inside the batch's transaction. */
  int (*apply)(struct conn *c, struct write_job *job);
  store_done_fn done;
  void *arg;
  struct write_job *next;
  bool has_audit; /* then `audit` is appended in the same savepoint: both land or neither */
  bool unchanged; /* set by apply when the job turned out to change nothing: nothing to record */
  struct audit_record audit;
};

struct writer;

int writer_start(struct conn *c, const char *db_path, const unsigned char audit_key[AUDIT_KEY_LEN],
                 struct writer **out);
/* Queues a malloc'd job (its struct write_job first); the writer frees it after done() runs. */
void writer_submit(struct writer *w, struct write_job *job);
/* Queues the job and waits until it is durable; returns its result. */
int writer_submit_wait(struct writer *w, struct write_job *job);
/* Commits everything queued, then stops the thread (the connection stays open). */
void writer_stop(struct writer *w);

struct sqlite_store {
  struct store base;
  unsigned char secret[32]; /* HMAC(audit key, "tessera-secrets"): derive_secret's root */
  struct conn *writer_conn;
  struct conn *version_conn; /* data_version is per connection, so always ask the same one */
  pthread_mutex_t version_lock;
  struct writer *writer;
  pthread_mutex_t pool_lock;
  pthread_cond_t pool_free;
  struct conn **readers; /* stack of idle read connections */
  int idle_readers;
};

struct conn *sqlite_reader_acquire(struct sqlite_store *s);
void sqlite_reader_release(struct sqlite_store *s, struct conn *c);

/* The write operations of store_ops (sqlite_writes.c). */
int sqlite_user_create(struct store *store, const struct store_user *user, struct store_user *out);
int sqlite_user_password_hash(struct store *store, const char *login, char *out);
int sqlite_sessions_purge(struct store *store, int64_t now);
int sqlite_user_set_password_hash(struct store *store, const char *login, const char *hash);
int sqlite_org_create(struct store *store, const char *name);
int sqlite_member_set(struct store *store, const char *org, const char *login, const char *role);
int sqlite_token_insert(struct store *store, const struct store_token *token,
                        const struct audit_record *audit, store_done_fn done, void *arg);
int sqlite_token_delete(struct store *store, int64_t user_id, const char *token_id,
                        const struct audit_record *audit, store_done_fn done, void *arg);
int sqlite_audit_list(struct store *store, const struct store_audit_query *query,
                      struct store_audit_record **out, size_t *count);
int sqlite_audit_append(struct store *store, const struct audit_record *audit, store_done_fn done,
                        void *arg);
int sqlite_tokens_touch(struct store *store, const struct store_last_used *updates, size_t count);

/* Organization and team tokens, and the organization's token-lifetime policy
 * (sqlite_machine_tokens.c). */
int sqlite_machine_token_insert(struct store *store, const struct store_actor *actor,
                                const struct store_token *token, const struct audit_record *audit);
int sqlite_machine_token_delete(struct store *store, const struct store_actor *actor,
                                int64_t org_id, int64_t team_id, const char *token_id,
                                const struct audit_record *audit);
int sqlite_org_set_expiry_policy(struct store *store, const struct store_actor *actor,
                                 int64_t org_id, int days, const struct audit_record *audit);
int sqlite_org_member_count(struct store *store, int64_t org_id, int64_t *out);
/* Binds the columns of STMT_TOKEN_INSERT from a token. */
void bind_token_insert(sqlite3_stmt *st, const struct store_token *t);

/* OIDC issuers (sqlite_oidc.c). */
int sqlite_oidc_issuer_insert(struct store *store, const struct store_actor *actor,
                              const struct store_oidc_issuer *issuer,
                              const struct audit_record *audit);
int sqlite_oidc_issuer_update(struct store *store, const struct store_actor *actor,
                              const struct store_oidc_issuer *issuer,
                              const struct audit_record *audit);
int sqlite_oidc_issuer_set_keys(struct store *store, const struct store_oidc_issuer *was,
                                const char *jwks, int64_t modified);
int sqlite_oidc_issuer_delete(struct store *store, const struct store_actor *actor, int64_t org_id,
                              const char *id, const struct audit_record *audit);
int sqlite_oidc_policy_update(struct store *store, const struct store_actor *actor, int64_t org_id,
                              const char *policy_id, const char *policy,
                              const struct audit_record *audit);
int sqlite_oidc_issuer_get(struct store *store, int64_t org_id, const char *id,
                           struct store_oidc_issuer *out);
int sqlite_oidc_issuer_by_policy(struct store *store, int64_t org_id, const char *policy_id,
                                 struct store_oidc_issuer *out);
int sqlite_oidc_issuer_by_iss(struct store *store, int64_t org_id, const char *iss,
                              struct store_oidc_issuer *out);
int sqlite_oidc_issuers_list(struct store *store, int64_t org_id, struct store_oidc_issuer **out,
                             size_t *count);
int sqlite_oidc_token_insert(struct store *store, const struct store_token *token,
                             const struct audit_record *audit);
/* Claims an org or team token's name for good (sqlite_machine_tokens.c): TE_CONFLICT when taken. */
int reserve_token_name(struct conn *c, int64_t org_id, const char *name);

/* The audit log (sqlite_audit.c). */
/* Loads "<real db path>.audit-key" for the database open on db, making it for a database whose
 * audit log has no key yet; refuses a missing key, a key others can read, or another key. */
int audit_key_setup(sqlite3 *db, const char *db_path, unsigned char key[AUDIT_KEY_LEN]);
/* Appends a record chained to the last one, inside the writer's transaction; returns its seq and
 * chain value for the head file. */
int audit_insert(struct conn *c, const unsigned char key[AUDIT_KEY_LEN],
                 const struct audit_record *audit, int64_t *seq, unsigned char chain[32]);
/* Records, after a commit, the last record the log has reached ("<real db path>.audit-head"), so
 * that records removed from the end are detected. Never moves backwards. */
int audit_head_write(const char *db_path, int64_t seq, const unsigned char chain[32]);

/* Organizations and members (sqlite_orgs.c). */
int sqlite_org_by_name(struct store *store, const char *name, struct store_org *out);
int sqlite_org_role(struct store *store, int64_t org_id, int64_t user_id, char *role);
int sqlite_org_members(struct store *store, int64_t org_id, int64_t after_user_id, int limit,
                       struct store_member **out, size_t *count);
int sqlite_org_member_add(struct store *store, const struct store_actor *actor, int64_t org_id,
                          int64_t user_id, const char *role, const struct audit_record *audit);
int sqlite_org_member_update(struct store *store, const struct store_actor *actor, int64_t org_id,
                             int64_t user_id, const char *role, const struct audit_record *audit);
int sqlite_org_member_remove(struct store *store, const struct store_actor *actor, int64_t org_id,
                             int64_t user_id, const struct audit_record *audit);

/* The role column of a (scope, user) lookup (org or team membership) into role (16 bytes). */
int sqlite_lookup_role(struct store *store, enum stmt_id id, int64_t scope_id, int64_t user_id,
                       char *role);
/* Reads user columns then role and created (ORG_MEMBERS, TEAM_MEMBERS) into a store_member. */
void read_member_row(sqlite3_stmt *st, void *item);

/* TE_OK when the actor (NULL: offline admin) may change org_id (team_id for ACTOR_TEAM_ADMIN), as
 * of the transaction this runs in; TE_FORBIDDEN otherwise. */
int actor_check(struct conn *c, const struct store_actor *actor, int64_t org_id, int64_t team_id);
/* The role column of a (scope, user) lookup on the writer's connection: TE_NOT_FOUND when none. */
int role_in_txn(struct conn *c, enum stmt_id id, int64_t scope_id, int64_t user_id, char *role);

/* Teams (sqlite_teams.c). */
int sqlite_teams_list(struct store *store, int64_t org_id, struct store_team **out, size_t *count);
int sqlite_team_get(struct store *store, int64_t org_id, const char *name, struct store_team *out);
int sqlite_team_members(struct store *store, int64_t team_id, struct store_member **out,
                        size_t *count);
int sqlite_team_role(struct store *store, int64_t team_id, int64_t user_id, char *role);
int sqlite_team_create(struct store *store, const struct store_actor *actor, int64_t org_id,
                       const struct store_team *team, const struct audit_record *audit);
int sqlite_team_update(struct store *store, const struct store_actor *actor, int64_t org_id,
                       int64_t team_id, const struct store_team_update *update,
                       const struct audit_record *audit);
int sqlite_team_delete(struct store *store, const struct store_actor *actor, int64_t org_id,
                       int64_t team_id, const struct audit_record *audit);

/* Shared by the backend's files (sqlite_writes.c). */
void *job_new(size_t size, int (*apply)(struct conn *, struct write_job *));
void job_attach_audit(struct write_job *job, const struct audit_record *audit);
int step_write(struct conn *c, sqlite3_stmt *st, bool must_change, const char *what);
/* Reads user columns (id, uuid, login, name, email, site_admin) starting at col. */
void read_user_columns(sqlite3_stmt *st, int col, struct store_user *u);
/* A parameter of a read query: an integer, a text or a blob. */
struct param {
  enum { PARAM_INT, PARAM_TEXT, PARAM_BLOB } type;
  int64_t i;
  const void *p;
  int len;
};
#define PARAM_I(v) ((struct param){PARAM_INT, (v), NULL, 0})
#define PARAM_T(v) ((struct param){PARAM_TEXT, 0, (v), -1})
#define PARAM_B(v, n) ((struct param){PARAM_BLOB, 0, (v), (n)})

typedef void (*row_reader)(sqlite3_stmt *st, void *out);

/* Runs a read query on a pooled reader connection (sqlite.c). read_one: at most one row, read
 * into out; TE_NOT_FOUND when there is none. read_all: every row into a malloc'd array. */
int sqlite_read_one(struct store *store, enum stmt_id id, const struct param *params, int n,
                    row_reader read, void *out);
int sqlite_read_all(struct store *store, enum stmt_id id, const struct param *params, int n,
                    size_t item_size, row_reader read, void **out, size_t *count);

/* Copies a text column into a fixed buffer (truncating safely; inputs are bounded on the way in).
 */
void column_text(sqlite3_stmt *st, int col, char *dst, size_t size);

#endif
