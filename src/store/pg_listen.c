#define _GNU_SOURCE /* pipe2 */
#include "store/pg_listen.h"

#include "core/error.h"
#include "core/threadname.h"
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
  const atomic_int *own; /* the backend whose notifications are not passed on, or NULL */
  int stop_pipe[2];      /* a byte written here ends the thread's wait */
  pthread_t thread;
};

/* Connects (bounded by connect_timeout) and sends the LISTEN; its answer is awaited in the main
 * loop, beside the stop pipe, so that a server that stops answering cannot hold a stop. */
static PGconn *connect_and_listen(struct pg_listener *l) {
  PGconn *conn = pg_connect(l->conninfo);
  if (PQstatus(conn) == CONNECTION_OK && PQsendQuery(conn, l->listen))
    return conn;
  PQfinish(conn);
  return NULL;
}

/* Reads what has arrived: false when the connection failed. *called: the LISTEN took effect
 * (the caller catches up, for what was sent while it was away), or a notification came from
 * another backend than own's. */
static bool take_input(PGconn *conn, const atomic_int *own, bool *listening, bool *called) {
  if (!PQconsumeInput(conn))
    return false;
  while (!PQisBusy(conn)) {
    PGresult *res = PQgetResult(conn);
    if (!res)
      break;
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok)
      return false;
    if (!*listening)
      *listening = *called = true;
  }
  for (PGnotify *n; (n = PQnotifies(conn)) != NULL; PQfreemem(n))
    if (!own || n->be_pid != atomic_load(own))
      *called = true;
  return true;
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
  bool listening = false;
  for (;;) {
    bool readable = false, called = false;
    if (!conn) {
      conn = connect_and_listen(l);
      listening = false;
    }
    if (!wait_for(l, conn, conn ? 1000 : RETRY_MS, &readable))
      break;
    if (!readable)
      continue;
    if (!take_input(conn, l->own, &listening, &called)) { /* the server went away: reconnect */
      PQfinish(conn);
      conn = NULL;
      continue;
    }
    if (called)
      l->fn(l->arg);
  }
  PQfinish(conn);
  return NULL;
}

int pg_listener_start(const char *conninfo, const char *channel, void (*fn)(void *arg), void *arg,
                      const atomic_int *own, struct pg_listener **out) {
  struct pg_listener *l = calloc(1, sizeof *l);
  if (!l || !(l->conninfo = strdup(conninfo)))
    abort();
  snprintf(l->listen, sizeof l->listen, "LISTEN %s", channel);
  l->fn = fn;
  l->arg = arg;
  l->own = own;
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
  thread_name(l->thread, "pg-listen");
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
