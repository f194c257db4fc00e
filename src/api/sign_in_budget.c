#include "api/sign_in_budget.h"

#include "core/timeutil.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 4096
#define PROBES 8 /* open addressing: an entry is within this many slots of its hash */
#define KEY_MAX 72

struct entry {
  char key[KEY_MAX];
  int64_t window_start_ms; /* clients: the minute being counted */
  int64_t last_failure_ms;
  int64_t blocked_until_ms; /* accounts */
  int count;
};

struct table {
  pthread_mutex_t lock;
  struct entry slots[SLOTS];
};

static struct table clients = {.lock = PTHREAD_MUTEX_INITIALIZER};
static struct table accounts = {.lock = PTHREAD_MUTEX_INITIALIZER};
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
  return (size_t)((h ^ (h >> 29)) % SLOTS);
}

/* Caller holds t->lock. The entry for key; with create, a new one in place of the stalest of its
 * probe run when there is none. NULL when absent and not created. */
static struct entry *find(struct table *t, const char *key, bool create) {
  size_t h = slot_of(key), stalest = h;
  for (size_t i = 0; i < PROBES; i++) {
    struct entry *e = &t->slots[(h + i) % SLOTS];
    if (strcmp(e->key, key) == 0)
      return e;
    if (e->last_failure_ms < t->slots[stalest].last_failure_ms)
      stalest = (h + i) % SLOTS;
  }
  if (!create)
    return NULL;
  struct entry *e = &t->slots[stalest];
  memset(e, 0, sizeof *e);
  snprintf(e->key, sizeof e->key, "%s", key);
  return e;
}

/* A client is an IPv4 address or an IPv6 /64: one host can have a whole /64. */
static void client_key(const char *ip, char out[KEY_MAX]) {
  snprintf(out, KEY_MAX, "%s", ip);
  struct in6_addr a;
  if (!strchr(ip, ':') || inet_pton(AF_INET6, ip, &a) != 1)
    return;
  memset(a.s6_addr + 8, 0, 8);
  inet_ntop(AF_INET6, &a, out, KEY_MAX);
}

/* Logins are compared without case, as the store does. */
static void account_key(const char *login, char out[KEY_MAX]) {
  size_t i = 0;
  for (; login[i] && i + 1 < KEY_MAX; i++)
    out[i] = (char)tolower((unsigned char)login[i]);
  out[i] = '\0';
}

int64_t sign_in_client_wait_ms(const char *client) {
  char key[KEY_MAX];
  client_key(client, key);
  int64_t now = time_monotonic_ms();
  pthread_mutex_lock(&clients.lock);
  struct entry *e = find(&clients, key, false);
  int64_t left = e ? e->window_start_ms + CLIENT_WINDOW_S * 1000 - now : 0;
  int64_t wait = e && left > 0 && e->count >= CLIENT_FAILURES ? left : 0;
  pthread_mutex_unlock(&clients.lock);
  return wait;
}

int64_t sign_in_account_wait_ms(const char *login) {
  char key[KEY_MAX];
  account_key(login, key);
  int64_t now = time_monotonic_ms();
  pthread_mutex_lock(&accounts.lock);
  struct entry *e = find(&accounts, key, false);
  int64_t wait = e && e->blocked_until_ms > now ? e->blocked_until_ms - now : 0;
  pthread_mutex_unlock(&accounts.lock);
  return wait;
}

static void count_client_failure(const char *client, int64_t now) {
  char key[KEY_MAX];
  client_key(client, key);
  pthread_mutex_lock(&clients.lock);
  struct entry *e = find(&clients, key, true);
  if (now - e->window_start_ms >= CLIENT_WINDOW_S * 1000) {
    e->window_start_ms = now;
    e->count = 0;
  }
  e->count++;
  e->last_failure_ms = now;
  pthread_mutex_unlock(&clients.lock);
}

static void count_account_failure(const char *login, int64_t now) {
  char key[KEY_MAX];
  account_key(login, key);
  pthread_mutex_lock(&accounts.lock);
  struct entry *e = find(&accounts, key, true);
  if (e->last_failure_ms && now - e->last_failure_ms >= ACCOUNT_FORGET_S * 1000)
    e->count = 0;
  e->count++;
  e->last_failure_ms = now;
  int over = e->count - ACCOUNT_FREE_FAILURES;
  if (over > 0) {
    int64_t delay_s = over > 5 ? ACCOUNT_MAX_DELAY_S : (int64_t)1 << (over - 1);
    e->blocked_until_ms =
        now + (delay_s < ACCOUNT_MAX_DELAY_S ? delay_s : ACCOUNT_MAX_DELAY_S) * 1000;
  }
  pthread_mutex_unlock(&accounts.lock);
}

void sign_in_failed(const char *client, const char *login) {
  int64_t now = time_monotonic_ms();
  count_client_failure(client, now);
  if (login && *login)
    count_account_failure(login, now);
}

void sign_in_succeeded(const char *login) {
  char key[KEY_MAX];
  account_key(login, key);
  pthread_mutex_lock(&accounts.lock);
  struct entry *e = find(&accounts, key, false);
  if (e)
    memset(e, 0, sizeof *e);
  pthread_mutex_unlock(&accounts.lock);
}
