#include "core/paging.h"

#include "core/error.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAC_HEX 16 /* 64 bits of HMAC-SHA-256: a forgery takes 2^64 tries, each a request */

/* Set once, before any thread that pages starts; all zero until then (unit tests, fuzzing), which
 * still binds tokens to their scope but lets anyone forge them. */
static unsigned char key[32];

void page_token_set_key(const unsigned char new_key[32]) {
  memcpy(key, new_key, sizeof key);
}

static EVP_MAC *hmac;

/* Fetched once: OpenSSL 3 otherwise looks the algorithm up on every use. */
static void fetch_hmac(void) {
  hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  if (!hmac)
    abort();
}

/* Over "<position>:" and the whole scope however long: cut short, it would let listings whose
 * scopes share a prefix accept each other's tokens. */
static void mac_hex(uint64_t position, const char *scope, char out[MAC_HEX + 1]) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, fetch_hmac);
  char head[24];
  int n = snprintf(head, sizeof head, "%" PRIx64 ":", position);
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0),
                         OSSL_PARAM_construct_end()};
  unsigned char mac[32];
  size_t len = 0;
  EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac);
  if (!ctx || !EVP_MAC_init(ctx, key, sizeof key, params) ||
      !EVP_MAC_update(ctx, (const unsigned char *)head, (size_t)n) ||
      !EVP_MAC_update(ctx, (const unsigned char *)scope, strlen(scope)) ||
      !EVP_MAC_final(ctx, mac, &len, sizeof mac))
    abort();
  EVP_MAC_CTX_free(ctx);
  for (int i = 0; i < MAC_HEX / 2; i++)
    snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

void page_token_encode(int64_t position, const char *scope, char out[CONTINUATION_MAX + 1]) {
  char mac[MAC_HEX + 1];
  mac_hex((uint64_t)position, scope, mac);
  snprintf(out, CONTINUATION_MAX + 1, "%" PRIx64 ".%s", (uint64_t)position, mac);
}

int page_token_decode(const char *text, const char *scope, int64_t *position) {
  size_t len = strlen(text);
  const char *dot = strchr(text, '.');
  size_t digits = dot ? (size_t)(dot - text) : 0;
  if (len > CONTINUATION_MAX || !dot || digits == 0 || digits > 16 ||
      strspn(text, "0123456789abcdef") != digits || len - digits - 1 != MAC_HEX ||
      strspn(dot + 1, "0123456789abcdef") != MAC_HEX)
    return TE_BAD_REQUEST;
  uint64_t pos = strtoull(text, NULL, 16);
  if (pos == 0 || pos > INT64_MAX)
    return TE_BAD_REQUEST;
  char expected[MAC_HEX + 1];
  mac_hex(pos, scope, expected);
  if (CRYPTO_memcmp(expected, dot + 1, MAC_HEX) != 0)
    return TE_BAD_REQUEST;
  /* One spelling per position: no leading zeros. */
  char canonical[17];
  snprintf(canonical, sizeof canonical, "%" PRIx64, pos);
  if (strlen(canonical) != digits)
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
