/* Organizations and their members in the SQLite backend. */

#include "store/sqlite_internal.h"

#include "core/error.h"
#include "core/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void read_org(sqlite3_stmt *st, void *out) {
  struct store_org *o = out;
  o->id = sqlite3_column_int64(st, 0);
  column_text(st, 1, o->name, sizeof o->name);
  o->created = sqlite3_column_int64(st, 2);
  o->max_token_expiry_days = sqlite3_column_int(st, 3);
}

int sqlite_org_by_name(struct store *store, const char *name, struct store_org *out) {
  struct param p[] = {PARAM_T(name)};
  return sqlite_read_one(store, STMT_ORG_BY_NAME, p, 1, read_org, out);
}

static void read_role(sqlite3_stmt *st, void *out) {
  column_text(st, 0, out, 16);
}

int sqlite_lookup_role(struct store *store, enum stmt_id id, int64_t scope_id, int64_t user_id,
                       char *role) {
  struct param p[] = {PARAM_I(scope_id), PARAM_I(user_id)};
  return sqlite_read_one(store, id, p, 2, read_role, role);
}

int sqlite_org_role(struct store *store, int64_t org_id, int64_t user_id, char *role) {
  return sqlite_lookup_role(store, STMT_ORG_ROLE, org_id, user_id, role);
}

void read_member_row(sqlite3_stmt *st, void *item) {
  struct store_member *m = item;
  read_user_columns(st, 0, &m->user);
  column_text(st, 6, m->role, sizeof m->role);
  m->created = sqlite3_column_int64(st, 7);
}

int sqlite_org_members(struct store *store, int64_t org_id, int64_t after_user_id, int limit,
                       struct store_member **out, size_t *count) {
  struct param p[] = {PARAM_I(org_id), PARAM_I(after_user_id), PARAM_I(limit)};
  return sqlite_read_all(store, STMT_ORG_MEMBERS, p, 3, sizeof **out, read_member_row, (void **)out,
                         count);
}

int actor_check(struct conn *c, const struct store_actor *actor, int64_t org_id, int64_t team_id) {
  if (!actor)
    return TE_OK;
  sqlite3_stmt *st = conn_stmt(c, STMT_ACTOR_ALLOWED);
  if (!st)
    return TE_INTERNAL;
  sqlite3_bind_int64(st, 1, actor->user_id);
  sqlite3_bind_int64(st, 2, org_id);
  sqlite3_bind_int64(st, 3, team_id);
  sqlite3_bind_int(st, 4, actor->need == ACTOR_TEAM_ADMIN);
  sqlite3_bind_int64(st, 5, actor->token_seq);
  sqlite3_bind_int64(st, 6, time_now());
  sqlite3_bind_int(st, 7, actor->need == ACTOR_ORG_ADMIN_PERSON);
  sqlite3_bind_int(st, 8, actor->changes_access);
  int step = sqlite3_step(st);
  int allowed = step == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
  sqlite3_reset(st);
  if (allowed < 0)
    return conn_error(c, step, "actor check");
  return allowed ? TE_OK : TE_FORBIDDEN;
}

int role_in_txn(struct conn *c, enum stmt_id id, int64_t scope_id, int64_t user_id, char *role) {
  sqlite3_stmt *st = conn_stmt(c, id);
  if (!st)
    return TE_INTERNAL;
  sqlite3_bind_int64(st, 1, scope_id);
  sqlite3_bind_int64(st, 2, user_id);
  int step = sqlite3_step(st);
  if (step == SQLITE_ROW)
    column_text(st, 0, role, 16);
  sqlite3_reset(st);
  if (step == SQLITE_ROW)
    return TE_OK;
  return step == SQLITE_DONE ? TE_NOT_FOUND : conn_error(c, step, "role lookup");
}

struct member_change {
  struct write_job job;
  bool has_actor;
  struct store_actor actor;
  int64_t org_id;
  int64_t user_id;
  char role[16];
};

/* An organization that has admins keeps at least one: a change that takes its last admin away is
 * refused (inside its savepoint, so it is undone). An org that has none (made offline) is not
 * locked by this rule. */
static int admins_left(struct conn *c, int64_t org_id) {
  sqlite3_stmt *st = conn_stmt(c, STMT_ORG_ADMIN_COUNT);
  if (!st)
    return TE_INTERNAL;
  sqlite3_bind_int64(st, 1, org_id);
  int step = sqlite3_step(st);
  int64_t admins = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_reset(st);
  if (admins < 0)
    return conn_error(c, step, "admin count");
  return admins > 0 ? TE_OK : TE_BAD_REQUEST;
}

static int bind_member(struct conn *c, enum stmt_id id, struct member_change *m,
                       sqlite3_stmt **out) {
  sqlite3_stmt *st = conn_stmt(c, id);
  if (!st)
    return TE_INTERNAL;
  sqlite3_bind_int64(st, 1, m->org_id);
  sqlite3_bind_int64(st, 2, m->user_id);
  *out = st;
  return TE_OK;
}

static int check_actor(struct conn *c, struct member_change *m) {
  return actor_check(c, m->has_actor ? &m->actor : NULL, m->org_id, 0);
}

static int apply_member_add(struct conn *c, struct write_job *job) {
  struct member_change *m = (struct member_change *)job;
  sqlite3_stmt *st;
  int rc = check_actor(c, m);
  if (rc || (rc = bind_member(c, STMT_MEMBER_INSERT, m, &st)) != 0)
    return rc;
  sqlite3_bind_text(st, 3, m->role, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, time_now());
  return step_write(c, st, false, "member insert");
}

/* For changes to an existing member: the actor may make them, and the member's role before. */
static int actor_and_current_role(struct conn *c, struct member_change *m, char was[16]) {
  int rc = check_actor(c, m);
  return rc ? rc : role_in_txn(c, STMT_ORG_ROLE, m->org_id, m->user_id, was);
}

static int apply_member_update(struct conn *c, struct write_job *job) {
  struct member_change *m = (struct member_change *)job;
  char was[16];
  sqlite3_stmt *st;
  int rc = actor_and_current_role(c, m, was);
  if (rc)
    return rc;
  if (strcmp(was, m->role) == 0) {
    job->unchanged = true;
    return TE_OK;
  }
  if ((rc = bind_member(c, STMT_MEMBER_UPDATE, m, &st)) != 0)
    return rc;
  sqlite3_bind_text(st, 3, m->role, -1, SQLITE_STATIC);
  rc = step_write(c, st, true, "member update");
  return rc || strcmp(was, "admin") != 0 ? rc : admins_left(c, m->org_id);
}

static int apply_member_remove(struct conn *c, struct write_job *job) {
  struct member_change *m = (struct member_change *)job;
  char was[16];
  sqlite3_stmt *st;
  int rc = actor_and_current_role(c, m, was);
  if (rc)
    return rc;
  if ((rc = bind_member(c, STMT_MEMBER_DELETE, m, &st)) != 0 ||
      (rc = step_write(c, st, true, "member delete")) != 0)
    return rc;
  if ((rc = bind_member(c, STMT_MEMBER_TEAMS_DELETE, m, &st)) != 0 ||
      (rc = step_write(c, st, false, "member's teams delete")) != 0)
    return rc;
  return strcmp(was, "admin") != 0 ? TE_OK : admins_left(c, m->org_id);
}

static int submit_member_change(struct store *store,
                                int (*apply)(struct conn *, struct write_job *),
                                const struct store_actor *actor, int64_t org_id, int64_t user_id,
                                const char *role, const struct audit_record *audit) {
  struct member_change *m = job_new(sizeof *m, apply);
  if ((m->has_actor = actor != NULL))
    m->actor = *actor;
  m->org_id = org_id;
  m->user_id = user_id;
  snprintf(m->role, sizeof m->role, "%s", role ? role : "");
  job_attach_audit(&m->job, audit);
  return writer_submit_wait(((struct sqlite_store *)store)->writer, &m->job);
}

int sqlite_org_member_add(struct store *store, const struct store_actor *actor, int64_t org_id,
                          int64_t user_id, const char *role, const struct audit_record *audit) {
  return submit_member_change(store, apply_member_add, actor, org_id, user_id, role, audit);
}

int sqlite_org_member_update(struct store *store, const struct store_actor *actor, int64_t org_id,
                             int64_t user_id, const char *role, const struct audit_record *audit) {
  return submit_member_change(store, apply_member_update, actor, org_id, user_id, role, audit);
}

int sqlite_org_member_remove(struct store *store, const struct store_actor *actor, int64_t org_id,
                             int64_t user_id, const struct audit_record *audit) {
  return submit_member_change(store, apply_member_remove, actor, org_id, user_id, NULL, audit);
}
