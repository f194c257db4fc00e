#ifndef TESSERA_HTTP_AUTH_H
#define TESSERA_HTTP_AUTH_H

#include "http/request.h"

#include <stdbool.h>

/* Resolves the request's Authorization header ("token <v>" or "Bearer <v>") to a principal, notes
 * the use for lastUsed and prepares the expiry warning. On failure it has replied (401, or 5xx when
 * the store failed) and returns false. */
bool auth_authenticate(struct request *req);

#endif
