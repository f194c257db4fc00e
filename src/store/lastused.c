#include "store/lastused.h"

#include "core/error.h"
#include "core/ticker.h"
#include "core/timeutil.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#define BUCKETS 4096 /* chains stay short up to tens of thousands of tokens in use per interval */

struct entry {
  int64_t seq;
  int64_t pending; /* 0 when nothing waits to be written */
  int64_t written; /* when this process last wrote it; throttles the window before readers see it */
  struct entry *next;
};

struct lastused {
  struct store *store;
  int64_t interval;
  pthread_mutex_t lock;
  struct ticker *flusher;
  struct entry *buckets[BUCKETS];
};

static struct entry **slot(struct lastused *lu, int64_t seq) {
  struct entry **e = &lu->buckets[(uint64_t)seq % BUCKETS];
  while (*e && (*e)->seq != seq)
    e = &(*e)->next;
  return e;
}

static struct entry *entry_get_or_add(struct lastused *lu, int64_t seq) {
  struct entry **e = slot(lu, seq);
  if (!*e) {
    *e = calloc(1, sizeof **e);
    if (!*e)
      abort();
    (*e)->seq = seq;
  }
  return *e;
}

void lastused_note(struct lastused *lu, int64_t seq, int64_t stored, int64_t now) {
  if (now - stored < lu->interval)
    return;
  pthread_mutex_lock(&lu->lock);
  struct entry *e = entry_get_or_add(lu, seq);
  if (e->pending || now - e->written >= lu->interval)
    e->pending = now;
  pthread_mutex_unlock(&lu->lock);
}

int64_t lastused_effective(struct lastused *lu, int64_t seq, int64_t stored) {
  pthread_mutex_lock(&lu->lock);
  struct entry *e = *slot(lu, seq);
  int64_t pending = e ? e->pending : 0;
  pthread_mutex_unlock(&lu->lock);
  return pending > stored ? pending : stored;
}

/* Takes the pending uses out of the table and forgets entries whose throttle window has passed. */
static struct store_last_used *take_pending(struct lastused *lu, int64_t now, size_t *count) {
  size_t n = 0, cap = 0;
  struct store_last_used *updates = NULL;
  for (int b = 0; b < BUCKETS; b++) {
    for (struct entry **e = &lu->buckets[b]; *e;) {
      struct entry *cur = *e;
      if (cur->pending) {
        if (n == cap) {
          cap = cap ? cap * 2 : 64;
          updates = realloc(updates, cap * sizeof *updates);
          if (!updates)
            abort();
        }
        updates[n++] = (struct store_last_used){cur->seq, cur->pending};
        cur->written = cur->pending;
        cur->pending = 0;
      }
      if (!cur->pending && now - cur->written >= lu->interval) {
        *e = cur->next;
        free(cur);
      } else {
        e = &cur->next;
      }
    }
  }
  *count = n;
  return updates;
}

/* Puts uses back after a failed write, so the next flush retries them. */
static void restore_pending(struct lastused *lu, const struct store_last_used *u, size_t n) {
  for (size_t i = 0; i < n; i++) {
    struct entry *e = entry_get_or_add(lu, u[i].seq);
    if (e->pending < u[i].last_used)
      e->pending = u[i].last_used;
  }
}

int lastused_flush(struct lastused *lu) {
  size_t n;
  pthread_mutex_lock(&lu->lock);
  struct store_last_used *updates = take_pending(lu, time_now(), &n);
  pthread_mutex_unlock(&lu->lock);
  int rc = n ? lu->store->ops->tokens_touch(lu->store, updates, n) : TE_OK;
  if (rc) {
    fprintf(stderr, "tessera: could not record last use of %zu tokens; will retry\n", n);
    pthread_mutex_lock(&lu->lock);
    restore_pending(lu, updates, n);
    pthread_mutex_unlock(&lu->lock);
  }
  free(updates);
  return rc;
}

/* A pending use is written at the next tick; later uses within the interval are throttled. */
static void flush_tick(void *arg) {
  lastused_flush(arg);
}

int lastused_start(struct store *store, int64_t interval_seconds, int tick_ms,
                   struct lastused **out) {
  struct lastused *lu = calloc(1, sizeof *lu);
  if (!lu)
    abort();
  lu->store = store;
  lu->interval = interval_seconds > 0 ? interval_seconds : 1;
  pthread_mutex_init(&lu->lock, NULL);
  if (ticker_start(tick_ms, flush_tick, lu, &lu->flusher) != TE_OK) {
    pthread_mutex_destroy(&lu->lock);
    free(lu);
    return TE_INTERNAL;
  }
  *out = lu;
  return TE_OK;
}

void lastused_stop(struct lastused *lu) {
  ticker_stop(lu->flusher);
  lastused_flush(lu);
  for (int b = 0; b < BUCKETS; b++) {
    for (struct entry *e = lu->buckets[b], *next; e; e = next) {
      next = e->next;
      free(e);
    }
  }
  pthread_mutex_destroy(&lu->lock);
  free(lu);
}
