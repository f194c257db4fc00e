#include "core/error.h"

int error_http_status(int err) {
  switch (err) {
  case TE_OK:
    return 200;
  case TE_BAD_REQUEST:
    return 400;
  case TE_UNAUTHORIZED:
    return 401;
  case TE_FORBIDDEN:
    return 403;
  case TE_NOT_FOUND:
    return 404;
  case TE_METHOD_NOT_ALLOWED:
    return 405;
  case TE_CONFLICT:
    return 409;
  case TE_TOO_LARGE:
    return 413;
  case TE_UNSUPPORTED_MEDIA:
    return 415;
  case TE_UNAVAILABLE:
    return 503;
  case TE_NOT_IMPLEMENTED:
    return 501;
  case TE_TOO_MANY_REQUESTS:
    return 429;
  case TE_URI_TOO_LONG:
    return 414;
  case TE_HEADERS_TOO_LARGE:
    return 431;
  default:
    return 500;
  }
}

const char *error_status_text(int http_status) {
  switch (http_status) {
  case 200:
    return "OK";
  case 204:
    return "No Content";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 409:
    return "Conflict";
  case 413:
    return "Request Entity Too Large";
  case 414:
    return "URI Too Long";
  case 415:
    return "Unsupported Media Type";
  case 429:
    return "Too Many Requests";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 501:
    return "Not Implemented";
  case 503:
    return "Service Unavailable";
  default:
    return "Error";
  }
}
