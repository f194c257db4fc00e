#include "core/token.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

static void random_bytes(unsigned char *buf, int len) {
  if (RAND_bytes(buf, len) != 1) {
    fprintf(stderr, "tessera: the CSPRNG failed; refusing to continue\n");
    abort();
  }
}

static void hex_encode(const unsigned char *in, size_t len, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 0xf];
  }
}

/* The CRC-32 of the prefix and random digits as 8 lower-case hex digits, most significant first
 * (what "%08lx" printed; snprintf was a tenth of a token check's cost). */
static void checksum_hex(const char *body, char out[8]) {
  uint32_t crc = (uint32_t)crc32(0L, (const Bytef *)body, TOKEN_PREFIX_LEN + TOKEN_RANDOM_HEX);
  unsigned char be[4] = {(unsigned char)(crc >> 24), (unsigned char)(crc >> 16),
                         (unsigned char)(crc >> 8), (unsigned char)crc};
  hex_encode(be, sizeof be, out);
}

void token_generate(char value[TOKEN_VALUE_LEN + 1]) {
  unsigned char random[TOKEN_RANDOM_HEX / 2];
  random_bytes(random, sizeof random);
  memcpy(value, TOKEN_PREFIX, TOKEN_PREFIX_LEN);
  hex_encode(random, sizeof random, value + TOKEN_PREFIX_LEN);
  checksum_hex(value, value + TOKEN_PREFIX_LEN + TOKEN_RANDOM_HEX);
  value[TOKEN_VALUE_LEN] = '\0';
}

static bool is_lower_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool token_is_well_formed(const char *value, size_t len) {
  if (len != TOKEN_VALUE_LEN || memcmp(value, TOKEN_PREFIX, TOKEN_PREFIX_LEN) != 0)
    return false;
  for (size_t i = TOKEN_PREFIX_LEN; i < len; i++) {
    if (!is_lower_hex(value[i]))
      return false;
  }
  char expected[8];
  checksum_hex(value, expected);
  /* Not secret (a CRC is public information), so an ordinary comparison is fine here. */
  return memcmp(expected, value + TOKEN_PREFIX_LEN + TOKEN_RANDOM_HEX, 8) == 0;
}

static EVP_MD *sha256;

static void fetch_sha256(void) {
  sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
  if (!sha256)
    abort();
}

void token_hash(const char *value, size_t len, unsigned char hash[TOKEN_HASH_LEN]) {
  /* Fetched once: OpenSSL 3 otherwise looks the algorithm up on every call (profiled at about as
   * much as the hashing itself, on the hottest path we have). */
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, fetch_sha256);
  unsigned int out_len = 0;
  if (EVP_Digest(value, len, hash, &out_len, sha256, NULL) != 1 || out_len != TOKEN_HASH_LEN)
    abort();
}

void token_hex(const unsigned char *bytes, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 15];
  }
  out[2 * n] = '\0';
}

void token_hash_hex(const char *value, size_t len, char out[2 * TOKEN_HASH_LEN + 1]) {
  unsigned char hash[TOKEN_HASH_LEN];
  token_hash(value, len, hash);
  token_hex(hash, TOKEN_HASH_LEN, out);
}

static bool is_hex(char c) {
  return is_lower_hex(c) || (c >= 'A' && c <= 'F');
}

/* Whether the 40 hex digits at p are a token's without its prefix: their checksum holds. */
static bool is_bare_token(const char *p) {
  char value[TOKEN_VALUE_LEN + 1];
  memcpy(value, TOKEN_PREFIX, TOKEN_PREFIX_LEN);
  for (int i = 0; i < TOKEN_RANDOM_HEX + 8; i++)
    value[TOKEN_PREFIX_LEN + i] = (char)(p[i] >= 'A' && p[i] <= 'F' ? p[i] - 'A' + 'a' : p[i]);
  value[TOKEN_VALUE_LEN] = '\0';
  return token_is_well_formed(value, TOKEN_VALUE_LEN);
}

/* The length of the token-shaped run at p: "pul-" and 16 or more hex digits, or 40 hex digits that
 * are a token's (a chance of 1 in 2^32 for other hex), 0 for none. */
static size_t token_run(const char *text, const char *p) {
  size_t hex = 0;
  /* The first letter before strncasecmp: this runs at every byte of every logged path. */
  if ((*p | 0x20) == TOKEN_PREFIX[0] && strncasecmp(p, TOKEN_PREFIX, TOKEN_PREFIX_LEN) == 0) {
    while (is_hex(p[TOKEN_PREFIX_LEN + hex]))
      hex++;
    return hex >= 16 ? TOKEN_PREFIX_LEN + hex : 0;
  }
  if (p > text && is_hex(p[-1]))
    return 0; /* only from the start of a run of hex digits */
  while (is_hex(p[hex]))
    hex++;
  for (size_t at = 0; at + TOKEN_RANDOM_HEX + 8 <= hex; at++)
    if (is_bare_token(p + at))
      return hex; /* the whole run: what surrounds the token may be more of it */
  return 0;
}

char *token_redact(const char *text, char *out, size_t size) {
  static const char mark[] = "[redacted]";
  size_t o = 0;
  for (const char *p = text; *p && o + 1 < size;) {
    size_t run = token_run(text, p);
    bool prefixed = run && strncasecmp(p, TOKEN_PREFIX, TOKEN_PREFIX_LEN) == 0;
    size_t keep = prefixed ? TOKEN_PREFIX_LEN : 0;
    if (run && o + keep + sizeof mark <= size) {
      memcpy(out + o, p, keep);
      memcpy(out + o + keep, mark, sizeof mark - 1);
      o += keep + sizeof mark - 1;
      p += run;
    } else {
      out[o++] = *p++;
    }
  }
  out[o] = '\0';
  return out;
}

void token_new_id(char id[TOKEN_ID_LEN + 1]) {
  unsigned char b[16];
  random_bytes(b, sizeof b);
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
  char hex[32];
  hex_encode(b, sizeof b, hex);
  snprintf(id, TOKEN_ID_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
           hex + 20);
}

bool token_id_is_valid(const char *id) {
  if (strlen(id) != TOKEN_ID_LEN)
    return false;
  for (int i = 0; i < TOKEN_ID_LEN; i++) {
    char c = id[i];
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? c != '-' : !(is_lower_hex(c) || (c >= 'A' && c <= 'F')))
      return false;
  }
  return true;
}
