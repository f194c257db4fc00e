#include "core/ticker.h"

#include "core/error.h"
#include "core/threadname.h"
#include "core/timeutil.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

struct ticker {
  int period_ms;
  void (*fn)(void *arg);
  void *arg;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  bool stopping;
};

static void *ticker_main(void *arg) {
  struct ticker *t = arg;
  pthread_mutex_lock(&t->lock);
  while (!t->stopping) {
    struct timespec deadline = time_deadline(CLOCK_REALTIME, t->period_ms);
    pthread_cond_timedwait(&t->wake, &t->lock, &deadline);
    if (t->stopping)
      break;
    pthread_mutex_unlock(&t->lock); /* fn may take its own locks or block on the store */
    t->fn(t->arg);
    pthread_mutex_lock(&t->lock);
  }
  pthread_mutex_unlock(&t->lock);
  return NULL;
}

int ticker_start(const char *name, int period_ms, void (*fn)(void *arg), void *arg,
                 struct ticker **out) {
  struct ticker *t = calloc(1, sizeof *t);
  if (!t)
    abort();
  *t = (struct ticker){.period_ms = period_ms > 0 ? period_ms : 1000, .fn = fn, .arg = arg};
  pthread_mutex_init(&t->lock, NULL);
  pthread_cond_init(&t->wake, NULL);
  if (pthread_create(&t->thread, NULL, ticker_main, t) != 0) {
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->wake);
    free(t);
    return TE_INTERNAL;
  }
  thread_name(t->thread, name);
  *out = t;
  return TE_OK;
}

void ticker_stop(struct ticker *t) {
  pthread_mutex_lock(&t->lock);
  t->stopping = true;
  pthread_cond_signal(&t->wake);
  pthread_mutex_unlock(&t->lock);
  pthread_join(t->thread, NULL);
  pthread_mutex_destroy(&t->lock);
  pthread_cond_destroy(&t->wake);
  free(t);
}
