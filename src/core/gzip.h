#ifndef TESSERA_CORE_GZIP_H
#define TESSERA_CORE_GZIP_H

#include <stddef.h>

/* Compresses len bytes of data into a gzip stream (RFC 1952); *out is malloc'd. Returns 0 or
 * TE_INTERNAL. */
int gzip_compress(const char *data, size_t len, char **out, size_t *out_len);

#endif
