/* The audit log's tamper evidence. Each record's chain value is
 *   HMAC-SHA-256(key, previous chain value || canonical encoding of this record, seq included)
 * with 32 zero bytes before the first record. Editing a record breaks its own value; removing one
 * leaves a gap in seq and breaks the next value; moving one breaks both. The key is a server secret
 * kept outside the database, so whoever can write the database alone cannot forge the chain. */

#include "store/sqlite_internal.h"

#include "core/error.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RECORD_MAX 2048 /* the encoding of a record; its fields are bounded (store.h) */

#define KEY_ID_LABEL "tessera-audit-key-id"
#define HEAD_LEN (8 + 32) /* seq, big-endian, then its chain value */

/* The key and head files sit beside the database's real path, so that two paths to one database
 * (a symlink, a bind mount) cannot end up with two keys. */
static int sibling_path(const char *db_path, const char *suffix, char *out, size_t size) {
  char real[PATH_MAX];
  if (!realpath(db_path, real)) {
    fprintf(stderr, "tessera: cannot resolve %s: %s\n", db_path, strerror(errno));
    return TE_INTERNAL;
  }
  return (size_t)snprintf(out, size, "%s%s", real, suffix) < size ? TE_OK : TE_INTERNAL;
}

/* fsyncs the directory holding path, so that a new name in it survives a power loss. */
static int sync_parent(const char *path) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash)
    *slash = '\0';
  int fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return TE_INTERNAL;
  int rc = fsync(fd) == 0 ? TE_OK : TE_INTERNAL;
  close(fd);
  return rc;
}

/* Writes data to a private temporary file beside path and fsyncs it; returns its name in tmp. */
static int write_temp(const char *path, const void *data, size_t len, char *tmp, size_t size) {
  snprintf(tmp, size, "%s.tmp.%ld", path, (long)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return TE_INTERNAL;
  int rc = write(fd, data, len) == (ssize_t)len && fsync(fd) == 0 ? TE_OK : TE_INTERNAL;
  close(fd);
  if (rc)
    unlink(tmp);
  return rc;
}

static int read_private_file(const char *path, void *data, size_t len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return errno == ENOENT ? TE_NOT_FOUND : TE_INTERNAL;
  struct stat st;
  int rc = TE_OK;
  if (fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
    fprintf(stderr, "tessera: %s must be readable by its owner only (chmod 600)\n", path);
    rc = TE_FORBIDDEN;
  } else if (read(fd, data, len) != (ssize_t)len) {
    fprintf(stderr, "tessera: %s is not %zu bytes\n", path, len);
    rc = TE_INTERNAL;
  }
  close(fd);
  return rc;
}

/* Makes the key file if it does not exist yet, atomically: the complete key is written to a
 * temporary file first and then linked into place, so nobody ever sees a partial key, and a
 * process that loses the race reads the winner's. */
static int create_or_read_key(const char *path, unsigned char key[AUDIT_KEY_LEN]) {
  int rc = read_private_file(path, key, AUDIT_KEY_LEN);
  if (rc != TE_NOT_FOUND)
    return rc;
  char tmp[PATH_MAX + 32];
  if (RAND_bytes(key, AUDIT_KEY_LEN) != 1 ||
      write_temp(path, key, AUDIT_KEY_LEN, tmp, sizeof tmp) != TE_OK)
    return TE_INTERNAL;
  int linked = link(tmp, path);
  int link_errno = errno;
  unlink(tmp);
  if (linked != 0)
    return link_errno == EEXIST ? read_private_file(path, key, AUDIT_KEY_LEN) : TE_INTERNAL;
  return sync_parent(path);
}

static void key_id(const unsigned char key[AUDIT_KEY_LEN], unsigned char id[32]) {
  size_t len = 0;
  if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, AUDIT_KEY_LEN,
                 (const unsigned char *)KEY_ID_LABEL, strlen(KEY_ID_LABEL), id, 32, &len) ||
      len != 32)
    abort();
}

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
  key_id(key, have);
  if (CRYPTO_memcmp(want, have, 32) != 0) {
    fprintf(stderr, "tessera: %s is not the key this database's audit log was made with\n",
            key_file);
    return TE_FORBIDDEN;
  }
  return TE_OK;
}

int audit_head_write(const char *db_path, int64_t seq, const unsigned char chain[32]) {
  char path[PATH_MAX + 16], tmp[PATH_MAX + 48];
  unsigned char head[HEAD_LEN], current[HEAD_LEN];
  if (sibling_path(db_path, ".audit-head", path, sizeof path) != TE_OK)
    return TE_INTERNAL;
  /* Only forward: another process may have committed later records and written them already. */
  if (read_private_file(path, current, HEAD_LEN) == TE_OK) {
    int64_t known = 0;
    for (int i = 0; i < 8; i++)
      known = (known << 8) | current[i];
    if (known >= seq)
      return TE_OK;
  }
  uint64_t v = (uint64_t)seq;
  for (int i = 7; i >= 0; i--, v >>= 8)
    head[i] = (unsigned char)(v & 0xff);
  memcpy(head + 8, chain, 32);
  if (write_temp(path, head, HEAD_LEN, tmp, sizeof tmp) != TE_OK)
    return TE_INTERNAL;
  if (rename(tmp, path) != 0) {
    unlink(tmp);
    return TE_INTERNAL;
  }
  return sync_parent(path);
}

/* A process killed between write_temp() and the rename or link leaves "<file>.tmp.<pid>" behind
 * (the head's after one crash in four under load; the key's would hold a copy of the key). Removes
 * those of processes that no longer exist: a live one's, ours included, may be in use. */
static void remove_stale_temps(const char *file) {
  char dir[PATH_MAX + 16], prefix[PATH_MAX + 16];
  snprintf(dir, sizeof dir, "%s", file);
  char *slash = strrchr(dir, '/'); /* file is a real path: absolute */
  if (!slash)
    return;
  *slash = '\0';
  size_t len = (size_t)snprintf(prefix, sizeof prefix, "%s.tmp.", slash + 1);
  DIR *d = opendir(*dir ? dir : "/");
  if (!d)
    return;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (strncmp(e->d_name, prefix, len) != 0)
      continue;
    char *end;
    errno = 0;
    long pid = strtol(e->d_name + len, &end, 10);
    if (end == e->d_name + len || *end || errno || pid <= 0 || pid > INT_MAX || pid == getpid())
      continue;
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
      unlinkat(dirfd(d), e->d_name, 0);
  }
  closedir(d);
}

int audit_key_setup(sqlite3 *db, const char *db_path, unsigned char key[AUDIT_KEY_LEN]) {
  char path[PATH_MAX + 16], head[PATH_MAX + 16];
  if (sibling_path(db_path, ".audit-key", path, sizeof path) != TE_OK ||
      sibling_path(db_path, ".audit-head", head, sizeof head) != TE_OK)
    return TE_INTERNAL;
  remove_stale_temps(path);
  remove_stale_temps(head);
  /* The write lock serializes processes opening the same database for the first time. */
  if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
    return TE_INTERNAL;
  unsigned char id[32];
  int rc = stored_key_id(db, id);
  if (rc == TE_OK) {
    rc = read_private_file(path, key, AUDIT_KEY_LEN);
    if (rc == TE_NOT_FOUND)
      fprintf(stderr, "tessera: the audit key %s is missing; restore it from backup\n", path);
    if (rc == TE_OK)
      rc = check_key_matches(db, path, key);
  } else if (rc == TE_NOT_FOUND) { /* a new audit log: make (or adopt) its key and record its id */
    sqlite3_stmt *st = NULL;
    rc = create_or_read_key(path, key);
    if (rc == TE_OK) {
      key_id(key, id);
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
                 const struct store_audit *a, int64_t *seq_out, unsigned char chain[32]) {
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
static bool read_record(sqlite3_stmt *st, int64_t *seq, struct store_audit *a,
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

/* Event names go into a terminal: only printable ASCII is shown. */
static const char *printable(const char *text, char *out, size_t size) {
  size_t o = 0;
  for (; *text && o + 1 < size; text++)
    out[o++] = *text >= 0x20 && *text < 0x7f ? *text : '?';
  out[o] = '\0';
  return out;
}

/* Walks the records in seq order, recomputing each chain value; remembers the value at
 * head_seq so that the caller can compare it with the head file. */
static int verify_chain(sqlite3 *db, const unsigned char key[AUDIT_KEY_LEN], int64_t head_seq,
                        unsigned char at_head[32], int64_t *count, char *report,
                        size_t report_size) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db,
                         "SELECT seq, org, timestamp, source_ip, event, description, user_login, "
                         "token_id, token_name, req_org_admin, auth_failure, chain "
                         "FROM audit ORDER BY seq",
                         -1, &st, NULL) != SQLITE_OK)
    return TE_INTERNAL;
  unsigned char prev[32] = {0}, stored[32], expected[32];
  int64_t expected_seq = 1, seq = 0;
  struct store_audit a;
  char shown[AUDIT_EVENT_MAX + 1];
  int rc = TE_OK, step;
  *count = 0;
  memset(at_head, 0, 32);
  while (rc == TE_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
    if (!read_record(st, &seq, &a, stored)) {
      snprintf(report, report_size,
               "audit record %lld holds values of the wrong type or size: altered",
               (long long)expected_seq);
      rc = TE_CONFLICT;
    } else if (seq > expected_seq) {
      snprintf(report, report_size,
               "audit record %lld is missing (the log jumps from %lld to %lld): removed",
               (long long)expected_seq, (long long)expected_seq - 1, (long long)seq);
      rc = TE_CONFLICT;
    } else if (seq < expected_seq) {
      snprintf(report, report_size,
               "an audit record numbered %lld stands where record %lld was expected: inserted or "
               "renumbered",
               (long long)seq, (long long)expected_seq);
      rc = TE_CONFLICT;
    } else {
      chain_value(key, prev, seq, &a, expected);
      if (CRYPTO_memcmp(expected, stored, 32) != 0) {
        snprintf(report, report_size,
                 "audit record %lld (%s at %lld) does not match its chain value: altered, or "
                 "moved from elsewhere in the log",
                 (long long)seq, printable(a.event, shown, sizeof shown), (long long)a.timestamp);
        rc = TE_CONFLICT;
      }
    }
    if (rc != TE_OK)
      break;
    memcpy(prev, stored, 32);
    if (seq == head_seq)
      memcpy(at_head, stored, 32);
    expected_seq++;
    (*count)++;
  }
  if (rc == TE_OK && step != SQLITE_DONE)
    rc = TE_INTERNAL;
  sqlite3_finalize(st);
  return rc;
}

/* Reads the head file: the last record this log is known to have reached. */
static int read_head(const char *db_path, int64_t *seq, unsigned char chain[32]) {
  char path[PATH_MAX + 16];
  unsigned char head[HEAD_LEN];
  if (sibling_path(db_path, ".audit-head", path, sizeof path) != TE_OK)
    return TE_INTERNAL;
  int rc = read_private_file(path, head, HEAD_LEN);
  if (rc == TE_NOT_FOUND) { /* no audited change committed yet */
    *seq = 0;
    memset(chain, 0, 32);
    return TE_OK;
  }
  if (rc)
    return rc;
  *seq = 0;
  for (int i = 0; i < 8; i++)
    *seq = (*seq << 8) | head[i];
  memcpy(chain, head + 8, 32);
  return TE_OK;
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
  unsigned char key[AUDIT_KEY_LEN], head_chain[32], at_head[32];
  char key_file[PATH_MAX + 16];
  int64_t head_seq;
  int rc = sibling_path(path, ".audit-key", key_file, sizeof key_file);
  if (rc == TE_OK && (rc = read_private_file(key_file, key, AUDIT_KEY_LEN)) != TE_OK)
    fprintf(stderr, "tessera: cannot read the audit key %s\n", key_file);
  if (rc == TE_OK)
    rc = check_key_matches(db, key_file, key);
  if (rc == TE_OK)
    rc = read_head(path, &head_seq, head_chain);
  /* One read transaction, so that records committed meanwhile do not confuse the walk. */
  if (rc == TE_OK && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
    rc = TE_INTERNAL;
  if (rc == TE_OK)
    rc = verify_chain(db, key, head_seq, at_head, count, report, report_size);
  if (rc == TE_OK && head_seq > *count) {
    snprintf(report, report_size,
             "the log ends at record %lld but had reached record %lld: records removed from the "
             "end",
             (long long)*count, (long long)head_seq);
    rc = TE_CONFLICT;
  } else if (rc == TE_OK && head_seq > 0 && CRYPTO_memcmp(at_head, head_chain, 32) != 0) {
    snprintf(report, report_size,
             "audit record %lld differs from the one the head file recorded: the log was "
             "rewritten",
             (long long)head_seq);
    rc = TE_CONFLICT;
  }
  sqlite3_close(db);
  OPENSSL_cleanse(key, sizeof key);
  return rc;
}

static void read_listed(sqlite3_stmt *st, void *item) {
  struct store_audit_record *r = item;
  struct store_audit *a = &r->audit;
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
