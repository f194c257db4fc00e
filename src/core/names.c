#include "core/names.h"

#include "core/limits.h"

#include <ctype.h>
#include <jansson.h>
#include <string.h>

bool name_is_valid(const char *name) {
  size_t len = strlen(name);
  if (len == 0 || len > LOGIN_MAX || !isalnum((unsigned char)name[0]))
    return false;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)name[i];
    if (!(isalnum(c) || c == '.' || c == '_' || c == '-') || c > 127)
      return false;
  }
  return true;
}

bool token_name_is_valid(const char *name) {
  size_t len = strlen(name);
  if (len == 0 || len > TOKEN_NAME_MAX)
    return false;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-'))
      return false;
  }
  return true;
}

bool actor_is_valid(const char *actor) {
  const char *slash = strchr(actor, '/');
  if (!slash)
    return name_is_valid(actor);
  char org[LOGIN_MAX + 1];
  size_t len = (size_t)(slash - actor);
  if (len > LOGIN_MAX)
    return false;
  memcpy(org, actor, len);
  org[len] = '\0';
  return name_is_valid(org) && token_name_is_valid(slash + 1);
}

static bool has_control(const char *s) {
  for (; *s; s++) {
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      return true;
  }
  return false;
}

bool text_is_utf8(const char *text) {
  /* jansson refuses to make a string of invalid UTF-8, which makes it our validator. */
  json_t *j = json_string(text);
  json_decref(j);
  return j != NULL;
}

bool text_is_printable(const char *text) {
  return !has_control(text) && text_is_utf8(text);
}

bool display_name_is_valid(const char *name) {
  return strlen(name) <= USER_NAME_MAX && text_is_printable(name);
}

bool email_is_valid(const char *email) {
  if (!*email)
    return true;
  const char *at = strchr(email, '@');
  return strlen(email) <= EMAIL_MAX && !has_control(email) && !strchr(email, ' ') && at &&
         at != email && at[1] && !strchr(at + 1, '@') && text_is_utf8(email);
}

bool role_is_valid(const char *role) {
  return strcmp(role, "admin") == 0 || strcmp(role, "member") == 0;
}
