#include "http/offload.h"

#include "core/error.h"
#include "core/threadname.h"

#include <pthread.h>
#include <stdlib.h>

struct job {
  struct request *req;
  void (*handler)(struct request *req);
};

struct offload {
  pthread_mutex_t lock;
  pthread_cond_t wake;
  struct job queue[OFFLOAD_QUEUE_MAX]; /* a ring */
  int head, count;
  bool stopping;
  pthread_t threads[OFFLOAD_THREADS];
  int started;
};

static void *run(void *arg) {
  struct offload *p = arg;
  pthread_mutex_lock(&p->lock);
  for (;;) {
    while (p->count == 0 && !p->stopping)
      pthread_cond_wait(&p->wake, &p->lock);
    if (p->count == 0)
      break; /* stopping, and nothing left */
    struct job job = p->queue[p->head];
    p->head = (p->head + 1) % OFFLOAD_QUEUE_MAX;
    p->count--;
    pthread_mutex_unlock(&p->lock);
    job.req->offloaded = true;
    job.handler(job.req);
    if (!job.req->replied)
      reply_failure(job.req, TE_INTERNAL, "");
    request_resume(job.req);
    pthread_mutex_lock(&p->lock);
  }
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

int offload_start(struct offload **out) {
  struct offload *p = calloc(1, sizeof *p);
  if (!p)
    abort();
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->wake, NULL);
  for (; p->started < OFFLOAD_THREADS; p->started++) {
    if (pthread_create(&p->threads[p->started], NULL, run, p) != 0)
      break;
    thread_name(p->threads[p->started], "offload");
  }
  if (p->started == 0) {
    offload_stop(p);
    return TE_INTERNAL;
  }
  *out = p;
  return TE_OK;
}

void offload_stop(struct offload *p) {
  pthread_mutex_lock(&p->lock);
  p->stopping = true;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->lock);
  for (int i = 0; i < p->started; i++)
    pthread_join(p->threads[i], NULL);
  pthread_cond_destroy(&p->wake);
  pthread_mutex_destroy(&p->lock);
  free(p);
}

bool request_offload(struct request *req, void (*handler)(struct request *req)) {
  if (req->offloaded)
    return false;
  struct offload *p = req->app->offload;
  pthread_mutex_lock(&p->lock);
  /* Suspended before it is queued, under the lock: no offload thread can resume it first. */
  if (p->count < OFFLOAD_QUEUE_MAX && !p->stopping && request_defer(req)) {
    p->queue[(p->head + p->count) % OFFLOAD_QUEUE_MAX] = (struct job){req, handler};
    p->count++;
    pthread_cond_signal(&p->wake);
  } else if (!req->replied) {
    req->retry_after = 5;
    reply_error(req, TE_UNAVAILABLE, "too many requests wait on OIDC issuers; retry shortly.");
  }
  pthread_mutex_unlock(&p->lock);
  return true;
}
