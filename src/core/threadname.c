#define _GNU_SOURCE /* pthread_setname_np */
#include "core/threadname.h"

#include <stdio.h>

void thread_name(pthread_t thread, const char *name) {
  /* The kernel's limit, its NUL included: pthread_setname_np refuses a longer name (ERANGE)
   * rather than cutting it, so it is cut here. */
  char kept[16];
  snprintf(kept, sizeof kept, "%s", name);
  pthread_setname_np(thread, kept);
}
