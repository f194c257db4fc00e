#ifndef TESSERA_CORE_PAGING_H
#define TESSERA_CORE_PAGING_H

#include "core/limits.h"

#include <stdint.h>

/* Continuation tokens: the last position seen and a keyed MAC (HMAC-SHA-256, 64 bits) over it and
 * the listing's scope (say, a user id), so that an edited, forged or foreign token is refused
 * instead of silently paging elsewhere. */

/* The MAC key, the same on every node (the store derives it); set once before serving. */
void page_token_set_key(const unsigned char key[32]);

void page_token_encode(int64_t position, const char *scope, char out[CONTINUATION_MAX + 1]);

/* Returns 0 and the position, or TE_BAD_REQUEST for anything not made by page_token_encode for
 * this scope. */
int page_token_decode(const char *text, const char *scope, int64_t *position);

/* Parses maxResults: NULL gives PAGE_DEFAULT; 1..PAGE_MAX in plain decimal, else TE_BAD_REQUEST. */
int page_size_parse(const char *text, int *out);

#endif
