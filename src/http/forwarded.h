#ifndef TESSERA_HTTP_FORWARDED_H
#define TESSERA_HTTP_FORWARDED_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Who the client is when Tessera sits behind proxies it trusts (--trusted-proxy CIDR): the peer
 * is then a proxy, and each proxy appends the address it got the request from to
 * X-Forwarded-For. Walking that list from the right, past every trusted proxy, the first address
 * that is not one is the client; what lies further left was written by the client itself and is
 * never believed. Without trusted proxies, or when the peer is not one, X-Forwarded-For is
 * ignored: anyone can send it. */

#define TRUSTED_PROXIES_MAX 16

struct cidr {
  int family; /* AF_INET or AF_INET6 */
  unsigned char addr[16];
  int prefix; /* bits */
};

/* "10.0.0.0/8", "fd00::/8", or one address ("127.0.0.1", "::1"). Host bits must be zero.
 * Returns 0 or TE_BAD_REQUEST. */
int cidr_parse(const char *text, struct cidr *out);

bool cidr_contains(const struct cidr *cidr, const struct sockaddr *addr);

/* The client's address as text into out: the peer's, or the one found in the X-Forwarded-For
 * values (each a comma-separated list, in the order the fields arrived) as described above. */
void forwarded_client(const struct cidr *trusted, int trusted_count, const struct sockaddr *peer,
                      const char *const *forwarded_for, int values, char *out, size_t size);

#endif
