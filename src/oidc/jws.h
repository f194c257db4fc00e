#ifndef TESSERA_OIDC_JWS_H
#define TESSERA_OIDC_JWS_H

#include "oidc/jwk.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Verification of OIDC ID tokens: compact JWS (RFC 7515) carrying JWT claims (RFC 7519), signed
 * RS256 or ES256 only. */

#define JWT_MAX_BYTES (16 * 1024)

/* Verifies a compact JWS (header.payload.signature, strict base64url without padding; `token` need
 * not be NUL-terminated) against `keys`.
 * - TE_BAD_REQUEST: longer than JWT_MAX_BYTES; not exactly three non-empty parts (an empty
 *   signature is alg "none"); a part that is not base64url; header or payload not a JSON object
 *   (duplicate members refused); a "crit" header; "alg" not exactly "RS256" or "ES256"; a "kid"
 *   that is not a non-empty string; no kid and several keys of the algorithm; the alg is not the
 *   one the key is pinned to (algorithm confusion); an ES256 signature that is not 64 bytes.
 * - TE_NOT_FOUND: no key has the header's kid, or (no kid) no key has its algorithm. The caller may
 *   refresh the JWKS once and retry.
 * - TE_FORBIDDEN: the signature does not verify (RSASSA-PKCS1-v1_5 with SHA-256, or ECDSA P-256
 *   with SHA-256 over raw r || s).
 * The key: with a kid, the key with that kid and the header's algorithm (keys of different types
 * may share a kid); without, the set's only key of the header's algorithm. Header members that
 * would bring their own key (jwk, jku, x5u, x5c) are ignored: keys come only from `keys`.
 * The payload is parsed only once the signature has verified.
 * TE_OK with *claims the payload object (the caller json_decref's it); otherwise *claims is NULL
 * and *why a short static English reason fit for an audit record (never token contents). */
int jws_verify(const char *token, size_t len, const struct jwk_set *keys, json_t **claims,
               const char **why);

/* Checks the registered claims of a verified payload: "iss" a string equal to `issuer`; "aud" a
 * string equal to `audience` or an array containing it; "exp" (required) a number > now - leeway;
 * "nbf", if present, a number <= now + leeway; "iat", if present, a number <= now + leeway.
 * Numbers may be integer or real; a negative leeway counts as 0; an empty or NULL issuer or
 * audience matches nothing. TE_OK, or TE_FORBIDDEN with *why ("expired", "wrong audience"...). */
int jwt_check_claims(json_t *claims, const char *issuer, const char *audience, int64_t now,
                     int leeway_seconds, const char **why);

#endif
