#ifndef TESSERA_CORE_PROMETHEUS_H
#define TESSERA_CORE_PROMETHEUS_H

/* Metrics as Prometheus keeps them (counters, fixed-bucket histograms, series found by a key),
 * and its text exposition format 0.0.4 to write them in.
 *
 * Counting is a relaxed atomic add, from any thread: no lock, no allocation, nothing that waits.
 * Relaxed is enough because every value stands alone: a scrape reads each one once, so it may be
 * a moment behind a request in flight, but a counter it shows never goes back. A histogram's
 * _count is the sum of its buckets as read, so it always equals its +Inf bucket. */

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct prom_counter {
  atomic_uint_least64_t value;
};

static inline void prom_add(struct prom_counter *c, uint64_t n) {
  atomic_fetch_add_explicit(&c->value, n, memory_order_relaxed);
}

static inline uint64_t prom_read(const struct prom_counter *c) {
  return atomic_load_explicit(&c->value, memory_order_relaxed);
}

#define PROM_BOUNDS_MAX 16

/* A histogram's upper bounds, ascending, in the unit observations are made in (an integer: µs,
 * jobs), and how many decimal places that unit is below the one shown (6 for µs shown as
 * seconds), so that bounds and sums are written exactly, without floating point. */
struct prom_buckets {
  const uint64_t *bounds;
  size_t count; /* at most PROM_BOUNDS_MAX */
  unsigned decimals;
};

struct prom_histogram {
  atomic_uint_least64_t counts[PROM_BOUNDS_MAX + 1]; /* per bucket, not cumulative; then +Inf */
  atomic_uint_least64_t sum;
};

/* Counts v in the first bucket whose bound is >= v (Prometheus' `le`: less than or equal). */
void prom_observe(struct prom_histogram *h, const struct prom_buckets *b, uint64_t v);

/* Series found by a nonzero 32-bit key (a label set encoded by its owner) in a fixed table of
 * slots, claimed once with a compare-and-swap and never given back: an open-addressed set that
 * needs no lock. The owner keeps the series themselves in an array of as many slots. */
struct prom_keys {
  atomic_uint_least32_t *keys;
  size_t slots; /* a power of two */
};

/* The slot of key, claimed for it when new; -1 when every slot holds another key. */
long prom_keys_slot(struct prom_keys *k, uint32_t key);
/* The key in a slot, 0 while it is free. */
uint32_t prom_keys_at(const struct prom_keys *k, size_t slot);

/* Exposition text, grown as it is written; data is malloc'd (NULL while empty) and NUL-ended. */
struct prom_text {
  char *data;
  size_t len, cap;
};

struct prom_label {
  const char *name;
  const char *value; /* escaped as it is written: any bytes */
};

/* "# HELP name help" (help escaped) and "# TYPE name type", once before a family's samples. */
void prom_family(struct prom_text *out, const char *name, const char *type, const char *help);

/* name{labels} value; no braces when there are no labels (count 0). */
void prom_sample(struct prom_text *out, const char *name, const struct prom_label *labels,
                 size_t count, uint64_t value);

/* A histogram's series: name_bucket{labels,le="..."} for each bound and +Inf, cumulative, then
 * name_sum{labels} and name_count{labels}. At most 7 labels. */
void prom_histogram_samples(struct prom_text *out, const char *name,
                            const struct prom_label *labels, size_t count,
                            const struct prom_histogram *h, const struct prom_buckets *b);

/* v shown with `decimals` places moved (1500, 3 → "1.5"): the shortest exact form, as Prometheus
 * writes bounds. out holds at least 32 bytes. */
void prom_decimal(uint64_t v, unsigned decimals, char *out);

#endif
