#include "oidc/fetch.h"

#include "core/error.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct sink {
  char *data;
  size_t len;
  bool too_big;
};

static size_t collect(char *chunk, size_t size, size_t count, void *arg) {
  struct sink *s = arg;
  size_t n = size * count;
  if (s->len + n > OIDC_FETCH_MAX_BYTES) {
    s->too_big = true;
    return 0; /* makes libcurl stop with CURLE_WRITE_ERROR */
  }
  char *grown = realloc(s->data, s->len + n + 1);
  if (!grown)
    abort();
  s->data = grown;
  memcpy(s->data + s->len, chunk, n);
  s->len += n;
  s->data[s->len] = '\0';
  return n;
}

static bool is_loopback(const char *host) {
  return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0 ||
         strcasecmp(host, "localhost") == 0;
}

bool oidc_url_allowed(const char *url, bool allow_http) {
  CURLU *u = curl_url();
  if (!u)
    abort();
  char *scheme = NULL, *host = NULL;
  bool ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK;
  if (ok)
    ok = strcmp(scheme, "https") == 0 ||
         (allow_http && strcmp(scheme, "http") == 0 && is_loopback(host));
  curl_free(scheme);
  curl_free(host);
  curl_url_cleanup(u);
  return ok;
}

/* SHA-256 of the leaf certificate libcurl saw (CURLOPT_CERTINFO gives it as PEM text). */
static void leaf_thumbprint(CURL *curl, char out[OIDC_THUMBPRINT_LEN + 1]) {
  out[0] = '\0';
  struct curl_certinfo *info = NULL;
  if (curl_easy_getinfo(curl, CURLINFO_CERTINFO, &info) != CURLE_OK || !info ||
      info->num_of_certs < 1)
    return;
  for (struct curl_slist *f = info->certinfo[0]; f; f = f->next) {
    if (strncmp(f->data, "Cert:", 5) != 0)
      continue;
    BIO *bio = BIO_new_mem_buf(f->data + 5, -1);
    X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (cert && X509_digest(cert, EVP_sha256(), md, &n) && n == 32)
      for (unsigned int i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    X509_free(cert);
    BIO_free(bio);
    return;
  }
}

int oidc_fetch(const struct oidc_fetch_policy *policy, const char *url, char **body, size_t *len,
               char thumbprint[OIDC_THUMBPRINT_LEN + 1], char *why, size_t why_size) {
  bool allow_http = policy->allow_http;
  thumbprint[0] = '\0';
  if (!oidc_url_allowed(url, allow_http)) {
    snprintf(why, why_size, "%s", "issuer URLs must use https://");
    return TE_BAD_REQUEST;
  }
  CURL *curl = curl_easy_init();
  if (!curl)
    abort();
  struct sink sink = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, allow_http ? "https,http" : "https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 5L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* worker threads: no SIGALRM for timeouts */
  curl_easy_setopt(curl, CURLOPT_MAXFILESIZE, (long)OIDC_FETCH_MAX_BYTES);
  curl_easy_setopt(curl, CURLOPT_CERTINFO, 1L);
  if (policy->ca_file)
    curl_easy_setopt(curl, CURLOPT_CAINFO, policy->ca_file);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "tessera-oidc/1");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (rc == CURLE_OK && status == 200 && strncmp(url, "https:", 6) == 0)
    leaf_thumbprint(curl, thumbprint);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK || status != 200 || !sink.data) {
    if (sink.too_big || rc == CURLE_FILESIZE_EXCEEDED)
      snprintf(why, why_size, "%s answered with more than %d bytes", url, OIDC_FETCH_MAX_BYTES);
    else if (rc != CURLE_OK)
      snprintf(why, why_size, "cannot fetch %s: %s", url, curl_easy_strerror(rc));
    else
      snprintf(why, why_size, "%s answered HTTP %ld, not 200", url, status);
    free(sink.data);
    return TE_BAD_REQUEST;
  }
  *body = sink.data;
  *len = sink.len;
  return TE_OK;
}
