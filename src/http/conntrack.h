#ifndef TESSERA_HTTP_CONNTRACK_H
#define TESSERA_HTTP_CONNTRACK_H

#include <microhttpd.h>
#include <stdbool.h>

/* Every open connection and what it is waiting for, so that slow clients cannot hold the
 * server's connection slots. libmicrohttpd 0.9.75 only times out *idle* connections: a client
 * sending one header byte every few seconds keeps its connection forever, and a few addresses
 * (each up to --max-connections-per-ip) can take every slot. So:
 *   - a request's head (request line and headers) must arrive within head_seconds of the
 *     connection opening, or, on a kept-alive connection, of its request line; the wait for that
 *     request line is bounded by idle_seconds in all, however it trickles in;
 *   - its body must arrive within idle_seconds of its head;
 *   - when the server is nearly full, it makes room by closing the connection that has waited
 *     longest (at least EVICT_MIN_AGE_MS) for its client (a request head or body), so a few slow
 *     or idle clients cannot lock out a new one.
 * Such connections are shut down from the tracker's thread (shutdown(2): libmicrohttpd then sees
 * the end of the stream and closes the connection itself, in its own thread). Requests being
 * served are never touched; their bodies have their own deadline (http/server.c). */

struct conntrack;

struct conntrack_config {
  int head_seconds;
  int idle_seconds;
  int max_connections;
};

int conntrack_start(const struct conntrack_config *config, struct conntrack **out);
/* After MHD_stop_daemon: every connection is closed by then. */
void conntrack_stop(struct conntrack *tracker);

/* libmicrohttpd's MHD_OPTION_NOTIFY_CONNECTION callback (cls: the tracker). */
void conntrack_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                      enum MHD_ConnectionNotificationCode code);

/* The connection's request line is in (MHD's URI callback). */
void conntrack_request_line(struct MHD_Connection *conn);
/* The request's head is whole: its body, if any, must arrive within idle_seconds. */
void conntrack_head_done(struct MHD_Connection *conn);
/* The request is whole: it is being served and is off the tracker's clock. */
void conntrack_body_done(struct MHD_Connection *conn);
/* The request is over; a kept-alive connection now waits for its next request line. A request
 * cut before its head was whole is not logged (it has no method or path yet); the tracker
 * reports how many it cut on stderr, once a minute at most. */
void conntrack_request_done(struct MHD_Connection *conn);
/* Whether the tracker cut the connection for a deadline or to make room (logged as a 408). */
bool conntrack_was_cut(struct MHD_Connection *conn);

#endif
