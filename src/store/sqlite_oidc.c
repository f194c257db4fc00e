/* OIDC issuers and their authorization policies in the SQLite backend, and the tokens that
 * exchanges issue. Writes are synchronous and re-check the actor like the other org writes. */

#include "store/sqlite_internal.h"

#include "core/error.h"
#include "core/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *column_dup(sqlite3_stmt *st, int col) {
  const unsigned char *text = sqlite3_column_text(st, col);
  char *copy = strdup(text ? (const char *)text : "");
  if (!copy)
    abort();
  return copy;
}

/* Reads OIDC_COLUMNS starting at column 0. */
static void read_issuer(sqlite3_stmt *st, void *out) {
  struct store_oidc_issuer *i = out;
  memset(i, 0, sizeof *i);
  column_text(st, 0, i->id, sizeof i->id);
  i->org_id = sqlite3_column_int64(st, 1);
  column_text(st, 2, i->name, sizeof i->name);
  column_text(st, 3, i->url, sizeof i->url);
  column_text(st, 4, i->issuer, sizeof i->issuer);
  column_text(st, 5, i->jwks_uri, sizeof i->jwks_uri);
  i->jwks = column_dup(st, 6);
  i->static_jwks = sqlite3_column_int(st, 7) != 0;
  column_text(st, 8, i->thumbprints, sizeof i->thumbprints);
  i->max_expiration = sqlite3_column_int64(st, 9);
  i->created = sqlite3_column_int64(st, 10);
  i->modified = sqlite3_column_int64(st, 11);
  i->last_used = sqlite3_column_int64(st, 12);
  column_text(st, 13, i->policy_id, sizeof i->policy_id);
  i->policy = column_dup(st, 14);
  i->policy_version = sqlite3_column_int64(st, 15);
  i->policy_modified = sqlite3_column_int64(st, 16);
}

int sqlite_oidc_issuer_get(struct store *store, int64_t org_id, const char *id,
                           struct store_oidc_issuer *out) {
  struct param p[] = {PARAM_I(org_id), PARAM_T(id)};
  return sqlite_read_one(store, STMT_OIDC_GET, p, 2, read_issuer, out);
}

int sqlite_oidc_issuer_by_policy(struct store *store, int64_t org_id, const char *policy_id,
                                 struct store_oidc_issuer *out) {
  struct param p[] = {PARAM_I(org_id), PARAM_T(policy_id)};
  return sqlite_read_one(store, STMT_OIDC_BY_POLICY, p, 2, read_issuer, out);
}

int sqlite_oidc_issuer_by_iss(struct store *store, int64_t org_id, const char *iss,
                              struct store_oidc_issuer *out) {
  struct param p[] = {PARAM_I(org_id), PARAM_T(iss)};
  return sqlite_read_one(store, STMT_OIDC_BY_ISS, p, 2, read_issuer, out);
}

int sqlite_oidc_issuers_list(struct store *store, int64_t org_id, struct store_oidc_issuer **out,
                             size_t *count) {
  struct param p[] = {PARAM_I(org_id)};
  return sqlite_read_all(store, STMT_OIDC_LIST, p, 1, sizeof **out, read_issuer, (void **)out,
                         count);
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

static struct oidc_job *oidc_job_new(int (*apply)(struct conn *, struct write_job *),
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
  int rc = writer_submit_wait(((struct sqlite_store *)store)->writer, &o->job);
  free(jwks);
  free(policy);
  return rc;
}

static int check_actor(struct conn *c, struct oidc_job *o) {
  return actor_check(c, o->has_actor ? &o->actor : NULL, o->issuer.org_id, 0);
}

static int apply_insert(struct conn *c, struct write_job *job) {
  struct oidc_job *o = (struct oidc_job *)job;
  const struct store_oidc_issuer *i = &o->issuer;
  int rc = check_actor(c, o);
  sqlite3_stmt *st = rc ? NULL : conn_stmt(c, STMT_OIDC_INSERT);
  if (!st)
    return rc ? rc : TE_INTERNAL;
  sqlite3_bind_text(st, 1, i->id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, i->org_id);
  sqlite3_bind_text(st, 3, i->name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, i->url, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, i->issuer, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 6, i->jwks_uri, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 7, i->jwks, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 8, i->static_jwks);
  sqlite3_bind_text(st, 9, i->thumbprints, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 10, i->max_expiration);
  sqlite3_bind_int64(st, 11, i->created);
  sqlite3_bind_int64(st, 12, i->modified);
  sqlite3_bind_int64(st, 13, i->last_used);
  sqlite3_bind_text(st, 14, i->policy_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 15, i->policy, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 16, i->policy_version);
  sqlite3_bind_int64(st, 17, i->policy_modified);
  return step_write(c, st, false, "oidc issuer insert");
}

int sqlite_oidc_issuer_insert(struct store *store, const struct store_actor *actor,
                              const struct store_oidc_issuer *issuer,
                              const struct audit_record *audit) {
  return submit(store, oidc_job_new(apply_insert, actor, issuer, audit));
}

static int apply_update(struct conn *c, struct write_job *job) {
  struct oidc_job *o = (struct oidc_job *)job;
  const struct store_oidc_issuer *i = &o->issuer;
  int rc = check_actor(c, o);
  sqlite3_stmt *st = rc ? NULL : conn_stmt(c, STMT_OIDC_UPDATE);
  if (!st)
    return rc ? rc : TE_INTERNAL;
  sqlite3_bind_int64(st, 1, i->org_id);
  sqlite3_bind_text(st, 2, i->id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, i->name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, i->jwks_uri, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, i->jwks, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 6, i->static_jwks);
  sqlite3_bind_text(st, 7, i->thumbprints, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 8, i->max_expiration);
  sqlite3_bind_int64(st, 9, i->modified);
  return step_write(c, st, true, "oidc issuer update");
}

int sqlite_oidc_issuer_update(struct store *store, const struct store_actor *actor,
                              const struct store_oidc_issuer *issuer,
                              const struct audit_record *audit) {
  return submit(store, oidc_job_new(apply_update, actor, issuer, audit));
}

/* A key refresh: the job's issuer is the row as it was read, new_jwks the keys to store. */
static int apply_set_keys(struct conn *c, struct write_job *job) {
  struct oidc_job *o = (struct oidc_job *)job;
  const struct store_oidc_issuer *was = &o->issuer;
  sqlite3_stmt *st = conn_stmt(c, STMT_OIDC_SET_KEYS);
  if (!st)
    return TE_INTERNAL;
  sqlite3_bind_int64(st, 1, was->org_id);
  sqlite3_bind_text(st, 2, was->id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, was->modified);
  sqlite3_bind_text(st, 4, o->new_jwks, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, o->new_modified);
  sqlite3_bind_text(st, 6, was->jwks, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 7, was->name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 8, was->thumbprints, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 9, was->max_expiration);
  sqlite3_bind_text(st, 10, was->jwks_uri, -1, SQLITE_STATIC);
  int rc = step_write(c, st, true, "oidc key refresh");
  return rc == TE_NOT_FOUND ? TE_CONFLICT : rc;
}

int sqlite_oidc_issuer_set_keys(struct store *store, const struct store_oidc_issuer *was,
                                const char *jwks, int64_t modified) {
  struct oidc_job *o = oidc_job_new(apply_set_keys, NULL, was, NULL);
  o->new_jwks = (char *)jwks; /* the caller's, valid while submit waits */
  o->new_modified = modified;
  return submit(store, o);
}

static int apply_delete(struct conn *c, struct write_job *job) {
  struct oidc_job *o = (struct oidc_job *)job;
  int rc = check_actor(c, o);
  for (int i = 0; i < 2 && rc == TE_OK; i++) {
    sqlite3_stmt *st = conn_stmt(c, i == 0 ? STMT_OIDC_TOKENS_DELETE : STMT_OIDC_DELETE);
    if (!st)
      return TE_INTERNAL;
    sqlite3_bind_int64(st, 1, o->issuer.org_id);
    sqlite3_bind_text(st, 2, o->issuer.id, -1, SQLITE_STATIC);
    rc = step_write(c, st, i == 1, i == 0 ? "oidc issuer's tokens delete" : "oidc issuer delete");
  }
  return rc;
}

int sqlite_oidc_issuer_delete(struct store *store, const struct store_actor *actor, int64_t org_id,
                              const char *id, const struct audit_record *audit) {
  struct store_oidc_issuer key = {.org_id = org_id};
  snprintf(key.id, sizeof key.id, "%s", id);
  return submit(store, oidc_job_new(apply_delete, actor, &key, audit));
}

static int apply_policy_update(struct conn *c, struct write_job *job) {
  struct oidc_job *o = (struct oidc_job *)job;
  int rc = check_actor(c, o);
  sqlite3_stmt *st = rc ? NULL : conn_stmt(c, STMT_OIDC_POLICY_UPDATE);
  if (!st)
    return rc ? rc : TE_INTERNAL;
  sqlite3_bind_int64(st, 1, o->issuer.org_id);
  sqlite3_bind_text(st, 2, o->issuer.policy_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, o->issuer.policy, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, time_now());
  return step_write(c, st, true, "oidc policy update");
}

int sqlite_oidc_policy_update(struct store *store, const struct store_actor *actor, int64_t org_id,
                              const char *policy_id, const char *policy,
                              const struct audit_record *audit) {
  struct store_oidc_issuer key = {.org_id = org_id, .policy = (char *)policy};
  snprintf(key.policy_id, sizeof key.policy_id, "%s", policy_id);
  return submit(store, oidc_job_new(apply_policy_update, actor, &key, audit));
}

static int apply_token_insert(struct conn *c, struct write_job *job) {
  struct oidc_job *o = (struct oidc_job *)job;
  const struct store_token *t = &o->token;
  int rc = t->kind == TOKEN_PERSONAL ? TE_OK : reserve_token_name(c, t->org_id, t->name);
  sqlite3_stmt *st = rc ? NULL : conn_stmt(c, STMT_TOKEN_INSERT);
  if (!st)
    return rc ? rc : TE_INTERNAL;
  bind_token_insert(st, t);
  if ((rc = step_write(c, st, false, "token insert")) != 0)
    return rc;
  if (!(st = conn_stmt(c, STMT_OIDC_TOUCH)))
    return TE_INTERNAL;
  sqlite3_bind_text(st, 1, t->oidc_issuer, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, t->created);
  /* must_change: an issuer deleted since the exchange began issues nothing. */
  return step_write(c, st, true, "oidc issuer last use");
}

int sqlite_oidc_token_insert(struct store *store, const struct store_token *token,
                             const struct audit_record *audit) {
  struct oidc_job *o = oidc_job_new(apply_token_insert, NULL, NULL, audit);
  o->token = *token;
  return submit(store, o);
}
