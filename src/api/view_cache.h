#ifndef TESSERA_API_VIEW_CACHE_H
#define TESSERA_API_VIEW_CACHE_H

#include <stddef.h>
#include <stdint.h>

/* Rendered response bodies keyed by (user id, principal version): `GET /api/user` is the hottest
 * route, and rendering it with jansson cost more than authenticating. A body is reused only under
 * the exact version it was rendered for; the store changes the version on every write, so a cached
 * body never outlives the data it shows. Version 0 (no caching store) is never cached.
 *
 * A cached body is immutable and reference-counted: a hit hands out a reference, not a copy, so
 * serving one allocates and copies nothing; the body lives until the cache and every reply that
 * holds it have let it go. */
struct view_body {
  size_t len;
  const char *text; /* len bytes and a NUL */
};

/* A reference to the body cached for (user_id, version), or NULL. Give it back with
 * view_body_release. */
const struct view_body *view_cache_get(int64_t user_id, uint64_t version);

/* Lets go of a reference from view_cache_get; takes void * to serve as a reply's release
 * function (http/request.h, reply_shared). */
void view_body_release(void *body);

/* Remembers a copy of body for (user_id, version). */
void view_cache_put(int64_t user_id, uint64_t version, const char *body);

#endif
