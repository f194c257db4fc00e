/* Choosing the store a --db value names. */

#include "store/store.h"

#include "core/error.h"

#include <stdio.h>
#include <string.h>

bool store_is_postgres(const char *db) {
  return strncmp(db, "postgres://", 11) == 0 || strncmp(db, "postgresql://", 13) == 0;
}

/* SQLite's key lives beside its database, found from the path alone; a key given for it would be
 * ignored, which is worse than refused. */
static int sqlite_takes_no_key(const char *audit_key) {
  if (!audit_key || !*audit_key)
    return TE_OK;
  fprintf(stderr, "tessera: --audit-key (TESSERA_AUDIT_KEY) is for a PostgreSQL store; a SQLite "
                  "store keeps its key beside the database file\n");
  return TE_BAD_REQUEST;
}

int store_open(const char *db, const char *audit_key, int read_connections, struct store **out) {
  if (store_is_postgres(db))
    return store_pg_open(db, audit_key, read_connections, out);
  int rc = sqlite_takes_no_key(audit_key);
  return rc ? rc : store_sqlite_open(db, read_connections, out);
}

int store_audit_verify(const char *db, const char *audit_key, int64_t *count, char *report,
                       size_t report_size) {
  if (store_is_postgres(db))
    return store_pg_audit_verify(db, audit_key, count, report, report_size);
  int rc = sqlite_takes_no_key(audit_key);
  return rc ? rc : store_sqlite_audit_verify(db, count, report, report_size);
}
