#include "api/view_cache.h"

#include "core/timeutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 1024
#define SHARDS 16
#define TTL_MS 10000 /* like the store cache: no entry lives long, whatever else happens */

/* The public part first, so that a struct view_body * is a struct entry *. */
struct entry {
  struct view_body body;
  atomic_int refs; /* the slot's one, plus one per reply that holds it */
  char text[];
};

struct slot {
  int64_t user_id;
  uint64_t version; /* 0 = empty */
  int64_t expires_ms;
  struct entry *entry;
};

static struct slot slots[SLOTS];
static pthread_rwlock_t shards[SHARDS] = {
    PTHREAD_RWLOCK_INITIALIZER, PTHREAD_RWLOCK_INITIALIZER, PTHREAD_RWLOCK_INITIALIZER,
    PTHREAD_RWLOCK_INITIALIZER, PTHREAD_RWLOCK_INITIALIZER, PTHREAD_RWLOCK_INITIALIZER,
    PTHREAD_RWLOCK_INITIALIZER, PTHREAD_RWLOCK_INITIALIZER, PTHREAD_RWLOCK_INITIALIZER,
    PTHREAD_RWLOCK_INITIALIZER, PTHREAD_RWLOCK_INITIALIZER, PTHREAD_RWLOCK_INITIALIZER,
    PTHREAD_RWLOCK_INITIALIZER, PTHREAD_RWLOCK_INITIALIZER, PTHREAD_RWLOCK_INITIALIZER,
    PTHREAD_RWLOCK_INITIALIZER,
};

static size_t index_of(int64_t user_id) {
  return (size_t)((uint64_t)user_id % SLOTS);
}

static void entry_release(struct entry *e) {
  /* acq_rel: whoever drops the last reference sees every earlier holder's reads done */
  if (e && atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1)
    free(e);
}

void view_body_release(void *body) {
  entry_release(body);
}

const struct view_body *view_cache_get(int64_t user_id, uint64_t version) {
  if (version == 0)
    return NULL;
  size_t i = index_of(user_id);
  struct entry *hit = NULL;
  pthread_rwlock_rdlock(&shards[i % SHARDS]);
  struct slot *s = &slots[i];
  if (s->version == version && s->user_id == user_id && s->expires_ms > time_coarse_ms()) {
    hit = s->entry;
    /* under the read lock: the slot's own reference keeps it alive until we hold ours */
    atomic_fetch_add_explicit(&hit->refs, 1, memory_order_relaxed);
  }
  pthread_rwlock_unlock(&shards[i % SHARDS]);
  return hit ? &hit->body : NULL;
}

void view_cache_put(int64_t user_id, uint64_t version, const char *body) {
  if (version == 0)
    return;
  size_t i = index_of(user_id), len = strlen(body);
  struct entry *e = malloc(sizeof *e + len + 1);
  if (!e)
    abort();
  memcpy(e->text, body, len + 1);
  e->body = (struct view_body){len, e->text};
  atomic_init(&e->refs, 1);
  pthread_rwlock_wrlock(&shards[i % SHARDS]);
  struct slot *s = &slots[i];
  struct entry *old = s->entry;
  *s = (struct slot){user_id, version, time_coarse_ms() + TTL_MS, e};
  pthread_rwlock_unlock(&shards[i % SHARDS]);
  entry_release(old); /* freed now, or by the last reply that still sends it */
}
