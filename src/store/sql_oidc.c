/* OIDC issuers and their authorization policies in the SQL stores, and the tokens that
 * exchanges issue. Issuer writes are synchronous and re-check the actor like the other org
 * writes; an exchange's token may be queued (group commit). */

#include "store/sql.h"

#include "core/error.h"
#include "core/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads OIDC_COLUMNS starting at column 0. */
static void read_issuer(const struct sql_row *r, void *out) {
  struct store_oidc_issuer *i = out;
  memset(i, 0, sizeof *i);
  row_text(r, 0, i->id, sizeof i->id);
  i->org_id = row_int(r, 1);
  row_text(r, 2, i->name, sizeof i->name);
  row_text(r, 3, i->url, sizeof i->url);
  row_text(r, 4, i->issuer, sizeof i->issuer);
  row_text(r, 5, i->jwks_uri, sizeof i->jwks_uri);
  i->jwks = row_text_dup(r, 6);
  i->static_jwks = row_int(r, 7) != 0;
  row_text(r, 8, i->thumbprints, sizeof i->thumbprints);
  i->max_expiration = row_int(r, 9);
  i->created = row_int(r, 10);
  i->modified = row_int(r, 11);
  i->last_used = row_int(r, 12);
  row_text(r, 13, i->policy_id, sizeof i->policy_id);
  i->policy = row_text_dup(r, 14);
  i->policy_version = row_int(r, 15);
  i->policy_modified = row_int(r, 16);
}

int sql_oidc_issuer_get(struct store *store, int64_t org_id, const char *id,
                        struct store_oidc_issuer *out) {
  struct param p[] = {PARAM_I(org_id), PARAM_T(id)};
  return sql_read_one(store, STMT_OIDC_GET, p, 2, read_issuer, out);
}

int sql_oidc_issuer_by_policy(struct store *store, int64_t org_id, const char *policy_id,
                              struct store_oidc_issuer *out) {
  struct param p[] = {PARAM_I(org_id), PARAM_T(policy_id)};
  return sql_read_one(store, STMT_OIDC_BY_POLICY, p, 2, read_issuer, out);
}

int sql_oidc_issuer_by_iss(struct store *store, int64_t org_id, const char *iss,
                           struct store_oidc_issuer *out) {
  struct param p[] = {PARAM_I(org_id), PARAM_T(iss)};
  return sql_read_one(store, STMT_OIDC_BY_ISS, p, 2, read_issuer, out);
}

int sql_oidc_issuers_list(struct store *store, int64_t org_id, struct store_oidc_issuer **out,
                          size_t *count) {
  struct param p[] = {PARAM_I(org_id)};
  return sql_read_all(store, STMT_OIDC_LIST, p, 1, sizeof **out, read_issuer, (void **)out, count);
}

/* A write to an issuer: the whole issuer for insert and update, an id or policy otherwise. The
 * issuer's jwks and policy point into the job's own copies. */
struct oidc_job {
  struct write_job job;
  bool has_actor;
  struct store_actor actor;
  struct store_oidc_issuer issuer;
  char *jwks, *policy;
  struct store_token token; /* oidc_token_insert */
  char *new_jwks;           /* oidc_issuer_set_keys */
  int64_t new_modified;
};

static struct oidc_job *oidc_job_new(int (*apply)(struct sql_conn *, struct write_job *),
                                     const struct store_actor *actor,
                                     const struct store_oidc_issuer *issuer,
                                     const struct audit_record *audit) {
  struct oidc_job *o = job_new(sizeof *o, apply);
  if ((o->has_actor = actor != NULL))
    o->actor = *actor;
  if (issuer) {
    o->issuer = *issuer;
    o->jwks = strdup(issuer->jwks ? issuer->jwks : "");
    o->policy = strdup(issuer->policy ? issuer->policy : "[]");
    if (!o->jwks || !o->policy)
      abort();
    o->issuer.jwks = o->jwks;
    o->issuer.policy = o->policy;
  }
  job_attach_audit(&o->job, audit);
  return o;
}

/* Submits and waits; the job is freed by the writer, its strings here. */
static int submit(struct store *store, struct oidc_job *o) {
  char *jwks = o->jwks, *policy = o->policy;
  int rc = sql_submit(store, &o->job, NULL, NULL);
  free(jwks);
  free(policy);
  return rc;
}

static int check_actor(struct sql_conn *c, struct oidc_job *o) {
  return actor_check(c, o->has_actor ? &o->actor : NULL, o->issuer.org_id, 0);
}

static int apply_insert(struct sql_conn *c, struct write_job *job) {
  struct oidc_job *o = (struct oidc_job *)job;
  const struct store_oidc_issuer *i = &o->issuer;
  int rc = check_actor(c, o);
  if (rc)
    return rc;
  struct param p[] = {PARAM_T(i->id),
                      PARAM_I(i->org_id),
                      PARAM_T(i->name),
                      PARAM_T(i->url),
                      PARAM_T(i->issuer),
                      PARAM_T(i->jwks_uri),
                      PARAM_T(i->jwks),
                      PARAM_I(i->static_jwks),
                      PARAM_T(i->thumbprints),
                      PARAM_I(i->max_expiration),
                      PARAM_I(i->created),
                      PARAM_I(i->modified),
                      PARAM_I(i->last_used),
                      PARAM_T(i->policy_id),
                      PARAM_T(i->policy),
                      PARAM_I(i->policy_version),
                      PARAM_I(i->policy_modified)};
  return sql_write(c, STMT_OIDC_INSERT, p, 17, false);
}

int sql_oidc_issuer_insert(struct store *store, const struct store_actor *actor,
                           const struct store_oidc_issuer *issuer,
                           const struct audit_record *audit) {
  return submit(store, oidc_job_new(apply_insert, actor, issuer, audit));
}

static int apply_update(struct sql_conn *c, struct write_job *job) {
  struct oidc_job *o = (struct oidc_job *)job;
  const struct store_oidc_issuer *i = &o->issuer;
  int rc = check_actor(c, o);
  if (rc)
    return rc;
  struct param p[] = {PARAM_I(i->org_id),      PARAM_T(i->id),
                      PARAM_T(i->name),        PARAM_T(i->jwks_uri),
                      PARAM_T(i->jwks),        PARAM_I(i->static_jwks),
                      PARAM_T(i->thumbprints), PARAM_I(i->max_expiration),
                      PARAM_I(i->modified)};
  return sql_write(c, STMT_OIDC_UPDATE, p, 9, true);
}

int sql_oidc_issuer_update(struct store *store, const struct store_actor *actor,
                           const struct store_oidc_issuer *issuer,
                           const struct audit_record *audit) {
  return submit(store, oidc_job_new(apply_update, actor, issuer, audit));
}

/* A key refresh: the job's issuer is the row as it was read, new_jwks the keys to store. */
static int apply_set_keys(struct sql_conn *c, struct write_job *job) {
  struct oidc_job *o = (struct oidc_job *)job;
  const struct store_oidc_issuer *was = &o->issuer;
  struct param p[] = {PARAM_I(was->org_id),         PARAM_T(was->id),
                      PARAM_I(was->modified),       PARAM_T(o->new_jwks),
                      PARAM_I(o->new_modified),     PARAM_T(was->jwks),
                      PARAM_T(was->name),           PARAM_T(was->thumbprints),
                      PARAM_I(was->max_expiration), PARAM_T(was->jwks_uri)};
  int rc = sql_write(c, STMT_OIDC_SET_KEYS, p, 10, true);
  return rc == TE_NOT_FOUND ? TE_CONFLICT : rc;
}

int sql_oidc_issuer_set_keys(struct store *store, const struct store_oidc_issuer *was,
                             const char *jwks, int64_t modified) {
  struct oidc_job *o = oidc_job_new(apply_set_keys, NULL, was, NULL);
  o->new_jwks = (char *)jwks; /* the caller's, valid while submit waits */
  o->new_modified = modified;
  return submit(store, o);
}

static int apply_delete(struct sql_conn *c, struct write_job *job) {
  struct oidc_job *o = (struct oidc_job *)job;
  int rc = check_actor(c, o);
  struct param p[] = {PARAM_I(o->issuer.org_id), PARAM_T(o->issuer.id)};
  if (rc == TE_OK)
    rc = sql_write(c, STMT_OIDC_TOKENS_DELETE, p, 2, false);
  return rc ? rc : sql_write(c, STMT_OIDC_DELETE, p, 2, true);
}

int sql_oidc_issuer_delete(struct store *store, const struct store_actor *actor, int64_t org_id,
                           const char *id, const struct audit_record *audit) {
  struct store_oidc_issuer key = {.org_id = org_id};
  snprintf(key.id, sizeof key.id, "%s", id);
  return submit(store, oidc_job_new(apply_delete, actor, &key, audit));
}

static int apply_policy_update(struct sql_conn *c, struct write_job *job) {
  struct oidc_job *o = (struct oidc_job *)job;
  int rc = check_actor(c, o);
  if (rc)
    return rc;
  struct param p[] = {PARAM_I(o->issuer.org_id), PARAM_T(o->issuer.policy_id),
                      PARAM_T(o->issuer.policy), PARAM_I(time_now())};
  return sql_write(c, STMT_OIDC_POLICY_UPDATE, p, 4, true);
}

int sql_oidc_policy_update(struct store *store, const struct store_actor *actor, int64_t org_id,
                           const char *policy_id, const char *policy,
                           const struct audit_record *audit) {
  struct store_oidc_issuer key = {.org_id = org_id, .policy = (char *)policy};
  snprintf(key.policy_id, sizeof key.policy_id, "%s", policy_id);
  return submit(store, oidc_job_new(apply_policy_update, actor, &key, audit));
}

static int apply_token_insert(struct sql_conn *c, struct write_job *job) {
  struct oidc_job *o = (struct oidc_job *)job;
  const struct store_token *t = &o->token;
  int rc = t->kind == TOKEN_PERSONAL ? TE_OK : reserve_token_name(c, t->org_id, t->name);
  struct param p[17];
  token_insert_params(t, p);
  if (rc || (rc = sql_write(c, STMT_TOKEN_INSERT, p, 17, false)) != 0)
    return rc;
  struct param touch[] = {PARAM_T(t->oidc_issuer), PARAM_I(t->created)};
  /* must_change: an issuer deleted since the exchange began issues nothing. */
  return sql_write(c, STMT_OIDC_TOUCH, touch, 2, true);
}

/* The exchange's write: queued like a token creation, so that concurrent exchanges share a
 * commit. The job holds no strings of its own (no issuer), so nothing is left to free here. */
int sql_oidc_token_insert(struct store *store, const struct store_token *token,
                          const struct audit_record *audit, store_done_fn done, void *arg) {
  struct oidc_job *o = oidc_job_new(apply_token_insert, NULL, NULL, audit);
  o->token = *token;
  o->job.insert_only = &o->token;
  o->job.oidc_exchange = true;
  return sql_submit(store, &o->job, done, arg);
}
