#include "core/metrics.h"

#ifndef TESSERA_VERSION /* CMake sets it from project(); other builds (fuzz/) may not */
#define TESSERA_VERSION "unknown"
#endif

static struct prom_counter auth_checks[METRICS_AUTH_RESULTS];
static struct prom_counter cache_lookups[METRICS_CACHES][2]; /* [cache][hit] */
static struct prom_counter cache_dropped, cache_forgotten;
static struct prom_counter commits, commit_failures, audit_records;
static struct prom_histogram commit_jobs;
static struct prom_counter oidc_exchanges[METRICS_OIDC_RESULTS];
static struct prom_counter leaked_values[2]; /* [revoked] */
static atomic_int_least64_t start_time;
static atomic_uint_least64_t cache_tokens, cache_complete;

/* Powers of two up to the writer's batch bound (store/sql_writer.c, BATCH_MAX). */
static const uint64_t job_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
static const struct prom_buckets job_buckets = {job_bounds, sizeof job_bounds / sizeof *job_bounds,
                                                0};

static const char *const auth_names[METRICS_AUTH_RESULTS] = {NULL,      "ok",      "unknown",
                                                             "expired", "revoked", "policy"};
static const char *const cache_names[METRICS_CACHES] = {"principal", "membership"};
static const char *const oidc_names[METRICS_OIDC_RESULTS] = {
    "ok",          "invalid_request", "invalid_grant", "invalid_target", "unsupported_grant_type",
    "server_error"};

void metrics_auth_check(enum metrics_auth_result result) {
  if (result > METRICS_AUTH_NONE && result < METRICS_AUTH_RESULTS)
    prom_add(&auth_checks[result], 1);
}

void metrics_cache_lookup(enum metrics_cache cache, bool hit) {
  prom_add(&cache_lookups[cache][hit], 1);
}

void metrics_cache_dropped(uint64_t entries) {
  prom_add(&cache_dropped, entries);
}

void metrics_cache_tokens(uint64_t entries, bool complete) {
  atomic_store_explicit(&cache_tokens, entries, memory_order_relaxed);
  atomic_store_explicit(&cache_complete, complete, memory_order_relaxed);
}

void metrics_cache_forgotten(void) {
  prom_add(&cache_forgotten, 1);
}

void metrics_commit(unsigned jobs, unsigned records) {
  prom_add(&commits, 1);
  prom_add(&audit_records, records);
  prom_observe(&commit_jobs, &job_buckets, jobs);
}

void metrics_commit_failed(void) {
  prom_add(&commit_failures, 1);
}

const char *metrics_oidc_result_name(enum metrics_oidc_result result) {
  return oidc_names[result];
}

void metrics_oidc_exchange(enum metrics_oidc_result result) {
  prom_add(&oidc_exchanges[result], 1);
}

void metrics_leak_reported(bool revoked) {
  prom_add(&leaked_values[revoked], 1);
}

void metrics_started(int64_t unix_seconds) {
  atomic_store_explicit(&start_time, unix_seconds, memory_order_relaxed);
}

static void render_process(struct prom_text *out) {
  prom_family(out, "tessera_build_info", "gauge", "Always 1; the version of this binary.");
  prom_sample(out, "tessera_build_info", &(struct prom_label){"version", TESSERA_VERSION}, 1, 1);
  prom_family(out, "tessera_start_time_seconds", "gauge",
              "When this process started serving, in Unix seconds.");
  prom_sample(out, "tessera_start_time_seconds", NULL, 0,
              (uint64_t)atomic_load_explicit(&start_time, memory_order_relaxed));
}

static void render_auth(struct prom_text *out) {
  prom_family(out, "tessera_auth_checks_total", "counter",
              "Credential checks of requests, by result: ok, unknown (absent, malformed or no such "
              "token), expired, revoked (deleted, as this process saw), policy (refused by a "
              "requirement).");
  for (int r = METRICS_AUTH_OK; r < METRICS_AUTH_RESULTS; r++)
    prom_sample(out, "tessera_auth_checks_total", &(struct prom_label){"result", auth_names[r]}, 1,
                prom_read(&auth_checks[r]));
}

static void render_cache(struct prom_text *out) {
  prom_family(out, "tessera_cache_lookups_total", "counter",
              "Token (principal) and membership lookups, answered from memory (hit) or the store "
              "(miss).");
  for (int c = 0; c < METRICS_CACHES; c++)
    for (int hit = 1; hit >= 0; hit--) {
      struct prom_label labels[] = {{"cache", cache_names[c]}, {"result", hit ? "hit" : "miss"}};
      prom_sample(out, "tessera_cache_lookups_total", labels, 2, prom_read(&cache_lookups[c][hit]));
    }
  prom_family(out, "tessera_cache_invalidations_total", "counter",
              "Cache entries dropped because the change feed named what they depend on (entry), "
              "and times the whole cache was forgotten at once (all).");
  prom_sample(out, "tessera_cache_invalidations_total", &(struct prom_label){"scope", "entry"}, 1,
              prom_read(&cache_dropped));
  prom_sample(out, "tessera_cache_invalidations_total", &(struct prom_label){"scope", "all"}, 1,
              prom_read(&cache_forgotten));
  prom_family(out, "tessera_cache_tokens", "gauge",
              "Tokens whose principal the cache holds (fresh or to be read again).");
  prom_sample(out, "tessera_cache_tokens", NULL, 0,
              atomic_load_explicit(&cache_tokens, memory_order_relaxed));
  prom_family(out, "tessera_cache_complete", "gauge",
              "1 once the cache holds every token, and refuses any other value without a read of "
              "the store; 0 while it loads them.");
  prom_sample(out, "tessera_cache_complete", NULL, 0,
              atomic_load_explicit(&cache_complete, memory_order_relaxed));
}

static void render_store(struct prom_text *out) {
  prom_family(out, "tessera_store_commits_total", "counter",
              "Write transactions committed by this process's group-commit writer.");
  prom_sample(out, "tessera_store_commits_total", NULL, 0, prom_read(&commits));
  prom_family(out, "tessera_store_commit_failures_total", "counter",
              "Write transactions the writer could not commit (their writes were refused).");
  prom_sample(out, "tessera_store_commit_failures_total", NULL, 0, prom_read(&commit_failures));
  prom_family(out, "tessera_store_group_commit_jobs", "histogram",
              "Writes grouped in each committed transaction.");
  prom_histogram_samples(out, "tessera_store_group_commit_jobs", NULL, 0, &commit_jobs,
                         &job_buckets);
  prom_family(out, "tessera_audit_records_total", "counter",
              "Audit records committed by this process.");
  prom_sample(out, "tessera_audit_records_total", NULL, 0, prom_read(&audit_records));
}

static void render_oidc(struct prom_text *out) {
  prom_family(out, "tessera_oidc_exchanges_total", "counter",
              "OIDC token exchanges (POST /api/oauth/token), by result: ok, or the RFC 6749 error "
              "code answered.");
  for (int r = 0; r < METRICS_OIDC_RESULTS; r++)
    prom_sample(out, "tessera_oidc_exchanges_total", &(struct prom_label){"result", oidc_names[r]},
                1, prom_read(&oidc_exchanges[r]));
}

static void render_leaks(struct prom_text *out) {
  prom_family(out, "tessera_leaked_tokens_total", "counter",
              "Values reported by secret scanners (POST /api/tokens/leaks), by result: revoked (a "
              "live token, revoked) or unknown (anything else).");
  static const char *const names[2] = {"unknown", "revoked"};
  for (int r = 0; r < 2; r++)
    prom_sample(out, "tessera_leaked_tokens_total", &(struct prom_label){"result", names[r]}, 1,
                prom_read(&leaked_values[r]));
}

void metrics_render(struct prom_text *out) {
  render_process(out);
  render_auth(out);
  render_cache(out);
  render_store(out);
  render_oidc(out);
  render_leaks(out);
}
