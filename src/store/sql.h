#ifndef TESSERA_STORE_SQL_H
#define TESSERA_STORE_SQL_H

/* The SQL stores' shared layer: what the store does (sql_*.c: rights re-checked in the
 * transaction, group commit, the audit chain, every query's reading of its rows) is written once,
 * against numbered statements and the small driver interface below; each backend (sqlite_*.c,
 * pg_*.c) supplies the text of every statement in its dialect, its connections and its rows. So a
 * rule changes in one place for both stores, and a second backend touches no logic. Internal to
 * store/. */

#include "audit/chain.h"
#include "store/store.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Every statement a SQL backend runs. A backend's text for one may be NULL: running it then does
 * nothing (SQLite needs no write lock statement, say). */
enum stmt_id {
  STMT_USER_INSERT,
  STMT_USER_BY_LOGIN,
  STMT_ORG_INSERT,
  STMT_MEMBER_SET,
  STMT_MEMBERSHIPS,
  STMT_TOKEN_INSERT,
  STMT_TOKEN_DELETE,
  STMT_PRINCIPAL_BY_HASH,
  STMT_PRINCIPALS_AFTER,
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
  STMT_CHANGES_STATE, /* the version now, and the highest pruned */
  STMT_CHANGES_SINCE,
  STMT_CHANGES_PRUNE_MARK,
  STMT_CHANGES_PRUNE,
  STMT_NOTIFY,     /* tells the other nodes a commit is coming (delivered at commit) */
  STMT_COPY_FIXUP, /* after a copy: id sequences past the copied ids */
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
  STMT_AUDIT_PAGE,     /* verify's walk: records after a seq, in order */
  STMT_AUDIT_META,     /* the key id and the database's id */
  STMT_AUDIT_META_SET, /* records them for a new audit log */
  STMT_AUDIT_META_LOCK,
  STMT_BEGIN,      /* a write transaction */
  STMT_BEGIN_READ, /* a read transaction with one snapshot throughout */
  STMT_WRITE_LOCK, /* first in every write transaction: serializes writers across processes */
  STMT_COMMIT,
  STMT_ROLLBACK,
  STMT_SAVEPOINT,
  STMT_RELEASE,
  STMT_ROLLBACK_TO,
  STMT_COUNT
};

/* A statement's parameter; $n is params[n - 1]. */
struct param {
  enum { PARAM_NULL, PARAM_INT, PARAM_TEXT, PARAM_BLOB } type;
  int64_t i;
  const void *p;
  int len;
};
#define PARAM_I(v) ((struct param){PARAM_INT, (v), NULL, 0})
#define PARAM_T(v) ((struct param){PARAM_TEXT, 0, (v), -1})
#define PARAM_B(v, n) ((struct param){PARAM_BLOB, 0, (v), (n)})
/* An id, or NULL for 0 (no owner): the tables' checks tell token kinds apart by NULLs. */
#define PARAM_ID(v) ((v) ? PARAM_I(v) : (struct param){PARAM_NULL, 0, NULL, 0})

struct sql_conn;
struct sql_row;

enum sql_type { SQL_NULL, SQL_INTEGER, SQL_TEXT, SQL_BLOB, SQL_OTHER };

/* One statement of a chain (sql_chain): run as sql_exec runs it, each row handed to each (when
 * not NULL); with rows > 0, as run_rows runs it, n being then the columns of a row. */
struct sql_step {
  enum stmt_id id;
  const struct param *params;
  int n, rows;
  void (*each)(const struct sql_row *row, void *arg);
  void *arg;
};
#define SQL_STEP(stmt) ((struct sql_step){.id = (stmt)})
#define SQL_CHAIN_MAX 16

/* The driver of a backend: how to run a statement on one of its connections and read a row. */
struct sql_driver {
  /* Runs statement id; calls each(row, arg) for every row when each is not NULL, and reports the
   * rows a write changed in *changed when not NULL. TE_OK, TE_CONFLICT for a constraint,
   * TE_UNAVAILABLE when the database cannot be reached or is busy, else TE_INTERNAL (logged). */
  int (*run)(struct sql_conn *c, enum stmt_id id, const struct param *params, int n,
             void (*each)(const struct sql_row *row, void *arg), void *arg, int64_t *changed);
  /* The same for SQL text built at run time (the copy between stores), parameters written as
   * <param_prefix>1, <param_prefix>2, ... */
  int (*run_text)(struct sql_conn *c, const char *sql, const struct param *params, int n,
                  void (*each)(const struct sql_row *row, void *arg), void *arg, int64_t *changed);
  char param_prefix;
  /* Runs a one-row INSERT statement for `rows` rows of `columns` parameters each (params holds
   * them row after row), as one statement where the backend gains by it (PostgreSQL: one round
   * trip for a batch), else row by row. */
  int (*run_rows)(struct sql_conn *c, enum stmt_id id, const struct param *params, int columns,
                  int rows);
  /* Runs up to SQL_CHAIN_MAX steps in one round trip (PostgreSQL's pipeline), stopping at the
   * first that fails: its code, as run's; none after it is run. NULL: sql_chain runs them one
   * by one (SQLite, in the process, has no round trips to save). */
  int (*run_chain)(struct sql_conn *c, const struct sql_step *steps, int count);
  enum sql_type (*type)(const struct sql_row *r, int col);
  int64_t (*integer)(const struct sql_row *r, int col); /* booleans read as 0 or 1 */
  /* A text column's bytes (NUL-terminated, valid while the row is) and length. */
  const char *(*text)(const struct sql_row *r, int col, size_t *len);
  /* A blob column copied into dst when it is exactly len bytes long. */
  bool (*blob)(const struct sql_row *r, int col, void *dst, size_t len);
};

struct sql_conn {
  const struct sql_driver *driver;
};

struct sql_row {
  const struct sql_driver *driver;
  void *native; /* the backend's own: an sqlite3_stmt, a PGresult */
  int index;    /* the row's number in a PGresult */
};

typedef void (*row_reader)(const struct sql_row *row, void *out);

/* A row_reader for a query of one integer (a count, an id): column 0 into an int64_t. */
void read_int64(const struct sql_row *row, void *out);

/* Reading a row. */
int64_t row_int(const struct sql_row *r, int col);
void row_text(const struct sql_row *r, int col, char *dst, size_t size); /* truncates safely */
char *row_text_dup(const struct sql_row *r, int col);                    /* malloc'd */
bool row_blob(const struct sql_row *r, int col, void *dst, size_t len);
/* For the audit verifier: the value exactly as stored (of the right type, fitting, no NUL). */
bool row_strict_text(const struct sql_row *r, int col, char *dst, size_t size);
bool row_strict_flag(const struct sql_row *r, int col, bool *out);
bool row_strict_int(const struct sql_row *r, int col, int64_t *out);

/* Running statements on a connection. */
int sql_exec(struct sql_conn *c, enum stmt_id id, const struct param *p, int n);
/* A write; with must_change, one that changed no row is TE_NOT_FOUND. */
int sql_write(struct sql_conn *c, enum stmt_id id, const struct param *p, int n, bool must_change);
/* Steps in order, stopping at the first that fails (its code); where the backend can, in one
 * round trip: the writer's transaction (BEGIN, lock, inserts, COMMIT) and a read of the change
 * feed each cost one wait for the database, not one a statement. */
int sql_chain(struct sql_conn *c, const struct sql_step *steps, int count);
/* A step whose rows are read into a growing malloc'd array, as sql_all reads them: into->items
 * (char *: count items of item_size; NULL when there were none) is the caller's to free. */
struct sql_all_rows {
  row_reader read;
  size_t item_size, count, cap;
  char *items;
};
struct sql_step sql_all_step(enum stmt_id id, const struct param *p, int n,
                             struct sql_all_rows *into);
/* The first row read into out; TE_NOT_FOUND when there is none. */
int sql_one(struct sql_conn *c, enum stmt_id id, const struct param *p, int n, row_reader read,
            void *out);
/* Every row into a malloc'd array of item_size items. */
int sql_all(struct sql_conn *c, enum stmt_id id, const struct param *p, int n, size_t item_size,
            row_reader read, void **out, size_t *count);

/* The group-commit writer: one connection, one thread; jobs queued while a commit is in flight
 * share the next commit. */
struct write_job {
  /* Runs the job's statements inside the batch's transaction. */
  int (*apply)(struct sql_conn *c, struct write_job *job);
  /* A job that only inserts this token (or, with apply NULL, nothing) and its audit record: the
   * writer may insert it with the batch's others in one statement (sql_writer.c's fast path). */
  const struct store_token *insert_only;
  /* With insert_only: the token is an OIDC exchange's. Its name is reserved in its organization
   * first (unless it is personal), and its issuer's last use noted, which must find the issuer:
   * what apply does, done for the whole batch at once on the fast path. */
  bool oidc_exchange;
  store_done_fn done;
  void *arg;
  struct write_job *next;
  bool has_audit; /* then `audit` is appended in the same savepoint: both land or neither */
  /* More records after `audit`, in the same savepoint (malloc'd; the writer frees them). */
  struct audit_record *more_audits;
  size_t more_audit_count;
  bool unchanged; /* set by apply when the job turned out to change nothing: nothing to record */
  struct audit_record audit;
};

struct writer;
struct sql_store;

/* What a backend provides beyond its driver: connections for reads (any thread) and for the
 * writer (its thread only), and its own teardown. */
struct sql_backend {
  int (*reader_acquire)(struct sql_store *s, struct sql_conn **out);
  void (*reader_release)(struct sql_store *s, struct sql_conn *c);
  /* The writer's connection for the next batch (reconnecting if it was lost); released after. */
  int (*writer_acquire)(struct sql_store *s, struct sql_conn **out);
  void (*writer_release)(struct sql_store *s, struct sql_conn *c);
  /* Starts whatever tells this node of other nodes' commits (PostgreSQL: a LISTEN thread) once a
   * watcher is registered; NULL when the cache's polling is all there is. */
  void (*announce_start)(struct sql_store *s);
  void (*close)(struct sql_store *s); /* frees the backend's part, then the struct */
};

struct sql_store {
  struct store base;
  const struct sql_backend *backend;
  unsigned char secret[32];      /* HMAC(audit key, "tessera-secrets"): derive_secret's root */
  char head_path[PATH_MAX + 64]; /* the audit log's head file */
  struct writer *writer;
  void (*watch_fn)(void *arg); /* the cache's feed reader, called after each commit */
  void *watch_arg;
};

/* The shared part of opening a store, after the backend has made its connections and migrated:
 * sets up the audit key (key_path; head_path, or NULL to name it after the database's id beside
 * the key) on conn, then the ops table and the writer. On failure the caller closes. */
int sql_store_start(struct sql_store *s, struct sql_conn *conn, const char *key_path,
                    const char *head_path);
/* Stops the writer (committing what is queued) and wipes the secret; the backend closes after. */
void sql_store_stop(struct sql_store *s);

int writer_start(struct sql_store *s, const unsigned char audit_key[AUDIT_KEY_LEN],
                 struct writer **out);
/* Queues a malloc'd job (its struct write_job first); the writer frees it after done() runs. */
void writer_submit(struct writer *w, struct write_job *job);
/* Queues the job and waits until it is durable; returns its result. */
int writer_submit_wait(struct writer *w, struct write_job *job);
/* Commits everything queued, then stops the thread. */
void writer_stop(struct writer *w);

/* A read on a reader connection: read_one reads at most one row into out (TE_NOT_FOUND when
 * none); read_all every row into a malloc'd array. */
int sql_read_one(struct store *store, enum stmt_id id, const struct param *params, int n,
                 row_reader read, void *out);
int sql_read_all(struct store *store, enum stmt_id id, const struct param *params, int n,
                 size_t item_size, row_reader read, void **out, size_t *count);

/* The store's operations, shared by the backends (sql_*.c). */
extern const struct store_ops sql_store_ops;

/* Shared helpers of the sql_*.c files. */
void *job_new(size_t size, int (*apply)(struct sql_conn *, struct write_job *));
void job_attach_audit(struct write_job *job, const struct audit_record *audit);
int sql_submit(struct store *store, struct write_job *job, store_done_fn done, void *arg);
/* Reads user columns (id, uuid, login, name, email, site_admin) starting at col. */
void read_user_columns(const struct sql_row *r, int col, struct store_user *u);
/* Reads user columns then role and created (ORG_MEMBERS, TEAM_MEMBERS) into a store_member. */
void read_member_row(const struct sql_row *r, void *item);
/* The parameters of STMT_TOKEN_INSERT (17 of them) from a token. */
void token_insert_params(const struct store_token *t, struct param p[17]);
/* TE_OK when the actor (NULL: offline admin) may change org_id (team_id for ACTOR_TEAM_ADMIN), as
 * of the transaction this runs in; TE_FORBIDDEN otherwise. */
int actor_check(struct sql_conn *c, const struct store_actor *actor, int64_t org_id,
                int64_t team_id);
/* The role column of a (scope, user) lookup (org or team membership): TE_NOT_FOUND when none. */
int role_in_txn(struct sql_conn *c, enum stmt_id id, int64_t scope_id, int64_t user_id, char *role);
int sql_lookup_role(struct store *store, enum stmt_id id, int64_t scope_id, int64_t user_id,
                    char *role);
/* Claims an org or team token's name for good: TE_CONFLICT when taken. */
int reserve_token_name(struct sql_conn *c, int64_t org_id, const char *name);

/* The audit log (sql_audit.c). */
/* Loads the audit key from key_path for the database open on c, making it for a database whose
 * log has no key yet; refuses a missing key, one others can read, or another database's key.
 * The database's id (32 hex digits) into db_id. */
int audit_key_setup(struct sql_conn *c, const char *key_path, unsigned char key[AUDIT_KEY_LEN],
                    char db_id[33]);
#define AUDIT_ROW_PARAMS 12
/* The log's last record (seq 0 and zeros when it has none), read inside the writer's
 * transaction, which holds the write lock: nobody else appends meanwhile. */
int audit_tail_read(struct sql_conn *c, int64_t *seq, unsigned char chain[32]);
/* The same read as a step of a chain, into *out (left as it is, zeros, when the log is empty). */
struct audit_tail_row {
  int64_t seq;
  unsigned char chain[32];
};
struct sql_step audit_tail_step(struct audit_tail_row *out);
/* The next record after *seq (whose chain value is prev): its chain value into chain and the
 * parameters of STMT_AUDIT_INSERT into p (pointing into a and chain); moves *seq on. */
int audit_row(const unsigned char key[AUDIT_KEY_LEN], int64_t *seq, const unsigned char prev[32],
              const struct audit_record *a, unsigned char chain[32],
              struct param p[AUDIT_ROW_PARAMS]);
/* Appends a record chained to the last one, inside the writer's transaction; returns its seq and
 * chain value for the head file. */
int audit_insert(struct sql_conn *c, const unsigned char key[AUDIT_KEY_LEN],
                 const struct audit_record *audit, int64_t *seq, unsigned char chain[32]);
/* Walks the whole log on c through the verifier (store_audit_verify's common part). */
int audit_verify_on(struct sql_conn *c, const char *key_path, const char *head_path, int64_t *count,
                    char *report, size_t report_size);
/* The head file of a database whose head is named after its id: beside the key. */
int audit_head_beside_key(const char *key_path, const char *db_id, char *out, size_t size);

/* The operations of sql_store_ops, by file. */
/* sql_writes.c */
int sql_user_create(struct store *store, const struct store_user *user, struct store_user *out);
int sql_user_password_hash(struct store *store, const char *login, char *out);
int sql_sessions_purge(struct store *store, int64_t now);
int sql_user_set_password_hash(struct store *store, const char *login, const char *hash);
int sql_org_create(struct store *store, const char *name);
int sql_member_set(struct store *store, const char *org, const char *login, const char *role);
int sql_token_insert(struct store *store, const struct store_token *token,
                     const struct audit_record *audit, store_done_fn done, void *arg);
int sql_token_delete(struct store *store, int64_t user_id, const char *token_id,
                     const struct audit_record *audit, store_done_fn done, void *arg);
int sql_audit_append(struct store *store, const struct audit_record *audit, store_done_fn done,
                     void *arg);
int sql_tokens_touch(struct store *store, const struct store_last_used *updates, size_t count);
/* sql_audit.c */
int sql_audit_list(struct store *store, const struct store_audit_query *query,
                   struct store_audit_record **out, size_t *count);
/* sql_machine_tokens.c */
int sql_machine_token_insert(struct store *store, const struct store_actor *actor,
                             const struct store_token *token, const struct audit_record *audit);
int sql_token_revoke(struct store *store, const struct store_token *token,
                     const struct audit_record *audits, size_t count);
int sql_machine_token_delete(struct store *store, const struct store_actor *actor, int64_t org_id,
                             int64_t team_id, const char *token_id,
                             const struct audit_record *audit);
int sql_org_set_expiry_policy(struct store *store, const struct store_actor *actor, int64_t org_id,
                              int days, const struct audit_record *audit);
int sql_org_member_count(struct store *store, int64_t org_id, int64_t *out);
/* sql_oidc.c */
int sql_oidc_issuer_insert(struct store *store, const struct store_actor *actor,
                           const struct store_oidc_issuer *issuer,
                           const struct audit_record *audit);
int sql_oidc_issuer_update(struct store *store, const struct store_actor *actor,
                           const struct store_oidc_issuer *issuer,
                           const struct audit_record *audit);
int sql_oidc_issuer_set_keys(struct store *store, const struct store_oidc_issuer *was,
                             const char *jwks, int64_t modified);
int sql_oidc_issuer_delete(struct store *store, const struct store_actor *actor, int64_t org_id,
                           const char *id, const struct audit_record *audit);
int sql_oidc_policy_update(struct store *store, const struct store_actor *actor, int64_t org_id,
                           const char *policy_id, const char *policy,
                           const struct audit_record *audit);
int sql_oidc_issuer_get(struct store *store, int64_t org_id, const char *id,
                        struct store_oidc_issuer *out);
int sql_oidc_issuer_by_policy(struct store *store, int64_t org_id, const char *policy_id,
                              struct store_oidc_issuer *out);
int sql_oidc_issuer_by_iss(struct store *store, int64_t org_id, const char *iss,
                           struct store_oidc_issuer *out);
int sql_oidc_issuers_list(struct store *store, int64_t org_id, struct store_oidc_issuer **out,
                          size_t *count);
int sql_oidc_token_insert(struct store *store, const struct store_token *token,
                          const struct audit_record *audit, store_done_fn done, void *arg);
/* sql_orgs.c */
int sql_org_by_name(struct store *store, const char *name, struct store_org *out);
int sql_org_role(struct store *store, int64_t org_id, int64_t user_id, char *role);
int sql_org_members(struct store *store, int64_t org_id, int64_t after_user_id, int limit,
                    struct store_member **out, size_t *count);
int sql_org_member_add(struct store *store, const struct store_actor *actor, int64_t org_id,
                       int64_t user_id, const char *role, const struct audit_record *audit);
int sql_org_member_update(struct store *store, const struct store_actor *actor, int64_t org_id,
                          int64_t user_id, const char *role, const struct audit_record *audit);
int sql_org_member_remove(struct store *store, const struct store_actor *actor, int64_t org_id,
                          int64_t user_id, const struct audit_record *audit);
/* sql_teams.c */
int sql_teams_list(struct store *store, int64_t org_id, struct store_team **out, size_t *count);
int sql_team_get(struct store *store, int64_t org_id, const char *name, struct store_team *out);
int sql_team_members(struct store *store, int64_t team_id, struct store_member **out,
                     size_t *count);
int sql_team_role(struct store *store, int64_t team_id, int64_t user_id, char *role);
int sql_team_create(struct store *store, const struct store_actor *actor, int64_t org_id,
                    const struct store_team *team, const struct audit_record *audit);
int sql_team_update(struct store *store, const struct store_actor *actor, int64_t org_id,
                    int64_t team_id, const struct store_team_update *update,
                    const struct audit_record *audit);
int sql_team_delete(struct store *store, const struct store_actor *actor, int64_t org_id,
                    int64_t team_id, const struct audit_record *audit);

#endif
