#ifndef TESSERA_FUZZ_B64URL_H
#define TESSERA_FUZZ_B64URL_H

/* Base64url without padding (RFC 7515 §2), for the fuzz targets that make JWS and JWK text of
 * their own. Header-only: each target is built on its own by scripts/fuzz. */

#include <openssl/evp.h>
#include <stdlib.h>

/* A malloc'd string; aborts when memory runs out. */
static inline char *fuzz_b64url(const unsigned char *in, size_t len) {
  char *out = calloc(4 * ((len + 2) / 3) + 1, 1);
  if (!out)
    abort();
  int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
  while (n > 0 && out[n - 1] == '=')
    out[--n] = '\0';
  for (char *p = out; *p; p++)
    *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
  return out;
}

#endif
