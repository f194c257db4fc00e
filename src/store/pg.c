/* The PostgreSQL store: any number of nodes on one database. Its driver for the shared SQL layer
 * (store/sql.h) runs the statements of pg_sql.c as prepared statements with text parameters on
 * pooled connections (pg_pool.c): a pool of readers, and a pool of one for the writer thread.
 * The audit key is a file every node is given (--audit-key); the database records its id. */

#include "store/store.h"

#include "core/error.h"
#include "store/pg_listen.h"
#include "store/pg_pool.h"
#include "store/pg_schema.h"
#include "store/pg_sql.h"
#include "store/sql.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long a request waits for a free connection before it is answered 503. */
#define POOL_WAIT_MS 2000
/* The writer waits longer: a batch holds every job queued behind it. */
#define WRITER_WAIT_MS 10000

/* PostgreSQL's type oids (catalog/pg_type.h, stable across versions). */
#define OID_BOOL 16
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_TEXT 25
#define OID_VARCHAR 1043

struct pg_conn {
  struct sql_conn base;
  struct pg_pool *pool;
  PGconn *conn;
  bool broken; /* a statement found the connection gone: the pool replaces it */
};

struct pg_store {
  struct sql_store base;
  struct pg_statement statements[STMT_COUNT];
  struct pg_pool *readers;
  struct pg_pool *writer;
  struct pg_conn writer_conn;
  char *conninfo;
  struct pg_listener *listener; /* other nodes' commits, once a cache watches */
  /* The writer connection's backend: its commits' notifications are not other nodes' (the
   * writer catches up after each commit itself; heard again, each cost three more reads). */
  atomic_int writer_pid;
};

/* The highest $n in a statement: the number of parameters it is prepared with. */
static int parameter_count(const char *sql) {
  int most = 0;
  for (const char *p = sql; (p = strchr(p, '$')) != NULL; p++) {
    int n = atoi(p + 1);
    if (n > most)
      most = n;
  }
  return most;
}

/* 23: integrity constraint violation. 40: serialization failure, deadlock. 08: connection
 * exception. 57P: the server is shutting down or starting. 53: out of resources. */
static int pg_error(struct pg_conn *c, PGresult *res, enum stmt_id id) {
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  static atomic_int_fast64_t last_said = -1000000;
  if (PQstatus(c->conn) != CONNECTION_OK || !state || strncmp(state, "08", 2) == 0 ||
      strncmp(state, "57P", 3) == 0) {
    c->broken = true;
    if (pg_log_now(&last_said))
      fprintf(stderr, "tessera: PostgreSQL: connection lost (statement %d)\n", (int)id);
    return TE_UNAVAILABLE;
  }
  if (strncmp(state, "23", 2) == 0)
    return TE_CONFLICT;
  /* 25006: read-only, a standby after a failover: this connection will not write again. */
  if (strcmp(state, "25006") == 0)
    c->broken = true;
  /* 40: serialization failure, deadlock; 53: out of resources; 57014: cancelled or over
   * statement_timeout; 55P03: lock not available: all for a later try. */
  if (strncmp(state, "40", 2) == 0 || strncmp(state, "53", 2) == 0 || strcmp(state, "57014") == 0 ||
      strcmp(state, "55P03") == 0 || strcmp(state, "25006") == 0)
    return TE_UNAVAILABLE;
  /* The SQLSTATE and the statement only: messages may quote values. */
  fprintf(stderr, "tessera: PostgreSQL: statement %d failed: SQLSTATE %s\n", (int)id, state);
  return TE_INTERNAL;
}

static const struct sql_driver pg_driver;

#define PARAMS_MAX 20

/* Text forms of the parameters (libpq's text format): numbers in decimal, blobs as bytea's hex
 * input form, \x then two digits a byte. */
typedef char number_text[24];
typedef char blob_text[2 + 2 * 64 + 1];

struct pg_params {
  const char *values[PARAMS_MAX];
  number_text numbers[PARAMS_MAX];
  blob_text blobs[PARAMS_MAX];
};

/* n parameters into values, with their text in numbers and blobs (n of each). */
static int to_text(const struct param *params, int n, const char **values, number_text *numbers,
                   blob_text *blobs) {
  for (int i = 0; i < n; i++) {
    const struct param *p = &params[i];
    values[i] = NULL; /* PARAM_NULL, and a NULL text, stay SQL NULL */
    if (p->type == PARAM_INT) {
      snprintf(numbers[i], sizeof numbers[i], "%lld", (long long)p->i);
      values[i] = numbers[i];
    } else if (p->type == PARAM_TEXT) {
      values[i] = p->p;
    } else if (p->type == PARAM_BLOB) {
      if (p->len < 0 || p->len > 64)
        return TE_INTERNAL;
      memcpy(blobs[i], "\\x", 2);
      for (int b = 0; b < p->len; b++)
        snprintf(blobs[i] + 2 + 2 * b, 3, "%02x", ((const unsigned char *)p->p)[b]);
      blobs[i][2 + 2 * p->len] = '\0';
      values[i] = blobs[i];
    }
  }
  return TE_OK;
}

static int convert_params(const struct param *params, int n, struct pg_params *out) {
  return n > PARAMS_MAX ? TE_INTERNAL : to_text(params, n, out->values, out->numbers, out->blobs);
}

/* Hands each row of a finished result to each(), or maps its error. */
static int take_result(struct pg_conn *c, PGresult *res, enum stmt_id id,
                       void (*each)(const struct sql_row *, void *), void *arg, int64_t *changed) {
  ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  int rc = TE_OK;
  if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
    if (each) {
      struct sql_row row = {&pg_driver, res, 0};
      for (int r = 0, rows = PQntuples(res); r < rows; r++) {
        row.index = r;
        each(&row, arg);
      }
    }
    if (changed)
      *changed = atoll(PQcmdTuples(res)); /* "" for statements that count nothing: 0 */
  } else {
    rc = pg_error(c, res, id);
  }
  PQclear(res);
  return rc;
}

/* A numbered statement (prepared once on the connection), or with sql, text run as it is (its id
 * STMT_COUNT in messages). */
static int run_statement(struct sql_conn *base, enum stmt_id id, const char *sql,
                         const struct param *params, int n,
                         void (*each)(const struct sql_row *, void *), void *arg,
                         int64_t *changed) {
  struct pg_conn *c = (struct pg_conn *)base;
  struct pg_params text;
  if (changed)
    *changed = 0;
  if (c->broken)
    return TE_UNAVAILABLE; /* found gone, or left mid-pipeline: nothing more on it */
  if (convert_params(params, n, &text) != TE_OK)
    return TE_INTERNAL;
  PGresult *res = sql ? pg_pool_exec_text(c->pool, c->conn, sql, n, text.values)
                      : pg_pool_exec(c->pool, c->conn, (int)id, text.values);
  return take_result(c, res, id, each, arg, changed);
}

static int pg_run(struct sql_conn *c, enum stmt_id id, const struct param *params, int n,
                  void (*each)(const struct sql_row *, void *), void *arg, int64_t *changed) {
  return run_statement(c, id, NULL, params, n, each, arg, changed);
}

static int pg_run_text(struct sql_conn *c, const char *sql, const struct param *params, int n,
                       void (*each)(const struct sql_row *, void *), void *arg, int64_t *changed) {
  return run_statement(c, STMT_COUNT, sql, params, n, each, arg, changed);
}

/* The statement's VALUES tuple once for each row, its $n renumbered: one INSERT, one round trip
 * for a whole batch. */
static char *rows_sql(const char *sql, int columns, int rows) {
  const char *values = strstr(sql, "VALUES (");
  if (!values)
    return NULL;
  const char *tuple = values + strlen("VALUES ");
  size_t prefix = (size_t)(tuple - sql), len = strlen(tuple);
  size_t cap = prefix + (size_t)rows * (len + 2 + 8 * (size_t)columns) + 1, used = prefix;
  char *out = malloc(cap);
  if (!out)
    abort();
  memcpy(out, sql, prefix);
  for (int r = 0; r < rows; r++) {
    if (r)
      used += (size_t)snprintf(out + used, cap - used, ", ");
    for (const char *p = tuple; *p;) {
      if (*p == '$' && p[1] >= '0' && p[1] <= '9') {
        char *end;
        long n = strtol(p + 1, &end, 10);
        used += (size_t)snprintf(out + used, cap - used, "$%ld", n + (long)r * columns);
        p = end;
      } else {
        out[used++] = *p++;
      }
    }
  }
  out[used] = '\0';
  return out;
}

/* The steps as one pipeline: their parameters' text side by side in one allocation, a multi-row
 * step's statement built as pg_run_rows builds it. Results are read in order until the first
 * that failed, which says why (the server ran none after it). */
static int pg_run_chain(struct sql_conn *base, const struct sql_step *steps, int count) {
  struct pg_conn *c = (struct pg_conn *)base;
  struct pg_query queries[SQL_CHAIN_MAX];
  PGresult *results[SQL_CHAIN_MAX];
  char *texts[SQL_CHAIN_MAX] = {NULL};
  if (count < 1 || count > SQL_CHAIN_MAX)
    return TE_INTERNAL;
  if (c->broken)
    return TE_UNAVAILABLE;
  size_t total = 0;
  for (int i = 0; i < count; i++)
    total += (size_t)steps[i].n * (size_t)(steps[i].rows ? steps[i].rows : 1);
  const char **values = calloc(total ? total : 1, sizeof *values);
  number_text *numbers = calloc(total ? total : 1, sizeof *numbers);
  blob_text *blobs = calloc(total ? total : 1, sizeof *blobs);
  if (!values || !numbers || !blobs)
    abort();
  int rc = TE_OK;
  size_t at = 0;
  for (int i = 0; i < count && rc == TE_OK; i++) {
    const struct sql_step *st = &steps[i];
    int n = st->n * (st->rows ? st->rows : 1);
    if (st->rows && !(texts[i] = rows_sql(pg_statement_sql[st->id], st->n, st->rows)))
      rc = TE_INTERNAL;
    if (rc == TE_OK && n > (st->rows ? 65535 : PARAMS_MAX))
      rc = TE_INTERNAL;
    if (rc == TE_OK)
      rc = to_text(st->params, n, values + at, numbers + at, blobs + at);
    queries[i] = (struct pg_query){(int)st->id, texts[i], st->rows, n, values + at};
    at += (size_t)n;
  }
  if (rc == TE_OK) {
    pg_pool_exec_chain(c->pool, c->conn, queries, count, results);
    /* Nothing in time, or a lost connection: the first result's NULL says so. */
    for (int i = 0; i < count; i++) {
      if (rc == TE_OK)
        rc = take_result(c, results[i], steps[i].id, steps[i].each, steps[i].arg, NULL);
      else
        PQclear(results[i]);
    }
  }
  for (int i = 0; i < count; i++)
    free(texts[i]);
  free(values);
  free(numbers);
  free(blobs);
  return rc;
}

/* A batch's INSERT as a chain of one: prepared once a connection for up to PG_ROWS_PREPARED rows.
 */
static int pg_run_rows(struct sql_conn *c, enum stmt_id id, const struct param *params, int columns,
                       int rows) {
  struct sql_step step = {.id = id, .params = params, .n = columns, .rows = rows};
  return pg_run_chain(c, &step, 1);
}

static enum sql_type pg_type(const struct sql_row *r, int col) {
  if (PQgetisnull(r->native, r->index, col))
    return SQL_NULL;
  switch (PQftype(r->native, col)) {
  case OID_BOOL:
  case OID_INT2:
  case OID_INT4:
  case OID_INT8:
    return SQL_INTEGER;
  case OID_TEXT:
  case OID_VARCHAR:
    return SQL_TEXT;
  case OID_BYTEA:
    return SQL_BLOB;
  default:
    return SQL_OTHER;
  }
}

static int64_t pg_integer(const struct sql_row *r, int col) {
  if (PQgetisnull(r->native, r->index, col))
    return 0;
  const char *v = PQgetvalue(r->native, r->index, col);
  if (PQftype(r->native, col) == OID_BOOL)
    return v[0] == 't';
  return strtoll(v, NULL, 10);
}

static const char *pg_text(const struct sql_row *r, int col, size_t *len) {
  if (PQgetisnull(r->native, r->index, col)) {
    *len = 0;
    return NULL;
  }
  *len = (size_t)PQgetlength(r->native, r->index, col);
  return PQgetvalue(r->native, r->index, col);
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* bytea arrives in its hex output form (the default bytea_output): \x then two digits a byte. */
static bool pg_blob(const struct sql_row *r, int col, void *dst, size_t len) {
  if (PQgetisnull(r->native, r->index, col) || PQftype(r->native, col) != OID_BYTEA)
    return false;
  const char *v = PQgetvalue(r->native, r->index, col);
  if ((size_t)PQgetlength(r->native, r->index, col) != 2 + 2 * len || v[0] != '\\' || v[1] != 'x')
    return false;
  unsigned char *out = dst;
  for (size_t i = 0; i < len; i++) {
    int hi = hex_digit(v[2 + 2 * i]), lo = hex_digit(v[3 + 2 * i]);
    if (hi < 0 || lo < 0)
      return false;
    out[i] = (unsigned char)(hi << 4 | lo);
  }
  return true;
}

static const struct sql_driver pg_driver = {
    .run = pg_run,
    .run_text = pg_run_text,
    .param_prefix = '$',
    .run_rows = pg_run_rows,
    .run_chain = pg_run_chain,
    .type = pg_type,
    .integer = pg_integer,
    .text = pg_text,
    .blob = pg_blob,
};

static int reader_acquire(struct sql_store *base, struct sql_conn **out) {
  struct pg_store *s = (struct pg_store *)base;
  PGconn *conn;
  int rc = pg_pool_acquire(s->readers, &conn);
  if (rc)
    return rc;
  struct pg_conn *c = malloc(sizeof *c);
  if (!c)
    abort();
  *c = (struct pg_conn){{&pg_driver}, s->readers, conn, false};
  *out = &c->base;
  return TE_OK;
}

static void reader_release(struct sql_store *base, struct sql_conn *sc) {
  struct pg_conn *c = (struct pg_conn *)sc;
  (void)base;
  pg_pool_release(c->pool, c->conn, c->broken);
  free(c);
}

static int writer_acquire(struct sql_store *base, struct sql_conn **out) {
  struct pg_store *s = (struct pg_store *)base;
  PGconn *conn;
  int rc = pg_pool_acquire(s->writer, &conn);
  if (rc)
    return rc;
  s->writer_conn = (struct pg_conn){{&pg_driver}, s->writer, conn, false};
  atomic_store(&s->writer_pid, PQbackendPID(conn)); /* before any commit on it */
  *out = &s->writer_conn.base;
  return TE_OK;
}

static void writer_release(struct sql_store *base, struct sql_conn *sc) {
  struct pg_conn *c = (struct pg_conn *)sc;
  struct pg_store *s = (struct pg_store *)base;
  if (c->broken) /* closed: its process id may be another backend's soon */
    atomic_store(&s->writer_pid, 0);
  pg_pool_release(c->pool, c->conn, c->broken);
}

/* Other nodes' commits arrive as notifications on the channel STMT_NOTIFY sends to. */
static void announce_start(struct sql_store *base) {
  struct pg_store *s = (struct pg_store *)base;
  if (!s->listener && pg_listener_start(s->conninfo, "tessera_changes", base->watch_fn,
                                        base->watch_arg, &s->writer_pid, &s->listener) != TE_OK)
    fprintf(stderr, "tessera: PostgreSQL: cannot listen for other nodes' commits; polling only\n");
}

static void backend_close(struct sql_store *base) {
  struct pg_store *s = (struct pg_store *)base;
  pg_listener_stop(s->listener);
  free(s->conninfo);
  pg_pool_free(s->readers);
  pg_pool_free(s->writer);
  free(s);
}

static const struct sql_backend pg_backend = {
    .reader_acquire = reader_acquire,
    .reader_release = reader_release,
    .writer_acquire = writer_acquire,
    .writer_release = writer_release,
    .announce_start = announce_start,
    .close = backend_close,
};

/* Applies the migrations on a connection of its own, before any pool exists. */
static int migrate(const char *conninfo) {
  PGconn *conn = pg_connect(conninfo);
  int rc = TE_UNAVAILABLE;
  if (PQstatus(conn) == CONNECTION_OK) {
    rc = pg_schema_migrate(conn);
  } else {
    fprintf(stderr, "tessera: PostgreSQL: cannot connect: %s", PQerrorMessage(conn));
  }
  PQfinish(conn);
  return rc;
}

static struct pg_store *pg_store_new(const char *conninfo, int read_connections) {
  struct pg_store *s = calloc(1, sizeof *s);
  if (!s)
    abort();
  s->base.backend = &pg_backend;
  if (!(s->conninfo = strdup(conninfo)))
    abort();
  for (int i = 0; i < STMT_COUNT; i++)
    s->statements[i] =
        (struct pg_statement){pg_statement_sql[i], parameter_count(pg_statement_sql[i])};
  if (pg_pool_create(conninfo, read_connections, POOL_WAIT_MS, s->statements, STMT_COUNT,
                     &s->readers) != TE_OK ||
      pg_pool_create(conninfo, 1, WRITER_WAIT_MS, s->statements, STMT_COUNT, &s->writer) != TE_OK)
    abort(); /* only for arguments out of range */
  /* Durability is the store's promise: a creation is acknowledged only after its commit is on
   * disk, whatever the server's or role's default for synchronous_commit says; set on every
   * connection the writer is ever given. */
  pg_pool_set_on_connect(s->writer, "SET synchronous_commit = on");
  return s;
}

static int need_key(const char *conninfo, const char *key_path) {
  if (!pg_conninfo_valid(conninfo)) {
    fprintf(stderr, "tessera: the PostgreSQL URL is malformed (not quoted here: it may hold a "
                    "password); see libpq's connection URIs\n");
    return TE_BAD_REQUEST;
  }
  if (key_path && *key_path)
    return TE_OK;
  fprintf(stderr, "tessera: a PostgreSQL store needs its audit key file: give --audit-key FILE "
                  "(or TESSERA_AUDIT_KEY), the same file on every node\n");
  return TE_BAD_REQUEST;
}

int store_pg_open(const char *conninfo, const char *key_path, int read_connections,
                  struct store **out) {
  int rc = need_key(conninfo, key_path);
  if (rc || (rc = migrate(conninfo)) != TE_OK)
    return rc;
  struct pg_store *s = pg_store_new(conninfo, read_connections < 1 ? 1 : read_connections);
  struct sql_conn *c;
  if ((rc = reader_acquire(&s->base, &c)) == TE_OK) {
    rc = sql_store_start(&s->base, c, key_path, NULL);
    reader_release(&s->base, c);
  }
  if (rc != TE_OK) {
    sql_store_stop(&s->base);
    backend_close(&s->base);
    return rc;
  }
  *out = &s->base.base;
  return TE_OK;
}

int store_pg_audit_verify(const char *conninfo, const char *key_path, int64_t *count, char *report,
                          size_t report_size) {
  report[0] = '\0';
  *count = 0;
  int rc = need_key(conninfo, key_path);
  if (rc)
    return rc;
  struct pg_store *s = pg_store_new(conninfo, 1);
  struct sql_conn *c;
  if ((rc = reader_acquire(&s->base, &c)) == TE_OK) {
    rc = audit_verify_on(c, key_path, NULL, count, report, report_size);
    reader_release(&s->base, c);
  }
  backend_close(&s->base);
  return rc;
}
