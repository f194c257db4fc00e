#ifndef TESSERA_HTTP_ACCESSLOG_H
#define TESSERA_HTTP_ACCESSLOG_H

#include <stddef.h>
#include <stdint.h>

/* The access log: one JSON object per request, one per line. Lines are batched per thread and
 * written at most a second after they happen (and at once on accesslog_stop), so logging costs no
 * system call per request. Paths are percent-encoded, so every line is valid JSON whatever bytes
 * a client sent; query strings are never logged. */

struct access_entry {
  const char *request_id;
  const char *method;
  const char *path;
  int status;
  int64_t duration_us;
  const char *user; /* NULL when the request was not authenticated */
};

/* Starts logging to fd (not closed by accesslog_stop). */
void accesslog_start(int fd);
void accesslog_write(const struct access_entry *entry);
/* Writes every pending line and stops the flusher. */
void accesslog_stop(void);

/* Exposed for tests: writes `text` into out (size bytes) percent-encoding every byte that is not
 * printable ASCII, or is '"', '\\' or '%'. Truncates at a whole escape. Returns out. */
char *accesslog_escape(const char *text, char *out, size_t size);

/* A client-sent path as it may be shown in a log line, an error message or an audit record:
 * token-shaped runs redacted (core/token.h), then percent-encoded as above. Returns out. */
char *accesslog_show_path(const char *path, char *out, size_t size);

#endif
