/* A caching decorator over any store: token and membership lookups are answered from memory, so
 * the hot path (authenticating a request) usually touches no database lock at all.
 *
 * Correctness rests on one generation counter. An entry is valid only if it was filled under the
 * current generation, which is read *before* the database is, so a fill racing with a write can
 * never outlive that write. The generation moves:
 *  - after every write made through this store, before that write is reported done (a deleted
 *    token is refused on the very next request);
 *  - when the backend's data_version changes, polled every poll_ms (commits by other processes,
 *    e.g. `tessera admin`);
 * and each entry also expires after ttl seconds regardless. Principals carry the generation they
 * were validated under as their version, so callers can cache what they derive from them. */

#include "store/store.h"

#include "core/error.h"
#include "core/ticker.h"
#include "core/timeutil.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define PRINCIPAL_SLOTS 4096 /* direct-mapped by hash: a collision simply evicts */
#define MEMBERSHIP_SLOTS 1024
#define MEMBERSHIPS_CACHED 16 /* users in more orgs than this are always read from the store */
#define SHARDS 64             /* readers of different slots rarely share a lock */

struct principal_slot {
  uint64_t generation; /* 0 = empty (generations start at 1) */
  int64_t expires_ms;
  struct store_principal principal;
};

struct membership_slot {
  uint64_t generation;
  int64_t expires_ms;
  int64_t user_id;
  size_t count;
  struct store_membership items[MEMBERSHIPS_CACHED];
};

struct cache_store {
  struct store base;
  struct store *inner;
  int64_t ttl_ms;
  atomic_uint_fast64_t generation;
  pthread_rwlock_t shards[SHARDS];
  struct principal_slot *principals;
  struct membership_slot *memberships;
  uint64_t seen_version; /* only the poller touches it */
  struct ticker *poller;
};

static struct cache_store *from(struct store *store) {
  return (struct cache_store *)store;
}

static void invalidate(struct cache_store *c) {
  atomic_fetch_add(&c->generation, 1);
}

static size_t principal_index(const unsigned char hash[TOKEN_HASH_LEN]) {
  uint64_t k;
  memcpy(&k, hash, sizeof k); /* SHA-256 output: already uniformly spread */
  return (size_t)(k % PRINCIPAL_SLOTS);
}

static int cached_principal_by_token_hash(struct store *store,
                                          const unsigned char hash[TOKEN_HASH_LEN],
                                          struct store_principal *out) {
  struct cache_store *c = from(store);
  size_t i = principal_index(hash);
  pthread_rwlock_t *lock = &c->shards[i % SHARDS];
  struct principal_slot *slot = &c->principals[i];
  uint64_t generation = atomic_load(&c->generation);
  int64_t now = time_monotonic_ms();

  pthread_rwlock_rdlock(lock);
  bool hit = slot->generation == generation && slot->expires_ms > now &&
             CRYPTO_memcmp(slot->principal.token.hash, hash, TOKEN_HASH_LEN) == 0;
  if (hit) {
    *out = slot->principal;
    out->version = generation;
  }
  pthread_rwlock_unlock(lock);
  if (hit)
    return TE_OK;

  int rc = c->inner->ops->principal_by_token_hash(c->inner, hash, out);
  if (rc == TE_OK) {
    out->version = generation;
    pthread_rwlock_wrlock(lock);
    slot->principal = *out;
    slot->generation = generation; /* as read before the store was: a racing write wins */
    slot->expires_ms = now + c->ttl_ms;
    pthread_rwlock_unlock(lock);
  }
  return rc;
}

static int cached_memberships(struct store *store, int64_t user_id, struct store_membership **out,
                              size_t *count) {
  struct cache_store *c = from(store);
  size_t i = (size_t)((uint64_t)user_id % MEMBERSHIP_SLOTS);
  pthread_rwlock_t *lock = &c->shards[i % SHARDS];
  struct membership_slot *slot = &c->memberships[i];
  uint64_t generation = atomic_load(&c->generation);
  int64_t now = time_monotonic_ms();

  pthread_rwlock_rdlock(lock);
  bool hit = slot->generation == generation && slot->expires_ms > now && slot->user_id == user_id;
  if (hit) {
    *count = slot->count;
    *out = malloc((slot->count ? slot->count : 1) * sizeof **out);
    if (!*out)
      abort();
    memcpy(*out, slot->items, slot->count * sizeof **out);
  }
  pthread_rwlock_unlock(lock);
  if (hit)
    return TE_OK;

  int rc = c->inner->ops->memberships(c->inner, user_id, out, count);
  if (rc == TE_OK && *count <= MEMBERSHIPS_CACHED) {
    pthread_rwlock_wrlock(lock);
    slot->user_id = user_id;
    slot->count = *count;
    memcpy(slot->items, *out, *count * sizeof **out);
    slot->generation = generation;
    slot->expires_ms = now + c->ttl_ms;
    pthread_rwlock_unlock(lock);
  }
  return rc;
}

/* Asynchronous writes: invalidate first, then tell the caller. */
struct done_relay {
  struct cache_store *cache;
  store_done_fn done;
  void *arg;
};

static void relay_done(void *arg, int result) {
  struct done_relay *r = arg;
  invalidate(r->cache);
  r->done(r->arg, result);
  free(r);
}

static struct done_relay *relay(struct cache_store *c, store_done_fn done, void *arg) {
  if (!done)
    return NULL;
  struct done_relay *r = malloc(sizeof *r);
  if (!r)
    abort();
  *r = (struct done_relay){c, done, arg};
  return r;
}

/* A new token cannot be in the cache (misses are not cached), so inserting invalidates nothing. */
static int passthrough_token_insert(struct store *store, const struct store_token *token,
                                    const struct audit_record *audit, store_done_fn done,
                                    void *arg) {
  return from(store)->inner->ops->token_insert(from(store)->inner, token, audit, done, arg);
}

/* An audit record changes nothing the cache holds. */
static int passthrough_audit_append(struct store *store, const struct audit_record *audit,
                                    store_done_fn done, void *arg) {
  return from(store)->inner->ops->audit_append(from(store)->inner, audit, done, arg);
}

static int cached_token_delete(struct store *store, int64_t user_id, const char *token_id,
                               const struct audit_record *audit, store_done_fn done, void *arg) {
  struct cache_store *c = from(store);
  struct done_relay *r = relay(c, done, arg);
  int rc =
      c->inner->ops->token_delete(c->inner, user_id, token_id, audit, r ? relay_done : NULL, r);
  if (!r)
    invalidate(c);
  return rc;
}

static int passthrough_machine_token_insert(struct store *store, const struct store_actor *actor,
                                            const struct store_token *token,
                                            const struct audit_record *audit) {
  return from(store)->inner->ops->machine_token_insert(from(store)->inner, actor, token, audit);
}

static int cached_machine_token_delete(struct store *store, const struct store_actor *actor,
                                       int64_t org_id, int64_t team_id, const char *token_id,
                                       const struct audit_record *audit) {
  struct cache_store *c = from(store);
  int rc = c->inner->ops->machine_token_delete(c->inner, actor, org_id, team_id, token_id, audit);
  invalidate(c);
  return rc;
}

static int passthrough_machine_token_get(struct store *store, int64_t org_id, const char *token_id,
                                         struct store_token *out) {
  return from(store)->inner->ops->machine_token_get(from(store)->inner, org_id, token_id, out);
}

/* Organizations are not cached, but a policy change is rare enough to move the generation anyway:
 * cached principals then never need to reason about it. */
static int cached_org_set_expiry_policy(struct store *store, const struct store_actor *actor,
                                        int64_t org_id, int days,
                                        const struct audit_record *audit) {
  struct cache_store *c = from(store);
  int rc = c->inner->ops->org_set_expiry_policy(c->inner, actor, org_id, days, audit);
  invalidate(c);
  return rc;
}

static int passthrough_org_member_count(struct store *store, int64_t org_id, int64_t *out) {
  return from(store)->inner->ops->org_member_count(from(store)->inner, org_id, out);
}

/* OIDC issuers are not cached, and a token an exchange issues is new (misses are not cached):
 * these pass through. */
static int passthrough_oidc_issuer_insert(struct store *store, const struct store_actor *actor,
                                          const struct store_oidc_issuer *issuer,
                                          const struct audit_record *audit) {
  return from(store)->inner->ops->oidc_issuer_insert(from(store)->inner, actor, issuer, audit);
}

static int passthrough_oidc_issuer_update(struct store *store, const struct store_actor *actor,
                                          const struct store_oidc_issuer *issuer,
                                          const struct audit_record *audit) {
  return from(store)->inner->ops->oidc_issuer_update(from(store)->inner, actor, issuer, audit);
}

static int passthrough_oidc_policy_update(struct store *store, const struct store_actor *actor,
                                          int64_t org_id, const char *policy_id, const char *policy,
                                          const struct audit_record *audit) {
  return from(store)->inner->ops->oidc_policy_update(from(store)->inner, actor, org_id, policy_id,
                                                     policy, audit);
}

static int passthrough_oidc_issuer_get(struct store *store, int64_t org_id, const char *id,
                                       struct store_oidc_issuer *out) {
  return from(store)->inner->ops->oidc_issuer_get(from(store)->inner, org_id, id, out);
}

static int passthrough_oidc_issuer_by_policy(struct store *store, int64_t org_id,
                                             const char *policy_id, struct store_oidc_issuer *out) {
  return from(store)->inner->ops->oidc_issuer_by_policy(from(store)->inner, org_id, policy_id, out);
}

static int passthrough_oidc_issuer_by_iss(struct store *store, int64_t org_id, const char *iss,
                                          struct store_oidc_issuer *out) {
  return from(store)->inner->ops->oidc_issuer_by_iss(from(store)->inner, org_id, iss, out);
}

static int passthrough_oidc_issuers_list(struct store *store, int64_t org_id,
                                         struct store_oidc_issuer **out, size_t *count) {
  return from(store)->inner->ops->oidc_issuers_list(from(store)->inner, org_id, out, count);
}

static int passthrough_oidc_token_insert(struct store *store, const struct store_token *token,
                                         const struct audit_record *audit) {
  return from(store)->inner->ops->oidc_token_insert(from(store)->inner, token, audit);
}

static int passthrough_oidc_issuer_set_keys(struct store *store,
                                            const struct store_oidc_issuer *was, const char *jwks,
                                            int64_t modified) {
  return from(store)->inner->ops->oidc_issuer_set_keys(from(store)->inner, was, jwks, modified);
}

/* Deleting an issuer revokes the tokens it issued: cached principals must go. */
static int cached_oidc_issuer_delete(struct store *store, const struct store_actor *actor,
                                     int64_t org_id, const char *id,
                                     const struct audit_record *audit) {
  struct cache_store *c = from(store);
  int rc = c->inner->ops->oidc_issuer_delete(c->inner, actor, org_id, id, audit);
  invalidate(c);
  return rc;
}

static int passthrough_user_password_hash(struct store *store, const char *login, char *out) {
  return from(store)->inner->ops->user_password_hash(from(store)->inner, login, out);
}

static int passthrough_user_set_password_hash(struct store *store, const char *login,
                                              const char *hash) {
  return from(store)->inner->ops->user_set_password_hash(from(store)->inner, login, hash);
}

/* Expired sessions are refused anyway; their cached entries die with the next write. */
static int cached_sessions_purge(struct store *store, int64_t now) {
  struct cache_store *c = from(store);
  int rc = c->inner->ops->sessions_purge(c->inner, now);
  invalidate(c);
  return rc;
}

static int cached_user_create(struct store *store, const struct store_user *user,
                              struct store_user *out) {
  struct cache_store *c = from(store);
  int rc = c->inner->ops->user_create(c->inner, user, out);
  invalidate(c);
  return rc;
}

static int cached_org_create(struct store *store, const char *name) {
  struct cache_store *c = from(store);
  int rc = c->inner->ops->org_create(c->inner, name);
  invalidate(c);
  return rc;
}

static int cached_member_set(struct store *store, const char *org, const char *login,
                             const char *role) {
  struct cache_store *c = from(store);
  int rc = c->inner->ops->member_set(c->inner, org, login, role);
  invalidate(c);
  return rc;
}

static int cached_tokens_touch(struct store *store, const struct store_last_used *updates,
                               size_t count) {
  struct cache_store *c = from(store);
  int rc = c->inner->ops->tokens_touch(c->inner, updates, count);
  invalidate(c); /* so cached principals pick up the new lastUsed */
  return rc;
}

static int passthrough_org_by_name(struct store *store, const char *name, struct store_org *out) {
  return from(store)->inner->ops->org_by_name(from(store)->inner, name, out);
}

static int passthrough_org_role(struct store *store, int64_t org_id, int64_t user_id, char *role) {
  return from(store)->inner->ops->org_role(from(store)->inner, org_id, user_id, role);
}

static int passthrough_org_members(struct store *store, int64_t org_id, int64_t after, int limit,
                                   struct store_member **out, size_t *count) {
  return from(store)->inner->ops->org_members(from(store)->inner, org_id, after, limit, out, count);
}

/* Membership changes alter what /api/user shows: invalidate before reporting. */
static int cached_org_member_add(struct store *store, const struct store_actor *actor,
                                 int64_t org_id, int64_t user_id, const char *role,
                                 const struct audit_record *audit) {
  struct cache_store *c = from(store);
  int rc = c->inner->ops->org_member_add(c->inner, actor, org_id, user_id, role, audit);
  invalidate(c);
  return rc;
}

static int cached_org_member_update(struct store *store, const struct store_actor *actor,
                                    int64_t org_id, int64_t user_id, const char *role,
                                    const struct audit_record *audit) {
  struct cache_store *c = from(store);
  int rc = c->inner->ops->org_member_update(c->inner, actor, org_id, user_id, role, audit);
  invalidate(c);
  return rc;
}

static int cached_org_member_remove(struct store *store, const struct store_actor *actor,
                                    int64_t org_id, int64_t user_id,
                                    const struct audit_record *audit) {
  struct cache_store *c = from(store);
  int rc = c->inner->ops->org_member_remove(c->inner, actor, org_id, user_id, audit);
  invalidate(c);
  return rc;
}

static int passthrough_teams_list(struct store *store, int64_t org_id, struct store_team **out,
                                  size_t *count) {
  return from(store)->inner->ops->teams_list(from(store)->inner, org_id, out, count);
}

static int passthrough_team_get(struct store *store, int64_t org_id, const char *name,
                                struct store_team *out) {
  return from(store)->inner->ops->team_get(from(store)->inner, org_id, name, out);
}

static int passthrough_team_members(struct store *store, int64_t team_id, struct store_member **out,
                                    size_t *count) {
  return from(store)->inner->ops->team_members(from(store)->inner, team_id, out, count);
}

static int passthrough_team_role(struct store *store, int64_t team_id, int64_t user_id,
                                 char *role) {
  return from(store)->inner->ops->team_role(from(store)->inner, team_id, user_id, role);
}

/* Team changes will affect team tokens' principals: invalidate like every other write. */
static int cached_team_create(struct store *store, const struct store_actor *actor, int64_t org_id,
                              const struct store_team *team, const struct audit_record *audit) {
  struct cache_store *c = from(store);
  int rc = c->inner->ops->team_create(c->inner, actor, org_id, team, audit);
  invalidate(c);
  return rc;
}

static int cached_team_update(struct store *store, const struct store_actor *actor, int64_t org_id,
                              int64_t team_id, const struct store_team_update *update,
                              const struct audit_record *audit) {
  struct cache_store *c = from(store);
  int rc = c->inner->ops->team_update(c->inner, actor, org_id, team_id, update, audit);
  invalidate(c);
  return rc;
}

static int cached_team_delete(struct store *store, const struct store_actor *actor, int64_t org_id,
                              int64_t team_id, const struct audit_record *audit) {
  struct cache_store *c = from(store);
  int rc = c->inner->ops->team_delete(c->inner, actor, org_id, team_id, audit);
  invalidate(c);
  return rc;
}

static int passthrough_audit_list(struct store *store, const struct store_audit_query *query,
                                  struct store_audit_record **out, size_t *count) {
  return from(store)->inner->ops->audit_list(from(store)->inner, query, out, count);
}

static int passthrough_user_by_login(struct store *store, const char *login,
                                     struct store_user *out) {
  return from(store)->inner->ops->user_by_login(from(store)->inner, login, out);
}

static int passthrough_token_list(struct store *store, const struct store_token_query *query,
                                  struct store_token **out, size_t *count) {
  return from(store)->inner->ops->token_list(from(store)->inner, query, out, count);
}

static int passthrough_data_version(struct store *store, uint64_t *out) {
  return from(store)->inner->ops->data_version(from(store)->inner, out);
}

static void passthrough_derive_secret(struct store *store, const char *purpose,
                                      unsigned char out[32]) {
  from(store)->inner->ops->derive_secret(from(store)->inner, purpose, out);
}

static void poll_for_changes(void *arg) {
  struct cache_store *c = arg;
  uint64_t version = 0;
  /* A failed poll invalidates too: when in doubt, read the store. */
  if (c->inner->ops->data_version(c->inner, &version) != TE_OK || version != c->seen_version) {
    c->seen_version = version;
    invalidate(c);
  }
}

static void cached_close(struct store *store) {
  struct cache_store *c = from(store);
  ticker_stop(c->poller);
  c->inner->ops->close(c->inner);
  for (int i = 0; i < SHARDS; i++)
    pthread_rwlock_destroy(&c->shards[i]);
  free(c->principals);
  free(c->memberships);
  free(c);
}

static const struct store_ops cache_ops = {
    .close = cached_close,
    .user_create = cached_user_create,
    .user_by_login = passthrough_user_by_login,
    .org_create = cached_org_create,
    .member_set = cached_member_set,
    .memberships = cached_memberships,
    .user_password_hash = passthrough_user_password_hash,
    .sessions_purge = cached_sessions_purge,
    .user_set_password_hash = passthrough_user_set_password_hash,
    .token_insert = passthrough_token_insert,
    .token_delete = cached_token_delete,
    .machine_token_insert = passthrough_machine_token_insert,
    .machine_token_delete = cached_machine_token_delete,
    .machine_token_get = passthrough_machine_token_get,
    .org_set_expiry_policy = cached_org_set_expiry_policy,
    .org_member_count = passthrough_org_member_count,
    .oidc_issuer_insert = passthrough_oidc_issuer_insert,
    .oidc_issuer_update = passthrough_oidc_issuer_update,
    .oidc_issuer_delete = cached_oidc_issuer_delete,
    .oidc_issuer_set_keys = passthrough_oidc_issuer_set_keys,
    .oidc_policy_update = passthrough_oidc_policy_update,
    .oidc_issuer_get = passthrough_oidc_issuer_get,
    .oidc_issuer_by_policy = passthrough_oidc_issuer_by_policy,
    .oidc_issuer_by_iss = passthrough_oidc_issuer_by_iss,
    .oidc_issuers_list = passthrough_oidc_issuers_list,
    .oidc_token_insert = passthrough_oidc_token_insert,
    .audit_append = passthrough_audit_append,
    .audit_list = passthrough_audit_list,
    .org_by_name = passthrough_org_by_name,
    .org_role = passthrough_org_role,
    .org_members = passthrough_org_members,
    .org_member_add = cached_org_member_add,
    .org_member_update = cached_org_member_update,
    .org_member_remove = cached_org_member_remove,
    .teams_list = passthrough_teams_list,
    .team_get = passthrough_team_get,
    .team_members = passthrough_team_members,
    .team_role = passthrough_team_role,
    .team_create = cached_team_create,
    .team_update = cached_team_update,
    .team_delete = cached_team_delete,
    .principal_by_token_hash = cached_principal_by_token_hash,
    .token_list = passthrough_token_list,
    .tokens_touch = cached_tokens_touch,
    .data_version = passthrough_data_version,
    .derive_secret = passthrough_derive_secret,
};

int store_cache_wrap(struct store *inner, int poll_ms, int ttl_seconds, struct store **out) {
  struct cache_store *c = calloc(1, sizeof *c);
  if (!c || !(c->principals = calloc(PRINCIPAL_SLOTS, sizeof *c->principals)) ||
      !(c->memberships = calloc(MEMBERSHIP_SLOTS, sizeof *c->memberships)))
    abort();
  c->base.ops = &cache_ops;
  c->inner = inner;
  c->ttl_ms = (int64_t)ttl_seconds * 1000;
  atomic_init(&c->generation, 1);
  for (int i = 0; i < SHARDS; i++)
    pthread_rwlock_init(&c->shards[i], NULL);
  if (inner->ops->data_version(inner, &c->seen_version) != TE_OK ||
      ticker_start(poll_ms, poll_for_changes, c, &c->poller) != TE_OK) {
    inner->ops->close(inner);
    free(c->principals);
    free(c->memberships);
    free(c);
    return TE_INTERNAL;
  }
  *out = &c->base;
  return TE_OK;
}
