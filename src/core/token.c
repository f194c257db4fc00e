#include "core/token.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
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

static unsigned long checksum(const char *body) {
  return crc32(0L, (const Bytef *)body, TOKEN_PREFIX_LEN + TOKEN_RANDOM_HEX);
}

void token_generate(char value[TOKEN_VALUE_LEN + 1]) {
  unsigned char random[TOKEN_RANDOM_HEX / 2];
  random_bytes(random, sizeof random);
  memcpy(value, TOKEN_PREFIX, TOKEN_PREFIX_LEN);
  hex_encode(random, sizeof random, value + TOKEN_PREFIX_LEN);
  snprintf(value + TOKEN_PREFIX_LEN + TOKEN_RANDOM_HEX, 9, "%08lx", checksum(value));
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
  char expected[9];
  snprintf(expected, sizeof expected, "%08lx", checksum(value));
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

static bool is_hex(char c) {
  return is_lower_hex(c) || (c >= 'A' && c <= 'F');
}

char *token_redact(const char *text, char *out, size_t size) {
  static const char mark[] = "[redacted]";
  size_t o = 0;
  for (const char *p = text; *p && o + 1 < size;) {
    size_t hex = 0;
    if (strncasecmp(p, TOKEN_PREFIX, TOKEN_PREFIX_LEN) == 0)
      while (is_hex(p[TOKEN_PREFIX_LEN + hex]))
        hex++;
    if (hex >= 16 && o + TOKEN_PREFIX_LEN + sizeof mark <= size) {
      memcpy(out + o, p, TOKEN_PREFIX_LEN);
      memcpy(out + o + TOKEN_PREFIX_LEN, mark, sizeof mark - 1);
      o += TOKEN_PREFIX_LEN + sizeof mark - 1;
      p += TOKEN_PREFIX_LEN + hex;
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
