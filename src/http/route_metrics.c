#include "http/route_metrics.h"

#include <stdio.h>
#include <stdlib.h>

/* The series are found by keys (core/prometheus.h, prom_keys): route, method and status packed
 * into 32 bits. Far more slots than label sets can occur: a route answers its own method (and
 * HEAD, for GET) with a dozen statuses at most, "other" any method with a few, so even a table
 * thrice today's size fills neither. A request that found no slot anyway is counted apart. */
#define REQUEST_SLOTS 4096
#define DURATION_SLOTS 512
#define STATUS_BITS 10 /* statuses are 100-599 */
#define METHOD_BITS 4  /* ROUTER_METHODS */

static const struct route *table;
static uint32_t other; /* the route index that stands for no route: the table's length */

static atomic_uint_least32_t request_keys[REQUEST_SLOTS], duration_keys[DURATION_SLOTS];
static struct prom_keys requests_index = {request_keys, REQUEST_SLOTS};
static struct prom_keys durations_index = {duration_keys, DURATION_SLOTS};
static struct prom_counter requests[REQUEST_SLOTS];
static struct prom_histogram durations[DURATION_SLOTS];
static struct prom_counter unrecorded;

/* From 100 µs, the cost of a cached token check, to 10 s, past any timeout a client would wait. */
static const uint64_t duration_bounds[] = {100,     250,     500,     1000,    2500,   5000,
                                           10000,   25000,   50000,   100000,  250000, 500000,
                                           1000000, 2500000, 5000000, 10000000};
static const struct prom_buckets duration_buckets = {
    duration_bounds, sizeof duration_bounds / sizeof *duration_bounds, 6};

void route_metrics_use(const struct route *routes) {
  table = routes;
  other = 0;
  while (routes[other].method)
    other++;
}

/* Nonzero: the route index is biased by one. */
static uint32_t key_of(uint32_t route, int method, int status) {
  return ((route + 1) << (STATUS_BITS + METHOD_BITS)) | ((uint32_t)method << STATUS_BITS) |
         (uint32_t)status;
}

void route_metrics_count(const struct route *route, const char *method, int status,
                         int64_t duration_us) {
  uint32_t r = route && table ? (uint32_t)(route - table) : other;
  int m = router_method_index(method);
  if (status < 0 || status >= 1 << STATUS_BITS)
    status = 0;
  long slot = prom_keys_slot(&requests_index, key_of(r, m, status));
  long timed = prom_keys_slot(&durations_index, key_of(r, m, 0));
  if (slot < 0 || timed < 0) {
    prom_add(&unrecorded, 1);
    return;
  }
  prom_add(&requests[slot], 1);
  prom_observe(&durations[timed], &duration_buckets, duration_us > 0 ? (uint64_t)duration_us : 0);
}

static int by_value(const void *a, const void *b) {
  const uint64_t *x = a, *y = b;
  return *x < *y ? -1 : *x > *y;
}

/* The slots in use, as (key << 32 | slot), in key order (route, method, status), so that a
 * family reads as a table. */
static size_t used_slots(const struct prom_keys *k, uint64_t *out) {
  size_t n = 0;
  for (size_t i = 0; i < k->slots; i++) {
    uint32_t key = prom_keys_at(k, i);
    if (key)
      out[n++] = (uint64_t)key << 32 | i;
  }
  qsort(out, n, sizeof *out, by_value);
  return n;
}

static void labels_of(uint32_t key, struct prom_label labels[3], char status[8]) {
  uint32_t r = (key >> (STATUS_BITS + METHOD_BITS)) - 1;
  labels[0] = (struct prom_label){"route", r < other && table ? table[r].pattern : "other"};
  labels[1] = (struct prom_label){"method", router_method_name((int)(key >> STATUS_BITS) & 0xf)};
  snprintf(status, 8, "%u", key & ((1u << STATUS_BITS) - 1));
  labels[2] = (struct prom_label){"status", status};
}

void route_metrics_render(struct prom_text *out) {
  uint64_t *slots = malloc(REQUEST_SLOTS * sizeof *slots);
  if (!slots)
    abort();
  struct prom_label labels[3];
  char status[8];
  prom_family(out, "tessera_http_requests_total", "counter",
              "Requests answered, by route pattern (other: none matched), method and status.");
  size_t n = used_slots(&requests_index, slots);
  for (size_t i = 0; i < n; i++) {
    labels_of((uint32_t)(slots[i] >> 32), labels, status);
    prom_sample(out, "tessera_http_requests_total", labels, 3,
                prom_read(&requests[slots[i] & 0xffffffff]));
  }
  prom_family(out, "tessera_http_request_duration_seconds", "histogram",
              "Time from a request's first line until its reply was queued, by route pattern and "
              "method.");
  n = used_slots(&durations_index, slots);
  for (size_t i = 0; i < n; i++) {
    labels_of((uint32_t)(slots[i] >> 32), labels, status);
    prom_histogram_samples(out, "tessera_http_request_duration_seconds", labels, 2,
                           &durations[slots[i] & 0xffffffff], &duration_buckets);
  }
  prom_family(out, "tessera_http_requests_unrecorded_total", "counter",
              "Requests left out of the two families above for want of a free series slot (0 "
              "unless the route table outgrows them).");
  prom_sample(out, "tessera_http_requests_unrecorded_total", NULL, 0, prom_read(&unrecorded));
  free(slots);
}
