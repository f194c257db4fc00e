#ifndef TESSERA_HTTP_FORM_H
#define TESSERA_HTTP_FORM_H

#include <stdbool.h>
#include <stddef.h>

/* application/x-www-form-urlencoded bodies (OAuth's endpoints): '&'-separated name=value pairs,
 * '+' for space, then percent-decoding. values[i] gets a malloc'd copy of the parameter names[i]
 * (NULL when absent; count of each). Unknown names are ignored, as OAuth requires. false for a
 * known name given twice (RFC 6749 §3.2), a value over max bytes or one holding a NUL: values
 * are then freed already. */
bool form_parse(const char *body, size_t len, const char *const names[], char *values[],
                size_t count, size_t max);

/* Wipes (they may be secrets) and frees what form_parse returned. */
void form_free(char *values[], size_t count);

#endif
