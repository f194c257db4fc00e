#include "oidc/jws.h"

#include "core/error.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define ES256_SIGNATURE_BYTES 64 /* r || s, RFC 7518 §3.4 */
#define ES256_DER_MAX 72         /* SEQUENCE of two INTEGERs of up to 33 bytes */

/* The three base64url parts of a compact JWS, decoded; `input` is "header.payload", what was
 * signed. */
struct jws_parts {
  const char *input;
  size_t input_len;
  const char *payload_text;
  size_t payload_text_len;
  unsigned char *header, *payload, *signature;
  size_t header_len, payload_len, signature_len;
};

static void parts_free(struct jws_parts *p) {
  free(p->header);
  free(p->payload);
  free(p->signature);
}

static int fail(const char **why, const char *reason, int rc) {
  *why = reason;
  return rc;
}

/* Splits at the two dots and decodes each part. The caller frees the parts whatever the result. */
static int split(const char *token, size_t len, struct jws_parts *p, const char **why) {
  const char *end = token + len;
  const char *dot1 = memchr(token, '.', len);
  const char *dot2 = dot1 ? memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1)) : NULL;
  if (!dot2 || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)) || dot1 == token || dot2 == dot1 + 1)
    return fail(why, "token is not three dot-separated parts", TE_BAD_REQUEST);
  if (dot2 + 1 == end)
    return fail(why, "token is unsigned", TE_BAD_REQUEST);
  p->input = token;
  p->input_len = (size_t)(dot2 - token);
  p->payload_text = dot1 + 1;
  p->payload_text_len = (size_t)(dot2 - dot1 - 1);
  if (jwk_base64url_decode(token, (size_t)(dot1 - token), &p->header, &p->header_len) != TE_OK ||
      jwk_base64url_decode(p->payload_text, p->payload_text_len, &p->payload, &p->payload_len) !=
          TE_OK ||
      jwk_base64url_decode(dot2 + 1, (size_t)(end - dot2 - 1), &p->signature, &p->signature_len) !=
          TE_OK)
    return fail(why, "token is not base64url", TE_BAD_REQUEST);
  return TE_OK;
}

static json_t *parse_object(const unsigned char *text, size_t len) {
  json_error_t error;
  json_t *j = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, &error);
  if (j && !json_is_object(j)) {
    json_decref(j);
    return NULL;
  }
  return j;
}

/* The header's algorithm and kid (NULL when absent). Only two algorithms exist for us: "none",
 * the HMAC family (whose secret an attacker would take from our public key), PS256 and the rest
 * are all refused here, before any key is chosen. */
static int read_header(json_t *header, enum jwk_alg *alg, const char **kid, const char **why) {
  if (json_object_get(header, "crit"))
    return fail(why, "token header has critical extensions", TE_BAD_REQUEST);
  json_t *a = json_object_get(header, "alg");
  const char *name = json_string_value(a);
  size_t name_len = json_string_length(a);
  if (name && name_len == 5 && memcmp(name, "RS256", 5) == 0)
    *alg = JWK_RS256;
  else if (name && name_len == 5 && memcmp(name, "ES256", 5) == 0)
    *alg = JWK_ES256;
  else
    return fail(why, "unsupported token algorithm", TE_BAD_REQUEST);
  json_t *k = json_object_get(header, "kid");
  *kid = NULL;
  if (k && (!json_is_string(k) || json_string_length(k) == 0))
    return fail(why, "token key id is not a non-empty string", TE_BAD_REQUEST);
  if (k)
    *kid = json_string_value(k);
  return TE_OK;
}

static int key_by_kid(const struct jwk_set *set, const char *kid, enum jwk_alg alg,
                      const struct jwk_key **key, const char **why) {
  bool kid_known = false;
  for (size_t i = 0; set && i < set->count; i++) {
    if (strcmp(set->keys[i].kid, kid) != 0)
      continue;
    kid_known = true;
    if (set->keys[i].alg == alg) {
      *key = &set->keys[i];
      return TE_OK;
    }
  }
  /* The header names a key but an algorithm it is not pinned to: an RS256 token against an EC
   * key, or the reverse. Refused outright rather than "not found", so no refresh is tried. */
  if (kid_known)
    return fail(why, "token algorithm does not match the key", TE_BAD_REQUEST);
  return fail(why, "unknown key id", TE_NOT_FOUND);
}

static int key_by_alg(const struct jwk_set *set, enum jwk_alg alg, const struct jwk_key **key,
                      const char **why) {
  size_t matches = 0;
  for (size_t i = 0; set && i < set->count; i++) {
    if (set->keys[i].alg == alg) {
      *key = &set->keys[i];
      matches++;
    }
  }
  if (matches == 0)
    return fail(why, "no key for the token algorithm", TE_NOT_FOUND);
  if (matches > 1)
    return fail(why, "token has no key id and several keys could match", TE_BAD_REQUEST);
  return TE_OK;
}

/* RFC 7518 §3.4 sends r || s; OpenSSL verifies the DER SEQUENCE. Either half may be anything
 * (zero, or not below the group order): OpenSSL's verification refuses those. */
static size_t es256_to_der(const unsigned char *raw, unsigned char der[ES256_DER_MAX]) {
  ECDSA_SIG *sig = ECDSA_SIG_new();
  BIGNUM *r = BN_bin2bn(raw, ES256_SIGNATURE_BYTES / 2, NULL);
  BIGNUM *s = BN_bin2bn(raw + ES256_SIGNATURE_BYTES / 2, ES256_SIGNATURE_BYTES / 2, NULL);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1)
    abort();
  size_t len = 0;
  int n = i2d_ECDSA_SIG(sig, NULL);
  if (n > 0 && n <= ES256_DER_MAX) {
    unsigned char *p = der;
    len = i2d_ECDSA_SIG(sig, &p) == n ? (size_t)n : 0;
  }
  ECDSA_SIG_free(sig);
  return len;
}

static bool digest_verify(EVP_PKEY *pkey, bool rsa, const unsigned char *sig, size_t sig_len,
                          const char *input, size_t input_len) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx)
    abort();
  EVP_PKEY_CTX *pctx = NULL;
  bool ok = EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), NULL, pkey) == 1 &&
            (!rsa || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1) &&
            EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)input, input_len) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

static int verify_signature(const struct jwk_key *key, const struct jws_parts *p,
                            const char **why) {
  /* The form of the signature is fixed by the algorithm alone: another length is a malformed
   * token (DER, say), not a wrong signature. Checked here, next to the read it bounds. */
  if (key->alg == JWK_ES256 && p->signature_len != ES256_SIGNATURE_BYTES)
    return fail(why, "ES256 signature is not 64 bytes", TE_BAD_REQUEST);
  bool ok = false;
  /* A failed verification leaves OpenSSL errors behind for an unrelated later caller to trip on. */
  ERR_set_mark();
  if (key->alg == JWK_ES256) {
    unsigned char der[ES256_DER_MAX];
    size_t der_len = es256_to_der(p->signature, der);
    ok = der_len && digest_verify(key->pkey, false, der, der_len, p->input, p->input_len);
  } else {
    /* PKCS #1 signatures are exactly as long as the modulus (RFC 8017 §8.2.2). */
    ok = p->signature_len == (size_t)EVP_PKEY_get_size(key->pkey) &&
         digest_verify(key->pkey, true, p->signature, p->signature_len, p->input, p->input_len);
  }
  ERR_pop_to_mark();
  return ok ? TE_OK : fail(why, "bad signature", TE_FORBIDDEN);
}

/* Everything up to the signature check: parsing, the algorithm, the key. */
static int choose_key(const struct jws_parts *p, const struct jwk_set *keys,
                      const struct jwk_key **key, const char **why) {
  json_t *header = parse_object(p->header, p->header_len);
  if (!header)
    return fail(why, "token header is not a JSON object", TE_BAD_REQUEST);
  enum jwk_alg alg;
  const char *kid;
  int rc = read_header(header, &alg, &kid, why);
  if (rc == TE_OK)
    rc = kid ? key_by_kid(keys, kid, alg, key, why) : key_by_alg(keys, alg, key, why);
  json_decref(header); /* kid points into it: not used past here */
  return rc;
}

int jws_verify(const char *token, size_t len, const struct jwk_set *keys, json_t **claims,
               const char **why) {
  *claims = NULL;
  if (len > JWT_MAX_BYTES)
    return fail(why, "token too large", TE_BAD_REQUEST);
  if (!token)
    return fail(why, "token is not three dot-separated parts", TE_BAD_REQUEST);
  struct jws_parts p = {0};
  const struct jwk_key *key = NULL;
  int rc = split(token, len, &p, why);
  if (rc == TE_OK)
    rc = choose_key(&p, keys, &key, why);
  if (rc == TE_OK)
    rc = verify_signature(key, &p, why);
  if (rc == TE_OK) {
    *claims = parse_object(p.payload, p.payload_len);
    if (!*claims)
      rc = fail(why, "token payload is not a JSON object", TE_BAD_REQUEST);
  }
  parts_free(&p);
  return rc;
}

/* Compares a JSON number with a time: <0, 0 or >0. Integers compare exactly; reals (which JSON
 * allows for NumericDate) as doubles. */
static int compare_time(json_t *v, int64_t t) {
  if (json_is_integer(v)) {
    json_int_t i = json_integer_value(v);
    return i < t ? -1 : i > t;
  }
  double d = json_real_value(v);
  return d < (double)t ? -1 : d > (double)t;
}

static bool string_equals(json_t *v, const char *want) {
  size_t len = strlen(want);
  return json_is_string(v) && json_string_length(v) == len &&
         memcmp(json_string_value(v), want, len) == 0;
}

static bool audience_matches(json_t *aud, const char *audience) {
  if (json_is_string(aud))
    return string_equals(aud, audience);
  size_t i;
  json_t *v;
  json_array_foreach(aud, i, v) {
    if (string_equals(v, audience))
      return true;
  }
  return false;
}

int jwt_check_claims(json_t *claims, const char *issuer, const char *audience, int64_t now,
                     int leeway_seconds, const char **why) {
  int64_t leeway = leeway_seconds > 0 ? leeway_seconds : 0;
  /* Saturating, so that no `now` the caller passes can overflow. */
  int64_t earliest = now < INT64_MIN + leeway ? INT64_MIN : now - leeway;
  int64_t latest = now > INT64_MAX - leeway ? INT64_MAX : now + leeway;
  json_t *exp = json_object_get(claims, "exp"), *nbf = json_object_get(claims, "nbf");
  json_t *iat = json_object_get(claims, "iat");
  if (!json_is_object(claims))
    return fail(why, "claims are not a JSON object", TE_FORBIDDEN);
  if (!issuer || !issuer[0] || !string_equals(json_object_get(claims, "iss"), issuer))
    return fail(why, "wrong issuer", TE_FORBIDDEN);
  if (!audience || !audience[0] || !audience_matches(json_object_get(claims, "aud"), audience))
    return fail(why, "wrong audience", TE_FORBIDDEN);
  if (!json_is_number(exp))
    return fail(why, "no expiry", TE_FORBIDDEN);
  if (compare_time(exp, earliest) <= 0)
    return fail(why, "expired", TE_FORBIDDEN);
  if (nbf && !json_is_number(nbf))
    return fail(why, "not-before is not a number", TE_FORBIDDEN);
  if (nbf && compare_time(nbf, latest) > 0)
    return fail(why, "not yet valid", TE_FORBIDDEN);
  if (iat && !json_is_number(iat))
    return fail(why, "issued-at is not a number", TE_FORBIDDEN);
  if (iat && compare_time(iat, latest) > 0)
    return fail(why, "issued in the future", TE_FORBIDDEN);
  return TE_OK;
}
