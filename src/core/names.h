#ifndef TESSERA_CORE_NAMES_H
#define TESSERA_CORE_NAMES_H

#include <stdbool.h>

/* User logins and organization names: 1..LOGIN_MAX of [A-Za-z0-9._-], starting with a letter or
 * digit (so they are safe in URLs, logs and file names). */
bool name_is_valid(const char *name);

/* Organization and team token names: 1-TOKEN_NAME_MAX of [A-Za-z0-9_-]. */
bool token_name_is_valid(const char *name);

/* Who acted, as the audit log names them: a login, or "org/token-name" for a machine token. */
bool actor_is_valid(const char *actor);

/* True when text is valid UTF-8 (it must be, to be shown in JSON). */
bool text_is_utf8(const char *text);

/* True for valid UTF-8 without control characters (any length). */
bool text_is_printable(const char *text);

/* Display names: at most USER_NAME_MAX bytes of UTF-8, no control characters. */
bool display_name_is_valid(const char *name);

/* Emails: empty, or at most EMAIL_MAX bytes with one '@' and no blanks or control characters. */
bool email_is_valid(const char *email);

/* Roles within an organization: "admin" or "member". */
bool role_is_valid(const char *role);

#endif
