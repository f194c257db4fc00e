/* OIDC ID token verification: JWK Sets (oidc/jwk.c), compact JWS and claims (oidc/jws.c). Keys are
 * made here with OpenSSL, published as a JWKS, and tokens signed here the way a provider would. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/error.h"
#include "oidc/jwk.h"
#include "oidc/jwk_cache.h"
#include "oidc/jws.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1700000000LL
#define LEEWAY 60
#define ISSUER "https://idp.example.com"
#define AUDIENCE "tessera"

static EVP_PKEY *rsa_a, *rsa_b, *rsa_small, *ec_a, *ec_b;

/* ---- helpers: base64url, JWKs, signing ---- */

static char *b64url(const unsigned char *in, size_t len) {
  char *out = calloc(4 * ((len + 2) / 3) + 1, 1);
  assert_non_null(out);
  int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
  while (n > 0 && out[n - 1] == '=')
    out[--n] = '\0';
  for (char *p = out; *p; p++)
    *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
  return out;
}

static char *b64url_text(const char *text) {
  return b64url((const unsigned char *)text, strlen(text));
}

static char *bn_b64url(EVP_PKEY *pkey, const char *param, int pad_to) {
  BIGNUM *bn = NULL;
  assert_int_equal(EVP_PKEY_get_bn_param(pkey, param, &bn), 1);
  int len = pad_to ? pad_to : BN_num_bytes(bn);
  unsigned char *bin = malloc((size_t)len);
  assert_non_null(bin);
  assert_int_equal(BN_bn2binpad(bn, bin, len), len);
  char *out = b64url(bin, (size_t)len);
  free(bin);
  BN_free(bn);
  return out;
}

/* Sets obj[name] to a string this takes ownership of. */
static void set_owned(json_t *obj, const char *name, char *value) {
  json_object_set_new(obj, name, json_string(value));
  free(value);
}

/* The public JWK of a key, as a provider would publish it; kid NULL for none. */
static json_t *public_jwk(EVP_PKEY *pkey, const char *kid) {
  json_t *jwk = json_object();
  if (EVP_PKEY_is_a(pkey, "RSA")) {
    json_object_set_new(jwk, "kty", json_string("RSA"));
    set_owned(jwk, "n", bn_b64url(pkey, OSSL_PKEY_PARAM_RSA_N, 0));
    set_owned(jwk, "e", bn_b64url(pkey, OSSL_PKEY_PARAM_RSA_E, 0));
  } else {
    json_object_set_new(jwk, "kty", json_string("EC"));
    json_object_set_new(jwk, "crv", json_string("P-256"));
    set_owned(jwk, "x", bn_b64url(pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32));
    set_owned(jwk, "y", bn_b64url(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32));
  }
  if (kid)
    json_object_set_new(jwk, "kid", json_string(kid));
  return jwk;
}

/* Parses {"keys": [the JWKs]}, taking the references; asserts the parse succeeds. */
static struct jwk_set *set_of(json_t *first, ...) {
  json_t *keys = json_array();
  va_list ap;
  va_start(ap, first);
  for (json_t *jwk = first; jwk; jwk = va_arg(ap, json_t *))
    json_array_append_new(keys, jwk);
  va_end(ap);
  json_t *root = json_pack("{s:o}", "keys", keys);
  char *text = json_dumps(root, 0);
  json_decref(root);
  struct jwk_set *set = NULL;
  const char *why = NULL;
  assert_int_equal(jwk_set_parse(text, strlen(text), &set, &why), TE_OK);
  assert_non_null(set);
  free(text);
  return set;
}

static int parse_text(const char *text, struct jwk_set **set, const char **why) {
  *why = NULL;
  return jwk_set_parse(text, strlen(text), set, why);
}

/* The usual set: an RSA key "r1" and an EC key "e1". */
static struct jwk_set *default_set(void) {
  return set_of(public_jwk(rsa_a, "r1"), public_jwk(ec_a, "e1"), NULL);
}

/* Signs "b64(header).b64(payload)" with the key (RS256 or ES256 by key type) and returns the
 * signature bytes in JWS form (raw r || s for EC). */
static unsigned char *sign_bytes(EVP_PKEY *pkey, const char *input, size_t *sig_len) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey), 1);
  size_t len = 0;
  assert_int_equal(EVP_DigestSign(ctx, NULL, &len, (const unsigned char *)input, strlen(input)), 1);
  unsigned char *sig = malloc(len);
  assert_non_null(sig);
  assert_int_equal(EVP_DigestSign(ctx, sig, &len, (const unsigned char *)input, strlen(input)), 1);
  EVP_MD_CTX_free(ctx);
  if (EVP_PKEY_is_a(pkey, "EC")) {
    const unsigned char *p = sig;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
    assert_non_null(es);
    unsigned char *raw = malloc(64);
    assert_non_null(raw);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32), 32);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32), 32);
    ECDSA_SIG_free(es);
    free(sig);
    sig = raw;
    len = 64;
  }
  *sig_len = len;
  return sig;
}

static char *join3(const char *a, const char *b, const char *c) {
  size_t len = strlen(a) + strlen(b) + strlen(c) + 3;
  char *out = malloc(len);
  assert_non_null(out);
  snprintf(out, len, "%s.%s.%s", a, b, c);
  return out;
}

/* A compact JWS of these exact header and payload texts, signed with pkey. */
static char *sign_token(const char *header, const char *payload, EVP_PKEY *pkey) {
  char *h = b64url_text(header), *p = b64url_text(payload);
  size_t input_len = strlen(h) + strlen(p) + 2;
  char *input = malloc(input_len);
  assert_non_null(input);
  snprintf(input, input_len, "%s.%s", h, p);
  size_t sig_len = 0;
  unsigned char *sig = sign_bytes(pkey, input, &sig_len);
  char *s = b64url(sig, sig_len);
  char *token = join3(h, p, s);
  free(h);
  free(p);
  free(s);
  free(sig);
  free(input);
  return token;
}

static const char *const claims_json =
    "{\"iss\":\"" ISSUER "\",\"aud\":\"" AUDIENCE "\",\"sub\":\"alice\",\"exp\":1700000300,"
    "\"iat\":1700000000}";

/* jws_verify on a NUL-terminated token; on failure checks that no claims leak out. */
static int verify(const char *token, const struct jwk_set *set, const char **why) {
  json_t *claims = (json_t *)1;
  *why = NULL;
  int rc = jws_verify(token, strlen(token), set, &claims, why);
  if (rc == TE_OK) {
    assert_true(json_is_object(claims));
    json_decref(claims);
  } else {
    assert_null(claims);
    assert_non_null(*why);
  }
  return rc;
}

static void assert_refused(const char *token, const struct jwk_set *set, int want_rc,
                           const char *want_why) {
  const char *why = NULL;
  assert_int_equal(verify(token, set, &why), want_rc);
  assert_string_equal(why, want_why);
}

/* The part (0, 1, 2) of a token, as a fresh string. */
static char *part_of(const char *token, int index) {
  const char *start = token;
  for (int i = 0; i < index; i++)
    start = strchr(start, '.') + 1;
  const char *end = strchr(start, '.');
  size_t len = end ? (size_t)(end - start) : strlen(start);
  char *out = strndup(start, len);
  assert_non_null(out);
  return out;
}

/* ---- valid tokens ---- */

static void verifies_and_returns_claims(EVP_PKEY *pkey, const char *alg, const char *kid) {
  struct jwk_set *set = default_set();
  char header[128];
  snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", alg, kid);
  char *token = sign_token(header, claims_json, pkey);
  json_t *claims = NULL;
  const char *why = NULL;
  assert_int_equal(jws_verify(token, strlen(token), set, &claims, &why), TE_OK);
  assert_string_equal(json_string_value(json_object_get(claims, "sub")), "alice");
  assert_int_equal(json_integer_value(json_object_get(claims, "exp")), 1700000300);
  assert_int_equal(jwt_check_claims(claims, ISSUER, AUDIENCE, NOW, LEEWAY, &why), TE_OK);
  json_decref(claims);
  free(token);
  jwk_set_free(set);
}

static void rs256_token_verifies(void **state) {
  (void)state;
  verifies_and_returns_claims(rsa_a, "RS256", "r1");
}

static void es256_token_verifies(void **state) {
  (void)state;
  verifies_and_returns_claims(ec_a, "ES256", "e1");
}

/* Not NUL-terminated, and followed by bytes that would break it if read. */
static void token_is_read_by_length(void **state) {
  (void)state;
  struct jwk_set *set = default_set();
  char *token = sign_token("{\"alg\":\"ES256\",\"kid\":\"e1\"}", claims_json, ec_a);
  size_t len = strlen(token);
  char *buf = malloc(len + 4);
  assert_non_null(buf);
  memcpy(buf, token, len);
  memcpy(buf + len, ".xx", 3); /* a fourth part, beyond len */
  json_t *claims = NULL;
  const char *why = NULL;
  assert_int_equal(jws_verify(buf, len, set, &claims, &why), TE_OK);
  json_decref(claims);
  assert_int_equal(jws_verify(buf, len + 3, set, &claims, &why), TE_BAD_REQUEST);
  free(buf);
  free(token);
  jwk_set_free(set);
}

/* ---- signatures ---- */

static void tampered_payload_is_forbidden(void **state) {
  (void)state;
  struct jwk_set *set = default_set();
  static const char *const headers[] = {"{\"alg\":\"RS256\",\"kid\":\"r1\"}",
                                        "{\"alg\":\"ES256\",\"kid\":\"e1\"}"};
  EVP_PKEY *keys[] = {rsa_a, ec_a};
  for (int i = 0; i < 2; i++) {
    char *token = sign_token(headers[i], claims_json, keys[i]);
    char *h = part_of(token, 0), *s = part_of(token, 2);
    char *p = b64url_text("{\"iss\":\"" ISSUER "\",\"aud\":\"" AUDIENCE
                          "\",\"sub\":\"admin\",\"exp\":1700000300,\"iat\":1700000000}");
    char *forged = join3(h, p, s);
    assert_refused(forged, set, TE_FORBIDDEN, "bad signature");
    free(forged);
    free(p);
    free(h);
    free(s);
    free(token);
  }
  jwk_set_free(set);
}

static void tampered_signature_is_forbidden(void **state) {
  (void)state;
  struct jwk_set *set = default_set();
  char *rs = sign_token("{\"alg\":\"RS256\",\"kid\":\"r1\"}", claims_json, rsa_a);
  char *es = sign_token("{\"alg\":\"ES256\",\"kid\":\"e1\"}", claims_json, ec_a);
  char *tokens[] = {rs, es};
  for (int i = 0; i < 2; i++) {
    char *sig = strrchr(tokens[i], '.') + 1;
    sig[10] = sig[10] == 'A' ? 'B' : 'A'; /* six whole bits of the signature change */
    assert_refused(tokens[i], set, TE_FORBIDDEN, "bad signature");
  }
  free(rs);
  free(es);
  jwk_set_free(set);
}

static void another_key_with_the_same_kid_is_forbidden(void **state) {
  (void)state;
  struct jwk_set *set = default_set();
  char *rs = sign_token("{\"alg\":\"RS256\",\"kid\":\"r1\"}", claims_json, rsa_b);
  char *es = sign_token("{\"alg\":\"ES256\",\"kid\":\"e1\"}", claims_json, ec_b);
  assert_refused(rs, set, TE_FORBIDDEN, "bad signature");
  assert_refused(es, set, TE_FORBIDDEN, "bad signature");
  free(rs);
  free(es);
  jwk_set_free(set);
}

static void es256_signature_of_another_length_is_refused(void **state) {
  (void)state;
  struct jwk_set *set = default_set();
  char *token = sign_token("{\"alg\":\"ES256\",\"kid\":\"e1\"}", claims_json, ec_a);
  char *h = part_of(token, 0), *p = part_of(token, 1);
  size_t len = 0;
  unsigned char *raw = NULL;
  char *s = part_of(token, 2);
  assert_int_equal(jwk_base64url_decode(s, strlen(s), &raw, &len), TE_OK);
  assert_int_equal(len, 64);
  free(s);
  /* 63 and 65 bytes: a byte short, a byte over. */
  unsigned char longer[65];
  memcpy(longer, raw, 64);
  longer[64] = 0;
  size_t lengths[] = {63, 65};
  for (int i = 0; i < 2; i++) {
    char *sig = b64url(longer, lengths[i]);
    char *bad = join3(h, p, sig);
    assert_refused(bad, set, TE_BAD_REQUEST, "ES256 signature is not 64 bytes");
    free(bad);
    free(sig);
  }
  /* The DER form OpenSSL itself produces, a common mistake of signers, is not JWS. */
  ECDSA_SIG *es = ECDSA_SIG_new();
  ECDSA_SIG_set0(es, BN_bin2bn(raw, 32, NULL), BN_bin2bn(raw + 32, 32, NULL));
  unsigned char *der = NULL;
  int der_len = i2d_ECDSA_SIG(es, &der);
  assert_true(der_len > 64);
  char *sig = b64url(der, (size_t)der_len);
  char *bad = join3(h, p, sig);
  assert_refused(bad, set, TE_BAD_REQUEST, "ES256 signature is not 64 bytes");
  free(bad);
  free(sig);
  OPENSSL_free(der);
  ECDSA_SIG_free(es);
  free(raw);
  free(h);
  free(p);
  free(token);
  jwk_set_free(set);
}

/* ---- keys: kid, no kid, algorithm pinning ---- */

static void unknown_kid_is_not_found(void **state) {
  (void)state;
  struct jwk_set *set = default_set();
  char *token = sign_token("{\"alg\":\"RS256\",\"kid\":\"r2\"}", claims_json, rsa_a);
  assert_refused(token, set, TE_NOT_FOUND, "unknown key id");
  free(token);
  token = sign_token("{\"alg\":\"RS256\",\"kid\":\"\"}", claims_json, rsa_a);
  assert_refused(token, set, TE_BAD_REQUEST, "token key id is not a non-empty string");
  free(token);
  token = sign_token("{\"alg\":\"RS256\",\"kid\":7}", claims_json, rsa_a);
  assert_refused(token, set, TE_BAD_REQUEST, "token key id is not a non-empty string");
  free(token);
  jwk_set_free(set);
}

static void no_kid_uses_the_only_key_of_that_alg(void **state) {
  (void)state;
  struct jwk_set *set = default_set();
  char *rs = sign_token("{\"alg\":\"RS256\"}", claims_json, rsa_a);
  char *es = sign_token("{\"alg\":\"ES256\"}", claims_json, ec_a);
  const char *why = NULL;
  assert_int_equal(verify(rs, set, &why), TE_OK);
  assert_int_equal(verify(es, set, &why), TE_OK);
  jwk_set_free(set);
  /* Still the only key of its algorithm beside another type's key, kid or not. */
  set = set_of(public_jwk(rsa_a, NULL), public_jwk(ec_a, "e1"), NULL);
  assert_int_equal(verify(rs, set, &why), TE_OK);
  assert_null(jwk_set_find(set, "")); /* a key without kid is not found by the empty kid */
  jwk_set_free(set);
  /* and no key of that algorithm at all: perhaps a refresh brings one */
  set = set_of(public_jwk(ec_a, "e1"), NULL);
  assert_refused(rs, set, TE_NOT_FOUND, "no key for the token algorithm");
  jwk_set_free(set);
  free(rs);
  free(es);
}

static void no_kid_with_two_keys_of_that_alg_is_refused(void **state) {
  (void)state;
  struct jwk_set *set =
      set_of(public_jwk(rsa_a, "r1"), public_jwk(rsa_b, "r2"), public_jwk(ec_a, "e1"), NULL);
  char *rs = sign_token("{\"alg\":\"RS256\"}", claims_json, rsa_a);
  assert_refused(rs, set, TE_BAD_REQUEST, "token has no key id and several keys could match");
  /* the EC key is still alone of its kind */
  char *es = sign_token("{\"alg\":\"ES256\"}", claims_json, ec_a);
  const char *why = NULL;
  assert_int_equal(verify(es, set, &why), TE_OK);
  jwk_set_free(set);
  /* two keys without kid are both kept, so still ambiguous */
  set = set_of(public_jwk(rsa_a, NULL), public_jwk(rsa_b, NULL), NULL);
  assert_int_equal(set->count, 2);
  assert_refused(rs, set, TE_BAD_REQUEST, "token has no key id and several keys could match");
  free(rs);
  free(es);
  jwk_set_free(set);
}

static void alg_none_is_refused(void **state) {
  (void)state;
  struct jwk_set *set = default_set();
  char *h = b64url_text("{\"alg\":\"none\",\"kid\":\"r1\"}"), *p = b64url_text(claims_json);
  char *token = join3(h, p, "");
  assert_refused(token, set, TE_BAD_REQUEST, "token is unsigned");
  free(token);
  /* with some signature bytes after all, the algorithm itself is refused */
  token = join3(h, p, "AAAA");
  assert_refused(token, set, TE_BAD_REQUEST, "unsupported token algorithm");
  free(token);
  free(h);
  free(p);
  jwk_set_free(set);
}

/* The classic confusion: a verifier that trusts the header's alg would HMAC with the "key" it has
 * for the kid, the RSA public key, which the attacker knows too. */
static void hs256_with_the_public_key_as_secret_is_refused(void **state) {
  (void)state;
  struct jwk_set *set = default_set();
  BIO *bio = BIO_new(BIO_s_mem());
  assert_int_equal(PEM_write_bio_PUBKEY(bio, rsa_a), 1);
  char *pem = NULL;
  long pem_len = BIO_get_mem_data(bio, &pem);
  assert_true(pem_len > 0);
  const char *algs[] = {"HS256", "RS384", "PS256", "ES384", "rs256", "RS256 "};
  for (size_t i = 0; i < sizeof algs / sizeof *algs; i++) {
    char header[64];
    snprintf(header, sizeof header, "{\"alg\":\"%s\",\"kid\":\"r1\"}", algs[i]);
    char *h = b64url_text(header), *p = b64url_text(claims_json);
    char input[1024];
    snprintf(input, sizeof input, "%s.%s", h, p);
    unsigned char mac[32];
    size_t mac_len = 0;
    assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, pem, (size_t)pem_len,
                              (unsigned char *)input, strlen(input), mac, sizeof mac, &mac_len));
    char *s = b64url(mac, mac_len);
    char *token = join3(h, p, s);
    assert_refused(token, set, TE_BAD_REQUEST, "unsupported token algorithm");
    free(token);
    free(s);
    free(h);
    free(p);
  }
  BIO_free(bio);
  jwk_set_free(set);
}

static void alg_must_match_the_key_type(void **state) {
  (void)state;
  struct jwk_set *set = default_set();
  /* Each signed by a key of the header's algorithm, but naming a key of the other type. */
  char *rs = sign_token("{\"alg\":\"RS256\",\"kid\":\"e1\"}", claims_json, rsa_a);
  char *es = sign_token("{\"alg\":\"ES256\",\"kid\":\"r1\"}", claims_json, ec_a);
  assert_refused(rs, set, TE_BAD_REQUEST, "token algorithm does not match the key");
  assert_refused(es, set, TE_BAD_REQUEST, "token algorithm does not match the key");
  free(rs);
  free(es);
  jwk_set_free(set);
}

/* RFC 7517 §4.5: keys of different types may share a kid; the header's alg picks between them. */
static void a_kid_shared_by_two_key_types_selects_by_alg(void **state) {
  (void)state;
  struct jwk_set *set = set_of(public_jwk(rsa_a, "k"), public_jwk(ec_a, "k"), NULL);
  assert_int_equal(set->count, 2);
  char *rs = sign_token("{\"alg\":\"RS256\",\"kid\":\"k\"}", claims_json, rsa_a);
  char *es = sign_token("{\"alg\":\"ES256\",\"kid\":\"k\"}", claims_json, ec_a);
  const char *why = NULL;
  assert_int_equal(verify(rs, set, &why), TE_OK);
  assert_int_equal(verify(es, set, &why), TE_OK);
  free(rs);
  free(es);
  jwk_set_free(set);
}

/* ---- token shape ---- */

static void oversized_token_is_refused(void **state) {
  (void)state;
  struct jwk_set *set = default_set();
  const char *header = "{\"alg\":\"ES256\",\"kid\":\"e1\"}";
  char *h = b64url_text(header);
  size_t fixed = strlen(h) + 2 + 86; /* dots and 64 signature bytes */
  free(h);
  /* Grow a filler claim until the token is just under, then just over, the limit (base64 lengths
   * step by one or two, so each target is met or passed by one). */
  size_t targets[] = {JWT_MAX_BYTES - 1, JWT_MAX_BYTES + 1};
  int want[] = {TE_OK, TE_BAD_REQUEST};
  for (int t = 0; t < 2; t++) {
    char *payload = malloc(JWT_MAX_BYTES);
    assert_non_null(payload);
    size_t filler = 1;
    for (;; filler++) {
      size_t text_len = strlen(claims_json) + 7 + filler; /* less "}", plus ,"f":"..."} */
      if (fixed + (4 * text_len + 2) / 3 >= targets[t])
        break;
    }
    snprintf(payload, JWT_MAX_BYTES, "%.*s,\"f\":\"%0*d\"}", (int)strlen(claims_json) - 1,
             claims_json, (int)filler, 0);
    char *token = sign_token(header, payload, ec_a);
    assert_true(strlen(token) >= targets[t] && strlen(token) <= targets[t] + 1);
    const char *why = NULL;
    assert_int_equal(verify(token, set, &why), want[t]);
    if (want[t] != TE_OK)
      assert_string_equal(why, "token too large");
    free(token);
    free(payload);
  }
  jwk_set_free(set);
}

static void tokens_must_have_three_non_empty_parts(void **state) {
  (void)state;
  struct jwk_set *set = default_set();
  char *token = sign_token("{\"alg\":\"RS256\",\"kid\":\"r1\"}", claims_json, rsa_a);
  char *h = part_of(token, 0), *p = part_of(token, 1), *s = part_of(token, 2);
  char buf[4096];
  const char *const shapes[] = {"%s.%s", "%s.%s.%s.%s", "%s.%s.%s.", ".%s.%s", "%s..%s", "%s%s%s"};
  for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
    snprintf(buf, sizeof buf, shapes[i], h, i == 4 ? s : p, s, s);
    assert_refused(buf, set, TE_BAD_REQUEST, "token is not three dot-separated parts");
  }
  assert_refused("", set, TE_BAD_REQUEST, "token is not three dot-separated parts");
  assert_refused("..", set, TE_BAD_REQUEST, "token is not three dot-separated parts");
  /* the same parts, correctly joined, verify */
  snprintf(buf, sizeof buf, "%s.%s.%s", h, p, s);
  const char *why = NULL;
  assert_int_equal(verify(buf, set, &why), TE_OK);
  free(h);
  free(p);
  free(s);
  free(token);
  jwk_set_free(set);
}

/* Strict base64url: padding, the standard alphabet and stray characters are all refused. */
static void token_parts_must_be_strict_base64url(void **state) {
  (void)state;
  struct jwk_set *set = default_set();
  /* 26 bytes: the header's base64url would need one padding character */
  char *token = sign_token("{\"alg\":\"RS256\",\"kid\":\"r1\"}", claims_json, rsa_a);
  char *h = part_of(token, 0), *p = part_of(token, 1), *s = part_of(token, 2);
  assert_int_equal(strlen(h) % 4, 3);
  char buf[4096];
  snprintf(buf, sizeof buf, "%s=.%s.%s", h, p, s);
  assert_refused(buf, set, TE_BAD_REQUEST, "token is not base64url");
  for (int i = 0; i < 2; i++) {
    snprintf(buf, sizeof buf, "%s.%s.%s", h, p, s);
    strrchr(buf, '.')[1] = "+/"[i]; /* standard base64, not base64url */
    assert_refused(buf, set, TE_BAD_REQUEST, "token is not base64url");
  }
  snprintf(buf, sizeof buf, "%s.%s.%s", h, p, s);
  buf[5] = ' ';
  assert_refused(buf, set, TE_BAD_REQUEST, "token is not base64url");
  free(h);
  free(p);
  free(s);
  free(token);
  jwk_set_free(set);
}

static void header_and_payload_must_be_json_objects(void **state) {
  (void)state;
  struct jwk_set *set = default_set();
  /* Each validly signed: only the JSON is at fault. A lenient parser would take the last "alg". */
  char *dup =
      sign_token("{\"alg\":\"RS256\",\"kid\":\"r1\",\"alg\":\"RS256\"}", claims_json, rsa_a);
  assert_refused(dup, set, TE_BAD_REQUEST, "token header is not a JSON object");
  char *array = sign_token("[\"RS256\"]", claims_json, rsa_a);
  assert_refused(array, set, TE_BAD_REQUEST, "token header is not a JSON object");
  char *dup_claim = sign_token("{\"alg\":\"RS256\",\"kid\":\"r1\"}",
                               "{\"sub\":\"alice\",\"sub\":\"admin\"}", rsa_a);
  assert_refused(dup_claim, set, TE_BAD_REQUEST, "token payload is not a JSON object");
  char *not_json = sign_token("{\"alg\":\"RS256\",\"kid\":\"r1\"}", "alice", rsa_a);
  assert_refused(not_json, set, TE_BAD_REQUEST, "token payload is not a JSON object");
  free(dup);
  free(array);
  free(dup_claim);
  free(not_json);
  jwk_set_free(set);
}

static void crit_header_is_refused(void **state) {
  (void)state;
  struct jwk_set *set = default_set();
  char *token = sign_token("{\"alg\":\"RS256\",\"kid\":\"r1\",\"crit\":[\"b64\"],\"b64\":false}",
                           claims_json, rsa_a);
  assert_refused(token, set, TE_BAD_REQUEST, "token header has critical extensions");
  free(token);
  jwk_set_free(set);
}

/* ---- claims ---- */

static int check(const char *claims_text, const char **why) {
  json_error_t error;
  json_t *claims = json_loads(claims_text, 0, &error);
  assert_non_null(claims);
  *why = NULL;
  int rc = jwt_check_claims(claims, ISSUER, AUDIENCE, NOW, LEEWAY, why);
  json_decref(claims);
  return rc;
}

static void assert_claims(const char *extra, int want_rc, const char *want_why) {
  char text[512];
  snprintf(text, sizeof text, "{\"iss\":\"%s\",\"aud\":\"%s\"%s}", ISSUER, AUDIENCE, extra);
  const char *why = NULL;
  assert_int_equal(check(text, &why), want_rc);
  if (want_why)
    assert_string_equal(why, want_why);
}

static void expiry_is_required_and_checked_with_leeway(void **state) {
  (void)state;
  assert_claims(",\"exp\":1700000300", TE_OK, NULL);
  assert_claims(",\"exp\":1699999941", TE_OK, NULL); /* a second inside the leeway */
  assert_claims(",\"exp\":1699999940", TE_FORBIDDEN, "expired");
  assert_claims(",\"exp\":1600000000", TE_FORBIDDEN, "expired");
  assert_claims(",\"exp\":1699999940.5", TE_OK, NULL); /* NumericDate may be a real */
  assert_claims(",\"exp\":1699999939.5", TE_FORBIDDEN, "expired");
  assert_claims("", TE_FORBIDDEN, "no expiry");
  assert_claims(",\"exp\":\"1700000300\"", TE_FORBIDDEN, "no expiry");
  assert_claims(",\"exp\":null", TE_FORBIDDEN, "no expiry");
}

static void not_before_and_issued_at_are_checked_with_leeway(void **state) {
  (void)state;
  assert_claims(",\"exp\":1700000300,\"nbf\":1700000060,\"iat\":1700000060", TE_OK, NULL);
  assert_claims(",\"exp\":1700000300,\"nbf\":1700000061", TE_FORBIDDEN, "not yet valid");
  assert_claims(",\"exp\":1700000300,\"nbf\":1700000060.5", TE_FORBIDDEN, "not yet valid");
  assert_claims(",\"exp\":1700000300,\"nbf\":\"0\"", TE_FORBIDDEN, "not-before is not a number");
  assert_claims(",\"exp\":1700000300,\"iat\":1700000061", TE_FORBIDDEN, "issued in the future");
  assert_claims(",\"exp\":1700000300,\"iat\":true", TE_FORBIDDEN, "issued-at is not a number");
}

static void issuer_must_match(void **state) {
  (void)state;
  const char *why = NULL;
  static const char *const bad[] = {
      "{\"iss\":\"https://evil.example.com\",\"aud\":\"tessera\",\"exp\":1700000300}",
      "{\"iss\":\"https://idp.example.com/\",\"aud\":\"tessera\",\"exp\":1700000300}",
      "{\"iss\":[\"https://idp.example.com\"],\"aud\":\"tessera\",\"exp\":1700000300}",
      "{\"aud\":\"tessera\",\"exp\":1700000300}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_int_equal(check(bad[i], &why), TE_FORBIDDEN);
    assert_string_equal(why, "wrong issuer");
  }
  json_t *claims = json_loads(claims_json, 0, NULL);
  assert_int_equal(jwt_check_claims(claims, "", AUDIENCE, NOW, LEEWAY, &why), TE_FORBIDDEN);
  assert_int_equal(jwt_check_claims(claims, ISSUER, AUDIENCE, NOW, LEEWAY, &why), TE_OK);
  json_decref(claims);
}

static void audience_must_match_or_be_listed(void **state) {
  (void)state;
  static const char *const good[] = {
      "{\"iss\":\"" ISSUER "\",\"aud\":\"tessera\",\"exp\":1700000300}",
      "{\"iss\":\"" ISSUER "\",\"aud\":[\"other\",\"tessera\"],\"exp\":1700000300}",
  };
  static const char *const bad[] = {
      "{\"iss\":\"" ISSUER "\",\"aud\":\"tesserae\",\"exp\":1700000300}",
      "{\"iss\":\"" ISSUER "\",\"aud\":\"tess\",\"exp\":1700000300}",
      "{\"iss\":\"" ISSUER "\",\"aud\":[\"other\",\"tessera2\"],\"exp\":1700000300}",
      "{\"iss\":\"" ISSUER "\",\"aud\":[],\"exp\":1700000300}",
      "{\"iss\":\"" ISSUER "\",\"aud\":[[\"tessera\"]],\"exp\":1700000300}",
      "{\"iss\":\"" ISSUER "\",\"aud\":{\"tessera\":1},\"exp\":1700000300}",
      "{\"iss\":\"" ISSUER "\",\"exp\":1700000300}",
  };
  const char *why = NULL;
  for (size_t i = 0; i < sizeof good / sizeof *good; i++)
    assert_int_equal(check(good[i], &why), TE_OK);
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_int_equal(check(bad[i], &why), TE_FORBIDDEN);
    assert_string_equal(why, "wrong audience");
  }
}

/* ---- JWK Sets ---- */

static void jwks_skips_keys_not_meant_for_us(void **state) {
  (void)state;
  json_t *enc = public_jwk(rsa_b, "enc");
  json_object_set_new(enc, "use", json_string("enc"));
  json_t *hs = public_jwk(rsa_b, "hs");
  json_object_set_new(hs, "alg", json_string("HS256"));
  json_t *ps = public_jwk(rsa_b, "ps");
  json_object_set_new(ps, "alg", json_string("PS256"));
  json_t *ec_rs = public_jwk(ec_b, "ec-rs");
  json_object_set_new(ec_rs, "alg", json_string("RS256"));
  json_t *sig = public_jwk(rsa_a, "r1");
  json_object_set_new(sig, "use", json_string("sig"));
  json_object_set_new(sig, "alg", json_string("RS256"));
  json_t *ec = public_jwk(ec_a, "e1");
  json_object_set_new(ec, "alg", json_string("ES256"));
  json_t *p384 = public_jwk(ec_b, "p384"); /* coordinates that would do for P-256 */
  json_object_set_new(p384, "crv", json_string("P-384"));
  struct jwk_set *set =
      set_of(json_pack("{s:s, s:s, s:s}", "kty", "oct", "kid", "oct", "k", "c2VjcmV0"),
             json_pack("{s:s, s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519", "kid", "okp", "x",
                       "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
             p384, json_pack("{s:s, s:s}", "kid", "no-kty", "n", "AQAB"), enc, hs, ps, ec_rs, sig,
             ec, NULL);
  assert_int_equal(set->count, 2);
  const char *skipped[] = {"oct", "okp", "p384", "no-kty", "enc", "hs", "ps", "ec-rs"};
  for (size_t i = 0; i < sizeof skipped / sizeof *skipped; i++)
    assert_null(jwk_set_find(set, skipped[i]));
  assert_non_null(jwk_set_find(set, "r1"));
  assert_int_equal(jwk_set_find(set, "r1")->alg, JWK_RS256);
  assert_int_equal(jwk_set_find(set, "e1")->alg, JWK_ES256);
  assert_null(jwk_set_find(set, ""));
  assert_null(jwk_set_find(set, NULL));
  jwk_set_free(set);
}

static void jwks_with_more_than_32_keys_is_refused(void **state) {
  (void)state;
  for (int n = JWKS_MAX_KEYS; n <= JWKS_MAX_KEYS + 1; n++) {
    json_t *keys = json_array();
    for (int i = 0; i < n; i++) {
      char kid[16];
      snprintf(kid, sizeof kid, "k%d", i);
      json_array_append_new(keys, public_jwk(ec_a, kid));
    }
    json_t *root = json_pack("{s:o}", "keys", keys);
    char *text = json_dumps(root, 0);
    struct jwk_set *set = NULL;
    const char *why = NULL;
    int rc = parse_text(text, &set, &why);
    if (n == JWKS_MAX_KEYS) {
      assert_int_equal(rc, TE_OK);
      assert_int_equal(set->count, JWKS_MAX_KEYS);
    } else {
      assert_int_equal(rc, TE_BAD_REQUEST);
      assert_null(set);
      assert_string_equal(why, "key set has too many keys");
    }
    jwk_set_free(set);
    free(text);
    json_decref(root);
  }
}

static void jwks_skips_weak_and_odd_rsa_keys(void **state) {
  (void)state;
  json_t *e_one = public_jwk(rsa_b, "e-one");
  json_object_set_new(e_one, "e", json_string("AQ")); /* 1 */
  json_t *e_even = public_jwk(rsa_b, "e-even");
  json_object_set_new(e_even, "e", json_string("AQAA")); /* 65536 */
  json_t *no_e = public_jwk(rsa_b, "no-e");
  json_object_del(no_e, "e");
  struct jwk_set *set =
      set_of(public_jwk(rsa_small, "small"), e_one, e_even, no_e, public_jwk(rsa_a, "r1"), NULL);
  assert_int_equal(set->count, 1);
  assert_null(jwk_set_find(set, "small"));
  assert_non_null(jwk_set_find(set, "r1"));
  jwk_set_free(set);
}

static void jwks_skips_ec_points_off_the_curve(void **state) {
  (void)state;
  json_t *off = public_jwk(ec_b, "off");
  /* y with its lowest bit flipped: for this x only y and p - y are on the curve */
  unsigned char *y = NULL;
  size_t len = 0;
  const char *text = json_string_value(json_object_get(off, "y"));
  assert_int_equal(jwk_base64url_decode(text, strlen(text), &y, &len), TE_OK);
  assert_int_equal(len, 32);
  y[31] ^= 1;
  set_owned(off, "y", b64url(y, 32));
  free(y);
  json_t *short_x = public_jwk(ec_b, "short");
  json_object_set_new(short_x, "x", json_string("AAAA"));
  /* a valid x followed by 32 more bytes: only the whole member counts */
  json_t *long_x = public_jwk(ec_b, "long");
  unsigned char *x = NULL;
  text = json_string_value(json_object_get(long_x, "x"));
  assert_int_equal(jwk_base64url_decode(text, strlen(text), &x, &len), TE_OK);
  unsigned char wide[64] = {0};
  memcpy(wide, x, 32);
  free(x);
  set_owned(long_x, "x", b64url(wide, sizeof wide));
  json_t *zero = public_jwk(ec_b, "zero");
  char *zeros = b64url((const unsigned char[32]){0}, 32);
  json_object_set_new(zero, "x", json_string(zeros));
  json_object_set_new(zero, "y", json_string(zeros));
  free(zeros);
  struct jwk_set *set = set_of(off, short_x, long_x, zero, public_jwk(ec_a, "e1"), NULL);
  assert_int_equal(set->count, 1);
  assert_null(jwk_set_find(set, "off"));
  assert_non_null(jwk_set_find(set, "e1"));
  jwk_set_free(set);
}

/* The JWKS must use strict base64url (RFC 7517 §A: unpadded url-safe alphabet). A key spelt in
 * standard base64 or padded is refused, not guessed at: the set is then malformed. */
static void jwks_refuses_keys_that_are_not_base64url(void **state) {
  (void)state;
  json_t *jwk = public_jwk(rsa_a, "r1");
  char *n = strdup(json_string_value(json_object_get(jwk, "n")));
  assert_int_equal(strlen(n), 342); /* 256 bytes: 2 padding characters were stripped */
  size_t len = strlen(n);
  char *variants[5];
  for (int i = 0; i < 5; i++) {
    variants[i] = calloc(len + 3, 1);
    memcpy(variants[i], n, len);
  }
  strcat(variants[0], "==");
  variants[1][0] = '+';
  variants[2][100] = '/';
  variants[3][100] = '!';
  variants[4][len - 1] = 'B'; /* nonzero bits past the last byte */
  for (int i = 0; i < 5; i++) {
    json_t *bad = json_deep_copy(jwk);
    json_object_set_new(bad, "n", json_string(variants[i]));
    json_t *root = json_pack("{s:[o]}", "keys", bad);
    char *text = json_dumps(root, 0);
    struct jwk_set *set = NULL;
    const char *why = NULL;
    assert_int_equal(parse_text(text, &set, &why), TE_BAD_REQUEST);
    assert_string_equal(why, "key set has a key member that is not base64url");
    assert_null(set);
    free(text);
    json_decref(root);
    free(variants[i]);
  }
  free(n);
  /* and the original spelling parses */
  struct jwk_set *set = set_of(jwk, NULL);
  assert_int_equal(set->count, 1);
  jwk_set_free(set);
}

static void jwks_malformed_is_refused(void **state) {
  (void)state;
  static const struct {
    const char *text, *why;
  } cases[] = {
      {"", "key set is not valid JSON"},
      {"{\"keys\":[]", "key set is not valid JSON"},
      {"{\"keys\":[],\"keys\":[]}", "key set is not valid JSON"},
      {"{\"keys\":[]} x", "key set is not valid JSON"},
      {"[]", "key set is not a JSON object"},
      {"{}", "key set has no \"keys\" array"},
      {"{\"keys\":{}}", "key set has no \"keys\" array"},
      {"{\"keys\":[1]}", "key set entry is not a JSON object"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    struct jwk_set *set = NULL;
    const char *why = NULL;
    assert_int_equal(parse_text(cases[i].text, &set, &why), TE_BAD_REQUEST);
    assert_string_equal(why, cases[i].why);
    assert_null(set);
  }
  /* Over the byte limit, however valid: {"keys":[]} followed by spaces. */
  char *big = malloc(JWKS_MAX_BYTES + 2);
  assert_non_null(big);
  memset(big, ' ', JWKS_MAX_BYTES + 1);
  memcpy(big, "{\"keys\":[]}", 11);
  big[JWKS_MAX_BYTES + 1] = '\0';
  struct jwk_set *set = NULL;
  const char *why = NULL;
  assert_int_equal(parse_text(big, &set, &why), TE_BAD_REQUEST);
  assert_string_equal(why, "key set too large");
  big[JWKS_MAX_BYTES] = '\0';
  assert_int_equal(parse_text(big, &set, &why), TE_OK);
  assert_int_equal(set->count, 0); /* the caller decides what an empty set means */
  jwk_set_free(set);
  free(big);
}

/* A provider that publishes its private key by mistake must not make us hold it. */
static void jwks_keeps_no_private_material(void **state) {
  (void)state;
  json_t *jwk = public_jwk(rsa_a, "r1");
  set_owned(jwk, "d", bn_b64url(rsa_a, OSSL_PKEY_PARAM_RSA_D, 0));
  set_owned(jwk, "p", bn_b64url(rsa_a, OSSL_PKEY_PARAM_RSA_FACTOR1, 0));
  set_owned(jwk, "q", bn_b64url(rsa_a, OSSL_PKEY_PARAM_RSA_FACTOR2, 0));
  json_t *ec = public_jwk(ec_a, "e1");
  set_owned(ec, "d", bn_b64url(ec_a, OSSL_PKEY_PARAM_PRIV_KEY, 32));
  struct jwk_set *set = set_of(jwk, ec, NULL);
  assert_int_equal(set->count, 2);
  BIGNUM *bn = NULL;
  assert_int_equal(EVP_PKEY_get_bn_param(jwk_set_find(set, "r1")->pkey, OSSL_PKEY_PARAM_RSA_D, &bn),
                   0);
  assert_int_equal(
      EVP_PKEY_get_bn_param(jwk_set_find(set, "e1")->pkey, OSSL_PKEY_PARAM_PRIV_KEY, &bn), 0);
  assert_null(bn);
  /* and the public half is there: the test can tell the difference */
  assert_int_equal(EVP_PKEY_get_bn_param(jwk_set_find(set, "r1")->pkey, OSSL_PKEY_PARAM_RSA_N, &bn),
                   1);
  BN_free(bn);
  jwk_set_free(set);
}

static void jwks_keeps_the_first_of_a_repeated_kid(void **state) {
  (void)state;
  struct jwk_set *set = set_of(public_jwk(rsa_a, "r1"), public_jwk(rsa_b, "r1"), NULL);
  assert_int_equal(set->count, 1);
  char *token = sign_token("{\"alg\":\"RS256\",\"kid\":\"r1\"}", claims_json, rsa_a);
  const char *why = NULL;
  assert_int_equal(verify(token, set, &why), TE_OK);
  free(token);
  jwk_set_free(set);
}

static void base64url_decoding_is_strict(void **state) {
  (void)state;
  static const struct {
    const char *in, *out;
  } good[] = {{"", ""}, {"QQ", "A"}, {"QUI", "AB"}, {"QUJD", "ABC"}, {"-_8", "\xfb\xff"}};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
    unsigned char *out = NULL;
    size_t len = 0;
    assert_int_equal(jwk_base64url_decode(good[i].in, strlen(good[i].in), &out, &len), TE_OK);
    assert_int_equal(len, strlen(good[i].out));
    assert_memory_equal(out, good[i].out, len);
    free(out);
  }
  static const char *const bad[] = {"Q", "QQ==", "QR", "QUJ", "+/8", "QU JD", "QUJD\n", "QQ\x80"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    unsigned char *out = (unsigned char *)1;
    size_t len = 0;
    assert_int_equal(jwk_base64url_decode(bad[i], strlen(bad[i]), &out, &len), TE_BAD_REQUEST);
    assert_null(out);
  }
  /* an embedded NUL is not a digit */
  unsigned char *out = NULL;
  size_t len = 0;
  assert_int_equal(jwk_base64url_decode("QU\0D", 4, &out, &len), TE_BAD_REQUEST);
}

/* ---- the parsed-JWKS cache ---- */

/* {"keys": [the public JWK of pkey as kid "k"]} as text. */
static char *jwks_text(EVP_PKEY *pkey) {
  json_t *root = json_pack("{s:[o]}", "keys", public_jwk(pkey, "k"));
  char *text = json_dumps(root, 0);
  json_decref(root);
  assert_non_null(text);
  return text;
}

static int verify_cached(const char *owner, const char *jwks, const char *token,
                         const struct jwk_set **seen) {
  const struct jwk_set *keys = NULL;
  struct jwk_cached *held = NULL;
  const char *why = NULL;
  int rc = jwk_cache_get(owner, jwks, strlen(jwks), &keys, &held, &why);
  if (rc == TE_OK)
    rc = verify(token, keys, &why);
  if (seen)
    *seen = keys;
  jwk_cache_release(held);
  return rc;
}

static void jwk_cache_reuses_a_set_only_for_the_same_text(void **state) {
  (void)state;
  char *text_a = jwks_text(rsa_a), *text_b = jwks_text(rsa_b);
  char *token_a = sign_token("{\"alg\":\"RS256\",\"kid\":\"k\"}", claims_json, rsa_a);
  char *token_b = sign_token("{\"alg\":\"RS256\",\"kid\":\"k\"}", claims_json, rsa_b);
  const struct jwk_set *first = NULL, *again = NULL, *other = NULL;
  assert_int_equal(verify_cached("issuer-1", text_a, token_a, &first), TE_OK);
  assert_int_equal(verify_cached("issuer-1", text_a, token_a, &again), TE_OK);
  assert_ptr_equal(first, again); /* parsed once */
  /* The issuer's keys rotated (same kid, another key): the old key no longer verifies. */
  assert_int_equal(verify_cached("issuer-1", text_b, token_a, &other), TE_FORBIDDEN);
  assert_ptr_not_equal(other, first);
  assert_int_equal(verify_cached("issuer-1", text_b, token_b, NULL), TE_OK);
  /* Another owner with the first text has keys of its own; the first owner's stay rotated. */
  assert_int_equal(verify_cached("issuer-2", text_a, token_a, NULL), TE_OK);
  assert_int_equal(verify_cached("issuer-1", text_b, token_a, NULL), TE_FORBIDDEN);
  /* A text that does not parse is refused as jwk_set_parse refuses it, every time. */
  const struct jwk_set *keys = (const struct jwk_set *)1;
  struct jwk_cached *held = (struct jwk_cached *)1;
  const char *why = NULL;
  for (int i = 0; i < 2; i++) {
    assert_int_equal(jwk_cache_get("issuer-1", "{\"keys\":7}", 11, &keys, &held, &why),
                     TE_BAD_REQUEST);
    assert_null(keys);
    assert_null(held);
  }
  assert_int_equal(verify_cached("issuer-1", text_b, token_b, NULL), TE_OK);
  jwk_cache_clear();
  free(token_a);
  free(token_b);
  free(text_a);
  free(text_b);
}

/* Keys a caller holds outlive their entry's replacement and the cache's clearing. */
static void jwk_cache_keeps_held_keys_valid(void **state) {
  (void)state;
  char *text_a = jwks_text(rsa_a), *text_b = jwks_text(rsa_b);
  char *token_a = sign_token("{\"alg\":\"RS256\",\"kid\":\"k\"}", claims_json, rsa_a);
  const struct jwk_set *keys = NULL;
  struct jwk_cached *held = NULL;
  const char *why = NULL;
  assert_int_equal(jwk_cache_get("issuer-1", text_a, strlen(text_a), &keys, &held, &why), TE_OK);
  assert_int_equal(verify_cached("issuer-1", text_b, token_a, NULL), TE_FORBIDDEN);
  jwk_cache_clear();
  assert_int_equal(verify(token_a, keys, &why), TE_OK);
  jwk_cache_release(held);
  free(token_a);
  free(text_a);
  free(text_b);
}

static int make_keys(void **state) {
  (void)state;
  rsa_a = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
  rsa_b = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
  rsa_small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
  ec_a = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  ec_b = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  return rsa_a && rsa_b && rsa_small && ec_a && ec_b ? 0 : -1;
}

static int free_keys(void **state) {
  (void)state;
  EVP_PKEY_free(rsa_a);
  EVP_PKEY_free(rsa_b);
  EVP_PKEY_free(rsa_small);
  EVP_PKEY_free(ec_a);
  EVP_PKEY_free(ec_b);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(rs256_token_verifies),
      cmocka_unit_test(jwk_cache_reuses_a_set_only_for_the_same_text),
      cmocka_unit_test(jwk_cache_keeps_held_keys_valid),
      cmocka_unit_test(es256_token_verifies),
      cmocka_unit_test(token_is_read_by_length),
      cmocka_unit_test(tampered_payload_is_forbidden),
      cmocka_unit_test(tampered_signature_is_forbidden),
      cmocka_unit_test(another_key_with_the_same_kid_is_forbidden),
      cmocka_unit_test(es256_signature_of_another_length_is_refused),
      cmocka_unit_test(unknown_kid_is_not_found),
      cmocka_unit_test(no_kid_uses_the_only_key_of_that_alg),
      cmocka_unit_test(no_kid_with_two_keys_of_that_alg_is_refused),
      cmocka_unit_test(alg_none_is_refused),
      cmocka_unit_test(hs256_with_the_public_key_as_secret_is_refused),
      cmocka_unit_test(alg_must_match_the_key_type),
      cmocka_unit_test(a_kid_shared_by_two_key_types_selects_by_alg),
      cmocka_unit_test(oversized_token_is_refused),
      cmocka_unit_test(tokens_must_have_three_non_empty_parts),
      cmocka_unit_test(token_parts_must_be_strict_base64url),
      cmocka_unit_test(header_and_payload_must_be_json_objects),
      cmocka_unit_test(crit_header_is_refused),
      cmocka_unit_test(expiry_is_required_and_checked_with_leeway),
      cmocka_unit_test(not_before_and_issued_at_are_checked_with_leeway),
      cmocka_unit_test(issuer_must_match),
      cmocka_unit_test(audience_must_match_or_be_listed),
      cmocka_unit_test(jwks_skips_keys_not_meant_for_us),
      cmocka_unit_test(jwks_with_more_than_32_keys_is_refused),
      cmocka_unit_test(jwks_skips_weak_and_odd_rsa_keys),
      cmocka_unit_test(jwks_skips_ec_points_off_the_curve),
      cmocka_unit_test(jwks_refuses_keys_that_are_not_base64url),
      cmocka_unit_test(jwks_malformed_is_refused),
      cmocka_unit_test(jwks_keeps_no_private_material),
      cmocka_unit_test(jwks_keeps_the_first_of_a_repeated_kid),
      cmocka_unit_test(base64url_decoding_is_strict),
  };
  return cmocka_run_group_tests(tests, make_keys, free_keys);
}
