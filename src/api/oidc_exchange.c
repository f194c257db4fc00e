/* OIDC token exchange (Token: POST /api/oauth/token, RFC 8693) and Tessera's admin-only explain
 * (POST /api/orgs/{org}/oidc/issuers/{id}/explain). A CI system presents an ID token from an
 * issuer the organization trusts and receives a short-lived Tessera token, if the issuer's
 * authorization policy allows it. Errors follow RFC 6749 §5.2 and never say which check failed;
 * the audit log (and explain, for admins) does. */

#include "api/api.h"

#include "http/form.h"

#include "api/audit_event.h"
#include "api/oidc_keys.h"
#include "api/org_access.h"
#include "core/error.h"
#include "core/metrics.h"
#include "core/names.h"
#include "core/timeutil.h"
#include "core/token.h"
#include "http/offload.h"
#include "oidc/jwk.h"
#include "oidc/jwk_cache.h"
#include "oidc/jws.h"
#include "oidc/policy.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define GRANT_TOKEN_EXCHANGE "urn:ietf:params:oauth:grant-type:token-exchange"
#define TYPE_ID_TOKEN "urn:ietf:params:oauth:token-type:id_token"
#define TYPE_JWT "urn:ietf:params:oauth:token-type:jwt"
#define TYPE_PREFIX "urn:pulumi:token-type:access_token:"
#define AUDIENCE_PREFIX "urn:pulumi:org:"
#define EXPIRATION_DEFAULT 7200
#define EXPIRATION_MIN 1 /* a token for a single call is legitimate */
#define CLOCK_LEEWAY 60
#define FIELD_MAX 8192

/* The request's parameters (form-encoded or JSON), as owned copies. */
struct exchange {
  char *grant_type, *audience, *subject_token, *subject_token_type, *requested_token_type, *scope,
      *expiration;
};

/* The parameters, in the order of fields_of. */
static const char *const field_names[] = {"grant_type",         "audience", "subject_token",
                                          "subject_token_type", "scope",    "requested_token_type",
                                          "expiration"};
#define FIELDS (sizeof field_names / sizeof field_names[0])

static void fields_of(struct exchange *x, char **slots[FIELDS]) {
  char **all[FIELDS] = {&x->grant_type,         &x->audience, &x->subject_token,
                        &x->subject_token_type, &x->scope,    &x->requested_token_type,
                        &x->expiration};
  memcpy(slots, all, sizeof all);
}

static void exchange_free(struct exchange *x) {
  char **slots[FIELDS];
  fields_of(x, slots);
  for (size_t i = 0; i < FIELDS; i++) {
    if (*slots[i])
      OPENSSL_cleanse(*slots[i], strlen(*slots[i]));
    free(*slots[i]);
  }
}

static char **field_slot(struct exchange *x, const char *name, size_t len) {
  char **slots[FIELDS];
  fields_of(x, slots);
  for (size_t i = 0; i < FIELDS; i++)
    if (strlen(field_names[i]) == len && strncmp(field_names[i], name, len) == 0)
      return slots[i];
  return NULL;
}

/* Stores one parameter of the JSON form; a repeated one is refused (RFC 6749 §3.2: must not be
 * included more than once), unknown ones are ignored as OAuth requires. */
static bool set_field(struct exchange *x, const char *name, size_t name_len, const char *value,
                      size_t value_len) {
  char **slot = field_slot(x, name, name_len);
  if (!slot)
    return true;
  if (*slot || value_len > FIELD_MAX || memchr(value, '\0', value_len))
    return false;
  *slot = strndup(value, value_len);
  if (!*slot)
    abort();
  return true;
}

/* The form (the OAuth clients'), through http/form.c, into the exchange's fields. */
static bool parse_form(struct exchange *x, const char *body, size_t len) {
  char *values[FIELDS], **slots[FIELDS];
  if (!form_parse(body, len, field_names, values, FIELDS, FIELD_MAX))
    return false;
  fields_of(x, slots);
  for (size_t i = 0; i < FIELDS; i++)
    *slots[i] = values[i];
  return true;
}

/* The JSON form (pulumi/auth-actions sends it): every known parameter is a string but
 * "expiration", which is an integer (seconds) as the form's digits are; null or any other type
 * for a known parameter is refused, unknown ones are ignored as in the form. */
static bool parse_json(struct exchange *x, const char *body, size_t len) {
  if (memchr(body, '\0', len)) /* jansson would skip a raw NUL between tokens */
    return false;
  json_t *obj = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
  bool ok = json_is_object(obj);
  const char *key;
  size_t key_len;
  json_t *v;
  json_object_keylen_foreach(obj, key, key_len, v) {
    char number[32];
    bool expiration = key_len == 10 && memcmp(key, "expiration", 10) == 0;
    if (!ok)
      break;
    if (memchr(key, '\0', key_len)) /* a key like "scope\u0000x" must not pass for "scope" */
      continue;
    if (expiration && json_is_integer(v)) {
      snprintf(number, sizeof number, "%lld", (long long)json_integer_value(v));
      ok = set_field(x, key, key_len, number, strlen(number));
    } else if (!expiration && json_is_string(v)) {
      ok = set_field(x, key, key_len, json_string_value(v), json_string_length(v));
    } else {
      ok = field_slot(x, key, key_len) == NULL; /* a known field of another type */
    }
  }
  json_decref(obj);
  return ok;
}

/* An RFC 6749 error, counted by its code (tessera_oidc_exchanges_total): every answer of the
 * exchange goes through here or issue(). */
static void oauth_error(struct request *req, enum metrics_oidc_result error,
                        const char *description) {
  metrics_oidc_exchange(error);
  reply_json(req, error_http_status(TE_BAD_REQUEST),
             json_pack("{s:s, s:s}", "error", metrics_oidc_result_name(error), "error_description",
                       description));
}

/* What the caller asks for, once its parameters are checked. */
struct target {
  char org[LOGIN_MAX + 1];
  struct oidc_request want;
  char team[LOGIN_MAX + 1], user[LOGIN_MAX + 1];
  int64_t expiration;
};

/* Checks the non-token parameters; replies itself and returns false on a problem: in RFC 6749's
 * shape (invalid_request, invalid_target, unsupported_grant_type) when oauth, else as a 400. */
static bool read_target(struct request *req, const struct exchange *x, struct target *t,
                        bool oauth) {
  const char *why = NULL;
  enum metrics_oidc_result error = METRICS_OIDC_INVALID_REQUEST;
  const char *type = x->requested_token_type ? x->requested_token_type : "";
  const char *scope = x->scope ? x->scope : "";
  memset(t, 0, sizeof *t);
  t->expiration = EXPIRATION_DEFAULT;
  if (!x->grant_type || strcmp(x->grant_type, GRANT_TOKEN_EXCHANGE) != 0) {
    error = METRICS_OIDC_UNSUPPORTED_GRANT_TYPE;
    why = "grant_type must be " GRANT_TOKEN_EXCHANGE;
  } else if (!x->subject_token || !x->subject_token_type ||
             (strcmp(x->subject_token_type, TYPE_ID_TOKEN) != 0 &&
              strcmp(x->subject_token_type, TYPE_JWT) != 0)) {
    why = "subject_token (an OIDC ID token) and subject_token_type " TYPE_ID_TOKEN " are required";
  } else if (!x->audience || strncmp(x->audience, AUDIENCE_PREFIX, strlen(AUDIENCE_PREFIX)) != 0 ||
             !name_is_valid(x->audience + strlen(AUDIENCE_PREFIX))) {
    error = METRICS_OIDC_INVALID_TARGET;
    why = "audience must be " AUDIENCE_PREFIX "<organization>";
  } else if (strncmp(type, TYPE_PREFIX, strlen(TYPE_PREFIX)) != 0) {
    why = "requested_token_type must be " TYPE_PREFIX "organization, team or personal";
  }
  if (!why) {
    const char *kind = type + strlen(TYPE_PREFIX);
    snprintf(t->org, sizeof t->org, "%s", x->audience + strlen(AUDIENCE_PREFIX));
    if (strcmp(kind, "organization") == 0) {
      t->want.kind = TOKEN_ORG;
      t->want.admin = strcmp(scope, "admin") == 0;
      if (scope[0] && !t->want.admin)
        why = "scope for an organization token is empty or admin";
    } else if (strcmp(kind, "team") == 0) {
      t->want.kind = TOKEN_TEAM;
      if (strncmp(scope, "team:", 5) != 0 || !name_is_valid(scope + 5))
        why = "a team token needs scope team:<name>";
      else
        snprintf(t->team, sizeof t->team, "%s", scope + 5);
    } else if (strcmp(kind, "personal") == 0) {
      t->want.kind = TOKEN_PERSONAL;
      if (strncmp(scope, "user:", 5) != 0 || !name_is_valid(scope + 5))
        why = "a personal token needs scope user:<login>";
      else
        snprintf(t->user, sizeof t->user, "%s", scope + 5);
    } else {
      why = "requested_token_type must be " TYPE_PREFIX "organization, team or personal";
    }
    t->want.team = t->team;
    t->want.user = t->user;
  }
  if (!why && x->expiration) {
    char *end;
    long long v = strtoll(x->expiration, &end, 10);
    /* Digits only: strtoll would also take " 5" and "+5". */
    if (strspn(x->expiration, "0123456789") != strlen(x->expiration) || !*x->expiration || *end ||
        v < EXPIRATION_MIN || v > 31LL * 86400)
      why = "expiration must be 1 to 2678400 seconds";
    else
      t->expiration = v;
  }
  if (why && oauth)
    oauth_error(req, error, why);
  else if (why)
    reply_error(req, TE_BAD_REQUEST, "%s", why);
  return why == NULL;
}

/* The token's unverified payload, parsed; NULL when it has none. */
static json_t *peek_claims(const char *token) {
  const char *dot = strchr(token, '.');
  const char *end = dot ? strchr(dot + 1, '.') : NULL;
  unsigned char *payload = NULL;
  size_t len = 0;
  if (!end || jwk_base64url_decode(dot + 1, (size_t)(end - dot - 1), &payload, &len) != TE_OK)
    return NULL;
  json_t *claims = json_loadb((const char *)payload, len, JSON_REJECT_DUPLICATES, NULL);
  free(payload);
  return claims;
}

static bool plausible(const char *token, const char *issuer, const char *audience) {
  json_t *claims = peek_claims(token);
  const char *why;
  bool ok =
      claims && jwt_check_claims(claims, issuer, audience, time_now(), CLOCK_LEEWAY, &why) == TE_OK;
  json_decref(claims);
  return ok;
}

/* The unverified "iss" of a compact JWS, only to choose which issuer's keys to verify it with. */
static bool peek_issuer(const char *token, char *out, size_t size) {
  json_t *claims = peek_claims(token);
  const char *iss = json_string_value(json_object_get(claims, "iss"));
  bool ok = iss && strlen(iss) < size;
  if (ok)
    snprintf(out, size, "%s", iss);
  json_decref(claims);
  return ok;
}

/* Verifies the ID token's signature with the issuer's keys (refreshing them once if it names a
 * key they lack) and its registered claims. On success *claims is the payload. A refresh may take
 * seconds: where the request may not block (an HTTP worker), TE_UNAVAILABLE says that one is due,
 * and the caller runs again off the workers (http/offload.h). */
static int verify_id_token(const struct request *req, struct store_oidc_issuer *issuer,
                           const char *token, const char *audience, json_t **claims,
                           const char **why) {
  *claims = NULL;
  for (int attempt = 0; attempt < 2; attempt++) {
    const struct jwk_set *keys = NULL;
    struct jwk_cached *held = NULL;
    int rc = jwk_cache_get(issuer->id, issuer->jwks, strlen(issuer->jwks), &keys, &held, why);
    if (rc == TE_OK)
      rc = jws_verify(token, strlen(token), keys, claims, why);
    jwk_cache_release(held);
    /* A key the set lacks: the issuer may have rotated its keys. Fetch them again only for a
     * token that would otherwise pass (its issuer, our audience, in date), so that anyone can
     * not make the server fetch by sending made-up key ids. */
    bool rotated = rc == TE_NOT_FOUND && attempt == 0 && plausible(token, issuer->issuer, audience);
    if (rotated && !req->offloaded && oidc_keys_refresh_due(issuer))
      return TE_UNAVAILABLE;
    if (rotated && oidc_keys_refresh(req->app, issuer) == TE_OK)
      continue;
    if (rc)
      return rc;
    rc = jwt_check_claims(*claims, issuer->issuer, audience, time_now(), CLOCK_LEEWAY, why);
    if (rc) {
      json_decref(*claims);
      *claims = NULL;
    }
    return rc;
  }
  return TE_NOT_FOUND;
}

#define REFUSAL_AUDIT_SLOTS 256
#define REFUSAL_AUDIT_INTERVAL_MS 5000

static pthread_mutex_t refusal_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  int64_t at_ms;
  long suppressed;
} refusal_audits[REFUSAL_AUDIT_SLOTS];

/* The exchange is open to anyone: refusals are recorded at most once per interval per
 * organization (slot), each record counting those left out since, so that a flood of garbage
 * cannot bury an organization's audit log. Returns whether to record, and how many were left
 * out before this one. */
static bool refusal_audit_due(int64_t org_id, long *suppressed) {
  size_t slot = (size_t)((uint64_t)org_id % REFUSAL_AUDIT_SLOTS);
  int64_t now = time_monotonic_ms();
  pthread_mutex_lock(&refusal_lock);
  bool due = refusal_audits[slot].at_ms == 0 ||
             now - refusal_audits[slot].at_ms >= REFUSAL_AUDIT_INTERVAL_MS;
  if (due) {
    refusal_audits[slot].at_ms = now;
    *suppressed = refusal_audits[slot].suppressed;
    refusal_audits[slot].suppressed = 0;
  } else {
    refusal_audits[slot].suppressed++;
  }
  pthread_mutex_unlock(&refusal_lock);
  return due;
}

/* Audits a refused exchange against a known organization, with the reason the caller is not
 * told. Queued, not awaited, like other refusals. */
static void audit_refusal(struct request *req, const struct store_org *org, const char *issuer,
                          const char *why) {
  long suppressed = 0;
  if (!refusal_audit_due(org->id, &suppressed))
    return;
  struct audit_record a;
  audit_event(&a, req, org->name, "auth-failure-oidc-token-exchange", false,
              "token exchange refused: %s (issuer %s); %ld more refused and not recorded before "
              "this one",
              why, issuer, suppressed);
  a.auth_failure = true;
  struct store *store = req->app->store;
  audit_event_queue(store, &a);
}

/* The owner of the token to issue: the team or the user must exist (users: in the org). */
static int resolve_owner(struct request *req, const struct store_org *org, const struct target *t,
                         struct store_token *token) {
  struct store *store = req->app->store;
  if (t->want.kind == TOKEN_TEAM) {
    struct store_team team;
    int rc = store->ops->team_get(store, org->id, t->team, &team);
    token->team_id = team.id;
    return rc;
  }
  if (t->want.kind == TOKEN_PERSONAL) {
    struct store_user user;
    char role[16];
    int rc = store->ops->user_by_login(store, t->user, &user);
    if (rc == TE_OK)
      rc = store->ops->org_role(store, org->id, user.id, role);
    token->user_id = user.id;
    token->org_id = 0;
    return rc;
  }
  return TE_OK;
}

static const char *created_event(enum token_kind kind) {
  return kind == TOKEN_ORG    ? "organization-token-created-for-oidc-issuer"
         : kind == TOKEN_TEAM ? "team-token-created-for-oidc-issuer"
                              : "personal-token-created-for-oidc-issuer";
}

/* An exchange whose token is being stored: everything the reply and a retry need, copied out of
 * the handler's locals, which are gone by the time the commit is reported. */
struct pending_exchange {
  struct request *req;
  struct target t;
  char org[LOGIN_MAX + 1];
  char issuer_id[TOKEN_ID_LEN + 1];
  char issuer_name[OIDC_NAME_MAX + 1];
  char sub[201];
  int64_t lifetime;
  bool manage_access;
  int attempts;
  struct store_token token;
  struct audit_record audit;
  char value[TOKEN_VALUE_LEN + 1];
};

/* A fresh id, value and name for the token, and its audit record. */
static void pending_prepare(struct pending_exchange *p) {
  struct store_token *token = &p->token;
  const struct target *t = &p->t;
  struct audit_record *a = &p->audit;
  token_new_id(token->id);
  token_generate(p->value);
  token_hash(p->value, TOKEN_VALUE_LEN, token->hash);
  token->created = time_now();
  token->expires = token->created + p->lifetime;
  snprintf(token->oidc_issuer, sizeof token->oidc_issuer, "%s", p->issuer_id);
  if (t->want.kind != TOKEN_PERSONAL)
    snprintf(token->name, sizeof token->name, "oidc-%.8s%.4s", token->id, token->id + 9);
  snprintf(token->created_by, sizeof token->created_by, "oidc:%.*s", ACTOR_MAX - 5, p->issuer_name);
  snprintf(token->description, sizeof token->description, "from OIDC issuer %s for %s",
           p->issuer_name, p->sub);
  audit_event(a, p->req, p->org, created_event(t->want.kind), t->want.admin,
              "issued %s%s token %s to %s by OIDC issuer %s, for %lld seconds%s",
              t->want.admin ? "admin " : "", token_kind_name(t->want.kind),
              token->name[0] ? token->name : token->id, p->sub, p->issuer_name,
              (long long)p->lifetime, p->manage_access ? ", with manage-access" : "");
  if (t->want.kind == TOKEN_PERSONAL)
    snprintf(a->user, sizeof a->user, "%s", t->user);
  else
    snprintf(a->user, sizeof a->user, "%s/%s", p->org, token->name);
  snprintf(a->token_id, sizeof a->token_id, "%s", token->id);
  p->attempts++;
}

/* The answer for the store's result: the token, or an error in RFC 6749's shape. */
static void reply_issued(struct pending_exchange *p, int rc) {
  struct request *req = p->req;
  const struct target *t = &p->t;
  if (rc == TE_OK) {
    metrics_oidc_exchange(METRICS_OIDC_OK);
    char scope[LOGIN_MAX + 8] = "";
    if (t->want.kind == TOKEN_TEAM)
      snprintf(scope, sizeof scope, "team:%s", t->team);
    else if (t->want.kind == TOKEN_PERSONAL)
      snprintf(scope, sizeof scope, "user:%s", t->user);
    else if (t->want.admin)
      snprintf(scope, sizeof scope, "admin");
    char type[64];
    snprintf(type, sizeof type, TYPE_PREFIX "%s", token_kind_name(t->want.kind));
    reply_json(req, 200,
               json_pack("{s:s, s:s, s:s, s:I, s:s}", "access_token", p->value, "issued_token_type",
                         type, "token_type", "token", "expires_in", (json_int_t)p->lifetime,
                         "scope", scope));
  } else if (rc == TE_NOT_FOUND) { /* the issuer was deleted meanwhile */
    oauth_error(req, METRICS_OIDC_INVALID_GRANT,
                "the subject token cannot be exchanged for this token");
  } else { /* RFC 6749's shape even for our own failures */
    metrics_oidc_exchange(METRICS_OIDC_SERVER_ERROR);
    reply_json(req, error_http_status(TE_INTERNAL),
               json_pack("{s:s, s:s}", "error", metrics_oidc_result_name(METRICS_OIDC_SERVER_ERROR),
                         "error_description", "the token could not be stored; try again"));
  }
}

static void pending_free(struct pending_exchange *p) {
  OPENSSL_cleanse(p, sizeof *p);
  free(p);
}

/* A generated name can collide with one ever used in the org: try again with a fresh id. */
#define ISSUE_ATTEMPTS 3

/* Runs on the store's writer thread once the token is durable (or failed): a collision is queued
 * again (that only enqueues), anything else answered and the request resumed. */
static void exchanged(void *arg, int result) {
  struct pending_exchange *p = arg;
  struct store *store = p->req->app->store;
  if (result == TE_CONFLICT && p->attempts < ISSUE_ATTEMPTS) {
    pending_prepare(p);
    store->ops->oidc_token_insert(store, &p->token, &p->audit, exchanged, p);
    return;
  }
  struct request *req = p->req;
  reply_issued(p, result);
  pending_free(p);
  request_resume(req);
}

/* Makes and stores the token; replies with it. On an HTTP worker the request is suspended while
 * the token waits for its group commit; on an offload thread (a key refresh came first), which
 * already holds the request suspended, the write is awaited there. */
static void issue(struct request *req, const struct store_org *org,
                  const struct store_oidc_issuer *issuer, const struct target *t, json_t *claims,
                  bool manage_access) {
  struct pending_exchange *p = calloc(1, sizeof *p);
  if (!p)
    abort();
  p->req = req;
  p->token = (struct store_token){.kind = t->want.kind,
                                  .org_id = org->id,
                                  .admin = t->want.admin,
                                  .source = TOKEN_SOURCE_OIDC,
                                  .manage_access = manage_access};
  if (resolve_owner(req, org, t, &p->token) != TE_OK) {
    audit_refusal(req, org, issuer->name, "the requested team or user is not in the org");
    oauth_error(req, METRICS_OIDC_INVALID_GRANT,
                "the subject token cannot be exchanged for this token");
    pending_free(p);
    return;
  }
  p->t = *t;
  p->t.want.team = p->t.team;
  p->t.want.user = p->t.user;
  snprintf(p->org, sizeof p->org, "%s", org->name);
  snprintf(p->issuer_id, sizeof p->issuer_id, "%s", issuer->id);
  snprintf(p->issuer_name, sizeof p->issuer_name, "%s", issuer->name);
  p->lifetime = t->expiration < issuer->max_expiration ? t->expiration : issuer->max_expiration;
  p->manage_access = manage_access;
  /* The issuer chooses sub: it may hold control characters, and cutting it at a byte count
   * could split a character, leaving a description that is not UTF-8 and breaks listings. */
  const char *claimed = json_string_value(json_object_get(claims, "sub"));
  text_escape(claimed ? claimed : "(no sub)", p->sub, sizeof p->sub);
  struct store *store = req->app->store;
  if (req->offloaded) {
    int rc = TE_CONFLICT;
    while (rc == TE_CONFLICT && p->attempts < ISSUE_ATTEMPTS) {
      pending_prepare(p);
      rc = store->ops->oidc_token_insert(store, &p->token, &p->audit, NULL, NULL);
    }
    reply_issued(p, rc);
    pending_free(p);
    return;
  }
  pending_prepare(p);
  /* Suspend first: the commit may finish on the writer thread before this function returns. */
  if (!request_defer(req)) {
    pending_free(p);
    return;
  }
  store->ops->oidc_token_insert(store, &p->token, &p->audit, exchanged, p);
}

/* Whether the issuer's policy allows the request, and whether it grants the issued token the
 * right to change who has access. */
static bool policy_allows(const struct store_oidc_issuer *issuer, json_t *claims,
                          const struct oidc_request *want, bool *manage_access) {
  json_t *policies = json_loads(issuer->policy, 0, NULL);
  bool allowed =
      json_is_array(policies) && oidc_policy_decide(policies, claims, want, NULL) == OIDC_ALLOW;
  *manage_access =
      allowed && oidc_policy_grants(policies, claims, want, OIDC_PERMISSION_MANAGE_ACCESS);
  json_decref(policies);
  return allowed;
}

void api_oauth_token(struct request *req) {
  struct exchange x = {0};
  const char *type = request_header(req, "Content-Type");
  bool json = type && strncasecmp(type, "application/json", 16) == 0;
  bool ok = json ? parse_json(&x, req->body ? req->body : "", req->body_len)
                 : parse_form(&x, req->body ? req->body : "", req->body_len);
  struct target t;
  if (!ok)
    oauth_error(req, METRICS_OIDC_INVALID_REQUEST,
                "the request body is malformed or repeats a parameter");
  if (!ok || !read_target(req, &x, &t, true)) {
    exchange_free(&x);
    return;
  }
  const char *generic = "the subject token cannot be exchanged for this token";
  struct store *store = req->app->store;
  struct store_org org;
  struct store_oidc_issuer issuer = {0};
  char iss[OIDC_URL_MAX + 1];
  json_t *claims = NULL;
  const char *why = NULL;
  bool manage_access = false;
  int verified;
  if (store->ops->org_by_name(store, t.org, &org) != TE_OK) {
    oauth_error(req, METRICS_OIDC_INVALID_GRANT, generic);
  } else if (!peek_issuer(x.subject_token, iss, sizeof iss) ||
             store->ops->oidc_issuer_by_iss(store, org.id, iss, &issuer) != TE_OK) {
    audit_refusal(req, &org, "unknown", "the token's issuer is not trusted by the org");
    oauth_error(req, METRICS_OIDC_INVALID_GRANT, generic);
  } else if ((verified = verify_id_token(req, &issuer, x.subject_token, x.audience, &claims,
                                         &why)) == TE_UNAVAILABLE) {
    request_offload(req, api_oauth_token); /* runs it all again where a fetch may block */
  } else if (verified != TE_OK) {
    audit_refusal(req, &org, issuer.name, why ? why : "the token does not verify");
    oauth_error(req, METRICS_OIDC_INVALID_GRANT, generic);
  } else if (!policy_allows(&issuer, claims, &t.want, &manage_access)) {
    audit_refusal(req, &org, issuer.name, "the authorization policy does not allow it");
    oauth_error(req, METRICS_OIDC_INVALID_GRANT, generic);
  } else {
    issue(req, &org, &issuer, &t, claims, manage_access);
  }
  json_decref(claims);
  store_oidc_issuer_clear(&issuer);
  exchange_free(&x);
}

/* Tessera's own: for an admin, what the exchange would decide for a sample ID token and why,
 * step by step and rule by rule. Nothing is issued and nothing is recorded but the request. */
void api_oidc_issuer_explain(struct request *req) {
  static const char *const fields[] = {"token", "requested_token_type", "scope", NULL};
  struct org_access access;
  if (!org_access_check(req, true, &access))
    return;
  struct store *store = req->app->store;
  struct store_oidc_issuer issuer = {0};
  int rc = token_id_is_valid(req->params[1])
               ? store->ops->oidc_issuer_get(store, access.org.id, req->params[1], &issuer)
               : TE_NOT_FOUND;
  if (rc) {
    reply_failure(req, rc, "oidc issuer not found.");
    return;
  }
  json_t *body = request_json_object(req);
  const char *token = NULL, *type = NULL, *scope = NULL;
  char audience[LOGIN_MAX + 32];
  snprintf(audience, sizeof audience, AUDIENCE_PREFIX "%s", access.org.name);
  struct exchange x = {0};
  struct target t;
  bool ok = body && request_fields_allowed(req, body, fields) &&
            request_string_field(req, body, "token", 0, FIELD_MAX, &token) &&
            request_string_field(req, body, "requested_token_type", 0, FIELD_MAX, &type) &&
            request_string_field(req, body, "scope", 0, FIELD_MAX, &scope);
  if (ok && !token) {
    reply_error(req, TE_BAD_REQUEST, "token (a sample ID token) is required.");
    ok = false;
  }
  if (ok) {
    x.grant_type = strdup(GRANT_TOKEN_EXCHANGE);
    x.subject_token = strdup(token);
    x.subject_token_type = strdup(TYPE_ID_TOKEN);
    x.audience = strdup(audience);
    x.requested_token_type = strdup(type ? type : TYPE_PREFIX "organization");
    x.scope = scope ? strdup(scope) : NULL;
    if (!x.grant_type || !x.subject_token || !x.subject_token_type || !x.audience ||
        !x.requested_token_type || (scope && !x.scope))
      abort();
    ok = read_target(req, &x, &t, false);
  }
  json_decref(body);
  if (ok) {
    json_t *claims = NULL;
    const char *why = NULL;
    rc = verify_id_token(req, &issuer, x.subject_token, audience, &claims, &why);
    if (rc == TE_UNAVAILABLE && request_offload(req, api_oidc_issuer_explain)) {
      store_oidc_issuer_clear(&issuer);
      exchange_free(&x);
      return;
    }
    json_t *policies = json_loads(issuer.policy, 0, NULL);
    json_t *explain = NULL;
    enum oidc_decision decision = OIDC_DENY;
    if (rc == TE_OK && json_is_array(policies))
      decision = oidc_policy_decide(policies, claims, &t.want, &explain);
    json_t *reply = json_pack("{s:s, s:{s:b, s:s}}", "decision",
                              rc == TE_OK && decision == OIDC_ALLOW ? "allow" : "deny", "token",
                              "valid", rc == TE_OK, "reason",
                              rc == TE_OK ? "signature, issuer, audience and times check out"
                                          : (why ? why : "the token does not verify"));
    if (reply && claims)
      json_object_set(reply, "claims", claims);
    if (reply && explain)
      json_object_set_new(reply, "policy", explain);
    else
      json_decref(explain);
    json_decref(policies);
    json_decref(claims);
    reply_json(req, 200, reply);
  }
  store_oidc_issuer_clear(&issuer);
  exchange_free(&x);
}
