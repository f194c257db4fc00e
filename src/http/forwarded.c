#include "http/forwarded.h"

#include "core/error.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char *address_bytes(const struct sockaddr *sa, int *family) {
  *family = sa->sa_family;
  if (sa->sa_family == AF_INET)
    return (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
  if (sa->sa_family == AF_INET6)
    return ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
  return NULL;
}

static bool prefix_matches(const unsigned char *a, const unsigned char *b, int bits) {
  int whole = bits / 8, rest = bits % 8;
  if (memcmp(a, b, (size_t)whole) != 0)
    return false;
  unsigned char mask = (unsigned char)(0xff << (8 - rest));
  return rest == 0 || (a[whole] & mask) == (b[whole] & mask);
}

int cidr_parse(const char *text, struct cidr *out) {
  char host[64];
  const char *slash = strchr(text, '/');
  size_t len = slash ? (size_t)(slash - text) : strlen(text);
  if (len == 0 || len >= sizeof host)
    return TE_BAD_REQUEST;
  memcpy(host, text, len);
  host[len] = '\0';
  memset(out, 0, sizeof *out);
  if (inet_pton(AF_INET, host, out->addr) == 1)
    out->family = AF_INET;
  else if (inet_pton(AF_INET6, host, out->addr) == 1)
    out->family = AF_INET6;
  else
    return TE_BAD_REQUEST;
  int max = out->family == AF_INET ? 32 : 128;
  out->prefix = max;
  if (slash) {
    char *end;
    long bits = strtol(slash + 1, &end, 10);
    if (!slash[1] || *end || bits < 0 || bits > max)
      return TE_BAD_REQUEST;
    out->prefix = (int)bits;
  }
  /* 10.1.2.3/8 is almost always a typo for 10.0.0.0/8 or 10.1.2.3/32: refuse to guess. */
  for (int i = 0; i < max / 8; i++) {
    int keep = out->prefix - i * 8; /* network bits in this byte */
    unsigned char mask = keep >= 8 ? 0xff : keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
    if (out->addr[i] & (unsigned char)~mask)
      return TE_BAD_REQUEST;
  }
  return TE_OK;
}

bool cidr_contains(const struct cidr *cidr, const struct sockaddr *addr) {
  int family;
  const unsigned char *bytes = address_bytes(addr, &family);
  if (!bytes)
    return false;
  /* An IPv4 peer on an IPv6 socket arrives as ::ffff:a.b.c.d. */
  if (family == AF_INET6 && cidr->family == AF_INET &&
      IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)bytes))
    return prefix_matches(bytes + 12, cidr->addr, cidr->prefix);
  return family == cidr->family && prefix_matches(bytes, cidr->addr, cidr->prefix);
}

static bool trusted_address(const struct cidr *trusted, int count, const struct sockaddr *a) {
  for (int i = 0; i < count; i++)
    if (cidr_contains(&trusted[i], a))
      return true;
  return false;
}

static void address_text(const struct sockaddr *sa, char *out, size_t size) {
  int family;
  const unsigned char *bytes = address_bytes(sa, &family);
  out[0] = '\0';
  if (bytes)
    inet_ntop(family, bytes, out, (socklen_t)size);
}

/* One X-Forwarded-For item as an address: "a.b.c.d", "a.b.c.d:port", "v6", "[v6]" or "[v6]:port".
 */
static bool parse_hop(const char *item, size_t len, struct sockaddr_storage *out) {
  char text[64];
  while (len && (*item == ' ' || *item == '\t'))
    item++, len--;
  while (len && (item[len - 1] == ' ' || item[len - 1] == '\t'))
    len--;
  if (len == 0 || len >= sizeof text)
    return false;
  memcpy(text, item, len);
  text[len] = '\0';
  char *host = text;
  if (host[0] == '[') {
    char *close = strchr(host, ']');
    if (!close)
      return false;
    *close = '\0';
    host++;
  } else if (strchr(host, '.') && strchr(host, ':')) {
    *strchr(host, ':') = '\0'; /* IPv4 with a port */
  }
  memset(out, 0, sizeof *out);
  struct sockaddr_in *v4 = (struct sockaddr_in *)out;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    return true;
  }
  return false;
}

void forwarded_client(const struct cidr *trusted, int trusted_count, const struct sockaddr *peer,
                      const char *const *forwarded_for, int values, char *out, size_t size) {
  address_text(peer, out, size);
  if (!trusted_count || !trusted_address(trusted, trusted_count, peer))
    return;
  /* From the rightmost item of the last field leftwards. */
  for (int v = values - 1; v >= 0; v--) {
    const char *list = forwarded_for[v];
    size_t end = strlen(list);
    for (;;) {
      size_t start = end;
      while (start > 0 && list[start - 1] != ',')
        start--;
      struct sockaddr_storage hop;
      if (!parse_hop(list + start, end - start, &hop))
        return; /* the nearest proxy wrote junk: the client is the last one we could read */
      address_text((const struct sockaddr *)&hop, out, size);
      if (!trusted_address(trusted, trusted_count, (const struct sockaddr *)&hop))
        return;
      if (start == 0)
        break;
      end = start - 1;
    }
  }
}
