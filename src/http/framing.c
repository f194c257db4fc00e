#include "http/framing.h"

#include "core/error.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_"
 * / "`" / "|" / "~" / DIGIT / ALPHA. A table: every header name of every request is checked. */
#define T(c) [c] = true
static const bool tchar[256] = {
    T('!'), T('#'), T('$'), T('%'), T('&'), T('\''), T('*'), T('+'), T('-'), T('.'), T('^'),
    T('_'), T('`'), T('|'), T('~'), T('0'), T('1'),  T('2'), T('3'), T('4'), T('5'), T('6'),
    T('7'), T('8'), T('9'), T('A'), T('B'), T('C'),  T('D'), T('E'), T('F'), T('G'), T('H'),
    T('I'), T('J'), T('K'), T('L'), T('M'), T('N'),  T('O'), T('P'), T('Q'), T('R'), T('S'),
    T('T'), T('U'), T('V'), T('W'), T('X'), T('Y'),  T('Z'), T('a'), T('b'), T('c'), T('d'),
    T('e'), T('f'), T('g'), T('h'), T('i'), T('j'),  T('k'), T('l'), T('m'), T('n'), T('o'),
    T('p'), T('q'), T('r'), T('s'), T('t'), T('u'),  T('v'), T('w'), T('x'), T('y'), T('z'),
};
#undef T

static bool is_token(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (!tchar[(unsigned char)s[i]])
      return false;
  return len > 0;
}

void framing_scan_uri(char *uri, struct framing_uri *out) {
  *out = (struct framing_uri){.start = uri, .len = strlen(uri)};
  int params = 0;
  char *query = NULL;
  for (char *p = uri; *p; p++) {
    unsigned char c = (unsigned char)*p;
    /* RFC 3986 allows only visible ASCII; clients percent-encode everything else. */
    if (c <= 0x20 || c >= 0x7f)
      out->bad_bytes = true;
    if (c == '?' && !query)
      query = p;
    else if (query && c == '&')
      params++;
    /* libmicrohttpd decodes the path before we route it, so "%00" would silently cut a name
     * short and "%2F" would add a segment, each seen differently by any proxy in front of us. */
    else if (!query && c == '%' && p[1] && p[2] &&
             ((p[1] == '0' && p[2] == '0') || (p[1] == '2' && (p[2] == 'f' || p[2] == 'F'))))
      out->hides_bytes = true;
    /* A query value is read as a C string: "a%00b" would pass every check as "a". */
    else if (query && c == '%' && p[1] == '0' && p[2] == '0')
      out->nul_in_query = true;
  }
  if (query && query[1])
    params++; /* the first parameter has no '&' before it */
  if (params > QUERY_PARAMS_MAX) {
    out->too_many_params = true;
    /* The URI is libmicrohttpd's own buffer, writable (the callback's const is its promise, not
     * the memory's): an empty query leaves it nothing to parse. */
    query[1] = '\0';
  }
}

/* What the header lines held that framing depends on. */
struct head_scan {
  const char *end;      /* one past the head in libmicrohttpd's buffer */
  const char *next;     /* where the next line's content ends up: the previous one's end */
  bool malformed;       /* a line hides bytes, is folded, or is not where it must be */
  const char *bad_name; /* the first header whose name is not a token (not shown: may be junk) */
  bool bad_value;
  struct framing_headers totals;
  int content_length, transfer_encoding, host, authorization, content_type;
  const char *coding; /* the only Transfer-Encoding value, as libmicrohttpd reads it */
  size_t coding_len;
  int chunked, empty_coding;
  char unknown_coding[32]; /* the first coding we do not implement */
};

/* libmicrohttpd ends each line in place, turning its CRLF (or bare LF) into one or two NULs: the
 * next line must begin right after them, else bytes were hidden behind a NUL, or the line was
 * folded and copied elsewhere. */
static bool line_follows(const char *content_end, const char *next, const char *end) {
  size_t gap = (size_t)(next - content_end);
  if (next <= content_end || next > end || gap > 2)
    return false;
  for (size_t i = 0; i < gap; i++)
    if (content_end[i] != '\0')
      return false;
  return true;
}

static bool value_is_clean(const char *value, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)value[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f) /* CR, NUL, LF, ESC, ...: RFC 9110 §5.5 */
      return false;
  }
  return true;
}

static bool named(const char *key, size_t len, const char *name) {
  return len == strlen(name) && strncasecmp(key, name, len) == 0;
}

/* Splits a Transfer-Encoding value at commas (RFC 9110 §5.6.1 lists) and sorts its codings. */
static void note_codings(struct head_scan *s, const char *value, size_t len) {
  const char *p = value, *stop = value + len;
  while (p <= stop) {
    const char *comma = memchr(p, ',', (size_t)(stop - p));
    const char *item_end = comma ? comma : stop;
    const char *a = p, *b = item_end;
    while (a < b && (*a == ' ' || *a == '\t'))
      a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
      b--;
    if (a == b)
      s->empty_coding++;
    else if (named(a, (size_t)(b - a), "chunked"))
      s->chunked++;
    else if (!s->unknown_coding[0])
      snprintf(s->unknown_coding, sizeof s->unknown_coding, "%.*s",
               (int)((size_t)(b - a) < 24 ? (size_t)(b - a) : 24), a);
    p = item_end + 1;
  }
}

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   size_t key_size, const char *value, size_t value_size) {
  (void)kind;
  struct head_scan *s = cls;
  s->totals.fields++;
  s->totals.bytes += key_size + value_size + 4;
  /* The line: the name, the NUL that was its colon, blanks, the value (see process_header_line
   * in libmicrohttpd's connection.c). */
  if (!line_follows(s->next, key, s->end) || !value || value < key + key_size + 1 ||
      value + value_size > s->end || key[key_size] != '\0') {
    s->malformed = true;
    return MHD_NO;
  }
  for (const char *p = key + key_size + 1; p < value; p++)
    if (*p != ' ' && *p != '\t')
      s->malformed = true;
  s->next = value + value_size;
  if (!is_token(key, key_size) && !s->bad_name)
    s->bad_name = key;
  if (!value_is_clean(value, value_size))
    s->bad_value = true;
  if (named(key, key_size, MHD_HTTP_HEADER_CONTENT_LENGTH))
    s->content_length++;
  else if (named(key, key_size, MHD_HTTP_HEADER_HOST))
    s->host++;
  else if (named(key, key_size, MHD_HTTP_HEADER_AUTHORIZATION))
    s->authorization++;
  else if (named(key, key_size, MHD_HTTP_HEADER_CONTENT_TYPE))
    s->content_type++;
  else if (named(key, key_size, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
    s->transfer_encoding++;
    s->coding = value;
    s->coding_len = value_size;
    note_codings(s, value, value_size);
  }
  return s->malformed ? MHD_NO : MHD_YES;
}

static int refuse(char *detail, size_t size, int rc, const char *why) {
  snprintf(detail, size, "%s", why);
  return rc;
}

/* The request line, "METHOD SP URI SP VERSION", must sit whole at the start of the head. */
static bool request_line_ok(const char *method, const char *version,
                            const struct framing_uri *uri) {
  size_t method_len = strlen(method);
  return is_token(method, method_len) && uri->start == method + method_len + 1 &&
         version == uri->start + uri->len + 1;
}

static int check_transfer_coding(const struct head_scan *s, bool http10, char *detail,
                                 size_t size) {
  if (http10)
    return refuse(detail, size, TE_BAD_REQUEST,
                  "HTTP/1.0 has no Transfer-Encoding; send the body with Content-Length.");
  if (s->content_length)
    return refuse(detail, size, TE_BAD_REQUEST,
                  "a request may not carry both Content-Length and Transfer-Encoding.");
  if (s->unknown_coding[0]) {
    snprintf(detail, size,
             "transfer coding \"%s\" is not supported; send the body with Content-Length or as "
             "one \"chunked\" coding.",
             s->unknown_coding);
    return TE_NOT_IMPLEMENTED;
  }
  /* libmicrohttpd takes the body as chunked only when the one value is exactly "chunked". */
  if (s->transfer_encoding != 1 || s->chunked != 1 || s->empty_coding ||
      !named(s->coding, s->coding_len, "chunked"))
    return refuse(detail, size, TE_BAD_REQUEST,
                  "Transfer-Encoding must be exactly one \"chunked\" coding.");
  return TE_OK;
}

int framing_check_head(struct MHD_Connection *conn, const char *method, const char *version,
                       const struct framing_uri *uri, struct framing_headers *headers, char *detail,
                       size_t size) {
  const union MHD_ConnectionInfo *info =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
  struct head_scan s = {.end = method + (info ? info->header_size : 0),
                        .next = version + strlen(version)};
  MHD_get_connection_values_n(conn, MHD_HEADER_KIND, scan_header, &s);
  *headers = s.totals;
  if (!info || !request_line_ok(method, version, uri))
    return refuse(detail, size, TE_BAD_REQUEST,
                  "the request line must be METHOD, one space, the URI, one space, the version, "
                  "with no NUL.");
  /* After the last line: its end of line, then the empty line's (each one or two NULs). */
  size_t tail = (size_t)(s.end - s.next);
  bool tail_ok = s.next < s.end && tail >= 2 && tail <= 4;
  for (size_t i = 0; tail_ok && i < tail; i++)
    tail_ok = s.next[i] == '\0';
  if (s.malformed || !tail_ok)
    return refuse(detail, size, TE_BAD_REQUEST,
                  "a header line hides a NUL, is folded onto several lines (obsolete since RFC "
                  "7230), or is malformed.");
  if (s.bad_name)
    return refuse(detail, size, TE_BAD_REQUEST,
                  "a header name holds a space or another byte not allowed in a token (RFC 9110 "
                  "5.6.2); no space may come before the colon.");
  if (s.bad_value)
    return refuse(detail, size, TE_BAD_REQUEST,
                  "a header value holds a CR, NUL or other control character.");
  if (s.content_length > 1)
    return refuse(detail, size, TE_BAD_REQUEST, "Content-Length may be given only once.");
  bool http10 = strcmp(version, MHD_HTTP_VERSION_1_0) == 0;
  if (s.transfer_encoding) {
    int rc = check_transfer_coding(&s, http10, detail, size);
    if (rc)
      return rc;
  }
  if (s.host > 1 || s.authorization > 1 || s.content_type > 1)
    return refuse(detail, size, TE_BAD_REQUEST,
                  s.host > 1            ? "Host may be given only once."
                  : s.authorization > 1 ? "Authorization may be given only once."
                                        : "Content-Type may be given only once.");
  if (!s.host && !http10)
    return refuse(detail, size, TE_BAD_REQUEST, "an HTTP/1.1 request must carry Host.");
  return TE_OK;
}
