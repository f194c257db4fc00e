/* The parsed-JWKS cache (jwk_cache.h): direct-mapped slots under one lock; an entry is counted by
 * its slot and by each caller holding it, and freed when the last of them lets go. */

#include "oidc/jwk_cache.h"

#include "core/error.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jwk_cached {
  char owner[JWK_CACHE_OWNER_MAX + 1];
  char *text;
  size_t len;
  struct jwk_set *set;
  unsigned refs;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct jwk_cached *slots[JWK_CACHE_SLOTS];

static size_t slot_of(const char *owner) {
  uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
  for (; *owner; owner++)
    h = (h ^ (unsigned char)*owner) * 0x100000001b3u;
  return (size_t)(h % JWK_CACHE_SLOTS);
}

static bool same(const struct jwk_cached *e, const char *owner, const char *json, size_t len) {
  return e && e->len == len && strcmp(e->owner, owner) == 0 && memcmp(e->text, json, len) == 0;
}

/* Called with the lock held. */
static void unref(struct jwk_cached *e) {
  if (!e || --e->refs)
    return;
  jwk_set_free(e->set);
  free(e->text);
  free(e);
}

static struct jwk_cached *entry_new(const char *owner, const char *json, size_t len,
                                    struct jwk_set *set) {
  struct jwk_cached *e = calloc(1, sizeof *e);
  if (!e || !(e->text = malloc(len ? len : 1)))
    abort();
  snprintf(e->owner, sizeof e->owner, "%s", owner);
  memcpy(e->text, json, len);
  e->len = len;
  e->set = set;
  e->refs = 1; /* the caller's */
  return e;
}

int jwk_cache_get(const char *owner, const char *json, size_t len, const struct jwk_set **keys,
                  struct jwk_cached **held, const char **why) {
  *keys = NULL;
  *held = NULL;
  size_t slot = slot_of(owner);
  pthread_mutex_lock(&lock);
  struct jwk_cached *e = slots[slot];
  bool hit = json && strlen(owner) <= JWK_CACHE_OWNER_MAX && same(e, owner, json, len);
  if (hit)
    e->refs++;
  pthread_mutex_unlock(&lock);
  if (!hit) {
    /* Parsed outside the lock: it takes tens of microseconds a key. */
    struct jwk_set *set = NULL;
    int rc = jwk_set_parse(json, len, &set, why);
    if (rc)
      return rc;
    e = entry_new(owner, json, len, set);
    if (strlen(owner) <= JWK_CACHE_OWNER_MAX) {
      pthread_mutex_lock(&lock);
      unref(slots[slot]);
      slots[slot] = e;
      e->refs++; /* the slot's */
      pthread_mutex_unlock(&lock);
    }
  }
  *keys = e->set;
  *held = e;
  return TE_OK;
}

void jwk_cache_release(struct jwk_cached *held) {
  pthread_mutex_lock(&lock);
  unref(held);
  pthread_mutex_unlock(&lock);
}

void jwk_cache_clear(void) {
  pthread_mutex_lock(&lock);
  for (size_t i = 0; i < JWK_CACHE_SLOTS; i++) {
    unref(slots[i]);
    slots[i] = NULL;
  }
  pthread_mutex_unlock(&lock);
}
