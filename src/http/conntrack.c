#include "http/conntrack.h"

#include "core/error.h"
#include "core/ticker.h"
#include "core/timeutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#define TICK_MS 100
#define EVICT_MIN_AGE_MS 250 /* a client this fresh may still be sending its head, not stalling */
#define REPORT_INTERVAL_MS 60000

enum phase {
  PHASE_WAITING, /* for a request line: a new connection, or a kept-alive one between requests */
  PHASE_HEAD,    /* the request line is in, its headers are not */
  PHASE_BODY,    /* the head is whole, the body (if any) is still arriving */
  PHASE_SERVING, /* the request is whole: handler and reply, not ours to time */
  PHASE_CUT,     /* shut down by the tracker */
};

struct conntrack;

/* One connection. Its worker thread moves it between phases; the tracker's thread moves it to
 * PHASE_CUT. Every move is a compare-and-swap, so a connection whose head arrives just as its
 * deadline passes is either served or cut, never cut while being served. */
struct tracked {
  struct tracked *prev, *next; /* in the tracker's list, under its lock */
  struct conntrack *owner;
  int fd;
  bool kept_alive; /* has served a request; only its worker thread reads or writes this */
  atomic_int phase;
  _Atomic int64_t deadline_ms; /* when the head, or then the body, must be whole */
  _Atomic int64_t since_ms;    /* when the current wait began: the oldest waiter goes first */
};

struct conntrack {
  pthread_mutex_t lock;
  struct tracked *head;
  int count;      /* connections open */
  int cut_count;  /* of which cut by us and not yet closed by libmicrohttpd */
  int high_water; /* above it, the longest waiters are closed to keep room for new clients */
  int64_t head_ms, idle_ms;
  struct ticker *ticker;
  long timed_out, evicted; /* since the last report */
  int64_t reported_ms;
};

static bool move(struct tracked *t, int from, int to) {
  return atomic_compare_exchange_strong(&t->phase, &from, to);
}

static struct tracked *tracked_of(struct MHD_Connection *conn) {
  const union MHD_ConnectionInfo *info =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return info ? info->socket_context : NULL;
}

/* Still waiting for the client: for a request's head, or for its body. */
static bool waiting(int phase) {
  return phase == PHASE_WAITING || phase == PHASE_HEAD || phase == PHASE_BODY;
}

static bool waiting_for_client(const struct tracked *t) {
  return waiting(atomic_load(&t->phase));
}

/* Caller holds the lock. True when the connection was waiting for its client and is now cut. */
static bool cut(struct conntrack *c, struct tracked *t) {
  int phase = atomic_load(&t->phase);
  if (!waiting(phase) || !move(t, phase, PHASE_CUT))
    return false;
  c->cut_count++;
  /* The fd is still this connection's: libmicrohttpd closes it only after the CLOSED
   * notification, which takes the lock first. */
  shutdown(t->fd, SHUT_RDWR);
  return true;
}

/* Caller holds the lock. Closes the connection that has waited longest for its client, if one has
 * waited long enough to be a staller rather than a client about to speak. */
static bool make_room(struct conntrack *c, int64_t now) {
  struct tracked *oldest = NULL;
  int64_t oldest_since = now - EVICT_MIN_AGE_MS;
  for (struct tracked *t = c->head; t; t = t->next) {
    int64_t since = atomic_load(&t->since_ms);
    if (waiting_for_client(t) && since <= oldest_since) {
      oldest = t;
      oldest_since = since;
    }
  }
  if (!oldest || !cut(c, oldest))
    return false;
  c->evicted++;
  return true;
}

/* Caller holds the lock. Keeps the server below its high-water mark, so that libmicrohttpd, which
 * stops accepting at its limit, always has a slot for a new client; a slot freed only at the next
 * deadline would leave that client waiting in the listen queue until then. */
static void keep_room(struct conntrack *c, int64_t now) {
  while (c->count - c->cut_count > c->high_water && make_room(c, now))
    ;
}

static void report(struct conntrack *c, int64_t now) {
  if (now - c->reported_ms < REPORT_INTERVAL_MS || (!c->timed_out && !c->evicted))
    return;
  fprintf(stderr,
          "tessera: closed %ld connections whose request head or body was too slow and %ld "
          "waiting ones to make room for new clients, in the last minute\n",
          c->timed_out, c->evicted);
  c->timed_out = c->evicted = 0;
  c->reported_ms = now;
}

static void tick(void *arg) {
  struct conntrack *c = arg;
  int64_t now = time_coarse_ms();
  pthread_mutex_lock(&c->lock);
  for (struct tracked *t = c->head; t; t = t->next) {
    if (waiting_for_client(t) && now >= atomic_load(&t->deadline_ms) && cut(c, t))
      c->timed_out++;
  }
  keep_room(c, now);
  report(c, now);
  pthread_mutex_unlock(&c->lock);
}

static void track(struct conntrack *c, struct MHD_Connection *conn, void **socket_context) {
  const union MHD_ConnectionInfo *info =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  struct tracked *t = calloc(1, sizeof *t);
  if (!t)
    abort();
  t->owner = c;
  t->fd = info ? info->connect_fd : -1;
  int64_t now = time_coarse_ms();
  atomic_store(&t->phase, PHASE_WAITING);
  atomic_store(&t->since_ms, now);
  atomic_store(&t->deadline_ms, now + c->head_ms); /* the first head is timed from the opening */
  *socket_context = t;
  pthread_mutex_lock(&c->lock);
  t->next = c->head;
  if (c->head)
    c->head->prev = t;
  c->head = t;
  c->count++;
  keep_room(c, now);
  pthread_mutex_unlock(&c->lock);
}

static void untrack(struct conntrack *c, struct tracked *t) {
  pthread_mutex_lock(&c->lock);
  if (t->prev)
    t->prev->next = t->next;
  else
    c->head = t->next;
  if (t->next)
    t->next->prev = t->prev;
  c->count--;
  if (atomic_load(&t->phase) == PHASE_CUT)
    c->cut_count--;
  pthread_mutex_unlock(&c->lock);
  free(t);
}

void conntrack_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                      enum MHD_ConnectionNotificationCode code) {
  struct conntrack *c = cls;
  if (code == MHD_CONNECTION_NOTIFY_STARTED)
    track(c, conn, socket_context);
  else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context)
    untrack(c, *socket_context);
}

void conntrack_request_line(struct MHD_Connection *conn) {
  struct tracked *t = tracked_of(conn);
  /* A kept-alive connection's head is timed from its request line, which ended an idle wait that
   * had its own bound; a new connection's stays timed from its opening. */
  if (t && move(t, PHASE_WAITING, PHASE_HEAD) && t->kept_alive)
    atomic_store(&t->deadline_ms, time_coarse_ms() + t->owner->head_ms);
}

void conntrack_head_done(struct MHD_Connection *conn) {
  struct tracked *t = tracked_of(conn);
  if (!t)
    return;
  /* Set before the move: the tracker reads the deadline only of connections in a waiting phase. */
  atomic_store(&t->deadline_ms, time_coarse_ms() + t->owner->idle_ms);
  move(t, PHASE_HEAD, PHASE_BODY);
}

void conntrack_body_done(struct MHD_Connection *conn) {
  struct tracked *t = tracked_of(conn);
  if (t)
    move(t, PHASE_BODY, PHASE_SERVING);
}

void conntrack_request_done(struct MHD_Connection *conn) {
  struct tracked *t = tracked_of(conn);
  if (!t)
    return;
  int64_t now = time_coarse_ms();
  t->kept_alive = true;
  atomic_store(&t->since_ms, now);
  atomic_store(&t->deadline_ms, now + t->owner->idle_ms);
  if (!move(t, PHASE_SERVING, PHASE_WAITING))
    move(t, PHASE_BODY, PHASE_WAITING); /* answered before its body was read */
}

bool conntrack_was_cut(struct MHD_Connection *conn) {
  struct tracked *t = tracked_of(conn);
  return t && atomic_load(&t->phase) == PHASE_CUT;
}

int conntrack_start(const struct conntrack_config *config, struct conntrack **out) {
  struct conntrack *c = calloc(1, sizeof *c);
  if (!c)
    abort();
  pthread_mutex_init(&c->lock, NULL);
  c->head_ms = (int64_t)config->head_seconds * 1000;
  c->idle_ms = (int64_t)config->idle_seconds * 1000;
  /* Below libmicrohttpd's own limit, which it splits between its worker threads, so that some
   * worker can still accept the connection that makes room. */
  c->high_water = config->max_connections - config->max_connections / 10 - 1;
  c->reported_ms = time_coarse_ms();
  if (ticker_start("conntrack", TICK_MS, tick, c, &c->ticker) != 0) {
    pthread_mutex_destroy(&c->lock);
    free(c);
    return TE_INTERNAL;
  }
  *out = c;
  return TE_OK;
}

void conntrack_stop(struct conntrack *c) {
  ticker_stop(c->ticker);
  pthread_mutex_destroy(&c->lock);
  free(c);
}
