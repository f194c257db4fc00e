#ifndef TESSERA_API_VIEW_CACHE_H
#define TESSERA_API_VIEW_CACHE_H

#include <stddef.h>
#include <stdint.h>

/* Rendered response bodies keyed by (user id, principal version): `GET /api/user` is the hottest
 * route, and rendering it with jansson cost more than authenticating. A body is reused only under
 * the exact version it was rendered for; the store changes the version on every write, so a cached
 * body never outlives the data it shows. Version 0 (no caching store) is never cached. */

/* A malloc'd copy of the cached body, or NULL. */
char *view_cache_get(int64_t user_id, uint64_t version, size_t *len);

/* Remembers a copy of body for (user_id, version). */
void view_cache_put(int64_t user_id, uint64_t version, const char *body);

#endif
