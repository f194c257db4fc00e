#include "http/accesslog.h"

#include "core/ticker.h"
#include "core/token.h"
#include "core/timeutil.h"
#include "http/router.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUFFER_SIZE (32 * 1024)
#define LINE_MAX_BYTES 1024 /* paths longer than fit are truncated in the log */
#define FLUSH_MS 1000

/* One per thread that logs; linked so that the flusher can reach idle ones. */
struct buffer {
  pthread_mutex_t lock; /* taken by its own thread per line, by the flusher once a second */
  size_t len;
  int64_t oldest_ms;
  struct buffer *next;
  char data[BUFFER_SIZE];
};

static int log_fd = -1;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct buffer *buffers;
static struct ticker *flusher;
/* Buffers are freed by accesslog_stop; a thread's pointer from an earlier start is then stale. */
static int epoch;
static __thread struct buffer *mine;
static __thread int mine_epoch;

/* Caller holds b->lock. Lines are only ever written whole, so concurrent writers never split one.
 */
static void write_out(struct buffer *b) {
  size_t done = 0;
  while (done < b->len) {
    ssize_t n = write(log_fd, b->data + done, b->len - done);
    if (n <= 0)
      break; /* a broken log must not take the server down; the lines are dropped */
    done += (size_t)n;
  }
  b->len = 0;
}

static struct buffer *thread_buffer(void) {
  if (!mine || mine_epoch != epoch) {
    mine_epoch = epoch;
    mine = calloc(1, sizeof *mine);
    if (!mine)
      abort();
    pthread_mutex_init(&mine->lock, NULL);
    pthread_mutex_lock(&registry_lock);
    mine->next = buffers;
    buffers = mine;
    pthread_mutex_unlock(&registry_lock);
  }
  return mine;
}

char *accesslog_escape(const char *text, char *out, size_t size) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)text; *p && o + 4 <= size; p++) {
    if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\' || *p == '%') {
      out[o++] = '%';
      out[o++] = hex[*p >> 4];
      out[o++] = hex[*p & 0xf];
    } else {
      out[o++] = (char)*p;
    }
  }
  out[o] = '\0';
  return out;
}

char *accesslog_show_path(const char *path, char *out, size_t size) {
  char redacted[512];
  return accesslog_escape(token_redact(path, redacted, sizeof redacted), out, size);
}

/* The current second as RFC 3339, formatted once per second per thread. */
static const char *current_time(void) {
  static __thread int64_t cached_second = -1;
  static __thread char text[RFC3339_LEN + 1];
  int64_t now = time_coarse_now(); /* the second a line shows */
  if (now != cached_second) {
    time_format_rfc3339(now, text);
    cached_second = now;
  }
  return text;
}

/* Appends to a bounded line; formatting with snprintf cost about 4% of a request's CPU. */
struct line {
  char *p, *end;
  bool overflow;
};

static void put(struct line *l, const char *text) {
  size_t n = strlen(text);
  if ((size_t)(l->end - l->p) <= n) {
    l->overflow = true;
    return;
  }
  memcpy(l->p, text, n);
  l->p += n;
}

static void put_int(struct line *l, long long v) {
  char digits[24], *d = digits + sizeof digits;
  unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  *--d = '\0';
  do {
    *--d = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0)
    *--d = '-';
  put(l, d);
}

void accesslog_write(const struct access_entry *e) {
  if (log_fd < 0)
    return;
  char path[512], text[LINE_MAX_BYTES];
  struct line l = {text, text + sizeof text, false};
  put(&l, "{\"time\":\"");
  put(&l, current_time());
  put(&l, "\",\"request_id\":\"");
  put(&l, e->request_id);
  put(&l, "\",\"method\":\"");
  put(&l, router_method_shown(e->method)); /* never what a client made up: it may be a secret */
  put(&l, "\",\"path\":\"");
  put(&l, accesslog_show_path(e->path, path, sizeof path));
  put(&l, "\",\"status\":");
  put_int(&l, e->status);
  put(&l, ",\"duration_us\":");
  put_int(&l, e->duration_us);
  /* The user is a login: letters, digits, '.', '_' and '-' only (core/names.c), so no escaping. */
  put(&l, e->user ? ",\"user\":\"" : ",\"user\":null");
  if (e->user) {
    put(&l, e->user);
    put(&l, "\"");
  }
  put(&l, "}\n");
  if (l.overflow)
    return;
  size_t n = (size_t)(l.p - text);
  struct buffer *b = thread_buffer();
  int64_t now = time_coarse_ms();
  pthread_mutex_lock(&b->lock);
  if (b->len + n > BUFFER_SIZE)
    write_out(b);
  if (b->len == 0)
    b->oldest_ms = now;
  memcpy(b->data + b->len, text, n);
  b->len += n;
  if (now - b->oldest_ms >= FLUSH_MS)
    write_out(b);
  pthread_mutex_unlock(&b->lock);
}

static void flush_all(void) {
  pthread_mutex_lock(&registry_lock);
  for (struct buffer *b = buffers; b; b = b->next) {
    pthread_mutex_lock(&b->lock);
    write_out(b);
    pthread_mutex_unlock(&b->lock);
  }
  pthread_mutex_unlock(&registry_lock);
}

static void flush_tick(void *arg) {
  (void)arg;
  flush_all();
}

void accesslog_start(int fd) {
  log_fd = fd;
  if (ticker_start("accesslog", FLUSH_MS, flush_tick, NULL, &flusher) != 0)
    flusher = NULL; /* lines are then written when a buffer fills, a second passes, or at stop */
}

void accesslog_stop(void) {
  if (flusher)
    ticker_stop(flusher);
  flusher = NULL;
  flush_all();
  log_fd = -1;
  pthread_mutex_lock(&registry_lock);
  while (buffers) { /* the threads that owned them have exited (MHD is stopped) */
    struct buffer *next = buffers->next;
    pthread_mutex_destroy(&buffers->lock);
    free(buffers);
    buffers = next;
  }
  epoch++;
  pthread_mutex_unlock(&registry_lock);
}
