/* The writer of the reads-during-writes benchmark: POST /api/user/tokens at a steady RATE per
 * second for at most SECONDS seconds and at most RATE * SECONDS creations, over kept-alive
 * connections, while wrk reads. Request i is sent at start + i / RATE (those that fall due
 * together go out together); at most MAX_IN_FLIGHT wait for an answer at once, and a creation that
 * would exceed it is not sent (counted as skipped: the server could not keep up).
 *
 * Why C and libcurl's multi interface rather than Node: the writer shares the machine with the
 * reads it runs beside, and every microsecond of its CPU is taken from them. Node's http client
 * spent about 0.46 ms of CPU a creation (23 % of a core at 500/s) against the server's 0.5 ms;
 * this one 0.15 ms (bench/README.md).
 *
 * Usage: BENCH_TOKEN=pul-... create_paced BASE_URL RATE SECONDS
 * Prints `created:`, `rate:` (creations answered 200 per second of the run), `other:` (answers
 * other than 200), `errors:` (network errors, timeouts), `skipped:`, `p50_ms:` and `p99_ms:`
 * lines (and `first_error:` if any); exits 1 when any answer was not a 200 or any request failed.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Far below the server's --max-connections-per-ip (256), with wrk's connections on top. */
#define MAX_IN_FLIGHT 64

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static size_t discard(char *data, size_t size, size_t n, void *arg) {
  (void)data;
  (void)arg;
  return size * n;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double percentile(const double *sorted, size_t n, double q) {
  if (!n)
    return 0;
  size_t k = (size_t)(q * (double)n + 0.999999);
  return sorted[(k ? k : 1) - 1];
}

struct slot {
  CURL *easy;
  double started;
  struct slot *next_free;
};

int main(int argc, char **argv) {
  const char *token = getenv("BENCH_TOKEN");
  double rate = argc == 4 ? atof(argv[2]) : 0, seconds = argc == 4 ? atof(argv[3]) : 0;
  if (argc != 4 || !token || !(rate > 0) || !(seconds > 0) || strlen(token) > 200) {
    fprintf(stderr, "usage: BENCH_TOKEN=pul-... create_paced BASE_URL RATE SECONDS\n");
    return 2;
  }
  char url[512], auth[256];
  snprintf(url, sizeof url, "%s/api/user/tokens", argv[1]);
  snprintf(auth, sizeof auth, "Authorization: token %s", token);
  static const char body[] = "{\"description\":\"bench paced\"}";
  long max = (long)(rate * seconds);

  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM *multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)MAX_IN_FLIGHT);
  /* Keep every connection a burst opened (the default keeps 4 per handle added at the time). */
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)MAX_IN_FLIGHT);
  struct curl_slist *headers = curl_slist_append(NULL, auth);
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */

  struct slot slots[MAX_IN_FLIGHT], *free_slots = NULL;
  for (int i = MAX_IN_FLIGHT - 1; i >= 0; i--) {
    CURL *e = slots[i].easy = curl_easy_init();
    if (!e)
      return 2;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)(sizeof body - 1));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PRIVATE, &slots[i]);
    slots[i].next_free = free_slots;
    free_slots = &slots[i];
  }

  double *latencies = malloc((size_t)(max > 0 ? max : 1) * sizeof *latencies);
  if (!latencies)
    return 2;
  long created = 0, other = 0, errors = 0, skipped = 0, sent = 0;
  int in_flight = 0;
  char first_error[CURL_ERROR_SIZE + 64] = "";
  double start = now_ms(), deadline = start + seconds * 1e3;

  while (in_flight > 0 || (sent + skipped < max && now_ms() < deadline)) {
    double t = now_ms();
    if (t < deadline) {
      long due = (long)((t - start) * rate / 1e3) + 1;
      if (due > max)
        due = max;
      while (sent + skipped < due) {
        if (!free_slots) {
          skipped++;
          continue;
        }
        struct slot *s = free_slots;
        free_slots = s->next_free;
        s->started = now_ms();
        curl_multi_add_handle(multi, s->easy);
        in_flight++;
        sent++;
      }
    }
    int running;
    curl_multi_perform(multi, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left))) {
      if (msg->msg != CURLMSG_DONE)
        continue;
      struct slot *s;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
      long status = 0;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
      if (msg->data.result != CURLE_OK) {
        errors++;
        if (!first_error[0])
          snprintf(first_error, sizeof first_error, "%s", curl_easy_strerror(msg->data.result));
      } else if (status == 200) {
        latencies[created++] = now_ms() - s->started;
      } else {
        other++;
        if (!first_error[0])
          snprintf(first_error, sizeof first_error, "HTTP status %ld", status);
      }
      curl_multi_remove_handle(multi, s->easy);
      s->next_free = free_slots;
      free_slots = s;
      in_flight--;
    }
    /* Wake for the next creation due, or any answer, whichever comes first (at most 1 ms). */
    curl_multi_poll(multi, NULL, 0, 1, NULL);
  }

  double elapsed = (now_ms() - start) / 1e3;
  qsort(latencies, (size_t)created, sizeof *latencies, by_value);
  printf("created: %ld\nrate: %.1f\nother: %ld\nerrors: %ld\nskipped: %ld\n", created,
         (double)created / elapsed, other, errors, skipped);
  printf("p50_ms: %.2f\np99_ms: %.2f\n", percentile(latencies, (size_t)created, 0.5),
         percentile(latencies, (size_t)created, 0.99));
  if (first_error[0])
    printf("first_error: %s\n", first_error);
  for (int i = 0; i < MAX_IN_FLIGHT; i++)
    curl_easy_cleanup(slots[i].easy);
  curl_slist_free_all(headers);
  curl_multi_cleanup(multi);
  curl_global_cleanup();
  free(latencies);
  return other || errors ? 1 : 0;
}
