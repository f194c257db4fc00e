/* A caching decorator over any store: token, membership and organization lookups are answered
 * from memory, so the hot path (authenticating a request) touches no database at all, and an
 * OIDC exchange reads its organization without one.
 *
 * The principal cache holds every token (store/principal_table.h, about a hundred bytes a token):
 * at start a loader thread reads them all, page by page, while requests are served (from the
 * store, until it is done), and the change feed then names each token made or deleted anywhere,
 * which the cache loads or drops. Once complete, a value whose hash it does not hold is refused
 * without reading the store: a flood of made-up tokens costs one SHA-256 and one lookup each.
 *
 * Entries are dropped or marked stale one by one, by the change feed (store.h, store_change):
 * every committed change that may make an entry stale names what it touched (a token's seq, a
 * user, an organization, a team, an OIDC issuer), and the entries that depend on it go or are
 * read again on their next use. The feed is read
 *  - after every commit this process makes, before its writes are reported done (the store calls
 *    the watcher), so a deleted token is refused, and a new one accepted, on the very next request;
 *  - when another node announces a commit (PostgreSQL's NOTIFY), and every poll_ms regardless
 *    (commits by other processes on SQLite, a notification lost with its connection). A token
 *    made on another node is therefore accepted here once the feed has said so: at once after
 *    the NOTIFY (bench/README.md measures the same path for revocations), poll_ms at worst.
 * A fill that races with a drop is not kept: the epoch moves before anything is dropped, and a
 * fill is stored only if the epoch it read before reading the store is still current (a token
 * the complete cache did not hold is then read again under the feed's lock and kept, or its next
 * lookup could be refused from memory, read_absent_again). The loader
 * reads and stores each page under the feed's lock, so no deletion can be applied between the
 * two. If the feed cannot be read for stale_ms, nothing is answered from memory, not even a
 * refusal, until it can (fail closed: the store's own answer, or its 503, instead of a stale
 * one). A gap in the feed marks everything stale and loads every token again.
 *
 * Every entry is also read again within ttl, a bound on anything the feed could miss: once the
 * cache is complete, the loader walks every token again, a page at a time, spread over ttl/2 (and
 * at least a page a second), without the feed's lock: a page only extends the entries that still
 * hold what it read (ptable_confirm), and makes stale those that do not. Every entry read from
 * the store is fresh for ttl. A request never waits on the store for an entry whose time is up:
 * with a million tokens that was a read for every few requests, on the request's own thread, five
 * minutes after start (PostgreSQL's rate fell from 54k to 15k a second). An entry the walk does not
 * find again (a token deleted while the feed could not say so) is read again on its first use once
 * its ttl is up, and goes. Principals carry a version that changes whenever who they stand for
 * changes, so callers can cache what they derive from them (api/view_cache.c).
 *
 * A deleted token's row is gone, so the store cannot tell a revoked token from one never made;
 * the cache can, for the tokens it held: when the feed names an entry's token as deleted, its
 * hash is remembered (REVOKED_SLOTS of them), so that tessera_auth_checks_total can count a later
 * use as revoked rather than unknown. It is asked only after a lookup found nothing. */

#include "store/store.h"

#include "core/error.h"
#include "core/metrics.h"
#include "core/threadname.h"
#include "core/ticker.h"
#include "core/timeutil.h"
#include "store/principal_table.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MEMBERSHIP_SLOTS 1024
#define MEMBERSHIPS_CACHED 16    /* users in more orgs than this are always read from the store */
#define SHARDS 64                /* readers of different slots rarely share a lock */
#define FEED_PAGE 4096           /* a fuller page than this (a huge commit) forgets everything */
#define REVOKED_SLOTS 1024       /* direct-mapped by hash: a later deletion may take an earlier's */
#define GONE_SEQS 4096           /* deleted tokens' seqs, direct-mapped, for their last uses */
#define LOAD_PAGE 1000           /* tokens the loader reads at a time, holding the feed's lock */
#define REFRESH_PAGE 250         /* tokens the walk reads again at a time (no lock held) */
#define REFRESH_WAIT_MAX_MS 1000 /* the walk's longest wait between two pages */
#define ORG_SLOTS 256            /* organizations by name, direct-mapped */
/* Values the complete cache does not hold that it still asks the store about, a second: a token
 * made by another process or node a moment ago, whose change the feed has not brought yet, is
 * then found at once (say, one `tessera admin` just printed). Past that, in a flood of made-up
 * values, the cache refuses them from memory. Each such read holds its HTTP worker thread and
 * every connection on it: on PostgreSQL, with the cores busy, a few milliseconds, so 200 a
 * second cost a flood 30 % of its rate (45k against 63k a second). A feed that names a token
 * made elsewhere within a millisecond (NOTIFY) or 100 ms (a poll) leaves this little to do. */
#define ABSENT_READS_PER_SECOND 20

/* A token deleted before it expired, by its hash. */
struct revoked_slot {
  /* The hash as four words, read without a lock: every value a flood makes up is looked up
   * here, by every worker thread, and a lock's cache line passed between them at each one. A
   * write (under revoked_lock) racing a read can only make the read miss, or match a hash that is
   * half of each, which no token has. All zero: a free slot (no SHA-256 output is). */
  atomic_uint_fast64_t words[TOKEN_HASH_LEN / 8];
};

struct membership_slot {
  uint64_t version;
  int64_t expires_ms;
  int64_t user_id;
  size_t count;
  struct store_membership items[MEMBERSHIPS_CACHED];
};

/* An organization by its name; dropped when the feed names it (renamed, its expiry policy
 * changed, deleted). */
struct org_slot {
  uint64_t version; /* 0: empty */
  int64_t expires_ms;
  struct store_org org;
};

struct cache_store {
  struct store base;
  struct store *inner;
  int64_t ttl_ms, stale_ms;
  atomic_uint_fast64_t epoch;       /* moves before entries are dropped */
  atomic_uint_fast64_t fills;       /* numbers each membership fill */
  atomic_int_fast64_t feed_read_ms; /* when the last complete read of the feed began */
  struct principal_table *principals;
  atomic_bool complete;              /* principals holds every token: an absent hash is no token */
  atomic_int_fast64_t absent_second; /* the monotonic second absent_reads counts for */
  atomic_int_fast64_t absent_reads;  /* store reads for absent hashes in that second */
  pthread_rwlock_t shards[SHARDS];   /* the membership slots' */
  struct membership_slot *memberships;
  struct revoked_slot *revoked;
  struct org_slot *orgs;
  pthread_mutex_t org_lock;
  pthread_mutex_t revoked_lock; /* one writer of the revoked slots at a time */
  pthread_mutex_t feed_lock;    /* one reader of the feed (or loader of a page) at a time */
  int64_t seen;                 /* the last version read from the feed (under feed_lock) */
  int64_t loaded_seq;           /* tokens up to this seq have been loaded (under feed_lock) */
  bool loaded;                  /* the loader has read every token (under feed_lock) */
  int64_t refreshed_seq;        /* the walk has read tokens up to this seq again (loader only) */
  int64_t refresh_due_ms;       /* when the walk reads its next page (monotonic; loader only) */
  pthread_cond_t reload;        /* with feed_lock: the loader is wanted (or stopping) */
  bool stopping;                /* under feed_lock */
  pthread_t loader;
  struct ticker *poller;
  /* The seqs of the tokens the feed said were deleted, the last few thousand (a later may take
   * an earlier's slot): their uses still pending are not written (passthrough_tokens_touch). */
  atomic_int_fast64_t gone_seqs[GONE_SEQS];
};

static struct cache_store *from(struct store *store) {
  return (struct cache_store *)store;
}

/* Whether memory may answer now: the feed was read recently enough. */
static bool trusted(struct cache_store *c, int64_t now) {
  return now - atomic_load(&c->feed_read_ms) <= c->stale_ms;
}

static void publish_size(struct cache_store *c) {
  metrics_cache_tokens(ptable_count(c->principals), atomic_load(&c->complete));
}

/* The monotonic second until which an entry read from the store now is fresh: ttl, by when the
 * walk (refresh_page) has read it again. */
static int64_t fresh_until(const struct cache_store *c) {
  return (time_monotonic_ms() + c->ttl_ms) / 1000;
}

/* Whether the hash is of a token the feed said was deleted (revoked_slot), which a complete cache
 * refuses without asking the store, whatever the budget below: a revoked token retried over and
 * over must not spend it for the tokens just made elsewhere. */
static bool held_revoked(struct cache_store *c, const unsigned char hash[TOKEN_HASH_LEN]);

/* Whether a hash the complete cache does not hold may still be asked of the store, this second. */
static bool absent_read_allowed(struct cache_store *c, int64_t now_s) {
  int64_t second = atomic_load(&c->absent_second);
  if (second != now_s && atomic_compare_exchange_strong(&c->absent_second, &second, now_s))
    atomic_store(&c->absent_reads, 0);
  return atomic_fetch_add(&c->absent_reads, 1) < ABSENT_READS_PER_SECOND;
}

/* Whether this second's reads are spent already: a load, which the threads of a flood share
 * without taking a lock or writing a cache line. */
static bool absent_reads_spent(struct cache_store *c, int64_t now_s) {
  return atomic_load(&c->absent_second) == now_s &&
         atomic_load(&c->absent_reads) >= ABSENT_READS_PER_SECOND;
}

/* Reads a token the complete cache did not hold again under the feed's lock, and keeps it: its
 * first read found it while a change was applied, which the fill could not be kept across (the
 * change might be its deletion). Left out, the token was accepted once and then, a moment later,
 * refused from memory once the second's reads of absent values were spent, until the feed
 * brought it: a token just made on another node failing its second request. No change is
 * applied while the lock is held, so this read's fill is kept. */
static int read_absent_again(struct cache_store *c, const unsigned char hash[TOKEN_HASH_LEN],
                             struct store_principal *out) {
  pthread_mutex_lock(&c->feed_lock);
  uint64_t epoch = atomic_load(&c->epoch);
  int rc = c->inner->ops->principal_by_token_hash(c->inner, hash, out);
  out->version = rc == TE_OK ? ptable_put(c->principals, out, fresh_until(c), &c->epoch, epoch) : 0;
  pthread_mutex_unlock(&c->feed_lock);
  return rc;
}

static int cached_principal_by_token_hash(struct store *store,
                                          const unsigned char hash[TOKEN_HASH_LEN],
                                          struct store_principal *out) {
  struct cache_store *c = from(store);
  int64_t now = time_monotonic_ms();
  bool use_memory = trusted(c, now);
  uint64_t epoch = atomic_load(&c->epoch); /* before the store is read: a racing drop wins */
  enum ptable_found found = PTABLE_ABSENT;

  if (use_memory) {
    found = ptable_get(c->principals, hash, now / 1000, out);
    if (found == PTABLE_FRESH || (found == PTABLE_ABSENT && atomic_load(&c->complete) &&
                                  (absent_reads_spent(c, now / 1000) || held_revoked(c, hash) ||
                                   !absent_read_allowed(c, now / 1000)))) {
      metrics_cache_lookup(METRICS_CACHE_PRINCIPAL, true);
      return found == PTABLE_FRESH ? TE_OK : TE_NOT_FOUND;
    }
  }
  metrics_cache_lookup(METRICS_CACHE_PRINCIPAL, false);

  int rc = c->inner->ops->principal_by_token_hash(c->inner, hash, out);
  out->version = 0; /* unless it is kept below: nothing derived from it is cached */
  if (rc == TE_OK && use_memory) {
    out->version = ptable_put(c->principals, out, fresh_until(c), &c->epoch, epoch);
    if (!out->version && found == PTABLE_ABSENT && atomic_load(&c->complete) &&
        atomic_load(&c->epoch) != epoch)
      rc = read_absent_again(c, hash, out);
  } else if (rc == TE_NOT_FOUND && found == PTABLE_STALE)
    ptable_remove_hash(c->principals, hash, &c->epoch, epoch); /* gone while the feed could not
                                                                  say so (a gap) */
  return rc;
}

static int cached_memberships(struct store *store, int64_t user_id, struct store_membership **out,
                              size_t *count) {
  struct cache_store *c = from(store);
  size_t i = (size_t)((uint64_t)user_id % MEMBERSHIP_SLOTS);
  pthread_rwlock_t *lock = &c->shards[i % SHARDS];
  struct membership_slot *slot = &c->memberships[i];
  int64_t now = time_monotonic_ms();
  bool use_memory = trusted(c, now);
  uint64_t epoch = atomic_load(&c->epoch);

  if (use_memory) {
    pthread_rwlock_rdlock(lock);
    bool hit = slot->version && slot->expires_ms > now && slot->user_id == user_id;
    if (hit) {
      *count = slot->count;
      *out = malloc((slot->count ? slot->count : 1) * sizeof **out);
      if (!*out)
        abort();
      memcpy(*out, slot->items, slot->count * sizeof **out);
    }
    pthread_rwlock_unlock(lock);
    if (hit) {
      metrics_cache_lookup(METRICS_CACHE_MEMBERSHIP, true);
      return TE_OK;
    }
  }
  metrics_cache_lookup(METRICS_CACHE_MEMBERSHIP, false);

  int rc = c->inner->ops->memberships(c->inner, user_id, out, count);
  if (rc == TE_OK && use_memory && *count <= MEMBERSHIPS_CACHED) {
    pthread_rwlock_wrlock(lock);
    if (atomic_load(&c->epoch) == epoch) {
      slot->user_id = user_id;
      slot->count = *count;
      memcpy(slot->items, *out, *count * sizeof **out);
      slot->version = atomic_fetch_add(&c->fills, 1) + 1;
      slot->expires_ms = now + c->ttl_ms;
    }
    pthread_rwlock_unlock(lock);
  }
  return rc;
}

static size_t org_index(const char *name) {
  uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
  for (; *name; name++)
    h = (h ^ (unsigned char)*name) * 0x100000001b3u;
  return (size_t)(h % ORG_SLOTS);
}

/* As memberships: from memory while the feed is trusted, and a fill kept only if no change was
 * applied since the epoch it read first. Only what the store found is kept (a new organization
 * is no change the feed names), under the name it was asked for. */
static int cached_org_by_name(struct store *store, const char *name, struct store_org *out) {
  struct cache_store *c = from(store);
  struct org_slot *slot = &c->orgs[org_index(name)];
  int64_t now = time_monotonic_ms();
  bool use_memory = trusted(c, now);
  uint64_t epoch = atomic_load(&c->epoch);
  if (use_memory) {
    pthread_mutex_lock(&c->org_lock);
    bool hit = slot->version && slot->expires_ms > now && strcmp(slot->org.name, name) == 0;
    if (hit)
      *out = slot->org;
    pthread_mutex_unlock(&c->org_lock);
    if (hit)
      return TE_OK;
  }
  int rc = c->inner->ops->org_by_name(c->inner, name, out);
  if (rc == TE_OK && use_memory && strcmp(out->name, name) == 0) {
    pthread_mutex_lock(&c->org_lock);
    if (atomic_load(&c->epoch) == epoch) {
      slot->org = *out;
      slot->version = atomic_fetch_add(&c->fills, 1) + 1;
      slot->expires_ms = now + c->ttl_ms;
    }
    pthread_mutex_unlock(&c->org_lock);
  }
  return rc;
}

/* Whether the changes (all of them when changes is NULL) may name something of this kind. */
static bool names_kind(const struct store_change *changes, size_t count,
                       enum store_change_kind kind) {
  for (size_t k = 0; changes && k < count; k++)
    if (changes[k].kind == kind || changes[k].kind == CHANGE_UNKNOWN)
      return true;
  return !changes;
}

/* Drops the organizations one of the changes names (all when changes is NULL). */
static uint64_t drop_orgs(struct cache_store *c, const struct store_change *changes, size_t count) {
  uint64_t dropped = 0;
  if (!names_kind(changes, count, CHANGE_ORG))
    return 0; /* most commits name no organization: no walk */
  pthread_mutex_lock(&c->org_lock);
  for (size_t i = 0; i < ORG_SLOTS; i++) {
    struct org_slot *slot = &c->orgs[i];
    bool stale = false;
    for (size_t k = 0; slot->version && !stale && k < (changes ? count : 1); k++)
      stale = !changes || changes[k].kind == CHANGE_UNKNOWN ||
              (changes[k].kind == CHANGE_ORG && changes[k].id == slot->org.id);
    if (stale) {
      slot->version = 0;
      dropped++;
    }
  }
  pthread_mutex_unlock(&c->org_lock);
  return dropped;
}

static size_t revoked_index(const unsigned char hash[TOKEN_HASH_LEN]) {
  uint64_t k;
  memcpy(&k, hash + 8, sizeof k); /* not the bytes the principal table uses: another spread */
  return (size_t)(k % REVOKED_SLOTS);
}

/* Remembers a dropped entry's token as revoked if it had not expired (a session purged once
 * expired was not revoked). */
static void note_revoked(struct cache_store *c, const struct store_token *was) {
  if (was->expires && was->expires <= time_now())
    return;
  struct revoked_slot *slot = &c->revoked[revoked_index(was->hash)];
  pthread_mutex_lock(&c->revoked_lock);
  for (int k = 0; k < TOKEN_HASH_LEN / 8; k++) {
    uint64_t w;
    memcpy(&w, was->hash + 8 * k, sizeof w);
    atomic_store_explicit(&slot->words[k], w, memory_order_relaxed);
  }
  pthread_mutex_unlock(&c->revoked_lock);
}

static bool held_revoked(struct cache_store *c, const unsigned char hash[TOKEN_HASH_LEN]) {
  struct revoked_slot *slot = &c->revoked[revoked_index(hash)];
  unsigned char held[TOKEN_HASH_LEN];
  for (int k = 0; k < TOKEN_HASH_LEN / 8; k++) {
    uint64_t w = atomic_load_explicit(&slot->words[k], memory_order_relaxed);
    memcpy(held + 8 * k, &w, sizeof w);
  }
  static const unsigned char free_slot[TOKEN_HASH_LEN];
  return CRYPTO_memcmp(held, hash, TOKEN_HASH_LEN) == 0 &&
         CRYPTO_memcmp(held, free_slot, TOKEN_HASH_LEN) != 0;
}

static bool cached_token_revoked(struct store *store, const unsigned char hash[TOKEN_HASH_LEN]) {
  struct cache_store *c = from(store);
  return held_revoked(c, hash) || c->inner->ops->token_revoked(c->inner, hash);
}

static bool membership_stale(const struct membership_slot *slot, const struct store_change *changes,
                             size_t count) {
  for (size_t k = 0; k < (changes ? count : 1); k++)
    if (!changes || changes[k].kind == CHANGE_UNKNOWN ||
        (changes[k].kind == CHANGE_USER && changes[k].id == slot->user_id))
      return true;
  return false;
}

/* Drops the membership entries that depend on one of the changes (all when changes is NULL). */
static uint64_t drop_memberships(struct cache_store *c, const struct store_change *changes,
                                 size_t count) {
  uint64_t dropped = 0;
  if (!names_kind(changes, count, CHANGE_USER))
    return 0; /* new and deleted tokens, most commits: no walk of every shard */
  for (int shard = 0; shard < SHARDS; shard++) {
    pthread_rwlock_wrlock(&c->shards[shard]);
    for (size_t i = (size_t)shard; i < MEMBERSHIP_SLOTS; i += SHARDS) {
      struct membership_slot *slot = &c->memberships[i];
      if (slot->version && membership_stale(slot, changes, count)) {
        slot->version = 0;
        dropped++;
      }
    }
    pthread_rwlock_unlock(&c->shards[shard]);
  }
  return dropped;
}

/* Asks the loader to read every token again (under feed_lock); meanwhile the cache holds only
 * some, so it refuses nothing from memory. */
static void reload_all(struct cache_store *c) {
  atomic_store(&c->complete, false);
  c->loaded = false;
  c->loaded_seq = 0;
  pthread_cond_signal(&c->reload);
}

/* Stores a page of principals read from the store (under feed_lock), each fresh for ttl (the
 * walk reads them again before then); returns the last seq. */
static int64_t store_page(struct cache_store *c, const struct store_principal *items, size_t n,
                          int64_t last) {
  int64_t until = fresh_until(c);
  for (size_t k = 0; k < n; k++) {
    ptable_put(c->principals, &items[k], until, NULL, 0);
    last = items[k].token.seq;
  }
  return last;
}

/* Loads the tokens made after loaded_seq (under feed_lock). */
static void load_new(struct cache_store *c) {
  for (;;) {
    struct store_principal *items;
    size_t n;
    if (c->inner->ops->principals_after(c->inner, c->loaded_seq, LOAD_PAGE, &items, &n) != TE_OK) {
      reload_all(c); /* not knowing them, it cannot refuse what it does not hold */
      return;
    }
    c->loaded_seq = store_page(c, items, n, c->loaded_seq);
    free(items);
    if (n < LOAD_PAGE)
      return;
  }
}

/* Loads the one token of this seq, if it exists (under feed_lock): one made out of seq order, or
 * changed in place. Returns whether it does. */
static bool load_one(struct cache_store *c, int64_t seq) {
  struct store_principal *items;
  size_t n;
  if (c->inner->ops->principals_after(c->inner, seq - 1, 1, &items, &n) != TE_OK) {
    reload_all(c);
    return false;
  }
  bool exists = n == 1 && items[0].token.seq == seq;
  if (exists)
    store_page(c, items, n, 0);
  free(items);
  return exists;
}

/* Forgets everything (under feed_lock): every entry stale, every token to be loaded again. */
static void forget(struct cache_store *c) {
  atomic_fetch_add(&c->epoch, 1);
  ptable_stale_all(c->principals);
  drop_memberships(c, NULL, 0);
  drop_orgs(c, NULL, 0);
  reload_all(c);
  metrics_cache_forgotten();
}

/* Applies a page of the feed (under feed_lock). The epoch moves first, so a fill that read the
 * store before a change committed is not kept. A token's change is its deletion when the cache
 * holds it (or a change in place, such as a new expiry, which reading it again tells apart), and
 * otherwise may be its making: one after loaded_seq is loaded with the others made
 * since (once the loader is done; until then it will find them), one before it (made out of seq
 * order) on its own. */
static void apply(struct cache_store *c, const struct store_change *changes, size_t count) {
  bool made = false;
  atomic_fetch_add(&c->epoch, 1);
  /* Memberships (and organizations) first: a principal read again below must not meet its
   * user's old ones. */
  uint64_t dropped = drop_memberships(c, changes, count) + drop_orgs(c, changes, count);
  for (size_t k = 0; k < count; k++) {
    const struct store_change *ch = &changes[k];
    if (ch->kind != CHANGE_TOKEN) {
      dropped += ptable_stale_matching(c->principals, ch);
      continue;
    }
    struct store_token was;
    if (ptable_find_seq(c->principals, ch->id, &was)) {
      /* Read again before anything is dropped: a token changed in place (its expiry, say) is
       * replaced, never absent meanwhile; a deleted one goes. */
      dropped++;
      if (!load_one(c, ch->id) && ptable_remove_seq(c->principals, ch->id, &was)) {
        note_revoked(c, &was);
        atomic_store_explicit(&c->gone_seqs[(uint64_t)ch->id % GONE_SEQS], ch->id,
                              memory_order_relaxed);
      }
    } else if (ch->id > c->loaded_seq) {
      made = true;
      continue; /* no token was made with one just made */
    } else {
      load_one(c, ch->id);
    }
    /* The sessions opened with it carry its expiry, and go with it: read them again. */
    dropped += ptable_stale_matching(c->principals, ch);
  }
  if (made && atomic_load(&c->complete))
    load_new(c);
  metrics_cache_dropped(dropped);
}

/* Reads the feed from where it was left and applies it (feed_lock held). */
static void catch_up_locked(struct cache_store *c, bool after_commit) {
  int64_t began = time_monotonic_ms();
  for (;;) {
    struct store_change_page page;
    if (c->inner->ops->changes_since(c->inner, c->seen, FEED_PAGE, &page) != TE_OK) {
      /* After a commit of ours something did change: forget everything rather than risk
       * answering from it. Otherwise trust lapses after stale_ms unless a later read succeeds. */
      if (after_commit)
        forget(c);
      break;
    }
    bool everything = page.gap || page.count >= FEED_PAGE;
    for (size_t k = 0; k < page.count; k++)
      everything |= page.items[k].kind == CHANGE_UNKNOWN;
    if (everything) {
      forget(c);
      c->seen = page.current;
    } else if (page.count) {
      apply(c, page.items, page.count);
      c->seen = page.items[page.count - 1].version;
    }
    free(page.items);
    if (!everything) {
      atomic_store(&c->feed_read_ms, began);
      break;
    }
  }
  publish_size(c);
}

/* Reads the feed. wait: block for another reader to finish (a commit's own catch-up must not be
 * skipped), rather than leave it to it. */
static void catch_up(struct cache_store *c, bool wait) {
  if (wait)
    pthread_mutex_lock(&c->feed_lock);
  else if (pthread_mutex_trylock(&c->feed_lock) != 0)
    return;
  catch_up_locked(c, wait);
  pthread_mutex_unlock(&c->feed_lock);
}

/* The store's watcher: after each commit of ours, and on other nodes' announcements. */
static void on_commit(void *arg) {
  catch_up(arg, true);
}

static void poll_for_changes(void *arg) {
  catch_up(arg, false);
}

/* The walk's time from one page to the next: every token read again in ttl/2, and at least a page
 * a second, so that tokens made in bulk into a small table are not first walked a pass later. */
static int64_t refresh_interval_ms(struct cache_store *c) {
  size_t pages = (ptable_count(c->principals) + REFRESH_PAGE - 1) / REFRESH_PAGE;
  int64_t ms = c->ttl_ms / 2 / (int64_t)(pages ? pages : 1);
  return ms < 1 ? 1 : ms > REFRESH_WAIT_MAX_MS ? REFRESH_WAIT_MAX_MS : ms;
}

/* Reads the walk's next page of tokens again, without the feed's lock: held over the read, it
 * kept the writer (whose commits read the feed under it) waiting, and PostgreSQL's OIDC exchanges
 * at a million tokens ran at 3,881 a second against 4,231 without the walk, paced creations lost
 * 7 %. So the page only confirms what the entries hold (ptable_confirm), which a change the feed
 * applies meanwhile cannot be undone by. After the last page, the walk starts over; a failed read
 * is tried again at the next page's time. */
static void refresh_page(struct cache_store *c) {
  struct store_principal *items;
  size_t n;
  if (c->inner->ops->principals_after(c->inner, c->refreshed_seq, REFRESH_PAGE, &items, &n) !=
      TE_OK)
    return;
  ptable_confirm(c->principals, items, n, fresh_until(c));
  c->refreshed_seq = n < REFRESH_PAGE ? 0 : items[n - 1].token.seq;
  free(items);
}

/* The loader thread: reads every token, a page at a time under the feed's lock (so that the feed
 * applies a deletion either before the page is read or after it is stored), until the cache is
 * complete; then walks them again (refresh_page) until it is wanted again (a gap, a failed load)
 * or the cache closes. */
static void *load_all(void *arg) {
  struct cache_store *c = arg;
  pthread_mutex_lock(&c->feed_lock);
  while (!c->stopping) {
    if (c->loaded) {
      int64_t now = time_monotonic_ms();
      if (now < c->refresh_due_ms) {
        struct timespec until = time_deadline(CLOCK_MONOTONIC, c->refresh_due_ms - now);
        pthread_cond_timedwait(&c->reload, &c->feed_lock, &until);
        continue;
      }
      pthread_mutex_unlock(&c->feed_lock);
      refresh_page(c);
      pthread_mutex_lock(&c->feed_lock);
      /* Due by the schedule, not from the end of the read, so that a pass takes ttl/2 whatever
       * its reads cost; a walk behind by more than a pass (the store was down) starts again from
       * now rather than race through its pages. */
      if (c->refresh_due_ms < now - c->ttl_ms / 2)
        c->refresh_due_ms = now;
      c->refresh_due_ms += refresh_interval_ms(c);
      continue;
    }
    struct store_principal *items;
    size_t n;
    if (c->inner->ops->principals_after(c->inner, c->loaded_seq, LOAD_PAGE, &items, &n) != TE_OK) {
      /* Try again a little later; meanwhile lookups go to the store. */
      struct timespec until = time_deadline(CLOCK_MONOTONIC, 1000);
      pthread_cond_timedwait(&c->reload, &c->feed_lock, &until);
      continue;
    }
    c->loaded_seq = store_page(c, items, n, c->loaded_seq);
    free(items);
    if (n < LOAD_PAGE) {
      c->loaded = true;
      c->refreshed_seq = 0;
      c->refresh_due_ms = time_monotonic_ms();
      /* What was held before a forget and not loaded again was deleted meanwhile. */
      metrics_cache_dropped(ptable_sweep(c->principals));
      /* A table that ran out of room does not hold every token: it refuses nothing itself. */
      atomic_store(&c->complete, !ptable_overflowed(c->principals));
    }
    publish_size(c);
    /* Let waiting commits and requests' fills in between pages. */
    pthread_mutex_unlock(&c->feed_lock);
    pthread_mutex_lock(&c->feed_lock);
  }
  pthread_mutex_unlock(&c->feed_lock);
  return NULL;
}

/* Writes pass through: the store reads the feed into this cache (on_commit) after each commit,
 * before the write is reported done, so none of them needs to drop anything itself. */

static int passthrough_token_insert(struct store *store, const struct store_token *token,
                                    const struct audit_record *audit, store_done_fn done,
                                    void *arg) {
  return from(store)->inner->ops->token_insert(from(store)->inner, token, audit, done, arg);
}

static int passthrough_audit_append(struct store *store, const struct audit_record *audit,
                                    store_done_fn done, void *arg) {
  return from(store)->inner->ops->audit_append(from(store)->inner, audit, done, arg);
}

static int passthrough_token_delete(struct store *store, int64_t user_id, const char *token_id,
                                    const struct audit_record *audit, store_done_fn done,
                                    void *arg) {
  struct cache_store *c = from(store);
  return c->inner->ops->token_delete(c->inner, user_id, token_id, audit, done, arg);
}

static int passthrough_machine_token_insert(struct store *store, const struct store_actor *actor,
                                            const struct store_token *token,
                                            const struct audit_record *audit) {
  return from(store)->inner->ops->machine_token_insert(from(store)->inner, actor, token, audit);
}

static int passthrough_machine_token_delete(struct store *store, const struct store_actor *actor,
                                            int64_t org_id, int64_t team_id, const char *token_id,
                                            const struct audit_record *audit) {
  struct cache_store *c = from(store);
  int rc = c->inner->ops->machine_token_delete(c->inner, actor, org_id, team_id, token_id, audit);
  return rc;
}

static int passthrough_token_revoke(struct store *store, const struct store_token *token,
                                    const struct audit_record *audits, size_t count) {
  return from(store)->inner->ops->token_revoke(from(store)->inner, token, audits, count);
}

static int passthrough_machine_token_get(struct store *store, int64_t org_id, const char *token_id,
                                         struct store_token *out) {
  return from(store)->inner->ops->machine_token_get(from(store)->inner, org_id, token_id, out);
}

static int passthrough_org_set_expiry_policy(struct store *store, const struct store_actor *actor,
                                             int64_t org_id, int days,
                                             const struct audit_record *audit) {
  struct cache_store *c = from(store);
  int rc = c->inner->ops->org_set_expiry_policy(c->inner, actor, org_id, days, audit);
  return rc;
}

static int passthrough_org_member_count(struct store *store, int64_t org_id, int64_t *out) {
  return from(store)->inner->ops->org_member_count(from(store)->inner, org_id, out);
}

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
                                         const struct audit_record *audit, store_done_fn done,
                                         void *arg) {
  return from(store)->inner->ops->oidc_token_insert(from(store)->inner, token, audit, done, arg);
}

static int passthrough_oidc_issuer_set_keys(struct store *store,
                                            const struct store_oidc_issuer *was, const char *jwks,
                                            int64_t modified) {
  return from(store)->inner->ops->oidc_issuer_set_keys(from(store)->inner, was, jwks, modified);
}

static int passthrough_oidc_issuer_delete(struct store *store, const struct store_actor *actor,
                                          int64_t org_id, const char *id,
                                          const struct audit_record *audit) {
  struct cache_store *c = from(store);
  int rc = c->inner->ops->oidc_issuer_delete(c->inner, actor, org_id, id, audit);
  return rc;
}

static int passthrough_user_password_hash(struct store *store, const char *login, char *out) {
  return from(store)->inner->ops->user_password_hash(from(store)->inner, login, out);
}

static int passthrough_user_set_password_hash(struct store *store, const char *login,
                                              const char *hash) {
  return from(store)->inner->ops->user_set_password_hash(from(store)->inner, login, hash);
}

static int passthrough_sessions_purge(struct store *store, int64_t now) {
  struct cache_store *c = from(store);
  int rc = c->inner->ops->sessions_purge(c->inner, now);
  return rc;
}

static int passthrough_user_create(struct store *store, const struct store_user *user,
                                   struct store_user *out) {
  struct cache_store *c = from(store);
  int rc = c->inner->ops->user_create(c->inner, user, out);
  return rc;
}

static int passthrough_org_create(struct store *store, const char *name) {
  struct cache_store *c = from(store);
  int rc = c->inner->ops->org_create(c->inner, name);
  return rc;
}

static int passthrough_member_set(struct store *store, const char *org, const char *login,
                                  const char *role) {
  struct cache_store *c = from(store);
  int rc = c->inner->ops->member_set(c->inner, org, login, role);
  return rc;
}

static int passthrough_tokens_touch(struct store *store, const struct store_last_used *updates,
                                    size_t count) {
  struct cache_store *c = from(store);
  /* The uses of tokens the feed said were deleted since are left out, which the store's
   * statement does not check (pg_sql.c). By their seqs, not by the absence of an entry: a token
   * made elsewhere a moment ago can be used (read from the store) before its entry is kept. */
  if (count == 0)
    return TE_OK;
  struct store_last_used *kept = malloc(count * sizeof *kept);
  if (!kept)
    abort();
  size_t n = 0;
  for (size_t k = 0; k < count; k++) {
    int64_t seq = updates[k].seq;
    if (atomic_load_explicit(&c->gone_seqs[(uint64_t)seq % GONE_SEQS], memory_order_relaxed) != seq)
      kept[n++] = updates[k];
  }
  int rc = n ? c->inner->ops->tokens_touch(c->inner, kept, n) : TE_OK;
  /* No change in the feed names a lastUsed; the entries learn this node's own writes here, so a
   * hit sees the time just written and does not note the use again (store/lastused.c). */
  if (rc == TE_OK)
    for (size_t k = 0; k < n; k++)
      ptable_touch(c->principals, kept[k].seq, kept[k].last_used);
  free(kept);
  return rc;
}

static int passthrough_org_role(struct store *store, int64_t org_id, int64_t user_id, char *role) {
  return from(store)->inner->ops->org_role(from(store)->inner, org_id, user_id, role);
}

static int passthrough_org_members(struct store *store, int64_t org_id, int64_t after, int limit,
                                   struct store_member **out, size_t *count) {
  return from(store)->inner->ops->org_members(from(store)->inner, org_id, after, limit, out, count);
}

static int passthrough_org_member_add(struct store *store, const struct store_actor *actor,
                                      int64_t org_id, int64_t user_id, const char *role,
                                      const struct audit_record *audit) {
  struct cache_store *c = from(store);
  int rc = c->inner->ops->org_member_add(c->inner, actor, org_id, user_id, role, audit);
  return rc;
}

static int passthrough_org_member_update(struct store *store, const struct store_actor *actor,
                                         int64_t org_id, int64_t user_id, const char *role,
                                         const struct audit_record *audit) {
  struct cache_store *c = from(store);
  int rc = c->inner->ops->org_member_update(c->inner, actor, org_id, user_id, role, audit);
  return rc;
}

static int passthrough_org_member_remove(struct store *store, const struct store_actor *actor,
                                         int64_t org_id, int64_t user_id,
                                         const struct audit_record *audit) {
  struct cache_store *c = from(store);
  int rc = c->inner->ops->org_member_remove(c->inner, actor, org_id, user_id, audit);
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

static int passthrough_team_create(struct store *store, const struct store_actor *actor,
                                   int64_t org_id, const struct store_team *team,
                                   const struct audit_record *audit) {
  struct cache_store *c = from(store);
  int rc = c->inner->ops->team_create(c->inner, actor, org_id, team, audit);
  return rc;
}

static int passthrough_team_update(struct store *store, const struct store_actor *actor,
                                   int64_t org_id, int64_t team_id,
                                   const struct store_team_update *update,
                                   const struct audit_record *audit) {
  struct cache_store *c = from(store);
  int rc = c->inner->ops->team_update(c->inner, actor, org_id, team_id, update, audit);
  return rc;
}

static int passthrough_team_delete(struct store *store, const struct store_actor *actor,
                                   int64_t org_id, int64_t team_id,
                                   const struct audit_record *audit) {
  struct cache_store *c = from(store);
  int rc = c->inner->ops->team_delete(c->inner, actor, org_id, team_id, audit);
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

static int passthrough_principals_after(struct store *store, int64_t after, int limit,
                                        struct store_principal **out, size_t *count) {
  return from(store)->inner->ops->principals_after(from(store)->inner, after, limit, out, count);
}

static int passthrough_changes_since(struct store *store, int64_t after, int limit,
                                     struct store_change_page *page) {
  return from(store)->inner->ops->changes_since(from(store)->inner, after, limit, page);
}

/* The cache is the store's one watcher; it has none of its own. */
static void no_watch(struct store *store, void (*fn)(void *arg), void *arg) {
  (void)store;
  (void)fn;
  (void)arg;
}

static void passthrough_derive_secret(struct store *store, const char *purpose,
                                      unsigned char out[32]) {
  from(store)->inner->ops->derive_secret(from(store)->inner, purpose, out);
}

static void free_cache(struct cache_store *c) {
  for (int i = 0; i < SHARDS; i++)
    pthread_rwlock_destroy(&c->shards[i]);
  pthread_mutex_destroy(&c->feed_lock);
  pthread_mutex_destroy(&c->revoked_lock);
  pthread_mutex_destroy(&c->org_lock);
  pthread_cond_destroy(&c->reload);
  ptable_free(c->principals);
  free(c->memberships);
  free(c->revoked);
  free(c->orgs);
  free(c);
}

static void cached_close(struct store *store) {
  struct cache_store *c = from(store);
  pthread_mutex_lock(&c->feed_lock);
  c->stopping = true;
  pthread_cond_signal(&c->reload);
  pthread_mutex_unlock(&c->feed_lock);
  pthread_join(c->loader, NULL);
  ticker_stop(c->poller);
  c->inner->ops->close(c->inner);
  free_cache(c);
}

static const struct store_ops cache_ops = {
    .close = cached_close,
    .user_create = passthrough_user_create,
    .user_by_login = passthrough_user_by_login,
    .org_create = passthrough_org_create,
    .member_set = passthrough_member_set,
    .memberships = cached_memberships,
    .user_password_hash = passthrough_user_password_hash,
    .sessions_purge = passthrough_sessions_purge,
    .user_set_password_hash = passthrough_user_set_password_hash,
    .token_insert = passthrough_token_insert,
    .token_delete = passthrough_token_delete,
    .machine_token_insert = passthrough_machine_token_insert,
    .machine_token_delete = passthrough_machine_token_delete,
    .token_revoke = passthrough_token_revoke,
    .machine_token_get = passthrough_machine_token_get,
    .org_set_expiry_policy = passthrough_org_set_expiry_policy,
    .org_member_count = passthrough_org_member_count,
    .oidc_issuer_insert = passthrough_oidc_issuer_insert,
    .oidc_issuer_update = passthrough_oidc_issuer_update,
    .oidc_issuer_delete = passthrough_oidc_issuer_delete,
    .oidc_issuer_set_keys = passthrough_oidc_issuer_set_keys,
    .oidc_policy_update = passthrough_oidc_policy_update,
    .oidc_issuer_get = passthrough_oidc_issuer_get,
    .oidc_issuer_by_policy = passthrough_oidc_issuer_by_policy,
    .oidc_issuer_by_iss = passthrough_oidc_issuer_by_iss,
    .oidc_issuers_list = passthrough_oidc_issuers_list,
    .oidc_token_insert = passthrough_oidc_token_insert,
    .audit_append = passthrough_audit_append,
    .audit_list = passthrough_audit_list,
    .org_by_name = cached_org_by_name,
    .org_role = passthrough_org_role,
    .org_members = passthrough_org_members,
    .org_member_add = passthrough_org_member_add,
    .org_member_update = passthrough_org_member_update,
    .org_member_remove = passthrough_org_member_remove,
    .teams_list = passthrough_teams_list,
    .team_get = passthrough_team_get,
    .team_members = passthrough_team_members,
    .team_role = passthrough_team_role,
    .team_create = passthrough_team_create,
    .team_update = passthrough_team_update,
    .team_delete = passthrough_team_delete,
    .principal_by_token_hash = cached_principal_by_token_hash,
    .token_revoked = cached_token_revoked,
    .principals_after = passthrough_principals_after,
    .token_list = passthrough_token_list,
    .tokens_touch = passthrough_tokens_touch,
    .changes_since = passthrough_changes_since,
    .watch = no_watch,
    .derive_secret = passthrough_derive_secret,
};

int store_cache_wrap(struct store *inner, int poll_ms, int stale_ms, int ttl_seconds,
                     struct store **out) {
  struct cache_store *c = calloc(1, sizeof *c);
  if (!c || !(c->principals = ptable_new()) ||
      !(c->memberships = calloc(MEMBERSHIP_SLOTS, sizeof *c->memberships)) ||
      !(c->revoked = calloc(REVOKED_SLOTS, sizeof *c->revoked)) ||
      !(c->orgs = calloc(ORG_SLOTS, sizeof *c->orgs)))
    abort();
  c->base.ops = &cache_ops;
  c->inner = inner;
  c->ttl_ms = (int64_t)ttl_seconds * 1000;
  c->stale_ms = stale_ms;
  atomic_init(&c->epoch, 1);
  atomic_init(&c->fills, 0);
  for (int i = 0; i < SHARDS; i++)
    pthread_rwlock_init(&c->shards[i], NULL);
  pthread_mutex_init(&c->feed_lock, NULL);
  pthread_mutex_init(&c->revoked_lock, NULL);
  pthread_mutex_init(&c->org_lock, NULL);
  pthread_condattr_t attr; /* the loader's waits are timed on the monotonic clock */
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&c->reload, &attr);
  pthread_condattr_destroy(&attr);
  /* The feed starts now: nothing is cached yet that an earlier change could have touched. */
  struct store_change_page page;
  int rc = inner->ops->changes_since(inner, INT64_MAX, 1, &page);
  if (rc == TE_OK) {
    free(page.items);
    c->seen = page.current;
    atomic_init(&c->feed_read_ms, time_monotonic_ms());
    inner->ops->watch(inner, on_commit, c);
    publish_size(c); /* empty, and not complete until the loader says so */
    rc = ticker_start("feed-poller", poll_ms, poll_for_changes, c, &c->poller);
    if (rc == TE_OK && pthread_create(&c->loader, NULL, load_all, c) != 0) {
      ticker_stop(c->poller);
      rc = TE_INTERNAL;
    } else if (rc == TE_OK) {
      thread_name(c->loader, "cache-loader");
    }
  }
  if (rc != TE_OK) {
    inner->ops->close(inner);
    free_cache(c);
    return TE_INTERNAL;
  }
  *out = &c->base;
  return TE_OK;
}
