#ifndef TESSERA_API_OIDC_KEYS_H
#define TESSERA_API_OIDC_KEYS_H

#include "http/request.h"
#include "oidc/fetch.h"

#include <stddef.h>

/* An issuer's signing keys: discovered at registration, refreshed when a token names a key the
 * stored set lacks (rotation at the issuer), and pinned to the TLS certificates seen or given. */

/* TE_OK when the JWKS text holds at least one usable key; else TE_BAD_REQUEST and why. */
int oidc_keys_check(const char *jwks, char *why, size_t why_size);

/* Fills in issuer, jwks_uri and jwks of an issuer being registered or regenerated. A static
 * issuer (jwks already set) just takes its url as its issuer. Otherwise it fetches
 * url/.well-known/openid-configuration, whose "issuer" must be the url, then its jwks_uri; with
 * thumbprints "[]" it records the certificates seen, else it requires them to be among those. */
int oidc_keys_discover(const struct app *app, struct store_oidc_issuer *issuer, char *why,
                       size_t why_size);

/* Re-fetches a discovered issuer's key set and saves it: at most once a minute per issuer, so a
 * stream of tokens naming unknown keys cannot make the server hammer the issuer. TE_OK when the
 * set was replaced; TE_UNAVAILABLE when rate-limited or the keys are static; another code when the
 * fetch failed (logged). */
int oidc_keys_refresh(const struct app *app, struct store_oidc_issuer *issuer);

/* Whether oidc_keys_refresh would fetch now (it may block for seconds: off the HTTP workers). */
bool oidc_keys_refresh_due(const struct store_oidc_issuer *issuer);

#endif
