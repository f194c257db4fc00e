/* Organization and team tokens, and the organization's token-lifetime policy, in the SQLite
 * backend. Like the other organization writes these are synchronous and re-check the actor's
 * rights inside the transaction that makes the change. */

#include "store/sqlite_internal.h"

#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct machine_job {
  struct write_job job;
  bool has_actor;
  struct store_actor actor;
  int64_t org_id;
  int64_t team_id;
  struct store_token token;        /* insert */
  char token_id[TOKEN_ID_LEN + 1]; /* delete */
  int days;                        /* policy */
};

static struct machine_job *machine_job_new(int (*apply)(struct conn *, struct write_job *),
                                           const struct store_actor *actor, int64_t org_id,
                                           int64_t team_id, const struct audit_record *audit) {
  struct machine_job *m = job_new(sizeof *m, apply);
  if ((m->has_actor = actor != NULL))
    m->actor = *actor;
  m->org_id = org_id;
  m->team_id = team_id;
  job_attach_audit(&m->job, audit);
  return m;
}

static int check_actor(struct conn *c, struct machine_job *m) {
  return actor_check(c, m->has_actor ? &m->actor : NULL, m->org_id, m->team_id);
}

/* TE_NOT_FOUND when the team is gone (deleted since the request looked it up). */
static int team_exists(struct conn *c, int64_t team_id, int64_t org_id) {
  sqlite3_stmt *st = conn_stmt(c, STMT_TEAM_IN_ORG);
  if (!st)
    return TE_INTERNAL;
  sqlite3_bind_int64(st, 1, team_id);
  sqlite3_bind_int64(st, 2, org_id);
  int step = sqlite3_step(st);
  sqlite3_reset(st);
  if (step == SQLITE_ROW)
    return TE_OK;
  return step == SQLITE_DONE ? TE_NOT_FOUND : conn_error(c, step, "team lookup");
}

/* Claims the name for good: TE_CONFLICT when any token of the organization ever had it. */
int reserve_token_name(struct conn *c, int64_t org_id, const char *name) {
  sqlite3_stmt *st = conn_stmt(c, STMT_TOKEN_NAME_RESERVE);
  if (!st)
    return TE_INTERNAL;
  sqlite3_bind_int64(st, 1, org_id);
  sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
  return step_write(c, st, false, "token name reservation");
}

/* A token made by another token that is not a person's own lives no longer than its maker, which
 * must still exist (TE_FORBIDDEN) and expire no sooner (TE_BAD_REQUEST). */
static int within_parent(struct conn *c, const struct store_token *t) {
  if (!t->parent_seq)
    return TE_OK;
  sqlite3_stmt *st = conn_stmt(c, STMT_TOKEN_EXPIRES);
  if (!st)
    return TE_INTERNAL;
  sqlite3_bind_int64(st, 1, t->parent_seq);
  int step = sqlite3_step(st);
  int64_t bound = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
  sqlite3_reset(st);
  if (step == SQLITE_DONE)
    return TE_FORBIDDEN;
  if (step != SQLITE_ROW)
    return conn_error(c, step, "parent token lookup");
  return bound && (!t->expires || t->expires > bound) ? TE_BAD_REQUEST : TE_OK;
}

static int apply_machine_token_insert(struct conn *c, struct write_job *job) {
  struct machine_job *m = (struct machine_job *)job;
  int rc = check_actor(c, m);
  if (rc == TE_OK)
    rc = within_parent(c, &m->token);
  if (rc == TE_OK && m->team_id)
    rc = team_exists(c, m->team_id, m->org_id);
  if (rc == TE_OK)
    rc = reserve_token_name(c, m->org_id, m->token.name);
  if (rc)
    return rc;
  sqlite3_stmt *st = conn_stmt(c, STMT_TOKEN_INSERT);
  if (!st)
    return TE_INTERNAL;
  bind_token_insert(st, &m->token);
  rc = step_write(c, st, false, "token insert");
  /* The name is free (checked above), so a conflict here is an id or hash collision: not the
   * caller's doing, and not to be reported as a taken name. */
  return rc == TE_CONFLICT ? TE_INTERNAL : rc;
}

int sqlite_machine_token_insert(struct store *store, const struct store_actor *actor,
                                const struct store_token *token, const struct audit_record *audit) {
  if (token->kind == TOKEN_PERSONAL || !token->org_id ||
      (token->kind == TOKEN_TEAM) != !!token->team_id)
    return TE_INTERNAL;
  struct machine_job *m =
      machine_job_new(apply_machine_token_insert, actor, token->org_id, token->team_id, audit);
  m->token = *token;
  return writer_submit_wait(((struct sqlite_store *)store)->writer, &m->job);
}

static int apply_machine_token_delete(struct conn *c, struct write_job *job) {
  struct machine_job *m = (struct machine_job *)job;
  int rc = check_actor(c, m);
  sqlite3_stmt *st = rc ? NULL : conn_stmt(c, STMT_MACHINE_TOKEN_DELETE);
  if (!st)
    return rc ? rc : TE_INTERNAL;
  sqlite3_bind_int64(st, 1, m->org_id);
  sqlite3_bind_int64(st, 2, m->team_id);
  sqlite3_bind_text(st, 3, m->token_id, -1, SQLITE_STATIC);
  return step_write(c, st, true, "token delete");
}

int sqlite_machine_token_delete(struct store *store, const struct store_actor *actor,
                                int64_t org_id, int64_t team_id, const char *token_id,
                                const struct audit_record *audit) {
  struct machine_job *m =
      machine_job_new(apply_machine_token_delete, actor, org_id, team_id, audit);
  snprintf(m->token_id, sizeof m->token_id, "%s", token_id);
  return writer_submit_wait(((struct sqlite_store *)store)->writer, &m->job);
}

static int current_policy(struct conn *c, int64_t org_id, int *days) {
  sqlite3_stmt *st = conn_stmt(c, STMT_ORG_EXPIRY_POLICY);
  if (!st)
    return TE_INTERNAL;
  sqlite3_bind_int64(st, 1, org_id);
  int step = sqlite3_step(st);
  if (step == SQLITE_ROW)
    *days = sqlite3_column_int(st, 0);
  sqlite3_reset(st);
  if (step == SQLITE_ROW)
    return TE_OK;
  return step == SQLITE_DONE ? TE_NOT_FOUND : conn_error(c, step, "policy lookup");
}

static int apply_set_expiry_policy(struct conn *c, struct write_job *job) {
  struct machine_job *m = (struct machine_job *)job;
  int was = 0, rc = check_actor(c, m);
  if (rc || (rc = current_policy(c, m->org_id, &was)) != 0)
    return rc;
  if (was == m->days) {
    job->unchanged = true;
    return TE_OK;
  }
  sqlite3_stmt *st = conn_stmt(c, STMT_ORG_SET_EXPIRY_POLICY);
  if (!st)
    return TE_INTERNAL;
  sqlite3_bind_int64(st, 1, m->org_id);
  sqlite3_bind_int(st, 2, m->days);
  return step_write(c, st, true, "policy update");
}

int sqlite_org_set_expiry_policy(struct store *store, const struct store_actor *actor,
                                 int64_t org_id, int days, const struct audit_record *audit) {
  if (days < 0 || days > EXPIRY_POLICY_DAYS_MAX)
    return TE_BAD_REQUEST;
  struct machine_job *m = machine_job_new(apply_set_expiry_policy, actor, org_id, 0, audit);
  m->days = days;
  return writer_submit_wait(((struct sqlite_store *)store)->writer, &m->job);
}

static void read_count(sqlite3_stmt *st, void *out) {
  *(int64_t *)out = sqlite3_column_int64(st, 0);
}

int sqlite_org_member_count(struct store *store, int64_t org_id, int64_t *out) {
  struct param p[] = {PARAM_I(org_id)};
  return sqlite_read_one(store, STMT_ORG_MEMBER_COUNT, p, 1, read_count, out);
}
