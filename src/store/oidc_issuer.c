/* Backend-independent helpers for struct store_oidc_issuer. */

#include "store/store.h"

#include <stdlib.h>

void store_oidc_issuer_clear(struct store_oidc_issuer *issuer) {
  free(issuer->jwks);
  free(issuer->policy);
  issuer->jwks = NULL;
  issuer->policy = NULL;
}

void store_oidc_issuers_free(struct store_oidc_issuer *issuers, size_t count) {
  for (size_t i = 0; i < count; i++)
    store_oidc_issuer_clear(&issuers[i]);
  free(issuers);
}
