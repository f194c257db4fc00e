/* POST /api/tokens/leaks: a secret scanner reports values it found, in the shape GitHub's
 * secret-scanning partner program posts (a JSON array of {token, type, url, source}). Each value
 * that is a live Tessera token is revoked at once, with a "token-leak-reported" record naming
 * where it was found in the audit log of every organization it could act in; the answer says, for
 * each value in order, "revoked" or "unknown", and nothing about whose it was.
 *
 * No credentials are asked: holding a token is the proof (as for RFC 7009's revocation), and a
 * scanner has only the values it found. Reports are bounded in size (LEAK_* in core/limits.h)
 * and by a budget per client. */

#include "api/api.h"

#include "api/audit_event.h"
#include "api/budget_table.h"
#include "core/error.h"
#include "core/metrics.h"
#include "core/timeutil.h"
#include "http/auth.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A plain personal token could act in any of its user's organizations; past this many, only the
 * first by name hear of its leak (documented in PROTECTING-SERVICES.md). */
#define LEAK_ORGS_MAX 100

static struct budget_table reporters = BUDGET_TABLE_INIT;

struct leak {
  const char *token, *type, *url, *source;
};

/* Refuses (429, with Retry-After) a client that has used up this minute's reports. */
static bool over_budget(struct request *req) {
  char ip[64], key[BUDGET_KEY_MAX];
  request_client_ip(req, ip, sizeof ip);
  budget_client_key(ip, key);
  int64_t wait_ms =
      budget_window_take(&reporters, key, LEAK_REPORTS_PER_MINUTE, 60000, time_monotonic_ms());
  if (!wait_ms)
    return false;
  req->retry_after = (int)((wait_ms + 999) / 1000);
  reply_error(req, TE_TOO_MANY_REQUESTS, "too many leak reports from this address; retry in %d s.",
              req->retry_after);
  return true;
}

/* One element of the array. GitHub may add fields to its payload; an unknown one is ignored
 * rather than refused (unlike the API's own bodies), so that a report is never lost to it: what
 * is read is bounded, and the body as a whole is. */
static bool read_leak(struct request *req, json_t *item, struct leak *out) {
  if (!json_is_object(item)) {
    reply_error(req, TE_BAD_REQUEST, "each element of the array must be an object.");
    return false;
  }
  if (!request_string_field(req, item, "token", 1, LEAK_TOKEN_MAX, &out->token))
    return false;
  if (!out->token) {
    reply_error(req, TE_BAD_REQUEST, "each element of the array needs \"token\".");
    return false;
  }
  return request_text_field(req, item, "type", 0, LEAK_LABEL_MAX, &out->type) &&
         request_text_field(req, item, "url", 0, LEAK_URL_MAX, &out->url) &&
         request_text_field(req, item, "source", 0, LEAK_LABEL_MAX, &out->source);
}

/* Text readers leave absent fields NULL. */
static const char *or_empty(const char *s) {
  return s ? s : "";
}

/* The record for one organization (org "" for a token that acts in none), said by the holder as
 * RFC 7009's revocation is: no one signed in. */
static void leak_record(struct audit_record *a, struct request *req, const char *org,
                        const struct store_principal *t, const struct leak *l) {
  /* Tokens in what the scanner sent are redacted whole, before the description cuts an over-long
   * URL: a cut first could leave a token's first digits, too few for redaction to see. */
  char url[LEAK_URL_MAX + 1], source[LEAK_LABEL_MAX + 1];
  token_redact(l->url, url, sizeof url);
  token_redact(l->source, source, sizeof source);
  audit_event(a, req, org, "token-leak-reported", false,
              "%s token \"%s\" reported leaked by %s%s%s, and revoked",
              token_kind_name(t->token.kind), t->token.name[0] ? t->token.name : t->token.id,
              source[0] ? source : "a scanner", url[0] ? " at " : "", url);
  snprintf(a->user, sizeof a->user, "%s", t->actor);
  snprintf(a->token_id, sizeof a->token_id, "%s", t->token.id);
  snprintf(a->token_name, sizeof a->token_name, "%s", t->token.name);
}

/* Revokes t with its records: in its one organization, or for a personal token in each of its
 * user's (none: one record that names no organization). */
static int revoke_leaked(struct request *req, const struct store_principal *t,
                         const struct leak *l) {
  struct store *store = req->app->store;
  struct store_membership *orgs = NULL;
  size_t count = 0;
  bool everywhere = t->token.kind == TOKEN_PERSONAL && !t->scope_org_id;
  int rc = everywhere ? store->ops->memberships(store, t->user.id, &orgs, &count) : TE_OK;
  if (rc)
    return rc;
  size_t records = !everywhere || count == 0 ? 1 : count < LEAK_ORGS_MAX ? count : LEAK_ORGS_MAX;
  struct audit_record *a = calloc(records, sizeof *a);
  if (!a)
    abort();
  for (size_t i = 0; i < records; i++)
    leak_record(&a[i], req, !everywhere ? t->org : count ? orgs[i].org : "", t, l);
  rc = store->ops->token_revoke(store, &t->token, a, records);
  free(a);
  free(orgs);
  return rc;
}

/* "revoked" when this report revoked a live token, "unknown" for anything else; a store that
 * failed is the caller's to report (the scanner must not believe a live token dead). */
static int handle(struct request *req, const struct leak *l, const char **result) {
  *result = "unknown";
  size_t len = strlen(l->token);
  if (!token_is_well_formed(l->token, len))
    return TE_OK;
  struct store_principal t;
  int rc = auth_principal_of(req->app->store, l->token, len, false, time_now(), &t);
  if (rc == TE_OK && (rc = revoke_leaked(req, &t, l)) == TE_OK)
    *result = "revoked";
  return rc == TE_UNAUTHORIZED || rc == TE_NOT_FOUND ? TE_OK : rc;
}

static json_t *answer_for(const struct leak *l, const char *result) {
  char hex[2 * TOKEN_HASH_LEN + 1];
  token_hash_hex(l->token, strlen(l->token), hex);
  return json_pack("{s:s, s:s, s:s}", "token_hash", hex, "type", l->type, "result", result);
}

void api_token_leaks_report(struct request *req) {
  if (over_budget(req))
    return;
  json_t *body = request_json_value(req);
  if (!body)
    return;
  size_t n = json_is_array(body) ? json_array_size(body) : 0;
  if (n == 0 || n > LEAK_VALUES_MAX) {
    json_decref(body);
    reply_error(req, TE_BAD_REQUEST, "the body must be a JSON array of 1 to %d reported values.",
                LEAK_VALUES_MAX);
    return;
  }
  struct leak *leaks = calloc(n, sizeof *leaks);
  if (!leaks)
    abort();
  bool ok = true;
  for (size_t i = 0; i < n && ok; i++) {
    ok = read_leak(req, json_array_get(body, i), &leaks[i]);
    leaks[i].type = or_empty(leaks[i].type);
    leaks[i].url = or_empty(leaks[i].url);
    leaks[i].source = or_empty(leaks[i].source);
  }
  json_t *answer = ok ? json_array() : NULL;
  for (size_t i = 0; i < n && ok; i++) {
    const char *result;
    int rc = handle(req, &leaks[i], &result);
    if (rc) {
      reply_failure(req, rc, "");
      ok = false;
    } else {
      json_array_append_new(answer, answer_for(&leaks[i], result));
      metrics_leak_reported(strcmp(result, "revoked") == 0);
    }
  }
  if (ok)
    reply_json(req, 200, answer);
  else
    json_decref(answer);
  free(leaks);
  json_decref(body);
}
