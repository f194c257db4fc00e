/* Teams and their members in the SQL stores. */

#include "store/sql.h"

#include "core/error.h"
#include "core/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void read_team(const struct sql_row *r, void *item) {
  struct store_team *t = item;
  t->id = row_int(r, 0);
  row_text(r, 1, t->name, sizeof t->name);
  row_text(r, 2, t->display_name, sizeof t->display_name);
  row_text(r, 3, t->description, sizeof t->description);
}

int sql_teams_list(struct store *store, int64_t org_id, struct store_team **out, size_t *count) {
  struct param p[] = {PARAM_I(org_id)};
  return sql_read_all(store, STMT_TEAMS_LIST, p, 1, sizeof **out, read_team, (void **)out, count);
}

int sql_team_get(struct store *store, int64_t org_id, const char *name, struct store_team *out) {
  struct param p[] = {PARAM_I(org_id), PARAM_T(name)};
  return sql_read_one(store, STMT_TEAM_GET, p, 2, read_team, out);
}

int sql_team_members(struct store *store, int64_t team_id, struct store_member **out,
                     size_t *count) {
  struct param p[] = {PARAM_I(team_id)};
  return sql_read_all(store, STMT_TEAM_MEMBERS, p, 1, sizeof **out, read_member_row, (void **)out,
                      count);
}

int sql_team_role(struct store *store, int64_t team_id, int64_t user_id, char *role) {
  return sql_lookup_role(store, STMT_TEAM_ROLE, team_id, user_id, role);
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

static int check_actor(struct sql_conn *c, struct team_job *t) {
  return actor_check(c, t->has_actor ? &t->actor : NULL, t->org_id, t->team_id);
}

static int apply_team_create(struct sql_conn *c, struct write_job *job) {
  struct team_job *t = (struct team_job *)job;
  int rc = check_actor(c, t);
  if (rc)
    return rc;
  struct param p[] = {PARAM_I(t->org_id), PARAM_T(t->team.name), PARAM_T(t->team.display_name),
                      PARAM_T(t->team.description), PARAM_I(time_now())};
  return sql_write(c, STMT_TEAM_INSERT, p, 5, false);
}

static int set_text(struct sql_conn *c, enum stmt_id id, int64_t team_id, const char *text) {
  struct param p[] = {PARAM_I(team_id), PARAM_T(text)};
  return sql_write(c, id, p, 2, true);
}

/* Promote or demote; to the role the member already has, a no-op. */
static int change_role(struct sql_conn *c, struct team_job *t, bool *unchanged) {
  const char *role = t->action == TEAM_MEMBER_PROMOTE ? "admin" : "member";
  char was[16];
  int rc = role_in_txn(c, STMT_TEAM_ROLE, t->team_id, t->member_id, was);
  if (rc)
    return rc;
  if (strcmp(was, role) == 0) {
    *unchanged = true;
    return TE_OK;
  }
  struct param p[] = {PARAM_I(t->team_id), PARAM_I(t->member_id), PARAM_T(role)};
  return sql_write(c, STMT_TEAM_MEMBER_ROLE, p, 3, true);
}

static int add_or_remove(struct sql_conn *c, struct team_job *t) {
  bool add = t->action == TEAM_MEMBER_ADD;
  struct param p[] = {PARAM_I(t->team_id), PARAM_I(t->member_id), PARAM_I(time_now())};
  int rc =
      sql_write(c, add ? STMT_TEAM_MEMBER_INSERT : STMT_TEAM_MEMBER_DELETE, p, add ? 3 : 2, true);
  /* The insert selects nothing for a user outside the organization. */
  return add && rc == TE_NOT_FOUND ? TE_BAD_REQUEST : rc;
}

static int apply_team_update(struct sql_conn *c, struct write_job *job) {
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

static int apply_team_delete(struct sql_conn *c, struct write_job *job) {
  struct team_job *t = (struct team_job *)job;
  int rc = check_actor(c, t);
  if (rc)
    return rc;
  struct param p[] = {PARAM_I(t->team_id)};
  return sql_write(c, STMT_TEAM_DELETE, p, 1, true);
}

static struct team_job *team_job_new(int (*apply)(struct sql_conn *, struct write_job *),
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
  return sql_submit(store, &t->job, NULL, NULL);
}

int sql_team_create(struct store *store, const struct store_actor *actor, int64_t org_id,
                    const struct store_team *team, const struct audit_record *audit) {
  struct team_job *t = team_job_new(apply_team_create, actor, org_id, 0);
  t->team = *team;
  return submit_team_job(store, t, audit);
}

int sql_team_update(struct store *store, const struct store_actor *actor, int64_t org_id,
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

int sql_team_delete(struct store *store, const struct store_actor *actor, int64_t org_id,
                    int64_t team_id, const struct audit_record *audit) {
  return submit_team_job(store, team_job_new(apply_team_delete, actor, org_id, team_id), audit);
}
