#include "core/paging.h"

#include "core/error.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

/* Over "<position>:<scope>", the whole scope however long: cut short, it would let listings whose
 * scopes share a prefix accept each other's tokens. */
static unsigned long scope_checksum(int64_t position, const char *scope) {
  char head[24];
  int n = snprintf(head, sizeof head, "%" PRIx64 ":", (uint64_t)position);
  unsigned long sum = crc32(0L, (const Bytef *)head, (uInt)n);
  return crc32(sum, (const Bytef *)scope, (uInt)strlen(scope));
}

void page_token_encode(int64_t position, const char *scope, char out[CONTINUATION_MAX + 1]) {
  snprintf(out, CONTINUATION_MAX + 1, "%" PRIx64 ".%08lx", (uint64_t)position,
           scope_checksum(position, scope));
}

int page_token_decode(const char *text, const char *scope, int64_t *position) {
  uint64_t pos;
  unsigned long sum;
  int used = 0;
  if (strlen(text) > CONTINUATION_MAX || strspn(text, "0123456789abcdef.") != strlen(text) ||
      sscanf(text, "%16" SCNx64 ".%8lx%n", &pos, &sum, &used) != 2 || text[used] != '\0' ||
      pos == 0 || pos > INT64_MAX)
    return TE_BAD_REQUEST;
  char canonical[CONTINUATION_MAX + 1];
  page_token_encode((int64_t)pos, scope, canonical);
  if (strcmp(canonical, text) != 0)
    return TE_BAD_REQUEST;
  *position = (int64_t)pos;
  return TE_OK;
}

int page_size_parse(const char *text, int *out) {
  if (!text) {
    *out = PAGE_DEFAULT;
    return TE_OK;
  }
  size_t len = strlen(text);
  if (len == 0 || len > 4 || strspn(text, "0123456789") != len)
    return TE_BAD_REQUEST;
  int v = 0;
  for (size_t i = 0; i < len; i++)
    v = v * 10 + (text[i] - '0');
  if (v < 1 || v > PAGE_MAX)
    return TE_BAD_REQUEST;
  *out = v;
  return TE_OK;
}
