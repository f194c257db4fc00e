/* The web console: its embedded files (GET / and /console/<file>) and its sessions (sign-in with a
 * password or an access token, sign-out). A session is a token of source "session" whose value
 * lives only in an HttpOnly, SameSite=Strict cookie; the REST API accepts it in place of an
 * Authorization header, with a CSRF token on every change (http/auth.c). */

#include "api/api.h"

#include "api/sign_in_budget.h"
#include "api/web_assets.h"
#include "core/error.h"
#include "core/names.h"
#include "core/password.h"
#include "core/timeutil.h"
#include "core/token.h"
#include "http/auth.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SESSION_SECONDS (12 * 3600)
#define SIGN_IN_FAILED "wrong login or password."

static const char *content_type(const char *name) {
  static const struct {
    const char *suffix, *type;
  } types[] = {{".html", "text/html; charset=utf-8"},
               {".js", "text/javascript; charset=utf-8"},
               {".css", "text/css; charset=utf-8"},
               {".svg", "image/svg+xml"},
               {".png", "image/png"},
               {".ico", "image/x-icon"}};
  size_t len = strlen(name);
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    size_t n = strlen(types[i].suffix);
    if (len > n && strcmp(name + len - n, types[i].suffix) == 0)
      return types[i].type;
  }
  return NULL; /* not a kind of file the console serves */
}

void console_serve_asset(struct request *req, const char *name) {
  const char *type = content_type(name);
  for (const struct web_asset *a = web_assets; type && a->name; a++) {
    if (strcmp(a->name, name) != 0)
      continue;
    char *copy = malloc(a->size ? a->size : 1);
    if (!copy)
      abort();
    memcpy(copy, a->data, a->size);
    reply_bytes(req, 200, copy, a->size, type, NULL);
    return;
  }
  reply_error(req, TE_NOT_FOUND, "no such console file.");
}

void api_console_index(struct request *req) {
  console_serve_asset(req, "index.html");
}

void api_console_asset(struct request *req) {
  console_serve_asset(req, req->params[0]);
}

static json_t *session_json(const struct store_user *user, const char *csrf, int64_t expires) {
  return json_pack("{s:s, s:{s:s, s:s, s:b}, s:I}", "csrfToken", csrf, "user", "login", user->login,
                   "name", user->name[0] ? user->name : user->login, "siteAdmin", user->site_admin,
                   "expires", (json_int_t)expires);
}

/* Who signs in: a login with its password, or a person's own access token, whose seq and expiry
 * go into *parent (0 and 0 for a password) so that the session depends on it. */
static int sign_in_user(struct request *req, json_t *body, struct store_user *out,
                        struct store_token *parent) {
  struct store *store = req->app->store;
  const char *login = NULL, *password = NULL, *token = NULL;
  /* Only the types here: a login, password or token of the wrong length is a failed sign-in. */
  if (!request_string_field(req, body, "login", 0, BODY_MAX, &login) ||
      !request_string_field(req, body, "password", 0, BODY_MAX, &password) ||
      !request_string_field(req, body, "token", 0, BODY_MAX, &token))
    return TE_BAD_REQUEST; /* replied: a malformed request is no failed sign-in */
  if (token && !login && !password) {
    size_t len = strlen(token);
    if (!token_is_well_formed(token, len))
      return TE_UNAUTHORIZED;
    unsigned char hash[TOKEN_HASH_LEN];
    struct store_principal p;
    token_hash(token, len, hash);
    int rc = store->ops->principal_by_token_hash(store, hash, &p);
    if (rc == TE_NOT_FOUND ||
        (rc == TE_OK && (!principal_is_person(&p) || p.token.source == TOKEN_SOURCE_SESSION ||
                         (p.token.expires && p.token.expires <= time_now()))))
      return TE_UNAUTHORIZED;
    if (rc == TE_OK) {
      *out = p.user;
      *parent = p.token;
    }
    return rc;
  }
  if (!login || !password || token || !name_is_valid(login) || strlen(password) > PASSWORD_MAX)
    return TE_UNAUTHORIZED;
  char encoded[PASSWORD_HASH_MAX + 1] = "";
  int rc = store->ops->user_password_hash(store, login, encoded);
  if (rc && rc != TE_NOT_FOUND)
    return rc;
  /* Verified even for an unknown login (against a decoy), so timing does not tell them apart. */
  if (!password_verify(encoded, password) || rc == TE_NOT_FOUND)
    return TE_UNAUTHORIZED;
  return store->ops->user_by_login(store, login, out);
}

/* Sign-in takes JSON only, from this console's own pages: a cross-site form (text/plain or
 * url-encoded) must not be able to sign a victim into someone else's account. */
static bool same_site_json(struct request *req) {
  const char *type = request_header(req, "Content-Type");
  const char *site = request_header(req, "Sec-Fetch-Site");
  if (!type || strncasecmp(type, "application/json", 16) != 0) {
    reply_error(req, TE_UNSUPPORTED_MEDIA, "sign-in takes application/json.");
    return false;
  }
  if (site && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0) {
    reply_error(req, TE_FORBIDDEN, "sign-in is only for this console's own pages.");
    return false;
  }
  return true;
}

/* Refuses (429, with Retry-After) a client or an account out of failed sign-ins for now. */
static bool too_busy(struct request *req, const char *ip, const char *login) {
  int64_t client_ms = sign_in_client_wait_ms(ip);
  int64_t account_ms = login[0] ? sign_in_account_wait_ms(login) : 0;
  if (!client_ms && !account_ms)
    return false;
  int64_t wait_ms = client_ms > account_ms ? client_ms : account_ms;
  req->retry_after = (int)((wait_ms + 999) / 1000);
  if (client_ms)
    reply_error(req, TE_TOO_MANY_REQUESTS,
                "too many failed sign-ins from this address; retry in %d s.", req->retry_after);
  else
    reply_error(req, TE_TOO_MANY_REQUESTS,
                "too many failed sign-ins to this account; retry in %d s.", req->retry_after);
  return true;
}

void api_console_session_create(struct request *req) {
  static const char *const fields[] = {"login", "password", "token", NULL};
  if (!same_site_json(req))
    return;
  json_t *body = request_json_object(req);
  if (!body)
    return;
  char ip[48], login[LOGIN_MAX + 1] = "";
  request_client_ip(req, ip, sizeof ip);
  const char *given = json_string_value(json_object_get(body, "login"));
  if (given && strlen(given) <= LOGIN_MAX)
    snprintf(login, sizeof login, "%s", given);
  if (too_busy(req, ip, login)) {
    json_decref(body);
    return;
  }
  struct store_user user;
  struct store_token parent = {0};
  int rc =
      request_fields_allowed(req, body, fields) ? sign_in_user(req, body, &user, &parent) : TE_OK;
  bool replied = req->replied;
  json_decref(body);
  if (replied)
    return;
  if (rc == TE_UNAUTHORIZED || rc == TE_NOT_FOUND) {
    sign_in_failed(ip, login);
    reply_error(req, TE_UNAUTHORIZED, SIGN_IN_FAILED);
    return;
  }
  if (rc) {
    reply_failure(req, rc, "");
    return;
  }
  if (login[0])
    sign_in_succeeded(login);
  unsigned char random[SESSION_VALUE_LEN / 2];
  char value[SESSION_VALUE_LEN + 1], csrf[CSRF_TOKEN_LEN + 1];
  if (RAND_bytes(random, sizeof random) != 1)
    abort();
  token_hex(random, sizeof random, value);
  struct store_token t = {.kind = TOKEN_PERSONAL,
                          .user_id = user.id,
                          .source = TOKEN_SOURCE_SESSION,
                          .parent_seq = parent.seq,
                          .created = time_now()};
  /* No longer than the token it was opened with. */
  t.expires = t.created + SESSION_SECONDS;
  if (parent.expires && parent.expires < t.expires)
    t.expires = parent.expires;
  token_new_id(t.id);
  token_hash(value, SESSION_VALUE_LEN, t.hash);
  snprintf(t.description, sizeof t.description, "console session");
  struct store *store = req->app->store;
  /* Sign-ins are rare: a good moment to drop sessions that have expired, so they do not pile up.
   * A failure here costs nothing but space. */
  store->ops->sessions_purge(store, t.created);
  rc = store->ops->token_insert(store, &t, NULL, NULL, NULL);
  if (rc == TE_OK) {
    auth_session_csrf(value, csrf);
    snprintf(req->set_cookie, sizeof req->set_cookie,
             SESSION_COOKIE "=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%d%s", value,
             SESSION_SECONDS, req->app->secure_cookies ? "; Secure" : "");
    reply_json(req, 200, session_json(&user, csrf, t.expires));
  } else {
    reply_failure(req, rc, "");
  }
  OPENSSL_cleanse(random, sizeof random);
  OPENSSL_cleanse(value, sizeof value);
}

/* The session routes answer only to the session cookie itself. */
static bool session_only(struct request *req) {
  if (req->via_session)
    return true;
  reply_error(req, TE_UNAUTHORIZED, "sign in to the console first.");
  return false;
}

void api_console_session_get(struct request *req) {
  if (!session_only(req))
    return;
  const char *cookie = request_cookie(req, SESSION_COOKIE);
  char csrf[CSRF_TOKEN_LEN + 1];
  auth_session_csrf(cookie ? cookie : "", csrf);
  reply_json(req, 200, session_json(&req->principal.user, csrf, req->principal.token.expires));
}

void api_console_session_delete(struct request *req) {
  if (!session_only(req))
    return;
  struct store *store = req->app->store;
  int rc = store->ops->token_delete(store, req->principal.user.id, req->principal.token.id, NULL,
                                    NULL, NULL);
  if (rc && rc != TE_NOT_FOUND) {
    reply_failure(req, rc, "");
    return;
  }
  snprintf(req->set_cookie, sizeof req->set_cookie,
           SESSION_COOKIE "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0%s",
           req->app->secure_cookies ? "; Secure" : "");
  reply_empty(req, 204);
}
