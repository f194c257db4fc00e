#ifndef TESSERA_CORE_PRINCIPAL_H
#define TESSERA_CORE_PRINCIPAL_H

#include <string.h>

/* The vocabulary of tokens and of who acts with them, shared by every layer: the store persists
 * it, OIDC policies name it, handlers decide with it. */

/* Personal tokens act as their user; organization and team tokens ("machine tokens") act as the
 * organization itself, with admin or member rights (team tokens: member rights). */
enum token_kind { TOKEN_PERSONAL = 0, TOKEN_ORG, TOKEN_TEAM };

/* The kind's name, as the tokens table and the API (AccessToken.type) spell it. */
static inline const char *token_kind_name(enum token_kind kind) {
  return kind == TOKEN_ORG ? "organization" : kind == TOKEN_TEAM ? "team" : "personal";
}

static inline enum token_kind token_kind_parse(const char *name) {
  if (name && name[0] == 'o')
    return TOKEN_ORG;
  return name && name[0] == 't' ? TOKEN_TEAM : TOKEN_PERSONAL;
}

/* A person acting with their own token: not a machine token, nor one an OIDC exchange issued.
 * Only people may hand out credentials (org tokens, issuers, their policies). p is anything with
 * a `token` holding `kind` and `oidc_issuer` (a struct store_principal). */
#define principal_is_person(p) ((p)->token.kind == TOKEN_PERSONAL && !(p)->token.oidc_issuer[0])

/* Where a token came from: shown as AccessToken.source. Console sign-ins are tokens of source
 * TOKEN_SOURCE_SESSION, which listings leave out. */
enum token_source {
  TOKEN_SOURCE_API = 0,
  TOKEN_SOURCE_CONSOLE,
  TOKEN_SOURCE_OIDC,
  TOKEN_SOURCE_ADMIN,
  TOKEN_SOURCE_SESSION
};

static inline const char *token_source_name(enum token_source source) {
  static const char *const names[] = {"api", "console", "oidc", "admin", "session"};
  return (unsigned)source < sizeof names / sizeof names[0] ? names[source] : "api";
}

static inline enum token_source token_source_parse(const char *name) {
  for (int i = TOKEN_SOURCE_API; name && i <= TOKEN_SOURCE_SESSION; i++)
    if (strcmp(name, token_source_name((enum token_source)i)) == 0)
      return (enum token_source)i;
  return TOKEN_SOURCE_API;
}

#endif
