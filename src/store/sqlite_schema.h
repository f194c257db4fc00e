#ifndef TESSERA_STORE_SQLITE_SCHEMA_H
#define TESSERA_STORE_SQLITE_SCHEMA_H

#include <sqlite3.h>

/* Brings the database to the latest schema, one numbered migration at a time, atomically. */
int sqlite_schema_migrate(sqlite3 *db);

/* The schema version this binary writes. */
int sqlite_schema_version_latest(void);

#endif
