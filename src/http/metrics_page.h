#ifndef TESSERA_HTTP_METRICS_PAGE_H
#define TESSERA_HTTP_METRICS_PAGE_H

#include "http/router.h"

/* GET /metrics: every family (http/route_metrics.h, core/metrics.h) in Prometheus' text format
 * 0.0.4, unauthenticated as Prometheus expects; no label holds anything secret (docs/METRICS.md).
 */
void metrics_page(struct request *req);

/* A route table of that route alone: what the listener of --metrics-listen answers. */
extern const struct route metrics_page_routes[];

#endif
