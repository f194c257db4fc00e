/* libFuzzer target for every handler behind the real router (http/dispatch.c, router.c,
 * api/routes.c and the handlers in api/), with a real SQLite store: requests are made in memory,
 * without a socket (a struct request whose conn is NULL carries its own headers, query and
 * cookies). Built and run by scripts/fuzz (see fuzz/README.md).
 *
 * Input: four bytes, then six parts separated by NUL bytes (the last, the body, may hold NULs):
 *   route method credential flags p0 NUL p1 NUL p2 NUL query NUL auth NUL body
 * - route: an index into routes[] (modulo their number + 1); the extra value routes the literal
 *   path "/" + p0 instead.
 * - method: below 0xf0 the route's own; otherwise one of `methods` below (405s, HEAD, junk).
 * - credential: who asks (modulo CRED_COUNT, see `enum cred`): nobody, fixture users' personal
 *   tokens, org and team tokens, an expired one, one from an OIDC exchange, a console session
 *   cookie with or without its CSRF token, a look-alike with a bad checksum, or the auth part
 *   itself as the Authorization header (and as the session cookie).
 * - flags: bits 0-1 Content-Type (application/json, form-urlencoded, text/plain, none); bits 2-3
 *   Sec-Fetch-Site (none, same-origin, cross-site, absent); bit 4 replaces every "$ID_TOKEN" in
 *   the body with an ES256 ID token whose claims are the auth part, signed by the key that the
 *   fixture OIDC issuers trust (so exchanges and explain get past the signature); bit 5 signs it
 *   under a key id the issuers lack (a key refresh).
 * - p0, p1, p2 fill the route's {} segments in order: empty picks the first fixture for that
 *   segment (an organization, login, team, token, issuer or policy id, console file), one byte
 *   below 0x20 picks fixture number byte, anything else is used as it is.
 * - query: name=value pairs joined by '&', percent-decoded as MHD does.
 *
 * The store is opened as tessera serve opens it (store_sqlite_open + store_cache_wrap, lastUsed
 * coalescing) in $TESSERA_FUZZ_DB_DIR (scripts/fuzz puts it in /dev/shm, where fsync is free), or
 * a new directory under /dev/shm or $TMPDIR, and filled with fixtures through the store interface.
 * Every RESET_EVERY inputs ($TESSERA_FUZZ_RESET_EVERY) the database is checked (its audit chain
 * must verify), removed and made afresh, which bounds its growth; inputs in between see each
 * other's changes, so a crash that needs earlier inputs may not reproduce from its input alone.
 * TESSERA_FUZZ_VERBOSE prints each request and the start of its reply on stderr.
 * OIDC fetches go to an HTTPS proxy on a loopback address, which the fetcher refuses: nothing
 * leaves the machine.
 *
 * Invariants (abort() on violation): a reply was made (deferred ones within 10 s); its status is
 * 2xx, 3xx or 4xx, or 503; an error's body is exactly {"code": status, "message": "<Status
 * text>: ..."} (the token exchange's 400s are RFC 6749's {"error", "error_description"}); a JSON
 * success parses; no reply carries a fixture token's or session's value; authenticated routes
 * answer 401 without valid credentials; nobody outside an organization gets a 2xx from it, nor
 * do acme's org, team and exchange tokens from another organization or from /api/user/tokens; a
 * session's changes without its CSRF token are refused; the audit log verifies after every
 * epoch.
 */
#include "fuzz_b64url.h"
#include "http/dispatch.h"

#include "api/api.h"
#include "api/web_assets.h"
#include "core/error.h"
#include "core/timeutil.h"
#include "core/token.h"
#include "http/auth.h"
#include "http/offload.h"
#include "http/router.h"
#include "store/lastused.h"
#include "store/store.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RESET_EVERY 500
#define QUERY_MAX 32
#define DEFER_WAIT_US (10 * 1000000)
#define ISSUER_URL "https://ci.example.com"
#define DISCOVERED_URL "https://token.actions.githubusercontent.com"

enum cred {
  CRED_NONE,
  CRED_SITE_ADMIN,      /* root: site admin, admin of acme, capped and other */
  CRED_ORG_ADMIN,       /* alice: admin of acme */
  CRED_MEMBER,          /* bob: member of acme and capped, admin of team devs */
  CRED_SOON,            /* carol: member of acme and devs; her token expires within the hour */
  CRED_OUTSIDER,        /* mallory: in no organization */
  CRED_ORG_TOKEN_ADMIN, /* acme's admin org token */
  CRED_ORG_TOKEN,       /* acme's member org token */
  CRED_TEAM_TOKEN,      /* devs' team token */
  CRED_EXPIRED,         /* alice's, expired */
  CRED_OIDC_PERSONAL,   /* bob's, from an exchange with the ci issuer: confined to acme */
  CRED_SESSION,         /* alice's console session, with its CSRF token */
  CRED_SESSION_NO_CSRF, /* the same cookie; the auth part (if any) as X-CSRF-Token */
  CRED_LITERAL,         /* the auth part as Authorization and as the session cookie */
  CRED_BEARER,          /* alice's token as "bEaReR\t<value> " */
  CRED_BAD_CHECKSUM,    /* alice's token with its last digit changed */
  CRED_CAPPED,          /* bob's, expiring in 10 days: within capped's 30-day cap */
  CRED_COUNT
};

static const char *const methods[16] = {"GET",     "POST",  "PATCH",   "DELETE", "PUT",  "HEAD",
                                        "OPTIONS", "TRACE", "CONNECT", "get",    "post", "",
                                        "GET ",    "PATCH", "DELETE",  "POST"};

struct fixture {
  char dir[256], path[320];
  bool own_dir;
  struct app app;
  struct store *store;
  char value[CRED_COUNT][TOKEN_VALUE_LEN + 1]; /* token values ("" where a credential has none) */
  unsigned char value_hash[CRED_COUNT][TOKEN_HASH_LEN];
  char session[SESSION_VALUE_LEN + 1], csrf[CSRF_TOKEN_LEN + 1];
  unsigned char session_hash[TOKEN_HASH_LEN];
  char personal_id[5][TOKEN_ID_LEN + 1]; /* alice's, bob's, carol's, alice's expired, unknown */
  char machine_id[4][TOKEN_ID_LEN + 1];  /* acme admin org, acme member org, devs team, unknown */
  char issuer_id[3][TOKEN_ID_LEN + 1];   /* static ci, discovered gh, unknown */
  char policy_id[3][TOKEN_ID_LEN + 1];
  EVP_PKEY *signer; /* the ci and gh issuers' key */
  char *jwks;
  unsigned long inputs;
  unsigned long reset_every;
  bool verbose; /* TESSERA_FUZZ_VERBOSE: each request and its reply on stderr */
};

static struct fixture fx;

static void check(bool ok, const char *invariant) {
  if (!ok) {
    fprintf(stderr, "fuzz_router: broken invariant: %s\n", invariant);
    abort();
  }
}

static void must(int rc, const char *what) {
  if (rc != TE_OK) {
    fprintf(stderr, "fuzz_router: fixture: %s failed (%d)\n", what, rc);
    abort();
  }
}

/* ---- Fixtures ---- */

static char *b64url(const unsigned char *in, size_t len) {
  return fuzz_b64url(in, len);
}

static char *coordinate(const char *name) {
  BIGNUM *bn = NULL;
  unsigned char bin[32];
  check(EVP_PKEY_get_bn_param(fx.signer, name, &bn) == 1 && BN_bn2binpad(bn, bin, 32) == 32,
        "key coordinate");
  BN_free(bn);
  return b64url(bin, sizeof bin);
}

static void make_signer(void) {
  fx.signer = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  check(fx.signer != NULL, "key generation");
  char *x = coordinate(OSSL_PKEY_PARAM_EC_PUB_X), *y = coordinate(OSSL_PKEY_PARAM_EC_PUB_Y);
  char jwks[512];
  snprintf(jwks, sizeof jwks,
           "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"e1\",\"crv\":\"P-256\",\"alg\":\"ES256\","
           "\"x\":\"%s\",\"y\":\"%s\"}]}",
           x, y);
  fx.jwks = strdup(jwks);
  check(fx.jwks != NULL, "memory");
  free(x);
  free(y);
}

/* A compact ES256 JWS of claims under kid, signed with the issuers' key. */
static char *id_token(const char *claims, size_t len, const char *kid) {
  char header[64];
  snprintf(header, sizeof header, "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"%s\"}", kid);
  char *h = b64url((const unsigned char *)header, strlen(header));
  char *p = b64url((const unsigned char *)claims, len);
  size_t input_len = strlen(h) + 1 + strlen(p);
  char *input = malloc(input_len + 1);
  check(input != NULL, "memory");
  snprintf(input, input_len + 1, "%s.%s", h, p);
  unsigned char der[128], raw[64];
  size_t der_len = sizeof der;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  check(ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, fx.signer) == 1 &&
            EVP_DigestSign(ctx, der, &der_len, (unsigned char *)input, input_len) == 1,
        "signing");
  EVP_MD_CTX_free(ctx);
  const unsigned char *d = der;
  ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &d, (long)der_len);
  check(sig && BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32) == 32 &&
            BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32) == 32,
        "ECDSA signature");
  ECDSA_SIG_free(sig);
  char *s = b64url(raw, sizeof raw);
  size_t out_len = input_len + 1 + strlen(s);
  char *out = malloc(out_len + 1);
  check(out != NULL, "memory");
  snprintf(out, out_len + 1, "%s.%s", input, s);
  free(h);
  free(p);
  free(s);
  free(input);
  return out;
}

static struct store_user add_user(const char *login, bool site_admin) {
  struct store_user u = {.site_admin = site_admin}, out;
  snprintf(u.login, sizeof u.login, "%s", login);
  snprintf(u.name, sizeof u.name, "%s %s", login, "Fixture");
  snprintf(u.email, sizeof u.email, "%s@example.com", login);
  must(fx.store->ops->user_create(fx.store, &u, &out), "user_create");
  return out;
}

static void new_secret(struct store_token *t, char value[TOKEN_VALUE_LEN + 1]) {
  token_new_id(t->id);
  token_generate(value);
  token_hash(value, TOKEN_VALUE_LEN, t->hash);
}

/* A personal token of user that expires at expires (0: never); its value into value. */
static void add_personal(const struct store_user *user, int64_t expires, enum cred cred,
                         char id[TOKEN_ID_LEN + 1]) {
  struct store_token t = {.kind = TOKEN_PERSONAL,
                          .user_id = user->id,
                          .created = time_now() - 60,
                          .expires = expires,
                          .source = TOKEN_SOURCE_ADMIN};
  snprintf(t.description, sizeof t.description, "fixture for %s", user->login);
  new_secret(&t, fx.value[cred]);
  must(fx.store->ops->token_insert(fx.store, &t, NULL, NULL, NULL), "token_insert");
  if (id)
    memcpy(id, t.id, TOKEN_ID_LEN + 1);
}

static void add_machine(const struct store_org *org, const struct store_team *team, bool admin,
                        const char *name, enum cred cred, char id[TOKEN_ID_LEN + 1]) {
  struct store_token t = {.kind = team ? TOKEN_TEAM : TOKEN_ORG,
                          .org_id = org->id,
                          .team_id = team ? team->id : 0,
                          .admin = admin,
                          .created = time_now() - 60,
                          .source = TOKEN_SOURCE_API};
  snprintf(t.name, sizeof t.name, "%s", name);
  snprintf(t.created_by, sizeof t.created_by, "alice");
  new_secret(&t, fx.value[cred]);
  must(fx.store->ops->machine_token_insert(fx.store, NULL, &t, NULL), "machine_token_insert");
  memcpy(id, t.id, TOKEN_ID_LEN + 1);
}

static void add_issuer(const struct store_org *org, int n, const char *name, const char *url,
                       bool discovered) {
  struct store_oidc_issuer i = {
      .org_id = org->id, .static_jwks = !discovered, .max_expiration = 3600, .policy_version = 1};
  token_new_id(i.id);
  token_new_id(i.policy_id);
  snprintf(i.name, sizeof i.name, "%s", name);
  snprintf(i.url, sizeof i.url, "%s", url);
  snprintf(i.issuer, sizeof i.issuer, "%s", url);
  if (discovered)
    snprintf(i.jwks_uri, sizeof i.jwks_uri, "%s/.well-known/jwks", url);
  snprintf(i.thumbprints, sizeof i.thumbprints, "[]");
  i.jwks = fx.jwks;
  i.policy = "[{\"decision\":\"allow\",\"tokenType\":\"organization\",\"authorizedPermissions\":"
             "[\"admin\"],\"rules\":{\"sub\":\"repo:acme/*\"}},{\"decision\":\"allow\","
             "\"tokenType\":\"team\",\"teamName\":\"devs\",\"authorizedPermissions\":[],"
             "\"rules\":{\"sub\":\"repo:acme/*\"}},{\"decision\":\"allow\",\"tokenType\":"
             "\"personal\",\"userLogin\":\"bob\",\"authorizedPermissions\":[],\"rules\":"
             "{\"sub\":\"repo:acme/*\"}},{\"decision\":\"deny\",\"tokenType\":\"organization\","
             "\"authorizedPermissions\":[],\"rules\":{\"ref\":\"refs/heads/evil*\"}}]";
  i.created = i.modified = i.policy_modified = time_now() - 60;
  must(fx.store->ops->oidc_issuer_insert(fx.store, NULL, &i, NULL), "oidc_issuer_insert");
  memcpy(fx.issuer_id[n], i.id, TOKEN_ID_LEN + 1);
  memcpy(fx.policy_id[n], i.policy_id, TOKEN_ID_LEN + 1);
}

static void add_session(const struct store_user *user) {
  struct store_token t = {.kind = TOKEN_PERSONAL,
                          .user_id = user->id,
                          .source = TOKEN_SOURCE_SESSION,
                          .created = time_now(),
                          .expires = time_now() + 12 * 3600};
  unsigned char random[SESSION_VALUE_LEN / 2];
  check(RAND_bytes(random, sizeof random) == 1, "random bytes");
  for (size_t i = 0; i < sizeof random; i++)
    snprintf(fx.session + 2 * i, 3, "%02x", random[i]);
  token_new_id(t.id);
  token_hash(fx.session, SESSION_VALUE_LEN, t.hash);
  snprintf(t.description, sizeof t.description, "console session");
  must(fx.store->ops->token_insert(fx.store, &t, NULL, NULL, NULL), "session insert");
  auth_session_csrf(fx.session, fx.csrf);
}

static void populate(void) {
  struct store *s = fx.store;
  int64_t now = time_now();
  struct store_user root = add_user("root", true), alice = add_user("alice", false),
                    bob = add_user("bob", false), carol = add_user("carol", false),
                    mallory = add_user("mallory", false);
  add_user("dave", false);
  const char *orgs[] = {"acme", "capped", "other"};
  for (size_t i = 0; i < 3; i++) {
    must(s->ops->org_create(s, orgs[i]), "org_create");
    must(s->ops->member_set(s, orgs[i], "root", "admin"), "member_set");
  }
  must(s->ops->member_set(s, "acme", "alice", "admin"), "member_set");
  must(s->ops->member_set(s, "acme", "bob", "member"), "member_set");
  must(s->ops->member_set(s, "acme", "carol", "member"), "member_set");
  must(s->ops->member_set(s, "capped", "bob", "member"), "member_set");
  struct store_org acme, capped;
  must(s->ops->org_by_name(s, "acme", &acme), "org_by_name");
  must(s->ops->org_by_name(s, "capped", &capped), "org_by_name");
  must(s->ops->org_set_expiry_policy(s, NULL, capped.id, 30, NULL), "org_set_expiry_policy");

  struct store_team devs = {0};
  snprintf(devs.name, sizeof devs.name, "devs");
  snprintf(devs.display_name, sizeof devs.display_name, "Developers");
  must(s->ops->team_create(s, NULL, acme.id, &devs, NULL), "team_create");
  must(s->ops->team_get(s, acme.id, "devs", &devs), "team_get");
  struct store_team_update add_bob = {.action = TEAM_MEMBER_ADD, .member_id = bob.id};
  struct store_team_update promote_bob = {.action = TEAM_MEMBER_PROMOTE, .member_id = bob.id};
  struct store_team_update add_carol = {.action = TEAM_MEMBER_ADD, .member_id = carol.id};
  must(s->ops->team_update(s, NULL, acme.id, devs.id, &add_bob, NULL), "team_update");
  must(s->ops->team_update(s, NULL, acme.id, devs.id, &promote_bob, NULL), "team_update");
  must(s->ops->team_update(s, NULL, acme.id, devs.id, &add_carol, NULL), "team_update");

  add_personal(&root, 0, CRED_SITE_ADMIN, NULL);
  add_personal(&alice, 0, CRED_ORG_ADMIN, fx.personal_id[0]);
  add_personal(&bob, 0, CRED_MEMBER, fx.personal_id[1]);
  add_personal(&carol, now + 3600, CRED_SOON, fx.personal_id[2]);
  add_personal(&mallory, 0, CRED_OUTSIDER, NULL);
  add_personal(&alice, now - 3600, CRED_EXPIRED, fx.personal_id[3]);
  add_personal(&bob, now + 10 * 86400, CRED_CAPPED, NULL);
  token_new_id(fx.personal_id[4]);
  add_machine(&acme, NULL, true, "deploy", CRED_ORG_TOKEN_ADMIN, fx.machine_id[0]);
  add_machine(&acme, NULL, false, "reader", CRED_ORG_TOKEN, fx.machine_id[1]);
  add_machine(&acme, &devs, false, "devs-ci", CRED_TEAM_TOKEN, fx.machine_id[2]);
  token_new_id(fx.machine_id[3]);

  add_issuer(&acme, 0, "ci", ISSUER_URL, false);
  add_issuer(&acme, 1, "gh", DISCOVERED_URL, true);
  token_new_id(fx.issuer_id[2]);
  token_new_id(fx.policy_id[2]);
  struct store_token oidc = {.kind = TOKEN_PERSONAL,
                             .user_id = bob.id,
                             .created = now,
                             .expires = now + 3600,
                             .source = TOKEN_SOURCE_OIDC};
  snprintf(oidc.oidc_issuer, sizeof oidc.oidc_issuer, "%s", fx.issuer_id[0]);
  snprintf(oidc.created_by, sizeof oidc.created_by, "oidc:ci");
  new_secret(&oidc, fx.value[CRED_OIDC_PERSONAL]);
  struct audit_record a = {.timestamp = now};
  snprintf(a.org, sizeof a.org, "acme");
  snprintf(a.event, sizeof a.event, "personal-token-created-for-oidc-issuer");
  snprintf(a.user, sizeof a.user, "bob");
  must(s->ops->oidc_token_insert(s, &oidc, &a, NULL, NULL), "oidc_token_insert");

  add_session(&alice);
  memcpy(fx.value[CRED_BEARER], fx.value[CRED_ORG_ADMIN], TOKEN_VALUE_LEN + 1);
  for (int c = 0; c < CRED_COUNT; c++)
    token_hash(fx.value[c], strlen(fx.value[c]), fx.value_hash[c]);
  token_hash(fx.session, SESSION_VALUE_LEN, fx.session_hash);
}

static void remove_files(void) {
  static const char *const suffixes[] = {"",         "-wal",       "-shm",
                                         "-journal", ".audit-key", ".audit-head"};
  for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
    char file[400];
    snprintf(file, sizeof file, "%s%s", fx.path, suffixes[i]);
    unlink(file);
  }
}

static void open_store(void) {
  remove_files();
  struct store *sqlite;
  must(store_sqlite_open(fx.path, 2, &sqlite), "store_sqlite_open");
  must(store_cache_wrap(sqlite, 100, 1000, 10, &fx.store), "store_cache_wrap");
  fx.app.store = fx.store;
  fx.app.routes = api_routes;
  must(lastused_start(fx.store, 60, LASTUSED_TICK_MS, &fx.app.lastused), "lastused_start");
  memset(fx.value, 0, sizeof fx.value);
  populate();
}

/* Ends an epoch: everything written must have kept the audit chain intact. */
static void close_store(void) {
  lastused_stop(fx.app.lastused);
  fx.store->ops->close(fx.store);
  int64_t count = 0;
  char report[256] = "";
  int rc = store_sqlite_audit_verify(fx.path, &count, report, sizeof report);
  if (rc != TE_OK)
    fprintf(stderr, "fuzz_router: audit verify: %s\n", report);
  check(rc == TE_OK, "the audit log verifies after an epoch");
}

static void at_exit(void) {
  offload_stop(fx.app.offload);
  close_store();
  remove_files();
  if (fx.own_dir)
    rmdir(fx.dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  /* Issuer documents would be fetched from the internet: send them to a proxy on a loopback
   * address instead, which the fetcher's socket check refuses at once. */
  setenv("https_proxy", "http://127.0.0.1:9", 1);
  setenv("HTTPS_PROXY", "http://127.0.0.1:9", 1);
  setenv("http_proxy", "http://127.0.0.1:9", 1);
  setenv("ALL_PROXY", "http://127.0.0.1:9", 1);
  unsetenv("NO_PROXY");
  unsetenv("no_proxy");
  check(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK, "curl_global_init");
  const char *dir = getenv("TESSERA_FUZZ_DB_DIR");
  if (dir && *dir) {
    snprintf(fx.dir, sizeof fx.dir, "%s", dir);
  } else {
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(fx.dir, sizeof fx.dir, "%s/tessera-fuzz-router.XXXXXX", base ? base : "/tmp");
    check(mkdtemp(fx.dir) != NULL, "a directory for the database");
    fx.own_dir = true;
  }
  snprintf(fx.path, sizeof fx.path, "%s/fuzz-%ld.db", fx.dir, (long)getpid());
  const char *every = getenv("TESSERA_FUZZ_RESET_EVERY");
  fx.reset_every = every && atol(every) > 0 ? (unsigned long)atol(every) : RESET_EVERY;
  fx.verbose = getenv("TESSERA_FUZZ_VERBOSE") != NULL;
  make_signer();
  /* Handlers that may block (issuer discovery, key refreshes) run again on these threads. */
  must(offload_start(&fx.app.offload), "offload_start");
  open_store();
  atexit(at_exit);
  return 0;
}

/* ---- Requests ---- */

struct parts {
  const char *p[5]; /* p0, p1, p2, query, auth: NUL-terminated */
  const char *body;
  size_t body_len;
};

static void split(const uint8_t *data, size_t size, char *copy, struct parts *out) {
  memcpy(copy, data, size);
  copy[size] = '\0';
  char *p = copy, *end = copy + size;
  for (int i = 0; i < 5; i++) {
    out->p[i] = p;
    char *nul = memchr(p, '\0', (size_t)(end - p));
    p = nul ? nul + 1 : end;
  }
  out->body = p;
  out->body_len = (size_t)(end - p);
}

/* The fixture a {} segment takes, by the segment before it in the pattern. */
static const char *fixture_for(const char *pattern, const char *brace, unsigned choice) {
  static const char *const orgs[] = {"acme", "capped", "other", "nosuch"};
  static const char *const logins[] = {"alice",   "bob",  "carol", "dave",
                                       "mallory", "root", "nobody"};
  static const char *const teams[] = {"devs", "nosuch"};
  const char *seg = brace - 1; /* the '/' before {} */
  while (seg > pattern && seg[-1] != '/')
    seg--;
  size_t seg_len = (size_t)(brace - 1 - seg);
#define IS(word) (seg_len == strlen(word) && strncmp(seg, word, seg_len) == 0)
#define PICK(list) list[choice % (sizeof list / sizeof *list)]
  if (IS("orgs"))
    return PICK(orgs);
  if (IS("members"))
    return PICK(logins);
  if (IS("teams"))
    return PICK(teams);
  if (IS("issuers") || IS("oidcissuers"))
    return fx.issuer_id[choice % 3];
  if (IS("policies"))
    return fx.policy_id[choice % 3];
  if (IS("console")) {
    size_t n = 0;
    while (web_assets[n].name)
      n++;
    return n ? web_assets[choice % n].name : "index.html";
  }
  if (IS("tokens")) {
    if (strncmp(pattern, "/api/user/", 10) == 0)
      return fx.personal_id[choice % 5];
    /* a team's tokens: its own first; an organization's: the org tokens first */
    const char *teams_at = strstr(pattern, "/teams/");
    bool team = teams_at && teams_at < brace;
    static const int team_order[] = {2, 0, 3}, org_order[] = {0, 1, 2, 3};
    return team ? fx.machine_id[team_order[choice % 3]] : fx.machine_id[org_order[choice % 4]];
  }
#undef PICK
#undef IS
  return "x";
}

/* Appends to a bounded buffer; false when it is full. */
static bool append(char *buf, size_t size, size_t *len, const char *text, size_t n) {
  if (*len + n >= size)
    return false;
  memcpy(buf + *len, text, n);
  *len += n;
  buf[*len] = '\0';
  return true;
}

static char *make_path(const struct route *route, const struct parts *parts) {
  size_t size = 3 * 4096, len = 0;
  char *path = malloc(size);
  check(path != NULL, "memory");
  path[0] = '\0';
  if (!route) {
    append(path, size, &len, "/", 1);
    append(path, size, &len, parts->p[0], strlen(parts->p[0]));
    return path;
  }
  int n = 0;
  for (const char *c = route->pattern; *c;) {
    if (c[0] == '{' && c[1] == '}') {
      const char *given = parts->p[n++ % 3];
      size_t given_len = strlen(given);
      const char *value = given_len == 0 ? fixture_for(route->pattern, c, 0)
                          : given_len == 1 && (unsigned char)given[0] < 0x20
                              ? fixture_for(route->pattern, c, (unsigned char)given[0])
                              : given;
      append(path, size, &len, value, strlen(value));
      c += 2;
    } else {
      append(path, size, &len, c, 1);
      c++;
    }
  }
  return path;
}

static int hex_value(char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

/* Percent-decodes in place, as MHD does for query names and values. */
static void unescape(char *s) {
  char *out = s;
  for (char *p = s; *p; p++) {
    if (p[0] == '%' && hex_value(p[1]) >= 0 && hex_value(p[2]) >= 0) {
      *out++ = (char)(hex_value(p[1]) * 16 + hex_value(p[2]));
      p += 2;
    } else {
      *out++ = *p;
    }
  }
  *out = '\0';
}

/* name=value pairs of text (modified in place) into query; a name without '=' has no value. */
static void parse_query(char *text, struct request_value query[QUERY_MAX + 1]) {
  int n = 0;
  char *save = NULL;
  for (char *pair = strtok_r(text, "&", &save); pair && n < QUERY_MAX;
       pair = strtok_r(NULL, "&", &save)) {
    char *eq = strchr(pair, '=');
    if (eq)
      *eq = '\0';
    unescape(pair);
    if (eq)
      unescape(eq + 1);
    query[n++] = (struct request_value){pair, eq ? eq + 1 : NULL};
  }
  query[n] = (struct request_value){NULL, NULL};
}

/* The body, with every "$ID_TOKEN" replaced by a token signed over the auth part when asked. */
static char *make_body(const struct parts *parts, unsigned flags, size_t *len) {
  static const char placeholder[] = "$ID_TOKEN";
  char *token = NULL;
  if (flags & 16)
    token = id_token(parts->p[4], strlen(parts->p[4]), flags & 32 ? "e9" : "e1");
  size_t token_len = token ? strlen(token) : 0, cap = parts->body_len + 1, n = 0;
  if (token) {
    size_t count = 0;
    for (const char *c = parts->body; c + sizeof placeholder - 1 <= parts->body + parts->body_len;
         c++)
      count += memcmp(c, placeholder, sizeof placeholder - 1) == 0;
    cap += count * token_len;
  }
  char *body = malloc(cap);
  check(body != NULL, "memory");
  for (size_t i = 0; i < parts->body_len;) {
    if (token && i + sizeof placeholder - 1 <= parts->body_len &&
        memcmp(parts->body + i, placeholder, sizeof placeholder - 1) == 0) {
      memcpy(body + n, token, token_len);
      n += token_len;
      i += sizeof placeholder - 1;
    } else {
      body[n++] = parts->body[i++];
    }
  }
  body[n] = '\0';
  free(token);
  *len = n;
  return body;
}

/* ---- Invariants ---- */

static bool starts_with(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void check_error_body(const struct request *req, bool oauth) {
  json_t *body = json_loadb(req->reply_body ? req->reply_body : "", req->reply_len, 0, NULL);
  check(json_is_object(body), "an error's body is a JSON object");
  if (oauth && req->status == 400) {
    check(json_object_size(body) == 2 && json_is_string(json_object_get(body, "error")) &&
              json_is_string(json_object_get(body, "error_description")),
          "an OAuth endpoint's 400 is {error, error_description}");
  } else {
    const char *message = json_string_value(json_object_get(body, "message"));
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s: ", error_status_text(req->status));
    check(json_object_size(body) == 2 &&
              json_integer_value(json_object_get(body, "code")) == req->status &&
              json_is_integer(json_object_get(body, "code")) && message &&
              starts_with(message, prefix),
          "an error's body is {\"code\": status, \"message\": \"<Status text>: ...\"}");
  }
  json_decref(body);
}

/* Whether text holds a fixture's token or session value. Compared only through their SHA-256:
 * libFuzzer learns the bytes that memcmp and strcmp see and would soon be sending the secrets
 * itself, making every echo of a request look like a leak. */
static bool holds_secret(const char *text, size_t len) {
  for (size_t i = 0; text && i + TOKEN_VALUE_LEN <= len; i++) {
    if (text[i] != 'p' || text[i + 1] != 'u' || text[i + 2] != 'l' || text[i + 3] != '-')
      continue;
    unsigned char hash[TOKEN_HASH_LEN];
    token_hash(text + i, TOKEN_VALUE_LEN, hash);
    for (int c = 0; c < CRED_COUNT; c++)
      if (fx.value[c][0] && memcmp(hash, fx.value_hash[c], TOKEN_HASH_LEN) == 0)
        return true;
  }
  size_t run = 0;
  for (size_t i = 0; text && i < len; i++) {
    run = (text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f') ? run + 1 : 0;
    if (run < SESSION_VALUE_LEN)
      continue;
    unsigned char hash[TOKEN_HASH_LEN];
    token_hash(text + i + 1 - SESSION_VALUE_LEN, SESSION_VALUE_LEN, hash);
    if (memcmp(hash, fx.session_hash, TOKEN_HASH_LEN) == 0)
      return true;
  }
  return false;
}

static void check_secrets(const struct request *req) {
  check(!holds_secret(req->reply_body, req->reply_len) &&
            !holds_secret(req->set_cookie, strlen(req->set_cookie)) &&
            !holds_secret(req->warning, strlen(req->warning)),
        "no reply carries a fixture token's or session's value");
}

static void check_reply(struct request *req, const struct route *found, enum cred cred) {
  check(req->replied, "a reply was made");
  int status = req->status;
  check((status >= 200 && status < 500) || status == 503, "the status is 2xx-4xx or 503");
  /* OAuth's endpoints answer a malformed request in OAuth's shape (RFC 6749 §5.2). */
  bool oauth = found && strncmp(found->pattern, "/api/oauth/", 11) == 0;
  /* The CLI's browser login is a page a person reads: its refusals are HTML (api/cli_login.c). */
  bool page = found && strcmp(found->pattern, "/cli-login") == 0;
  if (status >= 400 && page)
    check(status == 400 && req->content_type && starts_with(req->content_type, "text/html"),
          "a refused CLI login link gets the HTML error page");
  else if (status >= 400)
    check_error_body(req, oauth);
  if (status == 204 || status == 304)
    check(req->reply_len == 0, "a 204 has no body");
  if (status >= 200 && status < 300 && !req->content_type && req->reply_len) {
    json_t *j = json_loadb(req->reply_body, req->reply_len, 0, NULL);
    check(j != NULL, "a JSON success parses");
    json_decref(j);
  }
  check_secrets(req);
  if (!found)
    return;
  bool ok = status >= 200 && status < 300;
  bool invalid = cred == CRED_NONE || cred == CRED_EXPIRED || cred == CRED_BAD_CHECKSUM;
  if (found->needs_auth && invalid)
    check(status == 401, "an authenticated route answers 401 without valid credentials");
  if (cred == CRED_OUTSIDER && starts_with(req->path, "/api/orgs/"))
    check(!ok, "nobody outside an organization gets a 2xx from it");
  bool machine = cred == CRED_ORG_TOKEN_ADMIN || cred == CRED_ORG_TOKEN ||
                 cred == CRED_TEAM_TOKEN || cred == CRED_OIDC_PERSONAL;
  if (machine && starts_with(found->pattern, "/api/user/tokens"))
    check(!ok, "org, team and exchange tokens get no 2xx from /api/user/tokens");
  if (machine &&
      (starts_with(req->path, "/api/orgs/capped") || starts_with(req->path, "/api/orgs/other")))
    check(!ok, "acme's tokens get no 2xx from other organizations");
  if (cred == CRED_SESSION_NO_CSRF && found->needs_auth && strcmp(req->method, "GET") != 0 &&
      strcmp(req->method, "HEAD") != 0)
    check(status == 401 || status == 403, "a session's change without its CSRF token is refused");
}

/* The route that dispatch() will find for the request, if any. */
static const struct route *route_of(const char *method, const char *path) {
  struct request probe = {0};
  const struct route *found = NULL;
  const char *allow = NULL;
  if (router_find(api_routes, method, path, &probe, &found, &allow) != ROUTE_FOUND)
    found = NULL;
  for (int i = 0; i < ROUTE_PARAMS_MAX; i++)
    free(probe.params[i]);
  return found;
}

static void wait_for_resume(void) {
  for (int waited = 0; atomic_load(&fx.app.deferred) > 0; waited += 50) {
    check(waited < DEFER_WAIT_US, "a deferred request is resumed within 10 s");
    usleep(50);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 4)
    return 0;
  if (++fx.inputs % fx.reset_every == 0) {
    close_store();
    open_store();
  }
  size_t count = 0;
  while (api_routes[count].method)
    count++;
  const struct route *route =
      data[0] % (count + 1) < count ? &api_routes[data[0] % (count + 1)] : NULL;
  const char *method = data[1] < 0xf0 ? (route ? route->method : "GET") : methods[data[1] & 15];
  enum cred cred = (enum cred)(data[2] % CRED_COUNT);
  unsigned flags = data[3];
  char *copy = malloc(size - 4 + 1);
  check(copy != NULL, "memory");
  struct parts parts;
  split(data + 4, size - 4, copy, &parts);

  struct request req = {.app = &fx.app, .method = method, .started_us = time_monotonic_us()};
  snprintf(req.id, sizeof req.id, "fuzz%020lu", fx.inputs);
  req.path = make_path(route, &parts);
  req.uri.len = strlen(req.path) + strlen(parts.p[3]); /* as sent: path and query */
  size_t body_len = 0;
  char *body = make_body(&parts, flags, &body_len);
  if (body_len) {
    req.body = body;
    req.body_len = body_len;
  } else {
    free(body);
  }
  char *query_text = strdup(parts.p[3]);
  check(query_text != NULL, "memory");
  struct request_value query[QUERY_MAX + 1];
  parse_query(query_text, query);
  req.query = query;

  static const char *const types[] = {"application/json", "application/x-www-form-urlencoded",
                                      "text/plain", NULL};
  static const char *const sites[] = {"none", "same-origin", "cross-site", NULL};
  struct request_value headers[6], cookies[2] = {{NULL, NULL}, {NULL, NULL}};
  int h = 0;
  char authorization[TOKEN_VALUE_LEN + 16];
  const char *auth = parts.p[4];
  if (cred == CRED_LITERAL) {
    if (*auth)
      headers[h++] = (struct request_value){"Authorization", auth};
    cookies[0] = (struct request_value){SESSION_COOKIE, auth};
  } else if (cred == CRED_BEARER) {
    snprintf(authorization, sizeof authorization, "bEaReR\t%s ", fx.value[CRED_BEARER]);
    headers[h++] = (struct request_value){"authorization", authorization};
  } else if (cred == CRED_BAD_CHECKSUM) {
    snprintf(authorization, sizeof authorization, "token %s", fx.value[CRED_ORG_ADMIN]);
    char *last = authorization + strlen(authorization) - 1;
    *last = *last == '0' ? '1' : '0';
    headers[h++] = (struct request_value){"Authorization", authorization};
  } else if (cred == CRED_SESSION || cred == CRED_SESSION_NO_CSRF) {
    cookies[0] = (struct request_value){SESSION_COOKIE, fx.session};
    if (cred == CRED_SESSION)
      headers[h++] = (struct request_value){"X-CSRF-Token", fx.csrf};
    else if (*auth)
      headers[h++] = (struct request_value){"X-CSRF-Token", auth};
  } else if (cred != CRED_NONE) {
    snprintf(authorization, sizeof authorization, "token %s", fx.value[cred]);
    headers[h++] = (struct request_value){"Authorization", authorization};
  }
  if (types[flags & 3])
    headers[h++] = (struct request_value){"Content-Type", types[flags & 3]};
  if (sites[(flags >> 2) & 3])
    headers[h++] = (struct request_value){"Sec-Fetch-Site", sites[(flags >> 2) & 3]};
  headers[h] = (struct request_value){NULL, NULL};
  req.headers = headers;
  req.cookies = cookies;

  const struct route *found = route_of(req.method, req.path);
  dispatch(&req);
  if (req.deferred)
    wait_for_resume();
  if (fx.verbose)
    fprintf(stderr, "fuzz_router: %s %s -> %d %.*s\n", req.method, req.path, req.status,
            (int)(req.reply_len < 300 ? req.reply_len : 300), req.reply_body ? req.reply_body : "");
  check_reply(&req, found, cred);

  free(req.path);
  free(req.body);
  request_reply_clear(&req);
  for (int i = 0; i < ROUTE_PARAMS_MAX; i++)
    free(req.params[i]);
  free(query_text);
  free(copy);
  return 0;
}
