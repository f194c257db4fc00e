#ifndef TESSERA_CORE_METRICS_H
#define TESSERA_CORE_METRICS_H

/* What the process counts, for GET /metrics (docs/METRICS.md names and explains every family):
 * authentication results, the cache, the store's commits and audit records, OIDC exchanges. Every
 * layer counts here; the HTTP families are http/route_metrics.c's. Counting is lock-free and
 * allocation-free (core/prometheus.h), so it may sit on any hot path. The counters are this
 * process's alone: each node of a deployment has its own, which Prometheus sums. */

#include "core/prometheus.h"

#include <stdbool.h>
#include <stdint.h>

/* How a request's credential fared, counted once per request that presented or needed one
 * (tessera_auth_checks_total{result}). NONE: no check was made, or the store could not answer. */
enum metrics_auth_result {
  METRICS_AUTH_NONE = 0,
  METRICS_AUTH_OK,
  METRICS_AUTH_UNKNOWN, /* absent, malformed, or no such token */
  METRICS_AUTH_EXPIRED,
  METRICS_AUTH_REVOKED, /* a token this process saw deleted (store/cache.c remembers them) */
  METRICS_AUTH_POLICY,  /* a valid token refused by a requirement: /auth/check's, CSRF, a cap */
  METRICS_AUTH_RESULTS
};

void metrics_auth_check(enum metrics_auth_result result);

enum metrics_cache { METRICS_CACHE_PRINCIPAL, METRICS_CACHE_MEMBERSHIP, METRICS_CACHES };

/* A lookup answered from memory (hit) or from the store (miss, also when memory is not trusted). */
void metrics_cache_lookup(enum metrics_cache cache, bool hit);
/* Entries dropped one by one because the change feed named what they depend on. */
void metrics_cache_dropped(uint64_t entries);
/* The whole cache forgotten at once (a gap in the feed, a huge commit, a failed read). */
void metrics_cache_forgotten(void);
/* The tokens the principal cache holds, and whether that is every token (so that it refuses the
 * others without asking the store). */
void metrics_cache_tokens(uint64_t entries, bool complete);

/* A write transaction committed with `jobs` writes grouped in it, `audit_records` of them
 * audited; or one that could not be committed. */
void metrics_commit(unsigned jobs, unsigned audit_records);
void metrics_commit_failed(void);

/* How a token exchange (POST /api/oauth/token) ended: issued, or the RFC 6749 error code sent. */
enum metrics_oidc_result {
  METRICS_OIDC_OK,
  METRICS_OIDC_INVALID_REQUEST,
  METRICS_OIDC_INVALID_GRANT,
  METRICS_OIDC_INVALID_TARGET,
  METRICS_OIDC_UNSUPPORTED_GRANT_TYPE,
  METRICS_OIDC_SERVER_ERROR,
  METRICS_OIDC_RESULTS
};

/* The result's name: "ok", or the error code as RFC 6749 spells it, which is what the exchange
 * sends in its "error" field. */
const char *metrics_oidc_result_name(enum metrics_oidc_result result);

void metrics_oidc_exchange(enum metrics_oidc_result result);

/* One value of a leak report (POST /api/tokens/leaks): a live token it revoked, or anything else.
 */
void metrics_leak_reported(bool revoked);

/* When the server started (Unix seconds), for tessera_start_time_seconds. */
void metrics_started(int64_t unix_seconds);

/* Every family above, with its HELP and TYPE lines, every label value shown even at 0. */
void metrics_render(struct prom_text *out);

#endif
