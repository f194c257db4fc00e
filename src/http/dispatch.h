#ifndef TESSERA_HTTP_DISPATCH_H
#define TESSERA_HTTP_DISPATCH_H

#include "http/request.h"

/* Runs a request whose headers and body are in: finds its route (404 and 405 otherwise),
 * authenticates it when the route needs that, and calls the handler, answering 500 for a handler
 * that neither replied nor deferred. Afterwards the request has its reply or is deferred. Used by
 * the server (server.c) and by the router fuzzer, which makes requests without a connection. */
void dispatch(struct request *req);

#endif
