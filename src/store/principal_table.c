/* The principal table (principal_table.h): entries in chunks, found through two chained hash
 * indexes (by token hash, by seq) of uint32 entry numbers; identities interned in a small hash
 * table of their own and in one list, which the changes walk. */

#include "store/principal_table.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_BITS 16 /* entries a chunk: 65536, about 6 MB */
#define CHUNK_SIZE (1u << CHUNK_BITS)
#define CHUNKS_MAX (PTABLE_MAX_ENTRIES / CHUNK_SIZE)
#define BUCKETS_MIN 1024u
#define IDENTITY_BUCKETS_MIN 1024u

enum { ENTRY_USED = 1, ENTRY_NEVER_FRESH = 2 };

/* Who a token stands for: a principal without the token's own fields, shared by the entries of
 * the same user (or machine token) and scope. Packed (its texts back to back after it, each
 * with its NUL), since a machine token has one of its own: an organization's many CI tokens cost
 * about 200 bytes each, not a principal's 2.6 KB. */
enum {
  TEXT_NAME,
  TEXT_OIDC_ISSUER,
  TEXT_UUID,
  TEXT_LOGIN,
  TEXT_USER_NAME,
  TEXT_EMAIL,
  TEXT_ORG,
  TEXT_TEAM,
  TEXT_ACTOR,
  TEXT_ISSUER_NAME,
  TEXTS
};

struct who {
  int64_t user_id, org_id, team_id, parent_seq, scope_org_id, parent_expires, uid;
  int32_t kind, source;
  bool admin, manage_access, parent_from_exchange, site_admin;
  uint16_t offset[TEXTS]; /* into text */
  uint16_t text_len;      /* every text with its NUL */
};

#define WHO_TEXT_MAX                                                                               \
  (TOKEN_NAME_MAX + TOKEN_ID_LEN * 2 + LOGIN_MAX * 3 + USER_NAME_MAX + EMAIL_MAX + ACTOR_MAX +     \
   OIDC_NAME_MAX + TEXTS)

struct identity {
  uint64_t version;
  uint32_t refs;
  bool stale;
  struct identity *bucket_next; /* in its intern bucket (fresh identities only) */
  struct identity *prev, *next; /* in the list of every identity */
  struct who who;               /* zeroed first: compared byte for byte */
  char text[];
};

/* A token's own fields. 96 bytes. Times are unix seconds: they fit 32 bits until 2106, and an
 * entry whose do not is stored never fresh. */
struct entry {
  unsigned char hash[TOKEN_HASH_LEN];
  int64_t seq;
  struct identity *identity;
  unsigned char id[16]; /* the UUID's bytes */
  uint32_t created, expires, last_used;
  uint32_t fresh_until; /* monotonic second */
  uint32_t gen;         /* fresh only while the table's gen is the same */
  uint32_t hash_next;   /* entry number + 1 of the next in its bucket (or in the free list) */
  uint32_t seq_next;
  uint8_t flags;
};

struct principal_table {
  pthread_rwlock_t lock;
  struct entry *chunks[CHUNKS_MAX];
  uint32_t used;      /* entries handed out (numbers below it exist) */
  uint32_t count;     /* live entries */
  uint32_t free_list; /* entry number + 1 */
  uint32_t nbuckets;  /* a power of two, both indexes */
  uint32_t *by_hash, *by_seq;
  uint32_t gen;
  uint64_t versions;
  struct identity **identity_buckets;
  uint32_t identity_nbuckets; /* a power of two, doubled once there are more identities */
  uint32_t identity_count;
  uint32_t with_parent;        /* identities of tokens made with another token (sessions, ...) */
  bool overflowed;             /* a put found no room: the table does not hold every token */
  struct identity *identities; /* every identity, fresh or stale */
};

/* Zeroed memory for a big array, in huge pages where the kernel gives them on request
 * (transparent huge pages in madvise mode, Debian's default): lookups land at random in up to
 * a hundred megabytes, and with 4 KiB pages each would also miss the TLB. */
static void *big_zeroed(size_t bytes) {
  size_t huge = 2u << 20;
  void *p = NULL;
  if (bytes < huge)
    p = calloc(1, bytes);
  else if (posix_memalign(&p, huge, bytes) == 0) {
    madvise(p, bytes, MADV_HUGEPAGE); /* advice: without it the pages are merely small */
    memset(p, 0, bytes);
  } else
    p = NULL;
  if (!p)
    abort();
  return p;
}

static struct entry *at(struct principal_table *t, uint32_t n) {
  return &t->chunks[n >> CHUNK_BITS][n & (CHUNK_SIZE - 1)];
}

static uint32_t hash_bucket(const struct principal_table *t,
                            const unsigned char hash[TOKEN_HASH_LEN]) {
  uint32_t k;
  memcpy(&k, hash, sizeof k); /* SHA-256 output: already uniform */
  return k & (t->nbuckets - 1);
}

static uint32_t seq_bucket(const struct principal_table *t, int64_t seq) {
  return (uint32_t)(((uint64_t)seq * 0x9E3779B97F4A7C15u) >> 32) & (t->nbuckets - 1);
}

struct principal_table *ptable_new(void) {
  struct principal_table *t = calloc(1, sizeof *t);
  if (!t)
    abort();
  pthread_rwlock_init(&t->lock, NULL);
  t->nbuckets = BUCKETS_MIN;
  t->identity_nbuckets = IDENTITY_BUCKETS_MIN;
  if (!(t->identity_buckets = calloc(t->identity_nbuckets, sizeof *t->identity_buckets)))
    abort();
  t->by_hash = big_zeroed(t->nbuckets * sizeof *t->by_hash);
  t->by_seq = big_zeroed(t->nbuckets * sizeof *t->by_seq);
  return t;
}

void ptable_free(struct principal_table *t) {
  if (!t)
    return;
  for (struct identity *i = t->identities, *next; i; i = next) {
    next = i->next;
    free(i);
  }
  for (uint32_t c = 0; c < CHUNKS_MAX; c++)
    free(t->chunks[c]);
  free(t->by_hash);
  free(t->by_seq);
  free(t->identity_buckets);
  pthread_rwlock_destroy(&t->lock);
  free(t);
}

/* --- identities ----------------------------------------------------------------------------- */

/* What identities are interned by: the scalars and the packed texts (of an identity, or of one
 * being looked up). */
struct identity_key {
  const struct who *who;
  const char *text;
};

/* An identity's bucket, from its ids and the start of its uuid: a user's, or a machine token's
 * own id (each machine token is an identity of its own, and a hundred thousand of one
 * organization's would otherwise share a bucket). */
static uint32_t identity_bucket(const struct principal_table *t, const struct identity_key *key) {
  const struct who *w = key->who;
  uint64_t u[2] = {0, 0};
  memcpy(u, key->text + w->offset[TEXT_UUID], strnlen(key->text + w->offset[TEXT_UUID], 16));
  uint64_t k = (uint64_t)w->user_id * 0x9E3779B97F4A7C15u ^
               (uint64_t)w->org_id * 0xC2B2AE3D27D4EB4Fu ^
               (uint64_t)w->team_id * 0x165667B19E3779F9u ^ (uint64_t)w->scope_org_id ^
               (uint64_t)w->parent_seq << 7 ^ (uint64_t)w->kind << 3 ^ (uint64_t)w->text_len << 17 ^
               u[0] * 0xFF51AFD7ED558CCDu ^ u[1] * 0xC4CEB9FE1A85EC53u;
  return (uint32_t)((k * 0x9E3779B97F4A7C15u) >> 32) & (t->identity_nbuckets - 1);
}

/* Who p stands for: its scalars into *w (zeroed first), its texts packed into text. */
static void who_of(const struct store_principal *p, struct who *w, char *text) {
  memset(w, 0, sizeof *w);
  const struct store_token *t = &p->token;
  w->user_id = t->user_id;
  w->org_id = t->org_id;
  w->team_id = t->team_id;
  w->parent_seq = t->parent_seq;
  w->scope_org_id = p->scope_org_id;
  w->parent_expires = p->parent_expires;
  w->uid = p->user.id;
  w->kind = (int32_t)t->kind;
  w->source = (int32_t)t->source;
  w->admin = t->admin;
  w->manage_access = t->manage_access;
  w->parent_from_exchange = p->parent_from_exchange;
  w->site_admin = p->user.site_admin;
  const char *texts[TEXTS] = {
      [TEXT_NAME] = t->name,
      [TEXT_OIDC_ISSUER] = t->oidc_issuer,
      [TEXT_UUID] = p->user.uuid,
      [TEXT_LOGIN] = p->user.login,
      [TEXT_USER_NAME] = p->user.name,
      [TEXT_EMAIL] = p->user.email,
      [TEXT_ORG] = p->org,
      [TEXT_TEAM] = p->team,
      [TEXT_ACTOR] = p->actor,
      [TEXT_ISSUER_NAME] = p->issuer_name,
  };
  size_t used = 0;
  for (int k = 0; k < TEXTS; k++) {
    size_t n = strlen(texts[k]) + 1;
    w->offset[k] = (uint16_t)used;
    memcpy(text + used, texts[k], n);
    used += n;
  }
  w->text_len = (uint16_t)used;
}

static const char *who_text(const struct identity *i, int k) {
  return i->text + i->who.offset[k];
}

static uint32_t identity_bucket_of(const struct principal_table *t, const struct identity *i) {
  return identity_bucket(t, &(struct identity_key){&i->who, i->text});
}

/* Doubles the intern buckets once there are more fresh identities than buckets. */
static void identity_grow(struct principal_table *t) {
  struct identity **old = t->identity_buckets;
  uint32_t n = t->identity_nbuckets;
  t->identity_nbuckets = n * 2;
  if (!(t->identity_buckets = calloc(t->identity_nbuckets, sizeof *t->identity_buckets)))
    abort();
  for (uint32_t b = 0; b < n; b++)
    for (struct identity *i = old[b], *next; i; i = next) {
      next = i->bucket_next;
      uint32_t nb = identity_bucket_of(t, i);
      i->bucket_next = t->identity_buckets[nb];
      t->identity_buckets[nb] = i;
    }
  free(old);
}

static struct identity *identity_get(struct principal_table *t, const struct store_principal *p) {
  struct who w;
  char text[WHO_TEXT_MAX];
  who_of(p, &w, text);
  uint32_t b = identity_bucket(t, &(struct identity_key){&w, text});
  for (struct identity *i = t->identity_buckets[b]; i; i = i->bucket_next)
    if (!i->stale && memcmp(&i->who, &w, sizeof w) == 0 && memcmp(i->text, text, w.text_len) == 0) {
      i->refs++;
      return i;
    }
  struct identity *i = calloc(1, sizeof *i + w.text_len);
  if (!i)
    abort();
  i->who = w;
  memcpy(i->text, text, w.text_len);
  i->version = ++t->versions;
  i->refs = 1;
  if (++t->identity_count > t->identity_nbuckets)
    identity_grow(t);
  b = identity_bucket_of(t, i);
  i->bucket_next = t->identity_buckets[b];
  t->identity_buckets[b] = i;
  t->with_parent += w.parent_seq != 0;
  i->next = t->identities;
  if (t->identities)
    t->identities->prev = i;
  t->identities = i;
  return i;
}

/* Takes a fresh identity out of its intern bucket: no new entry may share it any more. */
static void identity_unintern(struct principal_table *t, struct identity *i) {
  struct identity **pp = &t->identity_buckets[identity_bucket_of(t, i)];
  while (*pp && *pp != i)
    pp = &(*pp)->bucket_next;
  if (*pp) {
    *pp = i->bucket_next;
    t->identity_count--;
  }
  i->bucket_next = NULL;
}

static void identity_put(struct principal_table *t, struct identity *i) {
  if (--i->refs)
    return;
  if (!i->stale)
    identity_unintern(t, i);
  t->with_parent -= i->who.parent_seq != 0;
  if (i->prev)
    i->prev->next = i->next;
  else
    t->identities = i->next;
  if (i->next)
    i->next->prev = i->prev;
  free(i);
}

static void identity_mark_stale(struct principal_table *t, struct identity *i) {
  if (i->stale)
    return;
  identity_unintern(t, i);
  i->stale = true;
}

/* --- entries ---------------------------------------------------------------------------------- */

static int hex_value(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A lowercase UUID's 16 bytes (8-4-4-4-12 hex digits: no pair of digits straddles a dash). */
static bool parse_uuid(const char *text, unsigned char out[16]) {
  if (strlen(text) != TOKEN_ID_LEN)
    return false;
  size_t n = 0;
  for (size_t i = 0; i < TOKEN_ID_LEN;) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i++] != '-')
        return false;
      continue;
    }
    int hi = hex_value(text[i]), lo = hex_value(text[i + 1]);
    if (hi < 0 || lo < 0)
      return false;
    out[n++] = (unsigned char)(hi << 4 | lo);
    i += 2;
  }
  return true;
}

static void format_uuid(const unsigned char id[16], char out[TOKEN_ID_LEN + 1]) {
  static const char hex[] = "0123456789abcdef";
  char *o = out;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      *o++ = '-';
    *o++ = hex[id[i] >> 4];
    *o++ = hex[id[i] & 15];
  }
  *o = '\0';
}

static bool fits_u32(int64_t v) {
  return v >= 0 && v <= (int64_t)UINT32_MAX;
}

static uint32_t *find_hash(struct principal_table *t, const unsigned char hash[TOKEN_HASH_LEN]) {
  uint32_t *link = &t->by_hash[hash_bucket(t, hash)];
  while (*link && memcmp(at(t, *link - 1)->hash, hash, TOKEN_HASH_LEN) != 0)
    link = &at(t, *link - 1)->hash_next;
  return link;
}

static uint32_t *find_seq(struct principal_table *t, int64_t seq) {
  uint32_t *link = &t->by_seq[seq_bucket(t, seq)];
  while (*link && at(t, *link - 1)->seq != seq)
    link = &at(t, *link - 1)->seq_next;
  return link;
}

/* Doubles both indexes once there are more entries than buckets. */
static void grow(struct principal_table *t) {
  uint32_t n = t->nbuckets * 2;
  uint32_t *by_hash = big_zeroed(n * sizeof *by_hash), *by_seq = big_zeroed(n * sizeof *by_seq);
  free(t->by_hash);
  free(t->by_seq);
  t->by_hash = by_hash;
  t->by_seq = by_seq;
  t->nbuckets = n;
  for (uint32_t k = 0; k < t->used; k++) {
    struct entry *e = at(t, k);
    if (!(e->flags & ENTRY_USED))
      continue;
    uint32_t hb = hash_bucket(t, e->hash), sb = seq_bucket(t, e->seq);
    e->hash_next = t->by_hash[hb];
    t->by_hash[hb] = k + 1;
    e->seq_next = t->by_seq[sb];
    t->by_seq[sb] = k + 1;
  }
}

/* A new entry's number + 1, linked into neither index yet; 0 when the table is full. */
static uint32_t entry_new(struct principal_table *t) {
  uint32_t n;
  if (t->free_list) {
    n = t->free_list;
    t->free_list = at(t, n - 1)->hash_next;
  } else {
    if (t->used == PTABLE_MAX_ENTRIES)
      return 0;
    uint32_t c = t->used >> CHUNK_BITS;
    if (!t->chunks[c])
      t->chunks[c] = big_zeroed(CHUNK_SIZE * sizeof(struct entry));
    n = ++t->used;
  }
  memset(at(t, n - 1), 0, sizeof(struct entry));
  return n;
}

/* Unlinks entry n (whose hash link is *hash_link) from both indexes and frees it. */
static void entry_remove(struct principal_table *t, uint32_t *hash_link, uint32_t n) {
  struct entry *e = at(t, n - 1);
  *hash_link = e->hash_next;
  uint32_t *seq_link = &t->by_seq[seq_bucket(t, e->seq)];
  while (*seq_link && *seq_link != n)
    seq_link = &at(t, *seq_link - 1)->seq_next;
  if (*seq_link)
    *seq_link = e->seq_next;
  identity_put(t, e->identity);
  memset(e, 0, sizeof *e);
  e->hash_next = t->free_list;
  t->free_list = n;
  t->count--;
}

static void copy_text(char *dst, const char *src) {
  memcpy(dst, src, strlen(src) + 1);
}

/* Only what the principal's users read (principal_table.h), field by field: no 2.6 KB copy. */
static void copy_out(const struct entry *e, struct store_principal *out) {
  const struct identity *i = e->identity;
  const struct who *w = &i->who;
  struct store_token *o = &out->token;
  o->seq = e->seq;
  format_uuid(e->id, o->id);
  memcpy(o->hash, e->hash, TOKEN_HASH_LEN);
  o->kind = (enum token_kind)w->kind;
  o->user_id = w->user_id;
  o->org_id = w->org_id;
  o->team_id = w->team_id;
  copy_text(o->name, who_text(i, TEXT_NAME));
  o->admin = w->admin;
  copy_text(o->oidc_issuer, who_text(i, TEXT_OIDC_ISSUER));
  o->source = (enum token_source)w->source;
  o->parent_seq = w->parent_seq;
  o->manage_access = w->manage_access;
  o->description[0] = o->reason[0] = o->created_by[0] = '\0';
  o->created = e->created;
  o->expires = e->expires;
  o->last_used = e->last_used;
  out->user.id = w->uid;
  copy_text(out->user.uuid, who_text(i, TEXT_UUID));
  copy_text(out->user.login, who_text(i, TEXT_LOGIN));
  copy_text(out->user.name, who_text(i, TEXT_USER_NAME));
  copy_text(out->user.email, who_text(i, TEXT_EMAIL));
  out->user.site_admin = w->site_admin;
  out->scope_org_id = w->scope_org_id;
  copy_text(out->org, who_text(i, TEXT_ORG));
  copy_text(out->team, who_text(i, TEXT_TEAM));
  copy_text(out->actor, who_text(i, TEXT_ACTOR));
  out->parent_expires = w->parent_expires;
  copy_text(out->issuer_name, who_text(i, TEXT_ISSUER_NAME));
  out->parent_from_exchange = w->parent_from_exchange;
  out->version = i->version;
}

enum ptable_found ptable_get(struct principal_table *t, const unsigned char hash[TOKEN_HASH_LEN],
                             int64_t now_s, struct store_principal *out) {
  pthread_rwlock_rdlock(&t->lock);
  uint32_t n = *find_hash(t, hash);
  enum ptable_found found = PTABLE_ABSENT;
  if (n) {
    const struct entry *e = at(t, n - 1);
    bool fresh = e->gen == t->gen && !(e->flags & ENTRY_NEVER_FRESH) && !e->identity->stale &&
                 now_s < (int64_t)e->fresh_until &&
                 CRYPTO_memcmp(e->hash, hash, TOKEN_HASH_LEN) == 0;
    if (fresh)
      copy_out(e, out);
    found = fresh ? PTABLE_FRESH : PTABLE_STALE;
  }
  pthread_rwlock_unlock(&t->lock);
  return found;
}

uint64_t ptable_put(struct principal_table *t, const struct store_principal *p,
                    int64_t fresh_until_s, const atomic_uint_fast64_t *epoch, uint64_t expected) {
  const struct store_token *tok = &p->token;
  unsigned char id[16] = {0};
  bool compact = parse_uuid(tok->id, id) && fits_u32(tok->created) && fits_u32(tok->expires) &&
                 fits_u32(tok->last_used) && fits_u32(fresh_until_s);
  uint64_t version = 0;
  pthread_rwlock_wrlock(&t->lock);
  if (epoch && atomic_load(epoch) != expected)
    goto done;
  uint32_t *link = find_hash(t, tok->hash);
  uint32_t n = *link;
  struct entry *e;
  if (n) {
    e = at(t, n - 1);
    if (e->seq != tok->seq) { /* cannot be: one hash, one token; re-index by the new seq */
      entry_remove(t, link, n);
      n = 0;
    }
  }
  if (!n) {
    /* One seq, one entry: the token's hash was changed in place (by hand, in SQL). */
    uint32_t old = *find_seq(t, tok->seq);
    if (old)
      entry_remove(t, find_hash(t, at(t, old - 1)->hash), old);
    if (t->count + 1 > t->nbuckets && t->nbuckets < PTABLE_MAX_ENTRIES)
      grow(t); /* before the new entry exists: grow links every entry in use */
    if (!(n = entry_new(t))) {
      t->overflowed = true;
      goto done;
    }
    t->count++;
    e = at(t, n - 1);
    memcpy(e->hash, tok->hash, TOKEN_HASH_LEN);
    e->seq = tok->seq;
    e->flags = ENTRY_USED;
    uint32_t hb = hash_bucket(t, e->hash), sb = seq_bucket(t, e->seq);
    e->hash_next = t->by_hash[hb];
    t->by_hash[hb] = n;
    e->seq_next = t->by_seq[sb];
    t->by_seq[sb] = n;
  } else {
    identity_put(t, e->identity);
  }
  e->identity = identity_get(t, p);
  memcpy(e->id, id, sizeof id);
  e->created = compact ? (uint32_t)tok->created : 0;
  e->expires = compact ? (uint32_t)tok->expires : 0;
  e->last_used = compact ? (uint32_t)tok->last_used : 0;
  e->fresh_until = compact ? (uint32_t)fresh_until_s : 0;
  e->gen = t->gen;
  e->flags = (uint8_t)(ENTRY_USED | (compact ? 0 : ENTRY_NEVER_FRESH));
  version = e->identity->version;
done:
  pthread_rwlock_unlock(&t->lock);
  return version;
}

/* Whether entry e holds what p says (its lastUsed apart, which changes outside the feed). */
static bool holds(const struct entry *e, const struct store_principal *p) {
  const struct store_token *tok = &p->token;
  unsigned char id[16];
  struct who w;
  char text[WHO_TEXT_MAX];
  if (e->seq != tok->seq || (e->flags & ENTRY_NEVER_FRESH) || !parse_uuid(tok->id, id) ||
      memcmp(e->id, id, sizeof id) != 0 || !fits_u32(tok->created) || !fits_u32(tok->expires) ||
      e->created != (uint32_t)tok->created || e->expires != (uint32_t)tok->expires)
    return false;
  who_of(p, &w, text);
  const struct identity *i = e->identity;
  return memcmp(&i->who, &w, sizeof w) == 0 && memcmp(i->text, text, w.text_len) == 0;
}

size_t ptable_confirm(struct principal_table *t, const struct store_principal *items, size_t n,
                      int64_t fresh_until_s) {
  size_t confirmed = 0;
  if (!fits_u32(fresh_until_s))
    return 0;
  pthread_rwlock_wrlock(&t->lock);
  for (size_t k = 0; k < n; k++) {
    uint32_t found = *find_hash(t, items[k].token.hash);
    struct entry *e = found ? at(t, found - 1) : NULL;
    if (!e || e->identity->stale)
      continue;
    if (!holds(e, &items[k])) {
      e->fresh_until = 0;
      continue;
    }
    e->fresh_until = (uint32_t)fresh_until_s;
    if (fits_u32(items[k].token.last_used) && e->last_used < (uint32_t)items[k].token.last_used)
      e->last_used = (uint32_t)items[k].token.last_used;
    confirmed++;
  }
  pthread_rwlock_unlock(&t->lock);
  return confirmed;
}

/* What a caller learns of an entry's token: its hash, seq and expiry. */
static void entry_token(const struct entry *e, struct store_token *was) {
  memcpy(was->hash, e->hash, TOKEN_HASH_LEN);
  was->seq = e->seq;
  was->expires = e->expires;
}

bool ptable_remove_seq(struct principal_table *t, int64_t seq, struct store_token *was) {
  pthread_rwlock_wrlock(&t->lock);
  uint32_t n = *find_seq(t, seq);
  if (n) {
    struct entry *e = at(t, n - 1);
    if (was)
      entry_token(e, was);
    entry_remove(t, find_hash(t, e->hash), n);
  }
  pthread_rwlock_unlock(&t->lock);
  return n != 0;
}

bool ptable_find_seq(struct principal_table *t, int64_t seq, struct store_token *was) {
  pthread_rwlock_rdlock(&t->lock);
  uint32_t n = *find_seq(t, seq);
  if (n) {
    entry_token(at(t, n - 1), was);
  }
  pthread_rwlock_unlock(&t->lock);
  return n != 0;
}

size_t ptable_sweep(struct principal_table *t) {
  size_t removed = 0;
  pthread_rwlock_wrlock(&t->lock);
  for (uint32_t k = 0; k < t->used; k++) {
    struct entry *e = at(t, k);
    if ((e->flags & ENTRY_USED) && e->gen != t->gen) {
      entry_remove(t, find_hash(t, e->hash), k + 1);
      removed++;
    }
  }
  pthread_rwlock_unlock(&t->lock);
  return removed;
}

bool ptable_overflowed(struct principal_table *t) {
  pthread_rwlock_rdlock(&t->lock);
  bool full = t->overflowed;
  pthread_rwlock_unlock(&t->lock);
  return full;
}

void ptable_remove_hash(struct principal_table *t, const unsigned char hash[TOKEN_HASH_LEN],
                        const atomic_uint_fast64_t *epoch, uint64_t expected) {
  pthread_rwlock_wrlock(&t->lock);
  uint32_t *link = find_hash(t, hash);
  if (*link && atomic_load(epoch) == expected)
    entry_remove(t, link, *link);
  pthread_rwlock_unlock(&t->lock);
}

/* Whether an identity depends on what the change names. A token's own change is the entry's
 * (ptable_remove_seq); one made with it has a change of its own when the database's cascade
 * deletes it, and tokens are not changed in place but for their own rows. */
static bool depends(const struct identity *i, const struct store_change *ch) {
  const struct who *w = &i->who;
  switch (ch->kind) {
  case CHANGE_TOKEN:
    return w->parent_seq == ch->id; /* parent_expires comes from the parent's row */
  case CHANGE_USER:
    return w->user_id == ch->id;
  case CHANGE_ORG:
    return w->org_id == ch->id || w->scope_org_id == ch->id;
  case CHANGE_TEAM:
    return w->team_id == ch->id;
  case CHANGE_ISSUER:
    return strcmp(who_text(i, TEXT_OIDC_ISSUER), ch->issuer) == 0;
  default:
    return true;
  }
}

size_t ptable_stale_matching(struct principal_table *t, const struct store_change *change) {
  size_t marked = 0;
  pthread_rwlock_wrlock(&t->lock);
  if (change->kind == CHANGE_TOKEN && !t->with_parent) {
    pthread_rwlock_unlock(&t->lock);
    return 0; /* no token was made with another: nothing to walk */
  }
  for (struct identity *i = t->identities; i; i = i->next)
    if (!i->stale && depends(i, change)) {
      identity_mark_stale(t, i);
      marked++;
    }
  pthread_rwlock_unlock(&t->lock);
  return marked;
}

void ptable_stale_all(struct principal_table *t) {
  pthread_rwlock_wrlock(&t->lock);
  t->gen++;
  for (struct identity *i = t->identities; i; i = i->next)
    identity_mark_stale(t, i);
  pthread_rwlock_unlock(&t->lock);
}

void ptable_touch(struct principal_table *t, int64_t seq, int64_t last_used) {
  if (!fits_u32(last_used))
    return;
  pthread_rwlock_wrlock(&t->lock);
  uint32_t n = *find_seq(t, seq);
  if (n && at(t, n - 1)->last_used < (uint32_t)last_used)
    at(t, n - 1)->last_used = (uint32_t)last_used;
  pthread_rwlock_unlock(&t->lock);
}

size_t ptable_count(struct principal_table *t) {
  pthread_rwlock_rdlock(&t->lock);
  size_t n = t->count;
  pthread_rwlock_unlock(&t->lock);
  return n;
}
