#include "api/budget_table.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBES 8 /* open addressing: an entry is within this many slots of its hash */

static uint64_t hash_key;
static pthread_once_t hash_key_once = PTHREAD_ONCE_INIT;

static void make_hash_key(void) {
  if (RAND_bytes((unsigned char *)&hash_key, sizeof hash_key) != 1)
    abort();
}

/* FNV-1a from a secret starting point: which slots two keys share cannot be predicted. */
static size_t slot_of(const char *key) {
  pthread_once(&hash_key_once, make_hash_key);
  uint64_t h = 0xcbf29ce484222325ULL ^ hash_key;
  for (const char *c = key; *c; c++)
    h = (h ^ (unsigned char)*c) * 0x100000001b3ULL;
  return (size_t)((h ^ (h >> 29)) % BUDGET_SLOTS);
}

struct budget_entry *budget_find(struct budget_table *t, const char *key, bool create) {
  size_t h = slot_of(key), stalest = h;
  for (size_t i = 0; i < PROBES; i++) {
    struct budget_entry *e = &t->slots[(h + i) % BUDGET_SLOTS];
    if (strcmp(e->key, key) == 0)
      return e;
    if (e->last_ms < t->slots[stalest].last_ms)
      stalest = (h + i) % BUDGET_SLOTS;
  }
  if (!create)
    return NULL;
  struct budget_entry *e = &t->slots[stalest];
  memset(e, 0, sizeof *e);
  snprintf(e->key, sizeof e->key, "%s", key);
  return e;
}

void budget_client_key(const char *ip, char out[BUDGET_KEY_MAX]) {
  snprintf(out, BUDGET_KEY_MAX, "%s", ip);
  struct in6_addr a;
  if (!strchr(ip, ':') || inet_pton(AF_INET6, ip, &a) != 1)
    return;
  /* An IPv4 client as a dual-stack proxy writes it (::ffff:a.b.c.d) is that IPv4 address: its
   * /64 would be every IPv4 client at once. */
  if (IN6_IS_ADDR_V4MAPPED(&a)) {
    inet_ntop(AF_INET, a.s6_addr + 12, out, BUDGET_KEY_MAX);
    return;
  }
  memset(a.s6_addr + 8, 0, 8);
  inet_ntop(AF_INET6, &a, out, BUDGET_KEY_MAX);
}

/* Caller holds the lock. */
static int64_t wait_locked(const struct budget_entry *e, int limit, int64_t window_ms,
                           int64_t now_ms) {
  int64_t left = e ? e->window_start_ms + window_ms - now_ms : 0;
  return e && left > 0 && e->count >= limit ? left : 0;
}

static void spend_locked(struct budget_table *t, const char *key, int64_t window_ms,
                         int64_t now_ms) {
  struct budget_entry *e = budget_find(t, key, true);
  if (e->count == 0 || now_ms - e->window_start_ms >= window_ms) {
    e->window_start_ms = now_ms;
    e->count = 0;
  }
  e->count++;
  e->last_ms = now_ms;
}

int64_t budget_window_wait_ms(struct budget_table *t, const char *key, int limit, int64_t window_ms,
                              int64_t now_ms) {
  pthread_mutex_lock(&t->lock);
  int64_t wait = wait_locked(budget_find(t, key, false), limit, window_ms, now_ms);
  pthread_mutex_unlock(&t->lock);
  return wait;
}

void budget_window_spend(struct budget_table *t, const char *key, int64_t window_ms,
                         int64_t now_ms) {
  pthread_mutex_lock(&t->lock);
  spend_locked(t, key, window_ms, now_ms);
  pthread_mutex_unlock(&t->lock);
}

int64_t budget_window_take(struct budget_table *t, const char *key, int limit, int64_t window_ms,
                           int64_t now_ms) {
  pthread_mutex_lock(&t->lock);
  int64_t wait = wait_locked(budget_find(t, key, false), limit, window_ms, now_ms);
  if (!wait)
    spend_locked(t, key, window_ms, now_ms);
  pthread_mutex_unlock(&t->lock);
  return wait;
}
