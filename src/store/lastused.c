#include "store/lastused.h"

#include "core/error.h"
#include "core/ticker.h"
#include "core/timeutil.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS_MIN 1024 /* a shard's, doubled whenever it holds twice as many entries */

/* Uses written a commit. A write holds the store's one writer: 100k uses in one job held it for
 * a second or more on a million tokens (each a row on a page of its own), and every creation
 * queued behind it waited as long. A thousand take about 15 ms, and what was queued meanwhile
 * goes first. */
#define USES_A_COMMIT 1000

/* The table in shards of their own lock, by seq: with a million tokens each used once, every
 * request notes a use, and one lock for all of them had the worker threads queue and sleep on it
 * (the first use of each token, 100k a second). */
#define SHARDS 16

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

struct shard {
  pthread_mutex_t lock;
  struct entry **buckets;
  size_t nbuckets, count;
  /* Entries written and let go, kept for the next uses: they are noted on the worker threads
   * and let go on the flusher's, where each free went to glibc's shared arena. */
  struct entry *spare;
} __attribute__((aligned(64)));

struct lastused {
  struct store *store;
  int64_t interval;
  struct ticker *flusher;
  struct shard shards[SHARDS];
};

_Static_assert(SHARDS == 16, "shard_of takes the top four bits of the seq's hash");

static struct shard *shard_of(struct lastused *lu, int64_t seq) {
  return &lu->shards[((uint64_t)seq * 0x9E3779B97F4A7C15u) >> 60]; /* SHARDS = 2^4 */
}

static struct entry **slot(struct shard *sh, int64_t seq) {
  struct entry **e = &sh->buckets[(uint64_t)seq % sh->nbuckets];
  while (*e && (*e)->seq != seq)
    e = &(*e)->next;
  return e;
}

static void grow(struct shard *sh) {
  size_t n = sh->nbuckets * 2;
  struct entry **buckets = calloc(n, sizeof *buckets);
  if (!buckets)
    abort();
  for (size_t b = 0; b < sh->nbuckets; b++)
    for (struct entry *e = sh->buckets[b], *next; e; e = next) {
      next = e->next;
      e->next = buckets[(uint64_t)e->seq % n];
      buckets[(uint64_t)e->seq % n] = e;
    }
  free(sh->buckets);
  sh->buckets = buckets;
  sh->nbuckets = n;
}

static struct entry *entry_get_or_add(struct shard *sh, int64_t seq) {
  struct entry **e = slot(sh, seq);
  if (!*e) {
    if (sh->count + 1 > 2 * sh->nbuckets) {
      grow(sh);
      e = slot(sh, seq);
    }
    struct entry *fresh = sh->spare;
    if (fresh)
      sh->spare = fresh->next;
    else if (!(fresh = malloc(sizeof *fresh)))
      abort();
    *fresh = (struct entry){.seq = seq};
    *e = fresh;
    sh->count++;
  }
  return *e;
}

void lastused_note(struct lastused *lu, int64_t seq, int64_t stored, int64_t now) {
  if (now - stored < lu->interval)
    return;
  struct shard *sh = shard_of(lu, seq);
  pthread_mutex_lock(&sh->lock);
  struct entry *e = entry_get_or_add(sh, seq);
  if (e->pending || now - e->writing >= lu->interval)
    e->pending = now;
  pthread_mutex_unlock(&sh->lock);
}

int64_t lastused_effective(struct lastused *lu, int64_t seq, int64_t stored) {
  struct shard *sh = shard_of(lu, seq);
  pthread_mutex_lock(&sh->lock);
  struct entry *e = *slot(sh, seq);
  int64_t pending = e ? (e->pending > e->writing ? e->pending : e->writing) : 0;
  pthread_mutex_unlock(&sh->lock);
  return pending > stored ? pending : stored;
}

/* Takes the pending uses out of the table, each entry now writing its use; one shard at a time,
 * so a worker waits for at most one shard's walk. */
static struct store_last_used *take_pending(struct lastused *lu, size_t *count) {
  size_t n = 0, cap = 0;
  struct store_last_used *updates = NULL;
  for (int k = 0; k < SHARDS; k++) {
    struct shard *sh = &lu->shards[k];
    pthread_mutex_lock(&sh->lock);
    for (size_t b = 0; b < sh->nbuckets; b++) {
      for (struct entry *e = sh->buckets[b]; e; e = e->next) {
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
    pthread_mutex_unlock(&sh->lock);
  }
  *count = n;
  return updates;
}

/* After a write: ok, the entries written and not used again since go; otherwise their uses wait
 * for the next flush. */
static void written(struct lastused *lu, const struct store_last_used *u, size_t n, bool ok) {
  for (size_t i = 0; i < n; i++) {
    struct shard *sh = shard_of(lu, u[i].seq);
    pthread_mutex_lock(&sh->lock);
    struct entry **link = slot(sh, u[i].seq), *e = *link;
    if (e) {
      if (!ok && e->pending < e->writing)
        e->pending = e->writing;
      e->writing = 0;
      if (!e->pending) {
        *link = e->next;
        e->next = sh->spare;
        sh->spare = e;
        sh->count--;
      }
    }
    pthread_mutex_unlock(&sh->lock);
  }
}

static int by_seq(const void *a, const void *b) {
  int64_t x = ((const struct store_last_used *)a)->seq,
          y = ((const struct store_last_used *)b)->seq;
  return (x > y) - (x < y);
}

int lastused_flush(struct lastused *lu) {
  size_t n;
  struct store_last_used *updates = take_pending(lu, &n);
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
    written(lu, updates + from, part, part_rc == TE_OK);
  }
  free(updates);
  return rc;
}

/* A pending use is written at the next tick; later uses within the interval are throttled. */
static void flush_tick(void *arg) {
  lastused_flush(arg);
}

static void shards_free(struct lastused *lu) {
  for (int k = 0; k < SHARDS; k++) {
    struct shard *sh = &lu->shards[k];
    for (size_t b = 0; b < sh->nbuckets; b++)
      for (struct entry *e = sh->buckets[b], *next; e; e = next) {
        next = e->next;
        free(e);
      }
    for (struct entry *e = sh->spare, *next; e; e = next) {
      next = e->next;
      free(e);
    }
    free(sh->buckets);
    pthread_mutex_destroy(&sh->lock);
  }
}

int lastused_start(struct store *store, int64_t interval_seconds, int tick_ms,
                   struct lastused **out) {
  struct lastused *lu = aligned_alloc(64, sizeof *lu);
  if (!lu)
    abort();
  memset(lu, 0, sizeof *lu);
  lu->store = store;
  lu->interval = interval_seconds > 0 ? interval_seconds : 1;
  for (int k = 0; k < SHARDS; k++) {
    struct shard *sh = &lu->shards[k];
    sh->nbuckets = BUCKETS_MIN;
    if (!(sh->buckets = calloc(sh->nbuckets, sizeof *sh->buckets)))
      abort();
    pthread_mutex_init(&sh->lock, NULL);
  }
  if (ticker_start("lastused", tick_ms, flush_tick, lu, &lu->flusher) != TE_OK) {
    shards_free(lu);
    free(lu);
    return TE_INTERNAL;
  }
  *out = lu;
  return TE_OK;
}

void lastused_stop(struct lastused *lu) {
  ticker_stop(lu->flusher);
  lastused_flush(lu);
  shards_free(lu);
  free(lu);
}
