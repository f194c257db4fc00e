/* The SQL stores' reads, their operations table, and what opening and closing share. */

#include "store/sql.h"

#include "audit/files.h"
#include "core/error.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void read_user_columns(const struct sql_row *r, int col, struct store_user *u) {
  u->id = row_int(r, col);
  row_text(r, col + 1, u->uuid, sizeof u->uuid);
  row_text(r, col + 2, u->login, sizeof u->login);
  row_text(r, col + 3, u->name, sizeof u->name);
  row_text(r, col + 4, u->email, sizeof u->email);
  u->site_admin = row_int(r, col + 5) != 0;
}

/* The columns every token query selects first (TOKEN_COLUMNS in the backends' statements). */
#define TOKEN_COLUMN_COUNT 19

static void read_token(const struct sql_row *r, struct store_token *t) {
  size_t len;
  t->seq = row_int(r, 0);
  row_text(r, 1, t->id, sizeof t->id);
  if (!row_blob(r, 2, t->hash, TOKEN_HASH_LEN))
    memset(t->hash, 0, TOKEN_HASH_LEN);
  t->kind = token_kind_parse(r->driver->text(r, 3, &len));
  t->user_id = row_int(r, 4);
  row_text(r, 5, t->description, sizeof t->description);
  t->created = row_int(r, 6);
  t->expires = row_int(r, 7);
  t->last_used = row_int(r, 8);
  row_text(r, 9, t->created_by, sizeof t->created_by);
  t->org_id = row_int(r, 10);
  t->team_id = row_int(r, 11);
  row_text(r, 12, t->name, sizeof t->name);
  t->admin = row_int(r, 13) != 0;
  row_text(r, 14, t->oidc_issuer, sizeof t->oidc_issuer);
  t->source = token_source_parse(r->driver->text(r, 15, &len));
  t->parent_seq = row_int(r, 16);
  t->manage_access = row_int(r, 17) != 0;
  row_text(r, 18, t->reason, sizeof t->reason);
}

static void read_user_row(const struct sql_row *r, void *out) {
  read_user_columns(r, 0, out);
}

static int sql_user_by_login(struct store *store, const char *login, struct store_user *out) {
  struct param p[] = {PARAM_T(login)};
  return sql_read_one(store, STMT_USER_BY_LOGIN, p, 1, read_user_row, out);
}

static void read_principal_row(const struct sql_row *r, void *out) {
  struct store_principal *p = out;
  memset(p, 0, sizeof *p);
  read_token(r, &p->token);
  row_text(r, TOKEN_COLUMN_COUNT + 6, p->org, sizeof p->org);
  row_text(r, TOKEN_COLUMN_COUNT + 7, p->team, sizeof p->team);
  p->scope_org_id = row_int(r, TOKEN_COLUMN_COUNT + 8);
  p->parent_expires = row_int(r, TOKEN_COLUMN_COUNT + 9);
  row_text(r, TOKEN_COLUMN_COUNT + 10, p->issuer_name, sizeof p->issuer_name);
  p->parent_from_exchange = row_int(r, TOKEN_COLUMN_COUNT + 11) != 0;
  if (p->token.kind == TOKEN_PERSONAL) {
    read_user_columns(r, TOKEN_COLUMN_COUNT, &p->user);
    if (p->token.oidc_issuer[0])
      p->user.site_admin = false; /* a CI job is not its user's site-admin self */
    snprintf(p->actor, sizeof p->actor, "%s", p->user.login);
    return;
  }
  /* The organization's robot: what `pulumi whoami` shows for a machine token. */
  snprintf(p->user.login, sizeof p->user.login, "%s", p->org);
  snprintf(p->user.name, sizeof p->user.name, "%s", p->token.name);
  snprintf(p->user.uuid, sizeof p->user.uuid, "%s", p->token.id);
  snprintf(p->actor, sizeof p->actor, "%s/%s", p->org, p->token.name);
}

static int sql_principal_by_token_hash(struct store *store,
                                       const unsigned char hash[TOKEN_HASH_LEN],
                                       struct store_principal *out) {
  struct param p[] = {PARAM_B(hash, TOKEN_HASH_LEN)};
  return sql_read_one(store, STMT_PRINCIPAL_BY_HASH, p, 1, read_principal_row, out);
}

static int sql_principals_after(struct store *store, int64_t after, int limit,
                                struct store_principal **out, size_t *count) {
  struct param p[] = {PARAM_I(after), PARAM_I(limit)};
  return sql_read_all(store, STMT_PRINCIPALS_AFTER, p, 2, sizeof **out, read_principal_row,
                      (void **)out, count);
}

static bool sql_token_revoked(struct store *store, const unsigned char hash[TOKEN_HASH_LEN]) {
  (void)store;
  (void)hash;
  return false; /* the row went with the token: nothing left to tell it from one never made */
}

static void read_membership(const struct sql_row *r, void *item) {
  struct store_membership *m = item;
  row_text(r, 0, m->org, sizeof m->org);
  row_text(r, 1, m->role, sizeof m->role);
}

static int sql_memberships(struct store *store, int64_t user_id, struct store_membership **out,
                           size_t *count) {
  struct param p[] = {PARAM_I(user_id)};
  return sql_read_all(store, STMT_MEMBERSHIPS, p, 1, sizeof **out, read_membership, (void **)out,
                      count);
}

static void read_token_item(const struct sql_row *r, void *item) {
  read_token(r, item);
}

static int sql_token_list(struct store *store, const struct store_token_query *q,
                          struct store_token **out, size_t *count) {
  static const enum stmt_id by_kind[] = {
      [TOKEN_PERSONAL] = STMT_TOKEN_LIST,
      [TOKEN_ORG] = STMT_ORG_TOKEN_LIST,
      [TOKEN_TEAM] = STMT_TEAM_TOKEN_LIST,
  };
  struct param p[] = {PARAM_I(q->owner_id), PARAM_I(q->before_seq), PARAM_I(q->filter),
                      PARAM_I(q->now), PARAM_I(q->limit)};
  return sql_read_all(store, by_kind[q->kind], p, 5, sizeof **out, read_token_item, (void **)out,
                      count);
}

static int sql_machine_token_get(struct store *store, int64_t org_id, const char *token_id,
                                 struct store_token *out) {
  struct param p[] = {PARAM_I(org_id), PARAM_T(token_id)};
  return sql_read_one(store, STMT_MACHINE_TOKEN_GET, p, 2, read_token_item, out);
}

/* The kinds as the triggers name them (sqlite_schema.c, pg_schema.c). */
static void read_change(const struct sql_row *r, void *item) {
  static const char *const kinds[] = {
      [CHANGE_TOKEN] = "token", [CHANGE_USER] = "user",     [CHANGE_ORG] = "org",
      [CHANGE_TEAM] = "team",   [CHANGE_ISSUER] = "issuer",
  };
  struct store_change *c = item;
  char kind[16], key[TOKEN_ID_LEN + 1];
  memset(c, 0, sizeof *c);
  c->version = row_int(r, 0);
  row_text(r, 1, kind, sizeof kind);
  row_text(r, 2, key, sizeof key);
  c->kind = CHANGE_UNKNOWN;
  for (int k = 0; k < CHANGE_UNKNOWN; k++)
    if (strcmp(kind, kinds[k]) == 0)
      c->kind = (enum store_change_kind)k;
  if (c->kind == CHANGE_ISSUER)
    snprintf(c->issuer, sizeof c->issuer, "%s", key);
  else
    c->id = strtoll(key, NULL, 10);
}

struct feed_state {
  int64_t current, pruned;
};

static void read_state(const struct sql_row *r, void *out) {
  struct feed_state *f = out;
  f->current = row_int(r, 0);
  f->pruned = row_int(r, 1);
}

/* The state first: a change committed after it has a higher version, so it is on this page or
 * the next, never skipped. Then the rows, then the state again: a prune that committed between
 * the two took rows away unseen (a gap), as does a version that went back (a restore). */
static int sql_changes_since(struct store *store, int64_t after, int limit,
                             struct store_change_page *page) {
  struct sql_store *s = (struct sql_store *)store;
  memset(page, 0, sizeof *page);
  struct sql_conn *c;
  int rc = s->backend->reader_acquire(s, &c);
  if (rc)
    return rc;
  /* The three reads in one chain (one round trip on PostgreSQL); the rows are read even when
   * the state before them tells of a gap, and then left out. */
  struct feed_state state = {-1, 0}, again = {-1, 0};
  struct param p[] = {PARAM_I(after), PARAM_I(limit)};
  struct sql_all_rows rows = {read_change, sizeof *page->items, 0, 0, NULL};
  struct sql_step steps[] = {
      {.id = STMT_CHANGES_STATE, .each = read_state, .arg = &state},
      sql_all_step(STMT_CHANGES_SINCE, p, 2, &rows),
      {.id = STMT_CHANGES_STATE, .each = read_state, .arg = &again},
  };
  rc = sql_chain(c, steps, 3);
  s->backend->reader_release(s, c);
  if (rc == TE_OK && (state.current < 0 || again.current < 0))
    rc = TE_INTERNAL; /* the version row is missing */
  if (rc == TE_OK) {
    page->current = state.current;
    page->gap = after < state.pruned || (after != INT64_MAX && state.current < after) ||
                after < again.pruned;
    if (!page->gap) {
      page->items = (struct store_change *)(void *)rows.items;
      page->count = rows.count;
      rows.items = NULL;
    }
  }
  free(rows.items);
  return rc;
}

static void sql_watch(struct store *store, void (*fn)(void *arg), void *arg) {
  struct sql_store *s = (struct sql_store *)store;
  s->watch_arg = arg;
  s->watch_fn = fn; /* before any commit that needs it: set while the store is being wrapped */
  if (s->backend->announce_start)
    s->backend->announce_start(s);
}

/* HMAC-SHA-256(key, label): one key per purpose, none of which tells anything of the others. */
static void derive(const unsigned char key[32], const char *label, unsigned char out[32]) {
  size_t len = 0;
  if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, 32, (const unsigned char *)label,
                 strlen(label), out, 32, &len) ||
      len != 32)
    abort();
}

static void sql_derive_secret(struct store *store, const char *purpose, unsigned char out[32]) {
  derive(((struct sql_store *)store)->secret, purpose, out);
}

static void sql_close(struct store *store) {
  struct sql_store *s = (struct sql_store *)store;
  sql_store_stop(s);
  s->backend->close(s);
}

void sql_store_stop(struct sql_store *s) {
  if (s->writer)
    writer_stop(s->writer); /* commits what is queued before the connections close */
  s->writer = NULL;
  OPENSSL_cleanse(s->secret, sizeof s->secret);
}

int sql_store_start(struct sql_store *s, struct sql_conn *conn, const char *key_path,
                    const char *head_path) {
  unsigned char audit_key[AUDIT_KEY_LEN];
  char db_id[33];
  int rc = audit_key_setup(conn, key_path, audit_key, db_id);
  if (rc)
    return rc;
  if (head_path)
    snprintf(s->head_path, sizeof s->head_path, "%s", head_path);
  else
    rc = audit_head_beside_key(key_path, db_id, s->head_path, sizeof s->head_path);
  if (rc == TE_OK) {
    audit_files_remove_stale(s->head_path);
    derive(audit_key, "tessera-secrets", s->secret);
    s->base.ops = &sql_store_ops;
    rc = writer_start(s, audit_key, &s->writer);
  }
  OPENSSL_cleanse(audit_key, sizeof audit_key);
  return rc;
}

const struct store_ops sql_store_ops = {
    .close = sql_close,
    .user_create = sql_user_create,
    .user_by_login = sql_user_by_login,
    .org_create = sql_org_create,
    .member_set = sql_member_set,
    .memberships = sql_memberships,
    .user_password_hash = sql_user_password_hash,
    .user_set_password_hash = sql_user_set_password_hash,
    .sessions_purge = sql_sessions_purge,
    .token_insert = sql_token_insert,
    .token_delete = sql_token_delete,
    .machine_token_insert = sql_machine_token_insert,
    .machine_token_delete = sql_machine_token_delete,
    .token_revoke = sql_token_revoke,
    .machine_token_get = sql_machine_token_get,
    .org_set_expiry_policy = sql_org_set_expiry_policy,
    .org_member_count = sql_org_member_count,
    .oidc_issuer_insert = sql_oidc_issuer_insert,
    .oidc_issuer_update = sql_oidc_issuer_update,
    .oidc_issuer_set_keys = sql_oidc_issuer_set_keys,
    .oidc_issuer_delete = sql_oidc_issuer_delete,
    .oidc_policy_update = sql_oidc_policy_update,
    .oidc_issuer_get = sql_oidc_issuer_get,
    .oidc_issuer_by_policy = sql_oidc_issuer_by_policy,
    .oidc_issuer_by_iss = sql_oidc_issuer_by_iss,
    .oidc_issuers_list = sql_oidc_issuers_list,
    .oidc_token_insert = sql_oidc_token_insert,
    .audit_append = sql_audit_append,
    .audit_list = sql_audit_list,
    .org_by_name = sql_org_by_name,
    .org_role = sql_org_role,
    .org_members = sql_org_members,
    .org_member_add = sql_org_member_add,
    .org_member_update = sql_org_member_update,
    .org_member_remove = sql_org_member_remove,
    .teams_list = sql_teams_list,
    .team_get = sql_team_get,
    .team_members = sql_team_members,
    .team_role = sql_team_role,
    .team_create = sql_team_create,
    .team_update = sql_team_update,
    .team_delete = sql_team_delete,
    .principal_by_token_hash = sql_principal_by_token_hash,
    .token_revoked = sql_token_revoked,
    .principals_after = sql_principals_after,
    .token_list = sql_token_list,
    .tokens_touch = sql_tokens_touch,
    .changes_since = sql_changes_since,
    .watch = sql_watch,
    .derive_secret = sql_derive_secret,
};
