#ifndef TESSERA_HTTP_AUTH_H
#define TESSERA_HTTP_AUTH_H

#include "http/request.h"

#include <stdbool.h>

/* Resolves the request's Authorization header ("token <v>" or "Bearer <v>") to a principal, notes
 * the use for lastUsed and prepares the expiry warning. On failure it has replied (401, or 5xx when
 * the store failed) and returns false. */
bool auth_authenticate(struct request *req);

/* The principal a credential value (session: a console session's value, else a token's) stands
 * for, if it is usable now: found by its hash and matched again in constant time, not expired,
 * and of the sort the value is. TE_OK, TE_UNAUTHORIZED for any value that is not, or the store's
 * error (TE_UNAVAILABLE, ...). */
int auth_principal_of(struct store *store, const char *value, size_t len, bool session, int64_t now,
                      struct store_principal *out);

/* The console's session cookie: 64 lower-case hex digits of CSPRNG output, stored (like token
 * values) only as SHA-256. Without an Authorization header, requests may authenticate with it;
 * those that change anything must then carry X-CSRF-Token (auth_session_csrf of the cookie). */
#define SESSION_COOKIE "tessera_session"
#define SESSION_VALUE_LEN 64
#define CSRF_TOKEN_LEN 64

/* The CSRF token that goes with a session value (hex of SHA-256 over a label and the value):
 * derived, so nothing more is stored, and unguessable without the HttpOnly cookie. */
void auth_session_csrf(const char *session_value, char out[CSRF_TOKEN_LEN + 1]);

#endif
