#include "store/sqlite_internal.h"

#include "core/error.h"
#include "core/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every write runs on the writer thread as a job, so that concurrent writes share one commit. */

void *job_new(size_t size, int (*apply)(struct conn *, struct write_job *)) {
  struct write_job *job = calloc(1, size);
  if (!job)
    abort();
  job->apply = apply;
  return job;
}

/* Steps a bound write statement once; with must_change, a statement that touched no row is
 * TE_NOT_FOUND. */
int step_write(struct conn *c, sqlite3_stmt *st, bool must_change, const char *what) {
  int step = sqlite3_step(st);
  sqlite3_reset(st);
  if (step != SQLITE_DONE)
    return conn_error(c, step, what);
  return must_change && sqlite3_changes(c->db) == 0 ? TE_NOT_FOUND : TE_OK;
}

void job_attach_audit(struct write_job *job, const struct audit_record *audit) {
  if (audit) {
    job->audit = *audit;
    job->has_audit = true;
  }
}

static int submit(struct sqlite_store *s, struct write_job *job, store_done_fn done, void *arg) {
  if (!done)
    return writer_submit_wait(s->writer, job);
  job->done = done;
  job->arg = arg;
  writer_submit(s->writer, job);
  return TE_OK;
}

struct user_job {
  struct write_job job;
  struct store_user user;
  struct store_user *out; /* the waiting caller's; valid because user_create is synchronous */
};

static int apply_user_create(struct conn *c, struct write_job *job) {
  struct user_job *uj = (struct user_job *)job;
  struct store_user *u = &uj->user;
  sqlite3_stmt *st = conn_stmt(c, STMT_USER_INSERT);
  if (!st)
    return TE_INTERNAL;
  token_new_id(u->uuid);
  sqlite3_bind_text(st, 1, u->uuid, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, u->login, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, u->name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, u->email, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 5, u->site_admin);
  sqlite3_bind_int64(st, 6, time_now());
  int rc = step_write(c, st, false, "user insert");
  if (rc == TE_OK && uj->out) {
    u->id = sqlite3_last_insert_rowid(c->db);
    *uj->out = *u;
  }
  return rc;
}

int sqlite_user_create(struct store *store, const struct store_user *user, struct store_user *out) {
  struct user_job *job = job_new(sizeof *job, apply_user_create);
  job->user = *user;
  job->out = out;
  return writer_submit_wait(((struct sqlite_store *)store)->writer, &job->job);
}

struct org_job {
  struct write_job job;
  char name[LOGIN_MAX + 1];
};

static int apply_org_create(struct conn *c, struct write_job *job) {
  sqlite3_stmt *st = conn_stmt(c, STMT_ORG_INSERT);
  if (!st)
    return TE_INTERNAL;
  sqlite3_bind_text(st, 1, ((struct org_job *)job)->name, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, time_now());
  return step_write(c, st, false, "org insert");
}

int sqlite_org_create(struct store *store, const char *name) {
  struct org_job *job = job_new(sizeof *job, apply_org_create);
  snprintf(job->name, sizeof job->name, "%s", name);
  return writer_submit_wait(((struct sqlite_store *)store)->writer, &job->job);
}

struct member_job {
  struct write_job job;
  char org[LOGIN_MAX + 1];
  char login[LOGIN_MAX + 1];
  char role[16];
};

static int apply_member_set(struct conn *c, struct write_job *job) {
  struct member_job *mj = (struct member_job *)job;
  sqlite3_stmt *st = conn_stmt(c, STMT_MEMBER_SET);
  if (!st)
    return TE_INTERNAL;
  sqlite3_bind_text(st, 1, mj->org, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, mj->login, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, mj->role, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, time_now());
  return step_write(c, st, true, "membership upsert");
}

int sqlite_member_set(struct store *store, const char *org, const char *login, const char *role) {
  struct member_job *job = job_new(sizeof *job, apply_member_set);
  snprintf(job->org, sizeof job->org, "%s", org);
  snprintf(job->login, sizeof job->login, "%s", login);
  snprintf(job->role, sizeof job->role, "%s", role);
  return writer_submit_wait(((struct sqlite_store *)store)->writer, &job->job);
}

struct token_job {
  struct write_job job;
  struct store_token token;
};

/* NULL for an absent (0) owner id: the table's checks tell the kinds apart by NULLs. */
static void bind_id_or_null(sqlite3_stmt *st, int col, int64_t id) {
  if (id)
    sqlite3_bind_int64(st, col, id);
  else
    sqlite3_bind_null(st, col);
}

void bind_token_insert(sqlite3_stmt *st, const struct store_token *t) {
  sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 2, t->hash, TOKEN_HASH_LEN, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, token_kind_name(t->kind), -1, SQLITE_STATIC);
  bind_id_or_null(st, 4, t->user_id);
  bind_id_or_null(st, 5, t->org_id);
  bind_id_or_null(st, 6, t->team_id);
  sqlite3_bind_text(st, 7, t->name, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 8, t->admin);
  sqlite3_bind_text(st, 9, t->description, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 10, t->created_by, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 11, t->created);
  sqlite3_bind_int64(st, 12, t->expires);
  sqlite3_bind_text(st, 13, t->oidc_issuer, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 14, token_source_name(t->source), -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 15, t->parent_seq);
  sqlite3_bind_int(st, 16, t->manage_access);
  sqlite3_bind_text(st, 17, t->reason, -1, SQLITE_STATIC);
}

struct purge_job {
  struct write_job job;
  int64_t now;
};

static int apply_sessions_purge(struct conn *c, struct write_job *job) {
  sqlite3_stmt *st = conn_stmt(c, STMT_SESSIONS_PURGE);
  if (!st)
    return TE_INTERNAL;
  sqlite3_bind_int64(st, 1, ((struct purge_job *)job)->now);
  return step_write(c, st, false, "session purge");
}

int sqlite_sessions_purge(struct store *store, int64_t now) {
  struct purge_job *job = job_new(sizeof *job, apply_sessions_purge);
  job->now = now;
  return writer_submit_wait(((struct sqlite_store *)store)->writer, &job->job);
}

static void read_password(sqlite3_stmt *st, void *out) {
  column_text(st, 0, out, PASSWORD_HASH_MAX + 1);
}

int sqlite_user_password_hash(struct store *store, const char *login, char *out) {
  struct param p[] = {PARAM_T(login)};
  return sqlite_read_one(store, STMT_USER_PASSWORD, p, 1, read_password, out);
}

struct password_job {
  struct write_job job;
  char login[LOGIN_MAX + 1];
  char hash[PASSWORD_HASH_MAX + 1];
};

static int apply_set_password(struct conn *c, struct write_job *job) {
  struct password_job *pj = (struct password_job *)job;
  sqlite3_stmt *st = conn_stmt(c, STMT_USER_SET_PASSWORD);
  if (!st)
    return TE_INTERNAL;
  sqlite3_bind_text(st, 1, pj->login, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, pj->hash, -1, SQLITE_STATIC);
  int rc = step_write(c, st, true, "password update");
  if (rc || !(st = conn_stmt(c, STMT_USER_SESSIONS_END)))
    return rc ? rc : TE_INTERNAL;
  sqlite3_bind_text(st, 1, pj->login, -1, SQLITE_STATIC);
  return step_write(c, st, false, "ending sessions");
}

int sqlite_user_set_password_hash(struct store *store, const char *login, const char *hash) {
  if (strlen(hash) > PASSWORD_HASH_MAX)
    return TE_BAD_REQUEST;
  struct password_job *job = job_new(sizeof *job, apply_set_password);
  snprintf(job->login, sizeof job->login, "%s", login);
  snprintf(job->hash, sizeof job->hash, "%s", hash);
  return writer_submit_wait(((struct sqlite_store *)store)->writer, &job->job);
}

static int apply_token_insert(struct conn *c, struct write_job *job) {
  const struct store_token *t = &((struct token_job *)job)->token;
  sqlite3_stmt *st = conn_stmt(c, STMT_TOKEN_INSERT);
  if (!st)
    return TE_INTERNAL;
  bind_token_insert(st, t);
  return step_write(c, st, false, "token insert");
}

int sqlite_token_insert(struct store *store, const struct store_token *token,
                        const struct audit_record *audit, store_done_fn done, void *arg) {
  struct token_job *job = job_new(sizeof *job, apply_token_insert);
  job->token = *token;
  job_attach_audit(&job->job, audit);
  return submit((struct sqlite_store *)store, &job->job, done, arg);
}

struct delete_job {
  struct write_job job;
  int64_t user_id;
  char token_id[TOKEN_ID_LEN + 1];
};

static int apply_token_delete(struct conn *c, struct write_job *job) {
  struct delete_job *dj = (struct delete_job *)job;
  sqlite3_stmt *st = conn_stmt(c, STMT_TOKEN_DELETE);
  if (!st)
    return TE_INTERNAL;
  sqlite3_bind_int64(st, 1, dj->user_id);
  sqlite3_bind_text(st, 2, dj->token_id, -1, SQLITE_STATIC);
  return step_write(c, st, true, "token delete");
}

int sqlite_token_delete(struct store *store, int64_t user_id, const char *token_id,
                        const struct audit_record *audit, store_done_fn done, void *arg) {
  struct delete_job *job = job_new(sizeof *job, apply_token_delete);
  job_attach_audit(&job->job, audit);
  job->user_id = user_id;
  snprintf(job->token_id, sizeof job->token_id, "%s", token_id);
  return submit((struct sqlite_store *)store, &job->job, done, arg);
}

struct touch_job {
  struct write_job job;
  size_t count;
  struct store_last_used updates[]; /* copied, so the caller may reuse its array at once */
};

static int apply_tokens_touch(struct conn *c, struct write_job *job) {
  struct touch_job *tj = (struct touch_job *)job;
  for (size_t i = 0; i < tj->count; i++) {
    sqlite3_stmt *st = conn_stmt(c, STMT_TOKEN_TOUCH);
    if (!st)
      return TE_INTERNAL;
    sqlite3_bind_int64(st, 1, tj->updates[i].seq);
    sqlite3_bind_int64(st, 2, tj->updates[i].last_used);
    int rc = step_write(c, st, false, "last-used update");
    if (rc)
      return rc;
  }
  return TE_OK;
}

int sqlite_tokens_touch(struct store *store, const struct store_last_used *updates, size_t count) {
  struct touch_job *job = job_new(sizeof *job + count * sizeof job->updates[0], apply_tokens_touch);
  job->count = count;
  memcpy(job->updates, updates, count * sizeof updates[0]);
  return writer_submit_wait(((struct sqlite_store *)store)->writer, &job->job);
}

int sqlite_audit_append(struct store *store, const struct audit_record *audit, store_done_fn done,
                        void *arg) {
  struct write_job *job = job_new(sizeof *job, NULL); /* no change: only the record */
  job_attach_audit(job, audit);
  return submit((struct sqlite_store *)store, job, done, arg);
}
