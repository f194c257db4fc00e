#ifndef TESSERA_CORE_NAMES_H
#define TESSERA_CORE_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/* User logins and organization names: 1..LOGIN_MAX of [A-Za-z0-9._-], starting with a letter or
 * digit (so they are safe in URLs, logs and file names). */
bool name_is_valid(const char *name);

/* min..max bytes of [A-Za-z0-9_-]: nothing that needs escaping in a URL, a log or a header. */
bool text_is_url_word(const char *text, size_t min, size_t max);

/* Organization and team token names: 1-TOKEN_NAME_MAX of [A-Za-z0-9_-]. */
bool token_name_is_valid(const char *name);

/* Who acted, as the audit log names them: a login, or "org/token-name" for a machine token. */
bool actor_is_valid(const char *actor);

/* True when text is valid UTF-8 (it must be, to be shown in JSON). */
bool text_is_utf8(const char *text);

/* True for valid UTF-8 without control characters: C0 (including tab and newline), DEL or C1
 * (U+0080-U+009F). Any length. */
bool text_is_printable(const char *text);

/* The first control character (as text_is_printable means it) in text, or NULL. */
const char *text_control_at(const char *text);

/* Copies text into out (size bytes, always NUL-terminated) with each byte of a control character
 * or of invalid UTF-8 written as \xNN, so that the result is safe to print on a terminal. Stops
 * before a character or escape that would not fit. Returns out. */
char *text_escape(const char *text, char *out, size_t size);

/* Display names: at most USER_NAME_MAX bytes of UTF-8, no control characters. */
bool display_name_is_valid(const char *name);

/* Emails: empty, or at most EMAIL_MAX bytes with one '@' and no blanks or control characters. */
bool email_is_valid(const char *email);

/* Roles within an organization: "admin" or "member". */
bool role_is_valid(const char *role);

#endif
