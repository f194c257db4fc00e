#include "core/password.h"

#include "core/error.h"

#include <argon2.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

/* OWASP's argon2id baseline: 19 MiB, two passes, one lane. */
#define T_COST 2
#define M_COST_KIB 19456
#define PARALLELISM 1
#define SALT_LEN 16
#define HASH_LEN 32

int password_hash(const char *password, char *out) {
  unsigned char salt[SALT_LEN];
  if (RAND_bytes(salt, sizeof salt) != 1)
    abort();
  int rc = argon2id_hash_encoded(T_COST, M_COST_KIB, PARALLELISM, password, strlen(password), salt,
                                 sizeof salt, HASH_LEN, out, PASSWORD_ENCODED_MAX + 1);
  return rc == ARGON2_OK ? TE_OK : TE_INTERNAL;
}

bool password_verify(const char *encoded, const char *password) {
  /* A hash of a password nobody has, to spend the same time when there is nothing to check. */
  static const char decoy[] = "$argon2id$v=19$m=19456,t=2,p=1$dGVzc2VyYWRlY295c2FsdA$"
                              "sRFXt9M6rxxnVZ0vTR7NQrqbVrrVV8FnN6X8MlQNBmg";
  bool real = encoded && strncmp(encoded, "$argon2id$", 10) == 0;
  int rc = argon2id_verify(real ? encoded : decoy, password, strlen(password));
  return real && rc == ARGON2_OK;
}
