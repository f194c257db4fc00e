#include "api/view_cache.h"

#include "core/timeutil.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 1024
#define SHARDS 16
#define TTL_MS 10000 /* like the store cache: no entry lives long, whatever else happens */

struct slot {
  int64_t user_id;
  uint64_t version; /* 0 = empty */
  int64_t expires_ms;
  char *body;
  size_t len;
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

char *view_cache_get(int64_t user_id, uint64_t version, size_t *len) {
  if (version == 0)
    return NULL;
  size_t i = index_of(user_id);
  char *copy = NULL;
  pthread_rwlock_rdlock(&shards[i % SHARDS]);
  struct slot *s = &slots[i];
  if (s->version == version && s->user_id == user_id && s->expires_ms > time_monotonic_ms()) {
    copy = malloc(s->len + 1);
    if (!copy)
      abort();
    memcpy(copy, s->body, s->len + 1);
    *len = s->len;
  }
  pthread_rwlock_unlock(&shards[i % SHARDS]);
  return copy;
}

void view_cache_put(int64_t user_id, uint64_t version, const char *body) {
  if (version == 0)
    return;
  size_t i = index_of(user_id), len = strlen(body);
  char *copy = malloc(len + 1);
  if (!copy)
    abort();
  memcpy(copy, body, len + 1);
  pthread_rwlock_wrlock(&shards[i % SHARDS]);
  struct slot *s = &slots[i];
  char *old = s->body;
  *s = (struct slot){user_id, version, time_monotonic_ms() + TTL_MS, copy, len};
  pthread_rwlock_unlock(&shards[i % SHARDS]);
  free(old);
}
