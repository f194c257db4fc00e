/* OIDC issuers an organization trusts, and their authorization policies: RegisterOidcIssuer,
 * List_orgs_oidc_issuers, GetOidcIssuer, UpdateOidcIssuer, DeleteOidcIssuer,
 * RegenerateThumbprints, GetAuthPolicy, UpdateAuthPolicy. All for org admins: a trust
 * relationship decides who may obtain the organization's tokens. */

#include "api/api.h"

#include "api/audit_event.h"
#include "api/oidc_keys.h"
#include "api/org_access.h"
#include "core/error.h"
#include "core/names.h"
#include "core/timeutil.h"
#include "core/token.h"
#include "http/offload.h"
#include "oidc/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EXPIRATION_DEFAULT (25 * 3600) /* Pulumi's default: a day and an hour */
#define MAX_EXPIRATION_LIMIT (31LL * 86400)
#define THUMBPRINTS_MAX 8

static json_t *time_json(int64_t t) {
  char text[RFC3339_LEN + 1];
  time_format_rfc3339(t, text);
  return json_string(text);
}

/* OidcIssuerRegistrationResponse. Its optional jwks is left out: the spec describes it as Go's
 * JSONWebKey struct (Key, KeyID, Certificates, ...), not the RFC 7517 form issuers publish, and
 * the keys are the issuer's own, public at its jwks_uri. */
static json_t *issuer_json(const struct store_oidc_issuer *i) {
  json_t *thumbprints = json_loads(i->thumbprints, 0, NULL);
  json_t *out = json_pack("{s:s, s:s, s:s, s:s, s:o, s:I, s:o, s:o}", "id", i->id, "name", i->name,
                          "url", i->url, "issuer", i->issuer, "thumbprints",
                          thumbprints ? thumbprints : json_array(), "maxExpiration",
                          (json_int_t)i->max_expiration, "created", time_json(i->created),
                          "modified", time_json(i->modified));
  if (out && i->last_used)
    json_object_set_new(out, "lastUsed", time_json(i->last_used));
  return out;
}

/* Resolves {issuerId} (the route's second segment) in the org; replies 404 itself. */
static bool find_issuer(struct request *req, const struct org_access *access, const char *id,
                        struct store_oidc_issuer *out) {
  struct store *store = req->app->store;
  int rc = token_id_is_valid(id) ? store->ops->oidc_issuer_get(store, access->org.id, id, out)
                                 : TE_NOT_FOUND;
  if (rc == TE_NOT_FOUND)
    reply_error(req, TE_NOT_FOUND, "oidc issuer not found.");
  else if (rc)
    reply_failure(req, rc, "");
  return rc == TE_OK;
}

static bool read_max_expiration(struct request *req, json_t *body, int64_t *out) {
  return request_integer_field(req, body, "maxExpiration", 60, MAX_EXPIRATION_LIMIT, out);
}

/* thumbprints: up to 8 certificate fingerprints, SHA-256 (64 hex digits) or, as Pulumi's spec
 * describes them, SHA-1 (40); stored lower-case. null counts as absent only where null_absent:
 * Pulumi's Cloud provider updates an issuer with "thumbprints": null when none are configured
 * (a Go pointer to a nil slice). */
static bool read_thumbprints(struct request *req, json_t *body, bool null_absent,
                             char out[OIDC_THUMBPRINTS_MAX + 1], bool *given) {
  json_t *v = json_object_get(body, "thumbprints");
  if (null_absent && json_is_null(v))
    v = NULL;
  *given = v != NULL;
  if (!v)
    return true;
  if (!json_is_array(v)) {
    request_refuse_type(req, "thumbprints", v, "an array of certificate fingerprints");
    return false;
  }
  bool ok = json_array_size(v) <= THUMBPRINTS_MAX;
  json_t *clean = json_array();
  for (size_t i = 0; ok && i < json_array_size(v); i++) {
    const char *t = json_string_value(json_array_get(v, i));
    char lower[OIDC_THUMBPRINT_LEN + 1] = "";
    size_t n = t ? strlen(t) : 0;
    ok = n == OIDC_THUMBPRINT_LEN || n == OIDC_THUMBPRINT_SHA1_LEN;
    for (size_t k = 0; ok && k < n; k++) {
      char c = t[k] >= 'A' && t[k] <= 'F' ? (char)(t[k] - 'A' + 'a') : t[k];
      ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      lower[k] = c;
    }
    lower[ok ? n : 0] = '\0';
    if (ok)
      json_array_append_new(clean, json_string(lower));
  }
  char *text = ok ? json_dumps(clean, JSON_COMPACT) : NULL;
  json_decref(clean);
  if (!text) {
    reply_error(req, TE_BAD_REQUEST,
                "thumbprints must be at most %d certificate fingerprints: SHA-256 (64 hex digits) "
                "or SHA-1 (40).",
                THUMBPRINTS_MAX);
    return false;
  }
  snprintf(out, OIDC_THUMBPRINTS_MAX + 1, "%s", text);
  free(text);
  return true;
}

/* jwks given in the body: a static key set, which must hold at least one usable key. */
static bool read_static_jwks(struct request *req, json_t *body, char **out) {
  json_t *v = json_object_get(body, "jwks");
  *out = NULL;
  if (!v)
    return true;
  if (!json_is_object(v)) {
    request_refuse_type(req, "jwks", v, "a JSON Web Key Set object");
    return false;
  }
  char *text = json_dumps(v, JSON_COMPACT);
  char why[160];
  if (!text || oidc_keys_check(text, why, sizeof why) != TE_OK) {
    reply_error(req, TE_BAD_REQUEST, "jwks: %s", text ? why : "must be a JSON Web Key Set object.");
    free(text);
    return false;
  }
  *out = text;
  return true;
}

static void reply_change(struct request *req, int rc, const struct org_access *access,
                         const char *conflict) {
  if (rc == TE_FORBIDDEN)
    org_access_refuse(req, access, "the admin role in organization");
  else if (rc == TE_CONFLICT)
    reply_error(req, TE_CONFLICT, "%s", conflict);
  else if (rc == TE_NOT_FOUND)
    reply_error(req, TE_NOT_FOUND, "oidc issuer not found.");
  else
    reply_failure(req, rc, "");
}

void api_oidc_issuer_register(struct request *req) {
  static const char *const fields[] = {"name", "url", "thumbprints", "maxExpiration", "jwks", NULL};
  struct org_access access;
  if (!org_access_check(req, true, &access) || !org_access_person(req, &access))
    return;
  json_t *body = request_json_object(req);
  if (!body)
    return;
  struct store_oidc_issuer i = {
      .org_id = access.org.id, .max_expiration = MAX_EXPIRATION_DEFAULT, .policy_version = 1};
  const char *name = NULL, *url = NULL;
  bool pinned = false;
  bool ok = request_fields_allowed(req, body, fields) &&
            request_text_field(req, body, "name", 1, OIDC_NAME_MAX, &name) &&
            request_text_field(req, body, "url", 1, OIDC_URL_MAX, &url) &&
            read_max_expiration(req, body, &i.max_expiration) &&
            read_thumbprints(req, body, false, i.thumbprints, &pinned) &&
            read_static_jwks(req, body, &i.jwks);
  if (ok && (!name || !url)) {
    reply_error(req, TE_BAD_REQUEST, "name and url are required.");
    ok = false;
  }
  if (ok && !oidc_issuer_url_allowed(url, req->app->issuer_fetch.allow_http)) {
    reply_error(req, TE_BAD_REQUEST,
                "url must be an https:// URL with no user name, password, query or fragment.");
    ok = false;
  }
  if (ok) {
    snprintf(i.name, sizeof i.name, "%s", name);
    snprintf(i.url, sizeof i.url, "%s", url);
  }
  json_decref(body);
  if (!ok) {
    free(i.jwks);
    return;
  }
  if (!pinned)
    snprintf(i.thumbprints, sizeof i.thumbprints, "[]");
  /* Discovery fetches (up to seconds): off the HTTP workers, where this runs again whole. */
  if (!i.jwks && request_offload(req, api_oidc_issuer_register)) {
    store_oidc_issuer_clear(&i);
    return;
  }
  char why[256];
  int rc = oidc_keys_discover(req->app, &i, why, sizeof why);
  if (rc) {
    reply_error(req, TE_BAD_REQUEST, "%s", why);
    store_oidc_issuer_clear(&i);
    return;
  }
  token_new_id(i.id);
  token_new_id(i.policy_id);
  i.created = i.modified = i.policy_modified = time_now();
  i.policy = strdup("[]"); /* deny-all until an admin writes a policy */
  if (!i.policy)
    abort();
  struct audit_record a;
  audit_event(&a, req, access.org.name, "oidc-issuer-registered", true,
              "registered OIDC issuer %s (%s)", i.name, i.issuer);
  struct store *store = req->app->store;
  struct store_actor actor = org_actor(req, ACTOR_ORG_ADMIN_PERSON);
  rc = store->ops->oidc_issuer_insert(store, &actor, &i, &a);
  if (rc)
    reply_change(req, rc, &access, "this organization already trusts an issuer with that iss.");
  else
    reply_json(req, 200, issuer_json(&i));
  store_oidc_issuer_clear(&i);
}

void api_oidc_issuers_list(struct request *req) {
  struct org_access access;
  if (!org_access_check(req, true, &access))
    return;
  struct store *store = req->app->store;
  struct store_oidc_issuer *items;
  size_t count;
  int rc = store->ops->oidc_issuers_list(store, access.org.id, &items, &count);
  if (rc) {
    reply_failure(req, rc, "");
    return;
  }
  json_t *list = json_array();
  for (size_t k = 0; k < count; k++)
    json_array_append_new(list, issuer_json(&items[k]));
  store_oidc_issuers_free(items, count);
  reply_json(req, 200, json_pack("{s:o}", "oidcIssuers", list));
}

void api_oidc_issuer_get(struct request *req) {
  struct org_access access;
  struct store_oidc_issuer i;
  if (!org_access_check(req, true, &access) || !find_issuer(req, &access, req->params[1], &i))
    return;
  reply_json(req, 200, issuer_json(&i));
  store_oidc_issuer_clear(&i);
}

/* Writes the changed issuer and replies with it. */
static void save_issuer(struct request *req, const struct org_access *access,
                        struct store_oidc_issuer *i, const char *what) {
  i->modified = time_now();
  struct audit_record a;
  audit_event(&a, req, access->org.name, "oidc-issuer-updated", true, "%s OIDC issuer %s (%s)",
              what, i->name, i->issuer);
  struct store *store = req->app->store;
  struct store_actor actor = org_actor(req, ACTOR_ORG_ADMIN_PERSON);
  int rc = store->ops->oidc_issuer_update(store, &actor, i, &a);
  if (rc)
    reply_change(req, rc, access, "");
  else
    reply_json(req, 200, issuer_json(i));
}

void api_oidc_issuer_update(struct request *req) {
  static const char *const fields[] = {"name", "thumbprints", "maxExpiration", "jwks", NULL};
  struct org_access access;
  struct store_oidc_issuer i;
  if (!org_access_check(req, true, &access) || !org_access_person(req, &access) ||
      !find_issuer(req, &access, req->params[1], &i))
    return;
  json_t *body = request_json_object(req);
  const char *name = NULL;
  char *jwks = NULL;
  bool pinned = false;
  bool ok = body && request_fields_allowed(req, body, fields) &&
            request_text_field(req, body, "name", 1, OIDC_NAME_MAX, &name) &&
            read_max_expiration(req, body, &i.max_expiration) &&
            read_thumbprints(req, body, true, i.thumbprints, &pinned) &&
            read_static_jwks(req, body, &jwks);
  if (ok && name)
    snprintf(i.name, sizeof i.name, "%s", name);
  if (ok && jwks) {
    free(i.jwks);
    i.jwks = jwks;
    i.static_jwks = true;
    i.jwks_uri[0] = '\0';
  }
  json_decref(body);
  if (ok)
    save_issuer(req, &access, &i, "updated");
  store_oidc_issuer_clear(&i);
}

void api_oidc_issuer_regenerate_thumbprints(struct request *req) {
  struct org_access access;
  struct store_oidc_issuer i;
  if (!org_access_check(req, true, &access) || !org_access_person(req, &access) ||
      !find_issuer(req, &access, req->params[1], &i))
    return;
  char why[256];
  if (i.static_jwks) {
    reply_error(req, TE_BAD_REQUEST,
                "issuer jwks are statically configured, can't regenerate thumbprints");
  } else if (request_offload(req, api_oidc_issuer_regenerate_thumbprints)) {
    /* runs again whole off the HTTP workers, where the fetch may block */
  } else {
    snprintf(i.thumbprints, sizeof i.thumbprints, "[]");
    free(i.jwks);
    i.jwks = NULL;
    if (oidc_keys_discover(req->app, &i, why, sizeof why) != TE_OK)
      reply_error(req, TE_BAD_REQUEST, "%s", why);
    else
      save_issuer(req, &access, &i, "regenerated the thumbprints and keys of");
  }
  store_oidc_issuer_clear(&i);
}

void api_oidc_issuer_delete(struct request *req) {
  struct org_access access;
  struct store_oidc_issuer i;
  if (!org_access_check(req, true, &access) || !org_access_person(req, &access) ||
      !find_issuer(req, &access, req->params[1], &i))
    return;
  struct audit_record a;
  audit_event(&a, req, access.org.name, "oidc-issuer-deleted", true, "deleted OIDC issuer %s (%s)",
              i.name, i.issuer);
  struct store *store = req->app->store;
  struct store_actor actor = org_actor(req, ACTOR_ORG_ADMIN_PERSON);
  int rc = store->ops->oidc_issuer_delete(store, &actor, access.org.id, i.id, &a);
  if (rc)
    reply_change(req, rc, &access, "");
  else
    reply_empty(req, 204);
  store_oidc_issuer_clear(&i);
}

static json_t *policy_json(const struct store_oidc_issuer *i) {
  json_t *policies = json_loads(i->policy, 0, NULL);
  return json_pack("{s:s, s:I, s:o, s:o, s:o}", "id", i->policy_id, "version",
                   (json_int_t)i->policy_version, "created", time_json(i->created), "modified",
                   time_json(i->policy_modified), "policies", policies ? policies : json_array());
}

void api_auth_policy_get(struct request *req) {
  struct org_access access;
  struct store_oidc_issuer i;
  if (!token_id_is_valid(req->params[1])) {
    reply_error(req, TE_BAD_REQUEST, "Invalid issuer ID");
    return;
  }
  if (!org_access_check(req, true, &access) || !find_issuer(req, &access, req->params[1], &i))
    return;
  reply_json(req, 200, policy_json(&i));
  store_oidc_issuer_clear(&i);
}

void api_auth_policy_update(struct request *req) {
  static const char *const fields[] = {"policies", NULL};
  struct org_access access;
  if (!org_access_check(req, true, &access) || !org_access_person(req, &access))
    return;
  struct store *store = req->app->store;
  struct store_oidc_issuer i;
  int rc = token_id_is_valid(req->params[1])
               ? store->ops->oidc_issuer_by_policy(store, access.org.id, req->params[1], &i)
               : TE_NOT_FOUND;
  if (rc) {
    reply_failure(req, rc, "no such policy.");
    return;
  }
  json_t *body = request_json_object(req);
  json_t *policies = body ? json_object_get(body, "policies") : NULL;
  char why[256] = "";
  bool ok = body && request_fields_allowed(req, body, fields);
  if (ok && policies && !json_is_array(policies)) {
    request_refuse_type(req, "policies", policies, "an array of policies");
    ok = false;
  }
  if (ok && json_array_size(policies) == 0) { /* Pulumi's words, for absent or [] */
    reply_error(req, TE_BAD_REQUEST, "policy definition can not be empty");
    ok = false;
  }
  if (ok && oidc_policy_validate(policies, why, sizeof why) != TE_OK) {
    reply_error(req, TE_BAD_REQUEST, "%s", why);
    ok = false;
  }
  /* null is how some clients spell an unset teamName, userLogin, roleID or runnerID; it is not
   * kept, so that the policy reads back as Pulumi's schema has it (strings or absent). */
  size_t k;
  json_t *policy;
  json_array_foreach(ok ? policies : NULL, k, policy) {
    static const char *const optional[] = {"teamName", "userLogin", "roleID", "runnerID"};
    for (size_t f = 0; f < sizeof optional / sizeof optional[0]; f++)
      if (json_is_null(json_object_get(policy, optional[f])))
        json_object_del(policy, optional[f]);
  }
  char *text = ok ? json_dumps(policies, JSON_COMPACT) : NULL;
  json_decref(body);
  if (ok) {
    struct audit_record a;
    audit_event(&a, req, access.org.name, "authorization-policy-updated", true,
                "updated the authorization policy of OIDC issuer %s (%s)", i.name, i.issuer);
    struct store_actor actor = org_actor(req, ACTOR_ORG_ADMIN_PERSON);
    rc = store->ops->oidc_policy_update(store, &actor, access.org.id, i.policy_id, text, &a);
    store_oidc_issuer_clear(&i);
    if (rc == TE_OK)
      rc = store->ops->oidc_issuer_by_policy(store, access.org.id, req->params[1], &i);
    if (rc)
      reply_change(req, rc, &access, "");
    else
      reply_json(req, 200, policy_json(&i));
  }
  free(text);
  store_oidc_issuer_clear(&i);
}
