#include "api/oidc_keys.h"

#include "core/error.h"
#include "core/timeutil.h"
#include "oidc/jwk.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REFRESH_INTERVAL_MS 60000
#define REFRESH_SLOTS 256         /* hashed by issuer id; a collision only delays a refresh */
#define REFRESHES_PER_INTERVAL 30 /* for all issuers together: fetches cost worker time */

int oidc_keys_check(const char *jwks, char *why, size_t why_size) {
  struct jwk_set *set = NULL;
  const char *reason = NULL;
  int rc = jwk_set_parse(jwks, strlen(jwks), &set, &reason);
  if (rc == TE_OK && set->count == 0) {
    reason = "the key set has no RS256 or ES256 signing key";
    rc = TE_BAD_REQUEST;
  }
  if (rc)
    snprintf(why, why_size, "%s", reason ? reason : "the key set is not valid");
  jwk_set_free(set);
  return rc;
}

/* Whether a fetch's certificate is acceptable: its SHA-256 or (as Pulumi's spec has them) SHA-1
 * digest among the pinned thumbprints; with record, the SHA-256 one is added instead. */
static int check_thumbprint(struct store_oidc_issuer *issuer, const struct oidc_thumbprints *cert,
                            bool record, char *why, size_t why_size) {
  const char *seen = cert->sha256;
  if (!seen[0])
    return TE_OK; /* plain HTTP (tests only; oidc_fetch refuses HTTPS without a certificate) */
  json_t *list = json_loads(issuer->thumbprints, 0, NULL);
  if (!json_is_array(list))
    list = json_array();
  bool known = false;
  for (size_t i = 0; i < json_array_size(list); i++)
    known = known || strcmp(json_string_value(json_array_get(list, i)) ?: "", seen) == 0 ||
            strcmp(json_string_value(json_array_get(list, i)) ?: "", cert->sha1) == 0;
  int rc = TE_OK;
  if (!known && record) {
    json_array_append_new(list, json_string(seen));
    char *text = json_dumps(list, JSON_COMPACT);
    if (text && strlen(text) < sizeof issuer->thumbprints)
      snprintf(issuer->thumbprints, sizeof issuer->thumbprints, "%s", text);
    free(text);
  } else if (!known) {
    snprintf(why, why_size,
             "the issuer's TLS certificate (SHA-256 %.16s...) is not among its "
             "thumbprints",
             seen);
    rc = TE_FORBIDDEN;
  }
  json_decref(list);
  return rc;
}

/* "https://x/" and "https://x" name the same issuer. */
static bool same_issuer(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  while (la && a[la - 1] == '/')
    la--;
  while (lb && b[lb - 1] == '/')
    lb--;
  return la == lb && strncmp(a, b, la) == 0;
}

static int fetch_keys(const struct app *app, struct store_oidc_issuer *issuer, bool record,
                      char *why, size_t why_size) {
  char *body = NULL;
  struct oidc_thumbprints seen;
  size_t len;
  int rc = oidc_fetch(&app->issuer_fetch, issuer->jwks_uri, &body, &len, &seen, why, why_size);
  if (rc == TE_OK)
    rc = check_thumbprint(issuer, &seen, record, why, why_size);
  if (rc == TE_OK)
    rc = oidc_keys_check(body, why, why_size);
  if (rc == TE_OK) {
    free(issuer->jwks);
    issuer->jwks = body;
    body = NULL;
  }
  free(body);
  return rc;
}

int oidc_keys_discover(const struct app *app, struct store_oidc_issuer *issuer, char *why,
                       size_t why_size) {
  if (issuer->jwks) {
    issuer->static_jwks = true;
    snprintf(issuer->issuer, sizeof issuer->issuer, "%s", issuer->url);
    issuer->jwks_uri[0] = '\0';
    return TE_OK;
  }
  bool record = strcmp(issuer->thumbprints, "[]") == 0;
  char url[OIDC_URL_MAX + 64], *body = NULL;
  struct oidc_thumbprints seen;
  size_t len, base = strlen(issuer->url);
  while (base && issuer->url[base - 1] == '/')
    base--;
  snprintf(url, sizeof url, "%.*s/.well-known/openid-configuration", (int)base, issuer->url);
  int rc = oidc_fetch(&app->issuer_fetch, url, &body, &len, &seen, why, why_size);
  if (rc == TE_OK)
    rc = check_thumbprint(issuer, &seen, record, why, why_size);
  json_t *doc = rc == TE_OK ? json_loads(body, JSON_REJECT_DUPLICATES, NULL) : NULL;
  free(body);
  const char *iss = json_string_value(json_object_get(doc, "issuer"));
  const char *jwks_uri = json_string_value(json_object_get(doc, "jwks_uri"));
  if (rc == TE_OK &&
      (!iss || !jwks_uri || strlen(iss) > OIDC_URL_MAX || strlen(jwks_uri) > OIDC_URL_MAX)) {
    snprintf(why, why_size, "%s is not an OpenID configuration with issuer and jwks_uri", url);
    rc = TE_BAD_REQUEST;
  } else if (rc == TE_OK && !same_issuer(iss, issuer->url)) {
    snprintf(why, why_size, "the OpenID configuration names another issuer than %s", issuer->url);
    rc = TE_BAD_REQUEST;
  }
  if (rc == TE_OK) {
    snprintf(issuer->issuer, sizeof issuer->issuer, "%s", iss);
    snprintf(issuer->jwks_uri, sizeof issuer->jwks_uri, "%s", jwks_uri);
    issuer->static_jwks = false;
    rc = fetch_keys(app, issuer, record, why, why_size);
  }
  json_decref(doc);
  if (rc == TE_OK)
    return TE_OK;
  /* Whoever registers an issuer chooses the URL: telling them what answered there (a closed port,
   * an HTTP status, a certificate's digest, a document) would make registration a way to map the
   * server's network. They get one answer for every failure; the log has the details. */
  fprintf(stderr, "tessera: OIDC discovery at %s failed: %s\n", issuer->url, why);
  snprintf(why, why_size,
           "could not get a valid OpenID configuration and key set from %s: it is unreachable, not "
           "an OIDC issuer, or not trusted (the server's log says which)",
           issuer->url);
  return TE_BAD_REQUEST;
}

static pthread_mutex_t refresh_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t refreshed_ms[REFRESH_SLOTS]; /* when each slot's issuer was last refreshed */
static int64_t window_start_ms;
static int window_count;

/* Whether a refresh of the issuer may happen now, claiming it when claim is set: none if it (or,
 * by a hash collision, another issuer: the refresh is only delayed) was refreshed within the
 * interval, or if all issuers together have used up this interval's refreshes. */
static bool refresh_allowed(const char *id, bool claim) {
  size_t slot = 0;
  for (const char *c = id; *c; c++)
    slot = slot * 31 + (unsigned char)*c;
  slot %= REFRESH_SLOTS;
  int64_t now = time_monotonic_ms();
  pthread_mutex_lock(&refresh_lock);
  if (now - window_start_ms >= REFRESH_INTERVAL_MS) {
    window_start_ms = now;
    window_count = 0;
  }
  bool allowed = (refreshed_ms[slot] == 0 || now - refreshed_ms[slot] >= REFRESH_INTERVAL_MS) &&
                 window_count < REFRESHES_PER_INTERVAL;
  if (allowed && claim) {
    refreshed_ms[slot] = now;
    window_count++;
  }
  pthread_mutex_unlock(&refresh_lock);
  return allowed;
}

bool oidc_keys_refresh_due(const struct store_oidc_issuer *issuer) {
  return !issuer->static_jwks && refresh_allowed(issuer->id, false);
}

int oidc_keys_refresh(const struct app *app, struct store_oidc_issuer *issuer) {
  if (issuer->static_jwks || !refresh_allowed(issuer->id, true))
    return TE_UNAVAILABLE;
  char why[256];
  struct store_oidc_issuer was = *issuer; /* as read: the refresh applies only to this */
  was.jwks = strdup(issuer->jwks);
  if (!was.jwks)
    abort();
  int rc = fetch_keys(app, issuer, false, why, sizeof why);
  if (rc == TE_OK) {
    issuer->modified = time_now();
    struct store *store = app->store;
    /* Only the keys, and only if no admin changed the issuer meanwhile. */
    rc = store->ops->oidc_issuer_set_keys(store, &was, issuer->jwks, issuer->modified);
    if (rc == TE_CONFLICT)
      snprintf(why, sizeof why, "the issuer was changed meanwhile");
  }
  free(was.jwks);
  if (rc)
    fprintf(stderr, "tessera: refreshing the keys of OIDC issuer %s failed: %s\n", issuer->id,
            rc == TE_INTERNAL ? "store error" : why);
  return rc == TE_CONFLICT ? TE_UNAVAILABLE : rc;
}
