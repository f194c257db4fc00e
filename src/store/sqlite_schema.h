#ifndef TESSERA_STORE_SQLITE_SCHEMA_H
#define TESSERA_STORE_SQLITE_SCHEMA_H

#include <sqlite3.h>

/* Brings the database to the latest schema, one numbered migration at a time, atomically. */
int sqlite_schema_migrate(sqlite3 *db);

/* The same, stopping at schema version target (tests use it to build databases of old releases). */
int sqlite_schema_migrate_to(sqlite3 *db, int target);

/* The schema version this binary writes. */
int sqlite_schema_version_latest(void);

#endif
