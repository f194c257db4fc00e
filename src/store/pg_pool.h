#ifndef TESSERA_STORE_PG_POOL_H
#define TESSERA_STORE_PG_POOL_H

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdbool.h>

/* A bounded pool of PostgreSQL connections for one node: at most `size` connections,
 * opened when first needed; a caller that finds them all in use waits up to wait_ms, then gets
 * TE_UNAVAILABLE (the store answers 503 rather than queue without bound). A connection found
 * broken is closed and replaced, so a database restart costs the requests in flight, not the
 * pool. Statements are prepared once per connection, on first use, by their index into the
 * table given at creation. */

struct pg_pool;

struct pg_statement {
  const char *sql;
  int params; /* the number of $n parameters */
};

/* conninfo is libpq's (a postgres:// URL or key=value pairs); statements (count of them) must
 * outlive the pool. */
int pg_pool_create(const char *conninfo, int size, int wait_ms,
                   const struct pg_statement *statements, int count, struct pg_pool **out);
void pg_pool_free(struct pg_pool *pool);

/* A connection of the caller's own until pg_pool_release. TE_OK, TE_UNAVAILABLE (none free in
 * wait_ms, or the database cannot be reached). */
int pg_pool_acquire(struct pg_pool *pool, PGconn **out);

/* Hands the connection back; broken (a failed query said the connection is gone, or a
 * transaction was left open) makes the pool close it instead. */
void pg_pool_release(struct pg_pool *pool, PGconn *conn, bool broken);

/* Runs statement `index` with text parameters on conn, preparing it there first if this
 * connection has not yet. The result is the caller's (PQclear); NULL only when out of memory. */
PGresult *pg_pool_exec(struct pg_pool *pool, PGconn *conn, int index, const char *const *values);

/* Runs sql (not a numbered statement: built at run time) with text parameters, as pg_pool_exec
 * does, bounded in time alike. */
PGresult *pg_pool_exec_text(struct pg_pool *pool, PGconn *conn, const char *sql, int n,
                            const char *const *values);

/* One query of pg_pool_exec_chain: statement `index` (prepared as pg_pool_exec does), or with sql
 * not NULL that text (as pg_pool_exec_text), with n text parameters. Text that is statement
 * index's multi-row form for `rows` rows (pg.c's run_rows) is prepared too, under a name of its
 * own, up to PG_ROWS_PREPARED rows: a batch's INSERT is then parsed and planned once a
 * connection, not at every commit (index -1: text of no statement, never prepared). The pair
 * (index, rows) must always stand for the same text: the first one prepared is the one run. A
 * numbered statement's n must be its number of parameters. */
#define PG_ROWS_PREPARED 16
struct pg_query {
  int index;
  const char *sql;
  int rows;
  int n;
  const char *const *values;
};

/* Sends count queries at once (libpq's pipeline mode: one round trip, not count) and waits for
 * their results, bounded in time as pg_pool_exec is: results[i] is query i's (the caller's, to
 * PQclear; after a failed one, the server runs none of the rest: PGRES_PIPELINE_ABORTED). With
 * no answer in time, or a failed connection, every result is NULL and false is returned: the
 * connection is then to be released as broken. Without an explicit BEGIN, the queries share one
 * transaction, as statements before a Sync do. */
bool pg_pool_exec_chain(struct pg_pool *pool, PGconn *conn, const struct pg_query *queries,
                        int count, PGresult **results);

/* A statement that has not answered within query_timeout_ms gets NULL (its connection is then to
 * be released as broken); a timeout or a failed connection makes acquire answer TE_UNAVAILABLE at
 * once for down_ms. Defaults: 5000 and 1000. */
void pg_pool_set_timeouts(struct pg_pool *pool, int query_timeout_ms, int down_ms);

/* A connection for conninfo with Tessera's defaults (connect_timeout 3 s, statement_timeout 6 s)
 * under what conninfo itself says; libpq's notices (a terminated backend's FATAL, say) are not
 * printed: callers report what matters themselves. */
PGconn *pg_connect(const char *conninfo);

/* Whether conninfo parses: checked before connecting, since libpq's message for a malformed one
 * quotes it (a password too), and must not be printed. */
bool pg_conninfo_valid(const char *conninfo);

/* SQL run on every new connection before it is lent (the writer's durability setting). */
void pg_pool_set_on_connect(struct pg_pool *pool, const char *sql);

/* Whether to log now: at most once a second per last_ms (a static of the caller's), so that an
 * outage is said, not repeated by every request. */
bool pg_log_now(atomic_int_fast64_t *last_ms);

/* Connections open now (in use or idle), for tests and metrics. */
int pg_pool_open_count(struct pg_pool *pool);

#endif
