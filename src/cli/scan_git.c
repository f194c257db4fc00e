/* tessera scan's git side: which work tree a path is in, the blobs of its history, the staged
 * content of its index. git runs without a shell (posix_spawnp, an argv), as `git -C TOP …`;
 * only plumbing output is parsed (-z, full object ids), which no configuration changes. */

#define _GNU_SOURCE /* pipe2, getdelim */

#include "cli/scan.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* (blob, path) pairs of one history that are scanned at most; a larger history is a monorepo
 * that wants a dedicated tool, and the memory they take must stay bounded. */
#define HISTORY_PAIRS_MAX 4000000

/* The environment git runs in: ours, but that it may not fetch. A partial clone fetches a missing
 * object from its promisor remote on demand, and that fetch runs what the repository's own
 * configuration names (remote.*.uploadpack, core.sshCommand, an ext:: URL): an empty
 * GIT_ALLOW_PROTOCOL allows no transport at all, and GIT_NO_LAZY_FETCH (git 2.44 on) turns the
 * fetch off itself. A missing object is then the error it should be. */
static char **git_env;

static void build_git_env(void) {
  size_t n = 0;
  while (environ[n])
    n++;
  if (!(git_env = calloc(n + 3, sizeof *git_env)))
    abort();
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], "GIT_ALLOW_PROTOCOL=", 19) != 0 &&
        strncmp(environ[i], "GIT_NO_LAZY_FETCH=", 18) != 0)
      git_env[k++] = environ[i];
  git_env[k++] = "GIT_ALLOW_PROTOCOL=";
  git_env[k++] = "GIT_NO_LAZY_FETCH=1";
  git_env[k] = NULL;
}

/* Starts git -C dir args…, its stdin from in_fd (-1: /dev/null), its stdout into a pipe whose
 * read end is *out_fd (NULL: to /dev/null), its stderr ours or (quiet) /dev/null. Returns the
 * pid, or -1 when git cannot be started. */
static pid_t spawn_git(const char *dir, const char *const *args, int in_fd, int *out_fd,
                       bool quiet) {
  /* A repository's own configuration can name programs for git to run (core.fsmonitor on reading
   * the index): a scan of someone else's checkout must not run them. */
  const char *argv[16] = {"git", "-c", "core.fsmonitor=false", "-C", dir};
  size_t argc = 5;
  for (size_t i = 0; args[i] && argc < sizeof argv / sizeof argv[0] - 1; i++)
    argv[argc++] = args[i];
  argv[argc] = NULL;
  int out[2] = {-1, -1};
  if (out_fd && pipe2(out, O_CLOEXEC) != 0)
    return -1;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (in_fd >= 0)
    posix_spawn_file_actions_adddup2(&actions, in_fd, STDIN_FILENO);
  else
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  if (out_fd)
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  else
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  if (quiet)
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  if (!git_env)
    build_git_env(); /* scan is single-threaded */
  int rc = posix_spawnp(&pid, "git", &actions, NULL, (char *const *)argv, git_env);
  posix_spawn_file_actions_destroy(&actions);
  if (out_fd) {
    close(out[1]);
    if (rc != 0)
      close(out[0]);
    else
      *out_fd = out[0];
  }
  return rc == 0 ? pid : -1;
}

/* Waits for git; true when it exited 0. */
static bool git_ok(pid_t pid) {
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* One line of out (without its newline) into buf, or false. */
static bool read_line(FILE *out, char *buf, size_t size) {
  if (!fgets(buf, (int)size, out))
    return false;
  size_t n = strcspn(buf, "\n");
  if (buf[n] != '\n' && !feof(out))
    return false; /* longer than the buffer */
  buf[n] = '\0';
  return true;
}

/* The absolute form of path, or of its parent and its last name when it no longer exists (a
 * deleted file or directory can still be in history); *dir says whether it is a directory. */
static char *absolute(const char *path, bool *dir) {
  struct stat st;
  char *abs = realpath(path, NULL);
  if (abs) {
    *dir = stat(abs, &st) == 0 && S_ISDIR(st.st_mode);
    return abs;
  }
  char *copy = strdup(path), *name = strdup(path);
  if (!copy || !name)
    abort();
  char *parent = realpath(dirname(copy), NULL);
  const char *base = basename(name);
  size_t size = parent ? strlen(parent) + strlen(base) + 2 : 0;
  if (parent && strcmp(base, ".") && strcmp(base, "..") && strcmp(base, "/")) {
    abs = malloc(size);
    if (!abs)
      abort();
    snprintf(abs, size, "%s/%s", strcmp(parent, "/") ? parent : "", base);
  }
  *dir = false;
  free(parent);
  free(copy);
  free(name);
  return abs;
}

/* Whether dir or a directory above it has a .git: a work tree git should read. */
static bool git_above(const char *dir) {
  char *p = strdup(dir);
  if (!p)
    abort();
  bool found = false;
  for (;;) {
    char probe[SCAN_PATH_MAX + 8];
    struct stat st;
    snprintf(probe, sizeof probe, "%s/.git", strcmp(p, "/") ? p : "");
    if ((found = lstat(probe, &st) == 0) || strcmp(p, "/") == 0)
      break;
    char *slash = strrchr(p, '/');
    if (slash == p)
      slash[1] = '\0';
    else
      *slash = '\0';
  }
  free(p);
  return found;
}

/* git's own word on why it would not read the work tree at dir, on stderr. */
static void say_why(const char *dir) {
  static const char *const args[] = {"rev-parse", "--show-toplevel", NULL};
  pid_t pid = spawn_git(dir, args, -1, NULL, false);
  if (pid > 0)
    git_ok(pid);
}

enum scan_repo_kind scan_git_repo(const char *path, struct scan_repo *out) {
  bool dir;
  char *abs = absolute(path, &dir);
  if (!abs)
    return SCAN_REPO_NONE;
  char *copy = strdup(abs);
  if (!copy)
    abort();
  const char *where = dir ? abs : dirname(copy);
  static const char *const args[] = {"rev-parse", "--show-toplevel", "--show-prefix", NULL};
  int fd;
  pid_t pid = spawn_git(where, args, -1, &fd, true);
  bool ok = false;
  if (pid > 0) {
    FILE *f = fdopen(fd, "r");
    if (!f)
      abort();
    char prefix[SCAN_PATH_MAX] = "";
    size_t top_len;
    ok = read_line(f, out->top, sizeof out->top) && read_line(f, prefix, sizeof prefix) &&
         out->top[0] == '/';
    /* The top is where the path is (a newline in a directory's name would cut it short and name
     * another directory). */
    top_len = ok ? strlen(out->top) : 0;
    ok = ok && strncmp(abs, out->top, top_len) == 0 &&
         (abs[top_len] == '/' || abs[top_len] == '\0' || strcmp(out->top, "/") == 0);
    fclose(f);
    ok = git_ok(pid) && ok;
    size_t n = strlen(prefix);
    if (ok && n && prefix[n - 1] == '/')
      prefix[--n] = '\0'; /* "dir/": the place, which under() takes without its slash */
    if (ok && dir)
      snprintf(out->prefix, sizeof out->prefix, "%s", prefix);
    else if (ok)
      ok = (size_t)snprintf(out->prefix, sizeof out->prefix, "%s%s%s", prefix, n ? "/" : "",
                            strrchr(abs, '/') + 1) < sizeof out->prefix;
  }
  enum scan_repo_kind kind = ok ? SCAN_REPO_FOUND : SCAN_REPO_NONE;
  if (!ok && git_above(where)) {
    say_why(where);
    kind = SCAN_REPO_UNREADABLE;
  }
  free(copy);
  free(abs);
  return kind;
}

/* Whether a path of the work tree is at or below prefix, the place the scan looks at. */
static bool under(const char *path, const char *prefix) {
  size_t n = strlen(prefix);
  return n == 0 || (strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/'));
}

/* git cat-file --batch: the content of one object after another, asked for on its stdin. */
struct blobs {
  pid_t pid;
  FILE *in, *out;
};

static bool blobs_open(struct blobs *b, const char *top) {
  static const char *const args[] = {"cat-file", "--batch", NULL};
  int in[2];
  if (pipe2(in, O_CLOEXEC) != 0)
    return false;
  int out;
  b->pid = spawn_git(top, args, in[0], &out, false);
  close(in[0]);
  if (b->pid < 0) {
    close(in[1]);
    return false;
  }
  b->in = fdopen(in[1], "w");
  b->out = fdopen(out, "r");
  if (!b->in || !b->out)
    abort();
  return true;
}

static bool blobs_close(struct blobs *b) {
  fclose(b->in);
  fclose(b->out);
  return git_ok(b->pid);
}

enum blob_read { BLOB_OK, BLOB_TOO_BIG, BLOB_MISSING, BLOB_BROKEN };

/* The content of blob id, malloc'd into *data (NUL-terminated, *len bytes). */
static enum blob_read blob_read(struct blobs *b, const char *id, char **data, size_t *len) {
  char head[2 * SCAN_ID_MAX + 64], type[16];
  size_t size;
  if (fprintf(b->in, "%s\n", id) < 0 || fflush(b->in) != 0 || !read_line(b->out, head, sizeof head))
    return BLOB_BROKEN;
  if (sscanf(head, "%*s %15s %zu", type, &size) != 2)
    return strstr(head, " missing") ? BLOB_MISSING : BLOB_BROKEN; /* a shallow or partial clone */
  if (size > SCAN_FILE_MAX) {
    for (size_t left = size + 1; left > 0; left--)
      if (getc(b->out) == EOF)
        return BLOB_BROKEN;
    return BLOB_TOO_BIG;
  }
  char *buf = malloc(size + 1);
  if (!buf)
    abort();
  if (fread(buf, 1, size, b->out) != size || getc(b->out) != '\n') {
    free(buf);
    return BLOB_BROKEN;
  }
  buf[size] = '\0';
  *data = buf;
  *len = size;
  return BLOB_OK;
}

/* Scans one blob; false when cat-file broke down. */
static bool scan_blob(struct scan_run *run, struct blobs *b, const char *id,
                      const struct scan_origin *o) {
  char *data;
  size_t len;
  char where[SCAN_PATH_MAX + SCAN_ID_MAX + 2];
  snprintf(where, sizeof where, "%.12s%s%s", o->commit ? o->commit : "", o->commit ? ":" : "",
           o->path);
  switch (blob_read(b, id, &data, &len)) {
  case BLOB_OK:
    scan_buffer(run, o, data, len);
    free(data);
    return true;
  case BLOB_TOO_BIG:
    scan_note(where, "skipped: larger than 64 MiB");
    return true;
  case BLOB_MISSING:
    scan_error(run, where, "skipped: the object is not in this clone");
    return true;
  case BLOB_BROKEN:
    break;
  }
  scan_error(run, o->repo, "git cat-file --batch stopped answering");
  return false;
}

/* One ":srcmode dstmode srcid dstid status" field of raw diff output: the blob a file has after
 * the change, or false when the change leaves no regular file to scan (a deletion, a submodule,
 * a symbolic link, an intent-to-add entry). */
static bool changed_blob(const char *field, char id[SCAN_ID_MAX + 1], bool *valid) {
  char mode[8];
  char status;
  *valid = sscanf(field, ":%*6s %7s %*64s %64s %c", mode, id, &status) == 3;
  return *valid && status != 'D' && (!strcmp(mode, "100644") || !strcmp(mode, "100755")) &&
         strspn(id, "0") != strlen(id);
}

static bool is_object_id(const char *s) {
  size_t n = strspn(s, "0123456789abcdef");
  return s[n] == '\0' && (n == 40 || n == 64);
}

/* Reads raw diff output (-z) from out, scanning each new (blob, path) under r->prefix. history:
 * the output of diff-tree --stdin, a commit id before each commit's changes. */
static void scan_raw_diff(struct scan_run *run, const struct scan_repo *r, FILE *out,
                          bool history) {
  struct blobs b;
  if (!blobs_open(&b, r->top)) {
    scan_error(run, r->top, "cannot run git cat-file");
    return;
  }
  json_t *scanned = json_object(); /* (blob, path) pairs seen: a set */
  char commit[SCAN_ID_MAX + 1] = "", id[SCAN_ID_MAX + 1];
  char *field = NULL, *path = NULL, *abs = malloc(2 * SCAN_PATH_MAX);
  size_t field_cap = 0, path_cap = 0;
  if (!abs)
    abort();
  bool ok = true, valid;
  while (ok && getdelim(&field, &field_cap, '\0', out) > 0) {
    if (history && is_object_id(field)) {
      snprintf(commit, sizeof commit, "%s", field);
      continue;
    }
    bool wanted = changed_blob(field, id, &valid);
    if (!valid || getdelim(&path, &path_cap, '\0', out) <= 0) {
      scan_error(run, r->top, "git's raw diff output could not be read");
      break;
    }
    if (!wanted || !under(path, r->prefix))
      continue;
    if (strlen(path) >= SCAN_PATH_MAX) {
      scan_error(run, path, "skipped: its path is longer than 4096 bytes");
      continue;
    }
    char key[SCAN_ID_MAX + SCAN_PATH_MAX + 2];
    int n = snprintf(key, sizeof key, "%s:%s", id, path);
    if (json_object_getn(scanned, key, (size_t)n))
      continue;
    if (json_object_size(scanned) >= HISTORY_PAIRS_MAX) {
      scan_error(run, r->top, "stopped: more than 4,000,000 (file, version) pairs in history");
      break;
    }
    json_object_setn_new_nocheck(scanned, key, (size_t)n, json_true());
    snprintf(abs, 2 * SCAN_PATH_MAX, "%s/%s", r->top, path);
    struct scan_origin o = {.source = history ? SCAN_HISTORY : SCAN_STAGED,
                            .commit = history ? commit : NULL,
                            .path = path,
                            .repo = r->top,
                            .url_path = history ? path : abs};
    ok = scan_blob(run, &b, id, &o);
  }
  free(field);
  free(path);
  free(abs);
  json_decref(scanned);
  if (!blobs_close(&b) && ok)
    scan_error(run, r->top, "git cat-file failed");
}

/* scan_raw_diff on the read end of a pipe from git, which is closed after (a git that is still
 * writing then ends with SIGPIPE); returns whether that added no error. */
static bool scan_changes(struct scan_run *run, const struct scan_repo *r, int fd, bool history) {
  FILE *out = fdopen(fd, "r");
  if (!out)
    abort();
  unsigned before = run->errors;
  scan_raw_diff(run, r, out, history);
  fclose(out);
  return run->errors == before;
}

void scan_git_history(struct scan_run *run, const struct scan_repo *r) {
  /* Oldest first, parents before children: the first commit that shows a value at a path is the
   * one that brought it there. -m: a merge's own changes (a conflict's resolution) too. */
  static const char *const list[] = {"rev-list", "--all", "--reverse", "--topo-order", NULL};
  static const char *const diff[] = {"diff-tree", "--stdin",      "-r",          "-m", "--root",
                                     "-z",        "--no-renames", "--no-abbrev", NULL};
  int commits, changes;
  pid_t lister = spawn_git(r->top, list, -1, &commits, false);
  if (lister < 0) {
    scan_error(run, r->top, "cannot run git rev-list");
    return;
  }
  pid_t differ = spawn_git(r->top, diff, commits, &changes, false);
  close(commits);
  if (differ < 0) {
    scan_error(run, r->top, "cannot run git diff-tree");
    git_ok(lister);
    return;
  }
  bool clean = scan_changes(run, r, changes, true);
  bool listed = git_ok(lister), diffed = git_ok(differ);
  if (clean && (!listed || !diffed))
    scan_error(run, r->top, listed ? "git diff-tree failed" : "git rev-list --all failed");
}

void scan_git_staged(struct scan_run *run, const struct scan_repo *r) {
  /* Against HEAD, or against nothing on a branch with no commit yet; GIT_INDEX_FILE, which git
   * sets for `git commit -a` and `git commit PATH`, is honoured (the environment is git's). */
  static const char *const diff[] = {"diff",         "--cached",    "--raw",         "-z",
                                     "--no-renames", "--no-abbrev", "--no-ext-diff", NULL};
  int changes;
  pid_t differ = spawn_git(r->top, diff, -1, &changes, false);
  if (differ < 0) {
    scan_error(run, r->top, "cannot run git diff --cached");
    return;
  }
  bool clean = scan_changes(run, r, changes, false);
  if (!git_ok(differ) && clean)
    scan_error(run, r->top, "git diff --cached failed");
}
