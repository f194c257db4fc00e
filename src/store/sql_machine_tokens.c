/* Organization and team tokens, and the organization's token-lifetime policy, in the SQL stores.
 * Like the other organization writes these are synchronous and re-check the actor's rights
 * inside the transaction that makes the change. */

#include "store/sql.h"

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

static struct machine_job *machine_job_new(int (*apply)(struct sql_conn *, struct write_job *),
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

static int check_actor(struct sql_conn *c, struct machine_job *m) {
  return actor_check(c, m->has_actor ? &m->actor : NULL, m->org_id, m->team_id);
}

static void read_nothing(const struct sql_row *r, void *out) {
  (void)r;
  (void)out;
}

/* TE_NOT_FOUND when the team is gone (deleted since the request looked it up). */
static int team_exists(struct sql_conn *c, int64_t team_id, int64_t org_id) {
  struct param p[] = {PARAM_I(team_id), PARAM_I(org_id)};
  return sql_one(c, STMT_TEAM_IN_ORG, p, 2, read_nothing, NULL);
}

/* Claims the name for good: TE_CONFLICT when any token of the organization ever had it. */
int reserve_token_name(struct sql_conn *c, int64_t org_id, const char *name) {
  struct param p[] = {PARAM_I(org_id), PARAM_T(name)};
  return sql_write(c, STMT_TOKEN_NAME_RESERVE, p, 2, false);
}

/* A token made by another token that is not a person's own lives no longer than its maker, which
 * must still exist (TE_FORBIDDEN) and expire no sooner (TE_BAD_REQUEST). */
static int within_parent(struct sql_conn *c, const struct store_token *t) {
  if (!t->parent_seq)
    return TE_OK;
  struct param p[] = {PARAM_I(t->parent_seq)};
  int64_t bound = 0;
  int rc = sql_one(c, STMT_TOKEN_EXPIRES, p, 1, read_int64, &bound);
  if (rc == TE_NOT_FOUND)
    return TE_FORBIDDEN;
  if (rc)
    return rc;
  return bound && (!t->expires || t->expires > bound) ? TE_BAD_REQUEST : TE_OK;
}

static int apply_machine_token_insert(struct sql_conn *c, struct write_job *job) {
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
  struct param p[17];
  token_insert_params(&m->token, p);
  rc = sql_write(c, STMT_TOKEN_INSERT, p, 17, false);
  /* The name is free (checked above), so a conflict here is an id or hash collision: not the
   * caller's doing, and not to be reported as a taken name. */
  return rc == TE_CONFLICT ? TE_INTERNAL : rc;
}

int sql_machine_token_insert(struct store *store, const struct store_actor *actor,
                             const struct store_token *token, const struct audit_record *audit) {
  if (token->kind == TOKEN_PERSONAL || !token->org_id ||
      (token->kind == TOKEN_TEAM) != !!token->team_id)
    return TE_INTERNAL;
  struct machine_job *m =
      machine_job_new(apply_machine_token_insert, actor, token->org_id, token->team_id, audit);
  m->token = *token;
  return sql_submit(store, &m->job, NULL, NULL);
}

static int apply_machine_token_delete(struct sql_conn *c, struct write_job *job) {
  struct machine_job *m = (struct machine_job *)job;
  int rc = check_actor(c, m);
  if (rc)
    return rc;
  struct param p[] = {PARAM_I(m->org_id), PARAM_I(m->team_id), PARAM_T(m->token_id)};
  return sql_write(c, STMT_MACHINE_TOKEN_DELETE, p, 3, true);
}

int sql_machine_token_delete(struct store *store, const struct store_actor *actor, int64_t org_id,
                             int64_t team_id, const char *token_id,
                             const struct audit_record *audit) {
  struct machine_job *m =
      machine_job_new(apply_machine_token_delete, actor, org_id, team_id, audit);
  snprintf(m->token_id, sizeof m->token_id, "%s", token_id);
  return sql_submit(store, &m->job, NULL, NULL);
}

static int apply_token_revoke(struct sql_conn *c, struct write_job *job) {
  struct machine_job *m = (struct machine_job *)job;
  const struct store_token *t = &m->token;
  if (t->kind == TOKEN_PERSONAL) {
    struct param p[] = {PARAM_I(t->user_id), PARAM_T(t->id)};
    return sql_write(c, STMT_TOKEN_DELETE, p, 2, true);
  }
  struct param p[] = {PARAM_I(t->org_id), PARAM_I(t->team_id), PARAM_T(t->id)};
  return sql_write(c, STMT_MACHINE_TOKEN_DELETE, p, 3, true);
}

int sql_token_revoke(struct store *store, const struct store_token *token,
                     const struct audit_record *audits, size_t count) {
  if (count == 0 || (token->kind != TOKEN_PERSONAL && !token->org_id))
    return TE_INTERNAL;
  struct machine_job *m =
      machine_job_new(apply_token_revoke, NULL, token->org_id, token->team_id, audits);
  m->token = *token;
  if (count > 1) {
    size_t more = count - 1;
    if (!(m->job.more_audits = malloc(more * sizeof audits[0])))
      abort();
    memcpy(m->job.more_audits, audits + 1, more * sizeof audits[0]);
    m->job.more_audit_count = more;
  }
  return sql_submit(store, &m->job, NULL, NULL);
}

static int apply_set_expiry_policy(struct sql_conn *c, struct write_job *job) {
  struct machine_job *m = (struct machine_job *)job;
  int64_t was = 0;
  int rc = check_actor(c, m);
  struct param p[] = {PARAM_I(m->org_id), PARAM_I(m->days)};
  if (rc || (rc = sql_one(c, STMT_ORG_EXPIRY_POLICY, p, 1, read_int64, &was)) != 0)
    return rc;
  if (was == m->days) {
    job->unchanged = true;
    return TE_OK;
  }
  return sql_write(c, STMT_ORG_SET_EXPIRY_POLICY, p, 2, true);
}

int sql_org_set_expiry_policy(struct store *store, const struct store_actor *actor, int64_t org_id,
                              int days, const struct audit_record *audit) {
  if (days < 0 || days > EXPIRY_POLICY_DAYS_MAX)
    return TE_BAD_REQUEST;
  struct machine_job *m = machine_job_new(apply_set_expiry_policy, actor, org_id, 0, audit);
  m->days = days;
  return sql_submit(store, &m->job, NULL, NULL);
}

int sql_org_member_count(struct store *store, int64_t org_id, int64_t *out) {
  struct param p[] = {PARAM_I(org_id)};
  return sql_read_one(store, STMT_ORG_MEMBER_COUNT, p, 1, read_int64, out);
}
