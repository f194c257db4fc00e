#ifndef TESSERA_STORE_PG_SCHEMA_H
#define TESSERA_STORE_PG_SCHEMA_H

#include <libpq-fe.h>

/* The PostgreSQL store's schema: numbered
 * migrations, applied in one transaction each under a transaction-level advisory lock, so that
 * any number of nodes starting together against one database migrate it once, and a node never
 * sees a half-migrated schema. The version reached is a row of tessera_schema. */

/* Brings the database to the latest version. TE_OK, TE_CONFLICT when the database is newer than
 * this binary knows (an older node must not write to it), TE_INTERNAL on a database error (said
 * on stderr). */
int pg_schema_migrate(PGconn *conn);

/* The version the database is at (0 for an empty one), or a negative TE_* code. */
int pg_schema_version(PGconn *conn);

int pg_schema_version_latest(void);

#endif
