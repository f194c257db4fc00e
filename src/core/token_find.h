#ifndef TESSERA_CORE_TOKEN_FIND_H
#define TESSERA_CORE_TOKEN_FIND_H

#include <stdbool.h>
#include <stddef.h>

/* Finds Tessera token values in text or binary data, for `tessera scan` (docs/CLI.md). A value
 * counts when it is "pul-" and exactly 40 lowercase hex digits whose checksum holds
 * (token_is_well_formed), and neither the byte before it nor the byte after it is an ASCII letter
 * or digit: "TOKEN=pul-…", "\"pul-…\"" and "pul-…\r\n" count, "xpul-…" and a 41st hex digit do
 * not, since the string there is another one than the token. Lines are counted by '\n' from 1. */
struct token_finder {
  const char *data;
  size_t len;
  size_t pos;     /* where the search goes on */
  size_t line;    /* the line that data + counted is on */
  size_t counted; /* bytes whose newlines are in line */
};

/* Starts a search of data[0..len), which may hold any bytes (NULs included). */
void token_find_start(struct token_finder *f, const char *data, size_t len);

/* The next value: true with *offset (into data) and *line (1-based) set, false when none is
 * left. The value is TOKEN_VALUE_LEN bytes at data + *offset. */
bool token_find_next(struct token_finder *f, size_t *offset, size_t *line);

#endif
