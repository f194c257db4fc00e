#ifndef TESSERA_HTTP_SERVER_H
#define TESSERA_HTTP_SERVER_H

#include "http/request.h"

#include <stdbool.h>

struct server_config {
  const char *host; /* IPv4 or IPv6 literal */
  int port;         /* 0: the kernel picks one */
  int threads;
  int timeout_seconds; /* idle connections are closed after this; a body must arrive within it */
  int head_timeout_seconds; /* a request's line and headers must arrive within this */
  int connections_per_ip;   /* bounds what one client address can hold open */
  int max_connections;      /* in all; near it, the longest-waiting idle connection makes room */
  bool access_log;          /* one JSON line per request on stdout */
  /* Count its requests in tessera_http_* and tessera_auth_checks_total: the API's listener, not
   * the one that serves /metrics alone (--metrics-listen). */
  bool metrics;
};

struct server;

int server_start(const struct server_config *config, struct app *app, struct server **out);

/* The port actually bound. */
int server_port(struct server *server);

/* Stops accepting, lets requests in flight finish (bounded), then stops. */
void server_stop(struct server *server);

#endif
