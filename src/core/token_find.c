#define _GNU_SOURCE /* memmem */

#include "core/token_find.h"

#include "core/token.h"

#include <string.h>

static bool is_alnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

void token_find_start(struct token_finder *f, const char *data, size_t len) {
  *f = (struct token_finder){.data = data, .len = len, .line = 1};
}

/* Whether the value-sized run at data + at is a value standing on its own. */
static bool value_at(const struct token_finder *f, size_t at) {
  if (f->len - at < TOKEN_VALUE_LEN)
    return false;
  if (at > 0 && is_alnum((unsigned char)f->data[at - 1]))
    return false;
  size_t end = at + TOKEN_VALUE_LEN;
  if (end < f->len && is_alnum((unsigned char)f->data[end]))
    return false;
  return token_is_well_formed(f->data + at, TOKEN_VALUE_LEN);
}

/* Brings f->line up to the line of data + at (at is never behind f->counted). */
static void count_lines(struct token_finder *f, size_t at) {
  const char *p = f->data + f->counted, *end = f->data + at;
  while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
    f->line++;
    p++;
  }
  f->counted = at;
}

bool token_find_next(struct token_finder *f, size_t *offset, size_t *line) {
  while (f->pos + TOKEN_VALUE_LEN <= f->len) {
    const char *hit = memmem(f->data + f->pos, f->len - f->pos, TOKEN_PREFIX, TOKEN_PREFIX_LEN);
    if (!hit)
      break;
    size_t at = (size_t)(hit - f->data);
    if (!value_at(f, at)) {
      f->pos = at + 1;
      continue;
    }
    count_lines(f, at);
    f->pos = at + TOKEN_VALUE_LEN;
    *offset = at;
    *line = f->line;
    return true;
  }
  f->pos = f->len;
  return false;
}
