#include "store/lastused.h"

#include "core/error.h"
#include "core/ticker.h"
#include "core/timeutil.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#define BUCKETS_MIN 4096 /* and doubled whenever there are twice as many entries */

/* Uses written a commit. A write holds the store's one writer: 100k uses in one job held it for
 * a second or more on a million tokens (each a row on a page of its own), and every creation
 * queued behind it waited as long. A thousand take about 15 ms, and what was queued meanwhile
 * goes first. */
#define USES_A_COMMIT 1000

/* A token used since its lastUsed was last written by this process. Its entry goes once that use
 * is written: from then on the caller's stored value is recent (the caching store records each
 * write in its entry, store/cache.c; an uncached store reads the row), which throttles later
 * uses. So the table holds about one tick's worth of tokens, not an interval's. */
struct entry {
  int64_t seq;
  int64_t pending; /* 0 when nothing waits to be written */
  int64_t writing; /* the use being written now (0 for none): throttles uses meanwhile */
  struct entry *next;
};

struct lastused {
  struct store *store;
  int64_t interval;
  pthread_mutex_t lock;
  struct ticker *flusher;
  struct entry **buckets;
  size_t nbuckets, count;
};

static struct entry **slot(struct lastused *lu, int64_t seq) {
  struct entry **e = &lu->buckets[(uint64_t)seq % lu->nbuckets];
  while (*e && (*e)->seq != seq)
    e = &(*e)->next;
  return e;
}

static void grow(struct lastused *lu) {
  size_t n = lu->nbuckets * 2;
  struct entry **buckets = calloc(n, sizeof *buckets);
  if (!buckets)
    abort();
  for (size_t b = 0; b < lu->nbuckets; b++)
    for (struct entry *e = lu->buckets[b], *next; e; e = next) {
      next = e->next;
      e->next = buckets[(uint64_t)e->seq % n];
      buckets[(uint64_t)e->seq % n] = e;
    }
  free(lu->buckets);
  lu->buckets = buckets;
  lu->nbuckets = n;
}

static struct entry *entry_get_or_add(struct lastused *lu, int64_t seq) {
  struct entry **e = slot(lu, seq);
  if (!*e) {
    if (lu->count + 1 > 2 * lu->nbuckets) {
      grow(lu);
      e = slot(lu, seq);
    }
    *e = calloc(1, sizeof **e);
    if (!*e)
      abort();
    (*e)->seq = seq;
    lu->count++;
  }
  return *e;
}

void lastused_note(struct lastused *lu, int64_t seq, int64_t stored, int64_t now) {
  if (now - stored < lu->interval)
    return;
  pthread_mutex_lock(&lu->lock);
  struct entry *e = entry_get_or_add(lu, seq);
  if (e->pending || now - e->writing >= lu->interval)
    e->pending = now;
  pthread_mutex_unlock(&lu->lock);
}

int64_t lastused_effective(struct lastused *lu, int64_t seq, int64_t stored) {
  pthread_mutex_lock(&lu->lock);
  struct entry *e = *slot(lu, seq);
  int64_t pending = e ? (e->pending > e->writing ? e->pending : e->writing) : 0;
  pthread_mutex_unlock(&lu->lock);
  return pending > stored ? pending : stored;
}

/* Takes the pending uses out of the table, each entry now writing its use. */
static struct store_last_used *take_pending(struct lastused *lu, size_t *count) {
  size_t n = 0, cap = 0;
  struct store_last_used *updates = NULL;
  for (size_t b = 0; b < lu->nbuckets; b++) {
    for (struct entry *e = lu->buckets[b]; e; e = e->next) {
      if (!e->pending)
        continue;
      if (n == cap) {
        cap = cap ? cap * 2 : 64;
        updates = realloc(updates, cap * sizeof *updates);
        if (!updates)
          abort();
      }
      updates[n++] = (struct store_last_used){e->seq, e->pending};
      e->writing = e->pending;
      e->pending = 0;
    }
  }
  *count = n;
  return updates;
}

/* After a write: ok, the entries written and not used again since go; otherwise their uses wait
 * for the next flush. */
static void written(struct lastused *lu, const struct store_last_used *u, size_t n, bool ok) {
  for (size_t i = 0; i < n; i++) {
    struct entry **link = slot(lu, u[i].seq), *e = *link;
    if (!e)
      continue;
    if (!ok && e->pending < e->writing)
      e->pending = e->writing;
    e->writing = 0;
    if (!e->pending) {
      *link = e->next;
      free(e);
      lu->count--;
    }
  }
}

static int by_seq(const void *a, const void *b) {
  int64_t x = ((const struct store_last_used *)a)->seq,
          y = ((const struct store_last_used *)b)->seq;
  return (x > y) - (x < y);
}

int lastused_flush(struct lastused *lu) {
  size_t n;
  pthread_mutex_lock(&lu->lock);
  struct store_last_used *updates = take_pending(lu, &n);
  pthread_mutex_unlock(&lu->lock);
  /* In seq order before they are split: each commit then covers a run of neighbouring rows, a
   * few pages of token_uses, where taken in bucket order each of its thousand uses had a page
   * of its own (100k uses over a million tokens: 360 MB of log, against 13 MB). */
  if (n > 1)
    qsort(updates, n, sizeof *updates, by_seq);
  int rc = TE_OK;
  for (size_t from = 0; from < n; from += USES_A_COMMIT) {
    size_t part = n - from < USES_A_COMMIT ? n - from : USES_A_COMMIT;
    /* After a failure the rest is not tried: the store is likely down; all of it waits. */
    int part_rc = rc ? rc : lu->store->ops->tokens_touch(lu->store, updates + from, part);
    if (part_rc && !rc)
      fprintf(stderr, "tessera: could not record last use of %zu tokens; will retry\n", n - from);
    rc = part_rc;
    pthread_mutex_lock(&lu->lock);
    written(lu, updates + from, part, part_rc == TE_OK);
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
  lu->nbuckets = BUCKETS_MIN;
  if (!(lu->buckets = calloc(lu->nbuckets, sizeof *lu->buckets)))
    abort();
  pthread_mutex_init(&lu->lock, NULL);
  if (ticker_start("lastused", tick_ms, flush_tick, lu, &lu->flusher) != TE_OK) {
    pthread_mutex_destroy(&lu->lock);
    free(lu->buckets);
    free(lu);
    return TE_INTERNAL;
  }
  *out = lu;
  return TE_OK;
}

void lastused_stop(struct lastused *lu) {
  ticker_stop(lu->flusher);
  lastused_flush(lu);
  for (size_t b = 0; b < lu->nbuckets; b++) {
    for (struct entry *e = lu->buckets[b], *next; e; e = next) {
      next = e->next;
      free(e);
    }
  }
  free(lu->buckets);
  pthread_mutex_destroy(&lu->lock);
  free(lu);
}
