#ifndef TESSERA_CORE_GROWBUF_H
#define TESSERA_CORE_GROWBUF_H

#include <stdbool.h>
#include <stddef.h>

/* A NUL-terminated byte buffer that grows up to max bytes: for collecting an HTTP body whose
 * size the peer decides. */
struct growbuf {
  char *data; /* malloc'd; NULL while empty */
  size_t len;
  size_t max;
  bool too_big; /* something was refused for going past max */
};

/* Appends count * size bytes; returns how many were taken (0 once max would be passed), which is
 * what libcurl's CURLOPT_WRITEFUNCTION expects, so it can be that callback with the buffer as
 * CURLOPT_WRITEDATA. */
size_t growbuf_append(char *chunk, size_t size, size_t count, void *buf);

#endif
