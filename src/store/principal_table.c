/* The principal table (principal_table.h): entries in chunks, found through two chained hash
 * indexes (by token hash, by seq) of uint32 entry numbers; identities interned in a small hash
 * table of their own and in one list, which the changes walk. */

#include "store/principal_table.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_BITS 16 /* entries a chunk: 65536, about 6 MB */
#define CHUNK_SIZE (1u << CHUNK_BITS)
#define CHUNKS_MAX (PTABLE_MAX_ENTRIES / CHUNK_SIZE)
#define BUCKETS_MIN 1024u
#define IDENTITY_BUCKETS 4096u

enum { ENTRY_USED = 1, ENTRY_NEVER_FRESH = 2 };

/* Who a token stands for: a principal without the token's own fields, shared by the entries of
 * the same user (or machine token) and scope. */
struct identity {
  struct store_principal p; /* the token's own fields zeroed */
  uint64_t version;
  uint32_t refs;
  bool stale;
  struct identity *bucket_next; /* in its intern bucket (fresh identities only) */
  struct identity *prev, *next; /* in the list of every identity */
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
  struct identity *identity_buckets[IDENTITY_BUCKETS];
  struct identity *identities; /* every identity, fresh or stale */
};

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
  t->by_hash = calloc(t->nbuckets, sizeof *t->by_hash);
  t->by_seq = calloc(t->nbuckets, sizeof *t->by_seq);
  if (!t->by_hash || !t->by_seq)
    abort();
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
  pthread_rwlock_destroy(&t->lock);
  free(t);
}

/* --- identities ----------------------------------------------------------------------------- */

/* The token's name is in the key: an organization's machine tokens (each exchange makes one)
 * are an identity each, and without it they would all share one bucket, a chain as long as the
 * organization has tokens, walked for every token loaded. */
static uint64_t name_hash(const char *name) {
  uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
  for (; *name; name++)
    h = (h ^ (unsigned char)*name) * 0x100000001b3u;
  return h;
}

static uint32_t identity_bucket(const struct store_principal *p) {
  uint64_t k = name_hash(p->token.name) ^ (uint64_t)p->token.user_id * 0x9E3779B97F4A7C15u ^
               (uint64_t)p->token.org_id * 0xC2B2AE3D27D4EB4Fu ^
               (uint64_t)p->token.team_id * 0x165667B19E3779F9u ^ (uint64_t)p->scope_org_id ^
               (uint64_t)p->token.parent_seq << 7 ^ (uint64_t)p->token.kind << 3;
  return (uint32_t)(k >> 40) % IDENTITY_BUCKETS;
}

/* p without the fields that are the token's own, so that the tokens of one identity compare
 * equal byte for byte (the store's rows are read into zeroed structs). */
static void identity_of(const struct store_principal *p, struct store_principal *out) {
  *out = *p;
  struct store_token *t = &out->token;
  t->seq = 0;
  memset(t->id, 0, sizeof t->id);
  memset(t->hash, 0, sizeof t->hash);
  memset(t->description, 0, sizeof t->description);
  memset(t->reason, 0, sizeof t->reason);
  memset(t->created_by, 0, sizeof t->created_by);
  t->created = t->expires = t->last_used = 0;
  out->version = 0;
}

static struct identity *identity_get(struct principal_table *t, const struct store_principal *p) {
  struct store_principal *key = malloc(sizeof *key);
  if (!key)
    abort();
  identity_of(p, key);
  uint32_t b = identity_bucket(key);
  for (struct identity *i = t->identity_buckets[b]; i; i = i->bucket_next)
    if (!i->stale && memcmp(&i->p, key, sizeof *key) == 0) {
      free(key);
      i->refs++;
      return i;
    }
  struct identity *i = calloc(1, sizeof *i);
  if (!i)
    abort();
  i->p = *key;
  free(key);
  i->version = ++t->versions;
  i->refs = 1;
  i->bucket_next = t->identity_buckets[b];
  t->identity_buckets[b] = i;
  i->next = t->identities;
  if (t->identities)
    t->identities->prev = i;
  t->identities = i;
  return i;
}

/* Takes a fresh identity out of its intern bucket: no new entry may share it any more. */
static void identity_unintern(struct principal_table *t, struct identity *i) {
  struct identity **pp = &t->identity_buckets[identity_bucket(&i->p)];
  while (*pp && *pp != i)
    pp = &(*pp)->bucket_next;
  if (*pp)
    *pp = i->bucket_next;
  i->bucket_next = NULL;
}

static void identity_put(struct principal_table *t, struct identity *i) {
  if (--i->refs)
    return;
  if (!i->stale)
    identity_unintern(t, i);
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
  uint32_t *by_hash = calloc(n, sizeof *by_hash), *by_seq = calloc(n, sizeof *by_seq);
  if (!by_hash || !by_seq)
    abort();
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
    if (!t->chunks[c] && !(t->chunks[c] = calloc(CHUNK_SIZE, sizeof(struct entry))))
      abort();
    n = ++t->used;
  }
  memset(at(t, n - 1), 0, sizeof(struct entry));
  return n;
}

/* Unlinks entry n (whose hash link is *hash_link) from both indexes and frees it. */
static void entry_remove(struct principal_table *t, uint32_t *hash_link, uint32_t n) {
  struct entry *e = at(t, n - 1);
  *hash_link = e->hash_next;
  uint32_t *seq_link = find_seq(t, e->seq);
  if (*seq_link == n)
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
  const struct store_principal *p = &e->identity->p;
  struct store_token *o = &out->token;
  const struct store_token *s = &p->token;
  o->seq = e->seq;
  format_uuid(e->id, o->id);
  memcpy(o->hash, e->hash, TOKEN_HASH_LEN);
  o->kind = s->kind;
  o->user_id = s->user_id;
  o->org_id = s->org_id;
  o->team_id = s->team_id;
  copy_text(o->name, s->name);
  o->admin = s->admin;
  copy_text(o->oidc_issuer, s->oidc_issuer);
  o->source = s->source;
  o->parent_seq = s->parent_seq;
  o->manage_access = s->manage_access;
  o->description[0] = o->reason[0] = o->created_by[0] = '\0';
  o->created = e->created;
  o->expires = e->expires;
  o->last_used = e->last_used;
  out->user.id = p->user.id;
  copy_text(out->user.uuid, p->user.uuid);
  copy_text(out->user.login, p->user.login);
  copy_text(out->user.name, p->user.name);
  copy_text(out->user.email, p->user.email);
  out->user.site_admin = p->user.site_admin;
  out->scope_org_id = p->scope_org_id;
  copy_text(out->org, p->org);
  copy_text(out->team, p->team);
  copy_text(out->actor, p->actor);
  out->parent_expires = p->parent_expires;
  copy_text(out->issuer_name, p->issuer_name);
  out->parent_from_exchange = p->parent_from_exchange;
  out->version = e->identity->version;
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
    if (t->count + 1 > t->nbuckets && t->nbuckets < PTABLE_MAX_ENTRIES)
      grow(t); /* before the new entry exists: grow links every entry in use */
    if (!(n = entry_new(t)))
      goto done;
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

bool ptable_remove_seq(struct principal_table *t, int64_t seq, struct store_token *was) {
  pthread_rwlock_wrlock(&t->lock);
  uint32_t n = *find_seq(t, seq);
  if (n) {
    struct entry *e = at(t, n - 1);
    if (was) {
      memcpy(was->hash, e->hash, TOKEN_HASH_LEN);
      was->seq = e->seq;
      was->expires = e->expires;
    }
    entry_remove(t, find_hash(t, e->hash), n);
  }
  pthread_rwlock_unlock(&t->lock);
  return n != 0;
}

void ptable_remove_hash(struct principal_table *t, const unsigned char hash[TOKEN_HASH_LEN]) {
  pthread_rwlock_wrlock(&t->lock);
  uint32_t *link = find_hash(t, hash);
  if (*link)
    entry_remove(t, link, *link);
  pthread_rwlock_unlock(&t->lock);
}

/* Whether an identity depends on what the change names. */
static bool depends(const struct store_principal *p, const struct store_change *ch) {
  switch (ch->kind) {
  case CHANGE_TOKEN:
    return p->token.parent_seq == ch->id;
  case CHANGE_USER:
    return p->token.user_id == ch->id;
  case CHANGE_ORG:
    return p->token.org_id == ch->id || p->scope_org_id == ch->id;
  case CHANGE_TEAM:
    return p->token.team_id == ch->id;
  case CHANGE_ISSUER:
    return strcmp(p->token.oidc_issuer, ch->issuer) == 0;
  default:
    return true;
  }
}

size_t ptable_stale_matching(struct principal_table *t, const struct store_change *change) {
  size_t marked = 0;
  pthread_rwlock_wrlock(&t->lock);
  for (struct identity *i = t->identities; i; i = i->next)
    if (!i->stale && depends(&i->p, change)) {
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
