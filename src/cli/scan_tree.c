/* tessera scan's files: a file, or a directory and everything below it, in name order. */

#include "cli/scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEPTH_MAX 256 /* directories below PATH; deeper is a loop or an attack, not a project */

/* Reads the regular file at path whole (at most SCAN_FILE_MAX bytes) and scans it. follow: the
 * user named it, so a symbolic link is followed; inside a directory it is not, so that a link
 * cannot lead the scan out of the tree. */
static void scan_file(struct scan_run *run, const char *shown, const char *abs, bool follow) {
  int fd = open(abs, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (follow ? 0 : O_NOFOLLOW));
  if (fd < 0) {
    if (errno != ELOOP) /* a link that took the place of a file meanwhile: passed over */
      scan_error(run, shown, strerror(errno));
    return;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    scan_error(run, shown, strerror(errno));
    close(fd);
    return;
  }
  if (!S_ISREG(st.st_mode)) { /* a FIFO could block for ever, a device never end */
    if (follow)
      scan_note(shown, "skipped: not a regular file");
    close(fd);
    return;
  }
  if (st.st_size > SCAN_FILE_MAX) {
    scan_note(shown, "skipped: larger than 64 MiB");
    close(fd);
    return;
  }
  size_t size = (size_t)st.st_size, len = 0;
  char *data = malloc(size ? size : 1);
  if (!data)
    abort();
  while (len < size) {
    ssize_t n = read(fd, data + len, size - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      scan_error(run, shown, strerror(errno));
      break;
    }
    if (n == 0)
      break; /* shrank while being read: what is there is scanned */
    len += (size_t)n;
  }
  close(fd);
  scan_buffer(run, &(struct scan_origin){.source = SCAN_FILE, .path = shown, .url_path = abs}, data,
              len);
  free(data);
}

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

/* dir/name into out, or false (and an error) when it would be longer than SCAN_PATH_MAX. */
static bool join(struct scan_run *run, const char *dir, const char *name, char *out) {
  size_t d = strlen(dir);
  const char *sep = d == 0 || dir[d - 1] == '/' ? "" : "/";
  int n = snprintf(out, SCAN_PATH_MAX, "%s%s%s", dir, sep, name);
  if (n < 0 || n >= SCAN_PATH_MAX) {
    scan_error(run, dir, "skipped an entry: its path is longer than 4096 bytes");
    return false;
  }
  return true;
}

static void scan_dir(struct scan_run *run, const char *shown, const char *abs, int depth) {
  if (depth > DEPTH_MAX) {
    scan_error(run, shown, "skipped: more than 256 directories deep");
    return;
  }
  struct dirent **entries;
  int n = scandir(abs, &entries, NULL, by_name);
  if (n < 0) {
    scan_error(run, shown[0] ? shown : ".", strerror(errno));
    return;
  }
  char *child_shown = malloc(SCAN_PATH_MAX), *child_abs = malloc(SCAN_PATH_MAX);
  if (!child_shown || !child_abs)
    abort();
  for (int i = 0; i < n; i++) {
    const char *name = entries[i]->d_name;
    /* .git holds the history, which is scanned as history (scan_git.c), not as packed files. */
    bool skip = !strcmp(name, ".") || !strcmp(name, "..") || !strcmp(name, ".git");
    struct stat st;
    if (!skip && join(run, shown, name, child_shown) && join(run, abs, name, child_abs)) {
      if (lstat(child_abs, &st) != 0)
        scan_error(run, child_shown, strerror(errno));
      else if (S_ISDIR(st.st_mode))
        scan_dir(run, child_shown, child_abs, depth + 1);
      else if (S_ISREG(st.st_mode))
        scan_file(run, child_shown, child_abs, false);
      /* symbolic links, sockets, FIFOs and devices are passed over */
    }
    free(entries[i]);
  }
  free(entries);
  free(child_shown);
  free(child_abs);
}

void scan_tree(struct scan_run *run, const char *path) {
  struct stat st;
  if (strlen(path) >= SCAN_PATH_MAX) {
    scan_error(run, path, "its path is longer than 4096 bytes");
    return;
  }
  if (stat(path, &st) != 0) {
    scan_error(run, path, strerror(errno));
    return;
  }
  /* The absolute path is for --report's file:// locations; what is shown stays as given, less
   * a leading "./" (so that `tessera scan` shows "src/a.c", as git does). */
  char *abs = realpath(path, NULL);
  if (!abs) {
    scan_error(run, path, strerror(errno));
    return;
  }
  char shown[SCAN_PATH_MAX];
  snprintf(shown, sizeof shown, "%s", path);
  while (shown[0] == '.' && shown[1] == '/')
    memmove(shown, shown + 2, strlen(shown + 2) + 1);
  if (strcmp(shown, ".") == 0)
    shown[0] = '\0';
  if (S_ISDIR(st.st_mode))
    scan_dir(run, shown, abs, 0);
  else
    scan_file(run, shown[0] ? shown : path, abs, true);
  free(abs);
}
