#ifndef TESSERA_CORE_THREADNAME_H
#define TESSERA_CORE_THREADNAME_H

#include <pthread.h>

/* Names a thread (at most 15 bytes are kept) as top -H, perf and /proc/PID/task/TID/comm show
 * it, so that an operator, or a profile, can tell the writer from the checkpointer. A name that
 * cannot be set is no error: the thread works the same. */
void thread_name(pthread_t thread, const char *name);

#endif
