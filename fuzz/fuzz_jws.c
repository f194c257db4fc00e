/* libFuzzer target for ID token verification (oidc/jws.c) and JWK Set parsing (oidc/jwk.c); built
 * and run by scripts/fuzz (see fuzz/README.md).
 * Every input is verified as a token against a fixed key set. It is also split at its first NUL:
 * the bytes before are parsed as a JWK Set and, when that works, the bytes after are verified
 * against it. Inputs can so carry their own public keys and tokens with valid signatures, and a
 * crash found past the signature check reproduces from the saved input alone. Those same bytes,
 * when they are a JSON object, go to jwt_check_claims directly: behind a signature it would only
 * ever see the claims of the seeds.
 * Built with -DFUZZ_JWS_SEEDS (and without libFuzzer) it is a program that writes a seed corpus.
 */
#include "fuzz_b64url.h"
#include "oidc/jws.h"

#include "core/error.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Public keys only (their private halves were discarded): no input can carry a valid signature
 * for them, but every path up to the signature check is reached with the kids "r1" and "e1". */
static const char fixed_jwks[] =
    "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r1\",\"use\":\"sig\",\"alg\":\"RS256\",\"e\":\"AQAB\","
    "\"n\":\""
    "5lGQTn4DyTAlO8fC9GQXGsp_SBhv_ZAOL41cnkeZlYZAc1qNA1Y12ASCJL-jIaA7Jw9IyUZD2s3-F-z1"
    "_dMVdy6H5cCsSQanZLcA9UWP1sykB7gtrVd6lD6gvfr590Kg_XpYtptNQg3OECTucyOPIu6YJLBxDn-f"
    "Q6uGjTe7L6rkJbe9PQ95bQgxIr0xgZNx6kfUIJouemRRo8uBN-BgyxXIFlHohW5XwNCn1-T85WsA28HN"
    "CxAh-HyILIGhxEqdaI996B8HcNNSTKOuAosmtQ-4WE8Dt_NIaExQHGJ1ze-lGSmkB5NLr4fugo682xmN"
    "mRs7pK6XJh614fay6_7plQ"
    "\"},{\"kty\":\"EC\",\"kid\":\"e1\",\"crv\":\"P-256\","
    "\"x\":\"3hUp3oSd1MTTfxyUnKpKZNRPDOD0wTcvadguUAUQGfg\","
    "\"y\":\"Z7GTcSmyfgoCs_U7MhfxcZDgS4AmdLt-kXSl0t3b0gM\"}]}";

static struct jwk_set *fixed_keys;

static void check(bool ok, const char *invariant) {
  if (!ok) {
    fprintf(stderr, "fuzz_jws: broken invariant: %s\n", invariant);
    abort();
  }
}

/* Returns the verdict, after checking the contract of jws_verify and jwt_check_claims. */
static int verify(const char *token, size_t len, const struct jwk_set *keys) {
  json_t *claims = NULL;
  const char *why = NULL;
  int rc = jws_verify(token, len, keys, &claims, &why);
  if (rc != TE_OK) {
    check(rc == TE_BAD_REQUEST || rc == TE_NOT_FOUND || rc == TE_FORBIDDEN, "jws_verify code");
    check(!claims && why && strlen(why) < 80, "a refusal has a short reason and no claims");
    return rc;
  }
  check(json_is_object(claims), "verified claims are an object");
  why = NULL;
  int claims_rc =
      jwt_check_claims(claims, "https://idp.example.com", "tessera", 1700000000, 60, &why);
  check(claims_rc == TE_OK || (claims_rc == TE_FORBIDDEN && why), "jwt_check_claims contract");
  json_decref(claims);
  return rc;
}

/* Returns the set (or NULL), after checking the contract of jwk_set_parse and jwk_set_find. */
static struct jwk_set *parse(const char *json, size_t len) {
  struct jwk_set *set = NULL;
  const char *why = NULL;
  int rc = jwk_set_parse(json, len, &set, &why);
  if (rc != TE_OK) {
    check(rc == TE_BAD_REQUEST && !set && why, "a refused key set has a reason and no set");
    return NULL;
  }
  check(set && set->count <= JWKS_MAX_KEYS, "a key set has at most JWKS_MAX_KEYS keys");
  for (size_t i = 0; i < set->count; i++) {
    const struct jwk_key *key = &set->keys[i];
    check(key->pkey && memchr(key->kid, '\0', sizeof key->kid), "keys have a key and a kid");
    check(key->alg == JWK_RS256 || key->alg == JWK_ES256, "keys are RS256 or ES256");
    check(!key->kid[0] || jwk_set_find(set, key->kid), "a kid finds a key");
  }
  return set;
}

/* Arbitrary claims, at ordinary times and at the edges of the time arithmetic. */
static void check_claims(const char *json, size_t len) {
  json_error_t error;
  json_t *claims = json_loadb(json, len, JSON_REJECT_DUPLICATES, &error);
  if (!json_is_object(claims)) {
    json_decref(claims);
    return;
  }
  static const struct {
    int64_t now;
    int leeway;
  } times[] = {{1700000000, 60}, {0, 0}, {INT64_MAX, INT_MAX}, {INT64_MIN, INT_MAX}, {-1, -60}};
  for (size_t i = 0; i < sizeof times / sizeof *times; i++) {
    const char *why = NULL;
    int rc = jwt_check_claims(claims, "https://idp.example.com", "tessera", times[i].now,
                              times[i].leeway, &why);
    check(rc == TE_OK || (rc == TE_FORBIDDEN && why), "jwt_check_claims contract");
  }
  json_decref(claims);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fixed_keys = parse(fixed_jwks, strlen(fixed_jwks));
  check(fixed_keys && fixed_keys->count == 2, "the fixed key set has its two keys");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  verify(text, size, fixed_keys);
  const char *nul = memchr(text, '\0', size);
  size_t first_len = nul ? (size_t)(nul - text) : size;
  struct jwk_set *keys = parse(text, first_len);
  check_claims(text, first_len);
  if (keys && nul)
    verify(nul + 1, size - (size_t)(nul - text) - 1, keys);
  jwk_set_free(keys);
  return 0;
}

#ifdef FUZZ_JWS_SEEDS
/* The seed corpus: tokens with valid signatures under keys made here (split inputs), tokens of
 * the right shape for the fixed keys, and the usual malformations. */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/rand.h>

static char *b64url(const unsigned char *in, size_t len) {
  return fuzz_b64url(in, len);
}

static char *b64url_text(const char *text) {
  return b64url((const unsigned char *)text, strlen(text));
}

static char *bn_b64url(EVP_PKEY *pkey, const char *name, int pad_to) {
  BIGNUM *bn = NULL;
  check(EVP_PKEY_get_bn_param(pkey, name, &bn) == 1, "key parameter");
  int len = pad_to ? pad_to : BN_num_bytes(bn);
  unsigned char bin[1024];
  check(len <= (int)sizeof bin && BN_bn2binpad(bn, bin, len) == len, "key parameter size");
  BN_free(bn);
  return b64url(bin, (size_t)len);
}

/* "header.payload.signature": signed with pkey (JWS form: raw r || s for EC), or with `garbage`
 * random bytes in place of a signature when pkey is NULL. */
static char *token(const char *header, const char *payload, EVP_PKEY *pkey, size_t garbage) {
  char *h = b64url_text(header), *p = b64url_text(payload);
  char input[4096], *out = malloc(8192);
  check(out != NULL, "memory");
  snprintf(input, sizeof input, "%s.%s", h, p);
  unsigned char sig[1024];
  size_t sig_len = sizeof sig;
  if (pkey) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    check(ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1 &&
              EVP_DigestSign(ctx, sig, &sig_len, (unsigned char *)input, strlen(input)) == 1,
          "signing");
    EVP_MD_CTX_free(ctx);
    if (EVP_PKEY_is_a(pkey, "EC")) {
      const unsigned char *der = sig;
      ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &der, (long)sig_len);
      check(es && BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32) == 32 &&
                BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32) == 32,
            "ECDSA signature");
      ECDSA_SIG_free(es);
      sig_len = 64;
    }
  } else {
    sig_len = garbage;
    check(RAND_bytes(sig, (int)sig_len) == 1, "random bytes");
  }
  char *s = b64url(sig, sig_len);
  snprintf(out, 8192, "%s.%s", input, s);
  free(h);
  free(p);
  free(s);
  return out;
}

/* Writes dir/name: `first`, then, when `second` is not NULL, a NUL and `second`. */
static void seed(const char *dir, const char *name, const char *first, const char *second) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  check(f != NULL, "seed file opens");
  fwrite(first, 1, strlen(first), f);
  if (second) {
    fputc('\0', f);
    fwrite(second, 1, strlen(second), f);
  }
  check(fclose(f) == 0, "seed file writes");
}

#define CLAIMS                                                                                     \
  "{\"iss\":\"https://idp.example.com\",\"aud\":\"tessera\",\"sub\":\"repo:acme/app\","            \
  "\"exp\":1700000300,\"nbf\":1699999990,\"iat\":1700000000}"

int main(int argc, char **argv) {
  check(argc == 2, "usage: fuzz_jws_seeds DIR");
  const char *dir = argv[1];
  EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
  EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  check(rsa && ec, "key generation");
  char *n = bn_b64url(rsa, OSSL_PKEY_PARAM_RSA_N, 0), *e = bn_b64url(rsa, OSSL_PKEY_PARAM_RSA_E, 0);
  char *x = bn_b64url(ec, OSSL_PKEY_PARAM_EC_PUB_X, 32);
  char *y = bn_b64url(ec, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
  char jwks[4096];
  snprintf(jwks, sizeof jwks,
           "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r1\",\"use\":\"sig\",\"n\":\"%s\",\"e\":\"%s\"},"
           "{\"kty\":\"EC\",\"kid\":\"e1\",\"crv\":\"P-256\",\"alg\":\"ES256\",\"x\":\"%s\","
           "\"y\":\"%s\"},{\"kty\":\"oct\",\"kid\":\"h1\",\"k\":\"c2VjcmV0\"},"
           "{\"kty\":\"RSA\",\"kid\":\"enc\",\"use\":\"enc\",\"n\":\"%s\",\"e\":\"%s\"}]}",
           n, e, x, y, n, e);
  struct jwk_set *keys = parse(jwks, strlen(jwks));
  check(keys && keys->count == 2, "the seed key set has two usable keys");

  static const struct {
    const char *name, *header;
    bool valid;
  } signed_seeds[] = {
      {"split-rs256", "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"r1\"}", true},
      {"split-es256", "{\"alg\":\"ES256\",\"kid\":\"e1\"}", true},
      {"split-es256-no-kid", "{\"alg\":\"ES256\"}", true},
      {"split-crit", "{\"alg\":\"RS256\",\"kid\":\"r1\",\"crit\":[\"b64\"],\"b64\":false}", false},
      {"split-dup", "{\"alg\":\"ES256\",\"kid\":\"e1\",\"kid\":\"e1\"}", false},
      {"split-confused", "{\"alg\":\"ES256\",\"kid\":\"r1\"}", false},
  };
  for (size_t i = 0; i < sizeof signed_seeds / sizeof *signed_seeds; i++) {
    bool ec_alg = strstr(signed_seeds[i].header, "ES256") != NULL;
    char *t = token(signed_seeds[i].header, CLAIMS, ec_alg ? ec : rsa, 0);
    check((verify(t, strlen(t), keys) == TE_OK) == signed_seeds[i].valid, "seed verdict");
    seed(dir, signed_seeds[i].name, jwks, t);
    free(t);
  }

  static const struct {
    const char *name, *header;
    size_t signature_bytes;
  } fixed_seeds[] = {
      {"fixed-rs256", "{\"alg\":\"RS256\",\"kid\":\"r1\"}", 256},
      {"fixed-es256", "{\"alg\":\"ES256\",\"kid\":\"e1\"}", 64},
      {"fixed-es256-der-length", "{\"alg\":\"ES256\",\"kid\":\"e1\"}", 71},
      {"fixed-unknown-kid", "{\"alg\":\"RS256\",\"kid\":\"r9\"}", 256},
      {"fixed-hs256", "{\"alg\":\"HS256\",\"kid\":\"r1\"}", 32},
      {"fixed-none", "{\"alg\":\"none\"}", 0},
  };
  for (size_t i = 0; i < sizeof fixed_seeds / sizeof *fixed_seeds; i++) {
    char *t = token(fixed_seeds[i].header, CLAIMS, NULL, fixed_seeds[i].signature_bytes);
    seed(dir, fixed_seeds[i].name, t, NULL);
    free(t);
  }
  seed(dir, "two-parts", "eyJhbGciOiJSUzI1NiJ9.e30", NULL);
  seed(dir, "padded", "eyJhbGciOiJSUzI1NiJ9.e30=.AAAA", NULL);
  seed(dir, "jwks-only", jwks, NULL);

  jwk_set_free(keys);
  free(n);
  free(e);
  free(x);
  free(y);
  EVP_PKEY_free(rsa);
  EVP_PKEY_free(ec);
  return 0;
}
#endif
