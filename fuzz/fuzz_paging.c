/* libFuzzer target for continuation tokens and page sizes (core/paging.c). Built and run by
 * scripts/fuzz (see fuzz/README.md).
 *
 * Input: 8 bytes of a position (little-endian int64; shorter inputs are zero-padded), then four
 * parts separated by NUL bytes:
 *   position[8] text NUL scope NUL other-scope NUL page-size
 * A missing page-size part (fewer than three NULs) stands for an absent maxResults (NULL).
 *
 * Properties checked (abort() on violation):
 * - page_token_decode(text, scope) accepts only what page_token_encode makes for that scope: the
 *   position it gives is positive and encodes back to exactly text; the same text is refused for
 *   any other scope;
 * - round trip: every positive position encodes into at most CONTINUATION_MAX characters of
 *   [0-9a-f.] and decodes back to itself under its scope, and is refused under any other scope;
 *   positions that are not positive (never a row id) are refused on the way back;
 * - page_size_parse accepts exactly 1 to 4 decimal digits worth 1..PAGE_MAX and gives their
 *   value; NULL gives PAGE_DEFAULT.
 */
#include "core/paging.h"

#include "core/error.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *invariant) {
  if (!ok) {
    fprintf(stderr, "fuzz_paging: broken invariant: %s\n", invariant);
    abort();
  }
}

static void check_decode(const char *text, const char *scope, const char *other) {
  int64_t position = -7;
  int rc = page_token_decode(text, scope, &position);
  check(rc == TE_OK || rc == TE_BAD_REQUEST, "decode answers TE_OK or TE_BAD_REQUEST");
  if (rc != TE_OK) {
    check(position == -7, "a refused token leaves the position alone");
    return;
  }
  check(position > 0, "a decoded position is positive");
  char again[CONTINUATION_MAX + 1];
  page_token_encode(position, scope, again);
  check(strcmp(again, text) == 0, "only the canonical encoding decodes");
  int64_t elsewhere;
  if (strcmp(scope, other) != 0)
    check(page_token_decode(text, other, &elsewhere) == TE_BAD_REQUEST,
          "a token is refused under another scope");
}

static void check_round_trip(int64_t position, const char *scope, const char *other) {
  char *text = malloc(CONTINUATION_MAX + 1); /* exact size: ASan sees any overrun */
  check(text != NULL, "memory");
  page_token_encode(position, scope, text);
  size_t len = strnlen(text, CONTINUATION_MAX + 1);
  check(len <= CONTINUATION_MAX, "an encoded token ends within CONTINUATION_MAX");
  check(strspn(text, "0123456789abcdef.") == len, "an encoded token is [0-9a-f.]");
  int64_t back = 0;
  int rc = page_token_decode(text, scope, &back);
  if (position > 0)
    check(rc == TE_OK && back == position, "a position round-trips under its scope");
  else
    check(rc == TE_BAD_REQUEST, "a position that is not positive does not come back");
  if (strcmp(scope, other) != 0)
    check(page_token_decode(text, other, &back) == TE_BAD_REQUEST,
          "an encoded token is refused under another scope");
  free(text);
}

static void check_page_size(const char *text) {
  int n = -7;
  int rc = page_size_parse(text, &n);
  if (!text) {
    check(rc == TE_OK && n == PAGE_DEFAULT, "no maxResults gives PAGE_DEFAULT");
    return;
  }
  size_t len = strlen(text);
  bool digits = len >= 1 && len <= 4 && strspn(text, "0123456789") == len;
  int value = digits ? atoi(text) : 0;
  bool expected = digits && value >= 1 && value <= PAGE_MAX;
  check((rc == TE_OK) == expected, "page_size_parse accepts exactly 1..PAGE_MAX in decimal");
  check(rc == TE_OK ? n == value : n == -7, "page_size_parse gives the value, or nothing");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint64_t raw = 0;
  for (size_t i = 0; i < 8 && i < size; i++)
    raw |= (uint64_t)data[i] << (8 * i);
  size_t rest = size > 8 ? size - 8 : 0;
  char *copy = malloc(rest + 1);
  check(copy != NULL, "memory");
  memcpy(copy, data + (size - rest), rest);
  copy[rest] = '\0';
  const char *part[4] = {"", "", "", NULL};
  char *p = copy, *end = copy + rest;
  for (int i = 0; i < 4 && p <= end; i++) {
    part[i] = p;
    char *nul = i < 3 ? memchr(p, '\0', (size_t)(end - p)) : NULL;
    p = nul ? nul + 1 : end + 1;
  }
  const char *text = part[0], *scope = part[1], *other = part[2];
  check_decode(text, scope, other);
  check_round_trip((int64_t)raw, scope, other);
  check_round_trip((int64_t)(raw & INT64_MAX) | 1, scope, other);
  check_page_size(part[3]);
  check_page_size(text);
  free(copy);
  return 0;
}
