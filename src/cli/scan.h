#ifndef TESSERA_CLI_SCAN_H
#define TESSERA_CLI_SCAN_H

/* The parts of `tessera scan` (docs/CLI.md): scan.c the command, scan_findings.c what was found,
 * scan_tree.c the files, scan_git.c the history and the index, scan_report.c --report. */

#include "core/token.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define SCAN_FILE_MAX (64 * 1024 * 1024) /* bytes of a file or blob; larger ones are skipped */
#define SCAN_PATH_MAX 4096               /* bytes of a path; longer ones are not scanned */
#define SCAN_HINT_LEN 8                  /* "pul-" and 4 hex digits: all that is ever printed */
#define SCAN_ID_MAX 64                   /* hex digits of a git object id (SHA-256 repositories) */

enum scan_source { SCAN_FILE, SCAN_HISTORY, SCAN_STAGED };

struct scan_finding {
  enum scan_source source;
  char value[TOKEN_VALUE_LEN + 1];
  char commit[SCAN_ID_MAX + 1]; /* SCAN_HISTORY: the commit that brought the value to path */
  char *path;                   /* as shown: from PATH for files, from the work tree's top else */
  char *url;                    /* where it was found, for --report (file:///…:N, git:…:N) */
  size_t line;
  const char *result; /* with --report: "revoked" or "unknown" once the server answered */
};

struct scan_run {
  struct scan_finding *findings;
  size_t count, cap;
  json_t *seen;    /* keys of what was already found (an object used as a set) */
  unsigned errors; /* what could not be scanned or reported: the scan is then not clean */
};

/* Where a buffer comes from. */
struct scan_origin {
  enum scan_source source;
  const char *commit;   /* SCAN_HISTORY */
  const char *path;     /* shown */
  const char *repo;     /* SCAN_HISTORY and SCAN_STAGED: the work tree's top */
  const char *url_path; /* the absolute path (files, the index) or the path in the commit */
};

/* Adds the values in data[0..len) to the run; a value found again where it was already found
 * (the same file and line, or the same path in a repository's history) is not added again. */
void scan_buffer(struct scan_run *run, const struct scan_origin *o, const char *data, size_t len);

/* Says on stderr that what could not be scanned, and why; the run is then not clean. */
void scan_error(struct scan_run *run, const char *what, const char *why);

/* Says on stderr that what was passed over, and why (not an error: a deliberate bound). */
void scan_note(const char *what, const char *why);

/* Frees the findings and wipes their values. */
void scan_run_free(struct scan_run *run);

/* Scans the file or directory at path (recursively; symbolic links inside are not followed,
 * .git is skipped). */
void scan_tree(struct scan_run *run, const char *path);

/* The git work tree that path is in: its top, and path's place in it. */
struct scan_repo {
  char top[SCAN_PATH_MAX];
  char prefix[SCAN_PATH_MAX]; /* "" for the top, else "dir" or "dir/file", without a slash */
};

/* Whether path is in a git work tree: FOUND (out set); NONE, no .git at or above it; UNREADABLE,
 * there is one but git would not say what it is (git missing, a repository git does not trust:
 * safe.directory), its own message on stderr. A path that does not exist is taken as a place in
 * its parent's work tree: its history may hold it. */
enum scan_repo_kind { SCAN_REPO_NONE, SCAN_REPO_FOUND, SCAN_REPO_UNREADABLE };
enum scan_repo_kind scan_git_repo(const char *path, struct scan_repo *out);

/* Every blob reachable from any ref whose path is under r->prefix, each (blob, path) once, oldest
 * commit first: a value is reported once per path, at the first commit that had it there. */
void scan_git_history(struct scan_run *run, const struct scan_repo *r);

/* The staged content of every file that the index adds or changes under r->prefix. */
void scan_git_staged(struct scan_run *run, const struct scan_repo *r);

/* Posts each value found (once) to base_url + /api/tokens/leaks, in batches of at most 100, and
 * sets each finding's result; prints a line a value and a count unless quiet. Returns 0, or 1
 * when the report could not be made whole (the reason on stderr). */
int scan_report(struct scan_run *run, const char *base_url, bool quiet);

/* The value's SHA-256 in hex: what stands for it in sets, and what --report's server answers. */
void scan_digest(const char *value, char out[2 * TOKEN_HASH_LEN + 1]);

/* The value shortened for people: its first SCAN_HINT_LEN characters and "…". */
const char *scan_hint(const char *value, char out[SCAN_HINT_LEN + 4]);

/* Where a finding is, for people: "path:line" or "commit12:path:line", escaped for a terminal. */
const char *scan_where(const struct scan_finding *f, char *out, size_t size);

#endif
