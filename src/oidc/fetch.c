#include "oidc/fetch.h"

#include "core/error.h"
#include "core/growbuf.h"
#include "core/token.h"

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

/* The URL's scheme is allowed (https, or http to a loopback host with allow_http), it names no
 * user or password, and, with strict, has no query or fragment. */
static bool url_ok(const char *url, bool allow_http, bool strict) {
  CURLU *u = curl_url();
  if (!u)
    abort();
  char *scheme = NULL, *host = NULL, *user = NULL, *query = NULL, *fragment = NULL;
  bool ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_NO_USER &&
            (!strict || (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_NO_QUERY &&
                         curl_url_get(u, CURLUPART_FRAGMENT, &fragment, 0) == CURLUE_NO_FRAGMENT &&
                         !strchr(url, '?') && !strchr(url, '#')));
  curl_free(user);
  curl_free(query);
  curl_free(fragment);
  if (ok)
    ok = strcmp(scheme, "https") == 0 ||
         (allow_http && strcmp(scheme, "http") == 0 && is_loopback(host));
  curl_free(scheme);
  curl_free(host);
  curl_url_cleanup(u);
  return ok;
}

bool oidc_url_allowed(const char *url, bool allow_http) {
  return url_ok(url, allow_http, false);
}

bool oidc_issuer_url_allowed(const char *url, bool allow_http) {
  return url_ok(url, allow_http, true);
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
      token_hex(md, n, out->sha256);
    if (cert && X509_digest(cert, EVP_sha1(), md, &n) && n == 20)
      token_hex(md, n, out->sha1);
    X509_free(cert);
    BIO_free(bio);
    return;
  }
}

static bool v4_blocked(const unsigned char b[4]) {
  uint32_t a = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
  return (a >> 24) == 127 || (a >> 24) == 0 || (a >> 16) == 0xa9fe || (a >> 28) == 0xe ||
         a == 0xffffffffu;
}

/* An IPv4 address carried inside an IPv6 one, which a host may reach as that IPv4 address:
 * IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d, deprecated but routed by some
 * stacks), NAT64 (64:ff9b::/96 and the local-use 64:ff9b:1::/48) and 6to4 (2002:aabb:ccdd::/48).
 * NULL for none. */
static const unsigned char *embedded_v4(const struct in6_addr *a) {
  static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};
  static const unsigned char nat64_local[6] = {0, 0x64, 0xff, 0x9b, 0, 1};
  const unsigned char *s = a->s6_addr;
  bool zero_head = memcmp(s, (const unsigned char[12]){0}, 12) == 0;
  if (IN6_IS_ADDR_V4MAPPED(a) ||
      (zero_head && !IN6_IS_ADDR_UNSPECIFIED(a) && !IN6_IS_ADDR_LOOPBACK(a)))
    return s + 12;
  if (memcmp(s, nat64, 12) == 0 || memcmp(s, nat64_local, 6) == 0)
    return s + 12;
  if (s[0] == 0x20 && s[1] == 0x02)
    return s + 2;
  return NULL;
}

static bool is_loopback_address(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET)
    return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
  const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
  return sa->sa_family == AF_INET6 &&
         (IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127));
}

/* Refuses, at connect time (after DNS, so rebinding cannot dodge it), addresses an issuer has no
 * business at: loopback, link-local (169.254.169.254 is the cloud metadata service), unspecified
 * and multicast, in IPv4 and IPv6 and every IPv6 form that carries an IPv4 address. Private
 * networks stay allowed: self-hosted issuers live there. */
static bool address_blocked(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET)
    return v4_blocked((const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr);
  if (sa->sa_family != AF_INET6)
    return true;
  const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
  const unsigned char *v4 = embedded_v4(a);
  if (v4 && v4_blocked(v4))
    return true;
  return IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LINKLOCAL(a) ||
         IN6_IS_ADDR_MULTICAST(a);
}

/* One fetch: the policy, and whether it goes over plain HTTP (which the tests' policy allows to
 * loopback only). */
struct fetch_target {
  const struct oidc_fetch_policy *policy;
  bool http;
};

static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *address) {
  const struct fetch_target *t = arg;
  (void)purpose;
  /* The test switches open loopback only, each for its own scheme: neither lets an https URL
   * reach the metadata service or another blocked range. */
  bool loopback_ok = is_loopback_address(&address->addr) &&
                     (t->http ? t->policy->allow_http : t->policy->allow_loopback);
  if (address_blocked(&address->addr) && !loopback_ok)
    return CURL_SOCKET_BAD;
  return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

bool oidc_address_blocked(const struct sockaddr *address) {
  return address_blocked(address);
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
  struct fetch_target target = {policy, strncmp(url, "http:", 5) == 0};
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, allow_http ? "https,http" : "https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 3L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 5L);
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &target);
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
