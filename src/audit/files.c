#include "audit/files.h"

#include "core/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEAD_LEN (8 + AUDIT_CHAIN_LEN) /* seq, big-endian, then its chain value */

int audit_files_paths(const char *db_path, char *key_path, size_t key_size, char *head_path,
                      size_t head_size) {
  char real[PATH_MAX];
  if (!realpath(db_path, real)) {
    fprintf(stderr, "tessera: cannot resolve %s: %s\n", db_path, strerror(errno));
    return TE_INTERNAL;
  }
  return (size_t)snprintf(key_path, key_size, "%s.audit-key", real) < key_size &&
                 (size_t)snprintf(head_path, head_size, "%s.audit-head", real) < head_size
             ? TE_OK
             : TE_INTERNAL;
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

/* Makes the key file with `fresh` (or, when NULL, new random bytes) if it does not exist yet,
 * atomically: the complete key is written to a temporary file first and then linked into place,
 * so nobody ever sees a partial key, and a process that loses the race reads the winner's. */
static int create_or_read_key(const char *path, const unsigned char *fresh,
                              unsigned char key[AUDIT_KEY_LEN]) {
  int rc = read_private_file(path, key, AUDIT_KEY_LEN);
  if (rc != TE_NOT_FOUND)
    return rc;
  char tmp[PATH_MAX + 32];
  if (fresh)
    memcpy(key, fresh, AUDIT_KEY_LEN);
  else if (RAND_bytes(key, AUDIT_KEY_LEN) != 1)
    return TE_INTERNAL;
  if (write_temp(path, key, AUDIT_KEY_LEN, tmp, sizeof tmp) != TE_OK)
    return TE_INTERNAL;
  int linked = link(tmp, path);
  int link_errno = errno;
  unlink(tmp);
  if (linked != 0)
    return link_errno == EEXIST ? read_private_file(path, key, AUDIT_KEY_LEN) : TE_INTERNAL;
  return sync_parent(path);
}

int audit_key_load(const char *key_path, bool create, unsigned char key[AUDIT_KEY_LEN]) {
  return create ? create_or_read_key(key_path, NULL, key)
                : read_private_file(key_path, key, AUDIT_KEY_LEN);
}

int audit_key_install(const char *key_path, const unsigned char key[AUDIT_KEY_LEN]) {
  unsigned char there[AUDIT_KEY_LEN];
  int rc = create_or_read_key(key_path, key, there);
  if (rc == TE_OK && CRYPTO_memcmp(there, key, AUDIT_KEY_LEN) != 0)
    rc = TE_CONFLICT;
  OPENSSL_cleanse(there, sizeof there);
  return rc;
}

int audit_head_read(const char *head_path, int64_t *seq, unsigned char chain[AUDIT_CHAIN_LEN]) {
  unsigned char head[HEAD_LEN];
  *seq = 0;
  memset(chain, 0, AUDIT_CHAIN_LEN);
  int rc = read_private_file(head_path, head, HEAD_LEN);
  if (rc == TE_NOT_FOUND) /* no audited change committed yet */
    return TE_OK;
  if (rc)
    return rc;
  for (int i = 0; i < 8; i++)
    *seq = (*seq << 8) | head[i];
  memcpy(chain, head + 8, AUDIT_CHAIN_LEN);
  return TE_OK;
}

int audit_head_advance(const char *head_path, int64_t seq,
                       const unsigned char chain[AUDIT_CHAIN_LEN]) {
  char tmp[PATH_MAX + 48];
  unsigned char head[HEAD_LEN], current[HEAD_LEN];
  if (read_private_file(head_path, current, HEAD_LEN) == TE_OK) {
    int64_t known = 0;
    for (int i = 0; i < 8; i++)
      known = (known << 8) | current[i];
    if (known >= seq)
      return TE_OK;
  }
  uint64_t v = (uint64_t)seq;
  for (int i = 7; i >= 0; i--, v >>= 8)
    head[i] = (unsigned char)(v & 0xff);
  memcpy(head + 8, chain, AUDIT_CHAIN_LEN);
  if (write_temp(head_path, head, HEAD_LEN, tmp, sizeof tmp) != TE_OK)
    return TE_INTERNAL;
  if (rename(tmp, head_path) != 0) {
    unlink(tmp);
    return TE_INTERNAL;
  }
  return sync_parent(head_path);
}

void audit_files_remove_stale(const char *file) {
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
