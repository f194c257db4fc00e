#include "oidc/jwk.h"

#include "core/error.h"

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EC_COORDINATE_BYTES 32 /* P-256 */
#define RSA_MAX_EXPONENT_BITS 256

static void *xcalloc(size_t count, size_t size) {
  void *p = calloc(count ? count : 1, size ? size : 1);
  if (!p)
    abort();
  return p;
}

static const char url_alphabet[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The 6-bit value of a base64url character, or -1. memchr, not strchr: '\0' is not a digit. */
static int url_value(char c) {
  const char *p = memchr(url_alphabet, c, sizeof url_alphabet);
  return p ? (int)(p - url_alphabet) : -1;
}

int jwk_base64url_decode(const char *in, size_t len, unsigned char **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  /* One leftover character cannot hold a byte. The size bound keeps EVP_DecodeBlock's int happy;
   * every caller's input is far smaller. */
  if (len % 4 == 1 || len > 1024 * 1024)
    return TE_BAD_REQUEST;
  for (size_t i = 0; i < len; i++) {
    if (url_value(in[i]) < 0)
      return TE_BAD_REQUEST;
  }
  size_t pad = (4 - len % 4) % 4;
  /* The bits after the last whole byte must be zero, or one value would have several spellings
   * (and a signed token could be re-spelt without breaking its signature). */
  if (pad && (url_value(in[len - 1]) & (pad == 2 ? 0x0f : 0x03)))
    return TE_BAD_REQUEST;

  /* OpenSSL decodes standard base64: translate the alphabet and restore the padding. */
  unsigned char *std = xcalloc(len + pad + 1, 1);
  for (size_t i = 0; i < len; i++)
    std[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : (unsigned char)in[i];
  memset(std + len, '=', pad);
  size_t full = (len + pad) / 4 * 3;
  unsigned char *bin = xcalloc(full + 1, 1);
  int n = EVP_DecodeBlock(bin, std, (int)(len + pad));
  free(std);
  if (n < 0 || (size_t)n != full) {
    free(bin);
    return TE_BAD_REQUEST;
  }
  *out_len = full - pad; /* EVP_DecodeBlock counts the bytes the padding stands for */
  /* Exactly as long as the value, so that AddressSanitizer sees any read past it. */
  *out = realloc(bin, *out_len ? *out_len : 1);
  if (!*out)
    abort();
  return TE_OK;
}

/* Decodes the base64url member `name` of a JWK. TE_NOT_FOUND when it is missing or not a string
 * (the key is skipped), TE_BAD_REQUEST when it is not base64url (the whole set is refused). */
static int decode_member(json_t *jwk, const char *name, unsigned char **out, size_t *len) {
  json_t *v = json_object_get(jwk, name);
  if (!json_is_string(v))
    return TE_NOT_FOUND;
  return jwk_base64url_decode(json_string_value(v), json_string_length(v), out, len);
}

static EVP_PKEY *public_key_from_params(const char *type, const OSSL_PARAM *params) {
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
  if (!ctx)
    abort(); /* out of memory, or no default provider: nothing could be verified */
  EVP_PKEY *pkey = NULL;
  if (EVP_PKEY_fromdata_init(ctx) != 1 ||
      EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, (OSSL_PARAM *)params) != 1)
    pkey = NULL;
  EVP_PKEY_CTX_free(ctx);
  return pkey;
}

/* Bounds the cost of every later verification, and refuses toy keys: e = 1 would make any message
 * "signed", and an even n or e cannot be a valid RSA key. */
static bool rsa_is_sane(const BIGNUM *n, const BIGNUM *e) {
  int bits = BN_num_bits(n);
  return bits >= JWK_RSA_MIN_BITS && bits <= JWK_RSA_MAX_BITS && BN_is_odd(n) && BN_is_odd(e) &&
         BN_num_bits(e) >= 2 && BN_num_bits(e) <= RSA_MAX_EXPONENT_BITS && BN_cmp(e, n) < 0;
}

static EVP_PKEY *rsa_key(const unsigned char *n_bin, size_t n_len, const unsigned char *e_bin,
                         size_t e_len) {
  BIGNUM *n = BN_bin2bn(n_bin, (int)n_len, NULL), *e = BN_bin2bn(e_bin, (int)e_len, NULL);
  if (!n || !e)
    abort();
  EVP_PKEY *pkey = NULL;
  if (rsa_is_sane(n, e)) {
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (!bld || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
      abort();
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    if (!params)
      abort();
    pkey = public_key_from_params("RSA", params);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
  }
  BN_free(n);
  BN_free(e);
  return pkey;
}

static EVP_PKEY *ec_key(const unsigned char *x, const unsigned char *y) {
  unsigned char point[1 + 2 * EC_COORDINATE_BYTES];
  point[0] = 0x04; /* uncompressed: x || y */
  memcpy(point + 1, x, EC_COORDINATE_BYTES);
  memcpy(point + 1 + EC_COORDINATE_BYTES, y, EC_COORDINATE_BYTES);
  char group[] = "P-256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point),
      OSSL_PARAM_construct_end(),
  };
  EVP_PKEY *pkey = public_key_from_params("EC", params);
  if (!pkey)
    return NULL;
  /* Import already refuses most bad points; the explicit check (coordinates in range, on the curve,
   * not the point at infinity, right order) is what invalid-curve attacks are stopped by, so it is
   * not left to an import detail. */
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
  if (!ctx)
    abort();
  bool valid = EVP_PKEY_public_check(ctx) == 1;
  EVP_PKEY_CTX_free(ctx);
  if (!valid) {
    EVP_PKEY_free(pkey);
    return NULL;
  }
  return pkey;
}

/* jansson refuses "\u0000" in strings, so strcmp sees whole values. */
static bool member_equals(json_t *jwk, const char *name, const char *want) {
  const char *v = json_string_value(json_object_get(jwk, name));
  return v && strcmp(v, want) == 0;
}

/* A member that is absent passes; one that is present must be the string `want`. */
static bool absent_or_equals(json_t *jwk, const char *name, const char *want) {
  return !json_object_get(jwk, name) || member_equals(jwk, name, want);
}

/* TE_OK with *pkey set or NULL (skipped), or TE_BAD_REQUEST. */
static int parse_rsa(json_t *jwk, EVP_PKEY **pkey) {
  unsigned char *n = NULL, *e = NULL;
  size_t n_len = 0, e_len = 0;
  int rc = decode_member(jwk, "n", &n, &n_len);
  if (rc == TE_OK)
    rc = decode_member(jwk, "e", &e, &e_len);
  if (rc == TE_OK)
    *pkey = rsa_key(n, n_len, e, e_len);
  free(n);
  free(e);
  return rc == TE_NOT_FOUND ? TE_OK : rc;
}

static int parse_ec(json_t *jwk, EVP_PKEY **pkey) {
  if (!member_equals(jwk, "crv", "P-256"))
    return TE_OK;
  unsigned char *x = NULL, *y = NULL;
  size_t x_len = 0, y_len = 0;
  int rc = decode_member(jwk, "x", &x, &x_len);
  if (rc == TE_OK)
    rc = decode_member(jwk, "y", &y, &y_len);
  if (rc == TE_OK && x_len == EC_COORDINATE_BYTES && y_len == EC_COORDINATE_BYTES)
    *pkey = ec_key(x, y);
  free(x);
  free(y);
  return rc == TE_NOT_FOUND ? TE_OK : rc;
}

/* Fills `key` from one JWK: TE_OK with key->pkey set, TE_OK with key->pkey NULL when the key is
 * skipped, or TE_BAD_REQUEST. Only public members are read. */
static int parse_key(json_t *jwk, struct jwk_key *key) {
  const char *kty = json_string_value(json_object_get(jwk, "kty"));
  json_t *kid = json_object_get(jwk, "kid");
  if (!kty || !absent_or_equals(jwk, "use", "sig"))
    return TE_OK;
  if (kid && (!json_is_string(kid) || json_string_length(kid) >= sizeof key->kid))
    return TE_OK;
  /* No embedded NUL (see member_equals), so the kid copies whole. An empty kid is no kid. */
  snprintf(key->kid, sizeof key->kid, "%s", kid ? json_string_value(kid) : "");
  /* The key type alone pins the algorithm; an "alg" naming anything else (HS256 on any key, RS256
   * on an EC key, PS256 on an RSA key) means the provider did not mean this key for us. */
  if (strcmp(kty, "RSA") == 0 && absent_or_equals(jwk, "alg", "RS256")) {
    key->alg = JWK_RS256;
    return parse_rsa(jwk, &key->pkey);
  }
  if (strcmp(kty, "EC") == 0 && absent_or_equals(jwk, "alg", "ES256")) {
    key->alg = JWK_ES256;
    return parse_ec(jwk, &key->pkey);
  }
  return TE_OK;
}

/* RFC 7517 §4.5 lets keys of different types share a kid, never two keys of one type: the first
 * wins so that a kid and an algorithm always name one key. */
static bool is_duplicate(const struct jwk_set *set, const struct jwk_key *key) {
  if (!key->kid[0])
    return false;
  for (size_t i = 0; i < set->count; i++) {
    if (set->keys[i].alg == key->alg && strcmp(set->keys[i].kid, key->kid) == 0)
      return true;
  }
  return false;
}

static int parse_keys(json_t *keys, struct jwk_set *set, const char **why) {
  size_t i;
  json_t *jwk;
  json_array_foreach(keys, i, jwk) {
    if (!json_is_object(jwk)) {
      *why = "key set entry is not a JSON object";
      return TE_BAD_REQUEST;
    }
    struct jwk_key *key = &set->keys[set->count];
    memset(key, 0, sizeof *key);
    if (parse_key(jwk, key) != TE_OK) {
      *why = "key set has a key member that is not base64url";
      return TE_BAD_REQUEST;
    }
    if (key->pkey && is_duplicate(set, key)) {
      EVP_PKEY_free(key->pkey);
      key->pkey = NULL;
    }
    if (key->pkey)
      set->count++;
  }
  return TE_OK;
}

int jwk_set_parse(const char *json, size_t len, struct jwk_set **out, const char **why) {
  *out = NULL;
  if (!json || len > JWKS_MAX_BYTES) {
    *why = "key set too large";
    return TE_BAD_REQUEST;
  }
  json_error_t error;
  json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &error);
  json_t *keys = json_object_get(root, "keys");
  int rc = TE_BAD_REQUEST;
  if (!root)
    *why = "key set is not valid JSON";
  else if (!json_is_object(root))
    *why = "key set is not a JSON object";
  else if (!json_is_array(keys))
    *why = "key set has no \"keys\" array";
  else if (json_array_size(keys) > JWKS_MAX_KEYS)
    *why = "key set has too many keys";
  else
    rc = TE_OK;
  if (rc == TE_OK) {
    struct jwk_set *set = xcalloc(1, sizeof *set);
    set->keys = xcalloc(json_array_size(keys), sizeof *set->keys);
    /* Keys OpenSSL refused leave errors behind that would confuse a later, unrelated caller. */
    ERR_set_mark();
    rc = parse_keys(keys, set, why);
    ERR_pop_to_mark();
    if (rc == TE_OK)
      *out = set;
    else
      jwk_set_free(set);
  }
  json_decref(root);
  return rc;
}

void jwk_set_free(struct jwk_set *set) {
  if (!set)
    return;
  for (size_t i = 0; i < set->count; i++)
    EVP_PKEY_free(set->keys[i].pkey);
  free(set->keys);
  free(set);
}

const struct jwk_key *jwk_set_find(const struct jwk_set *set, const char *kid) {
  if (!set || !kid || !kid[0])
    return NULL;
  for (size_t i = 0; i < set->count; i++) {
    if (strcmp(set->keys[i].kid, kid) == 0)
      return &set->keys[i];
  }
  return NULL;
}
