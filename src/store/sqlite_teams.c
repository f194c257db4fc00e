/* Teams and their members in the SQLite backend. */

#include "store/sqlite_internal.h"

#include "core/error.h"
#include "core/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void read_team(sqlite3_stmt *st, void *item) {
  struct store_team *t = item;
  t->id = sqlite3_column_int64(st, 0);
  column_text(st, 1, t->name, sizeof t->name);
  column_text(st, 2, t->display_name, sizeof t->display_name);
  column_text(st, 3, t->description, sizeof t->description);
}

int sqlite_teams_list(struct store *store, int64_t org_id, struct store_team **out, size_t *count) {
  struct param p[] = {PARAM_I(org_id)};
  return sqlite_read_all(store, STMT_TEAMS_LIST, p, 1, sizeof **out, read_team, (void **)out,
                         count);
}

int sqlite_team_get(struct store *store, int64_t org_id, const char *name, struct store_team *out) {
  struct param p[] = {PARAM_I(org_id), PARAM_T(name)};
  return sqlite_read_one(store, STMT_TEAM_GET, p, 2, read_team, out);
}

int sqlite_team_members(struct store *store, int64_t team_id, struct store_member **out,
                        size_t *count) {
  struct param p[] = {PARAM_I(team_id)};
  return sqlite_read_all(store, STMT_TEAM_MEMBERS, p, 1, sizeof **out, read_member_row,
                         (void **)out, count);
}

int sqlite_team_role(struct store *store, int64_t team_id, int64_t user_id, char *role) {
  return sqlite_lookup_role(store, STMT_TEAM_ROLE, team_id, user_id, role);
}

struct team_job {
  struct write_job job;
  bool has_actor;
  struct store_actor actor;
  int64_t org_id;
  int64_t team_id;
  struct store_team team; /* create: the new team */
  bool set_display, set_description;
  char display_name[TEAM_DISPLAY_NAME_MAX + 1];
  char description[DESCRIPTION_MAX + 1];
  enum team_member_action action;
  int64_t member_id;
};

static int check_actor(struct conn *c, struct team_job *t) {
  return actor_check(c, t->has_actor ? &t->actor : NULL, t->org_id, t->team_id);
}

static int apply_team_create(struct conn *c, struct write_job *job) {
  struct team_job *t = (struct team_job *)job;
  int rc = check_actor(c, t);
  sqlite3_stmt *st = rc ? NULL : conn_stmt(c, STMT_TEAM_INSERT);
  if (!st)
    return rc ? rc : TE_INTERNAL;
  sqlite3_bind_int64(st, 1, t->org_id);
  sqlite3_bind_text(st, 2, t->team.name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, t->team.display_name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, t->team.description, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, time_now());
  return step_write(c, st, false, "team insert");
}

static int set_text(struct conn *c, enum stmt_id id, int64_t team_id, const char *text) {
  sqlite3_stmt *st = conn_stmt(c, id);
  if (!st)
    return TE_INTERNAL;
  sqlite3_bind_int64(st, 1, team_id);
  sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
  return step_write(c, st, true, "team update");
}

/* Promote or demote; to the role the member already has, a no-op. */
static int change_role(struct conn *c, struct team_job *t, bool *unchanged) {
  const char *role = t->action == TEAM_MEMBER_PROMOTE ? "admin" : "member";
  char was[16];
  int rc = role_in_txn(c, STMT_TEAM_ROLE, t->team_id, t->member_id, was);
  if (rc)
    return rc;
  if (strcmp(was, role) == 0) {
    *unchanged = true;
    return TE_OK;
  }
  sqlite3_stmt *st = conn_stmt(c, STMT_TEAM_MEMBER_ROLE);
  if (!st)
    return TE_INTERNAL;
  sqlite3_bind_int64(st, 1, t->team_id);
  sqlite3_bind_int64(st, 2, t->member_id);
  sqlite3_bind_text(st, 3, role, -1, SQLITE_STATIC);
  return step_write(c, st, true, "team role change");
}

static int add_or_remove(struct conn *c, struct team_job *t) {
  bool add = t->action == TEAM_MEMBER_ADD;
  sqlite3_stmt *st = conn_stmt(c, add ? STMT_TEAM_MEMBER_INSERT : STMT_TEAM_MEMBER_DELETE);
  if (!st)
    return TE_INTERNAL;
  sqlite3_bind_int64(st, 1, t->team_id);
  sqlite3_bind_int64(st, 2, t->member_id);
  if (add)
    sqlite3_bind_int64(st, 3, time_now());
  int rc = step_write(c, st, true, add ? "team member insert" : "team member delete");
  /* The insert selects nothing for a user outside the organization. */
  return add && rc == TE_NOT_FOUND ? TE_BAD_REQUEST : rc;
}

static int apply_team_update(struct conn *c, struct write_job *job) {
  struct team_job *t = (struct team_job *)job;
  bool role_unchanged = false;
  int rc = check_actor(c, t);
  if (!rc && t->set_display)
    rc = set_text(c, STMT_TEAM_SET_DISPLAY, t->team_id, t->display_name);
  if (!rc && t->set_description)
    rc = set_text(c, STMT_TEAM_SET_DESCRIPTION, t->team_id, t->description);
  if (!rc && (t->action == TEAM_MEMBER_ADD || t->action == TEAM_MEMBER_REMOVE))
    rc = add_or_remove(c, t);
  else if (!rc && t->action != TEAM_MEMBER_NONE)
    rc = change_role(c, t, &role_unchanged);
  job->unchanged = role_unchanged && !t->set_display && !t->set_description;
  return rc;
}

static int apply_team_delete(struct conn *c, struct write_job *job) {
  struct team_job *t = (struct team_job *)job;
  int rc = check_actor(c, t);
  sqlite3_stmt *st = rc ? NULL : conn_stmt(c, STMT_TEAM_DELETE);
  if (!st)
    return rc ? rc : TE_INTERNAL;
  sqlite3_bind_int64(st, 1, t->team_id);
  return step_write(c, st, true, "team delete");
}

static struct team_job *team_job_new(int (*apply)(struct conn *, struct write_job *),
                                     const struct store_actor *actor, int64_t org_id,
                                     int64_t team_id) {
  struct team_job *t = job_new(sizeof *t, apply);
  if ((t->has_actor = actor != NULL))
    t->actor = *actor;
  t->org_id = org_id;
  t->team_id = team_id;
  return t;
}

static int submit_team_job(struct store *store, struct team_job *t,
                           const struct audit_record *audit) {
  job_attach_audit(&t->job, audit);
  return writer_submit_wait(((struct sqlite_store *)store)->writer, &t->job);
}

int sqlite_team_create(struct store *store, const struct store_actor *actor, int64_t org_id,
                       const struct store_team *team, const struct audit_record *audit) {
  struct team_job *t = team_job_new(apply_team_create, actor, org_id, 0);
  t->team = *team;
  return submit_team_job(store, t, audit);
}

int sqlite_team_update(struct store *store, const struct store_actor *actor, int64_t org_id,
                       int64_t team_id, const struct store_team_update *u,
                       const struct audit_record *audit) {
  struct team_job *t = team_job_new(apply_team_update, actor, org_id, team_id);
  if ((t->set_display = u->display_name != NULL))
    snprintf(t->display_name, sizeof t->display_name, "%s", u->display_name);
  if ((t->set_description = u->description != NULL))
    snprintf(t->description, sizeof t->description, "%s", u->description);
  t->action = u->action;
  t->member_id = u->member_id;
  return submit_team_job(store, t, audit);
}

int sqlite_team_delete(struct store *store, const struct store_actor *actor, int64_t org_id,
                       int64_t team_id, const struct audit_record *audit) {
  return submit_team_job(store, team_job_new(apply_team_delete, actor, org_id, team_id), audit);
}
