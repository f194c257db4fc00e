/* tessera admin copy: moving a whole store to another (store_copy), with its report. */

#include "admin/admin.h"

#include "core/error.h"
#include "store/store.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 2

static const char copy_usage[] =
    "usage: tessera admin copy --from DB --to DB [--audit-key FILE]\n"
    "                          [--from-audit-key FILE] [--to-audit-key FILE]\n"
    "Copies every user, organization, team, OIDC issuer, token (by hash: they keep working) and\n"
    "audit record of the store at --from into the empty store at --to, in one transaction, then\n"
    "checks each table's row count and the audit chain on the target. DB is a SQLite file or a\n"
    "PostgreSQL URL. The chain is sealed with the source's audit key, so the target gets that "
    "key:\n"
    "a PostgreSQL end's key file is --from-audit-key or --to-audit-key, or --audit-key (or\n"
    "TESSERA_AUDIT_KEY) when only one end is PostgreSQL; the target's must be a new file or "
    "already\n"
    "hold the source's key. A SQLite end keeps its key beside the database file.\n";

static int copy_usage_error(const char *problem) {
  fprintf(stderr, "tessera admin copy: %s\n%s", problem, copy_usage);
  return EXIT_USAGE;
}

/* Names a store in messages: its path, never a URL (it may carry a password). */
static const char *name_of(const char *db) {
  return store_is_postgres(db) ? "the PostgreSQL database" : db;
}

int admin_copy(int argc, char **argv) {
  static const struct option options[] = {
      {"from", required_argument, NULL, 'f'},
      {"to", required_argument, NULL, 't'},
      {"audit-key", required_argument, NULL, 'K'},
      {"from-audit-key", required_argument, NULL, 'F'},
      {"to-audit-key", required_argument, NULL, 'T'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *from = NULL, *to = NULL, *key = getenv("TESSERA_AUDIT_KEY"), *from_key = NULL,
             *to_key = NULL;
  optind = 1;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, "", options, NULL)) != -1;) {
    switch (c) {
    case 'f':
      from = optarg;
      break;
    case 't':
      to = optarg;
      break;
    case 'K':
      key = optarg;
      break;
    case 'F':
      from_key = optarg;
      break;
    case 'T':
      to_key = optarg;
      break;
    case 'h':
      fputs(copy_usage, stdout);
      return 0;
    default:
      return copy_usage_error("unknown or incomplete option");
    }
  }
  if (optind < argc)
    return copy_usage_error("unexpected argument");
  if (!from || !*from || !to || !*to)
    return copy_usage_error("--from and --to are required");
  if (strcmp(from, to) == 0)
    return copy_usage_error("--from and --to name the same store");
  bool pg_from = store_is_postgres(from), pg_to = store_is_postgres(to);
  if (key && *key && pg_from != pg_to) { /* the one PostgreSQL end's */
    if (pg_from && !from_key)
      from_key = key;
    if (pg_to && !to_key)
      to_key = key;
  }
  if ((pg_from && !from_key) || (pg_to && !to_key))
    return copy_usage_error("a PostgreSQL end needs its audit key file");
  if ((!pg_from && from_key) || (!pg_to && to_key))
    return copy_usage_error("a SQLite end keeps its audit key beside the database file");

  struct store_copy_report report;
  char problem[512];
  int rc = store_copy(from, from_key, to, to_key, &report, problem, sizeof problem);
  if (rc != TE_OK) {
    fprintf(stderr, "tessera admin copy: %s\n", problem[0] ? problem : "failed (see above)");
    return 1;
  }
  printf("copied %s to %s:\n", name_of(from), name_of(to));
  for (size_t i = 0; i < STORE_COPY_TABLES; i++)
    printf("  %-13s %lld rows\n", store_copy_table_name(i), (long long)report.rows[i]);
  printf("row counts match; audit log intact on the target: %lld records verified\n",
         (long long)report.audit_verified);
  return 0;
}
