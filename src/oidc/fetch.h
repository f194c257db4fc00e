#ifndef TESSERA_OIDC_FETCH_H
#define TESSERA_OIDC_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define OIDC_FETCH_MAX_BYTES (64 * 1024)
#define OIDC_THUMBPRINT_LEN 64 /* SHA-256, lower-case hex */
#define OIDC_THUMBPRINT_SHA1_LEN 40

/* The server certificate a fetch saw, as lower-case hex digests ("" for plain HTTP). */
struct oidc_thumbprints {
  char sha256[OIDC_THUMBPRINT_LEN + 1];
  char sha1[OIDC_THUMBPRINT_SHA1_LEN + 1]; /* what Pulumi's spec calls thumbprints */
};

/* Where issuer documents may come from. */
struct oidc_fetch_policy {
  bool allow_http;     /* plain HTTP to loopback hosts (tests only) */
  bool allow_loopback; /* HTTPS to loopback addresses (tests only) */
  const char *ca_file; /* trust these CA certificates instead of the system's; NULL: the system's */
};

/* GETs an OIDC document (discovery or JWKS) with libcurl: HTTPS only, with certificate
 * verification, never to a loopback, link-local (cloud metadata), unspecified or multicast
 * address, in any IPv6 form either (for tests: plain HTTP to loopback with allow_http, HTTPS to
 * loopback with allow_loopback), no redirects, 3 s to connect and 5 s in all, at most
 * OIDC_FETCH_MAX_BYTES. On success *body is the malloc'd, NUL-terminated body and *seen the server
 * certificate's digests. Otherwise TE_BAD_REQUEST with a sentence in why for the server's log: it
 * may tell a closed port from a refused certificate, so it is never shown to clients
 * (registering issuers must not become a way to scan the server's network). */
int oidc_fetch(const struct oidc_fetch_policy *policy, const char *url, char **body, size_t *len,
               struct oidc_thumbprints *seen, char *why, size_t why_size);

/* True when url may be fetched at all: https:// without user:password@, or http:// to 127.0.0.1,
 * ::1 or localhost when allow_http. */
bool oidc_url_allowed(const char *url, bool allow_http);

/* The same for an issuer's own URL, which as its "iss" may carry no query or fragment either
 * (OpenID Connect Discovery 1.0 §2). */
bool oidc_issuer_url_allowed(const char *url, bool allow_http);

/* Whether fetches refuse to connect to the address (exposed for tests). */
bool oidc_address_blocked(const struct sockaddr *address);

#endif
