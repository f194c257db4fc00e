#include "core/gzip.h"

#include "core/error.h"

#include <stdlib.h>
#include <zlib.h>

int gzip_compress(const char *data, size_t len, char **out, size_t *out_len) {
  z_stream z = {0};
  /* 15 window bits + 16 selects the gzip wrapper rather than zlib's. */
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return TE_INTERNAL;
  size_t cap = deflateBound(&z, (uLong)len) + 32;
  char *buf = malloc(cap);
  if (!buf)
    abort();
  z.next_in = (Bytef *)data;
  z.avail_in = (uInt)len;
  z.next_out = (Bytef *)buf;
  z.avail_out = (uInt)cap;
  int rc = deflate(&z, Z_FINISH);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) {
    free(buf);
    return TE_INTERNAL;
  }
  *out = buf;
  *out_len = cap - z.avail_out;
  return TE_OK;
}
