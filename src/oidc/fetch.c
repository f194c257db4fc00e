#include "oidc/fetch.h"

#include "core/error.h"
#include "core/growbuf.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

static bool is_loopback(const char *host) {
  return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0 ||
         strcasecmp(host, "localhost") == 0;
}

bool oidc_url_allowed(const char *url, bool allow_http) {
  CURLU *u = curl_url();
  if (!u)
    abort();
  char *scheme = NULL, *host = NULL, *user = NULL;
  bool ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_NO_USER;
  curl_free(user);
  if (ok)
    ok = strcmp(scheme, "https") == 0 ||
         (allow_http && strcmp(scheme, "http") == 0 && is_loopback(host));
  curl_free(scheme);
  curl_free(host);
  curl_url_cleanup(u);
  return ok;
}

static void hex(const unsigned char *md, unsigned int n, char *out) {
  for (unsigned int i = 0; i < n; i++)
    snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Digests of the leaf certificate libcurl saw (CURLOPT_CERTINFO gives it as PEM text). */
static void leaf_thumbprints(CURL *curl, struct oidc_thumbprints *out) {
  memset(out, 0, sizeof *out);
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
      hex(md, n, out->sha256);
    if (cert && X509_digest(cert, EVP_sha1(), md, &n) && n == 20)
      hex(md, n, out->sha1);
    X509_free(cert);
    BIO_free(bio);
    return;
  }
}

/* Refuses, at connect time (after DNS, so rebinding cannot dodge it), addresses an issuer has no
 * business at: loopback, link-local (169.254.169.254 is the cloud metadata service), unspecified
 * and multicast. Private networks stay allowed: self-hosted issuers live there. */
static bool address_blocked(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET) {
    uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
    return (a >> 24) == 127 || (a >> 24) == 0 || (a >> 16) == 0xa9fe || (a >> 28) == 0xe ||
           a == 0xffffffffu;
  }
  if (sa->sa_family != AF_INET6)
    return true;
  const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
  if (IN6_IS_ADDR_V4MAPPED(a)) {
    struct sockaddr_in v4 = {.sin_family = AF_INET};
    memcpy(&v4.sin_addr, &a->s6_addr[12], 4);
    return address_blocked((const struct sockaddr *)&v4);
  }
  return IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LINKLOCAL(a) ||
         IN6_IS_ADDR_MULTICAST(a);
}

static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *address) {
  const struct oidc_fetch_policy *policy = arg;
  (void)purpose;
  if (!policy->allow_http && address_blocked(&address->addr))
    return CURL_SOCKET_BAD;
  return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

int oidc_fetch(const struct oidc_fetch_policy *policy, const char *url, char **body, size_t *len,
               struct oidc_thumbprints *seen, char *why, size_t why_size) {
  bool allow_http = policy->allow_http;
  memset(seen, 0, sizeof *seen);
  if (!oidc_url_allowed(url, allow_http)) {
    snprintf(why, why_size, "%s",
             "issuer URLs must use https:// and carry no user name or password");
    return TE_BAD_REQUEST;
  }
  CURL *curl = curl_easy_init();
  if (!curl)
    abort();
  struct growbuf sink = {.max = OIDC_FETCH_MAX_BYTES};
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, allow_http ? "https,http" : "https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 3L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 5L);
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, (void *)policy);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* worker threads: no SIGALRM for timeouts */
  curl_easy_setopt(curl, CURLOPT_MAXFILESIZE, (long)OIDC_FETCH_MAX_BYTES);
  curl_easy_setopt(curl, CURLOPT_CERTINFO, 1L);
  if (policy->ca_file)
    curl_easy_setopt(curl, CURLOPT_CAINFO, policy->ca_file);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "tessera-oidc/1");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, growbuf_append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  bool https = strncmp(url, "https:", 6) == 0;
  if (rc == CURLE_OK && status == 200 && https)
    leaf_thumbprints(curl, seen);
  curl_easy_cleanup(curl);
  if (rc == CURLE_OK && status == 200 && https && !seen->sha256[0]) {
    /* Without the certificate there is nothing to pin: refuse rather than skip the check. */
    snprintf(why, why_size, "cannot read the TLS certificate of %s", url);
    free(sink.data);
    return TE_BAD_REQUEST;
  }
  if (rc != CURLE_OK || status != 200 || !sink.data) {
    if (sink.too_big || rc == CURLE_FILESIZE_EXCEEDED)
      snprintf(why, why_size, "%s answered with more than %d bytes", url, OIDC_FETCH_MAX_BYTES);
    else if (rc != CURLE_OK) {
      snprintf(why, why_size,
               "cannot fetch %s: the issuer could not be reached, or its TLS certificate is not "
               "trusted",
               url);
      fprintf(stderr, "tessera: fetching %s failed: %s\n", url, curl_easy_strerror(rc));
    } else
      snprintf(why, why_size, "%s answered HTTP %ld, not 200", url, status);
    free(sink.data);
    return TE_BAD_REQUEST;
  }
  *body = sink.data;
  *len = sink.len;
  return TE_OK;
}
