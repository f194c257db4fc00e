/* A throwaway PostgreSQL cluster for unit tests: initdb in a temporary directory, started with
 * pg_ctl on a free 127.0.0.1 port (and a Unix socket in that directory), trust authentication
 * for the superuser "tessera", stopped and removed at the end. Run as root, the server runs as the
 * postgres user (initdb refuses root). Takes about a second. Test-only code: a header, like
 * store_fixture.h. */
#ifndef TESSERA_TESTS_PG_CLUSTER_H
#define TESSERA_TESTS_PG_CLUSTER_H

#include <arpa/inet.h>
#include <errno.h>
#include <glob.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

struct pg_cluster {
  char dir[64];
  char bin[256];
  char as[48]; /* "runuser -u postgres --" when run as root */
  int port;
  char conninfo[160]; /* of database "postgres" */
};

static int pg_cluster_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  close(fd);
  return ntohs(a.sin_port);
}

static bool pg_cluster_run(const struct pg_cluster *c, const char *args) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s %s/%s >>%s/tool.log 2>&1", c->as, c->bin, args, c->dir);
  return system(cmd) == 0;
}

static void pg_cluster_stop(struct pg_cluster *c);

/* A test killed before its teardown (a crash, a sanitizer's abort) leaves its server running:
 * stops and removes the clusters whose owner (owner.pid) no longer exists. */
static void pg_cluster_reap(const struct pg_cluster *self) {
  glob_t g;
  if (glob("/tmp/tessera-pg-*/owner.pid", 0, NULL, &g) != 0)
    return;
  for (size_t i = 0; i < g.gl_pathc; i++) {
    FILE *f = fopen(g.gl_pathv[i], "r");
    long pid = 0;
    if (!f)
      continue;
    if (fscanf(f, "%ld", &pid) != 1)
      pid = 0;
    fclose(f);
    if (pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
      continue;
    struct pg_cluster stale = *self;
    snprintf(stale.dir, sizeof stale.dir, "%.*s",
             (int)(strlen(g.gl_pathv[i]) - strlen("/owner.pid")), g.gl_pathv[i]);
    pg_cluster_stop(&stale);
  }
  globfree(&g);
}

/* Starts a cluster; false (with the reason on stderr) when it cannot. */
static bool pg_cluster_start(struct pg_cluster *c) {
  memset(c, 0, sizeof *c);
  FILE *p = popen("pg_config --bindir", "r");
  if (!p || !fgets(c->bin, sizeof c->bin, p)) {
    fprintf(stderr, "pg_cluster: pg_config --bindir failed (install postgresql-15, libpq-dev)\n");
    if (p)
      pclose(p);
    return false;
  }
  pclose(p);
  c->bin[strcspn(c->bin, "\n")] = '\0';
  snprintf(c->dir, sizeof c->dir, "/tmp/tessera-pg-XXXXXX");
  if (!mkdtemp(c->dir))
    return false;
  if (geteuid() == 0) {
    struct passwd *pw = getpwnam("postgres");
    if (!pw || chown(c->dir, pw->pw_uid, pw->pw_gid) != 0) {
      fprintf(stderr, "pg_cluster: no postgres user to run the server as\n");
      return false;
    }
    snprintf(c->as, sizeof c->as, "runuser -u postgres --");
  }
  pg_cluster_reap(c);
  char owner[96];
  snprintf(owner, sizeof owner, "%s/owner.pid", c->dir);
  FILE *f = fopen(owner, "w");
  if (f) {
    fprintf(f, "%ld\n", (long)getpid());
    fclose(f);
  }
  c->port = pg_cluster_free_port();
  char args[768];
  snprintf(args, sizeof args,
           "initdb -D %s/data -U tessera --auth=trust -E UTF8 --locale=C.UTF-8 --no-instructions",
           c->dir);
  bool started = c->port > 0 && pg_cluster_run(c, args);
  snprintf(args, sizeof args,
           "pg_ctl -D %s/data -l %s/server.log -w -t 30 -o \"-c listen_addresses=127.0.0.1 -p %d "
           "-c unix_socket_directories=%s\" start",
           c->dir, c->dir, c->port, c->dir);
  started = started && pg_cluster_run(c, args);
  if (!started)
    fprintf(stderr, "pg_cluster: could not start a cluster in %s (see its *.log)\n", c->dir);
  snprintf(c->conninfo, sizeof c->conninfo,
           "host=127.0.0.1 port=%d user=tessera dbname=postgres connect_timeout=10", c->port);
  return started;
}

/* A connection to database `db` ("postgres" when NULL). */
__attribute__((unused)) static PGconn *pg_cluster_connect(const struct pg_cluster *c,
                                                          const char *db) {
  char info[200];
  snprintf(info, sizeof info, "host=127.0.0.1 port=%d user=tessera dbname=%s connect_timeout=10",
           c->port, db ? db : "postgres");
  return PQconnectdb(info);
}

/* cmocka group fixtures for a file whose tests share one cluster, `cluster`. */
static struct pg_cluster cluster __attribute__((unused));

__attribute__((unused)) static int pg_cluster_group_setup(void **state) {
  (void)state;
  return pg_cluster_start(&cluster) ? 0 : -1;
}

__attribute__((unused)) static int pg_cluster_group_teardown(void **state) {
  (void)state;
  pg_cluster_stop(&cluster);
  return 0;
}

static void pg_cluster_stop(struct pg_cluster *c) {
  if (!c->dir[0])
    return;
  char args[512];
  snprintf(args, sizeof args, "pg_ctl -D %s/data -m immediate -w -t 30 stop", c->dir);
  pg_cluster_run(c, args);
  char rm[128];
  snprintf(rm, sizeof rm, "rm -rf %s", c->dir);
  if (system(rm) != 0)
    fprintf(stderr, "pg_cluster: could not remove %s\n", c->dir);
  c->dir[0] = '\0';
}

#endif
