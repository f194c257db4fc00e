/* tessera scan --report URL: each value found goes once to URL's POST /api/tokens/leaks, which
 * revokes it if it is a live token there. No Authorization: whoever holds a leaked value may
 * report it, and the scanner needs no token of its own. */

#include "cli/scan.h"

#include "cli/cli.h"
#include "cli/client.h"
#include "core/limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LEAKS_PATH "/api/tokens/leaks"
#define RETRY_WAIT_MAX 60 /* seconds of a 429's Retry-After that are waited out, once */
#define DIGEST_LEN (2 * TOKEN_HASH_LEN)

/* The values found, each once, in the order they were first found. */
struct unique {
  size_t count;
  size_t *first;                  /* the finding each value was first found at */
  size_t *of;                     /* for each finding, its value's index here */
  char (*digest)[DIGEST_LEN + 1]; /* each value's SHA-256 */
  const char **result;            /* each value's answer, once it came */
};

static void unique_values(const struct scan_run *run, struct unique *u) {
  u->count = 0;
  u->first = calloc(run->count + 1, sizeof *u->first);
  u->of = calloc(run->count + 1, sizeof *u->of);
  u->digest = calloc(run->count + 1, sizeof *u->digest);
  u->result = calloc(run->count + 1, sizeof *u->result);
  if (!u->first || !u->of || !u->digest || !u->result)
    abort();
  json_t *index = json_object();
  for (size_t i = 0; i < run->count; i++) {
    char digest[DIGEST_LEN + 1];
    scan_digest(run->findings[i].value, digest);
    json_t *known = json_object_get(index, digest);
    if (known) {
      u->of[i] = (size_t)json_integer_value(known);
      continue;
    }
    json_object_set_new(index, digest, json_integer((json_int_t)u->count));
    memcpy(u->digest[u->count], digest, sizeof digest);
    u->first[u->count] = i;
    u->of[i] = u->count++;
  }
  json_decref(index);
}

static json_t *batch_body(const struct scan_run *run, const struct unique *u, size_t from,
                          size_t n) {
  json_t *body = json_array();
  for (size_t k = from; k < from + n; k++) {
    const struct scan_finding *f = &run->findings[u->first[k]];
    json_array_append_new(body,
                          json_pack("{s:s, s:s, s:s, s:s}", "token", f->value, "type",
                                    "tessera_token", "url", f->url, "source", "tessera-scan"));
  }
  return body;
}

/* POSTs body; a 429 whose Retry-After is short is waited out and tried once more. */
static int post(const struct cli_target *t, json_t *body, struct cli_reply *r) {
  int rc = cli_request(t, "POST", LEAKS_PATH, body, r);
  if (r->status == 429 && r->retry_after >= 0 && r->retry_after <= RETRY_WAIT_MAX) {
    fprintf(stderr, "tessera: scan: the server is rate limiting reports; trying again in %ld s\n",
            r->retry_after);
    sleep((unsigned)r->retry_after);
    json_decref(r->body);
    rc = cli_request(t, "POST", LEAKS_PATH, body, r);
  }
  return rc;
}

/* Whether the answer is what the endpoint promises: one result a value, in order. */
static bool answer_fits(json_t *answer, const struct unique *u, size_t from, size_t n) {
  if (!json_is_array(answer) || json_array_size(answer) != n)
    return false;
  for (size_t k = 0; k < n; k++) {
    json_t *item = json_array_get(answer, k);
    const char *hash = json_string_value(json_object_get(item, "token_hash"));
    const char *result = json_string_value(json_object_get(item, "result"));
    if (!hash || strcmp(hash, u->digest[from + k]) != 0 || !result ||
        (strcmp(result, "revoked") != 0 && strcmp(result, "unknown") != 0))
      return false;
  }
  return true;
}

static void report_failure(const char *url, const struct cli_reply *r, size_t left) {
  char why[1024]; /* cli_fail escapes it all, the server's message included */
  if (r->status == 429 && r->retry_after >= 0)
    snprintf(why, sizeof why, "the server's rate limit for reports is spent: try again in %ld s",
             r->retry_after);
  else if (r->status == 429)
    snprintf(why, sizeof why, "the server's rate limit for reports is spent: try again later");
  else if (r->status == 0)
    snprintf(why, sizeof why, "%s", r->message);
  else if (r->status >= 200 && r->status < 300)
    snprintf(why, sizeof why, "%.300s answered %s with something other than one result a value",
             url, LEAKS_PATH);
  else
    snprintf(why, sizeof why, "%.300s refused the report (HTTP %ld): %s", url, r->status,
             r->message);
  char message[2048];
  snprintf(message, sizeof message, "scan: %s; %zu value%s not reported", why, left,
           left == 1 ? "" : "s");
  cli_fail(message);
}

int scan_report(struct scan_run *run, const char *base_url, bool quiet) {
  struct unique u;
  unique_values(run, &u);
  struct cli_target t = {0}; /* no token: the report carries no credentials */
  snprintf(t.url, sizeof t.url, "%s", base_url);
  size_t revoked = 0, reported = 0;
  int rc = 0;
  for (size_t from = 0; from < u.count && rc == 0; from += LEAK_VALUES_MAX) {
    size_t n = u.count - from < LEAK_VALUES_MAX ? u.count - from : LEAK_VALUES_MAX;
    json_t *body = batch_body(run, &u, from, n);
    struct cli_reply r;
    if (post(&t, body, &r) != 0 || !answer_fits(r.body, &u, from, n)) {
      report_failure(base_url, &r, u.count - from);
      rc = 1;
    }
    for (size_t k = 0; k < n && rc == 0; k++) {
      const char *result = json_string_value(json_object_get(json_array_get(r.body, k), "result"));
      bool is_revoked = strcmp(result, "revoked") == 0;
      revoked += is_revoked;
      u.result[from + k] = is_revoked ? "revoked" : "unknown";
      char hint[SCAN_HINT_LEN + 4], where[8 * SCAN_PATH_MAX];
      const struct scan_finding *f = &run->findings[u.first[from + k]];
      if (!quiet)
        printf("%s: %s (%s)\n", is_revoked ? "revoked" : "unknown", scan_hint(f->value, hint),
               scan_where(f, where, sizeof where));
    }
    reported += rc == 0 ? n : 0;
    json_decref(r.body);
    json_decref(body);
  }
  if (!quiet && reported) {
    char safe_url[4 * CLI_URL_MAX + 1];
    printf("reported %zu value%s to %s: %zu revoked, %zu unknown\n", reported,
           reported == 1 ? "" : "s", cli_safe(base_url, safe_url, sizeof safe_url), revoked,
           reported - revoked);
  }
  for (size_t i = 0; i < run->count; i++)
    run->findings[i].result = u.result[u.of[i]];
  free(u.first);
  free(u.of);
  free(u.digest);
  free(u.result);
  run->errors += rc;
  return rc;
}
