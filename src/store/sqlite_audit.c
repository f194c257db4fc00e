/* The audit log in the SQLite backend: its records, appended in the writer's transaction with
 * the chain value audit/chain.c computes; the key id that ties the database to its key file; and
 * the walk that hands the records to the verifier. The chain and the files are audit/'s. */

#include "store/sqlite_internal.h"

#include "audit/chain.h"
#include "audit/files.h"
#include "core/error.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The key id recorded in the database: TE_OK with it, TE_NOT_FOUND when none, else an error. */
static int stored_key_id(sqlite3 *db, unsigned char id[32]) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, "SELECT key_id FROM audit_meta LIMIT 1", -1, &st, NULL) != SQLITE_OK)
    return TE_INTERNAL;
  int step = sqlite3_step(st), rc = TE_INTERNAL;
  if (step == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32) {
    memcpy(id, sqlite3_column_blob(st, 0), 32);
    rc = TE_OK;
  } else if (step == SQLITE_DONE) {
    rc = TE_NOT_FOUND;
  }
  sqlite3_finalize(st);
  return rc;
}

static int check_key_matches(sqlite3 *db, const char *key_file, const unsigned char key[32]) {
  unsigned char want[32], have[32];
  int rc = stored_key_id(db, want);
  if (rc != TE_OK)
    return rc;
  audit_key_id(key, have);
  if (CRYPTO_memcmp(want, have, 32) != 0) {
    fprintf(stderr, "tessera: %s is not the key this database's audit log was made with\n",
            key_file);
    return TE_FORBIDDEN;
  }
  return TE_OK;
}

int audit_head_write(const char *db_path, int64_t seq, const unsigned char chain[32]) {
  char key[PATH_MAX + 16], head[PATH_MAX + 16];
  if (audit_files_paths(db_path, key, sizeof key, head, sizeof head) != TE_OK)
    return TE_INTERNAL;
  return audit_head_advance(head, seq, chain);
}

int audit_key_setup(sqlite3 *db, const char *db_path, unsigned char key[AUDIT_KEY_LEN]) {
  char path[PATH_MAX + 16], head[PATH_MAX + 16];
  if (audit_files_paths(db_path, path, sizeof path, head, sizeof head) != TE_OK)
    return TE_INTERNAL;
  audit_files_remove_stale(path);
  audit_files_remove_stale(head);
  /* The write lock serializes processes opening the same database for the first time. */
  if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
    return TE_INTERNAL;
  unsigned char id[32];
  int rc = stored_key_id(db, id);
  if (rc == TE_OK) {
    rc = audit_key_load(path, false, key);
    if (rc == TE_NOT_FOUND)
      fprintf(stderr, "tessera: the audit key %s is missing; restore it from backup\n", path);
    if (rc == TE_OK)
      rc = check_key_matches(db, path, key);
  } else if (rc == TE_NOT_FOUND) { /* a new audit log: make (or adopt) its key and record its id */
    sqlite3_stmt *st = NULL;
    rc = audit_key_load(path, true, key);
    if (rc == TE_OK) {
      audit_key_id(key, id);
      rc = sqlite3_prepare_v2(db, "INSERT INTO audit_meta (key_id) VALUES (?1)", -1, &st, NULL) ==
                       SQLITE_OK &&
                   sqlite3_bind_blob(st, 1, id, 32, SQLITE_STATIC) == SQLITE_OK &&
                   sqlite3_step(st) == SQLITE_DONE
               ? TE_OK
               : TE_INTERNAL;
      sqlite3_finalize(st);
    }
  }
  if (rc == TE_OK && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
    return TE_OK;
  sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  if (rc == TE_OK)
    rc = TE_INTERNAL;
  fprintf(stderr, "tessera: cannot set up the audit log key %s\n", path);
  return rc;
}

int audit_insert(struct conn *c, const unsigned char key[AUDIT_KEY_LEN],
                 const struct audit_record *a, int64_t *seq_out, unsigned char chain[32]) {
  sqlite3_stmt *last = conn_stmt(c, STMT_AUDIT_LAST);
  if (!last)
    return TE_INTERNAL;
  unsigned char prev[32] = {0};
  int64_t seq = 1;
  int step = sqlite3_step(last);
  if (step == SQLITE_ROW) {
    int64_t tail = sqlite3_column_int64(last, 0);
    seq = tail < INT64_MAX ? tail + 1 : 0; /* a forged INT64_MAX tail: refuse, never wrap */
    if (sqlite3_column_bytes(last, 1) == 32)
      memcpy(prev, sqlite3_column_blob(last, 1), 32);
  }
  sqlite3_reset(last);
  if (step != SQLITE_ROW && step != SQLITE_DONE)
    return conn_error(c, step, "audit tail");
  if (seq < 1)
    return TE_INTERNAL;

  audit_chain_value(key, prev, seq, a, chain);
  sqlite3_stmt *st = conn_stmt(c, STMT_AUDIT_INSERT);
  if (!st)
    return TE_INTERNAL;
  sqlite3_bind_int64(st, 1, seq);
  sqlite3_bind_text(st, 2, a->org, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, a->timestamp);
  sqlite3_bind_text(st, 4, a->source_ip, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, a->event, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 6, a->description, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 7, a->user, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 8, a->token_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 9, a->token_name, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 10, a->req_org_admin);
  sqlite3_bind_int(st, 11, a->auth_failure);
  sqlite3_bind_blob(st, 12, chain, 32, SQLITE_STATIC);
  step = sqlite3_step(st);
  sqlite3_reset(st);
  if (step != SQLITE_DONE)
    return conn_error(c, step, "audit insert");
  *seq_out = seq;
  return TE_OK;
}

/* Reads a text column exactly as stored: it must be TEXT, fit, and hold no NUL (which would hide
 * bytes from the chain). */
static bool strict_text(sqlite3_stmt *st, int col, char *dst, size_t size) {
  if (sqlite3_column_type(st, col) != SQLITE_TEXT)
    return false;
  const char *text = (const char *)sqlite3_column_text(st, col);
  size_t bytes = (size_t)sqlite3_column_bytes(st, col);
  if (!text || bytes >= size || strlen(text) != bytes)
    return false;
  memcpy(dst, text, bytes + 1);
  return true;
}

static bool strict_flag(sqlite3_stmt *st, int col, bool *out) {
  if (sqlite3_column_type(st, col) != SQLITE_INTEGER)
    return false;
  int64_t v = sqlite3_column_int64(st, col);
  *out = v == 1;
  return v == 0 || v == 1;
}

/* Reads a record for verification. Anything the chain could not vouch for byte for byte (another
 * type, an over-long or NUL-bearing text, a flag other than 0 or 1) makes the record invalid. */
static bool read_record(sqlite3_stmt *st, int64_t *seq, struct audit_record *a,
                        unsigned char chain[32]) {
  memset(a, 0, sizeof *a);
  if (sqlite3_column_type(st, 0) != SQLITE_INTEGER ||
      sqlite3_column_type(st, 2) != SQLITE_INTEGER || sqlite3_column_type(st, 11) != SQLITE_BLOB ||
      sqlite3_column_bytes(st, 11) != 32)
    return false;
  *seq = sqlite3_column_int64(st, 0);
  a->timestamp = sqlite3_column_int64(st, 2);
  memcpy(chain, sqlite3_column_blob(st, 11), 32);
  return strict_text(st, 1, a->org, sizeof a->org) &&
         strict_text(st, 3, a->source_ip, sizeof a->source_ip) &&
         strict_text(st, 4, a->event, sizeof a->event) &&
         strict_text(st, 5, a->description, sizeof a->description) &&
         strict_text(st, 6, a->user, sizeof a->user) &&
         strict_text(st, 7, a->token_id, sizeof a->token_id) &&
         strict_text(st, 8, a->token_name, sizeof a->token_name) &&
         strict_flag(st, 9, &a->req_org_admin) && strict_flag(st, 10, &a->auth_failure);
}

/* Walks the records in seq order through the verifier, in one read transaction, so that records
 * committed meanwhile do not confuse the walk. */
static int verify_records(sqlite3 *db, struct audit_verifier *v, char *report, size_t report_size) {
  sqlite3_stmt *st;
  if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db,
                         "SELECT seq, org, timestamp, source_ip, event, description, user_login, "
                         "token_id, token_name, req_org_admin, auth_failure, chain "
                         "FROM audit ORDER BY seq",
                         -1, &st, NULL) != SQLITE_OK)
    return TE_INTERNAL;
  unsigned char stored[AUDIT_CHAIN_LEN];
  int64_t seq = 0;
  struct audit_record a;
  int rc = TE_OK, step;
  while (rc == TE_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
    bool readable = read_record(st, &seq, &a, stored);
    rc = audit_verify_next(v, readable, seq, &a, stored, report, report_size);
  }
  if (rc == TE_OK && step != SQLITE_DONE)
    rc = TE_INTERNAL;
  sqlite3_finalize(st);
  return rc;
}

int store_sqlite_audit_verify(const char *path, int64_t *count, char *report, size_t report_size) {
  report[0] = '\0';
  *count = 0;
  sqlite3 *db;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    fprintf(stderr, "tessera: cannot open %s: %s\n", path, sqlite3_errmsg(db));
    sqlite3_close(db);
    return TE_INTERNAL;
  }
  sqlite3_busy_timeout(db, 5000);
  unsigned char key[AUDIT_KEY_LEN], head_chain[AUDIT_CHAIN_LEN];
  char key_file[PATH_MAX + 16], head_file[PATH_MAX + 16];
  int64_t head_seq;
  struct audit_verifier v;
  int rc = audit_files_paths(path, key_file, sizeof key_file, head_file, sizeof head_file);
  if (rc == TE_OK && (rc = audit_key_load(key_file, false, key)) != TE_OK)
    fprintf(stderr, "tessera: cannot read the audit key %s\n", key_file);
  if (rc == TE_OK)
    rc = check_key_matches(db, key_file, key);
  if (rc == TE_OK)
    rc = audit_head_read(head_file, &head_seq, head_chain);
  if (rc == TE_OK) {
    audit_verify_begin(&v, key, head_seq, head_chain);
    rc = verify_records(db, &v, report, report_size);
    *count = v.count;
    if (rc == TE_OK)
      rc = audit_verify_end(&v, report, report_size);
    OPENSSL_cleanse(&v, sizeof v);
  }
  sqlite3_close(db);
  OPENSSL_cleanse(key, sizeof key);
  return rc;
}

static void read_listed(sqlite3_stmt *st, void *item) {
  struct store_audit_record *r = item;
  struct audit_record *a = &r->audit;
  memset(r, 0, sizeof *r);
  r->seq = sqlite3_column_int64(st, 0);
  column_text(st, 1, a->org, sizeof a->org);
  a->timestamp = sqlite3_column_int64(st, 2);
  column_text(st, 3, a->source_ip, sizeof a->source_ip);
  column_text(st, 4, a->event, sizeof a->event);
  column_text(st, 5, a->description, sizeof a->description);
  column_text(st, 6, a->user, sizeof a->user);
  column_text(st, 7, a->token_id, sizeof a->token_id);
  column_text(st, 8, a->token_name, sizeof a->token_name);
  a->req_org_admin = sqlite3_column_int(st, 9) != 0;
  a->auth_failure = sqlite3_column_int(st, 10) != 0;
}

int sqlite_audit_list(struct store *store, const struct store_audit_query *q,
                      struct store_audit_record **out, size_t *count) {
  struct param p[] = {PARAM_T(q->org),   PARAM_I(q->since), PARAM_I(q->until),
                      PARAM_T(q->event), PARAM_T(q->user),  PARAM_I(q->before_seq),
                      PARAM_I(q->limit)};
  return sqlite_read_all(store, STMT_AUDIT_LIST, p, 7, sizeof **out, read_listed, (void **)out,
                         count);
}
