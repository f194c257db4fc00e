#include "http/form.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

static bool set_field(const char *const names[], char *values[], size_t count, size_t max,
                      const char *name, size_t name_len, const char *value, size_t value_len) {
  for (size_t i = 0; i < count; i++) {
    if (strlen(names[i]) != name_len || strncmp(names[i], name, name_len) != 0)
      continue;
    if (values[i] || value_len > max || memchr(value, '\0', value_len))
      return false;
    if (!(values[i] = strndup(value, value_len)))
      abort();
    return true;
  }
  return true;
}

bool form_parse(const char *body, size_t len, const char *const names[], char *values[],
                size_t count, size_t max) {
  for (size_t i = 0; i < count; i++)
    values[i] = NULL;
  if (memchr(body, '\0', len)) /* no parameter may hold a NUL, and strtok would stop at it */
    return false;
  char *copy = malloc(len + 1);
  if (!copy)
    abort();
  memcpy(copy, body, len);
  copy[len] = '\0';
  bool ok = true;
  char *save = NULL;
  for (char *pair = strtok_r(copy, "&", &save); ok && pair; pair = strtok_r(NULL, "&", &save)) {
    for (char *c = pair; *c; c++)
      if (*c == '+')
        *c = ' ';
    char *eq = strchr(pair, '=');
    int name_len = 0, value_len = 0;
    char *name =
        curl_easy_unescape(NULL, pair, eq ? (int)(eq - pair) : (int)strlen(pair), &name_len);
    char *value = curl_easy_unescape(NULL, eq ? eq + 1 : "", 0, &value_len);
    ok = name && value &&
         set_field(names, values, count, max, name, (size_t)name_len, value, (size_t)value_len);
    if (value)
      OPENSSL_cleanse(value, (size_t)value_len);
    curl_free(name);
    curl_free(value);
  }
  OPENSSL_cleanse(copy, len);
  free(copy);
  if (!ok)
    form_free(values, count);
  return ok;
}

void form_free(char *values[], size_t count) {
  for (size_t i = 0; i < count; i++) {
    if (values[i])
      OPENSSL_cleanse(values[i], strlen(values[i]));
    free(values[i]);
    values[i] = NULL;
  }
}
