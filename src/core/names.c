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

bool text_is_url_word(const char *text, size_t min, size_t max) {
  size_t len = strlen(text);
  if (len < min || len > max)
    return false;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)text[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-'))
      return false;
  }
  return true;
}

bool token_name_is_valid(const char *name) {
  return text_is_url_word(name, 1, TOKEN_NAME_MAX);
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

/* C1 controls (U+0080-U+009F) are in UTF-8 0xC2 followed by 0x80-0x9F; terminals act on some of
 * them (U+009B is CSI) as they do on ESC. */
const char *text_control_at(const char *text) {
  for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
    if (*p < 0x20 || *p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
      return (const char *)p;
  }
  return NULL;
}

static bool has_control(const char *s) {
  return text_control_at(s) != NULL;
}

bool text_is_utf8(const char *text) {
  /* jansson refuses to make a string of invalid UTF-8, which makes it our validator. */
  json_t *j = json_string(text);
  json_decref(j);
  return j != NULL;
}

bool text_is_printable(const char *text) {
  return text_is_utf8(text) && !has_control(text);
}

/* The length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong forms, surrogates or
 * code points above U+10FFFF), or 0. */
static size_t utf8_sequence(const unsigned char *p) {
  size_t len = 0;
  if (p[0] < 0x80)
    len = 1;
  else if (p[0] >= 0xc2 && p[0] <= 0xdf)
    len = 2;
  else if (p[0] >= 0xe0 && p[0] <= 0xef)
    len = 3;
  else if (p[0] >= 0xf0 && p[0] <= 0xf4)
    len = 4;
  unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */
  if (p[0] == 0xe0)
    lo = 0xa0;
  else if (p[0] == 0xed)
    hi = 0x9f;
  else if (p[0] == 0xf0)
    lo = 0x90;
  else if (p[0] == 0xf4)
    hi = 0x8f;
  for (size_t i = 1; i < len; i++) {
    if (p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xbf))
      return 0;
  }
  return len;
}

char *text_escape(const char *text, char *out, size_t size) {
  const unsigned char *p = (const unsigned char *)text;
  size_t n = 0;
  if (size == 0)
    return out;
  while (*p) {
    size_t len = utf8_sequence(p);
    bool control = len == 0 || (len == 1 && (*p < 0x20 || *p == 0x7f)) ||
                   (len == 2 && p[0] == 0xc2 && p[1] <= 0x9f);
    size_t need = control ? 4 * (len ? len : 1) : len;
    if (n + need >= size)
      break;
    if (control) {
      for (size_t i = 0; i < (len ? len : 1); i++)
        snprintf(out + n + 4 * i, 5, "\\x%02x", p[i]);
    } else {
      memcpy(out + n, p, len);
    }
    n += need;
    p += len ? len : 1;
  }
  out[n] = '\0';
  return out;
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
