/* http/conntrack.c with a real libmicrohttpd daemon on loopback: stalled request heads are cut at
 * their deadline, a served request is not, and near the connection limit the longest waiter makes
 * room for a new client. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "http/conntrack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HEAD_SECONDS 1
#define MAX_CONNECTIONS 20 /* room is made above 17 */

static struct conntrack *tracker;
static struct MHD_Daemon *daemon_;
static int port;

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
  (void)cls;
  (void)uri;
  conntrack_request_line(conn);
  return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **req_cls) {
  (void)cls, (void)url, (void)method, (void)version, (void)data;
  static int marker;
  if (!*req_cls) { /* the first call: libmicrohttpd closes a connection answered this early */
    conntrack_head_done(conn);
    *req_cls = &marker;
    return MHD_YES;
  }
  if (*size) { /* a body: taken in */
    *size = 0;
    return MHD_YES;
  }
  conntrack_body_done(conn);
  struct MHD_Response *r = MHD_create_response_from_buffer(2, "ok", MHD_RESPMEM_PERSISTENT);
  enum MHD_Result ret = MHD_queue_response(conn, 200, r);
  MHD_destroy_response(r);
  return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)cls, (void)req_cls, (void)toe;
  conntrack_request_done(conn);
}

static int start_with(int head_seconds, int idle_seconds) {
  struct conntrack_config config = {.head_seconds = head_seconds,
                                    .idle_seconds = idle_seconds,
                                    .max_connections = MAX_CONNECTIONS};
  if (conntrack_start(&config, &tracker) != 0)
    return -1;
  daemon_ = MHD_start_daemon(
      MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, NULL,
      MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
      MHD_OPTION_NOTIFY_CONNECTION, conntrack_notify, tracker, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned)MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
  if (!daemon_)
    return -1;
  port = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT)->port;
  return 0;
}

static int start(void **state) {
  (void)state;
  return start_with(HEAD_SECONDS, 30);
}

/* Bodies must arrive within a second of their head. */
static int start_impatient(void **state) {
  (void)state;
  return start_with(30, 1);
}

/* Heads may take long here: only making room closes anything. */
static int start_patient(void **state) {
  (void)state;
  return start_with(30, 30);
}

static int stop(void **state) {
  (void)state;
  MHD_stop_daemon(daemon_);
  conntrack_stop(tracker);
  return 0;
}

static int connect_loopback(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  return fd;
}

static void say(int fd, const char *text) {
  assert_int_equal(send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
}

/* Whether the server closes fd within ms, reading (and dropping) whatever it sends first. */
static bool closed_within(int fd, int ms) {
  char buf[512];
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    long left = ms - ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
    if (left <= 0)
      return false;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, (int)left) <= 0)
      continue;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET))
      return true;
  }
}

static void a_stalled_head_is_cut_at_its_deadline(void **state) {
  (void)state;
  int fd = connect_loopback();
  say(fd, "GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ");
  /* bytes keep arriving, so libmicrohttpd's idle timer never would */
  for (int i = 0; i < 3; i++) {
    usleep(200 * 1000);
    say(fd, "a");
  }
  assert_true(closed_within(fd, HEAD_SECONDS * 1000 + 1500));
  close(fd);
}

static void a_silent_new_connection_is_cut_too(void **state) {
  (void)state;
  int fd = connect_loopback();
  assert_false(closed_within(fd, HEAD_SECONDS * 1000 / 2));
  assert_true(closed_within(fd, HEAD_SECONDS * 1000 + 1500));
  close(fd);
}

static void a_served_connection_stays_open_past_the_head_deadline(void **state) {
  (void)state;
  int fd = connect_loopback();
  say(fd, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  char buf[512];
  assert_true(recv(fd, buf, sizeof buf, 0) > 0);
  /* kept alive: its idle wait is bounded by the idle timeout (30 s), not the head's */
  assert_false(closed_within(fd, HEAD_SECONDS * 1000 + 500));
  say(fd, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  assert_true(recv(fd, buf, sizeof buf, 0) > 0);
  close(fd);
}

static void near_the_limit_the_longest_waiter_makes_room(void **state) {
  (void)state;
  int old = connect_loopback();
  usleep(200 * 1000);
  int fds[MAX_CONNECTIONS];
  int n = MAX_CONNECTIONS - MAX_CONNECTIONS / 10 - 2; /* the oldest and these fill to the mark */
  for (int i = 0; i < n; i++)
    fds[i] = connect_loopback();
  usleep(900 * 1000); /* the oldest has now waited a second: a staller, no longer a newcomer */
  assert_false(closed_within(old, 50));
  int newcomer = connect_loopback();
  assert_true(closed_within(old, 500)); /* made room for the newcomer */
  say(newcomer, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  char buf[512];
  assert_true(recv(newcomer, buf, sizeof buf, 0) > 0);
  assert_memory_equal(buf, "HTTP/1.1 200", 12);
  close(newcomer);
  close(old);
  for (int i = 0; i < n; i++)
    close(fds[i]);
}

static void a_stalled_body_is_cut_at_its_deadline(void **state) {
  (void)state;
  int fd = connect_loopback();
  say(fd, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n");
  for (int i = 0; i < 3; i++) {
    usleep(200 * 1000);
    say(fd, "a");
  }
  assert_true(closed_within(fd, 1000 + 1500));
  close(fd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(a_stalled_head_is_cut_at_its_deadline, start, stop),
      cmocka_unit_test_setup_teardown(a_silent_new_connection_is_cut_too, start, stop),
      cmocka_unit_test_setup_teardown(a_served_connection_stays_open_past_the_head_deadline, start,
                                      stop),
      cmocka_unit_test_setup_teardown(a_stalled_body_is_cut_at_its_deadline, start_impatient, stop),
      cmocka_unit_test_setup_teardown(near_the_limit_the_longest_waiter_makes_room, start_patient,
                                      stop),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
