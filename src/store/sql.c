/* Running statements and reading rows, whatever the backend (store/sql.h). */

#include "store/sql.h"

#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t row_int(const struct sql_row *r, int col) {
  return r->driver->integer(r, col);
}

void row_text(const struct sql_row *r, int col, char *dst, size_t size) {
  size_t len;
  const char *text = r->driver->text(r, col, &len);
  snprintf(dst, size, "%s", text ? text : "");
}

char *row_text_dup(const struct sql_row *r, int col) {
  size_t len;
  const char *text = r->driver->text(r, col, &len);
  char *copy = strdup(text ? text : "");
  if (!copy)
    abort();
  return copy;
}

void read_int64(const struct sql_row *r, void *out) {
  *(int64_t *)out = row_int(r, 0);
}

bool row_blob(const struct sql_row *r, int col, void *dst, size_t len) {
  return r->driver->blob(r, col, dst, len);
}

bool row_strict_text(const struct sql_row *r, int col, char *dst, size_t size) {
  if (r->driver->type(r, col) != SQL_TEXT)
    return false;
  size_t bytes;
  const char *text = r->driver->text(r, col, &bytes);
  if (!text || bytes >= size || strlen(text) != bytes)
    return false;
  memcpy(dst, text, bytes + 1);
  return true;
}

bool row_strict_int(const struct sql_row *r, int col, int64_t *out) {
  if (r->driver->type(r, col) != SQL_INTEGER)
    return false;
  *out = r->driver->integer(r, col);
  return true;
}

bool row_strict_flag(const struct sql_row *r, int col, bool *out) {
  int64_t v;
  if (!row_strict_int(r, col, &v))
    return false;
  *out = v == 1;
  return v == 0 || v == 1;
}

int sql_exec(struct sql_conn *c, enum stmt_id id, const struct param *p, int n) {
  return c->driver->run(c, id, p, n, NULL, NULL, NULL);
}

int sql_chain(struct sql_conn *c, const struct sql_step *steps, int count) {
  if (count > SQL_CHAIN_MAX)
    return TE_INTERNAL;
  if (c->driver->run_chain)
    return c->driver->run_chain(c, steps, count);
  int rc = TE_OK;
  for (int i = 0; i < count && rc == TE_OK; i++) {
    const struct sql_step *s = &steps[i];
    rc = s->rows ? c->driver->run_rows(c, s->id, s->params, s->n, s->rows)
                 : c->driver->run(c, s->id, s->params, s->n, s->each, s->arg, NULL);
  }
  return rc;
}

int sql_write(struct sql_conn *c, enum stmt_id id, const struct param *p, int n, bool must_change) {
  int64_t changed = 0;
  int rc = c->driver->run(c, id, p, n, NULL, NULL, &changed);
  return rc == TE_OK && must_change && changed == 0 ? TE_NOT_FOUND : rc;
}

struct first_row {
  row_reader read;
  void *out;
  bool seen;
};

static void take_first(const struct sql_row *row, void *arg) {
  struct first_row *f = arg;
  if (!f->seen)
    f->read(row, f->out);
  f->seen = true;
}

int sql_one(struct sql_conn *c, enum stmt_id id, const struct param *p, int n, row_reader read,
            void *out) {
  struct first_row f = {read, out, false};
  int rc = c->driver->run(c, id, p, n, take_first, &f, NULL);
  return rc == TE_OK && !f.seen ? TE_NOT_FOUND : rc;
}

static void take_each(const struct sql_row *row, void *arg) {
  struct sql_all_rows *a = arg;
  if (a->count == a->cap) {
    a->cap = a->cap ? a->cap * 2 : 8;
    if (!(a->items = realloc(a->items, a->cap * a->item_size)))
      abort();
  }
  a->read(row, a->items + a->count * a->item_size);
  a->count++;
}

int sql_all(struct sql_conn *c, enum stmt_id id, const struct param *p, int n, size_t item_size,
            row_reader read, void **out, size_t *count) {
  struct sql_all_rows a = {read, item_size, 0, 0, NULL};
  int rc = c->driver->run(c, id, p, n, take_each, &a, NULL);
  if (rc != TE_OK) {
    free(a.items);
    return rc;
  }
  if (!a.items && !(a.items = malloc(item_size))) /* callers free() even an empty result */
    abort();
  *out = a.items;
  *count = a.count;
  return TE_OK;
}

struct sql_step sql_all_step(enum stmt_id id, const struct param *p, int n,
                             struct sql_all_rows *into) {
  return (struct sql_step){.id = id, .params = p, .n = n, .each = take_each, .arg = into};
}

int sql_read_one(struct store *store, enum stmt_id id, const struct param *params, int n,
                 row_reader read, void *out) {
  struct sql_store *s = (struct sql_store *)store;
  struct sql_conn *c;
  int rc = s->backend->reader_acquire(s, &c);
  if (rc)
    return rc;
  rc = sql_one(c, id, params, n, read, out);
  s->backend->reader_release(s, c);
  return rc;
}

int sql_read_all(struct store *store, enum stmt_id id, const struct param *params, int n,
                 size_t item_size, row_reader read, void **out, size_t *count) {
  struct sql_store *s = (struct sql_store *)store;
  struct sql_conn *c;
  int rc = s->backend->reader_acquire(s, &c);
  if (rc)
    return rc;
  rc = sql_all(c, id, params, n, item_size, read, out, count);
  s->backend->reader_release(s, c);
  return rc;
}
