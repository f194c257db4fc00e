#include "cli/client.h"

#include "core/growbuf.h"
#include "core/names.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_URL "http://127.0.0.1:8080"
#define REPLY_MAX (16 * 1024 * 1024)

/* Retry-After's delay-seconds form (RFC 9110 10.2.3); -1 for an HTTP date or anything else. */
static long retry_seconds(const char *value) {
  value += strspn(value, " \t");
  size_t digits = strspn(value, "0123456789");
  if (digits == 0 || digits > 9 || value[digits + strspn(value + digits, " \t")] != '\0')
    return -1;
  return strtol(value, NULL, 10);
}

/* Picks the headers the client cares about out of the answer. */
static size_t header_line(char *line, size_t size, size_t count, void *arg) {
  struct cli_reply *r = arg;
  size_t n = size * count;
  char text[512];
  snprintf(text, sizeof text, "%.*s", (int)(n < sizeof text ? n : sizeof text - 1), line);
  text[strcspn(text, "\r\n")] = '\0';
  char safe[2048];
  if (strncasecmp(text, "X-Pulumi-Warning:", 17) == 0)
    fprintf(stderr, "tessera: warning:%s\n", text_escape(text + 17, safe, sizeof safe));
  else if (strncasecmp(text, "X-Tessera-Token-Expires:", 24) == 0)
    r->expires = strtoll(text + 24, NULL, 10);
  else if (strncasecmp(text, "Retry-After:", 12) == 0)
    r->retry_after = retry_seconds(text + 12);
  return n;
}

int cli_request(const struct cli_target *t, const char *method, const char *path, json_t *body,
                struct cli_reply *reply) {
  memset(reply, 0, sizeof *reply);
  reply->expires = -1;
  reply->retry_after = -1;
  char url[CLI_URL_MAX + 2048], auth[CLI_TOKEN_MAX + 32];
  size_t base = strlen(t->url);
  while (base && t->url[base - 1] == '/')
    base--;
  snprintf(url, sizeof url, "%.*s%s", (int)base, t->url, path);
  snprintf(auth, sizeof auth, "Authorization: token %s", t->token);
  CURL *curl = curl_easy_init();
  if (!curl)
    abort();
  struct curl_slist *headers = NULL;
  headers = curl_slist_append(headers, "Accept: application/vnd.pulumi+8");
  if (t->token[0])
    headers = curl_slist_append(headers, auth);
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  if (text) {
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text);
  }
  struct growbuf b = {.max = REPLY_MAX};
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "tessera-cli/1");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, growbuf_append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_line);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, reply);
  CURLcode rc = curl_easy_perform(curl);
  if (rc == CURLE_OK)
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
  curl_easy_cleanup(curl);
  curl_slist_free_all(headers);
  if (text) /* a body may carry token values (tessera scan --report) */
    OPENSSL_cleanse(text, strlen(text));
  free(text);
  if (rc != CURLE_OK) {
    snprintf(reply->message, sizeof reply->message, "cannot reach %.300s: %s", t->url,
             b.too_big ? "the answer is too large" : curl_easy_strerror(rc));
    free(b.data);
    return 1;
  }
  reply->body = b.data ? json_loads(b.data, 0, NULL) : NULL;
  free(b.data);
  if (reply->status >= 200 && reply->status < 300)
    return 0;
  const char *message = json_string_value(json_object_get(reply->body, "message"));
  snprintf(reply->message, sizeof reply->message, "%s",
           message ? message : "the server answered with an error");
  return 1;
}

int cli_credentials_path(char *out, size_t size) {
  const char *xdg = getenv("XDG_CONFIG_HOME");
  const char *home = getenv("HOME");
  if (xdg && xdg[0] == '/')
    snprintf(out, size, "%s/tessera/credentials.json", xdg);
  else if (home && home[0])
    snprintf(out, size, "%s/.config/tessera/credentials.json", home);
  else
    return 1;
  return 0;
}

bool cli_credentials_load(struct cli_target *out) {
  char path[4096];
  if (cli_credentials_path(path, sizeof path))
    return false;
  json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
  const char *url = json_string_value(json_object_get(j, "url"));
  const char *token = json_string_value(json_object_get(j, "token"));
  bool ok = url && token && strlen(url) <= CLI_URL_MAX && strlen(token) <= CLI_TOKEN_MAX;
  if (ok) {
    snprintf(out->url, sizeof out->url, "%s", url);
    snprintf(out->token, sizeof out->token, "%s", token);
  }
  json_decref(j);
  return ok;
}

/* mkdir -p of the directory holding path, each level made 0700. */
static int make_dirs(const char *path) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash)
    return 1;
  *slash = '\0';
  for (char *p = dir + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
      return 1;
    *p = '/';
  }
  return mkdir(dir, 0700) != 0 && errno != EEXIST;
}

int cli_credentials_save(const struct cli_target *t) {
  char path[4096], tmp[4200];
  if (cli_credentials_path(path, sizeof path) || make_dirs(path))
    return 1;
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  json_t *j = json_pack("{s:s, s:s}", "url", t->url, "token", t->token);
  char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
  json_decref(j);
  /* Created 0600 before anything is written, then renamed over the old file: never readable by
   * others, never half written. */
  int fd = text ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
  bool ok = fd >= 0 && fchmod(fd, 0600) == 0 &&
            write(fd, text, strlen(text)) == (ssize_t)strlen(text) && write(fd, "\n", 1) == 1 &&
            fsync(fd) == 0;
  if (fd >= 0)
    ok = close(fd) == 0 && ok;
  ok = ok && rename(tmp, path) == 0;
  if (!ok)
    unlink(tmp);
  free(text);
  return ok ? 0 : 1;
}

int cli_credentials_remove(void) {
  char path[4096];
  if (cli_credentials_path(path, sizeof path))
    return 0;
  return unlink(path) != 0 && errno != ENOENT;
}

void cli_target_resolve(struct cli_target *out) {
  struct cli_target saved = {0};
  bool have_saved = cli_credentials_load(&saved);
  const char *url = getenv("TESSERA_URL");
  if (!url || !*url)
    url = getenv("PULUMI_BACKEND_URL");
  const char *token = getenv("TESSERA_TOKEN");
  if (!token || !*token)
    token = getenv("PULUMI_ACCESS_TOKEN");
  snprintf(out->url, sizeof out->url, "%s",
           url && *url  ? url
           : have_saved ? saved.url
                        : DEFAULT_URL);
  snprintf(out->token, sizeof out->token, "%s",
           token && *token ? token
           : have_saved    ? saved.token
                           : "");
}
