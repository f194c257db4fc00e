#include "http/metrics_page.h"

#include "core/metrics.h"
#include "http/route_metrics.h"

void metrics_page(struct request *req) {
  struct prom_text text = {0};
  route_metrics_render(&text);
  metrics_render(&text);
  reply_bytes(req, 200, text.data, text.len, "text/plain; version=0.0.4; charset=utf-8", NULL);
}

const struct route metrics_page_routes[] = {
    {"GET", "/metrics", metrics_page, false},
    {NULL, NULL, NULL, false},
};
