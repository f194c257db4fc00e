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

struct member_change {
  struct write_job job;
  int64_t org_id;
  int64_t user_id;
  char role[16];
};

/* An organization always keeps at least one admin: checked after the change, inside its
 * savepoint, so a change that would break the rule is undone. */
static int still_has_admin(struct conn *c, int64_t org_id) {
  sqlite3_stmt *st = conn_stmt(c, STMT_ORG_ADMIN_COUNT);
  if (!st)
    return TE_INTERNAL;
  sqlite3_bind_int64(st, 1, org_id);
  int step = sqlite3_step(st);
  int64_t admins = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_reset(st);
  if (admins < 0)
    return conn_error(c, step, "admin count");
  return admins > 0 ? TE_OK : TE_FORBIDDEN;
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

static int apply_member_add(struct conn *c, struct write_job *job) {
  struct member_change *m = (struct member_change *)job;
  sqlite3_stmt *st;
  int rc = bind_member(c, STMT_MEMBER_INSERT, m, &st);
  if (rc)
    return rc;
  sqlite3_bind_text(st, 3, m->role, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, time_now());
  return step_write(c, st, false, "member insert");
}

static int apply_member_update(struct conn *c, struct write_job *job) {
  struct member_change *m = (struct member_change *)job;
  sqlite3_stmt *st;
  int rc = bind_member(c, STMT_MEMBER_UPDATE, m, &st);
  if (rc)
    return rc;
  sqlite3_bind_text(st, 3, m->role, -1, SQLITE_STATIC);
  rc = step_write(c, st, true, "member update");
  return rc ? rc : still_has_admin(c, m->org_id);
}

static int apply_member_remove(struct conn *c, struct write_job *job) {
  struct member_change *m = (struct member_change *)job;
  sqlite3_stmt *st;
  int rc = bind_member(c, STMT_MEMBER_DELETE, m, &st);
  if (rc)
    return rc;
  rc = step_write(c, st, true, "member delete");
  if (rc == TE_OK && (rc = bind_member(c, STMT_MEMBER_TEAMS_DELETE, m, &st)) == TE_OK)
    rc = step_write(c, st, false, "member's teams delete");
  return rc ? rc : still_has_admin(c, m->org_id);
}

static int submit_member_change(struct store *store,
                                int (*apply)(struct conn *, struct write_job *), int64_t org_id,
                                int64_t user_id, const char *role,
                                const struct store_audit *audit) {
  struct member_change *m = job_new(sizeof *m, apply);
  m->org_id = org_id;
  m->user_id = user_id;
  snprintf(m->role, sizeof m->role, "%s", role ? role : "");
  job_attach_audit(&m->job, audit);
  return writer_submit_wait(((struct sqlite_store *)store)->writer, &m->job);
}

int sqlite_org_member_add(struct store *store, int64_t org_id, int64_t user_id, const char *role,
                          const struct store_audit *audit) {
  return submit_member_change(store, apply_member_add, org_id, user_id, role, audit);
}

int sqlite_org_member_update(struct store *store, int64_t org_id, int64_t user_id, const char *role,
                             const struct store_audit *audit) {
  return submit_member_change(store, apply_member_update, org_id, user_id, role, audit);
}

int sqlite_org_member_remove(struct store *store, int64_t org_id, int64_t user_id,
                             const struct store_audit *audit) {
  return submit_member_change(store, apply_member_remove, org_id, user_id, NULL, audit);
}
