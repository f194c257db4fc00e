#ifndef TESSERA_STORE_PG_LISTEN_H
#define TESSERA_STORE_PG_LISTEN_H

#include <stdatomic.h>

/* A LISTEN on one PostgreSQL channel, on a connection and thread of its own: fn(arg) runs on each
 * notification, and after each (re)connect, since notifications sent while it was away are lost
 * (the change feed itself is in a table, so the caller catches up). A lost connection is retried
 * every RETRY_MS until it is back. A notification sent by the backend whose process id *own
 * holds (when own is not NULL) is not passed on: the caller's own writer, which catches up after
 * each of its commits itself. */

struct pg_listener;

int pg_listener_start(const char *conninfo, const char *channel, void (*fn)(void *arg), void *arg,
                      const atomic_int *own, struct pg_listener **out);
void pg_listener_stop(struct pg_listener *l);

#endif
