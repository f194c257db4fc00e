#ifndef TESSERA_OIDC_JWK_CACHE_H
#define TESSERA_OIDC_JWK_CACHE_H

#include "oidc/jwk.h"

#include <stddef.h>

/* Parsed key sets, kept per owner (an OIDC issuer's id) with the exact text they were parsed
 * from, so that every exchange does not turn the same JWKS into OpenSSL keys again: that costs
 * more than checking the signature. A text differing in any byte is parsed afresh and replaces
 * the owner's entry, so a key rotation or an edit of the issuer takes effect exactly as if nothing
 * were kept; nothing is found without the text, which the caller reads from the store each time.
 * Bounded: JWK_CACHE_SLOTS entries, an owner's slot chosen by its name (two owners on one slot
 * take turns). Thread-safe; the keys a caller holds stay valid until it releases them. */

#define JWK_CACHE_SLOTS 64
#define JWK_CACHE_OWNER_MAX 63

struct jwk_cached;

/* jwk_set_parse's contract (the same codes and reasons), through the cache: on TE_OK *keys is the
 * parsed set, valid until jwk_cache_release(*held). A text that does not parse is not kept. */
int jwk_cache_get(const char *owner, const char *json, size_t len, const struct jwk_set **keys,
                  struct jwk_cached **held, const char **why);
void jwk_cache_release(struct jwk_cached *held);

/* Drops every entry not held (tests; the process's end). */
void jwk_cache_clear(void);

#endif
