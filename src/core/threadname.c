#define _GNU_SOURCE /* pthread_setname_np */
#include "core/threadname.h"

#include <stdio.h>

void thread_name(pthread_t thread, const char *name) {
  char kept[16]; /* the kernel's limit, its NUL included; longer names are refused, not cut */
  snprintf(kept, sizeof kept, "%s", name);
  pthread_setname_np(thread, kept);
}
