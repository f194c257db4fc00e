/* The audit log's tamper evidence. Each record's chain value is
 *   HMAC-SHA-256(key, previous chain value || canonical encoding of this record, seq included)
 * with 32 zero bytes before the first record. Editing a record breaks its own value; removing one
 * leaves a gap in seq and breaks the next value; moving one breaks both. The key is a server secret
 * kept outside the database, so whoever can write the database alone cannot forge the chain. */

#include "store/sqlite_internal.h"

#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RECORD_MAX 2048 /* the encoding of a record; its fields are bounded (store.h) */

static void key_path(const char *db_path, char *out, size_t size) {
  snprintf(out, size, "%s.audit-key", db_path);
}

static int read_key(int fd, unsigned char key[AUDIT_KEY_LEN]) {
  ssize_t n = read(fd, key, AUDIT_KEY_LEN);
  return n == AUDIT_KEY_LEN ? TE_OK : TE_INTERNAL;
}

int audit_key_load(const char *db_path, bool create, unsigned char key[AUDIT_KEY_LEN]) {
  char path[4096];
  key_path(db_path, path, sizeof path);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    int rc = read_key(fd, key);
    close(fd);
    if (rc)
      fprintf(stderr, "tessera: the audit key %s is not %d bytes\n", path, AUDIT_KEY_LEN);
    return rc;
  }
  if (errno != ENOENT || !create) {
    fprintf(stderr, "tessera: cannot read the audit key %s: %s\n", path, strerror(errno));
    return TE_INTERNAL;
  }
  fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    fprintf(stderr, "tessera: cannot create the audit key %s: %s\n", path, strerror(errno));
    return TE_INTERNAL;
  }
  int rc = RAND_bytes(key, AUDIT_KEY_LEN) == 1 && write(fd, key, AUDIT_KEY_LEN) == AUDIT_KEY_LEN &&
                   fsync(fd) == 0
               ? TE_OK
               : TE_INTERNAL;
  close(fd);
  if (rc) {
    unlink(path);
    fprintf(stderr, "tessera: cannot write the audit key %s\n", path);
  }
  return rc;
}

/* Appends bytes to the encoding; false when it would not fit (fields are bounded, so never). */
struct encoding {
  unsigned char data[RECORD_MAX];
  size_t len;
};

static void put_bytes(struct encoding *e, const void *bytes, size_t n) {
  if (e->len + n > sizeof e->data)
    abort(); /* unreachable: every field is bounded well below RECORD_MAX */
  memcpy(e->data + e->len, bytes, n);
  e->len += n;
}

static void put_u64(struct encoding *e, uint64_t v) {
  unsigned char b[8];
  for (int i = 7; i >= 0; i--, v >>= 8)
    b[i] = (unsigned char)(v & 0xff);
  put_bytes(e, b, sizeof b);
}

/* Length-prefixed, so that no two different records encode alike. */
static void put_text(struct encoding *e, const char *text) {
  size_t n = strlen(text);
  put_u64(e, n);
  put_bytes(e, text, n);
}

static void chain_value(const unsigned char key[AUDIT_KEY_LEN], const unsigned char prev[32],
                        int64_t seq, const struct store_audit *a, unsigned char out[32]) {
  struct encoding e = {.len = 0};
  put_bytes(&e, prev, 32);
  put_u64(&e, (uint64_t)seq);
  put_u64(&e, (uint64_t)a->timestamp);
  put_text(&e, a->org);
  put_text(&e, a->source_ip);
  put_text(&e, a->event);
  put_text(&e, a->description);
  put_text(&e, a->user);
  put_text(&e, a->token_id);
  put_text(&e, a->token_name);
  put_u64(&e, a->req_org_admin);
  put_u64(&e, a->auth_failure);
  size_t out_len = 0;
  if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, AUDIT_KEY_LEN, e.data, e.len, out, 32,
                 &out_len) ||
      out_len != 32)
    abort();
}

int audit_insert(struct conn *c, const unsigned char key[AUDIT_KEY_LEN],
                 const struct store_audit *a) {
  sqlite3_stmt *last = conn_stmt(c, STMT_AUDIT_LAST);
  if (!last)
    return TE_INTERNAL;
  unsigned char prev[32] = {0};
  int64_t seq = 1;
  int step = sqlite3_step(last);
  if (step == SQLITE_ROW) {
    seq = sqlite3_column_int64(last, 0) + 1;
    if (sqlite3_column_bytes(last, 1) == 32)
      memcpy(prev, sqlite3_column_blob(last, 1), 32);
  }
  sqlite3_reset(last);
  if (step != SQLITE_ROW && step != SQLITE_DONE)
    return conn_error(c, step, "audit tail");

  unsigned char chain[32];
  chain_value(key, prev, seq, a, chain);
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
  sqlite3_bind_blob(st, 12, chain, sizeof chain, SQLITE_STATIC);
  step = sqlite3_step(st);
  sqlite3_reset(st);
  return step == SQLITE_DONE ? TE_OK : conn_error(c, step, "audit insert");
}

bool audit_has_records(struct conn *c) {
  sqlite3_stmt *last = conn_stmt(c, STMT_AUDIT_LAST);
  bool any = last && sqlite3_step(last) == SQLITE_ROW;
  if (last)
    sqlite3_reset(last);
  return any;
}

static void read_record(sqlite3_stmt *st, int64_t *seq, struct store_audit *a,
                        unsigned char chain[32]) {
  memset(a, 0, sizeof *a);
  *seq = sqlite3_column_int64(st, 0);
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
  memset(chain, 0, 32);
  if (sqlite3_column_bytes(st, 11) == 32)
    memcpy(chain, sqlite3_column_blob(st, 11), 32);
}

/* Walks the records in seq order, recomputing each chain value. */
static int verify_chain(sqlite3 *db, const unsigned char key[AUDIT_KEY_LEN], int64_t *count,
                        char *report, size_t report_size) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db,
                         "SELECT seq, org, timestamp, source_ip, event, description, user_login, "
                         "token_id, token_name, req_org_admin, auth_failure, chain "
                         "FROM audit ORDER BY seq",
                         -1, &st, NULL) != SQLITE_OK)
    return TE_INTERNAL;
  unsigned char prev[32] = {0}, stored[32], expected[32];
  int64_t expected_seq = 1, seq;
  struct store_audit a;
  int rc = TE_OK, step;
  *count = 0;
  while (rc == TE_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
    read_record(st, &seq, &a, stored);
    if (seq != expected_seq) {
      snprintf(report, report_size,
               "audit record %lld is missing (the log jumps from %lld to %lld): removed",
               (long long)expected_seq, (long long)expected_seq - 1, (long long)seq);
      rc = TE_CONFLICT;
      break;
    }
    chain_value(key, prev, seq, &a, expected);
    if (CRYPTO_memcmp(expected, stored, 32) != 0) {
      snprintf(report, report_size,
               "audit record %lld (%s at %lld) does not match its chain value: altered, or moved "
               "from elsewhere in the log",
               (long long)seq, a.event, (long long)a.timestamp);
      rc = TE_CONFLICT;
      break;
    }
    memcpy(prev, stored, 32);
    expected_seq++;
    (*count)++;
  }
  if (rc == TE_OK && step != SQLITE_DONE)
    rc = TE_INTERNAL;
  sqlite3_finalize(st);
  return rc;
}

int store_sqlite_audit_verify(const char *path, int64_t *count, char *report, size_t report_size) {
  unsigned char key[AUDIT_KEY_LEN];
  report[0] = '\0';
  if (audit_key_load(path, false, key) != TE_OK)
    return TE_INTERNAL;
  sqlite3 *db;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    fprintf(stderr, "tessera: cannot open %s: %s\n", path, sqlite3_errmsg(db));
    sqlite3_close(db);
    return TE_INTERNAL;
  }
  sqlite3_busy_timeout(db, 5000);
  int rc = verify_chain(db, key, count, report, report_size);
  sqlite3_close(db);
  OPENSSL_cleanse(key, sizeof key);
  return rc;
}
