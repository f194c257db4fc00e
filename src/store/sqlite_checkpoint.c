#include "store/sqlite_checkpoint.h"

#include "core/error.h"
#include "core/threadname.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

/* SQLite's own threshold: the log is checkpointed once it holds this many pages. */
#define CHECKPOINT_PAGES 1000

/* The log starts from its beginning again only when a write transaction begins after a
 * checkpoint has copied all of it. Under steady writes the writer's next transaction tends to
 * begin while the checkpoint of its last commit still runs, again and again, and the log would
 * grow without end. Past this many pages the writer therefore checkpoints itself, right after
 * its commit (what SQLite does by default at 1000): by then the thread has copied nearly all of
 * it, so what is left is short. */
#define RESTART_PAGES (4 * CHECKPOINT_PAGES)

struct sqlite_checkpointer {
  sqlite3 *db, *writer;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  bool wanted, stopping;
  unsigned long runs;
  int last_pages;         /* the writer's thread only */
  unsigned long restarts; /* times the log was seen starting again (the writer's thread only) */
};

/* Runs on the writer's thread after each commit: a flag and a signal, unless the log is long. */
static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int pages) {
  (void)name;
  struct sqlite_checkpointer *cp = arg;
  if (pages < cp->last_pages)
    __atomic_add_fetch(&cp->restarts, 1, __ATOMIC_RELAXED);
  cp->last_pages = pages;
  if (pages >= RESTART_PAGES) {
    /* Busy: the thread is at it; the next commit tries again (and signals no more meanwhile, so
     * the thread is idle by then). */
    sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
  } else if (pages >= CHECKPOINT_PAGES) {
    pthread_mutex_lock(&cp->lock);
    cp->wanted = true;
    pthread_cond_signal(&cp->wake);
    pthread_mutex_unlock(&cp->lock);
  }
  return SQLITE_OK;
}

/* PASSIVE: copies what no reader still needs, without taking a lock the writer or readers wait
 * on; the writer starts the log from its beginning again once everything in it is copied. */
static void *run(void *arg) {
  struct sqlite_checkpointer *cp = arg;
  pthread_mutex_lock(&cp->lock);
  for (;;) {
    while (!cp->wanted && !cp->stopping)
      pthread_cond_wait(&cp->wake, &cp->lock);
    if (cp->stopping)
      break;
    cp->wanted = false;
    pthread_mutex_unlock(&cp->lock);
    int rc = sqlite3_wal_checkpoint_v2(cp->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    /* Busy: another process (an admin command) is checkpointing; the next commit asks again. */
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
      fprintf(stderr, "tessera: store: checkpoint failed: %s\n", sqlite3_errmsg(cp->db));
    pthread_mutex_lock(&cp->lock);
    if (rc == SQLITE_OK)
      cp->runs++;
  }
  pthread_mutex_unlock(&cp->lock);
  return NULL;
}

int sqlite_checkpointer_start(const char *path, sqlite3 *writer, struct sqlite_checkpointer **out) {
  struct sqlite_checkpointer *cp = calloc(1, sizeof *cp);
  if (!cp)
    abort();
  cp->writer = writer;
  /* synchronous=FULL as the writer: the log is synced before its pages are copied, and the
   * database file before the log is reused. */
  if (sqlite3_open_v2(path, &cp->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
          SQLITE_OK ||
      sqlite3_exec(cp->db, "PRAGMA busy_timeout = 5000; PRAGMA synchronous = FULL;", NULL, NULL,
                   NULL) != SQLITE_OK) {
    fprintf(stderr, "tessera: store: cannot open the checkpointer's connection: %s\n",
            sqlite3_errmsg(cp->db));
    sqlite3_close(cp->db);
    free(cp);
    return TE_INTERNAL;
  }
  pthread_mutex_init(&cp->lock, NULL);
  pthread_cond_init(&cp->wake, NULL);
  if (pthread_create(&cp->thread, NULL, run, cp) != 0) {
    pthread_mutex_destroy(&cp->lock);
    pthread_cond_destroy(&cp->wake);
    sqlite3_close(cp->db);
    free(cp);
    return TE_INTERNAL;
  }
  thread_name(cp->thread, "checkpointer");
  /* Replaces the automatic checkpoint (itself a hook of this kind) on the writer. */
  sqlite3_wal_hook(writer, on_wal_commit, cp);
  *out = cp;
  return TE_OK;
}

void sqlite_checkpointer_stop(struct sqlite_checkpointer *cp) {
  if (!cp)
    return;
  sqlite3_wal_autocheckpoint(cp->writer, CHECKPOINT_PAGES); /* SQLite's own hook, back */
  pthread_mutex_lock(&cp->lock);
  cp->stopping = true;
  pthread_cond_signal(&cp->wake);
  pthread_mutex_unlock(&cp->lock);
  pthread_join(cp->thread, NULL);
  pthread_mutex_destroy(&cp->lock);
  pthread_cond_destroy(&cp->wake);
  sqlite3_close(cp->db);
  free(cp);
}

unsigned long sqlite_checkpointer_restarts(struct sqlite_checkpointer *cp) {
  return __atomic_load_n(&cp->restarts, __ATOMIC_RELAXED);
}

unsigned long sqlite_checkpointer_runs(struct sqlite_checkpointer *cp) {
  pthread_mutex_lock(&cp->lock);
  unsigned long n = cp->runs;
  pthread_mutex_unlock(&cp->lock);
  return n;
}
