/* tessera: the server, the offline admin commands, and (later) the client, in one binary. */

#include "admin/admin.h"
#include "api/api.h"
#include "cli/cli.h"
#include "core/error.h"
#include "core/metrics.h"
#include "core/paging.h"
#include "core/timeutil.h"
#include "http/metrics_page.h"
#include "http/offload.h"
#include "http/router.h"
#include "http/server.h"
#include "store/lastused.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <signal.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_USAGE 2
/* Commits by other processes (tessera admin) and other nodes reach the cache within this, or at
 * once when announced (store/cache.c). */
#define CACHE_POLL_MS 100
/* A cache whose change feed could not be read for this long answers from the store only. */
#define CACHE_STALE_MS 1000
/* Each cached token is also read again within 10 minutes, a bound on anything the feed could miss:
 * the cache walks them all in the background over half of it (a million tokens: about 3,300 a
 * second, in pages), so no request waits for that read. */
#define CACHE_TTL_SECONDS 600
/* The metrics listener serves a scraper or two, not the public: a thread, and few connections. */
#define METRICS_THREADS 1
#define METRICS_CONNECTIONS 16
#define METRICS_CONNECTIONS_PER_IP 8

static const char serve_usage[] =
    "usage: tessera serve [--listen HOST:PORT] [--db PATH|URL] [--audit-key FILE] [--threads N]\n"
    "                     [--timeout SECONDS]\n"
    "                     [--header-timeout SECONDS] [--max-connections N]\n"
    "                     [--max-connections-per-ip N] [--lastused-flush-seconds N]\n"
    "                     [--no-access-log] [--allow-http-issuers] [--allow-loopback-issuers]\n"
    "                     [--issuer-ca-file PATH]\n"
    "                     [--secure-cookies] [--trusted-proxy CIDR]...\n"
    "                     [--metrics-listen HOST:PORT] [--metrics-on-api]\n"
    "  --listen   address to serve on (TESSERA_LISTEN; default 127.0.0.1:8080; port 0 = any)\n"
    "  --db       SQLite database file, created 0600 if absent, or a PostgreSQL URL,\n"
    "             postgres://USER@HOST:PORT/DB (TESSERA_DB; default ./var/tessera.db)\n"
    "  --audit-key  the audit log's key file for a PostgreSQL store, the same on every node;\n"
    "             made 0600 if absent (TESSERA_AUDIT_KEY; SQLite keeps it beside the database)\n"
    "  --threads  HTTP worker threads (TESSERA_THREADS; default: one per CPU core)\n"
    "  --timeout  seconds before an idle connection is closed, and within which a request body\n"
    "             must arrive whole (default 30)\n"
    "  --header-timeout  seconds within which a request line and its headers must arrive whole,\n"
    "             counted from the connection's opening (default 10)\n"
    "  --max-connections  connections open at once (default 1000); near the limit, the one that\n"
    "             has waited longest for a request is closed to make room\n"
    "  --max-connections-per-ip  connections one client address may hold open (default 256)\n"
    "  --lastused-flush-seconds  a token's lastUsed is written at most this often (default 60)\n"
    "  --no-access-log  do not print one JSON line per request on stdout\n"
    "  --allow-http-issuers  accept OIDC issuers on plain HTTP when they are on a loopback\n"
    "             address (for tests; issuers must otherwise use HTTPS)\n"
    "  --allow-loopback-issuers  let HTTPS issuers be on a loopback address (for tests)\n"
    "  --issuer-ca-file  verify OIDC issuers' TLS certificates against the CA certificates in\n"
    "             this PEM file instead of the system's (a private PKI)\n"
    "  --secure-cookies  mark the console's session cookie Secure (when a TLS proxy fronts the\n"
    "             server, as it should for anything but localhost)\n"
    "  --trusted-proxy  a proxy address or CIDR block (up to 16) whose X-Forwarded-For is\n"
    "             believed: the client is then the last address in it that is not a trusted\n"
    "             proxy (for the audit log and the sign-in budget)\n"
    "  --metrics-listen  serve GET /metrics (Prometheus' text format, no authentication) on a\n"
    "             listener of its own at this address, which should be a private one\n"
    "             (TESSERA_METRICS_LISTEN; default: none; port 0 = any)\n"
    "  --metrics-on-api  serve GET /metrics on the --listen address too\n"
    "             (TESSERA_METRICS_ON_API=1; default: off, and /metrics there is a 404 like\n"
    "             any unknown path)\n";

struct serve_options {
  char host[64];
  int port;
  char metrics_host[64]; /* "" for no metrics listener */
  int metrics_port;
  bool metrics_on_api;
  const char *db;
  const char *audit_key;
  int threads;
  int timeout;
  int head_timeout;
  int max_connections;
  int connections_per_ip;
  int lastused_interval;
  bool access_log;
  bool allow_http_issuers;
  bool allow_loopback_issuers;
  const char *issuer_ca_file;
  bool secure_cookies;
  struct cidr trusted_proxies[TRUSTED_PROXIES_MAX];
  int trusted_proxy_count;
};

/* Parses a positive integer within [min, max]; false for anything else. */
static bool parse_int(const char *text, int min, int max, int *out) {
  char *end;
  long v = strtol(text, &end, 10);
  if (!*text || *end || v < min || v > max)
    return false;
  *out = (int)v;
  return true;
}

/* "HOST:PORT" or "[V6]:PORT"; out holds 64 bytes. */
static bool parse_listen(const char *text, char out[64], int *port) {
  const char *colon = strrchr(text, ':');
  if (!colon || !parse_int(colon + 1, 0, 65535, port))
    return false;
  const char *host = text;
  size_t len = (size_t)(colon - text);
  if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
    host++;
    len -= 2;
  }
  if (len == 0 || len >= 64)
    return false;
  memcpy(out, host, len);
  out[len] = '\0';
  return true;
}

/* Whether two listen addresses are one: the same port (not 0, which is any free one) on the same
 * IP address, however it is spelt ("::1", "0:0::1"). */
static bool same_listener(const char *host, int port, const char *other_host, int other_port) {
  unsigned char a[16], b[16];
  if (port == 0 || port != other_port)
    return false;
  if (inet_pton(AF_INET, host, a) == 1 && inet_pton(AF_INET, other_host, b) == 1)
    return memcmp(a, b, 4) == 0;
  if (inet_pton(AF_INET6, host, a) == 1 && inet_pton(AF_INET6, other_host, b) == 1)
    return memcmp(a, b, 16) == 0;
  return strcmp(host, other_host) == 0;
}

static int serve_usage_error(const char *problem) {
  fprintf(stderr, "tessera serve: %s\n%s", problem, serve_usage);
  return EXIT_USAGE;
}

static int parse_serve(int argc, char **argv, struct serve_options *o) {
  static const struct option options[] = {
      {"listen", required_argument, NULL, 'l'},
      {"db", required_argument, NULL, 'd'},
      {"audit-key", required_argument, NULL, 'K'},
      {"threads", required_argument, NULL, 't'},
      {"timeout", required_argument, NULL, 'T'},
      {"header-timeout", required_argument, NULL, 'R'},
      {"max-connections", required_argument, NULL, 'M'},
      {"lastused-flush-seconds", required_argument, NULL, 'f'},
      {"max-connections-per-ip", required_argument, NULL, 'p'},
      {"no-access-log", no_argument, NULL, 'q'},
      {"allow-http-issuers", no_argument, NULL, 'H'},
      {"allow-loopback-issuers", no_argument, NULL, 'L'},
      {"issuer-ca-file", required_argument, NULL, 'C'},
      {"secure-cookies", no_argument, NULL, 'S'},
      {"trusted-proxy", required_argument, NULL, 'P'},
      {"metrics-listen", required_argument, NULL, 'm'},
      {"metrics-on-api", no_argument, NULL, 'A'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  *o = (struct serve_options){.threads = cores > 0 ? (int)cores : 2,
                              .timeout = 30,
                              .head_timeout = 10,
                              .max_connections = 1000,
                              .connections_per_ip = 256,
                              .lastused_interval = 60,
                              .access_log = true};
  const char *listen = getenv("TESSERA_LISTEN"), *threads = getenv("TESSERA_THREADS");
  const char *metrics_listen = getenv("TESSERA_METRICS_LISTEN");
  const char *on_api = getenv("TESSERA_METRICS_ON_API");
  if (on_api && *on_api && strcmp(on_api, "1") != 0 && strcmp(on_api, "0") != 0)
    return serve_usage_error("TESSERA_METRICS_ON_API must be 1 or 0");
  o->metrics_on_api = on_api && strcmp(on_api, "1") == 0;
  o->db = getenv("TESSERA_DB");
  o->audit_key = getenv("TESSERA_AUDIT_KEY");
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
    switch (c) {
    case 'l':
      listen = optarg;
      break;
    case 'd':
      o->db = optarg;
      break;
    case 'K':
      o->audit_key = optarg;
      break;
    case 't':
      threads = optarg;
      break;
    case 'T':
      if (!parse_int(optarg, 1, 3600, &o->timeout))
        return serve_usage_error("--timeout must be 1..3600 seconds");
      break;
    case 'R':
      if (!parse_int(optarg, 1, 3600, &o->head_timeout))
        return serve_usage_error("--header-timeout must be 1..3600 seconds");
      break;
    case 'M':
      if (!parse_int(optarg, 16, 100000, &o->max_connections))
        return serve_usage_error("--max-connections must be 16..100000");
      break;
    case 'f':
      if (!parse_int(optarg, 1, 86400, &o->lastused_interval))
        return serve_usage_error("--lastused-flush-seconds must be 1..86400");
      break;
    case 'p':
      if (!parse_int(optarg, 1, 100000, &o->connections_per_ip))
        return serve_usage_error("--max-connections-per-ip must be 1..100000");
      break;
    case 'q':
      o->access_log = false;
      break;
    case 'H':
      o->allow_http_issuers = true;
      break;
    case 'L':
      o->allow_loopback_issuers = true;
      break;
    case 'S':
      o->secure_cookies = true;
      break;
    case 'P':
      if (o->trusted_proxy_count == TRUSTED_PROXIES_MAX)
        return serve_usage_error("at most 16 --trusted-proxy blocks");
      if (cidr_parse(optarg, &o->trusted_proxies[o->trusted_proxy_count]) != TE_OK)
        return serve_usage_error("--trusted-proxy must be an address or a CIDR block with no host "
                                 "bits set, e.g. 10.0.0.0/8 or ::1");
      o->trusted_proxy_count++;
      break;
    case 'm':
      metrics_listen = optarg;
      break;
    case 'A':
      o->metrics_on_api = true;
      break;
    case 'C':
      if (access(optarg, R_OK) != 0)
        return serve_usage_error("--issuer-ca-file must name a readable PEM file");
      o->issuer_ca_file = optarg;
      break;
    case 'h':
      fputs(serve_usage, stdout);
      exit(0);
    default:
      return serve_usage_error("unknown or incomplete option");
    }
  }
  if (optind < argc)
    return serve_usage_error("unexpected argument");
  if (!parse_listen(listen ? listen : "127.0.0.1:8080", o->host, &o->port))
    return serve_usage_error("--listen must be HOST:PORT, e.g. 127.0.0.1:8080");
  if (metrics_listen && *metrics_listen &&
      !parse_listen(metrics_listen, o->metrics_host, &o->metrics_port))
    return serve_usage_error("--metrics-listen must be HOST:PORT, e.g. 127.0.0.1:9464");
  if (o->metrics_host[0] && same_listener(o->host, o->port, o->metrics_host, o->metrics_port))
    return serve_usage_error("--metrics-listen must differ from --listen (to serve /metrics on "
                             "the API's address, use --metrics-on-api)");
  if (threads && !parse_int(threads, 1, 256, &o->threads))
    return serve_usage_error("--threads must be 1..256");
  if (!o->db || !*o->db)
    o->db = "./var/tessera.db";
  return 0;
}

/* The API's routes with GET /metrics added (--metrics-on-api); malloc'd. */
static struct route *routes_with_metrics(void) {
  size_t n = 0;
  while (api_routes[n].method)
    n++;
  struct route *all = calloc(n + 2, sizeof *all); /* and the terminating entry */
  if (!all)
    abort();
  memcpy(all, api_routes, n * sizeof *all);
  all[n] = metrics_page_routes[0];
  return all;
}

static void print_url(const char *what, const char *host, int port, const char *path) {
  bool v6 = strchr(host, ':') != NULL;
  fprintf(stderr, "tessera: %s http://%s%s%s:%d%s\n", what, v6 ? "[" : "", host, v6 ? "]" : "",
          port, path);
}

/* The listener of --metrics-listen: /metrics alone, on its own daemon, with the API's timeouts
 * and request limits (http/server.c) but a thread and a few connections. */
static int metrics_listener_start(const struct serve_options *o, struct app *app,
                                  struct server **out) {
  *app = (struct app){.routes = metrics_page_routes};
  struct server_config config = {.host = o->metrics_host,
                                 .port = o->metrics_port,
                                 .threads = METRICS_THREADS,
                                 .timeout_seconds = o->timeout,
                                 .head_timeout_seconds = o->head_timeout,
                                 .connections_per_ip = METRICS_CONNECTIONS_PER_IP,
                                 .max_connections = METRICS_CONNECTIONS};
  int rc = server_start(&config, app, out);
  if (rc == TE_OK)
    print_url("metrics on", o->metrics_host, server_port(*out), "/metrics");
  return rc;
}

static int serve(int argc, char **argv) {
  struct serve_options o;
  int rc = parse_serve(argc, argv, &o);
  if (rc)
    return rc;
  /* Signals are taken synchronously by the main thread; every other thread inherits the mask. */
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);

  struct store *backend, *store;
  /* A reader for each HTTP worker and offload thread, and for the three readers of the change
   * feed: the cache's poller, the writer (after each commit) and PostgreSQL's listener. */
  if (store_open(o.db, o.audit_key, o.threads + OFFLOAD_THREADS + 3, &backend)) {
    /* The URL may carry a password: name the store by its kind only. */
    fprintf(stderr, "tessera: cannot open %s%s\n",
            store_is_postgres(o.db) ? "the PostgreSQL database" : "the database at ",
            store_is_postgres(o.db) ? "" : o.db);
    return 1;
  }
  if (store_cache_wrap(backend, CACHE_POLL_MS, CACHE_STALE_MS, CACHE_TTL_SECONDS, &store) != TE_OK)
    return 1;
  unsigned char paging_key[32];
  store->ops->derive_secret(store, "tessera-continuation-tokens", paging_key);
  page_token_set_key(paging_key);
  OPENSSL_cleanse(paging_key, sizeof paging_key);
  struct route *with_metrics = o.metrics_on_api ? routes_with_metrics() : NULL;
  struct app app = {.routes = with_metrics ? with_metrics : api_routes,
                    .store = store,
                    .secure_cookies = o.secure_cookies,
                    .issuer_fetch = {.allow_http = o.allow_http_issuers,
                                     .allow_loopback = o.allow_loopback_issuers,
                                     .ca_file = o.issuer_ca_file},
                    .trusted_proxy_count = o.trusted_proxy_count};
  memcpy(app.trusted_proxies, o.trusted_proxies, sizeof app.trusted_proxies);
  struct server *server = NULL, *metrics_server = NULL;
  struct app metrics_app;
  rc = 1;
  if (lastused_start(store, o.lastused_interval, LASTUSED_TICK_MS, &app.lastused) != TE_OK)
    goto closed;
  if (offload_start(&app.offload) != TE_OK)
    goto lastused_stopped;
  struct server_config config = {.host = o.host,
                                 .port = o.port,
                                 .threads = o.threads,
                                 .timeout_seconds = o.timeout,
                                 .head_timeout_seconds = o.head_timeout,
                                 .connections_per_ip = o.connections_per_ip,
                                 .max_connections = o.max_connections,
                                 .access_log = o.access_log,
                                 .metrics = true};
  metrics_started(time_now());
  if (server_start(&config, &app, &server) != TE_OK)
    goto offload_stopped;
  if (o.metrics_host[0] && metrics_listener_start(&o, &metrics_app, &metrics_server) != TE_OK) {
    server_stop(server);
    goto offload_stopped;
  }
  print_url("listening on", o.host, server_port(server), "");
  int sig = 0;
  sigwait(&stop_signals, &sig);
  fprintf(stderr, "tessera: %s received, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  server_stop(server); /* waits for offloaded requests too: they are suspended */
  if (metrics_server)
    server_stop(metrics_server); /* last: it can be scraped while the API drains */
  rc = 0;
offload_stopped:
  offload_stop(app.offload);
lastused_stopped:
  lastused_stop(app.lastused); /* writes the lastUsed values still pending */
closed:
  store->ops->close(store);
  free(with_metrics);
  if (rc == 0)
    fprintf(stderr, "tessera: stopped\n");
  return rc;
}

static int usage(void) {
  fputs("usage: tessera serve [options]    run the server (tessera serve --help)\n"
        "       tessera admin COMMAND ...  offline administration (tessera admin help)\n"
        "       tessera login|logout|whoami|token ...  the client (tessera token --help)\n"
        "       tessera scan [PATH...]     find token values in files and git history\n",
        stderr);
  return EXIT_USAGE;
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0)
    return usage();
  /* Before any thread starts: libcurl's global set-up is not thread-safe. */
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    fprintf(stderr, "tessera: cannot initialise libcurl\n");
    return 1;
  }
  if (strcmp(argv[1], "serve") == 0)
    return serve(argc - 1, argv + 1);
  if (strcmp(argv[1], "admin") == 0)
    return admin_main(argc - 1, argv + 1);
  return cli_main(argc - 1, argv + 1);
}
