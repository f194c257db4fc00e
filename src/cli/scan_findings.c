/* What tessera scan found: each value once per place, where it is for people and for --report. */

#include "cli/scan.h"

#include "cli/cli.h"
#include "core/limits.h"
#include "core/token_find.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void scan_error(struct scan_run *run, const char *what, const char *why) {
  char safe[4 * SCAN_PATH_MAX + 1];
  fprintf(stderr, "tessera: scan: %s: %s\n", cli_safe(what, safe, sizeof safe), why);
  run->errors++;
}

void scan_note(const char *what, const char *why) {
  char safe[4 * SCAN_PATH_MAX + 1];
  fprintf(stderr, "tessera: scan: %s: %s\n", cli_safe(what, safe, sizeof safe), why);
}

/* A URL's path part: unreserved characters and '/' as they are, every other byte %XX, in at most
 * size - 1 bytes, never cutting an escape in two. */
static void url_encode(const char *path, char *out, size_t size) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
    bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 strchr("-._~/", *p);
    size_t need = plain ? 1 : 3;
    if (n + need >= size)
      break;
    if (plain) {
      out[n++] = (char)*p;
    } else {
      out[n++] = '%';
      out[n++] = hex[*p >> 4];
      out[n++] = hex[*p & 0xf];
    }
  }
  out[n] = '\0';
}

/* file:///abs/path:LINE, or git:COMMIT:path:LINE for history; a long path is cut so that the
 * whole stays within LEAK_URL_MAX bytes (what the endpoint takes) and keeps its line. */
static char *location_url(const struct scan_origin *o, size_t line) {
  char head[SCAN_ID_MAX + 16], tail[32], path[LEAK_URL_MAX + 1];
  if (o->source == SCAN_HISTORY)
    snprintf(head, sizeof head, "git:%s:", o->commit);
  else
    snprintf(head, sizeof head, "file://");
  snprintf(tail, sizeof tail, ":%zu", line);
  url_encode(o->url_path, path, LEAK_URL_MAX + 1 - strlen(head) - strlen(tail));
  size_t size = strlen(head) + strlen(path) + strlen(tail) + 1;
  char *url = malloc(size);
  if (!url)
    abort();
  snprintf(url, size, "%s%s%s", head, path, tail);
  return url;
}

void scan_digest(const char *value, char out[2 * TOKEN_HASH_LEN + 1]) {
  token_hash_hex(value, TOKEN_VALUE_LEN, out);
}

/* True the first time (kind, value, place) is seen in this run. A file's value is one per line;
 * history's and the index's one per path of their work tree, whatever the commit or line. The
 * set holds the value's SHA-256, not the value: no copy of a secret is left that cannot be wiped.
 */
static bool first_time(struct scan_run *run, const struct scan_origin *o, const char *value,
                       size_t line) {
  char digest[2 * TOKEN_HASH_LEN + 1], key[2 * SCAN_PATH_MAX + sizeof digest + 64];
  scan_digest(value, digest);
  int n;
  if (o->source == SCAN_FILE)
    n = snprintf(key, sizeof key, "F%s%zu:%s", digest, line, o->path);
  else
    n = snprintf(key, sizeof key, "%c%s%zu:%s%s", o->source == SCAN_HISTORY ? 'H' : 'S', digest,
                 strlen(o->repo), o->repo, o->path);
  if (n < 0 || (size_t)n >= sizeof key)
    return true; /* cannot happen with paths within SCAN_PATH_MAX: better twice than never */
  if (!run->seen)
    run->seen = json_object();
  if (json_object_getn(run->seen, key, (size_t)n))
    return false;
  json_object_setn_new_nocheck(run->seen, key, (size_t)n, json_true());
  return true;
}

static void add(struct scan_run *run, const struct scan_origin *o, const char *value, size_t line) {
  if (run->count == run->cap) {
    run->cap = run->cap ? 2 * run->cap : 16;
    run->findings = realloc(run->findings, run->cap * sizeof *run->findings);
    if (!run->findings)
      abort();
  }
  struct scan_finding *f = &run->findings[run->count++];
  *f = (struct scan_finding){.source = o->source, .line = line};
  memcpy(f->value, value, TOKEN_VALUE_LEN);
  f->value[TOKEN_VALUE_LEN] = '\0';
  if (o->commit)
    snprintf(f->commit, sizeof f->commit, "%s", o->commit);
  f->path = strdup(o->path);
  if (!f->path)
    abort();
  f->url = location_url(o, line);
}

void scan_buffer(struct scan_run *run, const struct scan_origin *o, const char *data, size_t len) {
  struct token_finder finder;
  token_find_start(&finder, data, len);
  size_t at, line;
  while (token_find_next(&finder, &at, &line))
    if (first_time(run, o, data + at, line))
      add(run, o, data + at, line);
}

void scan_run_free(struct scan_run *run) {
  for (size_t i = 0; i < run->count; i++) {
    OPENSSL_cleanse(run->findings[i].value, sizeof run->findings[i].value);
    free(run->findings[i].path);
    free(run->findings[i].url);
  }
  free(run->findings);
  json_decref(run->seen);
  *run = (struct scan_run){0};
}

const char *scan_hint(const char *value, char out[SCAN_HINT_LEN + 4]) {
  snprintf(out, SCAN_HINT_LEN + 4, "%.*s\xe2\x80\xa6", SCAN_HINT_LEN, value);
  return out;
}

const char *scan_where(const struct scan_finding *f, char *out, size_t size) {
  char path[4 * SCAN_PATH_MAX + 1];
  cli_safe(f->path, path, sizeof path);
  if (f->source == SCAN_HISTORY)
    snprintf(out, size, "%.12s:%s:%zu", f->commit, path, f->line);
  else
    snprintf(out, size, "%s:%zu", path, f->line);
  return out;
}
