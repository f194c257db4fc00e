#ifndef TESSERA_OIDC_FETCH_H
#define TESSERA_OIDC_FETCH_H

#include <stdbool.h>
#include <stddef.h>

#define OIDC_FETCH_MAX_BYTES (64 * 1024)
#define OIDC_THUMBPRINT_LEN 64 /* SHA-256, lower-case hex */

/* Where issuer documents may come from. */
struct oidc_fetch_policy {
  bool allow_http;     /* plain HTTP to a loopback host (tests only) */
  const char *ca_file; /* trust these CA certificates instead of the system's; NULL: the system's */
};

/* GETs an OIDC document (discovery or JWKS) with libcurl: HTTPS only, with certificate
 * verification (plain HTTP only to a loopback host, and only when policy->allow_http), no
 * redirects, 5 s to connect and 10 s in all, at most OIDC_FETCH_MAX_BYTES. On success *body is the
 * malloc'd, NUL-terminated body and, for HTTPS, thumbprint holds the SHA-256 of the server's leaf
 * certificate ("" for HTTP). Otherwise TE_BAD_REQUEST with a sentence in why (never the body). */
int oidc_fetch(const struct oidc_fetch_policy *policy, const char *url, char **body, size_t *len,
               char thumbprint[OIDC_THUMBPRINT_LEN + 1], char *why, size_t why_size);

/* True when url may be fetched at all: https://, or http:// to 127.0.0.1, ::1 or localhost when
 * allow_http. */
bool oidc_url_allowed(const char *url, bool allow_http);

#endif
