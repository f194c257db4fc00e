/* The audit log in the SQL stores: its records, appended in the writer's transaction with the
 * chain value audit/chain.c computes; the key id that ties a database to its key file; the walk
 * that hands the records to the verifier; and the listing. The chain and the files are audit/'s;
 * where the files live is the backend's (beside a SQLite database; beside the key, named after
 * the database's id, for PostgreSQL, whose nodes share one key). */

#include "store/sql.h"

#include "audit/chain.h"
#include "audit/files.h"
#include "core/error.h"
#include "core/token.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Verify reads the log a page at a time: memory stays bounded whatever its length. */
#define VERIFY_PAGE 1000

struct audit_meta {
  bool valid;
  unsigned char key_id[32];
  char db_id[33];
};

static void read_meta(const struct sql_row *r, void *out) {
  struct audit_meta *m = out;
  m->valid = row_blob(r, 0, m->key_id, 32);
  row_text(r, 1, m->db_id, sizeof m->db_id);
}

/* The key id and database id recorded in the database: TE_OK, TE_NOT_FOUND when none. */
static int stored_meta(struct sql_conn *c, struct audit_meta *m) {
  memset(m, 0, sizeof *m);
  int rc = sql_one(c, STMT_AUDIT_META, NULL, 0, read_meta, m);
  return rc == TE_OK && !m->valid ? TE_INTERNAL : rc;
}

static int check_key_matches(const struct audit_meta *m, const char *key_file,
                             const unsigned char key[32]) {
  unsigned char have[32];
  audit_key_id(key, have);
  if (CRYPTO_memcmp(m->key_id, have, 32) != 0) {
    fprintf(stderr, "tessera: %s is not the key this database's audit log was made with\n",
            key_file);
    return TE_FORBIDDEN;
  }
  return TE_OK;
}

static void new_db_id(char out[33]) {
  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof raw) != 1)
    abort();
  token_hex(raw, sizeof raw, out);
}

int audit_key_setup(struct sql_conn *c, const char *key_path, unsigned char key[AUDIT_KEY_LEN],
                    char db_id[33]) {
  audit_files_remove_stale(key_path);
  /* The write lock serializes processes opening the same database for the first time. */
  int rc = sql_exec(c, STMT_BEGIN, NULL, 0);
  if (rc)
    return rc;
  struct audit_meta meta;
  if ((rc = sql_exec(c, STMT_AUDIT_META_LOCK, NULL, 0)) == TE_OK)
    rc = stored_meta(c, &meta);
  if (rc == TE_OK) {
    rc = audit_key_load(key_path, false, key);
    if (rc == TE_NOT_FOUND)
      fprintf(stderr, "tessera: the audit key %s is missing; restore it from backup\n", key_path);
    if (rc == TE_OK)
      rc = check_key_matches(&meta, key_path, key);
  } else if (rc == TE_NOT_FOUND) { /* a new audit log: make (or adopt) its key and record its id */
    rc = audit_key_load(key_path, true, key);
    if (rc == TE_OK) {
      audit_key_id(key, meta.key_id);
      new_db_id(meta.db_id);
      struct param p[] = {PARAM_B(meta.key_id, 32), PARAM_T(meta.db_id)};
      rc = sql_write(c, STMT_AUDIT_META_SET, p, 2, true);
    }
  }
  if (rc == TE_OK && (rc = sql_exec(c, STMT_COMMIT, NULL, 0)) == TE_OK) {
    snprintf(db_id, 33, "%s", meta.db_id);
    return TE_OK;
  }
  sql_exec(c, STMT_ROLLBACK, NULL, 0);
  OPENSSL_cleanse(key, AUDIT_KEY_LEN);
  fprintf(stderr, "tessera: cannot set up the audit log key %s\n", key_path);
  return rc;
}

int audit_head_beside_key(const char *key_path, const char *db_id, char *out, size_t size) {
  char real[PATH_MAX];
  if (!realpath(key_path, real) || !db_id[0])
    return TE_INTERNAL;
  return (size_t)snprintf(out, size, "%s.%s.audit-head", real, db_id) < size ? TE_OK : TE_INTERNAL;
}

static void read_tail(const struct sql_row *r, void *out) {
  struct audit_tail_row *t = out;
  t->seq = row_int(r, 0);
  if (!row_blob(r, 1, t->chain, 32))
    memset(t->chain, 0, 32);
}

struct sql_step audit_tail_step(struct audit_tail_row *out) {
  return (struct sql_step){.id = STMT_AUDIT_LAST, .each = read_tail, .arg = out};
}

int audit_tail_read(struct sql_conn *c, int64_t *seq, unsigned char chain[32]) {
  struct audit_tail_row last = {0, {0}};
  int rc = sql_one(c, STMT_AUDIT_LAST, NULL, 0, read_tail, &last);
  if (rc && rc != TE_NOT_FOUND)
    return rc;
  *seq = last.seq;
  memcpy(chain, last.chain, 32);
  return TE_OK;
}

int audit_row(const unsigned char key[AUDIT_KEY_LEN], int64_t *seq, const unsigned char prev[32],
              const struct audit_record *a, unsigned char chain[32],
              struct param p[AUDIT_ROW_PARAMS]) {
  if (*seq < 0 || *seq == INT64_MAX) /* a forged INT64_MAX tail: refuse, never wrap */
    return TE_INTERNAL;
  int64_t next = *seq + 1;
  audit_chain_value(key, prev, next, a, chain);
  struct param row[AUDIT_ROW_PARAMS] = {PARAM_I(next),
                                        PARAM_T(a->org),
                                        PARAM_I(a->timestamp),
                                        PARAM_T(a->source_ip),
                                        PARAM_T(a->event),
                                        PARAM_T(a->description),
                                        PARAM_T(a->user),
                                        PARAM_T(a->token_id),
                                        PARAM_T(a->token_name),
                                        PARAM_I(a->req_org_admin),
                                        PARAM_I(a->auth_failure),
                                        PARAM_B(chain, 32)};
  memcpy(p, row, sizeof row);
  *seq = next;
  return TE_OK;
}

int audit_insert(struct sql_conn *c, const unsigned char key[AUDIT_KEY_LEN],
                 const struct audit_record *a, int64_t *seq_out, unsigned char chain[32]) {
  int64_t seq;
  unsigned char prev[32];
  struct param p[AUDIT_ROW_PARAMS];
  int rc = audit_tail_read(c, &seq, prev);
  if (rc || (rc = audit_row(key, &seq, prev, a, chain, p)) != 0)
    return rc;
  if ((rc = sql_write(c, STMT_AUDIT_INSERT, p, AUDIT_ROW_PARAMS, false)) != 0)
    return rc;
  *seq_out = p[0].i;
  return TE_OK;
}

/* Reads a record for verification. Anything the chain could not vouch for byte for byte (another
 * type, an over-long or NUL-bearing text, a flag other than 0 or 1) makes the record invalid. */
static bool read_record(const struct sql_row *r, int64_t *seq, struct audit_record *a,
                        unsigned char chain[32]) {
  memset(a, 0, sizeof *a);
  return row_strict_int(r, 0, seq) && row_strict_int(r, 2, &a->timestamp) &&
         row_blob(r, 11, chain, 32) && row_strict_text(r, 1, a->org, sizeof a->org) &&
         row_strict_text(r, 3, a->source_ip, sizeof a->source_ip) &&
         row_strict_text(r, 4, a->event, sizeof a->event) &&
         row_strict_text(r, 5, a->description, sizeof a->description) &&
         row_strict_text(r, 6, a->user, sizeof a->user) &&
         row_strict_text(r, 7, a->token_id, sizeof a->token_id) &&
         row_strict_text(r, 8, a->token_name, sizeof a->token_name) &&
         row_strict_flag(r, 9, &a->req_org_admin) && row_strict_flag(r, 10, &a->auth_failure);
}

struct walk {
  struct audit_verifier *v;
  char *report;
  size_t report_size;
  int rc;
  int64_t after; /* the last seq read: the next page starts after it */
  int rows;
};

static void verify_row(const struct sql_row *r, void *arg) {
  struct walk *w = arg;
  w->rows++;
  w->after = row_int(r, 0);
  if (w->rc != TE_OK)
    return; /* the first bad record is the one to report */
  int64_t seq = 0;
  struct audit_record a;
  unsigned char stored[AUDIT_CHAIN_LEN];
  bool readable = read_record(r, &seq, &a, stored);
  w->rc = audit_verify_next(w->v, readable, readable ? seq : w->after, &a, stored, w->report,
                            w->report_size);
}

/* Walks the records in seq order through the verifier, in one read transaction, so that records
 * committed meanwhile do not confuse the walk. */
static int verify_records(struct sql_conn *c, struct audit_verifier *v, char *report,
                          size_t report_size) {
  struct walk w = {v, report, report_size, TE_OK, 0, 0};
  int rc = sql_exec(c, STMT_BEGIN_READ, NULL, 0);
  if (rc)
    return rc;
  /* From the lowest seq there can be: a forged record numbered 0 or below is read too. */
  int64_t from = INT64_MIN;
  do {
    w.rows = 0;
    struct param p[] = {PARAM_I(from), PARAM_I(VERIFY_PAGE)};
    rc = c->driver->run(c, STMT_AUDIT_PAGE, p, 2, verify_row, &w, NULL);
    from = w.after + 1;
  } while (rc == TE_OK && w.rc == TE_OK && w.rows == VERIFY_PAGE && w.after < INT64_MAX);
  sql_exec(c, STMT_ROLLBACK, NULL, 0);
  return rc ? rc : w.rc;
}

int audit_verify_on(struct sql_conn *c, const char *key_path, const char *head_path, int64_t *count,
                    char *report, size_t report_size) {
  report[0] = '\0';
  *count = 0;
  unsigned char key[AUDIT_KEY_LEN], head_chain[AUDIT_CHAIN_LEN];
  char beside_key[PATH_MAX + 64];
  int64_t head_seq;
  struct audit_meta meta;
  int rc = audit_key_load(key_path, false, key);
  if (rc != TE_OK)
    fprintf(stderr, "tessera: cannot read the audit key %s\n", key_path);
  if (rc == TE_OK && (rc = stored_meta(c, &meta)) == TE_NOT_FOUND)
    fprintf(stderr, "tessera: this database records no audit key\n");
  if (rc == TE_OK)
    rc = check_key_matches(&meta, key_path, key);
  if (rc == TE_OK && !head_path) {
    rc = audit_head_beside_key(key_path, meta.db_id, beside_key, sizeof beside_key);
    head_path = beside_key;
  }
  if (rc == TE_OK)
    rc = audit_head_read(head_path, &head_seq, head_chain);
  if (rc == TE_OK) {
    struct audit_verifier v;
    audit_verify_begin(&v, key, head_seq, head_chain);
    rc = verify_records(c, &v, report, report_size);
    *count = v.count;
    if (rc == TE_OK)
      rc = audit_verify_end(&v, report, report_size);
    OPENSSL_cleanse(&v, sizeof v);
  }
  OPENSSL_cleanse(key, sizeof key);
  return rc;
}

static void read_listed(const struct sql_row *r, void *item) {
  struct store_audit_record *rec = item;
  struct audit_record *a = &rec->audit;
  memset(rec, 0, sizeof *rec);
  rec->seq = row_int(r, 0);
  row_text(r, 1, a->org, sizeof a->org);
  a->timestamp = row_int(r, 2);
  row_text(r, 3, a->source_ip, sizeof a->source_ip);
  row_text(r, 4, a->event, sizeof a->event);
  row_text(r, 5, a->description, sizeof a->description);
  row_text(r, 6, a->user, sizeof a->user);
  row_text(r, 7, a->token_id, sizeof a->token_id);
  row_text(r, 8, a->token_name, sizeof a->token_name);
  a->req_org_admin = row_int(r, 9) != 0;
  a->auth_failure = row_int(r, 10) != 0;
}

int sql_audit_list(struct store *store, const struct store_audit_query *q,
                   struct store_audit_record **out, size_t *count) {
  struct param p[] = {PARAM_T(q->org),   PARAM_I(q->since), PARAM_I(q->until),
                      PARAM_T(q->event), PARAM_T(q->user),  PARAM_I(q->before_seq),
                      PARAM_I(q->limit)};
  return sql_read_all(store, STMT_AUDIT_LIST, p, 7, sizeof **out, read_listed, (void **)out, count);
}
