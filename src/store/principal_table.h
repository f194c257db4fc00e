#ifndef TESSERA_STORE_PRINCIPAL_TABLE_H
#define TESSERA_STORE_PRINCIPAL_TABLE_H

#include "store/store.h"

#include <stdatomic.h>
#include <stdint.h>

/* The principals of tokens in memory, by token hash, in about a hundred bytes a token: a token's
 * own fields (hash, seq, id, times) in a compact entry, and who it stands for (user, scope,
 * names: what many tokens share) in an identity that the entries of the same person and scope
 * share. So a million tokens fit in about 100 MB, and a change to a user, organization, team or
 * issuer marks the identities it touched stale, whatever the number of tokens behind them.
 *
 * An entry is fresh (answered from memory) or stale (its hash is known, its principal must be read
 * again). A stale entry still says that a token of this hash existed when last read, which is what
 * lets a table that holds every token refuse a value it does not hold (store/cache.c).
 *
 * A copy out writes only what a request uses: the principal's token fields, user and names, with
 * description, reason and created_by empty (read a token itself for those). The version of a
 * copied principal is its identity's: the same version means the same user and memberships.
 *
 * Thread-safe: one reader-writer lock; lookups share it. */
struct principal_table;

enum ptable_found {
  PTABLE_ABSENT, /* no entry of this hash */
  PTABLE_STALE,  /* an entry, to be read again from the store */
  PTABLE_FRESH   /* out holds the principal */
};

/* At most this many entries (uint32 indexes; about 1.6 GB of them). */
#define PTABLE_MAX_ENTRIES (1u << 24)

struct principal_table *ptable_new(void);
void ptable_free(struct principal_table *t);

/* Looks up a hash at monotonic second now_s. */
enum ptable_found ptable_get(struct principal_table *t, const unsigned char hash[TOKEN_HASH_LEN],
                             int64_t now_s, struct store_principal *out);

/* Stores p, fresh until monotonic second fresh_until_s, in place of any entry of its hash, unless
 * epoch is given and no longer holds expected (a change was applied since p was read). Returns
 * the version p has in the table, 0 when nothing was stored (epoch moved, or the table is full).
 * A token whose fields do not fit an entry (an id that is not a lowercase UUID) is stored stale:
 * known, never answered from memory. */
uint64_t ptable_put(struct principal_table *t, const struct store_principal *p,
                    int64_t fresh_until_s, const atomic_uint_fast64_t *epoch, uint64_t expected);

/* Extends to fresh_until_s the entries that still hold what the principals say (read from the
 * store a moment ago, with no lock held that the change feed needs: store/cache.c's walk). An
 * entry that holds something else is made stale, to be read again on its next use: the store
 * changed after the read and the feed stored the newer state (one read too many), or the feed
 * missed a change. No entry is added, and none that is gone or stale comes back: a deletion or
 * change the feed applied meanwhile stands. Returns how many were extended. */
size_t ptable_confirm(struct principal_table *t, const struct store_principal *items, size_t n,
                      int64_t fresh_until_s);

/* Removes the entry of the token of this seq; *was (if given) gets its hash, seq and expiry.
 * Returns whether there was one. */
bool ptable_remove_seq(struct principal_table *t, int64_t seq, struct store_token *was);

/* Whether the token of this seq has an entry; *was gets its hash, seq and expiry. */
bool ptable_find_seq(struct principal_table *t, int64_t seq, struct store_token *was);

/* Removes the entry of this hash (a stale entry whose token the store no longer has), unless
 * epoch no longer holds expected (a change was applied since the store said so). */
void ptable_remove_hash(struct principal_table *t, const unsigned char hash[TOKEN_HASH_LEN],
                        const atomic_uint_fast64_t *epoch, uint64_t expected);

/* Removes every entry not stored since the last ptable_stale_all: after every token was loaded
 * again, those of tokens deleted meanwhile (while the feed could not say so). Returns how many. */
size_t ptable_sweep(struct principal_table *t);

/* Whether a put ever found no room (PTABLE_MAX_ENTRIES): the table cannot hold every token. */
bool ptable_overflowed(struct principal_table *t);

/* Marks stale every entry whose principal depends on the user, organization, team, issuer or
 * parent token the change names (CHANGE_TOKEN: the tokens made with that token; the token itself
 * is ptable_remove_seq's). Returns how many identities it marked. */
size_t ptable_stale_matching(struct principal_table *t, const struct store_change *change);

/* Marks every entry stale. */
void ptable_stale_all(struct principal_table *t);

/* Raises the last_used of the token of this seq, if it has an entry. */
void ptable_touch(struct principal_table *t, int64_t seq, int64_t last_used);

size_t ptable_count(struct principal_table *t);

#endif
