/* tessera admin copy: every row of one store into another, empty one (SQLite to PostgreSQL, or
 * back), in one transaction of the target's writer, with ids, token hashes and the audit chain
 * as they are, so tokens keep working and the log still verifies. The chain is sealed with the
 * source's audit key, so the target is given that key. */

#include "store/store.h"

#include "audit/files.h"
#include "core/error.h"
#include "store/sql.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Read a page at a time from the big tables, so memory stays bounded. */
#define PAGE_ROWS 5000

/* The tables, parents before children, and their columns: the same in both schemas. The big ones
 * page on their integer key; the others are read whole. */
static const struct table {
  const char *name;
  const char *columns;
  const char *order;  /* ORDER BY, so parents come first (tokens made by tokens) */
  const char *paging; /* an integer key to page on, or NULL */
  const char *rows;   /* which rows are copied (and counted), or NULL for all */
} tables[] = {
    {"users", "id, uuid, login, name, email, site_admin, password_hash, created", "id", NULL, NULL},
    {"orgs", "id, name, created, max_token_expiry_days", "id", NULL, NULL},
    {"memberships", "org_id, user_id, role, created", "org_id, user_id", NULL, NULL},
    {"teams", "id, org_id, name, display_name, description, created", "id", NULL, NULL},
    {"team_members", "team_id, user_id, role, created", "team_id, user_id", NULL, NULL},
    {"oidc_issuers",
     "id, org_id, name, url, issuer, jwks_uri, jwks, static_jwks, thumbprints, max_expiration, "
     "created, modified, last_used, policy_id, policy, policy_version, policy_modified",
     "created, id", NULL, NULL},
    {"tokens",
     "seq, id, hash, kind, user_id, org_id, team_id, name, admin, description, created_by, "
     "created, expires, last_used, oidc_issuer, source, parent_seq, manage_access, reason",
     "seq", "seq", NULL},
    /* PostgreSQL's uses have no foreign key (pg_schema.c, migration 5): one that outlived its
     * token is left behind. SQLite's key would refuse it, and the target's sequence, set past
     * the copied tokens, could give its seq to a new token. */
    {"token_uses", "seq, last_used", "seq", "seq", "seq IN (SELECT seq FROM tokens)"},
    {"token_names", "org_id, name", "org_id, name", NULL, NULL},
    {"audit",
     "seq, org, timestamp, source_ip, event, description, user_login, token_id, token_name, "
     "req_org_admin, auth_failure, chain",
     "seq", "seq", NULL},
};
#define TABLES (sizeof tables / sizeof tables[0])
_Static_assert(TABLES == STORE_COPY_TABLES, "store.h counts the tables copy.c copies");
#define COLUMNS_MAX 20

static void say(char *problem, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(problem, size, fmt, ap);
  va_end(ap);
}

static int column_count(const char *columns) {
  int n = 1;
  for (const char *p = columns; *p; p++)
    n += *p == ',';
  return n;
}

/* The condition of the rows of t a copy copies. */
static const char *copied_rows(const struct table *t) {
  return t->rows ? t->rows : "1 = 1";
}

/* The rows of t: all of them, or only those a copy copies. */
static int count_rows(struct sql_conn *c, const struct table *t, bool copied, int64_t *out) {
  char sql[160];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE %s", t->name,
           copied ? copied_rows(t) : "1 = 1");
  *out = -1;
  return c->driver->run_text(c, sql, NULL, 0, read_int64, out, NULL);
}

/* One source row, as the target's parameters: each value in the type the source stored it in
 * (booleans as 0 or 1, blobs as their 32 bytes: the only blobs are hashes and chain values). */
struct copier {
  struct sql_conn *target;
  const struct table *table;
  char insert[1024];
  int columns;
  int64_t copied, last_key;
  int rc;
};

static void copy_row(const struct sql_row *r, void *arg) {
  struct copier *cp = arg;
  if (cp->rc != TE_OK)
    return;
  struct param p[COLUMNS_MAX];
  unsigned char blobs[COLUMNS_MAX][32];
  for (int i = 0; i < cp->columns; i++) {
    size_t len;
    switch (r->driver->type(r, i)) {
    case SQL_NULL:
      p[i] = (struct param){PARAM_NULL, 0, NULL, 0};
      break;
    case SQL_INTEGER:
      p[i] = PARAM_I(row_int(r, i));
      break;
    case SQL_TEXT:
      p[i] = PARAM_T(r->driver->text(r, i, &len));
      break;
    case SQL_BLOB:
      if (!row_blob(r, i, blobs[i], 32)) {
        cp->rc = TE_INTERNAL;
        return;
      }
      p[i] = PARAM_B(blobs[i], 32);
      break;
    default:
      cp->rc = TE_INTERNAL;
      return;
    }
  }
  if (cp->table->paging)
    cp->last_key = row_int(r, 0);
  cp->rc = cp->target->driver->run_text(cp->target, cp->insert, p, cp->columns, NULL, NULL, NULL);
  cp->copied += cp->rc == TE_OK;
}

static void build_insert(struct copier *cp, char prefix) {
  int n = snprintf(cp->insert, sizeof cp->insert, "INSERT INTO %s (%s) VALUES (", cp->table->name,
                   cp->table->columns);
  for (int i = 1; i <= cp->columns; i++)
    n += snprintf(cp->insert + n, sizeof cp->insert - (size_t)n, "%s%c%d", i > 1 ? ", " : "",
                  prefix, i);
  snprintf(cp->insert + n, sizeof cp->insert - (size_t)n, ")");
}

static int copy_table(struct sql_conn *from, struct sql_conn *to, const struct table *t,
                      int64_t *copied) {
  struct copier cp = {.target = to, .table = t, .columns = column_count(t->columns)};
  if (cp.columns > COLUMNS_MAX)
    return TE_INTERNAL;
  build_insert(&cp, to->driver->param_prefix);
  char select[1024];
  char q = from->driver->param_prefix;
  if (!t->paging) {
    snprintf(select, sizeof select, "SELECT %s FROM %s WHERE %s ORDER BY %s", t->columns, t->name,
             copied_rows(t), t->order);
    int rc = from->driver->run_text(from, select, NULL, 0, copy_row, &cp, NULL);
    *copied = cp.copied;
    return rc ? rc : cp.rc;
  }
  snprintf(select, sizeof select, "SELECT %s FROM %s WHERE %s > %c1 AND %s ORDER BY %s LIMIT %c2",
           t->columns, t->name, t->paging, q, copied_rows(t), t->order, q);
  cp.last_key = INT64_MIN;
  for (int64_t before = -1; cp.rc == TE_OK && cp.copied != before;) {
    before = cp.copied;
    struct param p[] = {PARAM_I(cp.last_key), PARAM_I(PAGE_ROWS)};
    int rc = from->driver->run_text(from, select, p, 2, copy_row, &cp, NULL);
    if (rc)
      return rc;
  }
  *copied = cp.copied;
  return cp.rc;
}

struct copy_job {
  struct write_job job;
  struct sql_conn *source; /* inside its read transaction: one snapshot throughout */
  struct store_copy_report *report;
  char *problem;
  size_t problem_size;
};

static int apply_copy(struct sql_conn *to, struct write_job *job) {
  struct copy_job *cj = (struct copy_job *)job;
  for (size_t i = 0; i < TABLES; i++) {
    int64_t present;
    int rc = count_rows(to, &tables[i], false, &present);
    if (rc == TE_OK && present) {
      say(cj->problem, cj->problem_size, "the target is not empty: its %s table has %lld rows",
          tables[i].name, (long long)present);
      return TE_CONFLICT;
    }
    if (rc == TE_OK)
      rc = copy_table(cj->source, to, &tables[i], &cj->report->rows[i]);
    if (rc) {
      say(cj->problem, cj->problem_size, "copying the %s table failed", tables[i].name);
      return rc;
    }
  }
  /* Sequences move past the copied ids (PostgreSQL; SQLite's follow its rows by themselves). */
  return sql_exec(to, STMT_COPY_FIXUP, NULL, 0);
}

const char *store_copy_table_name(size_t i) {
  return i < TABLES ? tables[i].name : NULL;
}

/* The audit key of the store at db: beside it for SQLite, the given file for PostgreSQL. */
static int key_path_of(const char *db, const char *key_file, char *out, size_t size) {
  if (store_is_postgres(db)) {
    if (!key_file || !*key_file)
      return TE_BAD_REQUEST;
    snprintf(out, size, "%s", key_file);
    return TE_OK;
  }
  /* The file must exist for its real path (and so its key's) to be known. */
  int fd = open(db, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return TE_INTERNAL;
  close(fd);
  char head[PATH_MAX + 16];
  return audit_files_paths(db, out, size, head, sizeof head);
}

/* Every table's rows on both sides, then the target's chain from its first record. */
static int check_copy(struct store *from, struct store *to, const char *to_db, const char *to_key,
                      struct store_copy_report *report, char *problem, size_t size) {
  struct sql_store *src = (struct sql_store *)from, *dst = (struct sql_store *)to;
  struct sql_conn *a, *b;
  int rc = src->backend->reader_acquire(src, &a);
  if (rc)
    return rc;
  if ((rc = dst->backend->reader_acquire(dst, &b)) != TE_OK) {
    src->backend->reader_release(src, a);
    return rc;
  }
  int64_t tail_seq = 0;
  unsigned char tail_chain[32];
  for (size_t i = 0; rc == TE_OK && i < TABLES; i++) {
    int64_t here, there;
    if ((rc = count_rows(a, &tables[i], true, &here)) == TE_OK &&
        (rc = count_rows(b, &tables[i], true, &there)) == TE_OK && here != there) {
      say(problem, size, "the %s table has %lld rows in the source, %lld in the target",
          tables[i].name, (long long)here, (long long)there);
      rc = TE_CONFLICT;
    }
  }
  /* The target's head file: the last record, as its writer would have recorded it. */
  if (rc == TE_OK && (rc = audit_tail_read(b, &tail_seq, tail_chain)) == TE_OK && tail_seq > 0)
    rc = audit_head_advance(dst->head_path, tail_seq, tail_chain);
  src->backend->reader_release(src, a);
  dst->backend->reader_release(dst, b);
  if (rc)
    return rc;
  char report_text[512];
  rc = store_audit_verify(to_db, store_is_postgres(to_db) ? to_key : NULL, &report->audit_verified,
                          report_text, sizeof report_text);
  if (rc)
    say(problem, size, "the target's audit log does not verify: %s", report_text);
  return rc;
}

int store_copy(const char *from_db, const char *from_key, const char *to_db, const char *to_key,
               struct store_copy_report *report, char *problem, size_t size) {
  memset(report, 0, sizeof *report);
  problem[0] = '\0';
  char source_report[512], key_path[PATH_MAX + 16], target_key[PATH_MAX + 16];
  int rc = store_audit_verify(from_db, store_is_postgres(from_db) ? from_key : NULL,
                              &report->audit_verified, source_report, sizeof source_report);
  if (rc) {
    say(problem, size, "the source's audit log does not verify%s%s: nothing copied",
        source_report[0] ? ": " : "", source_report);
    return rc;
  }
  unsigned char key[AUDIT_KEY_LEN];
  if ((rc = key_path_of(from_db, from_key, key_path, sizeof key_path)) != TE_OK ||
      (rc = audit_key_load(key_path, false, key)) != TE_OK ||
      (rc = key_path_of(to_db, to_key, target_key, sizeof target_key)) != TE_OK) {
    OPENSSL_cleanse(key, sizeof key);
    say(problem, size, "cannot read the source's audit key or place the target's");
    return rc;
  }
  /* The copied chain values are the source key's: the target must seal with the same. */
  rc = audit_key_install(target_key, key);
  OPENSSL_cleanse(key, sizeof key);
  if (rc) {
    say(problem, size,
        rc == TE_CONFLICT ? "%s holds another audit key: the copy needs the source's (the audit "
                            "chain is sealed with it); give a new file"
                          : "cannot write the audit key %s",
        target_key);
    return rc;
  }
  struct store *from, *to;
  if ((rc = store_open(from_db, store_is_postgres(from_db) ? from_key : NULL, 2, &from)) != 0) {
    say(problem, size, "cannot open the source");
    return rc;
  }
  if ((rc = store_open(to_db, store_is_postgres(to_db) ? to_key : NULL, 2, &to)) != 0) {
    from->ops->close(from);
    say(problem, size, "cannot open the target");
    return rc;
  }
  struct sql_store *src = (struct sql_store *)from;
  struct sql_conn *source;
  if ((rc = src->backend->reader_acquire(src, &source)) == TE_OK) {
    if ((rc = sql_exec(source, STMT_BEGIN_READ, NULL, 0)) == TE_OK) {
      struct copy_job *job = job_new(sizeof *job, apply_copy);
      job->source = source;
      job->report = report;
      job->problem = problem;
      job->problem_size = size;
      rc = sql_submit(to, &job->job, NULL, NULL);
      sql_exec(source, STMT_ROLLBACK, NULL, 0);
    }
    src->backend->reader_release(src, source);
  }
  if (rc == TE_OK)
    rc = check_copy(from, to, to_db, to_key, report, problem, size);
  else if (!problem[0])
    say(problem, size, "the copy failed (see above); the target is unchanged");
  to->ops->close(to);
  from->ops->close(from);
  return rc;
}
