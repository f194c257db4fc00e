#ifndef TESSERA_API_WEB_ASSETS_H
#define TESSERA_API_WEB_ASSETS_H

#include <stddef.h>

/* The console's files (web/), embedded at build time by cmake/embed_web.cmake. */
struct web_asset {
  const char *name; /* file name, no directories */
  const unsigned char *data;
  size_t size;
};

/* Ends with an entry whose name is NULL. */
extern const struct web_asset web_assets[];

struct request;

/* Replies with the console file `name` (200, its content type) or a JSON 404. */
void console_serve_asset(struct request *req, const char *name);

#endif
