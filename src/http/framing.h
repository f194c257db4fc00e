#ifndef TESSERA_HTTP_FRAMING_H
#define TESSERA_HTTP_FRAMING_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

/* Strict HTTP/1.1 message framing (RFC 9112 §2.2, §3, §5, §6) on top of libmicrohttpd 0.9.75,
 * which is lenient where a proxy in front of us may not be: it lets the first of two
 * Content-Length headers win, ignores "Transfer-Encoding " with a space before the colon, reads an
 * unknown transfer coding until the timeout, truncates a header value at a NUL and joins folded
 * lines. Any such difference lets a request be framed one way by the proxy and another way here
 * (request smuggling), so every ambiguity is refused, and the connection closed, before the body
 * is read. */

#define QUERY_PARAMS_MAX 32  /* query parameters of one request; the API uses at most six */
#define HEADER_FIELDS_MAX 96 /* header lines of one request; browsers send about twenty */

/* What the request line looked like as sent, before libmicrohttpd split and decoded it. */
struct framing_uri {
  const char *start; /* the URI inside libmicrohttpd's read buffer */
  size_t len;
  bool bad_bytes;       /* a byte no URI may hold: space, a control, DEL or non-ASCII */
  bool hides_bytes;     /* the path has an encoded NUL or '/', which routing would not see */
  bool too_many_params; /* more than QUERY_PARAMS_MAX: the query was cut, see framing_scan_uri */
  bool nul_in_query;    /* an encoded NUL in the query: its value would be read cut short */
};

/* Called with the URI exactly as sent (MHD's URI log callback). A query of more than
 * QUERY_PARAMS_MAX parameters is cut off in place before libmicrohttpd parses it: each parameter
 * costs a record in the connection's fixed memory pool, and running out of it there drops the
 * connection without an answer. The request is then refused with 414 instead. */
void framing_scan_uri(char *uri, struct framing_uri *out);

/* Checks the whole request head once libmicrohttpd has parsed it (the first access-handler call:
 * method and version point into its read buffer). Returns 0, or TE_BAD_REQUEST or
 * TE_NOT_IMPLEMENTED (an unknown transfer coding) with a sentence in detail. Checked: the request
 * line and header lines hide no bytes (NUL) and are not folded; header names are tokens; values
 * hold no control characters but tab; one Content-Length at most, never beside Transfer-Encoding;
 * the only transfer coding is a single "chunked", and none in HTTP/1.0; Host present in HTTP/1.1
 * and never repeated, nor Authorization or Content-Type. */
struct framing_headers {
  size_t bytes; /* names and values, with ": " and CRLF */
  int fields;
};

/* headers receives what the header lines came to (whatever the result), for the size limits. */
int framing_check_head(struct MHD_Connection *conn, const char *method, const char *version,
                       const struct framing_uri *uri, struct framing_headers *headers, char *detail,
                       size_t size);

#endif
