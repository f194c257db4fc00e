#include "core/prometheus.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void prom_observe(struct prom_histogram *h, const struct prom_buckets *b, uint64_t v) {
  size_t i = 0;
  while (i < b->count && v > b->bounds[i])
    i++;
  atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
}

long prom_keys_slot(struct prom_keys *k, uint32_t key) {
  /* Fibonacci hashing: keys that differ in a few low bits (a status code) land far apart. */
  size_t mask = k->slots - 1;
  size_t i = (size_t)(((uint64_t)key * UINT64_C(0x9E3779B97F4A7C15)) >> 40) & mask;
  for (size_t probes = 0; probes < k->slots; probes++, i = (i + 1) & mask) {
    uint32_t seen = atomic_load_explicit(&k->keys[i], memory_order_relaxed);
    if (seen == 0) {
      /* On failure seen becomes the key that won the slot: ours too, or another one. */
      atomic_compare_exchange_strong_explicit(&k->keys[i], &seen, key, memory_order_relaxed,
                                              memory_order_relaxed);
      if (seen == 0)
        return (long)i;
    }
    if (seen == key)
      return (long)i;
  }
  return -1;
}

uint32_t prom_keys_at(const struct prom_keys *k, size_t slot) {
  return atomic_load_explicit(&k->keys[slot], memory_order_relaxed);
}

static void append(struct prom_text *out, const char *bytes, size_t n) {
  if (out->len + n + 1 > out->cap) {
    size_t cap = out->cap ? out->cap : 4096;
    while (out->len + n + 1 > cap)
      cap *= 2;
    char *grown = realloc(out->data, cap);
    if (!grown)
      abort();
    out->data = grown;
    out->cap = cap;
  }
  memcpy(out->data + out->len, bytes, n);
  out->len += n;
  out->data[out->len] = '\0';
}

static void append_str(struct prom_text *out, const char *s) {
  append(out, s, strlen(s));
}

/* Backslash and line feed as \\ and \n (HELP text), and double quotes as \" too (label values). */
static void append_escaped(struct prom_text *out, const char *s, bool quotes) {
  for (const char *run = s;; s++) {
    const char *escape = *s == '\\'            ? "\\\\"
                         : *s == '\n'          ? "\\n"
                         : quotes && *s == '"' ? "\\\""
                                               : NULL;
    if (!escape && *s)
      continue;
    append(out, run, (size_t)(s - run));
    if (!*s)
      return;
    append_str(out, escape);
    run = s + 1;
  }
}

void prom_family(struct prom_text *out, const char *name, const char *type, const char *help) {
  append_str(out, "# HELP ");
  append_str(out, name);
  append_str(out, " ");
  append_escaped(out, help, false);
  append_str(out, "\n# TYPE ");
  append_str(out, name);
  append_str(out, " ");
  append_str(out, type);
  append_str(out, "\n");
}

static void append_series(struct prom_text *out, const char *name, const char *suffix,
                          const struct prom_label *labels, size_t count) {
  append_str(out, name);
  append_str(out, suffix);
  for (size_t i = 0; i < count; i++) {
    append_str(out, i ? "," : "{");
    append_str(out, labels[i].name);
    append_str(out, "=\"");
    append_escaped(out, labels[i].value, true);
    append_str(out, "\"");
  }
  append_str(out, count ? "} " : " ");
}

static void append_value(struct prom_text *out, const char *value) {
  append_str(out, value);
  append_str(out, "\n");
}

void prom_sample(struct prom_text *out, const char *name, const struct prom_label *labels,
                 size_t count, uint64_t value) {
  char digits[32];
  snprintf(digits, sizeof digits, "%" PRIu64, value);
  append_series(out, name, "", labels, count);
  append_value(out, digits);
}

void prom_decimal(uint64_t v, unsigned decimals, char *out) {
  uint64_t unit = 1;
  for (unsigned i = 0; i < decimals; i++)
    unit *= 10;
  int n = snprintf(out, 32, "%" PRIu64, v / unit);
  uint64_t fraction = v % unit;
  if (!fraction)
    return;
  n += snprintf(out + n, (size_t)(32 - n), ".%0*" PRIu64, (int)decimals, fraction);
  while (out[n - 1] == '0')
    out[--n] = '\0';
}

#define HISTOGRAM_LABELS_MAX 7

void prom_histogram_samples(struct prom_text *out, const char *name,
                            const struct prom_label *labels, size_t count,
                            const struct prom_histogram *h, const struct prom_buckets *b) {
  struct prom_label with_le[HISTOGRAM_LABELS_MAX + 1];
  if (count > HISTOGRAM_LABELS_MAX)
    abort(); /* our own families have two at most */
  if (count) /* labels may be NULL then, which memcpy may not be given */
    memcpy(with_le, labels, count * sizeof *labels);
  char bound[32], value[32];
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= b->count; i++) {
    cumulative += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
    if (i < b->count)
      prom_decimal(b->bounds[i], b->decimals, bound);
    with_le[count] = (struct prom_label){"le", i < b->count ? bound : "+Inf"};
    append_series(out, name, "_bucket", with_le, count + 1);
    snprintf(value, sizeof value, "%" PRIu64, cumulative);
    append_value(out, value);
  }
  prom_decimal(atomic_load_explicit(&h->sum, memory_order_relaxed), b->decimals, value);
  append_series(out, name, "_sum", labels, count);
  append_value(out, value);
  snprintf(value, sizeof value, "%" PRIu64, cumulative);
  append_series(out, name, "_count", labels, count);
  append_value(out, value);
}
