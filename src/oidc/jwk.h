#ifndef TESSERA_OIDC_JWK_H
#define TESSERA_OIDC_JWK_H

#include <openssl/evp.h>
#include <stddef.h>

/* Public signing keys published by an OpenID provider (its jwks_uri), for verifying ID tokens. */

enum jwk_alg { JWK_RS256, JWK_ES256 };

struct jwk_key {
  char kid[128];    /* "" when the JWK has none */
  enum jwk_alg alg; /* the only algorithm this key may verify: pinned by key type */
  EVP_PKEY *pkey;   /* public key only */
};

struct jwk_set {
  struct jwk_key *keys;
  size_t count;
};

#define JWKS_MAX_BYTES (64 * 1024)
#define JWKS_MAX_KEYS 32
#define JWK_RSA_MIN_BITS 2048
#define JWK_RSA_MAX_BITS 8192

/* Parses a JWK Set (RFC 7517 JSON text, at most JWKS_MAX_BYTES; `json` need not be NUL-terminated).
 * RSA keys (kty "RSA", n, e; modulus 2048 to 8192 bits and odd; e odd, at least 3, at most 256
 * bits, below n) become RS256 keys; EC keys (kty "EC", crv "P-256", x and y exactly 32 bytes each,
 * a valid point on the curve) become ES256 keys.
 * Skipped, not fatal: keys whose "use" is present and not "sig"; whose "alg" is present and is not
 * the one algorithm their type is pinned to; of other types (oct, OKP) or curves; missing a member
 * or with members of the wrong JSON type; with a "kid" that is not a string or is 128 bytes or
 * longer (an empty kid counts as none); RSA or EC keys failing the checks above; a key repeating
 * the kid and algorithm of an earlier key (RFC 7517 §4.5 lets only keys of different types share
 * a kid).
 * TE_BAD_REQUEST, with *why a short static English reason: more than JWKS_MAX_BYTES; malformed JSON
 * (duplicate members included); not an object; "keys" missing or not an array; more than
 * JWKS_MAX_KEYS entries; an entry that is not an object; a key member (n, e, x, y) that is not
 * strict base64url (unpadded, url-safe alphabet only: "+", "/" and "=" are refused so that one key
 * has one spelling). A set without usable keys is returned with count 0: the caller decides.
 * Private members (d, p, q, dp, dq, qi) are never read; no private key material is kept.
 * On success *out is owned by the caller (jwk_set_free). */
int jwk_set_parse(const char *json, size_t len, struct jwk_set **out, const char **why);

void jwk_set_free(struct jwk_set *set);

/* The first usable key with this kid; NULL when none (or kid is NULL or ""). */
const struct jwk_key *jwk_set_find(const struct jwk_set *set, const char *kid);

/* Decodes strict base64url (RFC 7515 §2: url-safe alphabet, no padding, no whitespace, unused
 * trailing bits zero). TE_OK with *out (malloc'd, owned by the caller, at least one byte even when
 * empty) and *out_len, or TE_BAD_REQUEST. */
int jwk_base64url_decode(const char *in, size_t len, unsigned char **out, size_t *out_len);

#endif
