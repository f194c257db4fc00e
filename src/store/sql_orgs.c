/* Organizations and their members in the SQL stores. */

#include "store/sql.h"

#include "core/error.h"
#include "core/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void read_org(const struct sql_row *r, void *out) {
  struct store_org *o = out;
  o->id = row_int(r, 0);
  row_text(r, 1, o->name, sizeof o->name);
  o->created = row_int(r, 2);
  o->max_token_expiry_days = (int)row_int(r, 3);
}

int sql_org_by_name(struct store *store, const char *name, struct store_org *out) {
  struct param p[] = {PARAM_T(name)};
  return sql_read_one(store, STMT_ORG_BY_NAME, p, 1, read_org, out);
}

static void read_role(const struct sql_row *r, void *out) {
  row_text(r, 0, out, 16);
}

int sql_lookup_role(struct store *store, enum stmt_id id, int64_t scope_id, int64_t user_id,
                    char *role) {
  struct param p[] = {PARAM_I(scope_id), PARAM_I(user_id)};
  return sql_read_one(store, id, p, 2, read_role, role);
}

int sql_org_role(struct store *store, int64_t org_id, int64_t user_id, char *role) {
  return sql_lookup_role(store, STMT_ORG_ROLE, org_id, user_id, role);
}

void read_member_row(const struct sql_row *r, void *item) {
  struct store_member *m = item;
  read_user_columns(r, 0, &m->user);
  row_text(r, 6, m->role, sizeof m->role);
  m->created = row_int(r, 7);
}

int sql_org_members(struct store *store, int64_t org_id, int64_t after_user_id, int limit,
                    struct store_member **out, size_t *count) {
  struct param p[] = {PARAM_I(org_id), PARAM_I(after_user_id), PARAM_I(limit)};
  return sql_read_all(store, STMT_ORG_MEMBERS, p, 3, sizeof **out, read_member_row, (void **)out,
                      count);
}

static void read_flag(const struct sql_row *r, void *out) {
  *(bool *)out = row_int(r, 0) != 0;
}

int actor_check(struct sql_conn *c, const struct store_actor *actor, int64_t org_id,
                int64_t team_id) {
  if (!actor)
    return TE_OK;
  struct param p[] = {PARAM_I(actor->user_id),
                      PARAM_I(org_id),
                      PARAM_I(team_id),
                      PARAM_I(actor->need == ACTOR_TEAM_ADMIN),
                      PARAM_I(actor->token_seq),
                      PARAM_I(time_now()),
                      PARAM_I(actor->need == ACTOR_ORG_ADMIN_PERSON),
                      PARAM_I(actor->changes_access)};
  bool allowed = false;
  int rc = sql_one(c, STMT_ACTOR_ALLOWED, p, 8, read_flag, &allowed);
  if (rc)
    return rc == TE_NOT_FOUND ? TE_INTERNAL : rc;
  return allowed ? TE_OK : TE_FORBIDDEN;
}

int role_in_txn(struct sql_conn *c, enum stmt_id id, int64_t scope_id, int64_t user_id,
                char *role) {
  struct param p[] = {PARAM_I(scope_id), PARAM_I(user_id)};
  return sql_one(c, id, p, 2, read_role, role);
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
static int admins_left(struct sql_conn *c, int64_t org_id) {
  struct param p[] = {PARAM_I(org_id)};
  int64_t admins = 0;
  int rc = sql_one(c, STMT_ORG_ADMIN_COUNT, p, 1, read_int64, &admins);
  if (rc)
    return rc == TE_NOT_FOUND ? TE_INTERNAL : rc;
  return admins > 0 ? TE_OK : TE_BAD_REQUEST;
}

static int check_actor(struct sql_conn *c, struct member_change *m) {
  return actor_check(c, m->has_actor ? &m->actor : NULL, m->org_id, 0);
}

static int apply_member_add(struct sql_conn *c, struct write_job *job) {
  struct member_change *m = (struct member_change *)job;
  int rc = check_actor(c, m);
  if (rc)
    return rc;
  struct param p[] = {PARAM_I(m->org_id), PARAM_I(m->user_id), PARAM_T(m->role),
                      PARAM_I(time_now())};
  return sql_write(c, STMT_MEMBER_INSERT, p, 4, false);
}

/* For changes to an existing member: the actor may make them, and the member's role before. */
static int actor_and_current_role(struct sql_conn *c, struct member_change *m, char was[16]) {
  int rc = check_actor(c, m);
  return rc ? rc : role_in_txn(c, STMT_ORG_ROLE, m->org_id, m->user_id, was);
}

static int apply_member_update(struct sql_conn *c, struct write_job *job) {
  struct member_change *m = (struct member_change *)job;
  char was[16];
  int rc = actor_and_current_role(c, m, was);
  if (rc)
    return rc;
  if (strcmp(was, m->role) == 0) {
    job->unchanged = true;
    return TE_OK;
  }
  struct param p[] = {PARAM_I(m->org_id), PARAM_I(m->user_id), PARAM_T(m->role)};
  rc = sql_write(c, STMT_MEMBER_UPDATE, p, 3, true);
  return rc || strcmp(was, "admin") != 0 ? rc : admins_left(c, m->org_id);
}

static int apply_member_remove(struct sql_conn *c, struct write_job *job) {
  struct member_change *m = (struct member_change *)job;
  char was[16];
  int rc = actor_and_current_role(c, m, was);
  if (rc)
    return rc;
  struct param p[] = {PARAM_I(m->org_id), PARAM_I(m->user_id)};
  if ((rc = sql_write(c, STMT_MEMBER_DELETE, p, 2, true)) != 0 ||
      (rc = sql_write(c, STMT_MEMBER_TEAMS_DELETE, p, 2, false)) != 0)
    return rc;
  return strcmp(was, "admin") != 0 ? TE_OK : admins_left(c, m->org_id);
}

static int submit_member_change(struct store *store,
                                int (*apply)(struct sql_conn *, struct write_job *),
                                const struct store_actor *actor, int64_t org_id, int64_t user_id,
                                const char *role, const struct audit_record *audit) {
  struct member_change *m = job_new(sizeof *m, apply);
  if ((m->has_actor = actor != NULL))
    m->actor = *actor;
  m->org_id = org_id;
  m->user_id = user_id;
  snprintf(m->role, sizeof m->role, "%s", role ? role : "");
  job_attach_audit(&m->job, audit);
  return sql_submit(store, &m->job, NULL, NULL);
}

int sql_org_member_add(struct store *store, const struct store_actor *actor, int64_t org_id,
                       int64_t user_id, const char *role, const struct audit_record *audit) {
  return submit_member_change(store, apply_member_add, actor, org_id, user_id, role, audit);
}

int sql_org_member_update(struct store *store, const struct store_actor *actor, int64_t org_id,
                          int64_t user_id, const char *role, const struct audit_record *audit) {
  return submit_member_change(store, apply_member_update, actor, org_id, user_id, role, audit);
}

int sql_org_member_remove(struct store *store, const struct store_actor *actor, int64_t org_id,
                          int64_t user_id, const struct audit_record *audit) {
  return submit_member_change(store, apply_member_remove, actor, org_id, user_id, NULL, audit);
}
