/* The SQL stores' writes of users, organizations, memberships and personal tokens, and the
 * audit appends that go with no change. Every write runs on the writer thread as a job, so that
 * concurrent writes share one commit. */

#include "store/sql.h"

#include "core/error.h"
#include "core/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *job_new(size_t size, int (*apply)(struct sql_conn *, struct write_job *)) {
  struct write_job *job = calloc(1, size);
  if (!job)
    abort();
  job->apply = apply;
  return job;
}

void job_attach_audit(struct write_job *job, const struct audit_record *audit) {
  if (audit) {
    job->audit = *audit;
    job->has_audit = true;
  }
}

int sql_submit(struct store *store, struct write_job *job, store_done_fn done, void *arg) {
  struct writer *w = ((struct sql_store *)store)->writer;
  if (!done)
    return writer_submit_wait(w, job);
  job->done = done;
  job->arg = arg;
  writer_submit(w, job);
  return TE_OK;
}

struct user_job {
  struct write_job job;
  struct store_user user;
  struct store_user *out; /* the waiting caller's; valid because user_create is synchronous */
};

static int apply_user_create(struct sql_conn *c, struct write_job *job) {
  struct user_job *uj = (struct user_job *)job;
  struct store_user *u = &uj->user;
  token_new_id(u->uuid);
  struct param p[] = {PARAM_T(u->uuid),  PARAM_T(u->login),      PARAM_T(u->name),
                      PARAM_T(u->email), PARAM_I(u->site_admin), PARAM_I(time_now())};
  int rc = sql_one(c, STMT_USER_INSERT, p, 6, read_int64, &u->id); /* RETURNING id */
  if (rc == TE_OK && uj->out)
    *uj->out = *u;
  return rc == TE_NOT_FOUND ? TE_INTERNAL : rc;
}

int sql_user_create(struct store *store, const struct store_user *user, struct store_user *out) {
  struct user_job *job = job_new(sizeof *job, apply_user_create);
  job->user = *user;
  job->out = out;
  return sql_submit(store, &job->job, NULL, NULL);
}

struct org_job {
  struct write_job job;
  char name[LOGIN_MAX + 1];
};

static int apply_org_create(struct sql_conn *c, struct write_job *job) {
  struct param p[] = {PARAM_T(((struct org_job *)job)->name), PARAM_I(time_now())};
  return sql_write(c, STMT_ORG_INSERT, p, 2, false);
}

int sql_org_create(struct store *store, const char *name) {
  struct org_job *job = job_new(sizeof *job, apply_org_create);
  snprintf(job->name, sizeof job->name, "%s", name);
  return sql_submit(store, &job->job, NULL, NULL);
}

struct member_job {
  struct write_job job;
  char org[LOGIN_MAX + 1];
  char login[LOGIN_MAX + 1];
  char role[16];
};

static int apply_member_set(struct sql_conn *c, struct write_job *job) {
  struct member_job *mj = (struct member_job *)job;
  struct param p[] = {PARAM_T(mj->org), PARAM_T(mj->login), PARAM_T(mj->role), PARAM_I(time_now())};
  return sql_write(c, STMT_MEMBER_SET, p, 4, true);
}

int sql_member_set(struct store *store, const char *org, const char *login, const char *role) {
  struct member_job *job = job_new(sizeof *job, apply_member_set);
  snprintf(job->org, sizeof job->org, "%s", org);
  snprintf(job->login, sizeof job->login, "%s", login);
  snprintf(job->role, sizeof job->role, "%s", role);
  return sql_submit(store, &job->job, NULL, NULL);
}

void token_insert_params(const struct store_token *t, struct param p[17]) {
  p[0] = PARAM_T(t->id);
  p[1] = PARAM_B(t->hash, TOKEN_HASH_LEN);
  p[2] = PARAM_T(token_kind_name(t->kind));
  p[3] = PARAM_ID(t->user_id);
  p[4] = PARAM_ID(t->org_id);
  p[5] = PARAM_ID(t->team_id);
  p[6] = PARAM_T(t->name);
  p[7] = PARAM_I(t->admin);
  p[8] = PARAM_T(t->description);
  p[9] = PARAM_T(t->created_by);
  p[10] = PARAM_I(t->created);
  p[11] = PARAM_I(t->expires);
  p[12] = PARAM_T(t->oidc_issuer);
  p[13] = PARAM_T(token_source_name(t->source));
  p[14] = PARAM_I(t->parent_seq);
  p[15] = PARAM_I(t->manage_access);
  p[16] = PARAM_T(t->reason);
}

struct purge_job {
  struct write_job job;
  int64_t now;
};

static int apply_sessions_purge(struct sql_conn *c, struct write_job *job) {
  struct param p[] = {PARAM_I(((struct purge_job *)job)->now)};
  return sql_write(c, STMT_SESSIONS_PURGE, p, 1, false);
}

int sql_sessions_purge(struct store *store, int64_t now) {
  struct purge_job *job = job_new(sizeof *job, apply_sessions_purge);
  job->now = now;
  return sql_submit(store, &job->job, NULL, NULL);
}

static void read_password(const struct sql_row *r, void *out) {
  row_text(r, 0, out, PASSWORD_HASH_MAX + 1);
}

int sql_user_password_hash(struct store *store, const char *login, char *out) {
  struct param p[] = {PARAM_T(login)};
  return sql_read_one(store, STMT_USER_PASSWORD, p, 1, read_password, out);
}

struct password_job {
  struct write_job job;
  char login[LOGIN_MAX + 1];
  char hash[PASSWORD_HASH_MAX + 1];
};

/* A new (or no) password ends the user's console sessions. */
static int apply_set_password(struct sql_conn *c, struct write_job *job) {
  struct password_job *pj = (struct password_job *)job;
  struct param p[] = {PARAM_T(pj->login), PARAM_T(pj->hash)};
  int rc = sql_write(c, STMT_USER_SET_PASSWORD, p, 2, true);
  return rc ? rc : sql_write(c, STMT_USER_SESSIONS_END, p, 1, false);
}

int sql_user_set_password_hash(struct store *store, const char *login, const char *hash) {
  if (strlen(hash) > PASSWORD_HASH_MAX)
    return TE_BAD_REQUEST;
  struct password_job *job = job_new(sizeof *job, apply_set_password);
  snprintf(job->login, sizeof job->login, "%s", login);
  snprintf(job->hash, sizeof job->hash, "%s", hash);
  return sql_submit(store, &job->job, NULL, NULL);
}

struct token_job {
  struct write_job job;
  struct store_token token;
};

static int apply_token_insert(struct sql_conn *c, struct write_job *job) {
  struct param p[17];
  token_insert_params(&((struct token_job *)job)->token, p);
  return sql_write(c, STMT_TOKEN_INSERT, p, 17, false);
}

int sql_token_insert(struct store *store, const struct store_token *token,
                     const struct audit_record *audit, store_done_fn done, void *arg) {
  struct token_job *job = job_new(sizeof *job, apply_token_insert);
  job->token = *token;
  job->job.insert_only = &job->token;
  job_attach_audit(&job->job, audit);
  return sql_submit(store, &job->job, done, arg);
}

struct delete_job {
  struct write_job job;
  int64_t user_id;
  char token_id[TOKEN_ID_LEN + 1];
};

static int apply_token_delete(struct sql_conn *c, struct write_job *job) {
  struct delete_job *dj = (struct delete_job *)job;
  struct param p[] = {PARAM_I(dj->user_id), PARAM_T(dj->token_id)};
  return sql_write(c, STMT_TOKEN_DELETE, p, 2, true);
}

int sql_token_delete(struct store *store, int64_t user_id, const char *token_id,
                     const struct audit_record *audit, store_done_fn done, void *arg) {
  struct delete_job *job = job_new(sizeof *job, apply_token_delete);
  job_attach_audit(&job->job, audit);
  job->user_id = user_id;
  snprintf(job->token_id, sizeof job->token_id, "%s", token_id);
  return sql_submit(store, &job->job, done, arg);
}

struct touch_job {
  struct write_job job;
  size_t count;
  struct store_last_used updates[]; /* copied, so the caller may reuse its array at once */
};

#define TOUCHES_A_STATEMENT 5000

/* The uses as one statement a TOUCHES_A_STATEMENT of them, their (seq, lastUsed) pairs a JSON
 * array of integer pairs (STMT_TOKEN_TOUCH reads it with json_each or jsonb_array_elements):
 * with a million tokens in use, tens of thousands a second, which one statement each made a
 * round trip each on PostgreSQL. */
static int apply_tokens_touch(struct sql_conn *c, struct write_job *job) {
  struct touch_job *tj = (struct touch_job *)job;
  size_t cap = 2 + 44 * TOUCHES_A_STATEMENT; /* "[seq,time]," is at most 43 bytes */
  char *json = malloc(cap);
  if (!json)
    abort();
  int rc = TE_OK;
  for (size_t from = 0; rc == TE_OK && from < tj->count; from += TOUCHES_A_STATEMENT) {
    size_t to = from + TOUCHES_A_STATEMENT < tj->count ? from + TOUCHES_A_STATEMENT : tj->count;
    size_t used = 0;
    json[used++] = '[';
    for (size_t i = from; i < to; i++)
      used += (size_t)snprintf(json + used, cap - used, "%s[%lld,%lld]", i > from ? "," : "",
                               (long long)tj->updates[i].seq, (long long)tj->updates[i].last_used);
    json[used++] = ']';
    json[used] = '\0';
    struct param p[] = {PARAM_T(json)};
    rc = sql_write(c, STMT_TOKEN_TOUCH, p, 1, false);
  }
  free(json);
  return rc;
}

int sql_tokens_touch(struct store *store, const struct store_last_used *updates, size_t count) {
  struct touch_job *job = job_new(sizeof *job + count * sizeof job->updates[0], apply_tokens_touch);
  job->count = count;
  memcpy(job->updates, updates, count * sizeof updates[0]);
  return sql_submit(store, &job->job, NULL, NULL);
}

int sql_audit_append(struct store *store, const struct audit_record *audit, store_done_fn done,
                     void *arg) {
  struct write_job *job = job_new(sizeof *job, NULL); /* no change: only the record */
  job_attach_audit(job, audit);
  return sql_submit(store, job, done, arg);
}
