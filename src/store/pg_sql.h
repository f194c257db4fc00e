#ifndef TESSERA_STORE_PG_SQL_H
#define TESSERA_STORE_PG_SQL_H

#include "store/sql.h"

/* Every statement of the shared SQL layer (store/sql.h) in PostgreSQL's dialect (pg_sql.c). */
extern const char *const pg_statement_sql[STMT_COUNT];

#endif
