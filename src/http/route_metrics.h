#ifndef TESSERA_HTTP_ROUTE_METRICS_H
#define TESSERA_HTTP_ROUTE_METRICS_H

/* The HTTP families of GET /metrics: tessera_http_requests_total{route,method,status} and
 * tessera_http_request_duration_seconds{route,method}, for every request the API's listener
 * answered. route is the pattern of the route that answered ("/api/user/tokens/{}"), or "other"
 * when none did (an unknown path, a method the path does not take, a request refused before
 * routing): never the path as sent, whose variety is unbounded. method is the one the access log
 * shows (RFC 9110's, else OTHER); status the one answered, or for a request that ended without an
 * answer the one the access log gives it (408, 499). Counted as the reply is queued (server.c). */

#include "core/prometheus.h"
#include "http/router.h"

#include <stdint.h>

/* The table whose routes are counted (the API's, as the server is given it); set before any
 * request is. */
void route_metrics_use(const struct route *table);

/* One request: its route in that table, or NULL for none. */
void route_metrics_count(const struct route *route, const char *method, int status,
                         int64_t duration_us);

void route_metrics_render(struct prom_text *out);

#endif
