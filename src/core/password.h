#ifndef TESSERA_CORE_PASSWORD_H
#define TESSERA_CORE_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

/* Console passwords, stored only as argon2id hashes (libargon2) in PHC string form. */

#define PASSWORD_MIN 8
#define PASSWORD_MAX 256
#define PASSWORD_ENCODED_MAX 255

/* Hashes password with a fresh random salt into out (PASSWORD_ENCODED_MAX + 1 bytes). */
int password_hash(const char *password, char *out);

/* True when password matches the encoded hash. An empty or malformed hash matches nothing, but
 * costs as much as a real check, so a sign-in does not reveal whether the login exists. */
bool password_verify(const char *encoded, const char *password);

#endif
