#define _GNU_SOURCE /* pipe2 */
#include "store/pg_listen.h"

#include "core/error.h"
#include "store/pg_pool.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RETRY_MS 500

struct pg_listener {
  char *conninfo;
  char listen[96]; /* "LISTEN <channel>" */
  void (*fn)(void *arg);
  void *arg;
  int stop_pipe[2]; /* a byte written here ends the thread's wait */
  pthread_t thread;
};

static void quiet(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

static PGconn *connect_and_listen(struct pg_listener *l) {
  PGconn *conn = pg_connect(l->conninfo);
  PGresult *res = NULL;
  if (PQstatus(conn) == CONNECTION_OK) {
    PQsetNoticeProcessor(conn, quiet, NULL);
    res = PQexec(conn, l->listen);
  }
  bool ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
  PQclear(res);
  if (!ok) {
    PQfinish(conn);
    return NULL;
  }
  return conn;
}

/* Waits for the socket (or only the stop pipe when there is no connection) for up to ms; false
 * when asked to stop. */
static bool wait_for(struct pg_listener *l, PGconn *conn, int ms, bool *readable) {
  struct pollfd fds[2] = {{.fd = l->stop_pipe[0], .events = POLLIN},
                          {.fd = conn ? PQsocket(conn) : -1, .events = POLLIN}};
  int n = poll(fds, conn ? 2 : 1, ms);
  if (n > 0 && (fds[0].revents & POLLIN))
    return false;
  *readable = n > 0 && conn && (fds[1].revents & (POLLIN | POLLHUP | POLLERR));
  return true;
}

static void *listen_main(void *arg) {
  struct pg_listener *l = arg;
  PGconn *conn = NULL;
  for (;;) {
    bool readable = false;
    if (!conn && (conn = connect_and_listen(l)) != NULL)
      l->fn(l->arg); /* what was sent while we were away is in the feed: catch up */
    if (!wait_for(l, conn, conn ? 1000 : RETRY_MS, &readable))
      break;
    if (!readable)
      continue;
    if (!PQconsumeInput(conn)) { /* the server went away: reconnect */
      PQfinish(conn);
      conn = NULL;
      continue;
    }
    bool notified = false;
    for (PGnotify *n; (n = PQnotifies(conn)) != NULL; PQfreemem(n))
      notified = true;
    if (notified)
      l->fn(l->arg);
  }
  PQfinish(conn);
  return NULL;
}

int pg_listener_start(const char *conninfo, const char *channel, void (*fn)(void *arg), void *arg,
                      struct pg_listener **out) {
  struct pg_listener *l = calloc(1, sizeof *l);
  if (!l || !(l->conninfo = strdup(conninfo)))
    abort();
  snprintf(l->listen, sizeof l->listen, "LISTEN %s", channel);
  l->fn = fn;
  l->arg = arg;
  if (pipe2(l->stop_pipe, O_CLOEXEC) != 0) {
    free(l->conninfo);
    free(l);
    return TE_INTERNAL;
  }
  if (pthread_create(&l->thread, NULL, listen_main, l) != 0) {
    close(l->stop_pipe[0]);
    close(l->stop_pipe[1]);
    free(l->conninfo);
    free(l);
    return TE_INTERNAL;
  }
  *out = l;
  return TE_OK;
}

void pg_listener_stop(struct pg_listener *l) {
  if (!l)
    return;
  char byte = 1;
  if (write(l->stop_pipe[1], &byte, 1) != 1)
    fprintf(stderr, "tessera: could not stop the PostgreSQL listener\n");
  pthread_join(l->thread, NULL);
  close(l->stop_pipe[0]);
  close(l->stop_pipe[1]);
  free(l->conninfo);
  free(l);
}
