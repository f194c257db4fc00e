#ifndef TESSERA_CORE_TICKER_H
#define TESSERA_CORE_TICKER_H

/* A background thread that calls fn(arg) every period_ms until stopped; what the lastUsed flusher,
 * the cache's change poller and the access-log flusher share. name (at most 15 bytes) is the
 * thread's, as top -H, perf and /proc/PID/task show it. */
struct ticker;

int ticker_start(const char *name, int period_ms, void (*fn)(void *arg), void *arg,
                 struct ticker **out);

/* Wakes the thread, waits for a tick in progress to end, and frees the ticker. fn is not called
 * again (a final flush, if wanted, is the caller's). */
void ticker_stop(struct ticker *t);

#endif
