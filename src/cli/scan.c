/* tessera scan [PATH…]: finds Tessera token values in files and git history, for people, for
 * pre-commit hooks and for CI (docs/CLI.md). */

#include "cli/scan.h"

#include "cli/cli.h"
#include "cli/client.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char scan_usage[] =
    "usage: tessera scan [PATH...] [--no-history | --staged] [--report URL] [--json]\n"
    "Finds Tessera token values (pul-..., checksum-valid) in files and directories (default .)\n"
    "and, for a PATH in a git work tree, in every version of its files reachable from any ref.\n"
    "Prints PATH:LINE (COMMIT:PATH:LINE for history) and the value's first 8 characters only.\n"
    "  --no-history  the files as they are, not their history\n"
    "  --staged      only what the index would commit (a pre-commit hook)\n"
    "  --report URL  send the values found to the Tessera at URL, which revokes live ones\n"
    "  --json        {\"findings\": [{source, path, line, commit, token_hint, result}], "
    "\"errors\": N}\n"
    "Exit status: 0 nothing found, 1 values found or something not scanned or reported, 2 usage.\n";

struct scan_args {
  bool no_history, staged, json;
  const char *report;
};

static int usage(const char *problem) {
  return cli_usage(scan_usage, problem);
}

/* A Tessera's base URL, as `tessera login URL` takes it: http or https, no blanks or control
 * characters, short enough to be sent. */
static bool report_url_is_valid(const char *url) {
  if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
    return false;
  if (strlen(url) > CLI_URL_MAX - sizeof "/api/tokens/leaks")
    return false;
  for (const unsigned char *p = (const unsigned char *)url; *p; p++)
    if (*p <= ' ' || *p == 0x7f)
      return false;
  return true;
}

/* Options; returns -1 to go on, else an exit status. */
static int parse(int argc, char **argv, struct scan_args *a) {
  static const struct option options[] = {
      {"no-history", no_argument, NULL, 'n'},   {"staged", no_argument, NULL, 's'},
      {"report", required_argument, NULL, 'r'}, {"json", no_argument, NULL, 'j'},
      {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
  *a = (struct scan_args){0};
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
    switch (c) {
    case 'n':
      a->no_history = true;
      break;
    case 's':
      a->staged = true;
      break;
    case 'r':
      a->report = optarg;
      break;
    case 'j':
      a->json = true;
      break;
    case 'h':
      return usage(NULL);
    default:
      return usage("unknown or incomplete option");
    }
  }
  if (a->report && !report_url_is_valid(a->report))
    return usage("--report takes a Tessera's http:// or https:// URL");
  return -1;
}

/* The work trees whose history is scanned, each (top, prefix) once. */
struct repos {
  struct scan_repo *items;
  size_t count;
};

static void add_repo(struct repos *r, const struct scan_repo *repo) {
  for (size_t i = 0; i < r->count; i++)
    if (!strcmp(r->items[i].top, repo->top) && !strcmp(r->items[i].prefix, repo->prefix))
      return;
  r->items = realloc(r->items, (r->count + 1) * sizeof *r->items);
  if (!r->items)
    abort();
  r->items[r->count++] = *repo;
}

static int scan_staged(struct scan_run *run, char **paths, int n) {
  for (int i = 0; i < n; i++) {
    struct scan_repo repo;
    enum scan_repo_kind kind = scan_git_repo(paths[i], &repo);
    if (kind == SCAN_REPO_UNREADABLE) {
      scan_error(run, paths[i], "git could not read its work tree");
      continue;
    }
    if (kind == SCAN_REPO_NONE) {
      char safe[4 * SCAN_PATH_MAX + 1], problem[sizeof safe + 64];
      snprintf(problem, sizeof problem, "--staged: %s is not in a git work tree",
               cli_safe(paths[i], safe, sizeof safe));
      return usage(problem);
    }
    scan_git_staged(run, &repo);
  }
  return -1;
}

static void scan_paths(struct scan_run *run, char **paths, int n, bool history) {
  struct repos repos = {0};
  for (int i = 0; i < n; i++) {
    scan_tree(run, paths[i]);
    struct scan_repo repo;
    enum scan_repo_kind kind = history ? scan_git_repo(paths[i], &repo) : SCAN_REPO_NONE;
    if (kind == SCAN_REPO_FOUND)
      add_repo(&repos, &repo);
    else if (kind == SCAN_REPO_UNREADABLE)
      scan_error(run, paths[i], "git could not read its history");
  }
  for (size_t i = 0; i < repos.count; i++)
    scan_git_history(run, &repos.items[i]);
  free(repos.items);
}

static const char *const source_names[] = {"file", "history", "staged"};

static json_t *text_or_escaped(const char *text) {
  json_t *j = json_string(text);
  if (!j) { /* a file name that is not UTF-8: JSON cannot carry it as it is */
    char safe[4 * SCAN_PATH_MAX + 1];
    j = json_string(cli_safe(text, safe, sizeof safe));
  }
  return j;
}

static void print_json(const struct scan_run *run) {
  json_t *list = json_array();
  for (size_t i = 0; i < run->count; i++) {
    const struct scan_finding *f = &run->findings[i];
    char hint[SCAN_HINT_LEN + 4];
    json_t *item = json_pack("{s:s, s:o, s:I, s:s}", "source", source_names[f->source], "path",
                             text_or_escaped(f->path), "line", (json_int_t)f->line, "token_hint",
                             scan_hint(f->value, hint));
    if (f->source == SCAN_HISTORY)
      json_object_set_new(item, "commit", json_string(f->commit));
    if (f->result)
      json_object_set_new(item, "result", json_string(f->result));
    json_array_append_new(list, item);
  }
  json_t *out = json_pack("{s:o, s:I}", "findings", list, "errors", (json_int_t)run->errors);
  cli_print_json(out);
  json_decref(out);
}

static void print_text(const struct scan_run *run) {
  for (size_t i = 0; i < run->count; i++) {
    char hint[SCAN_HINT_LEN + 4], where[8 * SCAN_PATH_MAX];
    printf("%s: %s\n", scan_where(&run->findings[i], where, sizeof where),
           scan_hint(run->findings[i].value, hint));
  }
}

int cli_scan(int argc, char **argv) {
  struct scan_args a;
  int rc = parse(argc, argv, &a);
  if (rc >= 0)
    return rc;
  /* git may exit before reading all we send it: that is an error to report, not a signal. */
  signal(SIGPIPE, SIG_IGN);
  static char dot[] = ".";
  char *here[] = {dot};
  char **paths = optind < argc ? argv + optind : here;
  int n = optind < argc ? argc - optind : 1;
  struct scan_run run = {0};
  if (a.staged) {
    if ((rc = scan_staged(&run, paths, n)) >= 0) {
      scan_run_free(&run);
      return rc;
    }
  } else {
    scan_paths(&run, paths, n, !a.no_history);
  }
  if (!a.json)
    print_text(&run);
  if (a.report && run.count)
    scan_report(&run, a.report, a.json);
  if (a.json)
    print_json(&run);
  rc = run.count || run.errors ? CLI_EXIT_ERROR : 0;
  scan_run_free(&run);
  return rc;
}
