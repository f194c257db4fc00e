#ifndef TESSERA_HTTP_OFFLOAD_H
#define TESSERA_HTTP_OFFLOAD_H

#include "http/request.h"

#include <stdbool.h>

/* A few threads for work that may block for seconds (fetching an OIDC issuer's documents), so that
 * it never holds one of the HTTP worker threads: a handler that is about to block hands its
 * request here and returns; the request is suspended, the handler runs again on an offload
 * thread (req->offloaded set), and the request is resumed with the reply it made there. At most
 * OFFLOAD_QUEUE_MAX requests wait; more are answered 503 at once. */

#define OFFLOAD_THREADS 4
#define OFFLOAD_QUEUE_MAX 32

struct offload;

int offload_start(struct offload **out);
/* Runs what is queued, then joins the threads. */
void offload_stop(struct offload *pool);

/* From a handler: false when the request is already on an offload thread (go on and block);
 * true when it has been queued to run the handler there, or refused with 503 (either way the
 * handler must return at once). Call it before any side effect: the handler runs again whole. */
bool request_offload(struct request *req, void (*handler)(struct request *req));

#endif
