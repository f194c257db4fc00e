#include "core/growbuf.h"

#include <stdlib.h>
#include <string.h>

size_t growbuf_append(char *chunk, size_t size, size_t count, void *buf) {
  struct growbuf *b = buf;
  size_t n = size * count;
  if (b->len + n > b->max) {
    b->too_big = true;
    return 0;
  }
  char *grown = realloc(b->data, b->len + n + 1);
  if (!grown)
    abort();
  b->data = grown;
  memcpy(b->data + b->len, chunk, n);
  b->len += n;
  b->data[b->len] = '\0';
  return n;
}
