#ifndef TESSERA_TESTS_STORE_FIXTURE_H
#define TESSERA_TESTS_STORE_FIXTURE_H

/* For the store's unit tests (include after cmocka.h): databases in fresh temporary directories,
 * and tokens with fresh secrets. Header-only: each test file is its own executable. */

#include "core/token.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>

/* Makes /tmp/tessera-<tag>-XXXXXX into dir (64 bytes) and the path of t.db in it into path (96). */
static inline void temp_db_make(char *dir, char *path, const char *tag) {
  snprintf(dir, 64, "/tmp/tessera-%s-XXXXXX", tag);
  assert_non_null(mkdtemp(dir));
  snprintf(path, 96, "%s/t.db", dir);
}

static inline void temp_db_remove(const char *dir) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

/* A new id and the hash of a new secret value in t; the value itself into value when not NULL. */
static inline void token_fill_secret(struct store_token *t, char *value_out) {
  char value[TOKEN_VALUE_LEN + 1];
  token_new_id(t->id);
  token_generate(value);
  token_hash(value, TOKEN_VALUE_LEN, t->hash);
  if (value_out)
    snprintf(value_out, TOKEN_VALUE_LEN + 1, "%s", value);
}

#endif
