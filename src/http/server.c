#include "http/server.h"

#include "core/error.h"
#include "core/limits.h"
#include "core/timeutil.h"
#include "http/accesslog.h"
#include "http/auth.h"
#include "http/conntrack.h"
#include "http/dispatch.h"
#include "http/framing.h"
#include "http/route_metrics.h"
#include "http/router.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* MHD's per-connection buffer, zeroed by MHD for every request (all of it, then half of it), so
 * bigger is slower: 32 KiB cost one-token reads 8 % more CPU a request than 16 KiB (6 paired
 * runs, 7.3 against 6.7 us). But the pool also holds a copy of the Cookie header and a record of
 * each cookie, header field and query parameter, and the reply's head: at 16 KiB a console page
 * requested with 100 cookies in 8 KiB got MHD's HTML 431. At 24 KiB it is served (tests/e2e/
 * limits.test.mjs), as is a 4 KiB URL with 8 KiB of headers; 150 cookies are not (32 KiB took
 * 200). Our own limits (HEADERS_MAX, URL_MAX) answer in JSON up to a head of about 23 KiB. */
#define CONNECTION_MEMORY (24 * 1024)
#define DRAIN_SECONDS 5 /* well inside the usual 10-30 s stop budgets of supervisors */

struct server {
  struct MHD_Daemon *daemon;
  struct conntrack *tracker;
  struct app *app;
  bool access_log;
  bool metrics;
  char id_prefix[9]; /* random per process, so request ids do not repeat across restarts */
  atomic_uint_fast64_t next_id;
  atomic_int in_flight;
};

/* The console's pages (/, /cli-login, /welcome/cli, with any query) and files (/console/...). */
static bool is_console_page(const char *uri) {
  static const char *const pages[] = {"/", "/cli-login", "/welcome/cli"};
  for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
    size_t n = strlen(pages[i]);
    if (strncmp(uri, pages[i], n) == 0 && (uri[n] == '\0' || uri[n] == '?'))
      return true;
  }
  return strncmp(uri, "/console/", 9) == 0;
}

/* A struct request is 3.5 KiB, past glibc's per-thread cache of small chunks (1 KiB): a calloc
 * and free of one per request went through the arena's bins and their consolidation, about 3% of
 * a request's CPU. So each thread keeps the last one it let go for its next request. */
static pthread_key_t spare_key;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;

static void spare_key_create(void) {
  if (pthread_key_create(&spare_key, free) != 0) /* a thread's spare is freed when it exits */
    abort();
}

static struct request *request_new(void) {
  pthread_once(&spare_once, spare_key_create);
  struct request *req = pthread_getspecific(spare_key);
  if (!req) {
    if (!(req = calloc(1, sizeof *req)))
      abort();
    return req;
  }
  pthread_setspecific(spare_key, NULL);
  memset(req, 0, sizeof *req);
  return req;
}

/* MHD's URI callback: runs as soon as the request line is in, with the URI as sent (query string
 * and percent-escapes included), and what it returns becomes the request's context. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
  struct server *s = cls;
  struct request *req = request_new();
  req->app = s->app;
  req->conn = conn;
  conntrack_request_line(conn);
  framing_scan_uri((char *)uri, &req->uri); /* MHD's own buffer, see framing.h */
  /* The console's answers, errors and early refusals included, carry its security headers. */
  req->console_page = is_console_page(uri);
  req->started_us = time_monotonic_us();
  /* prefix + 16 hex digits of a counter; hand-formatted because this runs for every request */
  static const char hex[] = "0123456789abcdef";
  uint64_t n = atomic_fetch_add(&s->next_id, 1);
  memcpy(req->id, s->id_prefix, 8);
  for (int i = 23; i >= 8; i--, n >>= 4)
    req->id[i] = hex[n & 0xf];
  req->id[REQUEST_ID_LEN] = '\0';
  atomic_fetch_add(&s->in_flight, 1);
  return req;
}

static void request_free(struct request *req) {
  free(req->path);
  free(req->body);
  request_reply_clear(req);
  for (int i = 0; i < ROUTE_PARAMS_MAX; i++)
    free(req->params[i]);
  /* Every request came from request_new, so the key exists. */
  if (!pthread_getspecific(spare_key) && pthread_setspecific(spare_key, req) == 0)
    return;
  free(req);
}

/* v in decimal, in out (24 bytes at least); snprintf cost about 1% of a request's CPU here. */
static const char *decimal(int64_t v, char *out) {
  char *d = out + 23;
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  *d = '\0';
  do {
    *--d = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0)
    *--d = '-';
  return d;
}

static void add_header(struct MHD_Response *r, const char *name, const char *value) {
  if (MHD_add_response_header(r, name, value) != MHD_YES)
    abort();
}

/* Counts a request in the metrics, once: when its reply is queued, before a byte of it is sent,
 * so that whoever has read a reply and then scrapes finds it counted; or, for one that ended
 * without a reply (a timeout, a client gone), when it ends, with the status the access log gives
 * it (408, 499). Its duration is the time until then. */
static void count_request(struct server *s, struct request *req, int status) {
  if (!s->metrics || req->counted)
    return;
  req->counted = true;
  route_metrics_count(req->route, req->method, status, time_monotonic_us() - req->started_us);
  metrics_auth_check(req->auth_result);
}

static enum MHD_Result send_reply(struct server *s, struct request *req) {
  count_request(s, req, req->status);
  struct MHD_Response *r =
      req->reply_release
          ? MHD_create_response_from_buffer_with_free_callback_cls(
                req->reply_len, req->reply_body, req->reply_release, req->reply_release_arg)
          : MHD_create_response_from_buffer(req->reply_len, req->reply_body, MHD_RESPMEM_MUST_FREE);
  if (!r)
    return MHD_NO;
  req->reply_body = NULL; /* MHD owns it now, or our reference to a shared one */
  req->reply_release = NULL;
  add_header(r, "X-Pulumi-Request-ID", req->id);
  add_header(r, "Cache-Control", "no-store"); /* token values must not linger in caches */
  add_header(r, "X-Content-Type-Options", "nosniff");
  if (req->reply_len)
    add_header(r, "Content-Type", req->content_type ? req->content_type : "application/json");
  if (req->content_encoding)
    add_header(r, "Content-Encoding", req->content_encoding);
  if (req->continuation[0])
    add_header(r, "X-Continuation-Token", req->continuation);
  if (req->warning[0])
    add_header(r, "X-Pulumi-Warning", req->warning);
  if (req->authenticated) {
    /* Lets clients (tessera whoami -v) tell when the token they use expires; 0 = never. */
    char expires[24];
    add_header(r, "X-Tessera-Token-Expires", decimal(req->principal.token.expires, expires));
  }
  if (req->identity_headers) {
    /* What a proxy passes to the service behind it (docs/PROTECTING-SERVICES.md). Every value is
     * a checked name or id: no CR, LF or anything else a header may not hold. */
    add_header(r, "X-Tessera-Login", req->principal.user.login);
    if (req->identity_org[0]) /* absent rather than empty: MHD takes no empty value */
      add_header(r, "X-Tessera-Org", req->identity_org);
    if (req->identity_team[0])
      add_header(r, "X-Tessera-Team", req->identity_team);
    add_header(r, "X-Tessera-Token-Kind", token_kind_name(req->principal.token.kind));
    add_header(r, "X-Tessera-Token-Id", req->principal.token.id);
  }
  /* RFC 9110: a 401 says how to authenticate. */
  if (req->status == 401)
    add_header(r, "WWW-Authenticate", "token realm=\"tessera\"");
  if (req->allow)
    add_header(r, "Allow", req->allow);
  if (req->set_cookie[0])
    add_header(r, "Set-Cookie", req->set_cookie);
  if (req->close_connection)
    add_header(r, "Connection", "close");
  if (req->retry_after > 0) {
    char seconds[16];
    snprintf(seconds, sizeof seconds, "%d", req->retry_after);
    add_header(r, "Retry-After", seconds);
  }
  if (req->console_page) {
    /* No inline script or style anywhere: a token value shown once cannot be lifted by an
     * injected script, and the page may not be framed. */
    add_header(r, "Content-Security-Policy",
               "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    add_header(r, "Referrer-Policy", "no-referrer");
  }
  enum MHD_Result ret = MHD_queue_response(req->conn, (unsigned)req->status, r);
  MHD_destroy_response(r);
  return ret;
}

/* True when the declared body is larger than we accept, so we can answer before reading it. */
static bool declared_too_large(struct MHD_Connection *conn) {
  const char *length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
  return length && strtoull(length, NULL, 10) > BODY_MAX;
}

/* Answers at once a request whose head is ambiguous or malformed, whose URL or headers are over
 * our limits, or whose declared body is: the body is then never read, and the connection is
 * closed, since where the next request would begin is unknown (or disputed). Returns false when
 * the request may go on. */
static bool refused_early(struct request *req, const char *version) {
  struct framing_headers headers;
  char detail[256];
  int framing = framing_check_head(req->conn, req->method, version, &req->uri, &headers, detail,
                                   sizeof detail);
  if (req->uri.bad_bytes)
    reply_error(req, TE_BAD_REQUEST,
                "the URI may hold only visible ASCII: percent-encode spaces, controls "
                "and other bytes (RFC 3986).");
  else if (req->uri.len > URL_MAX)
    reply_error(req, TE_URI_TOO_LONG, "the URL is longer than %d bytes.", URL_MAX);
  else if (req->uri.too_many_params)
    reply_error(req, TE_URI_TOO_LONG, "the URL has more than %d query parameters.",
                QUERY_PARAMS_MAX);
  else if (headers.bytes > HEADERS_MAX)
    reply_error(req, TE_HEADERS_TOO_LARGE, "the request headers are larger than %d bytes.",
                HEADERS_MAX);
  else if (headers.fields > HEADER_FIELDS_MAX)
    reply_error(req, TE_HEADERS_TOO_LARGE, "the request has more than %d header fields.",
                HEADER_FIELDS_MAX);
  else if (framing != TE_OK)
    reply_failure(req, framing, detail);
  else if (req->uri.hides_bytes)
    reply_error(req, TE_BAD_REQUEST,
                "the path may not contain an encoded NUL (%%00) or '/' (%%2F).");
  else if (req->uri.nul_in_query)
    reply_error(req, TE_BAD_REQUEST, "the query may not contain an encoded NUL (%%00).");
  else if (declared_too_large(req->conn))
    reply_error(req, TE_TOO_LARGE, "the request body is larger than %d bytes.", BODY_MAX);
  req->close_connection = req->replied;
  return req->replied;
}

static void take_upload(struct request *req, const char *data, size_t size) {
  if (req->body_too_large)
    return;
  if (req->body_len + size > BODY_MAX) {
    req->body_too_large = true;
    free(req->body);
    req->body = NULL;
    req->body_len = 0;
    return;
  }
  char *grown = realloc(req->body, req->body_len + size + 1);
  if (!grown)
    abort();
  memcpy(grown + req->body_len, data, size);
  req->body = grown;
  req->body_len += size;
  req->body[req->body_len] = '\0';
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **req_cls) {
  struct server *s = cls;
  struct request *req = *req_cls; /* made by on_uri */
  if (!req->path) {               /* first call: the headers are in */
    conntrack_head_done(conn);
    req->method = method;
    if (!(req->path = strdup(url)))
      abort();
    /* The path as routed, decoded: "/%63li-login" is the console's page too. */
    req->console_page = req->console_page || is_console_page(url);
    return refused_early(req, version) ? send_reply(s, req) : MHD_YES;
  }
  if (*upload_size) { /* its deadline is the tracker's (http/conntrack.c) */
    take_upload(req, upload_data, *upload_size);
    *upload_size = 0;
    return MHD_YES;
  }
  if (req->deferred) { /* resumed: the reply was set by whoever finished the work */
    req->deferred = false;
    return send_reply(s, req);
  }
  if (req->replied) /* answered early, before the body */
    return MHD_YES;
  conntrack_body_done(conn);
  if (req->body_too_large)
    reply_error(req, TE_TOO_LARGE, "the request body is larger than %d bytes.", BODY_MAX);
  else
    dispatch(req);
  return req->deferred ? MHD_YES : send_reply(s, req);
}

/* The status to log: what was sent, or, when the connection ended otherwise, nginx's conventions
 * (408 for a timeout, ours included; 499 for a client that went away or a connection that
 * failed). */
static int logged_status(const struct request *req, enum MHD_RequestTerminationCode toe) {
  if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
    return req->status;
  return toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED || conntrack_was_cut(req->conn) ? 408 : 499;
}

static void log_access(const struct request *req, int status, int64_t duration_us) {
  struct access_entry e = {.request_id = req->id,
                           .method = req->method,
                           .path = req->path,
                           .status = status,
                           .duration_us = duration_us,
                           .user = req->authenticated ? req->principal.actor : NULL};
  accesslog_write(&e);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
  struct server *s = cls;
  struct request *req = *req_cls;
  conntrack_request_done(conn);
  if (!req)
    return;
  if (req->path) { /* every request that got as far as its headers */
    int status = logged_status(req, toe);
    if (s->access_log)
      log_access(req, status, time_monotonic_us() - req->started_us);
    count_request(s, req, status);
  }
  request_free(req);
  *req_cls = NULL;
  atomic_fetch_sub(&s->in_flight, 1);
}

static int bind_address(const char *host, int port, struct sockaddr_storage *addr) {
  memset(addr, 0, sizeof *addr);
  struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    return AF_INET;
  }
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    return AF_INET6;
  }
  return -1;
}

/* Runs in the accepting worker for each new connection: none once shutdown has begun. */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen) {
  (void)addr;
  (void)addrlen;
  struct server *s = cls;
  return atomic_load(&s->app->draining) ? MHD_NO : MHD_YES;
}

int server_start(const struct server_config *config, struct app *app, struct server **out) {
  struct sockaddr_storage addr;
  int family = bind_address(config->host, config->port, &addr);
  if (family < 0) {
    fprintf(stderr, "tessera: --listen needs an IP address, not '%s'\n", config->host);
    return TE_BAD_REQUEST;
  }
  struct server *s = calloc(1, sizeof *s);
  if (!s)
    abort();
  s->app = app;
  s->access_log = config->access_log;
  s->metrics = config->metrics;
  if (s->metrics) /* before the workers exist */
    route_metrics_use(app->routes);
  unsigned char prefix[4];
  if (RAND_bytes(prefix, sizeof prefix) != 1)
    abort();
  snprintf(s->id_prefix, sizeof s->id_prefix, "%02x%02x%02x%02x", prefix[0], prefix[1], prefix[2],
           prefix[3]);
  struct conntrack_config tracking = {.head_seconds = config->head_timeout_seconds,
                                      .idle_seconds = config->timeout_seconds,
                                      .max_connections = config->max_connections};
  if (conntrack_start(&tracking, &s->tracker) != TE_OK) {
    free(s);
    return TE_INTERNAL;
  }
  if (s->access_log) /* before the workers exist, so they never see it half set up */
    accesslog_start(STDOUT_FILENO);
  /* One thread is the epoll thread itself: MHD warns about a pool of one, and needs none. */
  unsigned pool = config->threads > 1 ? (unsigned)config->threads : 0;
  unsigned flags =
      MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  if (family == AF_INET6)
    flags |= MHD_USE_IPv6;
  s->daemon = MHD_start_daemon(
      flags, (uint16_t)config->port, accept_policy, s, on_request, s, MHD_OPTION_SOCK_ADDR, &addr,
      MHD_OPTION_URI_LOG_CALLBACK, on_uri, s, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
      (unsigned)config->connections_per_ip, MHD_OPTION_THREAD_POOL_SIZE, pool,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, conntrack_notify,
      s->tracker, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)config->timeout_seconds,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned)config->max_connections, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
  if (!s->daemon) {
    fprintf(stderr, "tessera: cannot listen on %s:%d\n", config->host, config->port);
    if (s->access_log)
      accesslog_stop();
    conntrack_stop(s->tracker);
    free(s);
    return TE_INTERNAL;
  }
  *out = s;
  return TE_OK;
}

int server_port(struct server *s) {
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
  return info ? info->port : -1;
}

void server_stop(struct server *s) {
  /* New clients are turned away from here on (accept_policy). Not MHD_quiesce_daemon: with an
   * epoll thread pool it races a worker that drops the listening socket from its epoll set at
   * the connection limit, and libmicrohttpd then aborts ("Failed to remove listen FD"). */
  atomic_store(&s->app->draining, true);
  /* Requests already being served get DRAIN_SECONDS to finish; a client slow to send its body is
   * cut off after that. A suspended request (a creation waiting for its commit) is always waited
   * for: the store reports every queued write, and MHD must not stop while one is suspended. */
  for (int i = 0; i < DRAIN_SECONDS * 100 && atomic_load(&s->in_flight) > 0; i++)
    usleep(10 * 1000);
  while (atomic_load(&s->app->deferred) > 0)
    usleep(10 * 1000);
  MHD_stop_daemon(s->daemon);
  conntrack_stop(s->tracker); /* after MHD: every connection is closed */
  if (s->access_log)
    accesslog_stop(); /* after MHD: no worker thread can log any more */
  free(s);
}
