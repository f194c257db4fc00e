#include "http/auth.h"

#include "core/error.h"
#include "core/timeutil.h"
#include "core/token.h"
#include "store/lastused.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <strings.h>
#include <string.h>

/* One message for every kind of failure, so a caller learns nothing about why a token failed. */
static struct fixed_error unauthorized =
    FIXED_ERROR(TE_UNAUTHORIZED, "No credentials provided or are invalid.");

/* The credential after the scheme, with surrounding blanks trimmed; NULL for another scheme. */
static const char *credential(const char *header, size_t *len) {
  static const char *const schemes[] = {"token", "bearer"};
  for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
    size_t n = strlen(schemes[i]);
    if (strncasecmp(header, schemes[i], n) != 0 || (header[n] != ' ' && header[n] != '\t'))
      continue;
    const char *v = header + n;
    while (*v == ' ' || *v == '\t')
      v++;
    size_t l = strlen(v);
    while (l && (v[l - 1] == ' ' || v[l - 1] == '\t'))
      l--;
    *len = l;
    return v;
  }
  return NULL;
}

/* Warns the holder of a token that expires within EXPIRY_WARNING_SECONDS, who can make a new one
 * before then. Not the holder of a token an OIDC exchange issued, nor of one made with such a
 * token: short-lived by design, bounded by a CI job's, they are renewed by the job's next
 * exchange, so the warning would be printed by every command of every run and change nothing.
 * Nor a console session, which ends by itself after 12 hours and whose page knows when. */
static void note_expiry(struct request *req, const struct store_principal *p, int64_t now) {
  const struct store_token *t = &p->token;
  int64_t expires = t->expires;
  if (!expires || expires - now > EXPIRY_WARNING_SECONDS || t->source == TOKEN_SOURCE_OIDC ||
      t->source == TOKEN_SOURCE_SESSION || p->parent_from_exchange)
    return;
  char when[RFC3339_LEN + 1];
  time_format_rfc3339(expires, when);
  int64_t left = expires - now;
  snprintf(req->warning, sizeof req->warning,
           "This access token expires at %s (in %lld hours %lld minutes); create a new one before "
           "then.",
           when, (long long)(left / 3600), (long long)(left % 3600 / 60));
}

void auth_session_csrf(const char *session_value, char out[CSRF_TOKEN_LEN + 1]) {
  char labelled[32 + SESSION_VALUE_LEN + 1];
  int n = snprintf(labelled, sizeof labelled, "tessera-csrf:%s", session_value);
  token_hash_hex(labelled, (size_t)n, out);
  OPENSSL_cleanse(labelled, sizeof labelled);
}

static bool is_session_value(const char *v) {
  size_t n = strspn(v, "0123456789abcdef");
  return n == SESSION_VALUE_LEN && v[n] == '\0';
}

/* A mutation made with the session cookie must prove it comes from the console's own page. */
static bool csrf_ok(struct request *req, const char *session_value) {
  if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0)
    return true;
  const char *given = request_header(req, "X-CSRF-Token");
  char expected[CSRF_TOKEN_LEN + 1];
  auth_session_csrf(session_value, expected);
  return given && strlen(given) == CSRF_TOKEN_LEN &&
         CRYPTO_memcmp(given, expected, CSRF_TOKEN_LEN) == 0;
}

/* auth_principal_of, saying also why a value is refused, for tessera_auth_checks_total: only the
 * metrics learn it, never the caller. */
static int principal_of(struct store *store, const char *value, size_t len, bool session,
                        int64_t now, struct store_principal *out, enum metrics_auth_result *why) {
  unsigned char hash[TOKEN_HASH_LEN];
  token_hash(value, len, hash);
  int rc = store->ops->principal_by_token_hash(store, hash, out);
  *why = METRICS_AUTH_NONE; /* a store that cannot answer has not judged the value */
  if (rc == TE_NOT_FOUND) {
    *why = store->ops->token_revoked(store, hash) ? METRICS_AUTH_REVOKED : METRICS_AUTH_UNKNOWN;
    return TE_UNAUTHORIZED;
  }
  if (rc != TE_OK)
    return rc;
  /* The index found the row by hash; comparing again in constant time guards against a store that
   * matched loosely, without giving away how much of a hash matched. A session value works only
   * as the cookie, and a token value only as the header. */
  if (CRYPTO_memcmp(hash, out->token.hash, TOKEN_HASH_LEN) != 0 ||
      session != (out->token.source == TOKEN_SOURCE_SESSION))
    *why = METRICS_AUTH_UNKNOWN;
  else if (out->token.expires != 0 && out->token.expires <= now)
    *why = METRICS_AUTH_EXPIRED;
  else
    *why = METRICS_AUTH_OK;
  return *why == METRICS_AUTH_OK ? TE_OK : TE_UNAUTHORIZED;
}

int auth_principal_of(struct store *store, const char *value, size_t len, bool session, int64_t now,
                      struct store_principal *out) {
  enum metrics_auth_result why;
  return principal_of(store, value, len, session, now, out, &why);
}

bool auth_authenticate(struct request *req) {
  const char *header = request_header(req, "Authorization");
  const char *cookie = header ? NULL : request_cookie(req, SESSION_COOKIE);
  size_t len = 0;
  const char *value = header ? credential(header, &len) : NULL;
  bool session = cookie && is_session_value(cookie);
  if (session) {
    value = cookie;
    len = SESSION_VALUE_LEN;
  } else if (!value || !token_is_well_formed(value, len)) {
    req->auth_result = METRICS_AUTH_UNKNOWN;
    reply_fixed_error(req, &unauthorized);
    return false;
  }
  int64_t now = time_now();
  int rc =
      principal_of(req->app->store, value, len, session, now, &req->principal, &req->auth_result);
  if (rc == TE_UNAUTHORIZED) {
    reply_fixed_error(req, &unauthorized);
    return false;
  }
  if (rc != TE_OK) {
    reply_failure(req, rc, "");
    return false;
  }
  if (session && !csrf_ok(req, cookie)) {
    req->auth_result = METRICS_AUTH_POLICY; /* a valid session, without its page's proof */
    reply_error(req, TE_FORBIDDEN, "CSRF token missing or wrong.");
    return false;
  }
  req->via_session = session;
  req->authenticated = true;
  lastused_note(req->app->lastused, req->principal.token.seq, req->principal.token.last_used, now);
  note_expiry(req, &req->principal, now);
  return true;
}
